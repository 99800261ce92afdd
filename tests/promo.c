/* promo.c - many TCP connections kept busy in four traffic patterns, every byte verified, while
 * something outside promotes them onto the sockmap redirect at random moments (t_promote). */
/*
 * usage:
 *   promo server ADDR PORT [--timeout SEC]
 *       listens on ADDR (numeric IPv4 or IPv6, "::" is dual-stack) and PORT
 *       (0 picks one), prints "promo: listening PORT" (flushed) and serves
 *       every connection in the pattern its client names, until SIGTERM or
 *       SIGINT, or until --timeout (default 60) finds it idle; then prints
 *       "promo: server ok|FAIL conns=N ..." (FAIL if any connection failed).
 *       A connection still active at --timeout is a hang.
 *   promo client ADDR PORT [--conns N] [--seconds S] [--timeout SEC] [--seed N]
 *                [--patterns LIST]
 *       connects N (default 16) connections, all of them before any traffic,
 *       gives them the patterns of LIST (default
 *       rr-block,rr-nb,stream-nb,reader-thread) round robin, runs them for S
 *       seconds (default 5), ends each one in-band and prints one line:
 *       "promo: ok conns=N rounds=R bytes_out=B bytes_in=B spurious_eagain=0
 *       patterns=rr-block:4,..." or "promo: FAIL ... reason=...".
 *
 * Wire format (integers big-endian):
 *   header, client to server: u32 magic "PRM1" | u32 pattern (1..4) |
 *     u32 connection index | u64 seed
 *   then, in each direction, frames: u32 len | len payload bytes, with
 *     1 <= len <= 65536; a direction ends with a frame of len 0 followed by
 *     u64 the number of payload bytes it carried.
 *   The payload byte at offset OFF of a direction (payloads concatenated,
 *   length prefixes left out) is byte OFF%8 of mix64(key + (OFF/8+1)*GAMMA),
 *   key derived from (seed, connection, direction). The receiver checks every
 *   byte and the end total: loss, duplication and reordering all fail.
 *   The client ends first (after S seconds); the server checks the client's
 *   end, counts the connection, answers with its own end and closes; the
 *   client then reads EOF. A client that saw the server's end therefore knows
 *   the server judged the connection. Nothing half-closes.
 *
 * Patterns (client / server; request and response sizes derive from (seed,
 * connection, round), so both sides check them as well):
 *   rr-block       blocking socket, one thread per side. Per round a request
 *                  of 1..64 KiB, a response of 1..64 KiB; before one round in
 *                  four the client sleeps 0..2 ms (idle gaps).
 *   rr-nb          the same on non-blocking sockets, each side waiting for
 *                  readiness in an epoll of its own (EAGAIN is normal here).
 *   stream-nb      non-blocking full duplex, one epoll loop per side: bursts
 *                  of 1..256 KiB (frames of up to 64 KiB) written as fast as
 *                  the socket takes them, 0..5 ms pauses between bursts,
 *                  everything read as it comes; the server stops at the
 *                  client's end.
 *   reader-thread  blocking socket; on the client a reader thread sits in
 *                  recv() the whole time for the responses while a writer
 *                  thread sends requests of 1..16 KiB 0..3 ms apart; the
 *                  server answers each with 1..16 KiB, like rr-block.
 *
 * No socket has SO_RCVTIMEO/SO_SNDTIMEO, so EAGAIN from a blocking socket is a
 * kernel bug: counted as spurious_eagain, reported and fatal to its connection
 * (not retried). Every epoll/poll wait is bounded (10 s without progress fails
 * the connection); blocking calls and everything else are bounded by the
 * watchdog (--timeout, default 60): "promo: timeout after SEC s (hang)",
 * exit 2. After a failure a reader-thread client shuts its socket down
 * (SHUT_RDWR) only to wake its other thread.
 * rounds counts request/response exchanges and stream bursts; bytes_out and
 * bytes_in count payload bytes. Exit status: 0 ok, 1 failure, 2 hang, 64 usage.
 *
 * Hidden --corrupt-test (client): connection 0 flips the middle byte of the
 * first frame it sends after S/2 seconds; its server must report the wrong
 * byte (and exit 1 when it ends). OB_CORRUPT_AT (corrupt.h) flips the payload
 * byte at that offset of every direction this process sends.
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "wire.h"
#include "corrupt.h"

#define MAGIC	  0x50524d31u /* "PRM1" */
#define HDR_LEN	  20
#define FRAME_MAX 65536u
#define RT_MAX	  16384u
#define BURST_MAX (256u * 1024)
#define STEP_MS	  10000
#define MAX_CONNS 512u
#define MAX_LIST  64
#define NPAT	  4
#define NS	  1000000000ull

enum { P_RR_BLOCK, P_RR_NB, P_STREAM_NB, P_READER_THREAD };
static const char *const pat_name[NPAT + 1] = { "rr-block", "rr-nb", "stream-nb", "reader-thread",
						"?" };

enum { K_DATA, K_REQ, K_RESP, K_LOCAL }; /* purposes of derived keys */

struct conn {
	int fd, ep; /* ep: epoll of a non-blocking socket, else -1 */
	unsigned idx, pat;
	int server;
	int corrupt; /* --corrupt-test: flip a byte of the first frame after half time */
	uint64_t seed;
	uint64_t out_off, in_off;  /* payload bytes sent / received and checked */
	uint32_t ev;		   /* events registered in ep */
	atomic_uint_fast64_t reqs; /* reader-thread: requests the writer sent */
	atomic_int failed;
	unsigned char *out, *in, *exp; /* a frame each */
};

static int g_server, g_corrupt;
static unsigned g_conns = 16, g_seconds = 5, g_timeout = 60, g_nlist;
static unsigned g_list[MAX_LIST];
static uint64_t g_seed = 1, g_start, g_deadline, g_half;
static atomic_uint_fast64_t g_rounds, g_bytes_out, g_bytes_in, g_spurious, g_failed, g_done;
static atomic_uint g_active, g_pat_count[NPAT];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER, g_exit_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_reason[400];

static uint64_t derive(uint64_t seed, unsigned purpose, uint64_t a, uint64_t b)
{
	uint64_t k = mix64(seed + GAMMA * (purpose + 1));

	k = mix64(k ^ (a + 0x632BE59BD9B4E019ull));
	return mix64(k ^ (b + 0x8CB92BA72F3D8DD7ull));
}

/* bytes [off, off+len) of the stream `key` */
static void gen_fill(uint64_t key, uint64_t off, unsigned char *buf, size_t len)
{
	uint64_t w = mix64(key + ((off >> 3) + 1) * GAMMA);

	for (size_t i = 0; i < len; i++, off++) {
		if (i > 0 && (off & 7) == 0)
			w = mix64(key + ((off >> 3) + 1) * GAMMA);
		buf[i] = (unsigned char)(w >> (8 * (off & 7)));
	}
}

/* key of the direction c sends (out) or receives: 0 is client to server */
static uint64_t dir_key(const struct conn *c, int out)
{
	return derive(c->seed, K_DATA, c->idx, (uint64_t)(out ? c->server : !c->server));
}

static uint32_t rr_len(const struct conn *c, unsigned purpose, uint64_t rnd, uint32_t max)
{
	return (uint32_t)(1 + derive(c->seed, purpose, c->idx, rnd) % max);
}

static void fail_global(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_global(const char *fmt, ...)
{
	char text[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fprintf(stderr, "promo: %s\n", text);
	pthread_mutex_lock(&g_lock);
	if (!g_reason[0]) /* the first failure is the reason */
		snprintf(g_reason, sizeof(g_reason), "%s", text);
	pthread_mutex_unlock(&g_lock);
}

/* the first failure of a connection is printed and remembered; returns -1 */
static int fail_conn(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_conn(struct conn *c, const char *fmt, ...)
{
	char detail[256];
	struct sockaddr_storage a;
	socklen_t al = sizeof(a);
	unsigned port = 0, peer = 0;
	va_list ap;

	if (atomic_exchange(&c->failed, 1))
		return -1;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	/* the connection's ports, to find it in a trace */
	if (!getsockname(c->fd, (struct sockaddr *)&a, &al))
		port = ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
						     : ((struct sockaddr_in *)&a)->sin_port);
	al = sizeof(a);
	if (!getpeername(c->fd, (struct sockaddr *)&a, &al))
		peer = ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
						     : ((struct sockaddr_in *)&a)->sin_port);
	fail_global("%s conn %u (%s, ports %u/%u): %s", c->server ? "server" : "client", c->idx,
		    pat_name[c->pat], port, peer, detail);
	return -1;
}

/* a send()/recv() error: EAGAIN here is from a blocking socket */
static int io_err(struct conn *c, const char *op, const char *what)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		atomic_fetch_add(&g_spurious, 1);
		return fail_conn(c, "spurious EAGAIN from blocking %s() (%s)", op, what);
	}
	return fail_conn(c, "%s() (%s): %s", op, what, strerror(errno));
}

/* waits up to ms for ev on c's non-blocking socket: 0 ready, 1 timeout, -1 error (reported);
 * with a `what`, a timeout is a failure too */
static int nb_wait(struct conn *c, uint32_t ev, int ms, const char *what)
{
	struct epoll_event e = { .events = ev, .data.fd = c->fd };
	int n;

	if (c->ev != ev) {
		if (epoll_ctl(c->ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
			return fail_conn(c, "epoll_ctl: %s", strerror(errno));
		c->ev = ev;
	}
	n = epoll_wait(c->ep, &e, 1, ms);
	if (n < 0 && errno != EINTR)
		return fail_conn(c, "epoll_wait: %s", strerror(errno));
	if (n == 0 && what)
		return fail_conn(c, "no progress for %d s (%s)", ms / 1000, what);
	return n == 0;
}

static int send_all(struct conn *c, const void *buf, size_t len, const char *what)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && c->ep >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (nb_wait(c, EPOLLOUT, STEP_MS, what) < 0)
				return -1;
		} else if (n == 0) {
			return fail_conn(c, "send() (%s) returned 0", what);
		} else {
			return io_err(c, "send", what);
		}
	}
	return 0;
}

static int recv_exact(struct conn *c, void *buf, size_t len, const char *what)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(c->fd, p + got, len - got, 0);

		if (n > 0) {
			got += (size_t)n;
		} else if (n == 0) {
			return fail_conn(c, "unexpected EOF (%s, after %zu of %zu bytes)", what,
					 got, len);
		} else if (errno == EINTR) {
			continue;
		} else if (c->ep >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (nb_wait(c, EPOLLIN, STEP_MS, what) < 0)
				return -1;
		} else {
			return io_err(c, "recv", what);
		}
	}
	return 0;
}

/* the peer has ended and closes: the next thing must be EOF */
static int expect_eof(struct conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->in, 64, 0);

		if (n == 0)
			return 0;
		if (n > 0)
			return fail_conn(c, "%zd bytes after the end frame", n);
		if (errno == EINTR)
			continue;
		if (c->ep < 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return io_err(c, "recv", "EOF");
		if (nb_wait(c, EPOLLIN, STEP_MS, "EOF") < 0)
			return -1;
	}
}

/* Where in the stream, within 16 MiB of off, the n bytes got (8 to 16)
 * belong: their distance from off (negative: from earlier, a reorder or a
 * repeat; positive: from later, a loss), or INT64_MIN if nowhere. */
static int64_t displacement(uint64_t key, uint64_t off, const unsigned char *got, size_t n)
{
	unsigned char b[16];

	if (n > sizeof(b))
		n = sizeof(b);
	if (n < 8)
		return INT64_MIN;
	for (uint64_t d = 1; d <= (16u << 20); d++) {
		if (d <= off) {
			gen_fill(key, off - d, b, n);
			if (!memcmp(b, got, n))
				return -(int64_t)d;
		}
		gen_fill(key, off + d, b, n);
		if (!memcmp(b, got, n))
			return (int64_t)d;
	}
	return INT64_MIN;
}

/* checks len received payload bytes against c's incoming stream */
static int check(struct conn *c, const unsigned char *got, size_t len)
{
	gen_fill(dir_key(c, 0), c->in_off, c->exp, len);
	if (memcmp(got, c->exp, len) != 0)
		for (size_t i = 0; i < len; i++)
			if (got[i] != c->exp[i]) {
				int64_t d = displacement(dir_key(c, 0), c->in_off + i, got + i,
							 len - i);

				return fail_conn(c,
						 "wrong byte at offset %" PRIu64
						 " (expected 0x%02x got 0x%02x; in %zu bytes read "
						 "at %" PRIu64 "; they belong %s%" PRId64
						 " bytes away)",
						 c->in_off + i, c->exp[i], got[i], len, c->in_off,
						 d == INT64_MIN ? "nowhere near, not " : "", d);
			}
	c->in_off += len;
	atomic_fetch_add(&g_bytes_in, len);
	return 0;
}

/* the peer's end total must be what c received */
static int check_total(struct conn *c, const unsigned char *p)
{
	uint64_t total = get_be64(p);

	if (total != c->in_off)
		return fail_conn(c, "end frame says %" PRIu64 " bytes, received %" PRIu64, total,
				 c->in_off);
	return 0;
}

/* puts the next len payload bytes of c's outgoing stream, framed, into c->out; the frame's size */
static size_t make_frame(struct conn *c, size_t len)
{
	unsigned char *p = c->out + 4;

	put_be32(c->out, (uint32_t)len);
	gen_fill(dir_key(c, 1), c->out_off, p, len);
	corrupt_buf(p, len, c->out_off);
	if (c->corrupt && now_ns() >= g_half) {
		p[len / 2] ^= 0x5a;
		c->corrupt = 0;
	}
	c->out_off += len;
	atomic_fetch_add(&g_bytes_out, len);
	return 4 + len;
}

static size_t make_end(struct conn *c)
{
	put_be32(c->out, 0);
	put_be64(c->out + 4, c->out_off);
	return 12;
}

/* reads a frame: 0 if it carried the want bytes of round rnd (checked), 1 if it was the end
 * (total checked), -1 on failure (reported) */
static int recv_frame(struct conn *c, uint32_t want, uint64_t rnd, const char *what)
{
	uint32_t len;

	if (recv_exact(c, c->in, 4, what) < 0)
		return -1;
	if ((len = get_be32(c->in)) == 0)
		return recv_exact(c, c->in, 8, "end") < 0 || check_total(c, c->in) < 0 ? -1 : 1;
	if (len != want)
		return fail_conn(c, "%s %" PRIu64 " has length %" PRIu32 ", expected %" PRIu32,
				 what, rnd, len, want);
	return recv_exact(c, c->in, len, what) < 0 ? -1 : check(c, c->in, len);
}

/* the server has checked everything the client sent: count the connection, then end */
static int server_end(struct conn *c)
{
	atomic_fetch_add(&g_done, 1);
	return send_all(c, c->out, make_end(c), "end");
}

/* the client's end, then the server's, then EOF */
static int client_end(struct conn *c)
{
	if (send_all(c, c->out, make_end(c), "end") < 0 || recv_frame(c, 0, 0, "end") < 0)
		return -1; /* recv_frame() returns 1 here: no frame of length 0 but the end */
	return expect_eof(c);
}

/* rr-block, rr-nb (the socket decides) */
static int rr_client(struct conn *c)
{
	uint64_t rs = derive(c->seed, K_LOCAL, c->idx, 0);
	int r;

	for (uint64_t rnd = 0; now_ns() < g_deadline; rnd++) {
		size_t n = make_frame(c, rr_len(c, K_REQ, rnd, FRAME_MAX));

		if (send_all(c, c->out, n, "request") < 0)
			return -1;
		if ((r = recv_frame(c, rr_len(c, K_RESP, rnd, FRAME_MAX), rnd, "response")) != 0)
			return r < 0 ? -1 : fail_conn(c, "the server ended first");
		atomic_fetch_add(&g_rounds, 1);
		if ((splitmix_next(&rs) & 3) == 0)
			usleep((useconds_t)(splitmix_next(&rs) % 2001));
	}
	return client_end(c);
}

/* rr-block, rr-nb and reader-thread: answers requests until the client's end */
static int rr_server(struct conn *c, uint32_t max)
{
	for (uint64_t rnd = 0;; rnd++) {
		int r = recv_frame(c, rr_len(c, K_REQ, rnd, max), rnd, "request");

		if (r > 0)
			return server_end(c);
		if (r < 0 ||
		    send_all(c, c->out, make_frame(c, rr_len(c, K_RESP, rnd, max)), "response") < 0)
			return -1;
		atomic_fetch_add(&g_rounds, 1);
	}
}

/* reader-thread: the client's reader, blocked in recv() for responses until the server's end */
static void *rt_reader(void *arg)
{
	struct conn *c = arg;

	for (uint64_t rnd = 0;; rnd++) {
		int r = recv_frame(c, rr_len(c, K_RESP, rnd, RT_MAX), rnd, "response");

		if (r < 0)
			break;
		if (r > 0) { /* the server's end: after a response to every request */
			if (rnd != atomic_load(&c->reqs))
				fail_conn(c, "%" PRIu64 " responses to %" PRIu64 " requests", rnd,
					  (uint64_t)atomic_load(&c->reqs));
			else
				expect_eof(c);
			break;
		}
		atomic_fetch_add(&g_rounds, 1);
	}
	if (atomic_load(&c->failed))
		(void)shutdown(c->fd, SHUT_RDWR); /* wakes the writer */
	return NULL;
}

/* reader-thread: the client's writer (this thread) and its reader */
static int rt_client(struct conn *c)
{
	uint64_t rs = derive(c->seed, K_LOCAL, c->idx, 1);
	pthread_t t;
	int e = pthread_create(&t, NULL, rt_reader, c);

	if (e != 0)
		return fail_conn(c, "pthread_create: %s", strerror(e));
	for (uint64_t rnd = 0; now_ns() < g_deadline && !atomic_load(&c->failed); rnd++) {
		size_t n = make_frame(c, rr_len(c, K_REQ, rnd, RT_MAX));

		if (send_all(c, c->out, n, "request") < 0)
			break;
		atomic_store(&c->reqs, rnd + 1);
		usleep((useconds_t)(splitmix_next(&rs) % 3001));
	}
	if (!atomic_load(&c->failed))
		send_all(c, c->out, make_end(c), "end");
	if (atomic_load(&c->failed))
		(void)shutdown(c->fd, SHUT_RDWR); /* wakes the reader */
	pthread_join(t, NULL);
	return atomic_load(&c->failed) ? -1 : 0;
}

/* stream-nb, incoming frames parsed as bytes arrive */
struct rx {
	unsigned char hdr[12];
	unsigned hgot;
	uint32_t need; /* payload bytes left of the current frame */
	int end;       /* the peer's end frame is in */
};

static int rx_feed(struct conn *c, struct rx *x, const unsigned char *p, size_t n)
{
	while (n > 0) {
		uint32_t len;

		if (x->end)
			return fail_conn(c, "%zu bytes after the end frame", n);
		if (x->need > 0) {
			size_t k = n < x->need ? n : x->need;

			if (check(c, p, k) < 0)
				return -1;
			p += k;
			n -= k;
			x->need -= (uint32_t)k;
			continue;
		}
		x->hdr[x->hgot++] = *p++;
		n--;
		if (x->hgot < 4)
			continue;
		len = get_be32(x->hdr);
		if (len > FRAME_MAX)
			return fail_conn(c, "frame length %" PRIu32 " at offset %" PRIu64, len,
					 c->in_off);
		if (len > 0) {
			x->need = len;
			x->hgot = 0;
		} else if (x->hgot == 12) {
			if (check_total(c, x->hdr + 4) < 0)
				return -1;
			x->end = 1;
		}
	}
	return 0;
}

/* stream-nb, both sides: one epoll loop writing bursts and reading everything */
static int stream_run(struct conn *c)
{
	uint64_t rs = derive(c->seed, K_LOCAL, c->idx, 2 + (unsigned)c->server);
	uint64_t burst = 0, pause_until = 0, last = now_ns();
	size_t opos = 0, olen = 0;
	int queued_end = 0, eof = 0;
	struct rx x = { 0 };

	for (;;) {
		uint64_t t = now_ns();
		size_t moved = 0;
		int ms = STEP_MS, r;

		while (moved < (1u << 20)) { /* write until EAGAIN, a pause or 1 MiB */
			ssize_t n;

			if (opos == olen && !queued_end) {
				if (c->server ? x.end : t >= g_deadline) {
					if (c->server)
						atomic_fetch_add(&g_done, 1);
					olen = make_end(c);
					opos = 0;
					queued_end = 1;
				} else {
					size_t k;

					if (burst == 0 && t >= pause_until) {
						burst = 1 + splitmix_next(&rs) % BURST_MAX;
						atomic_fetch_add(&g_rounds, 1);
					}
					if (burst == 0)
						break;
					k = burst < FRAME_MAX ? burst : FRAME_MAX;
					olen = make_frame(c, k);
					opos = 0;
					if ((burst -= k) == 0)
						pause_until = t + splitmix_next(&rs) % 5000001;
				}
			}
			if (opos == olen)
				break;
			n = send(c->fd, c->out + opos, olen - opos, MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n == 0 ? fail_conn(c, "send() returned 0")
					      : io_err(c, "send", "stream");
			opos += (size_t)n;
			moved += (size_t)n;
		}
		for (int i = 0; i < 16 && !eof; i++) { /* read until EAGAIN or 1 MiB */
			ssize_t n = recv(c->fd, c->in, FRAME_MAX, 0);

			if (n > 0) {
				moved += (size_t)n;
				if (rx_feed(c, &x, c->in, (size_t)n) < 0)
					return -1;
				if (x.end && !queued_end && !c->server)
					return fail_conn(c, "the peer ended first");
			} else if (n == 0) {
				if (c->server || !x.end)
					return fail_conn(c, "unexpected EOF");
				eof = 1;
			} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
				break;
			} else if (errno != EINTR) {
				return io_err(c, "recv", "stream");
			}
		}
		if (queued_end && opos == olen && x.end)
			break;
		if (moved > 0) {
			last = t;
			continue;
		}
		if (t - last > (uint64_t)STEP_MS * 1000000)
			return fail_conn(c, "no progress for %d s (stream)", STEP_MS / 1000);
		if (opos == olen && !queued_end) {
			uint64_t until =
				c->server || pause_until < g_deadline ? pause_until : g_deadline;

			ms = until > t ? (int)((until - t + 999999) / 1000000) : 0;
		}
		r = nb_wait(c, EPOLLIN | (opos < olen ? EPOLLOUT : 0), ms, NULL);
		if (r < 0)
			return -1;
	}
	return c->server || eof ? 0 : expect_eof(c);
}

/* buffers, TCP_NODELAY, and non-blocking + epoll for the nb patterns */
static int conn_setup(struct conn *c)
{
	int one = 1;

	c->out = malloc(FRAME_MAX + 16);
	c->in = malloc(FRAME_MAX);
	c->exp = malloc(FRAME_MAX);
	if (!c->out || !c->in || !c->exp)
		return fail_conn(c, "out of memory");
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->pat == P_RR_NB || c->pat == P_STREAM_NB) {
		struct epoll_event e = { .events = EPOLLIN, .data.fd = c->fd };

		c->ev = EPOLLIN;
		if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0 ||
		    (c->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
		    epoll_ctl(c->ep, EPOLL_CTL_ADD, c->fd, &e) < 0)
			return fail_conn(c, "non-blocking setup: %s", strerror(errno));
	}
	return 0;
}

static void run_pattern(struct conn *c)
{
	if (c->pat == P_STREAM_NB)
		stream_run(c);
	else if (c->server)
		rr_server(c, c->pat == P_READER_THREAD ? RT_MAX : FRAME_MAX);
	else if (c->pat == P_READER_THREAD)
		rt_client(c);
	else
		rr_client(c);
}

static void conn_free(struct conn *c)
{
	if (atomic_load(&c->failed))
		atomic_fetch_add(&g_failed, 1);
	if (c->ep >= 0)
		close(c->ep);
	close(c->fd);
	free(c->out);
	free(c->in);
	free(c->exp);
}

static void *server_conn(void *arg)
{
	struct conn *c = arg;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	unsigned char h[HDR_LEN];

	if (poll(&p, 1, STEP_MS) != 1) {
		fail_conn(c, "no header within %d s", STEP_MS / 1000);
	} else if (recv_exact(c, h, HDR_LEN, "header") == 0) {
		c->idx = get_be32(h + 8);
		c->seed = get_be64(h + 12);
		if (get_be32(h) != MAGIC || get_be32(h + 4) < 1 || get_be32(h + 4) > NPAT) {
			fail_conn(c, "bad header (magic 0x%08" PRIx32 ", pattern %" PRIu32 ")",
				  get_be32(h), get_be32(h + 4));
		} else {
			c->pat = get_be32(h + 4) - 1;
			atomic_fetch_add(&g_pat_count[c->pat], 1);
			if (conn_setup(c) == 0)
				run_pattern(c);
		}
	}
	conn_free(c);
	free(c);
	atomic_fetch_sub(&g_active, 1);
	return NULL;
}

static void *client_conn(void *arg)
{
	struct conn *c = arg;
	unsigned char h[HDR_LEN];

	put_be32(h, MAGIC);
	put_be32(h + 4, c->pat + 1);
	put_be32(h + 8, c->idx);
	put_be64(h + 12, c->seed);
	if (conn_setup(c) == 0 && send_all(c, h, HDR_LEN, "header") == 0)
		run_pattern(c);
	conn_free(c);
	return NULL;
}

static void __attribute__((noreturn)) finish(void)
{
	char pats[160] = "", reason[sizeof(g_reason)];
	size_t n = 0;
	int ok;

	pthread_mutex_lock(&g_exit_lock); /* never unlocked: one thread exits */
	pthread_mutex_lock(&g_lock);
	snprintf(reason, sizeof(reason), "%s", g_reason[0] ? g_reason : "unknown");
	ok = !g_reason[0] && atomic_load(&g_failed) == 0 && atomic_load(&g_spurious) == 0;
	pthread_mutex_unlock(&g_lock);
	for (unsigned i = 0; i < NPAT; i++)
		if (atomic_load(&g_pat_count[i]) && n < sizeof(pats))
			n += (size_t)snprintf(pats + n, sizeof(pats) - n, "%s%s:%u", n ? "," : "",
					      pat_name[i], atomic_load(&g_pat_count[i]));
	printf("promo: %s%s conns=%" PRIu64 " rounds=%" PRIu64 " bytes_out=%" PRIu64
	       " bytes_in=%" PRIu64 " spurious_eagain=%" PRIu64 " patterns=%s",
	       g_server ? "server " : "", ok ? "ok" : "FAIL",
	       g_server ? (uint64_t)atomic_load(&g_done) : g_conns,
	       (uint64_t)atomic_load(&g_rounds), (uint64_t)atomic_load(&g_bytes_out),
	       (uint64_t)atomic_load(&g_bytes_in), (uint64_t)atomic_load(&g_spurious),
	       n ? pats : "none");
	if (!ok && !g_server)
		printf(" seed=%" PRIu64, g_seed);
	if (!ok)
		printf(" failed_conns=%" PRIu64 " reason=%s", (uint64_t)atomic_load(&g_failed),
		       reason);
	printf("\n");
	fflush(stdout);
	fflush(stderr);
	_exit(ok ? 0 : 1);
}

/* SIGINT/SIGTERM (blocked in every other thread) and --timeout */
static void *watchdog(void *arg)
{
	uint64_t deadline = g_start + g_timeout * NS;

	(void)arg;
	for (;;) {
		int sig = watchdog_wait(deadline);

		if (sig > 0) {
			if (!g_server)
				fail_global("interrupted by %s",
					    sig == SIGTERM ? "SIGTERM" : "SIGINT");
			finish();
		}
		if (now_ns() < deadline)
			continue;
		if (g_server && atomic_load(&g_active) == 0)
			finish(); /* an idle server: a normal end */
		pthread_mutex_lock(&g_exit_lock);
		fprintf(stderr, "promo: timeout after %u s (hang)\n", g_timeout);
		fflush(stdout);
		fflush(stderr);
		_exit(2);
	}
	return NULL;
}

static void __attribute__((noreturn)) run_server(const struct sockaddr_storage *ss, socklen_t len)
{
	struct sockaddr_storage me;
	socklen_t mlen = sizeof(me);
	int one = 1, zero = 0,
	    l = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0) ||
	    bind(l, (const struct sockaddr *)ss, len) < 0 || listen(l, 1024) < 0 ||
	    getsockname(l, (struct sockaddr *)&me, &mlen) < 0) {
		fail_global("listen: %s", strerror(errno));
		finish();
	}
	printf("promo: listening %u\n",
	       ntohs(me.ss_family == AF_INET ? ((struct sockaddr_in *)&me)->sin_port
					     : ((struct sockaddr_in6 *)&me)->sin6_port));
	fflush(stdout);
	for (;;) {
		struct pollfd p = { .fd = l, .events = POLLIN };
		struct conn *c;
		pthread_t t;
		int fd, e;

		if (poll(&p, 1, 1000) <= 0)
			continue;
		fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED) {
				fail_global("accept: %s", strerror(errno));
				usleep(10000);
			}
			continue;
		}
		if (!(c = calloc(1, sizeof(*c)))) {
			fail_global("out of memory");
			close(fd);
			continue;
		}
		c->fd = fd;
		c->ep = -1;
		c->server = 1;
		c->pat = NPAT;
		atomic_fetch_add(&g_active, 1);
		if ((e = pthread_create(&t, NULL, server_conn, c)) != 0) {
			fail_global("pthread_create: %s", strerror(e));
			atomic_fetch_sub(&g_active, 1);
			close(fd);
			free(c);
		} else {
			pthread_detach(t);
		}
	}
}

static void __attribute__((noreturn)) run_client(const struct sockaddr_storage *ss, socklen_t len)
{
	struct conn *cs = calloc(g_conns, sizeof(*cs));
	pthread_t *ts = calloc(g_conns, sizeof(*ts));
	unsigned started = 0, i;
	uint64_t t;

	if (!cs || !ts) {
		fail_global("out of memory");
		finish();
	}
	for (i = 0; i < g_conns; i++) { /* all connections first */
		struct conn *c = &cs[i];

		c->idx = i;
		c->ep = -1;
		c->pat = g_list[i % g_nlist];
		c->seed = g_seed;
		c->corrupt = g_corrupt && i == 0;
		c->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)ss, len) < 0) {
			fail_conn(c, "connect: %s", strerror(errno));
			finish();
		}
		atomic_fetch_add(&g_pat_count[c->pat], 1);
	}
	t = now_ns(); /* then the traffic */
	g_deadline = t + g_seconds * NS;
	g_half = t + g_seconds * NS / 2;
	for (i = 0; i < g_conns; i++, started++) {
		int e = pthread_create(&ts[i], NULL, client_conn, &cs[i]);

		if (e != 0) {
			fail_global("pthread_create: %s", strerror(e));
			break;
		}
	}
	for (i = 0; i < started; i++)
		pthread_join(ts[i], NULL);
	for (i = started; i < g_conns; i++)
		close(cs[i].fd);
	free(ts);
	free(cs);
	finish();
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: promo server ADDR PORT [--timeout SEC]\n"
		"       promo client ADDR PORT [--conns N (16, max %u)] [--seconds S (5)]\n"
		"             [--timeout SEC (60)] [--seed N (1)] [--patterns LIST]\n"
		"LIST: comma-separated of rr-block,rr-nb,stream-nb,reader-thread (all)\n"
		"exit status: 0 ok, 1 failure, 2 hang (timeout), 64 usage error\n",
		MAX_CONNS);
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
	fprintf(stderr, "promo: invalid value '%s' for %s (%" PRIu64 "..%" PRIu64 ")\n", s ? s : "",
		opt, lo, hi);
	return -1;
}

static int parse_patterns(char *s)
{
	char *save = NULL;

	g_nlist = 0;
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned p = 0;

		while (p < NPAT && strcmp(tok, pat_name[p]) != 0)
			p++;
		if (p == NPAT || g_nlist == MAX_LIST) {
			fprintf(stderr, "promo: unknown pattern '%s' or too many\n", tok);
			return -1;
		}
		g_list[g_nlist++] = p;
	}
	return g_nlist ? 0 : -1;
}

static int parse_args(int argc, char **argv, uint64_t *port)
{
	uint64_t v;

	if (argc < 4 || (strcmp(argv[1], "server") && strcmp(argv[1], "client")))
		return -1;
	g_server = !strcmp(argv[1], "server");
	if (parse_num("PORT", argv[3], g_server ? 0 : 1, 65535, port) < 0)
		return -1;
	for (unsigned p = 0; p < NPAT; p++)
		g_list[g_nlist++] = p;
	for (int i = 4; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--timeout") && parse_num(a, val, 1, 86400, &v) == 0)
			g_timeout = (unsigned)v;
		else if (!g_server && !strcmp(a, "--conns") &&
			 parse_num(a, val, 1, MAX_CONNS, &v) == 0)
			g_conns = (unsigned)v;
		else if (!g_server && !strcmp(a, "--seconds") &&
			 parse_num(a, val, 0, 86400, &v) == 0)
			g_seconds = (unsigned)v;
		else if (!g_server && !strcmp(a, "--seed") &&
			 parse_num(a, val, 0, UINT64_MAX, &v) == 0)
			g_seed = v;
		else if (!g_server && !strcmp(a, "--patterns") && val &&
			 parse_patterns(argv[i + 1]) == 0)
			;
		else if (!g_server && !strcmp(a, "--corrupt-test")) {
			g_corrupt = 1; /* hidden: see the header comment */
			continue;
		} else {
			fprintf(stderr, "promo: bad or misplaced option '%s'\n", a);
			return -1;
		}
		i++;
	}
	if (!g_server && g_seconds >= g_timeout) {
		fprintf(stderr, "promo: --seconds must be less than --timeout\n");
		return -1;
	}
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
		return 64;
	}
	if (addr_of(argv[2], (unsigned)port, &ss, &len) < 0) {
		fprintf(stderr, "promo: '%s' is not a numeric IPv4 or IPv6 address\n", argv[2]);
		return 64;
	}
	g_start = now_ns();
	if (watchdog_start(watchdog, "promo") < 0)
		return 1;
	if (g_server)
		run_server(&ss, len);
	run_client(&ss, len);
}
