/* fuzz_common.h - checks every harness applies to the error sentence it got back. */
#ifndef OB_FUZZ_COMMON_H
#define OB_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"

/* Stops the run (libFuzzer records a crash) when cond is false. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The sentence is one line of printable text, written exactly when rc < 0. */
static inline void check_err(int rc, const struct ob_error *e)
{
	size_t i, n = strnlen(e->msg, sizeof(e->msg));

	FUZZ_CHECK(n < sizeof(e->msg));
	FUZZ_CHECK(rc <= 0);
	FUZZ_CHECK((rc == 0) == (n == 0));
	FUZZ_CHECK(e->code == rc);
	for (i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)e->msg[i] >= 0x20 && (unsigned char)e->msg[i] < 0x7f);
}

#endif /* OB_FUZZ_COMMON_H */
