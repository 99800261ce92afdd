/* errors.c - the one error message a failing verb reports, and -v logging. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ob.h"

static char msg[512];
int ob_verbose;

int ob_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err;
}

int ob_err_wrap(int err, const char *fmt, ...)
{
	char prefix[256], old[sizeof(msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, msg, sizeof(old));
	if (old[0])
		snprintf(msg, sizeof(msg), "%s: %s", prefix, old);
	else
		snprintf(msg, sizeof(msg), "%s: %s", prefix, strerror(-err));
	return err;
}

const char *ob_err_msg(void)
{
	return msg;
}

void ob_err_clear(void)
{
	msg[0] = '\0';
}

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
