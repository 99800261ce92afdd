/* log.c - -v logging to stderr, and the hook's one-line events to syslog and stderr (errors go up
 * in a struct ob_error, see oci/oci.h). */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

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

/* One line per event, container id first, to syslog and stderr. */
void ob_hlog(int prio, const char *id, const char *fmt, ...)
{
	char text[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	syslog(prio, "%s: %s", id, text);
	fprintf(stderr, "oci-bypass: %s: %s\n", id, text);
}
