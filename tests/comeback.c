/* comeback.c - one connection whose sender is pushed back onto TCP, then keeps talking: does it
 * come back onto the redirect, every byte in order? (t_comeback) */
/*
 * usage:
 *   comeback server ADDR PORT [--stall-ms MS] [--timeout SEC]
 *       listens on ADDR (numeric IPv4 or IPv6) and PORT (0 picks one), prints
 *       "comeback: listening PORT" (flushed), accepts one connection, reads
 *       nothing for MS milliseconds (default 500), then serves it: reads the
 *       client's stream, answers each request, and prints
 *       "comeback: server ok bytes_in=N bytes_out=N rounds=R" or
 *       "comeback: server FAIL ..." (a wrong byte: "wrong byte at offset N").
 *   comeback client ADDR PORT [--stream BYTES] [--pace-us US] [--talk-ms MS]
 *                [--pause-file FILE] [--rounds N] [--gap-us US] [--rcvlowat N]
 *                [--timeout SEC]
 *       1. stream: writes BYTES (default 8 MiB) in 64 KiB writes, US apart
 *          (default 5000): the server does not read during its stall, so
 *          the sender's direction is pushed back onto TCP;
 *          then, with --rcvlowat, sets SO_RCVLOWAT to N (a guard);
 *       2. talk: request/response rounds (1..1000 bytes each way), 10 ms
 *          apart, for MS milliseconds (default 2000): the connection's ACKs
 *          take both sockets out of the sockhash;
 *       3. with FILE: prints "comeback: client paused" (flushed) and waits
 *          until FILE exists (the test promotes meanwhile);
 *       4. N more rounds (default 300), US apart (default 1000);
 *       then ends in-band, reads EOF and prints "comeback: ok bytes_out=N
 *       bytes_in=N rounds=R" or "comeback: FAIL ...".
 * Wire format (big-endian): u64 BYTES, the stream, then per round
 * u32 len | len bytes each way, each in one send(); len 0 (answered by len
 * 0) ends. A blocking socket whose one thread waits for an answer while its
 * own request is still in flight is not promoted (bypass.h, OB_SK_DUPLEX):
 * requests and answers are one segment. The byte at
 * offset OFF of a direction (lengths left out) is pattern(direction, OFF):
 * lost, repeated or reordered bytes fail. Blocking sockets without timeouts:
 * EAGAIN is a kernel bug (counted as spurious). Every run is bounded by
 * --timeout (default 60): "comeback: timeout (hang)", exit 2.
 * OB_CORRUPT_AT (corrupt.h) flips that byte of each direction sent.
 * Exit status: 0 ok, 1 failure, 2 hang, 64 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "corrupt.h"

#define CHUNK	(64 * 1024)
#define MAX_MSG 1000 /* a request or an answer: one segment */

static uint64_t off_out, off_in; /* payload bytes sent and received */
static int dir_out, dir_in;	 /* client: 0 out, 1 in; server: the reverse */
static unsigned long spurious;

static unsigned char pattern(int dir, uint64_t off)
{
	uint64_t x = off * 0x9e3779b97f4a7c15ull + (uint64_t)(dir + 1) * 0xd1b54a32d192ed03ull;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return (unsigned char)x;
}

static void on_alarm(int sig)
{
	static const char m[] = "comeback: timeout (hang)\n";

	(void)sig;
	if (write(1, m, sizeof(m) - 1) < 0)
		_exit(2);
	_exit(2);
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sends (out) or receives len bytes: 1 done, 0 EOF before the first
 * byte (receiving), -1 an error (EAGAIN, never legitimate here, counted
 * as spurious). */
static int io_all(int fd, void *buf, size_t len, int out)
{
	char *p = buf;

	while (len) {
		ssize_t n = out ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			spurious++;
			return -1;
		}
		if (n <= 0)
			return !out && n == 0 && p == (char *)buf ? 0 : -1;
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

static int send_all(int fd, const void *buf, size_t len)
{
	return io_all(fd, (void *)buf, len, 1) == 1 ? 0 : -1;
}

static int recv_all(int fd, void *buf, size_t len)
{
	return io_all(fd, buf, len, 0);
}

/* Sends len payload bytes of our direction, after a u32 len if framed:
 * one send() (a request or an answer of one segment). */
static int send_payload(int fd, size_t len, int framed)
{
	static unsigned char buf[4 + CHUNK];
	unsigned char *p = buf + (framed ? 4 : 0);
	size_t i;

	buf[0] = (unsigned char)(len >> 24);
	buf[1] = (unsigned char)(len >> 16);
	buf[2] = (unsigned char)(len >> 8);
	buf[3] = (unsigned char)len;
	for (i = 0; i < len; i++)
		p[i] = pattern(dir_out, off_out + i);
	corrupt_buf(p, len, off_out);
	if (send_all(fd, buf, len + (framed ? 4 : 0)))
		return -1;
	off_out += len;
	return 0;
}

/* Receives and checks len payload bytes of the peer's direction; 0 ok. */
static int recv_payload(int fd, size_t len, char *why, size_t whylen)
{
	static unsigned char buf[CHUNK];
	size_t i;

	if (recv_all(fd, buf, len) != 1) {
		snprintf(why, whylen, "recv: %s at offset %llu",
			 spurious ? "spurious EAGAIN" : strerror(errno),
			 (unsigned long long)off_in);
		return -1;
	}
	for (i = 0; i < len; i++)
		if (buf[i] != pattern(dir_in, off_in + i)) {
			snprintf(why, whylen, "wrong byte at offset %llu",
				 (unsigned long long)(off_in + i));
			return -1;
		}
	off_in += len;
	return 0;
}

static int send_u(int fd, uint64_t v, int bytes)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < bytes; i++)
		b[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
	return send_all(fd, b, (size_t)bytes);
}

static int recv_u(int fd, uint64_t *v, int bytes)
{
	unsigned char b[8];
	int i;

	if (recv_all(fd, b, (size_t)bytes) != 1)
		return -1;
	for (*v = 0, i = 0; i < bytes; i++)
		*v = *v << 8 | b[i];
	return 0;
}

static int server(struct sockaddr_storage *ss, socklen_t len, long stall_ms)
{
	struct sockaddr_storage me;
	socklen_t ml = sizeof(me);
	uint64_t total, n, rounds = 0;
	char why[160] = "";
	int l, c, one = 1;

	dir_out = 1;
	dir_in = 0;
	l = socket(ss->ss_family, SOCK_STREAM, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l, (struct sockaddr *)ss, len) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&me, &ml)) {
		perror("comeback: server");
		return 1;
	}
	printf("comeback: listening %u\n",
	       ntohs(me.ss_family == AF_INET ? ((struct sockaddr_in *)&me)->sin_port
					     : ((struct sockaddr_in6 *)&me)->sin6_port));
	fflush(stdout);
	c = accept(l, NULL, NULL);
	if (c < 0) {
		perror("comeback: accept");
		return 1;
	}
	sleep_us(stall_ms * 1000);
	if (recv_u(c, &total, 8)) {
		snprintf(why, sizeof(why), "no stream length");
		goto bad;
	}
	while (off_in < total) {
		n = total - off_in < CHUNK ? total - off_in : CHUNK;
		if (recv_payload(c, n, why, sizeof(why)))
			goto bad;
	}
	for (;;) {
		if (recv_u(c, &n, 4)) {
			snprintf(why, sizeof(why), "no request length after round %llu",
				 (unsigned long long)rounds);
			goto bad;
		}
		if (n > MAX_MSG) {
			snprintf(why, sizeof(why), "request length %llu", (unsigned long long)n);
			goto bad;
		}
		if (n && recv_payload(c, n, why, sizeof(why)))
			goto bad;
		if (send_payload(c, n, 1)) {
			snprintf(why, sizeof(why), "send: %s", strerror(errno));
			goto bad;
		}
		if (!n)
			break;
		rounds++;
	}
	close(c);
	printf("comeback: server ok bytes_in=%llu bytes_out=%llu rounds=%llu\n",
	       (unsigned long long)off_in, (unsigned long long)off_out, (unsigned long long)rounds);
	return 0;
bad:
	printf("comeback: server FAIL %s (spurious_eagain=%lu)\n", why, spurious);
	return 1;
}

/* One request/response round of a size from the round number. */
static int round_trip(int fd, uint64_t r, char *why, size_t whylen)
{
	uint64_t n = 1 + (r * 2654435761u) % MAX_MSG, back;

	if (send_payload(fd, n, 1)) {
		snprintf(why, whylen, "send: %s", spurious ? "spurious EAGAIN" : strerror(errno));
		return -1;
	}
	if (recv_u(fd, &back, 4) || back != n) {
		snprintf(why, whylen, "no answer to round %llu", (unsigned long long)r);
		return -1;
	}
	return recv_payload(fd, n, why, whylen);
}

struct client_opt {
	uint64_t stream;
	long pace_us, talk_ms, rounds, gap_us, rcvlowat;
	const char *pause_file;
};

static int client(struct sockaddr_storage *ss, socklen_t len, const struct client_opt *o)
{
	uint64_t r = 0, n, back;
	char why[160] = "";
	struct stat sb;
	double until;
	long i;
	int fd;

	dir_out = 0;
	dir_in = 1;
	fd = socket(ss->ss_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)ss, len)) {
		perror("comeback: connect");
		return 1;
	}
	if (send_u(fd, o->stream, 8))
		goto io;
	while (off_out < o->stream) {
		n = o->stream - off_out < CHUNK ? o->stream - off_out : CHUNK;
		if (send_payload(fd, n, 0))
			goto io;
		sleep_us(o->pace_us);
	}
	if (o->rcvlowat) {
		int v = (int)o->rcvlowat;

		if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)))
			goto io;
	}
	for (until = now_ms() + o->talk_ms; now_ms() < until; sleep_us(10000))
		if (round_trip(fd, r++, why, sizeof(why)))
			goto bad;
	if (o->pause_file) {
		printf("comeback: client paused after %llu rounds\n", (unsigned long long)r);
		fflush(stdout);
		while (stat(o->pause_file, &sb))
			sleep_us(10000);
	}
	for (i = 0; i < o->rounds; i++, sleep_us(o->gap_us))
		if (round_trip(fd, r++, why, sizeof(why)))
			goto bad;
	if (send_payload(fd, 0, 1) || recv_u(fd, &back, 4) || back != 0)
		goto io;
	if (recv_all(fd, why, 1) != 0) {
		snprintf(why, sizeof(why), "no EOF after the end");
		goto bad;
	}
	close(fd);
	printf("comeback: ok bytes_out=%llu bytes_in=%llu rounds=%llu spurious_eagain=0\n",
	       (unsigned long long)off_out, (unsigned long long)off_in, (unsigned long long)r);
	return 0;
io:
	snprintf(why, sizeof(why), "%s at offset %llu",
		 spurious ? "spurious EAGAIN" : strerror(errno), (unsigned long long)off_out);
bad:
	printf("comeback: FAIL %s (rounds=%llu spurious_eagain=%lu)\n", why, (unsigned long long)r,
	       spurious);
	return 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: comeback server ADDR PORT [--stall-ms MS] [--timeout SEC]\n"
			"       comeback client ADDR PORT [--stream BYTES] [--pace-us US] "
			"[--talk-ms MS]\n"
			"                [--pause-file FILE] [--rounds N] [--gap-us US] "
			"[--rcvlowat N] [--timeout SEC]\n");
	return 64;
}

static int num(const char *s, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	struct client_opt o = { 8 << 20, 5000, 2000, 300, 1000, 0, NULL };
	struct sockaddr_storage ss;
	long port, timeout = 60, stall_ms = 500, v;
	socklen_t len;
	int i, srv;

	if (argc < 4 || (strcmp(argv[1], "server") && strcmp(argv[1], "client")))
		return usage();
	srv = !strcmp(argv[1], "server");
	if (num(argv[3], 65535, &port) || addr_of(argv[2], (unsigned)port, &ss, &len))
		return usage();
	for (i = 4; i < argc; i += 2) {
		const char *a = argv[i];

		if (i + 1 >= argc)
			return usage();
		if (!strcmp(a, "--pause-file") && !srv) {
			o.pause_file = argv[i + 1];
			continue;
		}
		if (num(argv[i + 1], 1L << 40, &v))
			return usage();
		if (!strcmp(a, "--timeout") && v > 0)
			timeout = v;
		else if (!strcmp(a, "--stall-ms") && srv)
			stall_ms = v;
		else if (!strcmp(a, "--stream") && !srv)
			o.stream = (uint64_t)v;
		else if (!strcmp(a, "--pace-us") && !srv)
			o.pace_us = v;
		else if (!strcmp(a, "--talk-ms") && !srv)
			o.talk_ms = v;
		else if (!strcmp(a, "--rounds") && !srv)
			o.rounds = v;
		else if (!strcmp(a, "--gap-us") && !srv)
			o.gap_us = v;
		else if (!strcmp(a, "--rcvlowat") && !srv && v <= 1 << 20)
			o.rcvlowat = v;
		else
			return usage();
	}
	signal(SIGALRM, on_alarm);
	alarm((unsigned)timeout);
	return srv ? server(&ss, len, stall_ms) : client(&ss, len, &o);
}
