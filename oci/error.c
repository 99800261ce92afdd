/* error.c - the one error convention of oci/ and hook/: struct ob_error, filled only on failure. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "oci.h"

int ob_err(struct ob_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->code = code;
	return code;
}

int ob_err_wrap(struct ob_error *e, int code, const char *fmt, ...)
{
	char prefix[256], old[sizeof(e->msg)];
	va_list ap;

	if (!e)
		return code;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (e->code && e->msg[0])
		memcpy(old, e->msg, sizeof(old));
	else
		snprintf(old, sizeof(old), "%s", strerror(-code));
	snprintf(e->msg, sizeof(e->msg), "%s: %s", prefix, old);
	e->code = code;
	return code;
}
