/* redispool.c - a connection pool against a real redis-server, every reply checked exactly, so that
 * tests can promote already-open connections onto the sockmap redirect (t_promote). */
/*
 * usage:
 *   redispool ADDR PORT [--conns N] [--seconds S] [--timeout SEC] [--value-size BYTES]
 *             [--pause-file FILE] [--blocking|--nonblocking] [--ping]
 *
 *   Connects N (default 8, max 512) TCP connections to redis at ADDR (numeric
 *   IPv4 or IPv6) and PORT, all of them before the first request (a pool
 *   opened at start-up, as application servers and database drivers do). Then
 *   a thread per connection sends one request, reads its whole reply and
 *   checks it byte for byte, one at a time (no pipelining), for S seconds
 *   (default 5). Sockets are blocking (default) or, with --nonblocking,
 *   non-blocking with every wait a poll() of at most 10 s.
 *
 * Requests are RESP arrays of bulk strings (PING is sometimes inline). Each
 * connection c first sends SET counter:<c> 0 (+OK), then a mix drawn from a
 * generator seeded by c:
 *   40% SET key:<c>:<i mod K> <value>  +OK; i counts the connection's SETs, the value is
 *                                      --value-size (default 64, max 1048576) pseudo-random
 *                                      bytes derived from (c, i). K keys per connection
 *                                      (8 MiB of values, 4..1024 keys) bound redis' memory.
 *   30% GET key:<c>:<j>                $<len>\r\n<value>\r\n of the last SET of key j, a key
 *                                      the connection has set before (a stale value fails)
 *   10% PING                           +PONG
 *   20% INCR counter:<c>               :<n>\r\n, exactly one more than the connection's last
 *   and at the end QUIT, which must answer +OK and then EOF. --ping: only PING (the
 *   smallest exchange: the redirect's gain is largest there). Replies are parsed
 *   as RESP until complete (a bulk string may span many reads); a malformed
 *   reply, a different one or bytes after it fail. Keys of different
 *   connections are disjoint, but two runs must not share a redis at once.
 *
 * --pause-file FILE: at S/2 seconds every connection stops between a reply and
 *   its next request until FILE exists; once all of them have stopped the
 *   program prints "redispool: paused requests=R bytes_out=B bytes_in=B"
 *   (so far; flushed). The second half (S - S/2
 *   seconds, at least one request per connection) starts when FILE appears.
 *   A failed connection ends the pause of all (and "paused" is not printed).
 *
 * Output: exactly one line at the end,
 *   "redispool: ok conns=N requests=R bytes_out=B bytes_in=B spurious_eagain=0 elapsed_ms=T"
 *   or "redispool: FAIL ... failed_conns=F reason=<first failure>"; failures,
 *   naming the connection, its ports, the command and the expected and
 *   received bytes (escaped, the first 32, or 32 from the first difference if
 *   that lies beyond), go to stderr as they happen.
 *   requests counts completed request/reply exchanges, bytes_out and bytes_in
 *   every byte sent and received, elapsed_ms the time since start.
 * No socket has SO_RCVTIMEO/SO_SNDTIMEO: EAGAIN from a blocking socket is a
 * kernel bug, counted as spurious_eagain and fatal to its connection (never
 * retried). The watchdog (--timeout, default 60) bounds everything: it prints
 * what each connection is doing and "redispool: timeout after SEC s (hang)"
 * to stderr and exits 2.
 * Exit status: 0 ok, 1 failure, 2 hang (timeout), 64 usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "wire.h"

#define MAX_CONNS  512u
#define MAX_VALUE  (1u << 20)
#define KEY_BYTES  (8u << 20) /* values per connection kept in redis */
#define STEP_MS	   10000      /* bound of every poll() */
#define SHOW	   32	      /* bytes shown of an unexpected reply */
#define NS	   1000000000ull
#define EXIT_HANG  2
#define EXIT_USAGE 64

enum { C_RESET, C_SET, C_GET, C_PING, C_INCR, C_QUIT };
static const char *const cmd_name[] = { "SET", "SET", "GET", "PING", "INCR", "QUIT" };
enum { S_CONNECTED, S_SEND, S_RECV, S_PAUSED, S_DONE };
static const char *const state_name[] = { "connected", "sending", "waiting for the reply to",
					  "paused", "done" };

struct conn {
	int fd;
	unsigned idx, lport, rport;
	int failed;
	uint64_t rng;  /* the command mix */
	uint64_t sets; /* SETs of key:<c>:* so far */
	uint64_t incr; /* the last value of counter:<c> */
	unsigned char *out, *in, *exp;
	size_t out_len, exp_len, in_cap;
	char what[48]; /* the current command, for messages */
	atomic_int state, cmd;
};

static unsigned g_conns = 8, g_seconds = 5, g_timeout = 60, g_vsize = 64, g_keys;
static int g_nonblock, g_ping_only;
static const char *g_pause_file;
static uint64_t g_start, g_half, g_deadline;
static atomic_uint_fast64_t g_requests, g_bytes_out, g_bytes_in, g_spurious, g_failed;
static atomic_uint g_paused;
static struct conn *_Atomic g_cs; /* for the watchdog, once connected */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER, g_exit_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_reason[640];

/* the value of the i-th SET of connection c: byte k is byte k%8 of mix64(key + (k/8+1)*GAMMA) */
static void gen_value(unsigned c, uint64_t i, unsigned char *buf, size_t len)
{
	uint64_t key = mix64(mix64(c + GAMMA) ^ (i + 0x632BE59BD9B4E019ull)), w = 0;

	for (size_t k = 0; k < len; k++) {
		if ((k & 7) == 0)
			w = mix64(key + ((k >> 3) + 1) * GAMMA);
		buf[k] = (unsigned char)(w >> (8 * (k & 7)));
	}
}

/* the first SHOW bytes of p, escaped and quoted, into out (at least 4*SHOW+8 bytes) */
static const char *escape(const unsigned char *p, size_t n, char *out)
{
	char *o = out;

	*o++ = '"';
	for (size_t i = 0; i < n && i < SHOW; i++) {
		if (p[i] == '\r' || p[i] == '\n' || p[i] == '"' || p[i] == '\\')
			o += sprintf(o, "\\%c", p[i] == '\r' ? 'r' : p[i] == '\n' ? 'n' : p[i]);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			*o++ = (char)p[i];
		else
			o += sprintf(o, "\\x%02x", p[i]);
	}
	strcpy(o, n > SHOW ? "\"..." : "\"");
	return out;
}

/* A failure of connection c (NULL: of the program), printed to stderr; the first one of the
 * program is the reason, later ones of the same connection are dropped. Returns -1. */
static int fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct conn *c, const char *fmt, ...)
{
	char detail[520], text[sizeof(g_reason)];
	va_list ap;

	if (c && c->failed++)
		return -1;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (c)
		snprintf(text, sizeof(text), "conn %u (ports %u/%u) %s: %s", c->idx, c->lport,
			 c->rport, c->what, detail);
	else
		snprintf(text, sizeof(text), "%s", detail);
	fprintf(stderr, "redispool: %s\n", text);
	pthread_mutex_lock(&g_lock);
	if (c)
		atomic_fetch_add(&g_failed, 1);
	if (!g_reason[0])
		snprintf(g_reason, sizeof(g_reason), "%s", text);
	pthread_mutex_unlock(&g_lock);
	return -1;
}

/* After send() or recv() (op) failed: 0 to retry (after EINTR, or after EAGAIN on a
 * non-blocking socket once poll() finds it ready for ev, within STEP_MS), else -1 (reported).
 * A blocking socket has no timeouts: EAGAIN from it is a kernel bug. */
static int io_retry(struct conn *c, short ev, const char *op)
{
	struct pollfd p = { .fd = c->fd, .events = ev };
	int n;

	if (errno == EINTR)
		return 0;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return fail(c, "%s(): %s", op, strerror(errno));
	if (!g_nonblock) {
		atomic_fetch_add(&g_spurious, 1);
		return fail(c, "spurious EAGAIN from blocking %s()", op);
	}
	while ((n = poll(&p, 1, STEP_MS)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return fail(c, "poll: %s", strerror(errno));
	return n ? 0 : fail(c, "%s() made no progress for %d s", op, STEP_MS / 1000);
}

static int send_all(struct conn *c, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			atomic_fetch_add(&g_bytes_out, (uint64_t)n);
		} else if (n == 0) {
			return fail(c, "send() returned 0");
		} else if (io_retry(c, POLLOUT, "send") < 0) {
			return -1;
		}
	}
	return 0;
}

/* one recv() into buf: bytes (0 at EOF) or -1 (reported); waits out EAGAIN when non-blocking */
static ssize_t recv_some(struct conn *c, unsigned char *buf, size_t len)
{
	for (;;) {
		ssize_t n = recv(c->fd, buf, len, 0);

		if (n >= 0) {
			atomic_fetch_add(&g_bytes_in, (uint64_t)n);
			return n;
		}
		if (io_retry(c, POLLIN, "recv") < 0)
			return -1;
	}
}

/* The length of the complete RESP reply at p, of which n bytes are there: > 0, 0 if more is
 * needed, -1 if it is malformed. */
static ssize_t resp_len(const unsigned char *p, size_t n, int depth)
{
	const unsigned char *nl = memchr(p, '\n', n);
	size_t line, off;
	long long v;
	char *end;

	if (!nl)
		return 0;
	line = (size_t)(nl - p) + 1; /* with its \r\n */
	if (line < 3 || p[line - 2] != '\r')
		return -1;
	if (p[0] == '+' || p[0] == '-') /* simple string, error */
		return (ssize_t)line;
	v = strtoll((const char *)p + 1, &end, 10); /* stops at the \r */
	if (line < 4 || end != (const char *)p + line - 2 || (p[0] != ':' && v < -1) ||
	    v > (1ll << 40))
		return -1;
	if (p[0] == ':' || v == -1) /* an integer, a null bulk string or array */
		return p[0] == ':' || p[0] == '$' || p[0] == '*' ? (ssize_t)line : -1;
	if (p[0] == '$') {
		if (n < line + (size_t)v + 2)
			return 0;
		off = line + (size_t)v;
		return p[off] == '\r' && p[off + 1] == '\n' ? (ssize_t)(off + 2) : -1;
	}
	if (p[0] != '*' || depth >= 8)
		return -1;
	for (off = line; v > 0; v--) {
		ssize_t r = resp_len(p + off, n - off, depth + 1);

		if (r <= 0)
			return r;
		off += (size_t)r;
	}
	return (ssize_t)off;
}

/* reads one whole reply into c->in and compares it with c->exp; 0 or -1 (reported) */
static int recv_reply(struct conn *c)
{
	char eb[4 * SHOW + 8], gb[4 * SHOW + 8];
	size_t have = 0, i, from;
	ssize_t len = 0;

	while (have == 0 || (len = resp_len(c->in, have, 0)) == 0) {
		ssize_t n;

		if (have == c->in_cap)
			return fail(c, "reply longer than %zu bytes: %s", have,
				    escape(c->in, have, gb));
		if ((n = recv_some(c, c->in + have, c->in_cap - have)) < 0)
			return -1;
		if (n == 0)
			return fail(c, "EOF after %zu bytes of the reply%s%s", have,
				    have ? ": " : "", have ? escape(c->in, have, gb) : "");
		have += (size_t)n;
	}
	if (len < 0)
		return fail(c, "malformed reply: %s", escape(c->in, have, gb));
	if ((size_t)len < have)
		return fail(c, "%zu bytes after the reply %s: %s", have - (size_t)len,
			    escape(c->in, (size_t)len, eb),
			    escape(c->in + len, have - (size_t)len, gb));
	if ((size_t)len == c->exp_len && !memcmp(c->in, c->exp, c->exp_len))
		return 0;
	for (i = 0; i < c->exp_len && i < (size_t)len && c->in[i] == c->exp[i]; i++)
		;
	from = i < SHOW ? 0 : i; /* the first SHOW bytes, or those from the difference on */
	return fail(c,
		    "expected %zu bytes, received %zu, first difference at byte %zu; from byte "
		    "%zu: expected %s, received %s",
		    c->exp_len, (size_t)len, i, from, escape(c->exp + from, c->exp_len - from, eb),
		    escape(c->in + from, (size_t)len - from, gb));
}

/* appends a bulk string to the request (len bytes of s, or room for them); where its data is */
static unsigned char *put_bulk(struct conn *c, const char *s, size_t len)
{
	unsigned char *p;

	c->out_len += (size_t)sprintf((char *)c->out + c->out_len, "$%zu\r\n", len);
	p = c->out + c->out_len;
	if (s)
		memcpy(p, s, len);
	memcpy(p + len, "\r\n", 2);
	c->out_len += len + 2;
	return p;
}

/* starts the request as an array of n bulk strings, cmd and key (if any) the first of them */
static void put_cmd(struct conn *c, unsigned n, const char *cmd, const char *key)
{
	c->out_len = (size_t)sprintf((char *)c->out, "*%u\r\n", n);
	put_bulk(c, cmd, strlen(cmd));
	if (key)
		put_bulk(c, key, strlen(key));
	snprintf(c->what, sizeof(c->what), "%s%s%s", cmd, key ? " " : "", key ? key : "");
}

static void expect(struct conn *c, const char *s)
{
	c->exp_len = strlen(s);
	memcpy(c->exp, s, c->exp_len);
}

/* builds the request and expected reply of cmd, sends it, checks the reply; 0 or -1 */
static int step(struct conn *c, int cmd)
{
	char key[40];
	uint64_t r = splitmix_next(&c->rng), i;

	atomic_store(&c->cmd, cmd);
	switch (cmd) {
	case C_RESET:
		snprintf(key, sizeof(key), "counter:%u", c->idx);
		put_cmd(c, 3, "SET", key);
		put_bulk(c, "0", 1);
		expect(c, "+OK\r\n");
		c->incr = 0;
		break;
	case C_SET:
		i = c->sets++;
		snprintf(key, sizeof(key), "key:%u:%" PRIu64, c->idx, i % g_keys);
		put_cmd(c, 3, "SET", key);
		gen_value(c->idx, i, put_bulk(c, NULL, g_vsize), g_vsize);
		expect(c, "+OK\r\n");
		break;
	case C_GET:
		/* key j, set last by the SET of sequence number i */
		i = r % (c->sets < g_keys ? c->sets : g_keys);
		snprintf(key, sizeof(key), "key:%u:%" PRIu64, c->idx, i);
		i += (c->sets - 1 - i) / g_keys * g_keys;
		put_cmd(c, 2, "GET", key);
		c->exp_len = (size_t)sprintf((char *)c->exp, "$%u\r\n", g_vsize);
		gen_value(c->idx, i, c->exp + c->exp_len, g_vsize);
		memcpy(c->exp + c->exp_len + g_vsize, "\r\n", 2);
		c->exp_len += g_vsize + 2;
		break;
	case C_PING:
		put_cmd(c, 1, "PING", NULL);
		if (r & (1ull << 40)) /* the inline command protocol, now and then */
			c->out_len = (size_t)sprintf((char *)c->out, "PING\r\n");
		expect(c, "+PONG\r\n");
		break;
	case C_INCR:
		snprintf(key, sizeof(key), "counter:%u", c->idx);
		put_cmd(c, 2, "INCR", key);
		c->exp_len = (size_t)sprintf((char *)c->exp, ":%" PRIu64 "\r\n", ++c->incr);
		break;
	default:
		put_cmd(c, 1, "QUIT", NULL);
		expect(c, "+OK\r\n");
		break;
	}
	atomic_store(&c->state, S_SEND);
	if (send_all(c, c->out, c->out_len) < 0)
		return -1;
	atomic_store(&c->state, S_RECV);
	if (recv_reply(c) < 0)
		return -1;
	atomic_fetch_add(&g_requests, 1);
	return 0;
}

static int pick(struct conn *c)
{
	uint64_t r = splitmix_next(&c->rng) % 10;

	if (g_ping_only)
		return C_PING;
	if (c->sets == 0 || r < 4)
		return C_SET;
	return r < 7 ? C_GET : r < 8 ? C_PING : C_INCR;
}

/* --pause-file: stop until FILE exists (or another connection failed); the last one to stop
 * says so */
static void pause_point(struct conn *c)
{
	atomic_store(&c->state, S_PAUSED);
	if (atomic_fetch_add(&g_paused, 1) + 1 == g_conns) {
		/* what the first half carried: a test tells the second apart */
		printf("redispool: paused requests=%" PRIu64 " bytes_out=%" PRIu64
		       " bytes_in=%" PRIu64 "\n",
		       (uint64_t)atomic_load(&g_requests), (uint64_t)atomic_load(&g_bytes_out),
		       (uint64_t)atomic_load(&g_bytes_in));
		fflush(stdout);
	}
	while (access(g_pause_file, F_OK) != 0 && atomic_load(&g_failed) == 0)
		usleep(10 * 1000);
}

static void *conn_run(void *arg)
{
	struct conn *c = arg;
	uint64_t deadline = g_deadline;
	int paused = !g_pause_file, one = 1;
	char gb[4 * SHOW + 8];
	ssize_t n;

	c->in_cap = g_vsize + 64; /* the longest reply expected is g_vsize + 12 bytes */
	c->out = malloc(g_vsize + 128);
	c->in = malloc(c->in_cap);
	c->exp = malloc(c->in_cap);
	snprintf(c->what, sizeof(c->what), "setup");
	if (!c->out || !c->in || !c->exp) {
		fail(c, "out of memory");
	} else if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
		   (g_nonblock && fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)) {
		fail(c, "socket setup: %s", strerror(errno));
	} else if (step(c, C_RESET) == 0) {
		for (;;) {
			uint64_t t = now_ns();

			if (!paused && t >= g_half) { /* then at least one more request */
				pause_point(c);
				paused = 1;
				deadline = now_ns() + (g_deadline - g_half);
			} else if (t >= deadline) {
				break;
			}
			if (step(c, pick(c)) < 0)
				break;
		}
		if (!c->failed && step(c, C_QUIT) == 0 && (n = recv_some(c, c->in, c->in_cap)) > 0)
			fail(c, "%zd bytes after the reply instead of EOF: %s", n,
			     escape(c->in, (size_t)n, gb)); /* the server closes after QUIT */
	}
	atomic_store(&c->state, S_DONE);
	close(c->fd);
	free(c->out);
	free(c->in);
	free(c->exp);
	return NULL;
}

static void __attribute__((noreturn)) finish(void)
{
	int ok;

	pthread_mutex_lock(&g_exit_lock); /* never unlocked: one thread exits */
	pthread_mutex_lock(&g_lock);
	ok = !g_reason[0] && atomic_load(&g_failed) == 0 && atomic_load(&g_spurious) == 0;
	printf("redispool: %s conns=%u requests=%" PRIu64 " bytes_out=%" PRIu64 " bytes_in=%" PRIu64
	       " spurious_eagain=%" PRIu64 " elapsed_ms=%" PRIu64,
	       ok ? "ok" : "FAIL", g_conns, (uint64_t)atomic_load(&g_requests),
	       (uint64_t)atomic_load(&g_bytes_out), (uint64_t)atomic_load(&g_bytes_in),
	       (uint64_t)atomic_load(&g_spurious), (now_ns() - g_start) / 1000000);
	if (!ok)
		printf(" failed_conns=%" PRIu64 " reason=%s", (uint64_t)atomic_load(&g_failed),
		       g_reason[0] ? g_reason : "unknown");
	printf("\n");
	fflush(stdout);
	fflush(stderr);
	_exit(ok ? 0 : 1);
}

/* SIGINT/SIGTERM (blocked in every other thread) and --timeout */
static void *watchdog(void *arg)
{
	uint64_t deadline = g_start + g_timeout * NS;
	struct conn *cs;

	(void)arg;
	for (;;) {
		int sig = watchdog_wait(deadline);

		if (sig > 0) {
			fail(NULL, "interrupted by %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			finish();
		}
		if (now_ns() < deadline)
			continue;
		pthread_mutex_lock(&g_exit_lock);
		cs = atomic_load(&g_cs);
		for (unsigned i = 0; cs && i < g_conns; i++) {
			struct conn *c = &cs[i];
			int s = atomic_load(&c->state);

			if (s != S_DONE)
				fprintf(stderr, "redispool: conn %u (ports %u/%u): %s%s%s\n", i,
					c->lport, c->rport, state_name[s],
					s == S_SEND || s == S_RECV ? " " : "",
					s == S_SEND || s == S_RECV ? cmd_name[atomic_load(&c->cmd)]
								   : "");
		}
		fprintf(stderr, "redispool: timeout after %u s (hang)\n", g_timeout);
		fflush(stdout);
		fflush(stderr);
		_exit(EXIT_HANG);
	}
	return NULL;
}

static unsigned port_of(const struct sockaddr_storage *a)
{
	return ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
					      : ((const struct sockaddr_in *)a)->sin_port);
}

static void __attribute__((noreturn)) run(const struct sockaddr_storage *ss, socklen_t len)
{
	struct conn *cs = calloc(g_conns, sizeof(*cs));
	pthread_t *ts = calloc(g_conns, sizeof(*ts));
	unsigned i;
	uint64_t t;

	if (!cs || !ts) {
		fail(NULL, "out of memory");
		finish();
	}
	for (i = 0; i < g_conns; i++) { /* the whole pool first */
		struct conn *c = &cs[i];
		struct sockaddr_storage a;
		socklen_t al = sizeof(a);

		c->idx = i;
		c->rng = mix64(i + 0x5245444953ull);
		snprintf(c->what, sizeof(c->what), "connect");
		c->rport = port_of(ss);
		c->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)ss, len) < 0) {
			fail(c, "%s", strerror(errno));
			finish();
		}
		if (!getsockname(c->fd, (struct sockaddr *)&a, &al))
			c->lport = port_of(&a);
	}
	atomic_store(&g_cs, cs);
	t = now_ns(); /* then the traffic */
	g_half = t + g_seconds * NS / 2;
	g_deadline = t + g_seconds * NS;
	for (i = 0; i < g_conns; i++) {
		int e = pthread_create(&ts[i], NULL, conn_run, &cs[i]);

		if (e != 0) {
			fail(NULL, "pthread_create: %s", strerror(e));
			finish();
		}
	}
	for (i = 0; i < g_conns; i++)
		pthread_join(ts[i], NULL);
	finish(); /* the watchdog may still read cs: not freed */
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: redispool ADDR PORT [--conns N (8, max %u)] [--seconds S (5)]\n"
		"                 [--timeout SEC (60)] [--value-size BYTES (64, max %u)]\n"
		"                 [--pause-file FILE] [--blocking (default)|--nonblocking] "
		"[--ping]\n"
		"ADDR: numeric IPv4 or IPv6 of a redis-server\n"
		"exit status: 0 ok, 1 failure, 2 hang (timeout), 64 usage error\n",
		MAX_CONNS, MAX_VALUE);
}

static int parse_num(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;

	errno = 0;
	if (s && *s >= '0' && *s <= '9') {
		*out = strtoull(s, &end, 0);
		if (!errno && !*end && *out >= lo && *out <= hi)
			return 0;
	}
	fprintf(stderr, "redispool: invalid value '%s' for %s (%" PRIu64 "..%" PRIu64 ")\n",
		s ? s : "", opt, lo, hi);
	return -1;
}

static int parse_args(int argc, char **argv, uint64_t *port)
{
	uint64_t v;

	if (argc < 3 || parse_num("PORT", argv[2], 1, 65535, port) < 0)
		return -1;
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--ping")) {
			g_ping_only = 1;
			continue;
		}
		if (!strcmp(a, "--blocking") || !strcmp(a, "--nonblocking")) {
			g_nonblock = !strcmp(a, "--nonblocking");
			continue;
		}
		if (!strcmp(a, "--conns") && parse_num(a, val, 1, MAX_CONNS, &v) == 0)
			g_conns = (unsigned)v;
		else if (!strcmp(a, "--seconds") && parse_num(a, val, 0, 86400, &v) == 0)
			g_seconds = (unsigned)v;
		else if (!strcmp(a, "--timeout") && parse_num(a, val, 1, 86400, &v) == 0)
			g_timeout = (unsigned)v;
		else if (!strcmp(a, "--value-size") && parse_num(a, val, 0, MAX_VALUE, &v) == 0)
			g_vsize = (unsigned)v;
		else if (!strcmp(a, "--pause-file") && val && *val)
			g_pause_file = val;
		else {
			fprintf(stderr, "redispool: bad option '%s'\n", a);
			return -1;
		}
		i++;
	}
	if (g_seconds >= g_timeout) {
		fprintf(stderr, "redispool: --seconds must be less than --timeout\n");
		return -1;
	}
	g_keys = KEY_BYTES / (g_vsize ? g_vsize : 1);
	g_keys = g_keys < 4 ? 4 : g_keys > 1024 ? 1024 : g_keys;
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	uint64_t port;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (parse_args(argc, argv, &port) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (addr_of(argv[1], (unsigned)port, &ss, &len) < 0) {
		fprintf(stderr, "redispool: '%s' is not a numeric IPv4 or IPv6 address\n", argv[1]);
		return EXIT_USAGE;
	}
	g_start = now_ns();
	if (watchdog_start(watchdog, "redispool") < 0)
		return 1;
	run(&ss, len);
}
