/* semantics: socket-semantics matrix - runs the same per-check client/server probes over stock or
 * accelerated TCP and prints what each check observed, so the two runs can be compared. */
/*
 * Build:
 *   gcc -std=gnu11 -O2 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
 *       -D_FORTIFY_SOURCE=2 -fstack-protector-strong -pthread \
 *       -o semantics tests/semantics.c
 *
 * Usage:
 *   semantics server --listen ADDR PORT [--timeout SEC]
 *   semantics client --connect ADDR PORT [--only NAME[,NAME...]] [--json]
 *                    [--timeout SEC]
 *   semantics list
 *
 * Server: ADDR is a numeric IPv4/IPv6 address, PORT 0 picks a free one.  It
 * prints "semantics: listening ADDR PORT" (flushed) once it accepts.  It also
 * opens a second listener on PORT+1 with TCP_FASTOPEN (qlen 16) for the
 * tcp_fastopen check (with PORT 0 it picks a PORT whose PORT+1 is free too).
 * Connections are served concurrently, one thread each, until the server is
 * killed or its --timeout (seconds, default 0 = forever) expires.
 *
 * Client: runs every check (or the --only subset) in list order and prints
 * one "NAME<TAB>VALUE" line per check, or with --json one JSON object
 * {"NAME": "VALUE", ...}.  --timeout is the per-check limit in seconds
 * (default 3); a check that does not finish in time is recorded as "hang",
 * its sockets are shut down and the run moves on.  A watchdog over the whole
 * run prints what it has and exits 2 if the run itself gets stuck.
 * Exit status: 0 the run completed (whatever the values), 1 usage/setup
 * error (e.g. server unreachable), 2 whole-run watchdog fired.
 *
 * Wire protocol: every check uses a NEW connection to PORT.  The client first
 * sends a 40-byte header: "SEM1" | u32 token (big-endian) | check name (32
 * bytes, NUL padded).  The server reads exactly 40 bytes and then plays the
 * server-side role of that check; the check proper starts right after the
 * header, so the first byte the client receives is the first byte of the
 * check's own data (the header only flows client->server).  Fixed-size server
 * replies are 32 bytes, NUL padded.  Two internal names exist: "__ping"
 * (reachability; reply "pong") and "__verdict" (reply the server-side verdict
 * posted under the header's token, used where the server can no longer send
 * on the check's own connection, e.g. after its SHUT_WR).  The PORT+1 (TCP
 * fast open) listener takes no header: it echoes 64 bytes back.
 *
 * Every client step is bounded: sockets are driven with poll() in 100 ms
 * slices against the check's deadline, and checks that deliberately use a
 * blocking call (blocking_read, msg_peek, msg_waitall, rst_midstream, ...)
 * run in a worker thread that the main thread aborts (shutdown(SHUT_RDWR) +
 * SIGUSR1) at the deadline.  Values are the observed behaviour, never
 * asserted: stock-TCP reference values are listed in check_list[] below.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/errqueue.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define HDR_LEN	    40
#define NAME_LEN    32
#define REPLY_LEN   32
#define RES_LEN	    128
#define MAX_FDS	    8
#define SRV_IO_MS   10000 /* server: bound on one role step */
#define SRV_IDLE_MS 15000 /* server: bound on waiting for the client's EOF */
#define TFO_LEN	    64
#define KIB	    1024u
#define MIB	    (1024u * 1024u)

#define SEED_S2C 0x5332u
#define SEED_C2S 0x4332u

/* ------------------------------------------------------------------ util */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static const char *errname(int e)
{
	static __thread char buf[24];
	const char *n = strerrorname_np(e);
	if (n)
		return n;
	snprintf(buf, sizeof buf, "errno%d", e);
	return buf;
}

static uint8_t pat(uint32_t seed, uint64_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u ^ (uint32_t)(i >> 32) ^ seed * 0x9E3779B1u;
	x ^= x >> 15;
	x *= 0x85ebca6bu;
	x ^= x >> 13;
	return (uint8_t)x;
}

static void fill_pat(uint8_t *b, size_t n, uint32_t seed, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		b[i] = pat(seed, off + i);
}

/* index (absolute) of the first mismatch, or -1 */
static int64_t check_pat(const uint8_t *b, size_t n, uint32_t seed, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != pat(seed, off + i))
			return (int64_t)(off + i);
	return -1;
}

static uint32_t fnv1a(uint32_t h, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

static int read_sysctl_int(const char *path)
{
	FILE *f = fopen(path, "re");
	int v = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Deadline-bounded I/O.  Each call polls in 100 ms slices (so a missed wakeup
 * only costs a slice, and an abort request is noticed) and uses MSG_DONTWAIT,
 * so a spurious EAGAIN is simply retried.  tl_abort points at the current
 * check's abort flag on client worker threads, NULL elsewhere.
 */
static __thread volatile int *tl_abort;

/* revents (>0), 0 on deadline, -1 on error or abort */
static int wait_ev(int fd, short ev, int64_t deadline)
{
	for (;;) {
		if (tl_abort && *tl_abort) {
			errno = ECANCELED;
			return -1;
		}
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = ev };
		int r = poll(&p, 1, left > 100 ? 100 : (int)left);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r > 0)
			return p.revents;
	}
}

/* exactly n bytes: n, fewer on EOF, -1 on error (errno), -2 on deadline */
static ssize_t read_full(int fd, void *buf, size_t n, int64_t deadline)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0)
			return (ssize_t)got;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		int w = wait_ev(fd, POLLIN, deadline);
		if (w == 0)
			return -2;
		if (w < 0)
			return -1;
	}
	return (ssize_t)got;
}

static ssize_t write_full(int fd, const void *buf, size_t n, int64_t deadline)
{
	size_t put = 0;
	while (put < n) {
		ssize_t r = send(fd, (const char *)buf + put, n - put, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r > 0) {
			put += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		int w = wait_ev(fd, POLLOUT, deadline);
		if (w == 0)
			return -2;
		if (w < 0)
			return -1;
	}
	return (ssize_t)put;
}

/* n pattern bytes: 0, -1 error, -2 deadline */
static int write_pat(int fd, size_t n, uint32_t seed, int64_t deadline)
{
	uint8_t buf[16384];
	size_t off = 0;
	while (off < n) {
		size_t k = n - off < sizeof buf ? n - off : sizeof buf;
		fill_pat(buf, k, seed, off);
		ssize_t r = write_full(fd, buf, k, deadline);
		if (r < 0)
			return (int)r;
		off += k;
	}
	return 0;
}

/* read n bytes and verify the pattern: bytes read (n, or fewer on EOF), -1, -2;
 * *bad = first mismatching offset or -1 */
static ssize_t read_pat(int fd, size_t n, uint32_t seed, int64_t deadline, int64_t *bad)
{
	uint8_t buf[16384];
	size_t off = 0;
	*bad = -1;
	while (off < n) {
		size_t k = n - off < sizeof buf ? n - off : sizeof buf;
		ssize_t r = read_full(fd, buf, k, deadline);
		if (r < 0)
			return r;
		if (*bad < 0)
			*bad = check_pat(buf, (size_t)r, seed, off);
		off += (size_t)r;
		if ((size_t)r < k)
			break;
	}
	return (ssize_t)off;
}

static int send_reply(int fd, const char *s, int64_t deadline)
{
	char r[REPLY_LEN] = { 0 };
	snprintf(r, sizeof r, "%s", s);
	return write_full(fd, r, sizeof r, deadline) == (ssize_t)sizeof r ? 0 : -1;
}

/* ------------------------------------------------------------ check table */

struct check_ctx;
typedef void (*client_fn)(struct check_ctx *);
typedef void (*server_fn)(int fd, uint32_t token);

struct check {
	const char *name;
	client_fn cfn;
	server_fn sfn;
};

/* forward declarations of the per-check roles */
/* clang-format off */
#define CHECKS(X)                                                                   \
	X(blocking_read) X(nonblocking_read_empty) X(msg_peek) X(msg_waitall)          \
	X(so_rcvlowat) X(fionread) X(siocoutq) X(tcp_info_bytes) X(epoll_rdhup)        \
	X(shutdown_wr_client) X(shutdown_wr_server) X(epipe_after_shut_wr)             \
	X(close_unread_data) X(linger_zero) X(rst_midstream) X(splice_from_socket)     \
	X(splice_to_socket) X(sendfile) X(msg_zerocopy) X(tcp_fastopen) X(ktls)        \
	X(many_small_writes) X(bidirectional_1mib) X(send_timeout_stalled)             \
	X(close_midtransfer) X(slow_reader) X(send_timeout_reader_sleeps)              \
	X(small_buffers_close)
/* clang-format on */

#define DECL(n)                                                                                    \
	static void c_##n(struct check_ctx *c);                                                    \
	static void s_##n(int fd, uint32_t token);
CHECKS(DECL)
#undef DECL

/*
 * Stock-TCP reference values (Linux 6.18, veth and loopback):
 *   blocking_read ok, nonblocking_read_empty EAGAIN, msg_peek ok,
 *   msg_waitall 3000, so_rcvlowat not-readable, fionread 500,
 *   siocoutq nonzero, tcp_info_bytes counted, epoll_rdhup ok,
 *   shutdown_wr_client ok, shutdown_wr_server ok, epipe_after_shut_wr EPIPE,
 *   close_unread_data ECONNRESET, linger_zero ECONNRESET,
 *   rst_midstream bytes=10000,err=ECONNRESET, splice_from_socket 4096,
 *   splice_to_socket ok, sendfile ok, msg_zerocopy completion,
 *   tcp_fastopen ok (or "disabled" if the sysctls do not allow it),
 *   ktls ulp-ok (or the errno, e.g. ENOENT without CONFIG_TLS),
 *   many_small_writes ok, bidirectional_1mib ok, send_timeout_stalled
 *   timeout, close_midtransfer error, slow_reader ok,
 *   send_timeout_reader_sleeps timeout, small_buffers_close error.
 */
#define ENTRY(n) { #n, c_##n, s_##n },
static const struct check check_list[] = { CHECKS(ENTRY) };
#undef ENTRY
#define NCHECKS (sizeof check_list / sizeof check_list[0])

/* ================================================================ server */

static int g_tfo_ok; /* PORT+1 fast-open listener is up */
static int64_t g_srv_deadline;

#define NVERDICT 256
static struct {
	uint32_t token;
	int used;
	char v[REPLY_LEN];
} verdicts[NVERDICT];
static int vpos;
static pthread_mutex_t vmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t vcv;

static void post_verdict(uint32_t token, const char *v)
{
	pthread_mutex_lock(&vmu);
	verdicts[vpos].token = token;
	verdicts[vpos].used = 1;
	snprintf(verdicts[vpos].v, sizeof verdicts[vpos].v, "%s", v);
	vpos = (vpos + 1) % NVERDICT;
	pthread_cond_broadcast(&vcv);
	pthread_mutex_unlock(&vmu);
}

static int64_t srv_dl(void)
{
	return now_ms() + SRV_IO_MS;
}

/* discard input until EOF, error or SRV_IDLE_MS */
static void wait_eof(int fd)
{
	char buf[4096];
	int64_t dl = now_ms() + SRV_IDLE_MS;
	for (;;) {
		ssize_t r = read_full(fd, buf, sizeof buf, dl);
		if (r != (ssize_t)sizeof buf)
			return;
	}
}

static void set_linger0(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

static void s_blocking_read(int fd, uint32_t token)
{
	(void)token;
	sleep_ms(50);
	if (write_pat(fd, 4096, SEED_S2C, srv_dl()) == 0)
		wait_eof(fd);
}

static void s_nonblocking_read_empty(int fd, uint32_t token)
{
	(void)token;
	wait_eof(fd);
}

static void s_msg_peek(int fd, uint32_t token)
{
	(void)token;
	if (write_full(fd, "hello world", 11, srv_dl()) == 11)
		wait_eof(fd);
}

static void s_msg_waitall(int fd, uint32_t token)
{
	(void)token;
	uint8_t buf[3000];
	fill_pat(buf, sizeof buf, SEED_S2C, 0);
	if (write_full(fd, buf, 1000, srv_dl()) != 1000)
		return;
	sleep_ms(100);
	if (write_full(fd, buf + 1000, 2000, srv_dl()) == 2000)
		wait_eof(fd);
}

static void s_so_rcvlowat(int fd, uint32_t token)
{
	(void)token;
	uint8_t buf[1000];
	fill_pat(buf, sizeof buf, SEED_S2C, 0);
	if (write_full(fd, buf, 10, srv_dl()) != 10)
		return;
	sleep_ms(200);
	if (write_full(fd, buf + 10, 990, srv_dl()) == 990)
		wait_eof(fd);
}

static void s_fionread(int fd, uint32_t token)
{
	(void)token;
	if (write_pat(fd, 500, SEED_S2C, srv_dl()) == 0)
		wait_eof(fd);
}

static void s_siocoutq(int fd, uint32_t token)
{
	(void)token;
	sleep_ms(200);
	wait_eof(fd);
}

static void s_tcp_info_bytes(int fd, uint32_t token)
{
	(void)token;
	int64_t bad;
	if (read_pat(fd, 100 * KIB, SEED_C2S, srv_dl(), &bad) != 100 * KIB)
		return;
	if (write_pat(fd, 100 * KIB, SEED_S2C, srv_dl()) == 0)
		wait_eof(fd);
}

static void s_epoll_rdhup(int fd, uint32_t token)
{
	(void)token;
	if (write_pat(fd, 10, SEED_S2C, srv_dl()) != 0)
		return;
	shutdown(fd, SHUT_WR);
	wait_eof(fd);
}

static void s_shutdown_wr_client(int fd, uint32_t token)
{
	(void)token;
	char buf[4096], txt[32];
	size_t total = 0;
	int64_t dl = srv_dl();
	for (;;) {
		ssize_t r = read_full(fd, buf, sizeof buf, dl);
		if (r < 0) {
			snprintf(txt, sizeof txt, "%s", r == -2 ? "timeout" : errname(errno));
			write_full(fd, txt, strlen(txt), srv_dl());
			return;
		}
		total += (size_t)r;
		if (r < (ssize_t)sizeof buf)
			break;
	}
	snprintf(txt, sizeof txt, "%zu", total);
	write_full(fd, txt, strlen(txt), srv_dl());
	/* close() right away: the reply is followed by our FIN */
}

static void s_shutdown_wr_server(int fd, uint32_t token)
{
	char v[64], buf[8];
	if (write_pat(fd, 100, SEED_S2C, srv_dl()) != 0) {
		post_verdict(token, "send-failed");
		return;
	}
	if (shutdown(fd, SHUT_WR) < 0) {
		snprintf(v, sizeof v, "shutdown:%s", errname(errno));
		post_verdict(token, v);
		return;
	}
	ssize_t r = read_full(fd, buf, 3, srv_dl());
	if (r == 3 && memcmp(buf, "ack", 3) == 0)
		snprintf(v, sizeof v, "ok");
	else if (r >= 0)
		snprintf(v, sizeof v, "got:%zd", r);
	else
		snprintf(v, sizeof v, "recv:%s", r == -2 ? "timeout" : errname(errno));
	post_verdict(token, v);
	wait_eof(fd);
}

static void s_epipe_after_shut_wr(int fd, uint32_t token)
{
	(void)token;
	wait_eof(fd);
}

static void s_close_unread_data(int fd, uint32_t token)
{
	(void)token;
	char buf[1000];
	int64_t dl = srv_dl();
	/* wait until all 1000 bytes are queued, without consuming them */
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
		if (r == (ssize_t)sizeof buf || r == 0)
			break;
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (now_ms() >= dl)
			break;
		wait_ev(fd, POLLIN, now_ms() + 10);
		sleep_ms(1);
	}
	/* return: the caller closes with the data unread */
}

static void s_linger_zero(int fd, uint32_t token)
{
	(void)token;
	set_linger0(fd);
}

static void s_rst_midstream(int fd, uint32_t token)
{
	(void)token;
	if (write_pat(fd, 10000, SEED_S2C, srv_dl()) == 0)
		set_linger0(fd);
}

static void s_splice_from_socket(int fd, uint32_t token)
{
	(void)token;
	if (write_pat(fd, 4096, SEED_S2C, srv_dl()) == 0)
		wait_eof(fd);
}

static void reply_pat_result(int fd, size_t n, const char *okword)
{
	int64_t bad;
	char v[REPLY_LEN];
	ssize_t r = read_pat(fd, n, SEED_C2S, srv_dl(), &bad);
	if (r < 0)
		snprintf(v, sizeof v, "recv:%s", r == -2 ? "timeout" : errname(errno));
	else if ((size_t)r != n)
		snprintf(v, sizeof v, "short:%zd", r);
	else if (bad >= 0)
		snprintf(v, sizeof v, "bad@%" PRId64, bad);
	else
		snprintf(v, sizeof v, "%s", okword);
	if (send_reply(fd, v, srv_dl()) == 0)
		wait_eof(fd);
}

static void s_splice_to_socket(int fd, uint32_t token)
{
	(void)token;
	reply_pat_result(fd, 4096, "4096");
}

static void s_sendfile(int fd, uint32_t token)
{
	(void)token;
	reply_pat_result(fd, 64 * KIB, "ok");
}

static void s_msg_zerocopy(int fd, uint32_t token)
{
	(void)token;
	int64_t bad;
	if (read_pat(fd, 64 * KIB, SEED_C2S, srv_dl(), &bad) == 64 * KIB)
		wait_eof(fd);
}

static void s_tcp_fastopen(int fd, uint32_t token)
{
	(void)token;
	char v[REPLY_LEN];
	snprintf(v, sizeof v, "%d %d", read_sysctl_int("/proc/sys/net/ipv4/tcp_fastopen"),
		 g_tfo_ok);
	if (send_reply(fd, v, srv_dl()) == 0)
		wait_eof(fd);
}

static void s_ktls(int fd, uint32_t token)
{
	(void)token;
	wait_eof(fd);
}

static void s_many_small_writes(int fd, uint32_t token)
{
	(void)token;
	uint8_t buf[10000];
	char v[REPLY_LEN];
	ssize_t r = read_full(fd, buf, sizeof buf, srv_dl());
	if (r == (ssize_t)sizeof buf)
		snprintf(v, sizeof v, "%08x", fnv1a(2166136261u, buf, sizeof buf));
	else if (r >= 0)
		snprintf(v, sizeof v, "short:%zd", r);
	else
		snprintf(v, sizeof v, "recv:%s", r == -2 ? "timeout" : errname(errno));
	if (send_reply(fd, v, srv_dl()) == 0)
		wait_eof(fd);
}

/* both directions at once, single thread, poll-driven.  The sender of the
 * S2C direction (server) appends one verdict byte: 'K' ok, 'X' bad.
 * Returns 0 ok, or a negative code; *bad is the first bad input offset. */
struct bidi {
	size_t out_total, in_total; /* in_total includes a trailing verdict byte on the client */
	uint32_t out_seed, in_seed;
	size_t out, in;
	int64_t bad;
	char verdict;
	int err; /* errno of a failure, 0 if none */
	int eof;
};

static int bidi_run(int fd, struct bidi *b, int64_t deadline)
{
	enum { BUF = 65536 };
	uint8_t *obuf = malloc(BUF), *ibuf = malloc(BUF);
	size_t ofill = 0, ooff = 0; /* pending chunk: [ooff, ofill) */
	int rc = 0;
	if (!obuf || !ibuf) {
		b->err = ENOMEM;
		rc = -1;
	}
	size_t pat_len = b->in_total > MIB ? MIB : b->in_total;
	b->bad = -1;
	while (rc == 0 && (b->out < b->out_total || b->in < b->in_total)) {
		short ev = 0;
		if (b->in < b->in_total)
			ev |= POLLIN;
		if (b->out < b->out_total)
			ev |= POLLOUT;
		int w = wait_ev(fd, ev, deadline);
		if (w == 0) {
			rc = -2;
			break;
		}
		if (w < 0) {
			b->err = errno;
			rc = -1;
			break;
		}
		if (b->in < b->in_total) {
			ssize_t r = recv(fd, ibuf,
					 (size_t)BUF < b->in_total - b->in ? (size_t)BUF
									   : b->in_total - b->in,
					 MSG_DONTWAIT);
			if (r == 0) {
				b->eof = 1;
				rc = -3;
				break;
			}
			if (r < 0 && errno != EAGAIN && errno != EINTR) {
				b->err = errno;
				rc = -1;
				break;
			}
			if (r > 0) {
				for (size_t i = 0; i < (size_t)r; i++) {
					size_t at = b->in + i;
					if (at < pat_len) {
						if (b->bad < 0 && ibuf[i] != pat(b->in_seed, at))
							b->bad = (int64_t)at;
					} else {
						b->verdict = (char)ibuf[i];
					}
				}
				b->in += (size_t)r;
			}
		}
		if (b->out < b->out_total) {
			if (ooff == ofill) {
				size_t k = b->out_total - b->out < (size_t)BUF
						   ? b->out_total - b->out
						   : (size_t)BUF;
				fill_pat(obuf, k, b->out_seed, b->out);
				ooff = 0;
				ofill = k;
			}
			ssize_t r =
				send(fd, obuf + ooff, ofill - ooff, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (r < 0 && errno != EAGAIN && errno != EINTR) {
				b->err = errno;
				rc = -1;
				break;
			}
			if (r > 0) {
				ooff += (size_t)r;
				b->out += (size_t)r;
			}
		}
	}
	free(obuf);
	free(ibuf);
	return rc;
}

static void s_bidirectional_1mib(int fd, uint32_t token)
{
	(void)token;
	struct bidi b = {
		.out_total = MIB, .in_total = MIB, .out_seed = SEED_S2C, .in_seed = SEED_C2S
	};
	int rc = bidi_run(fd, &b, now_ms() + SRV_IO_MS);
	char v = (rc == 0 && b.bad < 0) ? 'K' : 'X';
	if (rc == 0 && write_full(fd, &v, 1, srv_dl()) == 1)
		wait_eof(fd);
}

/* Reads nothing until the client has shut down (or SRV_IDLE_MS). */
static void s_send_timeout_stalled(int fd, uint32_t token)
{
	(void)token;
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };
	int64_t dl = now_ms() + SRV_IDLE_MS;

	while (now_ms() < dl) {
		if (poll(&p, 1, 100) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			break;
	}
}

/* Reads a little of a large transfer, then closes with the rest unread. */
static void s_close_midtransfer(int fd, uint32_t token)
{
	(void)token;
	int64_t bad;

	read_pat(fd, 256 * KIB, SEED_C2S, srv_dl(), &bad);
}

/* A reader that keeps reading, slowly: 64 KiB, then 1 ms asleep. */
static void s_slow_reader(int fd, uint32_t token)
{
	(void)token;
	uint8_t *buf = malloc(64 * KIB);
	char v[REPLY_LEN] = "bad";
	size_t off = 0, n = 16 * MIB;
	int64_t bad = -1, dl = srv_dl();

	while (buf && off < n) {
		ssize_t r = read_full(fd, buf, 64 * KIB, dl);
		if (r <= 0)
			break;
		if (bad < 0)
			bad = check_pat(buf, (size_t)r, SEED_C2S, off);
		off += (size_t)r;
		sleep_ms(1);
	}
	if (off == n && bad < 0)
		snprintf(v, sizeof v, "ok");
	else if (bad >= 0)
		snprintf(v, sizeof v, "bad@%" PRId64, bad);
	else
		snprintf(v, sizeof v, "short:%zu", off);
	free(buf);
	if (send_reply(fd, v, srv_dl()) == 0)
		wait_eof(fd);
}

/* Reads 88 KiB, then sleeps 1 s, then reads to EOF. */
static void s_send_timeout_reader_sleeps(int fd, uint32_t token)
{
	(void)token;
	int64_t bad;

	read_pat(fd, 88 * KIB, SEED_C2S, srv_dl(), &bad);
	sleep_ms(1000);
	wait_eof(fd);
}

/* A receive buffer of 4 KiB (SO_RCVBUF), then 1 KiB read and a close with
 * the rest unread. */
static void s_small_buffers_close(int fd, uint32_t token)
{
	(void)token;
	int v = 4096;
	int64_t bad;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) == 0)
		read_pat(fd, KIB, SEED_C2S, srv_dl(), &bad);
}

static void s_ping(int fd)
{
	if (send_reply(fd, "pong", srv_dl()) == 0)
		wait_eof(fd);
}

static void s_verdict(int fd, uint32_t token)
{
	char v[REPLY_LEN];
	snprintf(v, sizeof v, "none");
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += 3;
	pthread_mutex_lock(&vmu);
	for (;;) {
		int found = 0;
		for (int i = 0; i < NVERDICT; i++)
			if (verdicts[i].used && verdicts[i].token == token) {
				memcpy(v, verdicts[i].v, sizeof v);
				found = 1;
			}
		if (found || pthread_cond_timedwait(&vcv, &vmu, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&vmu);
	if (send_reply(fd, v, srv_dl()) == 0)
		wait_eof(fd);
}

static void s_tfo_echo(int fd)
{
	char buf[TFO_LEN];
	if (read_full(fd, buf, sizeof buf, srv_dl()) != (ssize_t)sizeof buf)
		return;
	if (write_full(fd, buf, sizeof buf, srv_dl()) == (ssize_t)sizeof buf)
		wait_eof(fd);
}

struct conn_arg {
	int fd;
	int tfo;
};

static void *srv_conn(void *p)
{
	struct conn_arg a = *(struct conn_arg *)p;
	free(p);
	if (a.tfo) {
		s_tfo_echo(a.fd);
		close(a.fd);
		return NULL;
	}
	unsigned char hdr[HDR_LEN];
	if (read_full(a.fd, hdr, sizeof hdr, srv_dl()) == (ssize_t)sizeof hdr &&
	    memcmp(hdr, "SEM1", 4) == 0) {
		uint32_t token = (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 |
				 (uint32_t)hdr[6] << 8 | hdr[7];
		char name[NAME_LEN + 1];
		memcpy(name, hdr + 8, NAME_LEN);
		name[NAME_LEN] = 0;
		if (strcmp(name, "__ping") == 0) {
			s_ping(a.fd);
		} else if (strcmp(name, "__verdict") == 0) {
			s_verdict(a.fd, token);
		} else {
			for (size_t i = 0; i < NCHECKS; i++)
				if (strcmp(name, check_list[i].name) == 0) {
					check_list[i].sfn(a.fd, token);
					break;
				}
		}
	}
	close(a.fd);
	return NULL;
}

static int parse_addr(const char *addr, const char *port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(addr, port, &hints, &res);
	if (rc != 0 || !res) {
		fprintf(stderr, "semantics: bad address %s port %s: %s\n", addr, port,
			gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static unsigned get_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static int make_listener(struct sockaddr_storage *ss, socklen_t len, int tfo)
{
	int one = 1;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (tfo) {
		int q = 16;
		if (setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &q, sizeof q) < 0)
			fprintf(stderr, "semantics: TCP_FASTOPEN on listener: %s\n",
				strerror(errno));
	}
	if (bind(fd, (struct sockaddr *)ss, len) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int run_server(const char *addr, const char *port, double timeout)
{
	struct sockaddr_storage ss, ts;
	socklen_t len;
	int lfd = -1, tfd = -1;
	if (parse_addr(addr, port, &ss, &len) < 0)
		return 1;
	unsigned want = get_port(&ss);
	for (int attempt = 0; attempt < 64; attempt++) {
		set_port(&ss, want);
		lfd = make_listener(&ss, len, 0);
		if (lfd < 0) {
			fprintf(stderr, "semantics: listen %s %s: %s\n", addr, port,
				strerror(errno));
			return 1;
		}
		struct sockaddr_storage got;
		socklen_t gl = sizeof got;
		getsockname(lfd, (struct sockaddr *)&got, &gl);
		unsigned p = get_port(&got);
		memcpy(&ts, &ss, sizeof ts);
		tfd = -1;
		if (p < 65535) {
			set_port(&ts, p + 1);
			tfd = make_listener(&ts, len, 1);
		}
		if (tfd >= 0 || want != 0) {
			if (tfd < 0)
				fprintf(stderr, "semantics: no fast-open listener on port %u: %s\n",
					p + 1, strerror(errno));
			memcpy(&ss, &got, sizeof ss);
			break;
		}
		close(lfd);
		lfd = -1;
	}
	if (lfd < 0) {
		fprintf(stderr, "semantics: could not find a free PORT/PORT+1 pair\n");
		return 1;
	}
	g_tfo_ok = tfd >= 0;

	char host[INET6_ADDRSTRLEN];
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
	printf("semantics: listening %s %u\n", host, get_port(&ss));
	fflush(stdout);

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 1u << 20);
	g_srv_deadline = timeout > 0 ? now_ms() + (int64_t)(timeout * 1000) : INT64_MAX;
	for (;;) {
		int64_t left = g_srv_deadline - now_ms();
		if (left <= 0)
			break;
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
				       { .fd = tfd, .events = POLLIN } };
		int r = poll(p, tfd >= 0 ? 2 : 1, left > 1000 ? 1000 : (int)left);
		if (r <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (!(p[i].revents & POLLIN) || p[i].fd < 0)
				continue;
			int cfd = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (cfd < 0)
				continue;
			struct conn_arg *a = malloc(sizeof *a);
			pthread_t th;
			if (!a) {
				close(cfd);
				continue;
			}
			a->fd = cfd;
			a->tfo = i == 1;
			if (pthread_create(&th, &attr, srv_conn, a) != 0) {
				free(a);
				close(cfd);
			}
		}
	}
	return 0;
}

/* ================================================================ client */

struct check_ctx {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	volatile int aborted;
	int fds[MAX_FDS];
	int nfds;
	void *mem[4];
	int nmem;
	int64_t deadline;
	uint32_t token;
	const struct check *chk;
	char result[RES_LEN];
};

static struct sockaddr_storage g_addr, g_tfo_addr;
static socklen_t g_addrlen;
static int64_t g_timeout_ms = 3000;

__attribute__((format(printf, 2, 3))) static void res(struct check_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->result, sizeof c->result, fmt, ap);
	va_end(ap);
}

/* "hang" for a deadline, else the errno name */
static const char *ioerr(ssize_t r)
{
	return r == -2 ? "hang" : errname(errno);
}

static void reg_fd(struct check_ctx *c, int fd)
{
	pthread_mutex_lock(&c->mu);
	if (c->nfds < MAX_FDS)
		c->fds[c->nfds++] = fd;
	if (c->aborted)
		shutdown(fd, SHUT_RDWR);
	pthread_mutex_unlock(&c->mu);
}

static void *reg_mem(struct check_ctx *c, size_t n)
{
	void *p = calloc(1, n);
	if (!p)
		return NULL;
	pthread_mutex_lock(&c->mu);
	if (c->nmem < 4)
		c->mem[c->nmem++] = p;
	pthread_mutex_unlock(&c->mu);
	return p;
}

/* connected blocking socket, or -1 with the result set */
static int cl_connect(struct check_ctx *c, const struct sockaddr_storage *to)
{
	int fd = socket(to->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		res(c, "socket:%s", errname(errno));
		return -1;
	}
	reg_fd(c, fd);
	if (connect(fd, (const struct sockaddr *)to, g_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			res(c, "connect:%s", errname(errno));
			return -1;
		}
		int w = wait_ev(fd, POLLOUT, c->deadline);
		if (w <= 0) {
			res(c, "%s", w == 0 ? "hang" : errname(errno));
			return -1;
		}
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			res(c, "connect:%s", errname(err));
			return -1;
		}
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

static int cl_header(struct check_ctx *c, int fd, const char *name)
{
	unsigned char hdr[HDR_LEN] = { 'S', 'E', 'M', '1' };
	hdr[4] = (unsigned char)(c->token >> 24);
	hdr[5] = (unsigned char)(c->token >> 16);
	hdr[6] = (unsigned char)(c->token >> 8);
	hdr[7] = (unsigned char)c->token;
	memcpy(hdr + 8, name, strnlen(name, NAME_LEN));
	ssize_t r = write_full(fd, hdr, sizeof hdr, c->deadline);
	if (r != (ssize_t)sizeof hdr) {
		res(c, "header:%s", ioerr(r));
		return -1;
	}
	return 0;
}

static int cl_open_as(struct check_ctx *c, const char *name)
{
	int fd = cl_connect(c, &g_addr);
	if (fd < 0)
		return -1;
	if (cl_header(c, fd, name) < 0)
		return -1;
	return fd;
}

static int cl_open(struct check_ctx *c)
{
	return cl_open_as(c, c->chk->name);
}

/* 32-byte fixed reply into out (NUL terminated); 0 ok, else result set */
static int cl_reply(struct check_ctx *c, int fd, char *out)
{
	ssize_t r = read_full(fd, out, REPLY_LEN, c->deadline);
	if (r != REPLY_LEN) {
		if (r >= 0)
			res(c, "reply:short:%zd", r);
		else
			res(c, "reply:%s", ioerr(r));
		return -1;
	}
	out[REPLY_LEN] = 0;
	return 0;
}

static void c_blocking_read(struct check_ctx *c)
{
	char buf[8192];
	int fd = cl_open(c);
	if (fd < 0)
		return;
	ssize_t r = recv(fd, buf, sizeof buf, 0);
	if (r > 0)
		res(c, "ok");
	else if (r == 0)
		res(c, "eof");
	else
		res(c, "%s", errname(errno));
}

static void c_nonblocking_read_empty(struct check_ctx *c)
{
	char buf[64];
	int fd = cl_open(c);
	if (fd < 0)
		return;
	sleep_ms(20);
	ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
	if (r > 0)
		res(c, "data:%zd", r);
	else if (r == 0)
		res(c, "eof");
	else
		res(c, "%s", errname(errno));
}

static void c_msg_peek(struct check_ctx *c)
{
	char a[64] = { 0 }, b[64] = { 0 };
	int fd = cl_open(c);
	if (fd < 0)
		return;
	ssize_t n1 = recv(fd, a, sizeof a, MSG_PEEK);
	if (n1 < 0) {
		res(c, "peek:%s", errname(errno));
		return;
	}
	ssize_t n2 = recv(fd, b, sizeof b, 0);
	if (n2 < 0) {
		res(c, "peek=%zd,read:%s", n1, errname(errno));
		return;
	}
	if (n1 == 11 && n2 == 11 && memcmp(a, b, 11) == 0 && memcmp(a, "hello world", 11) == 0)
		res(c, "ok");
	else if (n1 == n2 && memcmp(a, b, (size_t)n1) == 0)
		res(c, "equal-but:%zd", n1);
	else
		res(c, "peek=%zd,read=%zd%s", n1, n2,
		    memcmp(a, b, (size_t)(n1 < n2 ? n1 : n2)) ? ",differ" : "");
}

static void c_msg_waitall(struct check_ctx *c)
{
	char buf[3000];
	int fd = cl_open(c);
	if (fd < 0)
		return;
	ssize_t r = recv(fd, buf, sizeof buf, MSG_WAITALL);
	if (r >= 0)
		res(c, "%zd", r);
	else
		res(c, "%s", errname(errno));
}

static void c_so_rcvlowat(struct check_ctx *c)
{
	int fd = cl_connect(c, &g_addr);
	if (fd < 0)
		return;
	int lowat = 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat) < 0) {
		res(c, "setsockopt:%s", errname(errno));
		return;
	}
	if (cl_header(c, fd, c->chk->name) < 0)
		return;
	/*
	 * Server: 10 bytes now, 990 more 200 ms after it got the header.  Poll
	 * for 100 ms.  If POLLIN shows up, peek at how much is queued: fewer
	 * than 1000 bytes means SO_RCVLOWAT was not honoured ("readable-early");
	 * 1000 means the second write already arrived (we were descheduled),
	 * which is a legitimate wakeup, reported as "not-readable".
	 */
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int64_t end = now_ms() + 100;
	int r;
	do {
		int64_t left = end - now_ms();
		r = poll(&p, 1, left > 0 ? (int)left : 0);
	} while (r < 0 && errno == EINTR && !c->aborted);
	if (r < 0) {
		res(c, "poll:%s", errname(errno));
		return;
	}
	if (r == 0) {
		res(c, "not-readable");
		return;
	}
	if (!(p.revents & POLLIN)) {
		res(c, "revents:0x%x", (unsigned)p.revents);
		return;
	}
	char buf[2000];
	ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
	if (n >= 0 && n < 1000)
		res(c, "readable-early");
	else if (n >= 1000)
		res(c, "not-readable");
	else
		res(c, "readable-early(peek:%s)", errname(errno));
}

static void c_fionread(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	/* wait for the 500 bytes to start arriving (bounded), then 100 ms */
	if (wait_ev(fd, POLLIN, now_ms() + 1000) < 0)
		return;
	sleep_ms(100);
	int n = -1;
	if (ioctl(fd, FIONREAD, &n) < 0)
		res(c, "%s", errname(errno));
	else
		res(c, "%d", n);
}

/*
 * The server does not read for 200 ms.  A single 64 KiB send can be fully
 * transmitted and acked before send() returns on loopback (MSS 64 KiB), so
 * to make stock TCP deterministic the client keeps sending (non-blocking,
 * 64 KiB at a time, at most 8 MiB) until the send buffer is full (EAGAIN),
 * i.e. until the peer's window is closed, and reads SIOCOUTQ right then:
 * stock TCP necessarily has unacked/unsent bytes queued at that point.
 */
static void c_siocoutq(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	uint8_t *buf = reg_mem(c, 64 * KIB);
	if (!buf) {
		res(c, "nomem");
		return;
	}
	fill_pat(buf, 64 * KIB, SEED_C2S, 0);
	size_t total = 0;
	int err = 0;
	while (total < 8 * MIB) {
		ssize_t r = send(fd, buf, 64 * KIB, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r > 0) {
			total += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR && !c->aborted)
			continue;
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			err = errno;
		break;
	}
	int q = -1;
	int qrc = ioctl(fd, SIOCOUTQ, &q);
	if (err)
		res(c, "send:%s", errname(err));
	else if (qrc < 0)
		res(c, "%s", errname(errno));
	else
		res(c, "%s", q == 0 ? "zero" : "nonzero");
}

static void c_tcp_info_bytes(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	int rc = write_pat(fd, 100 * KIB, SEED_C2S, c->deadline);
	if (rc < 0) {
		res(c, "send:%s", ioerr(rc));
		return;
	}
	int64_t bad;
	ssize_t r = read_pat(fd, 100 * KIB, SEED_S2C, c->deadline, &bad);
	if (r != 100 * KIB) {
		if (r >= 0)
			res(c, "recv:short:%zd", r);
		else
			res(c, "recv:%s", ioerr(r));
		return;
	}
	struct tcp_info ti;
	socklen_t tl = sizeof ti;
	memset(&ti, 0, sizeof ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0) {
		res(c, "%s", errname(errno));
		return;
	}
	if (tl < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received) {
		res(c, "short-tcp_info:%u", (unsigned)tl);
		return;
	}
	unsigned long long acked = ti.tcpi_bytes_acked, rcvd = ti.tcpi_bytes_received;
	if (acked >= 100 * KIB && rcvd >= 100 * KIB)
		res(c, "counted");
	else
		res(c, "flat:%llu/%llu", acked, rcvd);
}

static void c_epoll_rdhup(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		res(c, "epoll:%s", errname(errno));
		return;
	}
	reg_fd(c, ep);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		res(c, "epoll_ctl:%s", errname(errno));
		return;
	}
	int64_t end = now_ms() + 1000;
	int saw_in = 0;
	for (;;) {
		int64_t left = end - now_ms();
		if (left <= 0)
			break;
		struct epoll_event out;
		int n = epoll_wait(ep, &out, 1, left > 100 ? 100 : (int)left);
		if (n < 0 && errno != EINTR) {
			res(c, "epoll_wait:%s", errname(errno));
			return;
		}
		if (n > 0) {
			if (out.events & EPOLLRDHUP) {
				res(c, "ok");
				return;
			}
			if (out.events & EPOLLIN)
				saw_in = 1;
			sleep_ms(5); /* level-triggered: do not spin on EPOLLIN */
		}
		if (c->aborted)
			return;
	}
	res(c, "%s", saw_in ? "no-rdhup(in-only)" : "no-rdhup");
}

static void c_shutdown_wr_client(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	int rc = write_pat(fd, 100, SEED_C2S, c->deadline);
	if (rc < 0) {
		res(c, "send:%s", ioerr(rc));
		return;
	}
	if (shutdown(fd, SHUT_WR) < 0) {
		res(c, "shutdown:%s", errname(errno));
		return;
	}
	char buf[64] = { 0 };
	ssize_t r = read_full(fd, buf, sizeof buf - 1, c->deadline);
	if (r < 0) {
		res(c, "recv:%s", ioerr(r));
		return;
	}
	buf[r] = 0;
	if (strcmp(buf, "100") == 0)
		res(c, "ok");
	else
		res(c, "reply:%s", buf);
}

static void c_shutdown_wr_server(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	uint8_t buf[512];
	ssize_t r = read_full(fd, buf, sizeof buf, c->deadline);
	if (r < 0) {
		res(c, "recv:%s", ioerr(r));
		return;
	}
	if (r != 100 || check_pat(buf, 100, SEED_S2C, 0) >= 0) {
		res(c, "read=%zd%s", r, r == 100 ? ",corrupt" : "");
		return;
	}
	/* r == 100 < sizeof buf: read_full stopped at EOF */
	if (write_full(fd, "ack", 3, c->deadline) != 3) {
		res(c, "send-ack:%s", errname(errno));
		return;
	}
	int vfd = cl_open_as(c, "__verdict");
	if (vfd < 0)
		return;
	char v[REPLY_LEN + 1];
	if (cl_reply(c, vfd, v) < 0)
		return;
	if (strcmp(v, "ok") == 0)
		res(c, "ok");
	else
		res(c, "server:%s", v);
}

static void c_epipe_after_shut_wr(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	if (shutdown(fd, SHUT_WR) < 0) {
		res(c, "shutdown:%s", errname(errno));
		return;
	}
	ssize_t r = send(fd, "x", 1, MSG_NOSIGNAL);
	if (r < 0)
		res(c, "%s", errname(errno));
	else
		res(c, "sent:%zd", r);
}

/* recv once without blocking: "eof", "data:N", "EAGAIN" or an errno name */
static const char *recv_word(int fd, char *word, size_t n)
{
	char buf[4096];
	ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
	if (r > 0)
		snprintf(word, n, "data:%zd", r);
	else if (r == 0)
		snprintf(word, n, "eof");
	else
		snprintf(word, n, "%s", errname(errno));
	return word;
}

static int is_errword(const char *w)
{
	return w[0] == 'E' && strcmp(w, "EAGAIN") != 0;
}

static void c_close_unread_data(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	int rc = write_pat(fd, 1000, SEED_C2S, c->deadline);
	if (rc < 0) {
		res(c, "send:%s", ioerr(rc));
		return;
	}
	/* the server closes as soon as the 1000 bytes are queued on its side */
	char w1[32], w2[32];
	int w = wait_ev(fd, POLLIN, now_ms() + 1000);
	if (w < 0)
		return;
	if (w == 0)
		snprintf(w1, sizeof w1, "none");
	else
		recv_word(fd, w1, sizeof w1);
	if (is_errword(w1)) {
		res(c, "%s", w1);
		return;
	}
	/* no reset seen: provoke one with a send, then look again */
	ssize_t s = send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	const char *sw = s == 1 ? "ok" : errname(errno);
	char sws[32];
	snprintf(sws, sizeof sws, "%s", sw);
	w = wait_ev(fd, 0, now_ms() + 500); /* POLLERR/POLLHUP only */
	if (w < 0)
		return;
	recv_word(fd, w2, sizeof w2);
	res(c, "recv=%s,send=%s,recv=%s", w1, sws, w2);
}

static void c_linger_zero(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	char w1[32];
	int w = wait_ev(fd, POLLIN, now_ms() + 1000);
	if (w < 0)
		return;
	if (w == 0)
		res(c, "none");
	else
		res(c, "%s", recv_word(fd, w1, sizeof w1));
}

static void c_rst_midstream(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	char buf[4096];
	size_t total = 0;
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof buf, 0);
		if (r > 0) {
			total += (size_t)r;
			continue;
		}
		res(c, "bytes=%zu,err=%s", total, r == 0 ? "eof" : errname(errno));
		return;
	}
}

static void c_splice_from_socket(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		res(c, "pipe:%s", errname(errno));
		return;
	}
	reg_fd(c, p[0]);
	reg_fd(c, p[1]);
	/* SPLICE_F_NONBLOCK only covers the pipe; the socket side blocks
	 * unless the socket itself is O_NONBLOCK */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	sleep_ms(100);
	int64_t end = now_ms() + 500;
	size_t total = 0;
	int err = 0;
	for (;;) {
		ssize_t r = splice(fd, NULL, p[1], NULL, 65536, SPLICE_F_NONBLOCK);
		if (r > 0) {
			total += (size_t)r;
			if (total >= 4096)
				break;
			continue;
		}
		if (r == 0)
			break;
		if (errno != EAGAIN && errno != EINTR) {
			err = errno;
			break;
		}
		if (now_ms() >= end || c->aborted)
			break;
		sleep_ms(10);
	}
	if (total == 0 && err)
		res(c, "%s", errname(err));
	else
		res(c, "%zu", total);
}

static void c_splice_to_socket(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		res(c, "pipe:%s", errname(errno));
		return;
	}
	reg_fd(c, p[0]);
	reg_fd(c, p[1]);
	uint8_t buf[4096];
	fill_pat(buf, sizeof buf, SEED_C2S, 0);
	if (write(p[1], buf, sizeof buf) != (ssize_t)sizeof buf) {
		res(c, "pipe-write:%s", errname(errno));
		return;
	}
	size_t moved = 0;
	while (moved < sizeof buf) {
		ssize_t r = splice(p[0], NULL, fd, NULL, sizeof buf - moved, 0);
		if (r < 0 && errno == EINTR && !c->aborted)
			continue;
		if (r <= 0) {
			res(c, "splice:%s", r < 0 ? errname(errno) : "0");
			return;
		}
		moved += (size_t)r;
	}
	char v[REPLY_LEN + 1];
	if (cl_reply(c, fd, v) < 0)
		return;
	if (strcmp(v, "4096") == 0)
		res(c, "ok");
	else
		res(c, "reply:%s", v);
}

static void c_sendfile(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	int tf = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (tf < 0) {
		char path[] = "/tmp/semantics.XXXXXX";
		tf = mkostemp(path, O_CLOEXEC);
		if (tf >= 0)
			unlink(path);
	}
	if (tf < 0) {
		res(c, "tmpfile:%s", errname(errno));
		return;
	}
	reg_fd(c, tf);
	uint8_t *buf = reg_mem(c, 64 * KIB);
	if (!buf) {
		res(c, "nomem");
		return;
	}
	fill_pat(buf, 64 * KIB, SEED_C2S, 0);
	if (pwrite(tf, buf, 64 * KIB, 0) != 64 * KIB) {
		res(c, "tmpfile-write:%s", errname(errno));
		return;
	}
	off_t off = 0;
	while (off < (off_t)(64 * KIB)) {
		ssize_t r = sendfile(fd, tf, &off, 64 * KIB - (size_t)off);
		if (r < 0 && errno == EINTR && !c->aborted)
			continue;
		if (r <= 0) {
			res(c, "sendfile:%s", r < 0 ? errname(errno) : "0");
			return;
		}
	}
	char v[REPLY_LEN + 1];
	if (cl_reply(c, fd, v) < 0)
		return;
	res(c, "%s", v);
}

static void c_msg_zerocopy(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one) < 0) {
		res(c, "so_zerocopy:%s", errname(errno));
		return;
	}
	uint8_t *buf = reg_mem(c, 64 * KIB); /* must outlive the send */
	if (!buf) {
		res(c, "nomem");
		return;
	}
	fill_pat(buf, 64 * KIB, SEED_C2S, 0);
	size_t sent = 0;
	while (sent < 64 * KIB) {
		ssize_t r = send(fd, buf + sent, 64 * KIB - sent, MSG_ZEROCOPY | MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR && !c->aborted)
			continue;
		if (r <= 0) {
			res(c, "send:%s", r < 0 ? errname(errno) : "0");
			return;
		}
		sent += (size_t)r;
	}
	int64_t end = now_ms() + 1000;
	for (;;) {
		int w = wait_ev(fd, 0, end); /* POLLERR: error queue not empty */
		if (w < 0)
			return;
		if (w == 0)
			break;
		char control[256];
		struct msghdr mh = { .msg_control = control, .msg_controllen = sizeof control };
		ssize_t r = recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
		if (r < 0) {
			if (w & POLLHUP) {
				res(c, "none(hup)");
				return;
			}
			sleep_ms(10);
			continue;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if ((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
			    (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR)) {
				struct sock_extended_err ee;
				memcpy(&ee, CMSG_DATA(cm), sizeof ee);
				if (ee.ee_errno == 0 && ee.ee_origin == SO_EE_ORIGIN_ZEROCOPY) {
					res(c, "completion");
					return;
				}
			}
		}
	}
	res(c, "none");
}

static void c_tcp_fastopen(struct check_ctx *c)
{
	int cs = read_sysctl_int("/proc/sys/net/ipv4/tcp_fastopen");
	int fd = cl_open(c);
	if (fd < 0)
		return;
	char v[REPLY_LEN + 1];
	if (cl_reply(c, fd, v) < 0)
		return;
	int ss = -1, lok = 0;
	if (sscanf(v, "%d %d", &ss, &lok) != 2) {
		res(c, "bad-reply:%s", v);
		return;
	}
	if (!lok) {
		res(c, "no-tfo-listener");
		return;
	}
	/* client bit 0x1; server bit 0x2 (or 0x400: server without sockopt) */
	if (cs < 0 || ss < 0 || !(cs & 0x1) || !(ss & 0x402)) {
		res(c, "disabled");
		return;
	}
	char what[2][48];
	for (int i = 0; i < 2; i++) {
		int s = socket(g_tfo_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) {
			res(c, "socket:%s", errname(errno));
			return;
		}
		reg_fd(c, s);
		uint8_t out[TFO_LEN], in[TFO_LEN];
		fill_pat(out, sizeof out, SEED_C2S + 1 + (uint32_t)i, 0);
		ssize_t r = sendto(s, out, sizeof out, MSG_FASTOPEN | MSG_NOSIGNAL,
				   (const struct sockaddr *)&g_tfo_addr, g_addrlen);
		if (r < 0) {
			snprintf(what[i], sizeof what[i], "sendto:%s", errname(errno));
			continue;
		}
		if (r < (ssize_t)sizeof out) {
			ssize_t w = write_full(s, out + r, sizeof out - (size_t)r, c->deadline);
			if (w < 0) {
				snprintf(what[i], sizeof what[i], "send:%s", ioerr(w));
				continue;
			}
		}
		ssize_t g = read_full(s, in, sizeof in, c->deadline);
		if (g == (ssize_t)sizeof in && memcmp(in, out, sizeof in) == 0)
			snprintf(what[i], sizeof what[i], "ok");
		else if (g == (ssize_t)sizeof in)
			snprintf(what[i], sizeof what[i], "corrupt");
		else if (g >= 0)
			snprintf(what[i], sizeof what[i], "short:%zd", g);
		else
			snprintf(what[i], sizeof what[i], "recv:%s", ioerr(g));
	}
	if (strcmp(what[0], "ok") == 0 && strcmp(what[1], "ok") == 0)
		res(c, "ok");
	else
		res(c, "conn1=%s,conn2=%s", what[0], what[1]);
}

static void c_ktls(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", 3) < 0)
		res(c, "%s", errname(errno));
	else
		res(c, "ulp-ok");
}

static void c_many_small_writes(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	uint8_t buf[10000];
	fill_pat(buf, sizeof buf, SEED_C2S, 0);
	for (size_t i = 0; i < sizeof buf; i++) {
		ssize_t r = send(fd, buf + i, 1, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR && !c->aborted) {
			i--;
			continue;
		}
		if (r != 1) {
			res(c, "send@%zu:%s", i, r < 0 ? errname(errno) : "0");
			return;
		}
	}
	char v[REPLY_LEN + 1], want[16];
	if (cl_reply(c, fd, v) < 0)
		return;
	snprintf(want, sizeof want, "%08x", fnv1a(2166136261u, buf, sizeof buf));
	if (strcmp(v, want) == 0)
		res(c, "ok");
	else
		res(c, "bad:%s", v);
}

static void c_bidirectional_1mib(struct check_ctx *c)
{
	int fd = cl_open(c);
	if (fd < 0)
		return;
	struct bidi b = {
		.out_total = MIB, .in_total = MIB + 1, .out_seed = SEED_C2S, .in_seed = SEED_S2C
	};
	int rc = bidi_run(fd, &b, c->deadline);
	if (rc == -2)
		res(c, "hang");
	else if (rc == -3)
		res(c, "eof@%zu,sent=%zu", b.in, b.out);
	else if (rc < 0)
		res(c, "%s@%zu/%zu", errname(b.err), b.out, b.in);
	else if (b.bad >= 0)
		res(c, "client-bad@%" PRId64, b.bad);
	else if (b.verdict != 'K')
		res(c, "server-bad");
	else
		res(c, "ok");
}

/* The check's connection with SO_SNDTIMEO of ms, and a 64 KiB buffer;
 * -1 with the result set. */
static int cl_open_sndtimeo(struct check_ctx *c, int ms, uint8_t **buf)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	int fd = cl_open(c);

	*buf = reg_mem(c, 64 * KIB);
	if (fd < 0)
		return -1;
	if (!*buf || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
		res(c, "setup:%s", errname(errno));
		return -1;
	}
	return fd;
}

/* Sends of chunk bytes (at most 64 KiB) on fd until one fails: its
 * errno, or 0 after cap bytes sent or the check's abort (c->aborted).
 * pattern: fill each chunk with the client's stream pattern. */
static int send_until_error(struct check_ctx *c, int fd, uint8_t *buf, int pattern, size_t cap,
			    size_t chunk)
{
	size_t total = 0;

	while (total < cap && !c->aborted) {
		if (pattern)
			fill_pat(buf, chunk, SEED_C2S, total);
		ssize_t r = send(fd, buf, chunk, MSG_NOSIGNAL);
		if (r < 0)
			return errno;
		total += (size_t)r;
	}
	return 0;
}

/* Blocking sends with SO_SNDTIMEO towards a peer that reads nothing:
 * "timeout" once one times out (EAGAIN), as TCP's window makes it. */
static void c_send_timeout_stalled(struct check_ctx *c)
{
	uint8_t *buf;
	int fd = cl_open_sndtimeo(c, 500, &buf), err;

	if (fd < 0)
		return;
	err = send_until_error(c, fd, buf, 0, 1024 * (size_t)MIB, 64 * KIB);
	if (!err)
		res(c, c->aborted ? "hang" : "no-timeout");
	else
		res(c, "%s", err == EAGAIN || err == EWOULDBLOCK ? "timeout" : errname(err));
}

/* Sends until the peer, which read 256 KiB and closed, makes a send fail:
 * "error" for EPIPE or ECONNRESET (TCP gives either, by timing). */
static void c_close_midtransfer(struct check_ctx *c)
{
	uint8_t *buf;
	int fd = cl_open_sndtimeo(c, 2000, &buf), err;

	if (fd < 0)
		return;
	err = send_until_error(c, fd, buf, 1, 1024 * (size_t)MIB, 64 * KIB);
	if (!err)
		res(c, c->aborted ? "hang" : "accepted-all");
	else if (err == EPIPE || err == ECONNRESET)
		res(c, "error");
	else if (err == EAGAIN || err == EWOULDBLOCK)
		res(c, "timeout");
	else
		res(c, "%s", errname(err));
}

/* 10 MiB, with a 10 ms send timeout, to a peer that reads 88 KiB and
 * sleeps 1 s: "timeout" once a send times out, as TCP's window makes it
 * (issue 19: the redirect used to take all of it). */
static void c_send_timeout_reader_sleeps(struct check_ctx *c)
{
	uint8_t *buf;
	int fd = cl_open_sndtimeo(c, 10, &buf), err;

	if (fd < 0)
		return;
	err = send_until_error(c, fd, buf, 1, 10 * MIB, 64 * KIB);
	if (!err)
		res(c, c->aborted ? "hang" : "no-timeout");
	else
		res(c, "%s", err == EAGAIN || err == EWOULDBLOCK ? "timeout" : errname(err));
}

/* A send buffer of 4 KiB (SO_SNDBUF) and 256 KiB towards a peer with a
 * 4 KiB receive buffer that reads 1 KiB and closes: "error" (EPIPE or
 * ECONNRESET) when a send fails, "accepted-all" when all 256 KiB went. */
static void c_small_buffers_close(struct check_ctx *c)
{
	uint8_t *buf;
	int fd = cl_open_sndtimeo(c, 2000, &buf), v = 4096, err;

	if (fd < 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v) < 0) {
		res(c, "setup:%s", errname(errno));
		return;
	}
	err = send_until_error(c, fd, buf, 1, 256 * KIB, 16 * KIB);
	if (!err)
		res(c, c->aborted ? "hang" : "accepted-all");
	else
		res(c, "%s", err == EPIPE || err == ECONNRESET ? "error" : errname(err));
}

/* 16 MiB to a reader that keeps reading, slowly: every byte arrives. */
static void c_slow_reader(struct check_ctx *c)
{
	char reply[REPLY_LEN + 1];
	int fd = cl_open(c);

	if (fd < 0)
		return;
	if (write_pat(fd, 16 * MIB, SEED_C2S, c->deadline) < 0) {
		res(c, "send:%s", errname(errno));
		return;
	}
	if (cl_reply(c, fd, reply) == 0)
		res(c, "%s", reply);
}

/* ----------------------------------------------------------- client main */

static void *worker(void *p)
{
	struct check_ctx *c = p;
	tl_abort = &c->aborted;
	c->chk->cfn(c);
	pthread_mutex_lock(&c->mu);
	c->done = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static void on_sigusr1(int sig)
{
	(void)sig;
}

static struct timespec mono_abs(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	return ts;
}

static void cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

/* run one check under its deadline; result copied into out */
static void run_check(const struct check *chk, uint32_t token, char *out, size_t outlen)
{
	struct check_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(out, outlen, "nomem");
		return;
	}
	pthread_mutex_init(&c->mu, NULL);
	cond_init_mono(&c->cv);
	c->chk = chk;
	c->token = token;
	c->deadline = now_ms() + g_timeout_ms;
	snprintf(c->result, sizeof c->result, "no-result");
	pthread_t th;
	if (pthread_create(&th, NULL, worker, c) != 0) {
		snprintf(out, outlen, "thread-failed");
		free(c);
		return;
	}
	pthread_mutex_lock(&c->mu);
	/* the worker's own poll loops give up at c->deadline; allow it a
	 * moment to report before declaring it stuck in a blocking call */
	struct timespec ts = mono_abs(c->deadline + 300);
	while (!c->done)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
			break;
	int hung = !c->done;
	if (hung) {
		c->aborted = 1;
		for (int i = 0; i < c->nfds; i++)
			shutdown(c->fds[i], SHUT_RDWR);
		int64_t grace = now_ms() + 2000;
		while (!c->done && now_ms() < grace) {
			pthread_kill(th, SIGUSR1);
			struct timespec t2 = mono_abs(now_ms() + 100);
			pthread_cond_timedwait(&c->cv, &c->mu, &t2);
		}
	}
	int finished = c->done;
	pthread_mutex_unlock(&c->mu);
	/* a step that ran into the deadline reports "...hang": same thing */
	snprintf(out, outlen, "%s", hung || strstr(c->result, "hang") ? "hang" : c->result);
	if (!finished) {
		/* stuck beyond rescue: leave the thread, its fds and memory */
		pthread_detach(th);
		return;
	}
	pthread_join(th, NULL);
	for (int i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	for (int i = 0; i < c->nmem; i++)
		free(c->mem[i]);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

static char g_results[NCHECKS][RES_LEN];
static int g_selected[NCHECKS];
static int g_ran[NCHECKS];
static int g_json;
static pthread_mutex_t g_out_mu = PTHREAD_MUTEX_INITIALIZER;

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void print_results(void)
{
	int first = 1;
	if (g_json)
		putchar('{');
	for (size_t i = 0; i < NCHECKS; i++) {
		if (!g_ran[i])
			continue;
		if (g_json) {
			printf(first ? "" : ", ");
			json_str(check_list[i].name);
			printf(": ");
			json_str(g_results[i]);
		} else {
			printf("%s\t%s\n", check_list[i].name, g_results[i]);
		}
		first = 0;
	}
	if (g_json)
		printf("}\n");
	fflush(stdout);
}

static int64_t g_run_budget_ms;

static void *run_watchdog(void *p)
{
	(void)p;
	sleep_ms(g_run_budget_ms);
	pthread_mutex_lock(&g_out_mu);
	fprintf(stderr, "semantics: whole-run watchdog fired after %" PRId64 " ms\n",
		g_run_budget_ms);
	print_results();
	_exit(2);
}

static int run_client(const char *addr, const char *port, const char *only, int json,
		      double timeout)
{
	g_json = json;
	if (timeout > 0)
		g_timeout_ms = (int64_t)(timeout * 1000);
	if (parse_addr(addr, port, &g_addr, &g_addrlen) < 0)
		return 1;
	unsigned p = get_port(&g_addr);
	if (p == 0 || p >= 65535) {
		fprintf(stderr, "semantics: client port must be 1..65534\n");
		return 1;
	}
	memcpy(&g_tfo_addr, &g_addr, sizeof g_tfo_addr);
	set_port(&g_tfo_addr, p + 1);

	size_t nsel = 0;
	if (only) {
		char *dup = strdup(only), *save = NULL;
		if (!dup)
			return 1;
		for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			size_t i;
			if (strcmp(t, "__ping") == 0)
				continue; /* always made: alone, only it */
			for (i = 0; i < NCHECKS; i++)
				if (strcmp(t, check_list[i].name) == 0)
					break;
			if (i == NCHECKS) {
				fprintf(stderr,
					"semantics: unknown check '%s' (see: semantics list)\n", t);
				free(dup);
				return 1;
			}
			g_selected[i] = 1;
		}
		free(dup);
	} else {
		for (size_t i = 0; i < NCHECKS; i++)
			g_selected[i] = 1;
	}
	for (size_t i = 0; i < NCHECKS; i++)
		nsel += (size_t)g_selected[i];

	struct sigaction sa = { .sa_handler = on_sigusr1 };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART: interrupts blocking calls */
	signal(SIGPIPE, SIG_IGN);

	uint32_t token = (uint32_t)getpid() << 16 ^ (uint32_t)now_ms() * 2654435761u;

	/* reachability, so a missing server is a setup error, not 23 failures */
	char out[RES_LEN];
	static const struct check ping = { "__ping", NULL, NULL };
	{
		struct check_ctx c0;
		memset(&c0, 0, sizeof c0);
		pthread_mutex_init(&c0.mu, NULL);
		c0.chk = &ping;
		c0.token = token++;
		c0.deadline = now_ms() + g_timeout_ms;
		char v[REPLY_LEN + 1];
		int fd = cl_open_as(&c0, "__ping");
		int ok = fd >= 0 && cl_reply(&c0, fd, v) == 0 && strcmp(v, "pong") == 0;
		for (int i = 0; i < c0.nfds; i++)
			close(c0.fds[i]);
		pthread_mutex_destroy(&c0.mu);
		if (!ok) {
			fprintf(stderr, "semantics: server %s %s not reachable: %s\n", addr, port,
				c0.result);
			return 1;
		}
	}

	g_run_budget_ms = (int64_t)nsel * (g_timeout_ms + 2500) + 10000;
	pthread_t wd;
	if (pthread_create(&wd, NULL, run_watchdog, NULL) != 0)
		return 1;
	pthread_detach(wd);

	for (size_t i = 0; i < NCHECKS; i++) {
		if (!g_selected[i])
			continue;
		run_check(&check_list[i], token++, out, sizeof out);
		pthread_mutex_lock(&g_out_mu);
		snprintf(g_results[i], sizeof g_results[i], "%s", out);
		g_ran[i] = 1;
		pthread_mutex_unlock(&g_out_mu);
	}
	pthread_mutex_lock(&g_out_mu);
	print_results();
	return 0;
}

/* ------------------------------------------------------------------ main */

static int usage(void)
{
	fprintf(stderr, "usage: semantics server --listen ADDR PORT [--timeout SEC]\n"
			"       semantics client --connect ADDR PORT [--only NAME[,NAME...]] "
			"[--json] [--timeout SEC]\n"
			"       (--only __ping: only the reachability connection every run opens)\n"
			"       semantics list\n");
	return 1;
}

static int parse_secs(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || v < 0 || v > 86400)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	cond_init_mono(&vcv);
	if (strcmp(argv[1], "list") == 0) {
		if (argc != 2)
			return usage();
		for (size_t i = 0; i < NCHECKS; i++)
			printf("%s\n", check_list[i].name);
		return 0;
	}
	int server = strcmp(argv[1], "server") == 0;
	if (!server && strcmp(argv[1], "client") != 0)
		return usage();
	const char *addr = NULL, *port = NULL, *only = NULL;
	int json = 0;
	double timeout = server ? 0 : 3;
	for (int i = 2; i < argc; i++) {
		if (server && strcmp(argv[i], "--listen") == 0 && i + 2 < argc) {
			addr = argv[++i];
			port = argv[++i];
		} else if (!server && strcmp(argv[i], "--connect") == 0 && i + 2 < argc) {
			addr = argv[++i];
			port = argv[++i];
		} else if (!server && strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (!server && strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			if (parse_secs(argv[++i], &timeout) < 0 || (!server && timeout <= 0))
				return usage();
		} else {
			return usage();
		}
	}
	if (!addr)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	if (server)
		return run_server(addr, port, timeout);
	return run_client(addr, port, only, json, timeout);
}
