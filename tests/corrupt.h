/* corrupt.h - OB_CORRUPT_AT: a test program's sender flips one byte, to prove its peer's verifier
 * catches it (t_verifiers). */
#ifndef OB_TESTS_CORRUPT_H
#define OB_TESTS_CORRUPT_H

#include <stdint.h>
#include <stdlib.h>

static uint64_t corrupt_offset = UINT64_MAX;

/* Read once, before main() and any thread. */
__attribute__((constructor)) static void corrupt_read_env(void)
{
	const char *s = getenv("OB_CORRUPT_AT");

	if (s && *s)
		corrupt_offset = strtoull(s, NULL, 0);
}

/* The stream offset whose byte every connection of this process sends
 * flipped (OB_CORRUPT_AT in the environment), or UINT64_MAX: none. */
static inline uint64_t corrupt_at(void)
{
	return corrupt_offset;
}

/* Flips the byte at stream offset corrupt_at() if buf, which holds the
 * stream's bytes from offset off on, covers it. */
static inline void corrupt_buf(unsigned char *buf, size_t len, uint64_t off)
{
	uint64_t at = corrupt_at();

	if (at >= off && at - off < len)
		buf[at - off] ^= 0x5a;
}

#endif
