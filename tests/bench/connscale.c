/* connscale.c - many concurrent TCP connections doing request/response: aggregate throughput,
 * p50/p99 */
/*
 * Build (static, like unixpair):
 *   gcc -std=gnu11 -O2 -Wall -Wextra -Werror -static -o connscale tests/bench/connscale.c
 *
 * usage: connscale server ADDR PORT [--timeout SEC]
 *        connscale client ADDR PORT --conns N --size BYTES --seconds T [--timeout SEC]
 *
 * ADDR is a numeric IPv4 or IPv6 address.  Both sides are single-threaded:
 * one epoll loop (level-triggered, non-blocking sockets, TCP_NODELAY) drives
 * every connection, and one event gets at most one read and one write, so
 * no connection can monopolise the loop.
 *
 * Wire protocol, per connection: the client sends an 8-byte header, u32
 * magic 0x43534331 ("CSC1") and u32 message size (1..1048576), both
 * big-endian.  Then rounds: the client writes exactly size bytes, the server
 * reads exactly size bytes and writes exactly size bytes back, the client
 * reads them.  The payload is a constant pattern and is not checked.
 *
 * server  prints "connscale: listening ADDR PORT" once listening, serves any
 *         number of connections (a bad header drops that connection, with a
 *         note on stderr) until killed or until --timeout seconds (default
 *         600) have passed, then prints a summary on stderr and exits 0.
 * client  opens N connections (1..8192; at most 256 connects in progress at
 *         a time) and sends their headers; connect_ms is the wall time that
 *         takes.  Then the timed phase: every connection runs rounds for T
 *         seconds (1..60); after that no round is started, rounds in flight
 *         finish (at most 10 s more), and the timed phase ends with the last
 *         of them: mbps = rounds * size * 2 / that time / 1e6.  The latency
 *         of a round runs from the start of writing the request to the read
 *         of the last response byte (CLOCK_MONOTONIC); it goes into a
 *         log-linear histogram (64 sub-buckets per power of two of
 *         nanoseconds: p50/p99 within 1%).  One line on stdout:
 *   connscale: ok conns=N size=B seconds=T rounds=R bytes=X mbps=M p50_us=A p99_us=B connect_ms=C
 *         or, on any failure (connect error, reset, EOF, short header write,
 *         rounds not finishing):
 *   connscale: FAIL reason=WHY [conn=I] [errno=ENAME]
 * --timeout SEC bounds the whole client run (default T + 60) with alarm():
 * "connscale: FAIL reason=timeout", exit 2.  Both sides raise RLIMIT_NOFILE
 * (root: soft and hard) to what they need.
 * Exit status: 0 ok, 1 failure, 2 client timeout, 64 usage error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../addr.h"

#define MAGIC	       0x43534331u /* "CSC1" */
#define MAX_MSG	       (1u << 20)
#define MAX_CONNS      8192
#define CONNECT_WINDOW 256  /* connects in progress at once */
#define BACKLOG	       8192 /* the kernel caps it at net.core.somaxconn */
#define ACCEPT_BATCH   256  /* accepts per listener event */
#define SERVER_EVENTS  16384
#define SERVER_NOFILE  65536
#define DRAIN_NS       (10ull * 1000000000ull) /* rounds in flight at the end of T */

/* Latency histogram, nanoseconds: values below 2*HIST_SUB exact, above that
 * HIST_SUB buckets per power of two (bucket width <= 1/64 of its value). */
#define HIST_SUB_BITS 6
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP  40 /* 2^41 ns (~36 min) and above: the last bucket */
#define HIST_BUCKETS  ((HIST_MAX_EXP - HIST_SUB_BITS + 2) * HIST_SUB)

struct hist {
	uint64_t n;
	uint64_t b[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v)
{
	unsigned e;

	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	if (e > HIST_MAX_EXP)
		return HIST_BUCKETS - 1;
	return (e - HIST_SUB_BITS) * HIST_SUB + (unsigned)(v >> (e - HIST_SUB_BITS));
}

/* The middle of bucket i, in nanoseconds. */
static double hist_value(unsigned i)
{
	unsigned shift;
	uint64_t low;

	if (i < 2 * HIST_SUB)
		return (double)i;
	shift = i / HIST_SUB - 1;
	low = (uint64_t)(i % HIST_SUB + HIST_SUB) << shift;
	return (double)low + (double)(1ull << shift) / 2.0;
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	h->n++;
}

/* The p-quantile (0 < p <= 1) in microseconds; 0 for an empty histogram. */
static double hist_quantile_us(const struct hist *h, double p)
{
	uint64_t rank = (uint64_t)(p * (double)h->n + 0.999999), seen = 0;

	if (h->n == 0)
		return 0.0;
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			return hist_value(i) / 1000.0;
	}
	return hist_value(HIST_BUCKETS - 1) / 1000.0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A decimal number in [min, max], or -1. */
static long parse_num(const char *s, long min, long max)
{
	char *end;
	long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	return v;
}

/* Soft (and, as root, hard) RLIMIT_NOFILE up to at least want; the soft limit reached. */
static rlim_t raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur >= want)
		return rl.rlim_cur;
	if (rl.rlim_max < want) {
		struct rlimit up = { want, want };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return want;
	}
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur;
}

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Changes the epoll interest of fd to ev unless it already is ev. */
static int set_interest(int ep, int fd, uint32_t *cur, uint32_t ev, epoll_data_t data)
{
	struct epoll_event e = { .events = ev, .data = data };

	if (*cur == ev)
		return 0;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e))
		return -1;
	*cur = ev;
	return 0;
}

static int would_block(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* ---- client ---- */

enum { C_CONNECTING = 1, C_IDLE, C_WRITE, C_READ, C_DONE };

struct cconn {
	int fd;
	uint8_t state;
	uint32_t events; /* current epoll interest */
	size_t off;	 /* bytes of the request written / response read */
	uint64_t t0;	 /* start of the round in flight, ns */
};

struct client {
	int ep;
	unsigned n;
	size_t size;
	struct cconn *c;
	char *tx, *rx; /* constant request bytes, response sink */
	uint64_t end;  /* no round starts at or after this */
	uint64_t rounds, last, done;
	struct hist h;
};

static void __attribute__((noreturn)) fail(const char *reason, long conn, int err)
{
	printf("connscale: FAIL reason=%s", reason);
	if (conn >= 0)
		printf(" conn=%ld", conn);
	if (err) {
		const char *name = strerrorname_np(err);

		if (name)
			printf(" errno=%s", name);
		else
			printf(" errno=%d", err);
	}
	printf("\n");
	fflush(stdout);
	exit(1);
}

static void on_alarm(int sig)
{
	static const char msg[] = "connscale: FAIL reason=timeout\n";
	ssize_t r;

	(void)sig;
	r = write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	_exit(2);
}

static void interest(struct client *cl, unsigned i, uint32_t ev)
{
	epoll_data_t d = { .u32 = i };

	if (set_interest(cl->ep, cl->c[i].fd, &cl->c[i].events, ev, d))
		fail("epoll_ctl", i, errno);
}

/* The pending error of a socket, for the failure line. */
static int sock_error(int fd)
{
	int err = 0;
	socklen_t l = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l))
		return errno;
	return err;
}

static void io_fail(const char *what, unsigned i, int err)
{
	fail(err == ECONNRESET || err == EPIPE ? "reset" : what, i, err);
}

static void open_conn(struct client *cl, unsigned i, const struct sockaddr_storage *ss,
		      socklen_t len)
{
	struct cconn *c = &cl->c[i];
	struct epoll_event e = { .events = EPOLLOUT, .data.u32 = i };

	c->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		fail("socket", i, errno);
	set_nodelay(c->fd);
	if (connect(c->fd, (const struct sockaddr *)ss, len) && errno != EINPROGRESS)
		fail("connect", i, errno);
	if (epoll_ctl(cl->ep, EPOLL_CTL_ADD, c->fd, &e))
		fail("epoll_ctl", i, errno);
	c->state = C_CONNECTING;
	c->events = EPOLLOUT;
}

/* Connects all N with at most CONNECT_WINDOW in progress, each sends its header. */
static void connect_all(struct client *cl, const struct sockaddr_storage *ss, socklen_t len,
			struct epoll_event *evs)
{
	unsigned char hdr[8];
	unsigned started = 0, pending = 0, up = 0;
	uint32_t m = htonl(MAGIC), s = htonl((uint32_t)cl->size);

	memcpy(hdr, &m, 4);
	memcpy(hdr + 4, &s, 4);
	while (up < cl->n) {
		int nev;

		while (pending < CONNECT_WINDOW && started < cl->n) {
			open_conn(cl, started++, ss, len);
			pending++;
		}
		nev = epoll_wait(cl->ep, evs, (int)cl->n, 1000);
		if (nev < 0 && errno != EINTR)
			fail("epoll_wait", -1, errno);
		for (int k = 0; k < nev; k++) {
			unsigned i = evs[k].data.u32;
			struct cconn *c = &cl->c[i];
			int err = sock_error(c->fd);

			if (c->state != C_CONNECTING) /* an established one went away */
				io_fail("hangup", i, err);
			if (err)
				fail("connect", i, err);
			if (!(evs[k].events & EPOLLOUT))
				fail("connect", i, 0);
			if (write(c->fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
				io_fail("header", i, errno);
			interest(cl, i, 0); /* errors and hangups are still reported */
			c->state = C_IDLE;
			pending--;
			up++;
		}
	}
}

/* One write attempt of the request; on completion the response is awaited. */
static void try_write(struct client *cl, unsigned i)
{
	struct cconn *c = &cl->c[i];
	ssize_t w = write(c->fd, cl->tx + c->off, cl->size - c->off);

	if (w < 0) {
		if (!would_block(errno))
			io_fail("write", i, errno);
		interest(cl, i, EPOLLOUT);
		return;
	}
	c->off += (size_t)w;
	if (c->off < cl->size) {
		interest(cl, i, EPOLLOUT);
		return;
	}
	c->state = C_READ;
	c->off = 0;
	interest(cl, i, EPOLLIN);
}

static void start_round(struct client *cl, unsigned i, uint64_t t)
{
	struct cconn *c = &cl->c[i];

	c->t0 = t;
	c->off = 0;
	c->state = C_WRITE;
	try_write(cl, i);
}

/* One read attempt of the response; a complete one ends the round. */
static void try_read(struct client *cl, unsigned i)
{
	struct cconn *c = &cl->c[i];
	size_t want = cl->size - c->off;
	ssize_t r = read(c->fd, cl->rx, want);
	uint64_t t;

	if (r == 0)
		fail("eof", i, 0);
	if (r < 0) {
		if (!would_block(errno))
			io_fail("read", i, errno);
		return;
	}
	c->off += (size_t)r;
	if (c->off < cl->size)
		return;
	t = now_ns();
	hist_add(&cl->h, t - c->t0);
	cl->rounds++;
	cl->last = t;
	if (t < cl->end) {
		start_round(cl, i, t);
		return;
	}
	c->state = C_DONE; /* stays registered for EPOLLIN: quiet until closed */
	cl->done++;
}

static void client_event(struct client *cl, unsigned i, uint32_t ev)
{
	struct cconn *c = &cl->c[i];

	if (c->state == C_DONE) { /* the server closed after our last round: not ours to judge */
		epoll_ctl(cl->ep, EPOLL_CTL_DEL, c->fd, NULL);
		return;
	}
	if (ev & EPOLLERR)
		io_fail("error", i, sock_error(c->fd));
	if (c->state == C_WRITE)
		try_write(cl, i);
	else if (c->state == C_READ)
		try_read(cl, i);
	else
		io_fail("hangup", i, sock_error(c->fd));
}

static int client(const struct sockaddr_storage *ss, socklen_t len, unsigned n, size_t size,
		  unsigned secs, unsigned timeout)
{
	struct client *cl = calloc(1, sizeof(*cl));
	struct epoll_event *evs = calloc(n, sizeof(*evs));
	uint64_t t_conn, t_start, deadline;
	double elapsed, mbps;
	rlim_t need = (rlim_t)n + 64;

	signal(SIGALRM, on_alarm);
	alarm(timeout);
	if (!cl || !evs)
		fail("memory", -1, ENOMEM);
	if (raise_nofile(need) < need)
		fail("rlimit_nofile", -1, errno);
	cl->n = n;
	cl->size = size;
	cl->c = calloc(n, sizeof(*cl->c));
	cl->tx = malloc(size);
	cl->rx = malloc(size);
	cl->ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cl->c || !cl->tx || !cl->rx)
		fail("memory", -1, ENOMEM);
	if (cl->ep < 0)
		fail("epoll_create", -1, errno);
	memset(cl->tx, 'c', size);

	t_conn = now_ns();
	connect_all(cl, ss, len, evs);
	t_start = now_ns();

	cl->end = t_start + (uint64_t)secs * 1000000000ull;
	deadline = cl->end + DRAIN_NS;
	cl->last = t_start;
	for (unsigned i = 0; i < n; i++)
		start_round(cl, i, now_ns());
	while (cl->done < n) {
		uint64_t t = now_ns();
		int nev;

		if (t >= deadline)
			fail("drain", -1, 0);
		nev = epoll_wait(cl->ep, evs, (int)n, (int)((deadline - t) / 1000000 + 1));
		if (nev < 0 && errno != EINTR)
			fail("epoll_wait", -1, errno);
		for (int k = 0; k < nev; k++)
			client_event(cl, evs[k].data.u32, evs[k].events);
	}
	elapsed = (double)(cl->last - t_start) / 1e9;
	mbps = elapsed > 0 ? (double)cl->rounds * (double)size * 2.0 / elapsed / 1e6 : 0.0;
	for (unsigned i = 0; i < n; i++)
		close(cl->c[i].fd);
	close(cl->ep);
	alarm(0);
	printf("connscale: ok conns=%u size=%zu seconds=%u rounds=%llu bytes=%llu mbps=%.1f "
	       "p50_us=%.1f p99_us=%.1f connect_ms=%.0f\n",
	       n, size, secs, (unsigned long long)cl->rounds,
	       (unsigned long long)(cl->rounds * size * 2), mbps, hist_quantile_us(&cl->h, 0.50),
	       hist_quantile_us(&cl->h, 0.99), (double)(t_start - t_conn) / 1e6);
	fflush(stdout);
	free(cl->c);
	free(cl->tx);
	free(cl->rx);
	free(cl);
	free(evs);
	return 0;
}

/* ---- server ---- */

enum { S_FREE = 0, S_HDR, S_REQ, S_RESP };

struct sconn {
	uint8_t state;
	uint32_t events;
	uint32_t size;
	size_t off;
	unsigned char hdr[8];
};

struct server {
	int ep, lfd;
	rlim_t nfd; /* size of c[], indexed by fd */
	struct sconn *c;
	char *tx, *rx;
	unsigned long long accepted, rounds, bad, aborted, accept_errors;
};

static void drop(struct server *sv, int fd)
{
	struct sconn *c = &sv->c[fd];

	if (!(c->state == S_REQ && c->off == 0)) /* a client closes between rounds */
		sv->aborted++;
	epoll_ctl(sv->ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	memset(c, 0, sizeof(*c));
}

static void accept_some(struct server *sv)
{
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		int fd = accept4(sv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event e = { .events = EPOLLIN };

		if (fd < 0) {
			if (would_block(errno) || errno == ECONNABORTED)
				return;
			if (sv->accept_errors++ == 0)
				fprintf(stderr, "connscale: server: accept: %s\n", strerror(errno));
			return;
		}
		if ((rlim_t)fd >= sv->nfd) {
			close(fd);
			continue;
		}
		set_nodelay(fd);
		e.data.fd = fd;
		if (epoll_ctl(sv->ep, EPOLL_CTL_ADD, fd, &e)) {
			fprintf(stderr, "connscale: server: epoll_ctl: %s\n", strerror(errno));
			close(fd);
			continue;
		}
		memset(&sv->c[fd], 0, sizeof(sv->c[fd]));
		sv->c[fd].state = S_HDR;
		sv->c[fd].events = EPOLLIN;
		sv->accepted++;
	}
}

/* One write attempt of the response; 0 on, -1 the connection is dropped. */
static int server_write(struct server *sv, int fd)
{
	struct sconn *c = &sv->c[fd];
	epoll_data_t d = { .fd = fd };
	ssize_t w = write(fd, sv->tx + c->off, c->size - c->off);

	if (w < 0 && !would_block(errno))
		return -1;
	if (w > 0)
		c->off += (size_t)w;
	if (c->off < c->size)
		return set_interest(sv->ep, fd, &c->events, EPOLLOUT, d);
	c->state = S_REQ;
	c->off = 0;
	sv->rounds++;
	return set_interest(sv->ep, fd, &c->events, EPOLLIN, d);
}

/* One read attempt (header or request); a complete request is answered at once. */
static int server_read(struct server *sv, int fd)
{
	struct sconn *c = &sv->c[fd];
	ssize_t r;

	if (c->state == S_HDR)
		r = read(fd, c->hdr + c->off, sizeof(c->hdr) - c->off);
	else
		r = read(fd, sv->rx, c->size - c->off);
	if (r == 0)
		return -1;
	if (r < 0)
		return would_block(errno) ? 0 : -1;
	c->off += (size_t)r;
	if (c->state == S_HDR) {
		uint32_t m, s;

		if (c->off < sizeof(c->hdr))
			return 0;
		memcpy(&m, c->hdr, 4);
		memcpy(&s, c->hdr + 4, 4);
		m = ntohl(m);
		s = ntohl(s);
		if (m != MAGIC || s < 1 || s > MAX_MSG) {
			fprintf(stderr,
				"connscale: server: bad header (magic 0x%08x, size %u), "
				"connection dropped\n",
				m, s);
			sv->bad++;
			return -1;
		}
		c->state = S_REQ;
		c->size = s;
		c->off = 0;
		return 0;
	}
	if (c->off < c->size)
		return 0;
	c->state = S_RESP;
	c->off = 0;
	return server_write(sv, fd);
}

static void server_event(struct server *sv, int fd, uint32_t ev)
{
	struct sconn *c = &sv->c[fd];
	int r;

	if (c->state == S_FREE)
		return;
	if (ev & EPOLLERR)
		r = -1;
	else if (c->state == S_RESP)
		r = server_write(sv, fd);
	else
		r = server_read(sv, fd);
	if (r < 0)
		drop(sv, fd);
}

static int server(const struct sockaddr_storage *ss, socklen_t len, const char *addr,
		  const char *port, unsigned timeout)
{
	struct server sv = { .ep = -1, .lfd = -1 };
	struct epoll_event *evs = calloc(SERVER_EVENTS, sizeof(*evs));
	struct epoll_event e = { .events = EPOLLIN };
	uint64_t deadline = now_ns() + (uint64_t)timeout * 1000000000ull;
	int one = 1;

	sv.nfd = raise_nofile(SERVER_NOFILE);
	if (sv.nfd < 64) {
		fprintf(stderr, "connscale: server: RLIMIT_NOFILE too small\n");
		return 1;
	}
	if (sv.nfd > 4 * SERVER_NOFILE)
		sv.nfd = 4 * SERVER_NOFILE; /* fds above it are refused */
	sv.c = calloc(sv.nfd, sizeof(*sv.c));
	sv.tx = malloc(MAX_MSG);
	sv.rx = malloc(MAX_MSG);
	if (!evs || !sv.c || !sv.tx || !sv.rx) {
		fprintf(stderr, "connscale: server: out of memory\n");
		return 1;
	}
	memset(sv.tx, 's', MAX_MSG);
	sv.ep = epoll_create1(EPOLL_CLOEXEC);
	sv.lfd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sv.ep < 0 || sv.lfd < 0) {
		perror("connscale: server: socket/epoll");
		return 1;
	}
	setsockopt(sv.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(sv.lfd, (const struct sockaddr *)ss, len) || listen(sv.lfd, BACKLOG)) {
		perror("connscale: server: bind/listen");
		return 1;
	}
	e.data.fd = sv.lfd;
	if (epoll_ctl(sv.ep, EPOLL_CTL_ADD, sv.lfd, &e)) {
		perror("connscale: server: epoll_ctl");
		return 1;
	}
	printf("connscale: listening %s %s\n", addr, port);
	fflush(stdout);
	for (;;) {
		uint64_t t = now_ns();
		int nev;

		if (t >= deadline)
			break;
		nev = epoll_wait(sv.ep, evs, SERVER_EVENTS, (int)((deadline - t) / 1000000 + 1));
		if (nev < 0 && errno != EINTR) {
			perror("connscale: server: epoll_wait");
			return 1;
		}
		for (int k = 0; k < nev; k++) {
			if (evs[k].data.fd == sv.lfd)
				accept_some(&sv);
			else
				server_event(&sv, evs[k].data.fd, evs[k].events);
		}
	}
	fprintf(stderr,
		"connscale: server: timeout after %u s: accepted=%llu rounds=%llu "
		"bad_headers=%llu aborted=%llu accept_errors=%llu\n",
		timeout, sv.accepted, sv.rounds, sv.bad, sv.aborted, sv.accept_errors);
	for (rlim_t fd = 0; fd < sv.nfd; fd++)
		if (sv.c[fd].state != S_FREE)
			close((int)fd);
	close(sv.lfd);
	close(sv.ep);
	free(sv.c);
	free(sv.tx);
	free(sv.rx);
	free(evs);
	return 0;
}

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "connscale: %s\n", why);
	fprintf(stderr,
		"usage: connscale server ADDR PORT [--timeout SEC]\n"
		"       connscale client ADDR PORT --conns N --size BYTES --seconds T "
		"[--timeout SEC]\n"
		"  N 1..%d, BYTES 1..%u, T 1..60; ADDR numeric IPv4 or IPv6\n",
		MAX_CONNS, MAX_MSG);
	return 64;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	long port, conns = -1, size = -1, secs = -1, timeout = -1;
	int is_server;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 4)
		return usage(NULL);
	if (strcmp(argv[1], "server") && strcmp(argv[1], "client"))
		return usage("the mode is server or client");
	is_server = !strcmp(argv[1], "server");
	port = parse_num(argv[3], 1, 65535);
	if (port < 0)
		return usage("bad PORT");
	if (addr_of(argv[2], (unsigned)port, &ss, &len))
		return usage("ADDR is not a numeric IPv4 or IPv6 address");
	for (int i = 4; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		long *dst;
		long min = 1, max;

		if (!strcmp(argv[i], "--timeout")) {
			dst = &timeout;
			max = 86400;
		} else if (!is_server && !strcmp(argv[i], "--conns")) {
			dst = &conns;
			max = MAX_CONNS;
		} else if (!is_server && !strcmp(argv[i], "--size")) {
			dst = &size;
			max = MAX_MSG;
		} else if (!is_server && !strcmp(argv[i], "--seconds")) {
			dst = &secs;
			max = 60;
		} else {
			fprintf(stderr, "connscale: unknown option '%s'\n", argv[i]);
			return usage(NULL);
		}
		*dst = parse_num(v, min, max);
		if (*dst < 0) {
			fprintf(stderr, "connscale: %s wants a number in %ld..%ld, got '%s'\n",
				argv[i], min, max, v ? v : "");
			return usage(NULL);
		}
	}
	if (is_server)
		return server(&ss, len, argv[2], argv[3], timeout > 0 ? (unsigned)timeout : 600);
	if (conns < 0 || size < 0 || secs < 0)
		return usage("the client needs --conns, --size and --seconds");
	return client(&ss, len, (unsigned)conns, (size_t)size, (unsigned)secs,
		      timeout > 0 ? (unsigned)timeout : (unsigned)secs + 60);
}
