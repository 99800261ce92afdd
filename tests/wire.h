/* wire.h - what the test programs share: big-endian fields, the splitmix64
 * generator their data and sizes come from, the monotonic clock, and the
 * watchdog thread that ends a run at its timeout or at SIGINT/SIGTERM. */
#ifndef OB_TESTS_WIRE_H
#define OB_TESTS_WIRE_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define GAMMA 0x9E3779B97F4A7C15ull /* splitmix64's increment */

static inline void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be64(unsigned char *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static inline uint64_t get_be64(const unsigned char *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* splitmix64's output function */
static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* the next number of the splitmix64 sequence whose state is *s */
static inline uint64_t splitmix_next(uint64_t *s)
{
	*s += GAMMA;
	return mix64(*s);
}

static inline uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Ignores SIGPIPE, blocks SIGINT and SIGTERM in every thread (they inherit
 * the mask) and starts FN, which takes them with watchdog_wait(). -1, said
 * on stderr as PROG, if the thread cannot be made. */
static inline int watchdog_start(void *(*fn)(void *), const char *prog)
{
	pthread_t wd;
	sigset_t set;
	int e;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((e = pthread_create(&wd, NULL, fn, NULL)) != 0) {
		fprintf(stderr, "%s: pthread_create: %s\n", prog, strerror(e));
		return -1;
	}
	return 0;
}

/* Waits for SIGINT or SIGTERM until DEADLINE (now_ns()): the signal, or 0. */
static inline int watchdog_wait(uint64_t deadline)
{
	uint64_t t = now_ns(), left = deadline > t ? deadline - t : 0;
	struct timespec ts = { (time_t)(left / 1000000000ull), (long)(left % 1000000000ull) };
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sig = sigtimedwait(&set, NULL, &ts);
	return sig > 0 ? sig : 0;
}

#endif
