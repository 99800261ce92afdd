/* log.c - -v logging to stderr (errors go up in a struct ob_error, see oci/oci.h). */
#include <stdarg.h>
#include <stdio.h>

#include "ob.h"

int ob_verbose;

void ob_log(const char *fmt, ...)
{
	va_list ap;

	if (!ob_verbose)
		return;
	va_start(ap, fmt);
	fputs("oci-bypass: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
