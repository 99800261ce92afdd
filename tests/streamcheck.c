/* streamcheck: TCP traffic generator + byte-exact verifier (stream / request-response / sink) for
 * oci-bypass integration tests. */
/*
 * Build:
 *   gcc -std=gnu11 -O2 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
 *       -D_FORTIFY_SOURCE=2 -fstack-protector-strong -pthread \
 *       -o streamcheck tests/streamcheck.c
 *
 * Wire protocol (all integers big-endian):
 *   Every client connection starts with a 40-byte header:
 *     u32 magic "SCK1" | u8 version (1) | u8 mode (1 stream, 2 rr) |
 *     u16 flags (bit0 halfclose) | u32 conn index | u32 round |
 *     u32 max_chunk | u32 reserved (0) | u64 seed | u64 count
 *   count is the stream length in bytes (stream) or the number of rounds
 *   (rr).  The server takes every generation parameter from the header, so it
 *   needs no --seed/--bytes of its own.  A sink server reads no header.
 *
 *   stream: after the header both sides send `count` bytes of the stream
 *     derived from (seed, conn, direction) at the same time.  The server reads
 *     exactly `count` bytes and closes once it has verified the client's
 *     stream and counted the connection, so a client seeing EOF (in any mode)
 *     implies the server already judged that connection: killing the server
 *     right after its clients finish is safe.  The client verifies it receives
 *     exactly the server's stream followed by EOF.  With --halfclose the client
 *     ends its stream with shutdown(SHUT_WR) while still reading, and the
 *     server reads to that EOF.
 *   rr: per round the client sends [u32 len][len bytes] and the server answers
 *     [u32 len][len bytes]; sizes and contents derive from (seed, conn, round).
 *     Without --halfclose all rounds share one connection and the client ends
 *     it with close(); with --halfclose every round is a connection of its
 *     own: request, shutdown(SHUT_WR), response, close.
 *   Nothing half-closes unless --halfclose is given: oci-bypass keeps services
 *   that do a blocking shutdown(SHUT_WR) on stock TCP.
 *
 * All sockets are blocking and have no SO_RCVTIMEO/SO_SNDTIMEO, so EAGAIN from
 * read()/write()/accept() is never legitimate: it is counted as spurious_eagain
 * and fails the connection (in every mode; nothing is retried).  Hangs are
 * caught by a watchdog thread (--timeout) that exits with status 2.
 *
 * Exit status: 0 ok, 1 verification/IO failure, 2 timeout (hang), 64 usage.
 * Byte counters in the summary lines count payload only (stream bytes or rr
 * request/response bodies), not headers or length prefixes.
 *
 * Hidden flag --corrupt-test flips one byte of what connection 0 sends
 * (stream: at offset bytes/2; rr: in round rounds/2): given to the client,
 * it proves that the server's verifier detects corruption; given to the
 * server, that the client's does (t_verifiers).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

#define SC_MAGIC	0x53434b31u /* "SCK1" */
#define SC_VERSION	1u
#define HDR_LEN		40
#define FLAG_HALFCLOSE	0x1u
#define RR_MAX		65536u
#define MAX_CHUNK_LIMIT (16u * 1024 * 1024)
#define MAX_CONNS	1024u
#define MAX_ROUNDS	100000000u
#define EXIT_FAIL	1
#define EXIT_HANG	2
#define EXIT_USAGE	64
#define THREAD_STACK	(256u * 1024)

#define DIR_C2S 0u
#define DIR_S2C 1u

/* purposes for key derivation, so every random stream is independent */
#define P_DATA	  0x64617461u
#define P_WSIZE	  0x7773697au
#define P_RSIZE	  0x7273697au
#define P_REQ	  0x72657175u
#define P_RESP	  0x72657370u
#define P_REQLEN  0x72716c6eu
#define P_RESPLEN 0x72706c6eu

enum mode { MODE_STREAM = 1, MODE_RR = 2, MODE_SINK = 3 };

struct opts {
	int server;
	const char *addr;
	const char *port;
	enum mode mode;
	unsigned conns;
	uint64_t bytes;
	unsigned rounds;
	size_t max_chunk;
	uint64_t seed;
	unsigned timeout;
	int halfclose;
	int corrupt;
	uint64_t count;		 /* 0: unlimited */
	unsigned source_port;	 /* client: bind to this local port first */
	unsigned start_delay_ms; /* client: wait this long after connect() */
	const char *pause_file;	 /* client: stop halfway until it exists */
	int have_expect_seed;
	uint64_t expect_seed; /* server: refuse clients with another seed */
	int defer_accept;     /* server: TCP_DEFER_ACCEPT on the listener */
	int server_first;     /* both: the server writes a banner before anything */
};

/* --server-first: the first bytes of every connection, sent by the server. */
static const char SC_BANNER[32] = "streamcheck server speaks first";

struct hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t mode;
	uint16_t flags;
	uint32_t conn;
	uint32_t round;
	uint32_t max_chunk;
	uint32_t reserved;
	uint64_t seed;
	uint64_t count;
};

struct conn {
	int fd;
	uint32_t idx;
	int server;
	enum mode mode;
	uint64_t seed;
	uint64_t bytes;	 /* stream length */
	uint32_t rounds; /* rr rounds (header count) */
	uint32_t round;	 /* rr --halfclose: round of this connection */
	size_t max_chunk;
	int halfclose;
	int corrupt;
	atomic_int failed;
	int writer_rc;
	char peer[INET6_ADDRSTRLEN + 8];
};

static struct opts g_opt;
static struct timespec g_start;
static struct sockaddr_storage g_dst;
static socklen_t g_dst_len;

static atomic_uint_fast64_t g_bytes_sent;
static atomic_uint_fast64_t g_bytes_received;
static atomic_uint_fast64_t g_rounds;
static atomic_uint g_paused;

/* --pause-file: every connection stops halfway (stream: its writer at
 * bytes/2; rr: before round rounds/2) until FILE exists; once all of them
 * are there, the client prints "streamcheck: client paused" (flushed), so
 * that a test acts while every connection is open, mid-stream. The
 * watchdog (--timeout) bounds the wait. */
static void pause_point(void)
{
	if (!g_opt.pause_file)
		return;
	if (atomic_fetch_add(&g_paused, 1) + 1 == g_opt.conns) {
		printf("streamcheck: client paused\n");
		fflush(stdout);
	}
	while (access(g_opt.pause_file, F_OK) != 0)
		usleep(10 * 1000);
}
static atomic_uint_fast64_t g_spurious_eagain;
static atomic_uint_fast64_t g_conns_failed;

static pthread_mutex_t g_err_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_first_err[512];

static pthread_mutex_t g_exit_lock = PTHREAD_MUTEX_INITIALIZER;

/* server connection bookkeeping */
static pthread_mutex_t g_srv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_srv_cond = PTHREAD_COND_INITIALIZER;
static uint64_t g_srv_accepted;
static uint64_t g_srv_done;

/* ------------------------------------------------------------------ util */

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...)
{
	char line[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "streamcheck: %s\n", line);
}

static const char *errstr(int e, char *buf, size_t len)
{
	return strerror_r(e, buf, len); /* GNU variant */
}

static void record_error(const char *text)
{
	pthread_mutex_lock(&g_err_lock);
	if (g_first_err[0] == '\0')
		snprintf(g_first_err, sizeof(g_first_err), "%s", text);
	pthread_mutex_unlock(&g_err_lock);
}

/* global (non-connection) failure: print and remember */
static void fail_global(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_global(const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	msg("%s", text);
	record_error(text);
}

/* first failure of a connection wins; later (consequential) ones are dropped */
static void conn_fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_fail(struct conn *c, const char *fmt, ...)
{
	char detail[256], text[512];
	va_list ap;

	if (atomic_exchange(&c->failed, 1) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (c->mode == MODE_RR && c->halfclose)
		snprintf(text, sizeof(text), "%s conn %" PRIu32 " round %" PRIu32 "%s%s: %s",
			 c->server ? "server" : "client", c->idx, c->round,
			 c->peer[0] ? " peer " : "", c->peer, detail);
	else
		snprintf(text, sizeof(text), "%s conn %" PRIu32 "%s%s: %s",
			 c->server ? "server" : "client", c->idx, c->peer[0] ? " peer " : "",
			 c->peer, detail);
	msg("%s", text);
	record_error(text);
}

static uint64_t elapsed_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - g_start.tv_sec) * 1000u +
	       (uint64_t)((now.tv_nsec - g_start.tv_nsec) / 1000000);
}

static const char *mode_name(enum mode m)
{
	switch (m) {
	case MODE_STREAM:
		return "stream";
	case MODE_RR:
		return "rr";
	case MODE_SINK:
		return "sink";
	}
	return "?";
}

/* ------------------------------------------------------------------ PRNG */

static uint64_t derive(uint64_t seed, uint32_t purpose, uint64_t a, uint64_t b)
{
	uint64_t k = mix64(seed + GAMMA);

	k = mix64(k ^ ((uint64_t)purpose * GAMMA));
	k = mix64(k ^ (a + 0x632BE59BD9B4E019ull));
	k = mix64(k ^ (b + 0x8CB92BA72F3D8DD7ull));
	return k;
}

/* byte `off` of the stream `key`: little-endian bytes of mix64(key + (off/8+1)*GAMMA) */
static void gen_fill(uint64_t key, uint64_t off, unsigned char *buf, size_t len)
{
	while (len > 0 && (off & 7u) != 0) {
		uint64_t w = mix64(key + ((off >> 3) + 1) * GAMMA);

		*buf++ = (unsigned char)(w >> (8u * (off & 7u)));
		off++;
		len--;
	}
	while (len >= 8) {
		uint64_t w = mix64(key + ((off >> 3) + 1) * GAMMA);

		for (unsigned i = 0; i < 8; i++)
			buf[i] = (unsigned char)(w >> (8u * i));
		buf += 8;
		off += 8;
		len -= 8;
	}
	while (len > 0) {
		uint64_t w = mix64(key + ((off >> 3) + 1) * GAMMA);

		*buf++ = (unsigned char)(w >> (8u * (off & 7u)));
		off++;
		len--;
	}
}

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	r->s += GAMMA;
	return mix64(r->s);
}

/*
 * Size in 1..max: half the draws uniform over the whole range, half
 * log-uniform (uniform bit length), so tiny and huge sizes both occur often.
 */
static size_t rand_size(struct rng *r, size_t max)
{
	uint64_t x = rng_next(r);
	unsigned bits, k;
	uint64_t lo, hi;

	if (max <= 1)
		return 1;
	if (x & 1u)
		return (size_t)(1 + rng_next(r) % max);
	bits = 64u - (unsigned)__builtin_clzll((unsigned long long)max);
	k = (unsigned)((x >> 1) % bits);
	lo = 1ull << k;
	hi = (2ull << k) - 1;
	if (hi > max)
		hi = max;
	return (size_t)(lo + rng_next(r) % (hi - lo + 1));
}

static size_t rr_cap(size_t max_chunk)
{
	return max_chunk < RR_MAX ? max_chunk : RR_MAX;
}

static size_t rr_len(const struct conn *c, uint32_t purpose, uint32_t rnd)
{
	struct rng r = { derive(c->seed, purpose, c->idx, rnd) };

	return rand_size(&r, rr_cap(c->max_chunk));
}

/* ------------------------------------------------------------------ IO */

static void note_io_error(struct conn *c, int e, const char *op, const char *what)
{
	char eb[128];

	if (e == EAGAIN || e == EWOULDBLOCK) {
		atomic_fetch_add(&g_spurious_eagain, 1);
		conn_fail(c, "spurious EAGAIN from blocking %s() (%s)", op, what);
	} else {
		conn_fail(c, "%s() (%s): %s", op, what, errstr(e, eb, sizeof(eb)));
	}
}

/* one read(): returns bytes read (0 = EOF) or -1 (already reported) */
static ssize_t sc_read(struct conn *c, void *buf, size_t len, const char *what)
{
	for (;;) {
		ssize_t r = read(c->fd, buf, len);

		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		note_io_error(c, errno, "read", what);
		return -1;
	}
}

static int sc_write_all(struct conn *c, const void *buf, size_t len, const char *what)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t r = write(c->fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			note_io_error(c, errno, "write", what);
			return -1;
		}
		if (r == 0) {
			conn_fail(c, "write() (%s) returned 0", what);
			return -1;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/*
 * Read exactly len bytes.  Returns 0 on success, 1 on EOF before the first
 * byte when allow_eof is set, -1 on error or truncated data (reported).
 */
static int sc_read_exact(struct conn *c, void *buf, size_t len, const char *what, int allow_eof)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t r = sc_read(c, p + got, len - got, what);

		if (r < 0)
			return -1;
		if (r == 0) {
			if (got == 0 && allow_eof)
				return 1;
			conn_fail(c, "premature EOF in %s after %zu of %zu bytes", what, got, len);
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

/* the peer must have shut down its side now: the next read must give EOF */
static int sc_expect_eof(struct conn *c, const char *what)
{
	unsigned char b[64];
	ssize_t r = sc_read(c, b, sizeof(b), what);

	if (r < 0)
		return -1;
	if (r > 0) {
		conn_fail(c, "%zd unexpected extra bytes instead of EOF (%s)", r, what);
		return -1;
	}
	return 0;
}

static int verify_buf(struct conn *c, uint64_t key, uint64_t off, const unsigned char *got,
		      unsigned char *exp, size_t len, const char *what)
{
	gen_fill(key, off, exp, len);
	if (memcmp(got, exp, len) == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (got[i] != exp[i]) {
			conn_fail(
				c,
				"%s mismatch at offset %" PRIu64
				" (expected 0x%02x got 0x%02x, read of %zu bytes at offset %" PRIu64
				")",
				what, off + i, exp[i], got[i], len, off);
			return -1;
		}
	}
	return -1;
}

static void set_nodelay(int fd)
{
	int one = 1;

	/* best effort: only affects latency, never correctness */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void encode_hdr(unsigned char *b, const struct hdr *h)
{
	put_be32(b, h->magic);
	b[4] = h->version;
	b[5] = h->mode;
	b[6] = (unsigned char)(h->flags >> 8);
	b[7] = (unsigned char)h->flags;
	put_be32(b + 8, h->conn);
	put_be32(b + 12, h->round);
	put_be32(b + 16, h->max_chunk);
	put_be32(b + 20, h->reserved);
	put_be64(b + 24, h->seed);
	put_be64(b + 32, h->count);
}

static void decode_hdr(const unsigned char *b, struct hdr *h)
{
	h->magic = get_be32(b);
	h->version = b[4];
	h->mode = b[5];
	h->flags = (uint16_t)(b[6] << 8 | b[7]);
	h->conn = get_be32(b + 8);
	h->round = get_be32(b + 12);
	h->max_chunk = get_be32(b + 16);
	h->reserved = get_be32(b + 20);
	h->seed = get_be64(b + 24);
	h->count = get_be64(b + 32);
}

/* ------------------------------------------------------------------ stream mode */

/*
 * The client shuts its write side down as soon as it has sent everything.
 * The server sends its FIN only after it has verified the client's stream
 * and counted the connection (see server_conn_thread), so a client that saw
 * EOF knows the server has already judged the connection.
 */
static int stream_send(struct conn *c, uint32_t dir)
{
	uint64_t key = derive(c->seed, P_DATA, c->idx, dir);
	struct rng r = { derive(c->seed, P_WSIZE, c->idx, dir) };
	uint64_t corrupt_off = c->corrupt ? c->bytes / 2 : UINT64_MAX;
	unsigned char *buf = malloc(c->max_chunk);
	uint64_t off = 0;
	int rc = 0, paused = 0;

	if (!buf) {
		conn_fail(c, "out of memory");
		return -1;
	}
	while (off < c->bytes) {
		size_t n = rand_size(&r, c->max_chunk);

		if (!c->server && !paused && off >= c->bytes / 2) {
			pause_point();
			paused = 1;
		}
		if (n > c->bytes - off)
			n = (size_t)(c->bytes - off);
		gen_fill(key, off, buf, n);
		if (corrupt_off >= off && corrupt_off < off + n)
			buf[corrupt_off - off] ^= 0x5a;
		if (sc_write_all(c, buf, n, "stream data") < 0) {
			rc = -1;
			break;
		}
		atomic_fetch_add(&g_bytes_sent, n);
		off += n;
	}
	/* --halfclose: the client ends its stream with shutdown(SHUT_WR) and
	 * keeps reading. Otherwise nobody half-closes: the server reads exactly
	 * its bytes and closes, the client reads to that EOF and closes. */
	if (rc == 0 && !c->server && c->halfclose && shutdown(c->fd, SHUT_WR) < 0) {
		char eb[128];

		conn_fail(c, "shutdown(SHUT_WR): %s", errstr(errno, eb, sizeof(eb)));
		rc = -1;
	}
	if (rc < 0)
		(void)shutdown(c->fd, SHUT_RDWR); /* unblock our reader */
	free(buf);
	return rc;
}

static int stream_recv(struct conn *c, uint32_t dir)
{
	const char *what = dir == DIR_C2S ? "client->server stream" : "server->client stream";
	uint64_t key = derive(c->seed, P_DATA, c->idx, dir);
	struct rng r = { derive(c->seed, P_RSIZE, c->idx, dir) };
	unsigned char *buf = malloc(c->max_chunk);
	unsigned char *exp = malloc(c->max_chunk);
	uint64_t off = 0;
	int rc = -1;

	if (!buf || !exp) {
		conn_fail(c, "out of memory");
		goto out;
	}
	for (;;) {
		size_t n = rand_size(&r, c->max_chunk);
		ssize_t got = sc_read(c, buf, n, what);

		if (got < 0)
			goto out;
		if (got > 0 && c->server && !c->halfclose && off + (uint64_t)got == c->bytes) {
			/* without half-close the client waits for our EOF */
			if (verify_buf(c, key, off, buf, exp, (size_t)got, what) < 0)
				goto out;
			atomic_fetch_add(&g_bytes_received, (uint64_t)got);
			rc = 0;
			goto out;
		}
		if (got == 0) {
			if (off != c->bytes) {
				conn_fail(c, "%s: premature EOF at offset %" PRIu64 " of %" PRIu64,
					  what, off, c->bytes);
				goto out;
			}
			rc = 0;
			goto out;
		}
		if ((uint64_t)got > c->bytes - off) {
			conn_fail(c,
				  "%s: %" PRIu64 " bytes beyond the expected end (length %" PRIu64
				  ")",
				  what, off + (uint64_t)got - c->bytes, c->bytes);
			goto out;
		}
		if (verify_buf(c, key, off, buf, exp, (size_t)got, what) < 0)
			goto out;
		off += (uint64_t)got;
		atomic_fetch_add(&g_bytes_received, (uint64_t)got);
	}
out:
	free(exp);
	free(buf);
	return rc;
}

struct writer_arg {
	struct conn *c;
	uint32_t dir;
};

static void *stream_writer_thread(void *arg)
{
	struct writer_arg *wa = arg;

	wa->c->writer_rc = stream_send(wa->c, wa->dir);
	return NULL;
}

static int thread_start(pthread_t *t, void *(*fn)(void *), void *arg, int detached)
{
	pthread_attr_t attr;
	int e;

	if ((e = pthread_attr_init(&attr)) != 0)
		return -e;
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	if (detached)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	e = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return -e;
}

/* both directions at once: a writer thread sends, the calling thread receives */
static int stream_duplex(struct conn *c, uint32_t send_dir, uint32_t recv_dir)
{
	struct writer_arg wa = { c, send_dir };
	pthread_t t;
	int rc, e;

	if ((e = thread_start(&t, stream_writer_thread, &wa, 0)) < 0) {
		char eb[128];

		conn_fail(c, "pthread_create: %s", errstr(-e, eb, sizeof(eb)));
		return -1;
	}
	rc = stream_recv(c, recv_dir);
	if (rc < 0)
		(void)shutdown(c->fd, SHUT_RDWR); /* unblock the writer */
	pthread_join(t, NULL);
	if (c->writer_rc < 0)
		rc = -1;
	return rc;
}

/* ------------------------------------------------------------------ rr mode */

static int rr_client_round(struct conn *c, uint32_t rnd, unsigned char *req, unsigned char *resp,
			   unsigned char *exp)
{
	size_t qlen = rr_len(c, P_REQLEN, rnd);
	size_t plen = rr_len(c, P_RESPLEN, rnd);
	uint32_t got_len;
	int rc;

	put_be32(req, (uint32_t)qlen);
	gen_fill(derive(c->seed, P_REQ, c->idx, rnd), 0, req + 4, qlen);
	if (c->corrupt && rnd == c->rounds / 2)
		req[4 + qlen / 2] ^= 0x5a;
	if (sc_write_all(c, req, 4 + qlen, "request") < 0)
		return -1;
	atomic_fetch_add(&g_bytes_sent, qlen);
	if (c->halfclose && shutdown(c->fd, SHUT_WR) < 0) {
		char eb[128];

		conn_fail(c, "shutdown(SHUT_WR): %s", errstr(errno, eb, sizeof(eb)));
		return -1;
	}
	rc = sc_read_exact(c, resp, 4, "response length", 0);
	if (rc != 0)
		return -1;
	got_len = get_be32(resp);
	if (got_len != plen) {
		conn_fail(c, "round %" PRIu32 ": response length %" PRIu32 ", expected %zu", rnd,
			  got_len, plen);
		return -1;
	}
	if (sc_read_exact(c, resp, plen, "response body", 0) != 0)
		return -1;
	if (verify_buf(c, derive(c->seed, P_RESP, c->idx, rnd), 0, resp, exp, plen,
		       "response body") < 0)
		return -1;
	atomic_fetch_add(&g_bytes_received, plen);
	if (c->halfclose && sc_expect_eof(c, "after response") < 0)
		return -1;
	atomic_fetch_add(&g_rounds, 1);
	return 0;
}

static int rr_server_round(struct conn *c, uint32_t rnd, unsigned char *buf, unsigned char *exp,
			   int *eof)
{
	size_t qlen = rr_len(c, P_REQLEN, rnd);
	size_t plen = rr_len(c, P_RESPLEN, rnd);
	uint32_t got_len;
	int rc;

	*eof = 0;
	rc = sc_read_exact(c, buf, 4, "request length", 1);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		*eof = 1;
		return 0;
	}
	got_len = get_be32(buf);
	if (got_len != qlen) {
		conn_fail(c, "round %" PRIu32 ": request length %" PRIu32 ", expected %zu", rnd,
			  got_len, qlen);
		return -1;
	}
	if (sc_read_exact(c, buf, qlen, "request body", 0) != 0)
		return -1;
	if (verify_buf(c, derive(c->seed, P_REQ, c->idx, rnd), 0, buf, exp, qlen, "request body") <
	    0)
		return -1;
	atomic_fetch_add(&g_bytes_received, qlen);
	if (c->halfclose && sc_expect_eof(c, "after request") < 0)
		return -1;
	put_be32(buf, (uint32_t)plen);
	gen_fill(derive(c->seed, P_RESP, c->idx, rnd), 0, buf + 4, plen);
	if (c->corrupt && rnd == c->rounds / 2)
		buf[4 + plen / 2] ^= 0x5a;
	if (sc_write_all(c, buf, 4 + plen, "response") < 0)
		return -1;
	atomic_fetch_add(&g_bytes_sent, plen);
	atomic_fetch_add(&g_rounds, 1);
	return 0;
}

static int rr_server(struct conn *c)
{
	size_t cap = 4 + rr_cap(c->max_chunk);
	unsigned char *buf = malloc(cap), *exp = malloc(cap);
	int rc = -1, eof;

	if (!buf || !exp) {
		conn_fail(c, "out of memory");
		goto out;
	}
	set_nodelay(c->fd);
	if (c->halfclose) {
		if (rr_server_round(c, c->round, buf, exp, &eof) < 0)
			goto out;
		if (eof) {
			conn_fail(c, "EOF before request");
			goto out;
		}
		rc = 0;
		goto out;
	}
	for (uint32_t rnd = 0; rnd < c->rounds; rnd++) {
		if (rr_server_round(c, rnd, buf, exp, &eof) < 0)
			goto out;
		if (eof) {
			conn_fail(c, "premature EOF before round %" PRIu32 " of %" PRIu32, rnd,
				  c->rounds);
			goto out;
		}
	}
	if (sc_expect_eof(c, "after last round") < 0)
		goto out;
	rc = 0;
out:
	free(exp);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------ addresses */

static int resolve(const char *addr, const char *port, int passive, struct sockaddr_storage *ss,
		   socklen_t *len)
{
	struct addrinfo hints, *res = NULL;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	e = getaddrinfo(addr, port, &hints, &res);
	if (e != 0) {
		fail_global("bad address %s port %s: %s", addr, port, gai_strerror(e));
		return -1;
	}
	if (res->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(res);
		fail_global("address too long");
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t len, unsigned *port)
{
	const void *a;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		a = &s6->sin6_addr;
		*port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		a = &s4->sin_addr;
		*port = ntohs(s4->sin_port);
	}
	if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/* ------------------------------------------------------------------ exit paths */

static void print_summary(FILE *f, const char *role_ok, const char *role_fail, int ok,
			  uint64_t conns)
{
	char reason[sizeof(g_first_err)];

	pthread_mutex_lock(&g_err_lock);
	snprintf(reason, sizeof(reason), "%s", g_first_err[0] ? g_first_err : "unknown");
	pthread_mutex_unlock(&g_err_lock);
	if (ok) {
		fprintf(f,
			"streamcheck: %smode=%s conns=%" PRIu64 " bytes_sent=%" PRIu64
			" bytes_received=%" PRIu64 " rounds=%" PRIu64 " spurious_eagain=%" PRIu64
			" elapsed_ms=%" PRIu64 "\n",
			role_ok, mode_name(g_opt.mode), conns, (uint64_t)atomic_load(&g_bytes_sent),
			(uint64_t)atomic_load(&g_bytes_received), (uint64_t)atomic_load(&g_rounds),
			(uint64_t)atomic_load(&g_spurious_eagain), elapsed_ms());
	} else {
		fprintf(f,
			"streamcheck: %smode=%s conns=%" PRIu64 " bytes_sent=%" PRIu64
			" bytes_received=%" PRIu64 " rounds=%" PRIu64 " spurious_eagain=%" PRIu64
			" elapsed_ms=%" PRIu64 " failed_conns=%" PRIu64 " seed=%" PRIu64
			" reason=%s\n",
			role_fail, mode_name(g_opt.mode), conns,
			(uint64_t)atomic_load(&g_bytes_sent),
			(uint64_t)atomic_load(&g_bytes_received), (uint64_t)atomic_load(&g_rounds),
			(uint64_t)atomic_load(&g_spurious_eagain), elapsed_ms(),
			(uint64_t)atomic_load(&g_conns_failed), g_opt.seed, reason);
	}
}

static int all_clean(void)
{
	int clean;

	pthread_mutex_lock(&g_err_lock);
	clean = g_first_err[0] == '\0';
	pthread_mutex_unlock(&g_err_lock);
	return clean && atomic_load(&g_conns_failed) == 0 && atomic_load(&g_spurious_eagain) == 0;
}

static void __attribute__((noreturn)) finish(int code)
{
	fflush(stdout);
	fflush(stderr);
	_exit(code);
}

/* server: summary line and exit; the first thread to get here wins */
static void __attribute__((noreturn)) server_finish(const char *why)
{
	uint64_t done, active;
	int ok;

	pthread_mutex_lock(&g_exit_lock);
	pthread_mutex_lock(&g_srv_lock);
	done = g_srv_done;
	active = g_srv_accepted - g_srv_done;
	pthread_mutex_unlock(&g_srv_lock);
	if (active > 0)
		fail_global("%" PRIu64 " connection(s) still active at exit (%s)", active, why);
	ok = all_clean();
	print_summary(stdout, "server ok ", "server FAIL ", ok, done);
	finish(ok ? 0 : EXIT_FAIL);
}

/* watchdog + signal handling: SIGINT/SIGTERM are blocked everywhere else */
static void *watchdog_thread(void *arg)
{
	sigset_t set;
	struct timespec deadline;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	deadline = g_start;
	deadline.tv_sec += g_opt.timeout;
	for (;;) {
		struct timespec now, left;
		int sig;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = deadline.tv_sec - now.tv_sec;
		left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_nsec += 1000000000L;
			left.tv_sec--;
		}
		if (left.tv_sec < 0)
			left.tv_sec = left.tv_nsec = 0;
		sig = sigtimedwait(&set, NULL, &left);
		if (sig > 0) {
			if (g_opt.server)
				server_finish(sig == SIGTERM ? "SIGTERM" : "SIGINT");
			pthread_mutex_lock(&g_exit_lock);
			fail_global("interrupted by %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			print_summary(stdout, "ok ", "FAIL ", 0, g_opt.conns);
			finish(EXIT_FAIL);
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec < deadline.tv_sec ||
		    (now.tv_sec == deadline.tv_sec && now.tv_nsec < deadline.tv_nsec))
			continue;
		if (g_opt.server && g_opt.count == 0) {
			uint64_t active;

			pthread_mutex_lock(&g_srv_lock);
			active = g_srv_accepted - g_srv_done;
			pthread_mutex_unlock(&g_srv_lock);
			if (active == 0)
				server_finish("timeout"); /* idle unlimited server: normal end */
		}
		pthread_mutex_lock(&g_exit_lock);
		msg("timeout after %u s (hang)", g_opt.timeout);
		finish(EXIT_HANG);
	}
	return NULL;
}

/* ------------------------------------------------------------------ server */

static int check_hdr(struct conn *c, const struct hdr *h)
{
	if (h->magic != SC_MAGIC) {
		conn_fail(c, "bad header magic 0x%08" PRIx32 " (not a streamcheck client?)",
			  h->magic);
		return -1;
	}
	if (h->version != SC_VERSION) {
		conn_fail(c, "unsupported header version %u", h->version);
		return -1;
	}
	if (h->mode != MODE_STREAM && h->mode != MODE_RR) {
		conn_fail(c, "bad mode %u in header", h->mode);
		return -1;
	}
	if (g_opt.have_expect_seed && h->seed != g_opt.expect_seed) {
		conn_fail(c,
			  "seed %" PRIu64 " is not the expected %" PRIu64
			  " (a byte stream of another connection arrived here)",
			  h->seed, g_opt.expect_seed);
		return -1;
	}
	if (h->mode != g_opt.mode) {
		conn_fail(c, "mode mismatch: client uses %s, server runs %s",
			  mode_name((enum mode)h->mode), mode_name(g_opt.mode));
		return -1;
	}
	if (h->max_chunk == 0 || h->max_chunk > MAX_CHUNK_LIMIT) {
		conn_fail(c, "bad max_chunk %" PRIu32 " in header", h->max_chunk);
		return -1;
	}
	if (h->flags & ~FLAG_HALFCLOSE) {
		conn_fail(c, "unknown header flags 0x%x", h->flags);
		return -1;
	}
	if (h->mode == MODE_RR) {
		if (h->count == 0 || h->count > MAX_ROUNDS) {
			conn_fail(c, "bad round count %" PRIu64 " in header", h->count);
			return -1;
		}
		if ((h->flags & FLAG_HALFCLOSE) && h->round >= h->count) {
			conn_fail(c, "round %" PRIu32 " out of range %" PRIu64, h->round, h->count);
			return -1;
		}
	}
	return 0;
}

static int sink_conn(struct conn *c)
{
	size_t len = 256u * 1024;
	unsigned char *buf = malloc(len);
	int rc = -1;

	if (!buf) {
		conn_fail(c, "out of memory");
		return -1;
	}
	for (;;) {
		ssize_t r = sc_read(c, buf, len, "sink");

		if (r < 0)
			break;
		if (r == 0) {
			rc = 0;
			break;
		}
		atomic_fetch_add(&g_bytes_received, (uint64_t)r);
	}
	free(buf);
	return rc;
}

static int server_conn(struct conn *c)
{
	unsigned char hb[HDR_LEN];
	struct hdr h;
	int rc;

	if (g_opt.mode == MODE_SINK)
		return sink_conn(c);
	if (g_opt.server_first && sc_write_all(c, SC_BANNER, sizeof(SC_BANNER), "banner") < 0)
		return -1;
	rc = sc_read_exact(c, hb, sizeof(hb), "header", 1);
	if (rc == 1) {
		conn_fail(c, "EOF before header");
		return -1;
	}
	if (rc < 0)
		return -1;
	decode_hdr(hb, &h);
	c->idx = h.conn; /* messages now name the client's connection index */
	if (check_hdr(c, &h) < 0)
		return -1;
	c->corrupt = g_opt.corrupt && c->idx == 0;
	c->mode = (enum mode)h.mode;
	c->seed = h.seed;
	c->max_chunk = h.max_chunk;
	c->halfclose = (h.flags & FLAG_HALFCLOSE) != 0;
	if (c->mode == MODE_STREAM) {
		c->bytes = h.count;
		return stream_duplex(c, DIR_S2C, DIR_C2S);
	}
	c->rounds = (uint32_t)h.count;
	c->round = h.round;
	return rr_server(c);
}

static void *server_conn_thread(void *arg)
{
	struct conn *c = arg;

	int fd = c->fd;

	if (server_conn(c) < 0 || atomic_load(&c->failed))
		atomic_fetch_add(&g_conns_failed, 1);
	free(c);
	/* count the connection before the peer can see our FIN (see stream_send) */
	pthread_mutex_lock(&g_srv_lock);
	g_srv_done++;
	pthread_cond_broadcast(&g_srv_cond);
	pthread_mutex_unlock(&g_srv_lock);
	close(fd); /* no shutdown(SHUT_WR) first: nothing here reads after a half-close */
	return NULL;
}

static int server_listen(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char eb[128], abuf[INET6_ADDRSTRLEN];
	unsigned port;
	int fd, one = 1;

	if (resolve(g_opt.addr, g_opt.port, 1, &ss, &len) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0) {
		fail_global("socket: %s", errstr(errno, eb, sizeof(eb)));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		fail_global("setsockopt(SO_REUSEADDR): %s", errstr(errno, eb, sizeof(eb)));
		goto fail;
	}
	if (ss.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr)) {
		int zero = 0; /* "::" is a dual-stack listener */

		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0) {
			fail_global("setsockopt(IPV6_V6ONLY=0): %s", errstr(errno, eb, sizeof(eb)));
			goto fail;
		}
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		fail_global("bind %s port %s: %s", g_opt.addr, g_opt.port,
			    errstr(errno, eb, sizeof(eb)));
		goto fail;
	}
	if (g_opt.defer_accept) {
		int secs = 5; /* the child socket is made when data arrives */

		if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)) < 0) {
			fail_global("setsockopt(TCP_DEFER_ACCEPT): %s",
				    errstr(errno, eb, sizeof(eb)));
			goto fail;
		}
	}
	if (listen(fd, 4096) < 0) {
		fail_global("listen: %s", errstr(errno, eb, sizeof(eb)));
		goto fail;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		fail_global("getsockname: %s", errstr(errno, eb, sizeof(eb)));
		goto fail;
	}
	format_addr(&ss, abuf, sizeof(abuf), &port);
	printf("streamcheck: listening %s %u\n", abuf, port);
	fflush(stdout);
	return fd;
fail:
	close(fd);
	return -1;
}

static int run_server(void)
{
	char eb[128];
	pthread_t t;
	int lfd, e;

	lfd = server_listen();
	if (lfd < 0)
		return -1;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		struct conn *c;
		unsigned port;
		int fd;

		pthread_mutex_lock(&g_srv_lock);
		if (g_opt.count && g_srv_accepted >= g_opt.count) {
			pthread_mutex_unlock(&g_srv_lock);
			break;
		}
		pthread_mutex_unlock(&g_srv_lock);
		fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				atomic_fetch_add(&g_spurious_eagain, 1);
				fail_global("spurious EAGAIN from blocking accept()");
			} else {
				fail_global("accept: %s", errstr(errno, eb, sizeof(eb)));
			}
			break;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			fail_global("out of memory");
			close(fd);
			break;
		}
		c->fd = fd;
		c->server = 1;
		c->mode = g_opt.mode;
		atomic_init(&c->failed, 0);
		format_addr(&peer, c->peer, sizeof(c->peer) - 8, &port);
		snprintf(c->peer + strlen(c->peer), 8, ":%u", port);
		pthread_mutex_lock(&g_srv_lock);
		c->idx = (uint32_t)g_srv_accepted; /* until the header names the client's index */
		g_srv_accepted++;
		pthread_mutex_unlock(&g_srv_lock);
		if ((e = thread_start(&t, server_conn_thread, c, 1)) < 0) {
			fail_global("pthread_create: %s", errstr(-e, eb, sizeof(eb)));
			close(fd);
			free(c);
			atomic_fetch_add(&g_conns_failed, 1);
			pthread_mutex_lock(&g_srv_lock);
			g_srv_done++;
			pthread_mutex_unlock(&g_srv_lock);
			break;
		}
	}
	close(lfd);
	pthread_mutex_lock(&g_srv_lock);
	while (g_srv_done < g_srv_accepted)
		pthread_cond_wait(&g_srv_cond, &g_srv_lock);
	pthread_mutex_unlock(&g_srv_lock);
	return 0;
}

/* ------------------------------------------------------------------ client */

static int client_connect(struct conn *c)
{
	char eb[128];
	int fd = socket(g_dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);

	if (fd < 0) {
		conn_fail(c, "socket: %s", errstr(errno, eb, sizeof(eb)));
		return -1;
	}
	if (g_opt.source_port) {
		struct sockaddr_storage src;
		int one = 1;

		memset(&src, 0, sizeof(src));
		src.ss_family = g_dst.ss_family;
		if (src.ss_family == AF_INET)
			((struct sockaddr_in *)&src)->sin_port = htons((uint16_t)g_opt.source_port);
		else
			((struct sockaddr_in6 *)&src)->sin6_port =
				htons((uint16_t)g_opt.source_port);
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(fd, (struct sockaddr *)&src,
			 src.ss_family == AF_INET ? sizeof(struct sockaddr_in)
						  : sizeof(struct sockaddr_in6)) < 0) {
			conn_fail(c, "bind source port %u: %s", g_opt.source_port,
				  errstr(errno, eb, sizeof(eb)));
			close(fd);
			return -1;
		}
	}
	/* signals are blocked in this thread, so connect() is not interrupted */
	if (connect(fd, (struct sockaddr *)&g_dst, g_dst_len) < 0) {
		conn_fail(c, "connect %s port %s: %s", g_opt.addr, g_opt.port,
			  errstr(errno, eb, sizeof(eb)));
		close(fd);
		return -1;
	}
	c->fd = fd;
	if (g_opt.start_delay_ms) {
		struct timespec d = { g_opt.start_delay_ms / 1000,
				      (long)(g_opt.start_delay_ms % 1000) * 1000000L };

		while (nanosleep(&d, &d) && errno == EINTR)
			;
	}
	return 0;
}

static int client_send_hdr(struct conn *c)
{
	unsigned char hb[HDR_LEN];
	struct hdr h = {
		.magic = SC_MAGIC,
		.version = SC_VERSION,
		.mode = (uint8_t)c->mode,
		.flags = c->halfclose ? FLAG_HALFCLOSE : 0,
		.conn = c->idx,
		.round = c->round,
		.max_chunk = (uint32_t)c->max_chunk,
		.reserved = 0,
		.seed = c->seed,
		.count = c->mode == MODE_STREAM ? c->bytes : c->rounds,
	};

	encode_hdr(hb, &h);
	return sc_write_all(c, hb, sizeof(hb), "header");
}

static int client_rr(struct conn *c)
{
	size_t cap = 4 + rr_cap(c->max_chunk);
	unsigned char *req = malloc(cap), *resp = malloc(cap), *exp = malloc(cap);
	int rc = -1;

	if (!req || !resp || !exp) {
		conn_fail(c, "out of memory");
		goto out;
	}
	if (c->halfclose) {
		for (uint32_t rnd = 0; rnd < c->rounds; rnd++) {
			int r;

			c->round = rnd;
			if (rnd == c->rounds / 2)
				pause_point();
			if (client_connect(c) < 0)
				goto out;
			set_nodelay(c->fd);
			r = client_send_hdr(c);
			if (r == 0)
				r = rr_client_round(c, rnd, req, resp, exp);
			close(c->fd);
			c->fd = -1;
			if (r < 0)
				goto out;
		}
		rc = 0;
		goto out;
	}
	if (client_connect(c) < 0)
		goto out;
	set_nodelay(c->fd);
	if (client_send_hdr(c) < 0)
		goto out_close;
	for (uint32_t rnd = 0; rnd < c->rounds; rnd++) {
		if (rnd == c->rounds / 2)
			pause_point();
		if (rr_client_round(c, rnd, req, resp, exp) < 0)
			goto out_close;
	}
	rc = 0; /* close() ends it: the server expects EOF after the last round */
out_close:
	close(c->fd);
	c->fd = -1;
out:
	free(exp);
	free(resp);
	free(req);
	return rc;
}

static int client_stream(struct conn *c)
{
	int rc;

	if (client_connect(c) < 0)
		return -1;
	rc = 0;
	if (g_opt.server_first) {
		char banner[sizeof(SC_BANNER)];

		rc = sc_read_exact(c, banner, sizeof(banner), "banner", 0);
		if (rc == 0 && memcmp(banner, SC_BANNER, sizeof(banner))) {
			conn_fail(c, "banner mismatch");
			rc = -1;
		}
	}
	if (rc == 0)
		rc = client_send_hdr(c);
	if (rc == 0)
		rc = stream_duplex(c, DIR_C2S, DIR_S2C);
	close(c->fd);
	c->fd = -1;
	return rc;
}

static void *client_conn_thread(void *arg)
{
	struct conn *c = arg;
	int rc = c->mode == MODE_STREAM ? client_stream(c) : client_rr(c);

	if (rc < 0 || atomic_load(&c->failed))
		atomic_fetch_add(&g_conns_failed, 1);
	return NULL;
}

static int run_client(void)
{
	struct conn *cs;
	pthread_t *ts;
	unsigned started = 0;
	char eb[128];
	int rc = 0;

	if (resolve(g_opt.addr, g_opt.port, 0, &g_dst, &g_dst_len) < 0)
		return -1;
	cs = calloc(g_opt.conns, sizeof(*cs));
	ts = calloc(g_opt.conns, sizeof(*ts));
	if (!cs || !ts) {
		fail_global("out of memory");
		free(ts);
		free(cs);
		return -1;
	}
	for (unsigned i = 0; i < g_opt.conns; i++) {
		struct conn *c = &cs[i];
		int e;

		c->fd = -1;
		c->idx = i;
		c->mode = g_opt.mode;
		c->seed = g_opt.seed;
		c->bytes = g_opt.bytes;
		c->rounds = g_opt.rounds;
		c->max_chunk = g_opt.max_chunk;
		c->halfclose = g_opt.halfclose;
		c->corrupt = g_opt.corrupt && i == 0;
		atomic_init(&c->failed, 0);
		if ((e = thread_start(&ts[i], client_conn_thread, c, 0)) < 0) {
			fail_global("pthread_create: %s", errstr(-e, eb, sizeof(eb)));
			atomic_fetch_add(&g_conns_failed, 1);
			rc = -1;
			break;
		}
		started++;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(ts[i], NULL);
	free(ts);
	free(cs);
	return rc;
}

/* ------------------------------------------------------------------ CLI */

static void usage(FILE *f)
{
	fprintf(f,
		"usage:\n"
		"  streamcheck server --listen ADDR PORT [--mode stream|rr|sink] [--count N] "
		"[--timeout SEC]\n"
		"                     [--expect-seed N] [--defer-accept] [--server-first]\n"
		"  streamcheck client --connect ADDR PORT [--mode stream|rr] [--conns N] [--bytes "
		"N] [--rounds N] [--max-chunk N] [--seed N] [--timeout SEC] [--halfclose]\n"
		"                     [--source-port N] [--start-delay MS] [--server-first] "
		"[--pause-file FILE]\n"
		"  streamcheck --help\n"
		"\n"
		"ADDR is numeric IPv4 or IPv6; server ADDR :: is a dual-stack listener. PORT 0 "
		"picks a free port.\n"
		"The server prints 'streamcheck: listening ADDR PORT' once it listens.\n"
		"  --mode      stream (default): both directions stream --bytes of verified "
		"pseudo-random data\n"
		"              rr: --rounds length-prefixed request/response rounds per "
		"connection\n"
		"              sink (server only): read and discard everything\n"
		"  --conns     concurrent client connections (default 8, max %u)\n"
		"  --bytes     stream length per direction and connection (default 4194304; k/m/g "
		"suffix ok)\n"
		"  --rounds    rr rounds per connection (default 200)\n"
		"  --max-chunk max write/read size (default 262144; rr bodies are capped at "
		"65536)\n"
		"  --seed      seed of all pseudo-random data and sizes (default 1)\n"
		"  --halfclose rr: one connection per round, request ended by shutdown(SHUT_WR), "
		"response by close\n"
		"              stream: the client ends its stream with shutdown(SHUT_WR) while "
		"still reading\n"
		"  --count     server: exit after N connections (rr --halfclose: conns*rounds "
		"connections)\n"
		"  --expect-seed server: fail a connection whose client uses another --seed\n"
		"  --defer-accept server: TCP_DEFER_ACCEPT, so the client always writes first\n"
		"  --server-first stream: the server sends a banner before reading anything\n"
		"  --source-port client: bind this local port (needs --conns 1)\n"
		"  --start-delay client: milliseconds to wait after connect() before the\n"
		"                first byte (lets the server's side pair first)\n"
		"  --pause-file client: every connection stops halfway (stream: its writer;\n"
		"                rr: before the middle round) until FILE exists; prints\n"
		"                'streamcheck: client paused' once all of them have\n"
		"  --timeout   hard bound in seconds (default 60): prints 'timeout after SEC s "
		"(hang)', exit 2\n"
		"              (a server without --count that is idle at the timeout exits "
		"normally)\n"
		"exit status: 0 ok, 1 failure, 2 timeout/hang, 64 usage error\n",
		MAX_CONNS);
}

static int parse_u64(const char *s, uint64_t *out, int allow_suffix)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s)
		return -1;
	if (allow_suffix && *end) {
		switch (*end) {
		case 'k':
		case 'K':
			mul = 1ull << 10;
			break;
		case 'm':
		case 'M':
			mul = 1ull << 20;
			break;
		case 'g':
		case 'G':
			mul = 1ull << 30;
			break;
		default:
			return -1;
		}
		end++;
	}
	if (*end != '\0')
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out = (uint64_t)v * mul;
	return 0;
}

static int parse_num(const char *opt, const char *s, uint64_t lo, uint64_t hi, int suffix,
		     uint64_t *out)
{
	if (parse_u64(s, out, suffix) < 0 || *out < lo || *out > hi) {
		msg("invalid value '%s' for %s (range %" PRIu64 "..%" PRIu64 ")", s ? s : "", opt,
		    lo, hi);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv)
{
	int have_addr = 0, i;
	uint64_t v;

	if (argc < 2) {
		usage(stderr);
		return -1;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		exit(0);
	}
	if (!strcmp(argv[1], "server")) {
		g_opt.server = 1;
	} else if (strcmp(argv[1], "client") != 0) {
		msg("unknown role '%s' (want server or client; see --help)", argv[1]);
		return -1;
	}
	g_opt.mode = MODE_STREAM;
	g_opt.conns = 8;
	g_opt.bytes = 4u * 1024 * 1024;
	g_opt.rounds = 200;
	g_opt.max_chunk = 262144;
	g_opt.seed = 1;
	g_opt.timeout = 60;

	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, g_opt.server ? "--listen" : "--connect")) {
			if (i + 2 >= argc) {
				msg("%s needs ADDR PORT", a);
				return -1;
			}
			g_opt.addr = argv[i + 1];
			g_opt.port = argv[i + 2];
			if (parse_u64(g_opt.port, &v, 0) < 0 || v > 65535 ||
			    (!g_opt.server && v == 0)) {
				msg("invalid port '%s'", g_opt.port);
				return -1;
			}
			have_addr = 1;
			i += 2;
		} else if (!strcmp(a, "--mode")) {
			if (!val) {
				msg("--mode needs a value");
				return -1;
			}
			if (!strcmp(val, "stream"))
				g_opt.mode = MODE_STREAM;
			else if (!strcmp(val, "rr"))
				g_opt.mode = MODE_RR;
			else if (!strcmp(val, "sink") && g_opt.server)
				g_opt.mode = MODE_SINK;
			else {
				msg("invalid mode '%s' for %s", val,
				    g_opt.server ? "server" : "client");
				return -1;
			}
			i++;
		} else if (!strcmp(a, "--timeout")) {
			if (parse_num(a, val, 1, 86400, 0, &v) < 0)
				return -1;
			g_opt.timeout = (unsigned)v;
			i++;
		} else if (g_opt.server && !strcmp(a, "--count")) {
			if (parse_num(a, val, 1, UINT64_MAX, 0, &v) < 0)
				return -1;
			g_opt.count = v;
			i++;
		} else if (!g_opt.server && !strcmp(a, "--conns")) {
			if (parse_num(a, val, 1, MAX_CONNS, 0, &v) < 0)
				return -1;
			g_opt.conns = (unsigned)v;
			i++;
		} else if (!g_opt.server && !strcmp(a, "--bytes")) {
			if (parse_num(a, val, 0, UINT64_MAX, 1, &v) < 0)
				return -1;
			g_opt.bytes = v;
			i++;
		} else if (!g_opt.server && !strcmp(a, "--rounds")) {
			if (parse_num(a, val, 1, MAX_ROUNDS, 0, &v) < 0)
				return -1;
			g_opt.rounds = (unsigned)v;
			i++;
		} else if (!g_opt.server && !strcmp(a, "--max-chunk")) {
			if (parse_num(a, val, 1, MAX_CHUNK_LIMIT, 1, &v) < 0)
				return -1;
			g_opt.max_chunk = (size_t)v;
			i++;
		} else if (!g_opt.server && !strcmp(a, "--seed")) {
			if (parse_num(a, val, 0, UINT64_MAX, 0, &v) < 0)
				return -1;
			g_opt.seed = v;
			i++;
		} else if (!g_opt.server && !strcmp(a, "--source-port")) {
			if (parse_num(a, val, 1, 65535, 0, &v) < 0)
				return -1;
			g_opt.source_port = (unsigned)v;
			i++;
		} else if (!g_opt.server && !strcmp(a, "--pause-file")) {
			if (!val) {
				msg("--pause-file needs a file name");
				return -1;
			}
			g_opt.pause_file = val;
			i++;
		} else if (!g_opt.server && !strcmp(a, "--start-delay")) {
			if (parse_num(a, val, 0, 60000, 0, &v) < 0)
				return -1;
			g_opt.start_delay_ms = (unsigned)v;
			i++;
		} else if (g_opt.server && !strcmp(a, "--expect-seed")) {
			if (parse_num(a, val, 0, UINT64_MAX, 0, &v) < 0)
				return -1;
			g_opt.expect_seed = v;
			g_opt.have_expect_seed = 1;
			i++;
		} else if (g_opt.server && !strcmp(a, "--defer-accept")) {
			g_opt.defer_accept = 1;
		} else if (!strcmp(a, "--server-first")) {
			g_opt.server_first = 1;
		} else if (!g_opt.server && !strcmp(a, "--halfclose")) {
			g_opt.halfclose = 1;
		} else if (!strcmp(a, "--corrupt-test")) {
			/* hidden: corrupt one byte sent by connection 0 (proves the
			 * peer's verifier fails) */
			g_opt.corrupt = 1;
		} else {
			msg("unknown or misplaced option '%s' for %s (see --help)", a,
			    g_opt.server ? "server" : "client");
			return -1;
		}
	}
	if (!have_addr) {
		msg("%s is required", g_opt.server ? "--listen ADDR PORT" : "--connect ADDR PORT");
		return -1;
	}
	if (g_opt.source_port && g_opt.conns != 1) {
		msg("--source-port needs --conns 1");
		return -1;
	}
	if (g_opt.server_first && g_opt.mode != MODE_STREAM) {
		msg("--server-first needs --mode stream");
		return -1;
	}
	if (g_opt.halfclose && g_opt.server_first) {
		msg("--halfclose and --server-first do not combine");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	sigset_t set;
	pthread_t wd;
	char eb[128];
	int e, rc, ok;

	if (parse_args(argc, argv) < 0)
		return EXIT_USAGE;
	clock_gettime(CLOCK_MONOTONIC, &g_start);
	signal(SIGPIPE, SIG_IGN); /* EPIPE is reported as an error instead */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if ((e = pthread_sigmask(SIG_BLOCK, &set, NULL)) != 0) {
		msg("pthread_sigmask: %s", errstr(e, eb, sizeof(eb)));
		return EXIT_FAIL;
	}
	if ((e = thread_start(&wd, watchdog_thread, NULL, 1)) < 0) {
		msg("pthread_create: %s", errstr(-e, eb, sizeof(eb)));
		return EXIT_FAIL;
	}
	if (g_opt.server) {
		if (run_server() < 0 && all_clean())
			fail_global("server setup failed");
		server_finish(g_opt.count ? "count reached" : "accept failed");
	}
	rc = run_client();
	pthread_mutex_lock(&g_exit_lock);
	ok = rc == 0 && all_clean();
	print_summary(stdout, "ok ", "FAIL ", ok, g_opt.conns);
	finish(ok ? 0 : EXIT_FAIL);
}
