/* churn.c - many short TCP connections for t_churn: an echo server (also one that never completes
 * a handshake) and clients that open, use and close (or abandon) them. */
/*
 * usage:
 *   churn server ADDR KIND[:PORT]... one listener per KIND on ADDR (port 0
 *                                    unless given, "::" is dual-stack);
 *                                    prints "listening KIND PORT" for each,
 *                                    then serves until killed:
 *     echo   accepts, echoes what it reads, closes at EOF
 *     defer  the same with TCP_DEFER_ACCEPT: a client that never writes
 *            never completes the server's side of the handshake
 *   churn client ADDR PORT MODE N THREADS [BYTES]
 *     rr     N connections, each: BYTES (default 64) of a pattern out, the
 *            echo back and checked, then closed; every third with an RST
 *            (SO_LINGER 0)
 *     silent N connections, each closed without a byte sent (every other
 *            with an RST)
 *     hold   N connections, each does what rr does (nothing with BYTES 0),
 *            then all stay open: prints "holding N" and waits to be killed
 * Every connection writes first, then reads (client-first towards a
 * defer server). Every wait is bounded (10 s per step). Exit status: 0
 * ok, 1 a connection failed or got wrong bytes, 64 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "corrupt.h"

#define STEP_MS	  10000
#define MAX_BYTES (1 << 20)

static struct sockaddr_storage g_addr;
static socklen_t g_len;
static const char *g_mode;
static unsigned g_n, g_bytes = 64;
static atomic_uint g_next, g_failed, g_held;
static int *g_fds;

static void fail_once(unsigned i, const char *what, int err)
{
	if (atomic_fetch_add(&g_failed, 1) == 0)
		fprintf(stderr, "churn: connection %u: %s: %s\n", i, what, strerror(err));
}

static unsigned char pattern(unsigned i, size_t off)
{
	return (unsigned char)(i * 7 + off * 31 + (off >> 8));
}

/* Waits (bounded) for fd to be ready for ev; 0, or an errno. */
static int wait_for(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int n = poll(&p, 1, STEP_MS);

	if (n < 0)
		return errno;
	return n == 0 ? ETIMEDOUT : 0;
}

static void rst_close(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* BYTES out and the same back, interleaved, checked. 0 or an errno. */
static int exchange(int fd, unsigned i, unsigned char *buf)
{
	size_t sent = 0, got = 0;

	while (got < g_bytes) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (sent < g_bytes ? POLLOUT : 0) };
		int n = poll(&p, 1, STEP_MS);

		if (n <= 0)
			return n == 0 ? ETIMEDOUT : errno;
		if (sent < g_bytes && (p.revents & POLLOUT)) {
			size_t k = g_bytes - sent > 4096 ? 4096 : g_bytes - sent;
			unsigned char out[4096];
			ssize_t w;

			for (size_t j = 0; j < k; j++)
				out[j] = pattern(i, sent + j);
			corrupt_buf(out, k, sent);
			w = send(fd, out, k, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN)
				return errno;
			if (w > 0)
				sent += (size_t)w;
		}
		if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
			ssize_t r = recv(fd, buf, g_bytes - got, MSG_DONTWAIT);

			if (r == 0)
				return EPIPE;
			if (r < 0 && errno != EAGAIN)
				return errno;
			for (ssize_t j = 0; j < r; j++)
				if (buf[j] != pattern(i, got + (size_t)j)) {
					if (atomic_fetch_add(&g_failed, 1) == 0)
						fprintf(stderr,
							"churn: connection %u: wrong byte at "
							"offset "
							"%zu\n",
							i, got + (size_t)j);
					return EILSEQ;
				}
			if (r > 0)
				got += (size_t)r;
		}
	}
	return 0;
}

static int connect_one(unsigned i)
{
	int fd = socket(g_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err;
	socklen_t l = sizeof(err);

	if (fd < 0) {
		fail_once(i, "socket", errno);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&g_addr, g_len) && errno != EINPROGRESS) {
		fail_once(i, "connect", errno);
		close(fd);
		return -1;
	}
	err = wait_for(fd, POLLOUT);
	if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l))
		err = errno;
	if (err) {
		fail_once(i, "connect", err);
		close(fd);
		return -1;
	}
	return fd;
}

static void *client_thread(void *arg)
{
	unsigned char *buf = malloc(g_bytes ? g_bytes : 1);
	unsigned i;

	(void)arg;
	if (!buf)
		return NULL;
	while ((i = atomic_fetch_add(&g_next, 1)) < g_n) {
		int fd = connect_one(i), err;

		if (fd < 0)
			continue;
		if (!strcmp(g_mode, "silent")) {
			if (i % 2)
				rst_close(fd);
			else
				close(fd);
			continue;
		}
		err = g_bytes ? exchange(fd, i, buf) : 0;
		if (err) {
			fail_once(i, "exchange", err);
			close(fd);
			continue;
		}
		if (!strcmp(g_mode, "hold")) {
			g_fds[i] = fd;
			atomic_fetch_add(&g_held, 1);
		} else if (i % 3 == 0) {
			rst_close(fd);
		} else {
			close(fd);
		}
	}
	free(buf);
	return NULL;
}

static int client(int argc, char **argv)
{
	unsigned threads;
	pthread_t *t;

	if (argc < 7 || addr_of(argv[2], (unsigned)atoi(argv[3]), &g_addr, &g_len))
		return 64;
	g_mode = argv[4];
	g_n = (unsigned)atoi(argv[5]);
	threads = (unsigned)atoi(argv[6]);
	if (argc > 7)
		g_bytes = (unsigned)atoi(argv[7]);
	if (strcmp(g_mode, "rr") && strcmp(g_mode, "silent") && strcmp(g_mode, "hold"))
		return 64;
	if (!threads || threads > 256 || (!g_bytes && strcmp(g_mode, "hold")) ||
	    g_bytes > MAX_BYTES || g_n > 1000000)
		return 64;
	g_fds = calloc(g_n ? g_n : 1, sizeof(*g_fds));
	t = calloc(threads, sizeof(*t));
	if (!g_fds || !t)
		return 1;
	for (unsigned k = 0; k < threads; k++)
		if (pthread_create(&t[k], NULL, client_thread, NULL))
			return 1;
	for (unsigned k = 0; k < threads; k++)
		pthread_join(t[k], NULL);
	if (!strcmp(g_mode, "hold")) {
		printf("holding %u\n", atomic_load(&g_held));
		fflush(stdout);
		if (!atomic_load(&g_failed))
			for (;;)
				pause();
	}
	printf("%s: %u connections, %u failed\n", g_mode, g_n, atomic_load(&g_failed));
	return atomic_load(&g_failed) ? 1 : 0;
}

/* ---- server ---- */

#define LISTEN_TAG (1ull << 40)

/* KIND or KIND:PORT (default port 0: any) */
static int listener(const char *addr, const char *arg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, secs = 30;
	char kind[16];
	const char *colon = strchr(arg, ':');

	snprintf(kind, sizeof(kind), "%.*s", colon ? (int)(colon - arg) : (int)strlen(arg), arg);
	if (addr_of(addr, colon ? (unsigned)atoi(colon + 1) : 0, &ss, &len))
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!strcmp(kind, "defer") &&
	    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)))
		return -1;
	if (strcmp(kind, "echo") && strcmp(kind, "defer"))
		return -1;
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 4096))
		return -1;
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	printf("listening %s %u\n", kind,
	       ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port));
	return fd;
}

static int server(int argc, char **argv)
{
	struct epoll_event ev, evs[256];
	char buf[65536];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (argc < 4 || ep < 0)
		return 64;
	signal(SIGPIPE, SIG_IGN);
	for (int k = 3; k < argc; k++) {
		int fd = listener(argv[2], argv[k]);

		if (fd < 0) {
			fprintf(stderr, "churn: cannot listen (%s): %s\n", argv[k],
				strerror(errno));
			return 1;
		}
		ev.events = EPOLLIN;
		ev.data.u64 = LISTEN_TAG | (unsigned)fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int k = 0; k < n; k++) {
			int fd = (int)(evs[k].data.u64 & 0xffffffff);

			if (evs[k].data.u64 & LISTEN_TAG) {
				int c;

				while ((c = accept4(fd, NULL, NULL,
						    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					ev.events = EPOLLIN;
					ev.data.u64 = (unsigned)c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			for (;;) {
				ssize_t r = recv(fd, buf, sizeof(buf), 0), off = 0;

				if (r < 0 && errno == EAGAIN)
					break;
				if (r <= 0) {
					close(fd); /* also leaves the epoll set */
					break;
				}
				/* echo it all: the peer reads as it writes */
				while (off < r) {
					ssize_t w = send(fd, buf + off, (size_t)(r - off),
							 MSG_NOSIGNAL);

					if (w < 0 && errno == EAGAIN && wait_for(fd, POLLOUT) == 0)
						continue;
					if (w <= 0)
						break;
					off += w;
				}
			}
		}
	}
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "server"))
		return server(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "client"))
		return client(argc, argv);
	fprintf(stderr, "usage: churn server ADDR KIND... | churn client ADDR PORT MODE N "
			"THREADS [BYTES]\n");
	return 64;
}
