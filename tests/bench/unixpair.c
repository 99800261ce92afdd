/* unixpair: the AF_UNIX ceiling for tests/bench/run.sh - qperf's tcp_lat and tcp_bw patterns over a
 * socketpair. */
/*
 * Build (static, so it also runs inside a busybox container):
 *   gcc -std=gnu11 -O2 -Wall -Wextra -Werror -static -o unixpair tests/bench/unixpair.c
 *
 * usage: unixpair [-c CPU] [-t SECONDS] [-w WARMUP_MS] [-s SNDBUF] [lat|bw|both] [SIZE...]
 *
 * For each test and each SIZE (default 1 4 16 64 256 1024 4096 16384 65536)
 * a fresh AF_UNIX SOCK_STREAM socketpair is made and the process forks:
 *   lat  the parent writes SIZE bytes, the child reads them and writes SIZE
 *        bytes back, the parent reads them: one round trip.  Printed: the
 *        one-way latency, round trip / 2, in microseconds (as qperf tcp_lat).
 *   bw   the child streams SIZE-byte writes, the parent reads with a
 *        SIZE-byte buffer.  Printed: MB/s of received data, MB = 10^6 bytes
 *        (as qperf tcp_bw).
 * Each measurement runs WARMUP_MS (default 50) untimed, then SECONDS
 * (default 1, fractions allowed) timed; the elapsed time is measured, not
 * assumed.  -c CPU pins both processes to CPU with sched_setaffinity (as
 * the qperf runs of run.sh are pinned); without -c the scheduler places them.
 * -s SNDBUF sets SO_SNDBUFFORCE (root) on both ends of every pair: with a
 * large one the writer of bw runs as far ahead of its reader as a
 * redirecting sender can (oci-bypass has no back-pressure below its bound).
 *
 * Output, one line per measurement, the format of examples/qperf_table.sh:
 *   lat SIZE MICROSECONDS
 *   bw SIZE MB_PER_SECOND
 * Exit status: 0 ok, 1 a measurement failed, 64 usage error.  Every loop is
 * bounded by the clock (SECONDS at most 60) or by EOF from the peer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE  (64u << 20)
#define MAX_SIZES 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* 1: got n bytes, 0: EOF, -1: error */
static int read_all(int fd, char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return 0;
		p += r;
		n -= (size_t)r;
	}
	return 1;
}

static int reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int g_sndbuf; /* -s: 0 = the kernel's default */

/* A socketpair (with -s's send buffer) and a SIZE-byte buffer, then fork:
 * the pid (0 in the child), or -1 with everything released. */
static pid_t pair_fork(const char *what, size_t size, int sv[2], char **buf)
{
	pid_t pid;

	*buf = malloc(size);
	if (!*buf || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		fprintf(stderr, "unixpair: %s setup: %s\n", what, strerror(errno));
		free(*buf);
		return -1;
	}
	for (int k = 0; k < 2 && g_sndbuf; k++)
		if (setsockopt(sv[k], SOL_SOCKET, SO_SNDBUFFORCE, &g_sndbuf, sizeof(g_sndbuf))) {
			perror("unixpair: SO_SNDBUFFORCE");
			goto fail;
		}
	memset(*buf, 'u', size);
	pid = fork();
	if (pid >= 0)
		return pid;
	perror("unixpair: fork");
fail:
	close(sv[0]);
	close(sv[1]);
	free(*buf);
	return -1;
}

/* One-way latency in microseconds, or a negative value on error. */
static double run_lat(size_t size, double secs, double warm)
{
	int sv[2];
	char *buf;
	pid_t pid = pair_fork("lat", size, sv, &buf);
	double t0, t, end;
	uint64_t n = 0;
	int fail = 0;

	if (pid < 0)
		return -1;
	if (pid == 0) { /* echo until the parent closes */
		int r;

		close(sv[0]);
		while ((r = read_all(sv[1], buf, size)) == 1) {
			if (write_all(sv[1], buf, size) < 0)
				_exit(1);
		}
		_exit(r == 0 ? 0 : 1);
	}
	close(sv[1]);
	end = now() + warm;
	do { /* warm-up, untimed */
		if (write_all(sv[0], buf, size) < 0 || read_all(sv[0], buf, size) != 1) {
			fail = 1;
			break;
		}
	} while (now() < end);
	t0 = now();
	end = t0 + secs;
	while (!fail) {
		if (write_all(sv[0], buf, size) < 0 || read_all(sv[0], buf, size) != 1) {
			fail = 1;
			break;
		}
		n++;
		/* the clock every 16 round trips: overshoot stays far below 1 ms */
		if ((n & 15) == 0 && now() >= end)
			break;
	}
	t = now() - t0;
	close(sv[0]);
	if (reap(pid) < 0 || fail || n == 0) {
		fprintf(stderr, "unixpair: lat %zu: ping-pong failed\n", size);
		free(buf);
		return -1;
	}
	free(buf);
	return t / (double)n / 2.0 * 1e6;
}

/* Received MB/s (10^6 bytes), or a negative value on error. */
static double run_bw(size_t size, double secs, double warm)
{
	int sv[2];
	char *buf;
	pid_t pid = pair_fork("bw", size, sv, &buf);
	double t0, t, end;
	uint64_t bytes = 0, reads = 0;
	int fail = 0;

	if (pid < 0)
		return -1;
	if (pid == 0) { /* stream until the parent closes (EPIPE) */
		char go;

		close(sv[0]);
		signal(SIGPIPE, SIG_IGN);
		if (read_all(sv[1], &go, 1) != 1)
			_exit(1);
		while (write_all(sv[1], buf, size) == 0)
			;
		_exit(errno == EPIPE || errno == ECONNRESET ? 0 : 1);
	}
	close(sv[1]);
	if (write_all(sv[0], "g", 1) < 0)
		fail = 1;
	end = now() + warm;
	while (!fail) { /* warm-up, untimed */
		ssize_t r = read(sv[0], buf, size);

		if (r <= 0 && !(r < 0 && errno == EINTR)) {
			fail = 1;
			break;
		}
		if ((++reads & 63) == 0 && now() >= end)
			break;
	}
	t0 = now();
	end = t0 + secs;
	while (!fail) {
		ssize_t r = read(sv[0], buf, size);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fail = 1;
			break;
		}
		bytes += (uint64_t)r;
		if ((++reads & 63) == 0 && now() >= end)
			break;
	}
	t = now() - t0;
	close(sv[0]);
	if (reap(pid) < 0 || fail || bytes == 0) {
		fprintf(stderr, "unixpair: bw %zu: stream failed\n", size);
		free(buf);
		return -1;
	}
	free(buf);
	return (double)bytes / t / 1e6;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: unixpair [-c CPU] [-t SECONDS] [-w WARMUP_MS] [-s SNDBUF] [lat|bw|both] "
		   "[SIZE...]\n"
		   "  AF_UNIX socketpair ping-pong (lat, one-way us) and stream (bw, MB/s)\n"
		   "  SIZE: bytes, k suffix = KiB (default 1 4 16 64 256 1k 4k 16k 64k)\n");
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	if (*end == 'k' || *end == 'K') {
		v *= 1024;
		end++;
	}
	if (*end || v == 0 || v > MAX_SIZE)
		return -1;
	*out = (size_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const size_t defsizes[] = { 1, 4, 16, 64, 256, 1024, 4096, 16384, 65536 };
	size_t sizes[MAX_SIZES];
	int nsizes = 0, cpu = -1, do_lat = 1, do_bw = 1, opt, i, rc = 0;
	double secs = 1.0, warm = 0.05;
	char *end;

	while ((opt = getopt(argc, argv, "c:t:w:s:h")) != -1) {
		switch (opt) {
		case 's':
			errno = 0;
			g_sndbuf = (int)strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || g_sndbuf < 0 ||
			    g_sndbuf > (1 << 30)) {
				fprintf(stderr,
					"unixpair: -s wants 0..1073741824 bytes, got '%s'\n",
					optarg);
				return 64;
			}
			break;
		case 'c':
			errno = 0;
			cpu = (int)strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || cpu < 0 || cpu >= CPU_SETSIZE) {
				fprintf(stderr, "unixpair: bad CPU '%s'\n", optarg);
				return 64;
			}
			break;
		case 't':
			secs = strtod(optarg, &end);
			if (*end || end == optarg || !(secs > 0.0 && secs <= 60.0)) {
				fprintf(stderr, "unixpair: -t wants 0 < SECONDS <= 60, got '%s'\n",
					optarg);
				return 64;
			}
			break;
		case 'w':
			warm = strtod(optarg, &end) / 1000.0;
			if (*end || end == optarg || !(warm >= 0.0 && warm <= 10.0)) {
				fprintf(stderr, "unixpair: -w wants 0..10000 ms, got '%s'\n",
					optarg);
				return 64;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind < argc && (!strcmp(argv[optind], "lat") || !strcmp(argv[optind], "bw") ||
			      !strcmp(argv[optind], "both"))) {
		do_lat = strcmp(argv[optind], "bw") != 0;
		do_bw = strcmp(argv[optind], "lat") != 0;
		optind++;
	}
	for (; optind < argc; optind++) {
		if (nsizes == MAX_SIZES || parse_size(argv[optind], &sizes[nsizes]) < 0) {
			fprintf(stderr, "unixpair: bad size '%s' (1..%u bytes, at most %d sizes)\n",
				argv[optind], MAX_SIZE, MAX_SIZES);
			return 64;
		}
		nsizes++;
	}
	if (nsizes == 0) {
		for (i = 0; i < (int)(sizeof(defsizes) / sizeof(defsizes[0])); i++)
			sizes[nsizes++] = defsizes[i];
	}
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			fprintf(stderr, "unixpair: sched_setaffinity(CPU %d): %s\n", cpu,
				strerror(errno));
			return 1;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; do_lat && i < nsizes; i++) {
		double v = run_lat(sizes[i], secs, warm);

		if (v < 0)
			rc = 1;
		else
			printf("lat %zu %.3f\n", sizes[i], v);
	}
	for (i = 0; do_bw && i < nsizes; i++) {
		double v = run_bw(sizes[i], secs, warm);

		if (v < 0)
			rc = 1;
		else
			printf("bw %zu %.1f\n", sizes[i], v);
	}
	return rc;
}
