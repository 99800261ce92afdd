/* fuzz_common.h - checks every harness applies to the error sentence it got back. */
#ifndef OB_FUZZ_COMMON_H
#define OB_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stops the run (libFuzzer records a crash) when cond is false. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The sentence is one line of printable text; empty exactly when rc is 0. */
static inline void check_err(int rc, const char *err, size_t errlen)
{
	size_t i, n = strnlen(err, errlen);

	FUZZ_CHECK(n < errlen);
	FUZZ_CHECK(rc <= 0);
	FUZZ_CHECK((rc == 0) == (n == 0));
	for (i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)err[i] >= 0x20 && (unsigned char)err[i] < 0x7f);
}

#endif /* OB_FUZZ_COMMON_H */
