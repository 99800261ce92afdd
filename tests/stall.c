/* stall.c - a reader that stops reading: how much can its peer queue, and does it block cleanly? */
/*
 * stall server ADDR PORT SECONDS   accept one connection, read nothing for
 *                                  SECONDS (or until the file named by
 *                                  $OB_STALL_UNTIL exists, if set), then
 *                                  read to EOF and print
 *                                  "stall: server read N bytes"
 * stall client ADDR PORT SECONDS [PACE_US]
 *                                  write 64 KiB chunks on a non-blocking
 *                                  socket (PACE_US apart) until the kernel
 *                                  says EAGAIN (or SECONDS pass); print
 *                                  "stall: client queued N bytes, then ERR";
 *                                  then, blocking, write 1 MiB more (the
 *                                  server reads again by then) and close.
 * stall duplex-server ADDR PORT SECONDS BYTES
 *                                  accept one connection, read nothing for
 *                                  SECONDS (or $OB_STALL_UNTIL, as
 *                                  above), then read BYTES, answer "done"
 * stall duplex-client ADDR PORT BYTES
 *                                  a blocking socket with a reader thread
 *                                  blocked in recv() for the answer while
 *                                  the main thread writes BYTES; prints
 *                                  "stall: duplex client wrote N bytes,
 *                                  reader saw K spurious EAGAIN, answer ok"
 *                                  (a spurious EAGAIN is retried: counted,
 *                                  not a failure)
 * stall many-server ADDR PORT N SECONDS
 *                                  accept N connections, read nothing for
 *                                  SECONDS (or until the file named by
 *                                  $OB_STALL_UNTIL exists), print
 *                                  "stall: many-server reading", then read
 *                                  each to EOF:
 *                                  "stall: many-server read N bytes in order";
 *                                  with OB_STALL_EPOLL set, each socket is in
 *                                  an epoll set meanwhile (an event-driven
 *                                  server that stopped reading)
 * stall many-client ADDR PORT N SECONDS
 *                                  N non-blocking connections written round
 *                                  robin, 64 KiB at a time, until each one
 *                                  says EAGAIN and stays unwritable for
 *                                  200 ms (or SECONDS pass); prints
 *                                  "stall: many-client queued N bytes,
 *                                  K ENOMEM, E other errors", then closes
 * Every byte is a function of its offset in the stream, and the server
 * checks each one: a lost, repeated or reordered byte fails it.
 * Exit 0 when every step behaved like a socket should (EAGAIN, not ENOMEM
 * or a reset), 1 otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "corrupt.h"

static unsigned char pattern(unsigned long long off)
{
	return (unsigned char)(off ^ (off >> 9) ^ (off >> 17));
}

static void fill(char *buf, size_t len, unsigned long long off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)pattern(off + i);
	corrupt_buf((unsigned char *)buf, len, off);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads nothing for SECS seconds, or until the file OB_STALL_UNTIL names
 * (if set) exists, whichever comes first: a test can then look at the
 * senders while it is sure nobody reads. */
static void stall_for(int secs)
{
	const char *until = getenv("OB_STALL_UNTIL");
	double end = now() + secs;

	if (!until || !*until) {
		sleep((unsigned)secs);
		return;
	}
	while (now() < end && access(until, F_OK) != 0)
		usleep(10 * 1000);
}

/* Listens, accepts one connection, reads nothing for SECS (stall_for());
 * the connection or -1. */
static int accept_one(struct sockaddr_storage *ss, socklen_t len, int secs)
{
	int one = 1, l = socket(ss->ss_family, SOCK_STREAM, 0), c;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)ss, len) || listen(l, 1)) {
		perror("stall: bind/listen");
		return -1;
	}
	printf("stall: listening\n");
	fflush(stdout);
	c = accept(l, NULL, NULL);
	if (c < 0)
		perror("stall: accept");
	close(l);
	if (c >= 0)
		stall_for(secs);
	return c;
}

/* Reads from c until EOF, an error or `limit` bytes, checking each byte;
 * prints what it read. 0 if every byte was right and no error came. */
static int read_in_order(int c, unsigned long long limit, unsigned long long *total)
{
	static char buf[1 << 16];
	ssize_t n = 0;

	*total = 0;
	while (*total < limit) {
		size_t want = limit - *total < sizeof(buf) ? (size_t)(limit - *total) : sizeof(buf);

		n = read(c, buf, want);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if ((unsigned char)buf[i] != pattern(*total + (unsigned long long)i)) {
				printf("stall: server: wrong byte at offset %llu\n",
				       *total + (unsigned long long)i);
				return 1;
			}
		*total += (unsigned long long)n;
	}
	printf("stall: server read %llu bytes in order%s%s\n", *total, n < 0 ? ", then " : "",
	       n < 0 ? strerror(errno) : "");
	return n < 0;
}

static int server(struct sockaddr_storage *ss, socklen_t len, int secs)
{
	unsigned long long total;
	int c = accept_one(ss, len, secs);

	return c < 0 || read_in_order(c, ~0ULL, &total);
}

static int client(struct sockaddr_storage *ss, socklen_t len, int secs, int pace_us)
{
	static char buf[1 << 16];
	unsigned long long queued = 0, more = 0;
	double end = now() + secs;
	int s = socket(ss->ss_family, SOCK_STREAM, 0), err = 0, fl;
	ssize_t n;

	if (connect(s, (struct sockaddr *)ss, len)) {
		perror("stall: connect");
		return 1;
	}
	fl = fcntl(s, F_GETFL);
	fcntl(s, F_SETFL, fl | O_NONBLOCK);
	while (now() < end) {
		fill(buf, sizeof(buf), queued);
		n = write(s, buf, sizeof(buf));
		if (n > 0) {
			queued += (unsigned long long)n;
			if (pace_us)
				usleep((useconds_t)pace_us);
			continue;
		}
		err = errno;
		if (err == EAGAIN) {
			struct pollfd p = { s, POLLOUT, 0 };

			/* writable again while nobody reads? then it is not a bound */
			if (poll(&p, 1, 200) == 0)
				break;
			continue;
		}
		break;
	}
	printf("stall: client queued %llu bytes, then %s\n", queued,
	       err ? strerror(err) : "no error before the deadline");
	fflush(stdout);
	fcntl(s, F_SETFL, fl);
	while (more < (1u << 20)) { /* the server reads again soon: this must block, not fail */
		fill(buf, sizeof(buf), queued + more);
		n = write(s, buf, sizeof(buf));
		if (n <= 0) {
			printf("stall: blocking write failed: %s\n", strerror(errno));
			return 1;
		}
		more += (unsigned long long)n;
	}
	printf("stall: client total %llu bytes\n", queued + more);
	close(s);
	return err != EAGAIN;
}

static int duplex_server(struct sockaddr_storage *ss, socklen_t len, int secs,
			 unsigned long long bytes)
{
	unsigned long long total;
	int c = accept_one(ss, len, secs);

	if (c < 0 || read_in_order(c, bytes, &total))
		return 1;
	if (total != bytes || write(c, "done", 4) != 4)
		return 1;
	close(c);
	return 0;
}

struct duplex_reader {
	int fd;
	unsigned eagain;
	int ok;
};

/* Blocked in recv() while the main thread writes, until the answer. */
static void *duplex_read(void *arg)
{
	struct duplex_reader *r = arg;
	char buf[8];
	size_t got = 0;

	while (got < 4) {
		ssize_t n = recv(r->fd, buf + got, 4 - got, 0);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			r->eagain++; /* never legitimate on a blocking socket */
			continue;
		}
		printf("stall: duplex reader: %s\n", n ? strerror(errno) : "EOF before the answer");
		return NULL;
	}
	r->ok = !memcmp(buf, "done", 4);
	return NULL;
}

static int duplex_client(struct sockaddr_storage *ss, socklen_t len, unsigned long long bytes)
{
	static char buf[1 << 16];
	struct duplex_reader r = { .fd = socket(ss->ss_family, SOCK_STREAM, 0) };
	unsigned long long sent = 0;
	pthread_t t;

	if (connect(r.fd, (struct sockaddr *)ss, len)) {
		perror("stall: connect");
		return 1;
	}
	if (pthread_create(&t, NULL, duplex_read, &r))
		return 1;
	while (sent < bytes) {
		size_t chunk = bytes - sent < sizeof(buf) ? (size_t)(bytes - sent) : sizeof(buf);
		ssize_t n;

		fill(buf, chunk, sent);
		n = write(r.fd, buf, chunk);
		if (n <= 0) {
			printf("stall: duplex write failed: %s\n", strerror(errno));
			return 1;
		}
		sent += (unsigned long long)n;
	}
	pthread_join(t, NULL);
	printf("stall: duplex client wrote %llu bytes, reader saw %u spurious EAGAIN, answer %s\n",
	       sent, r.eagain, r.ok ? "ok" : "missing");
	close(r.fd);
	return !r.ok;
}

static int many_server(struct sockaddr_storage *ss, socklen_t len, int n, int secs)
{
	int one = 1, l = socket(ss->ss_family, SOCK_STREAM, 0), bad = 0, *c;
	unsigned long long total = 0, one_total;

	c = calloc((size_t)n, sizeof(*c));
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!c || bind(l, (struct sockaddr *)ss, len) || listen(l, n)) {
		perror("stall: bind/listen");
		return 1;
	}
	printf("stall: listening\n");
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		c[i] = accept(l, NULL, NULL);
		if (c[i] < 0) {
			perror("stall: accept");
			return 1;
		}
	}
	close(l);
	if (getenv("OB_STALL_EPOLL")) {
		/* an event-driven server that stops reading: each socket in an
		 * epoll set (on its wait queue), never read until the end */
		int ep = epoll_create1(0);

		for (int i = 0; ep >= 0 && i < n; i++) {
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = c[i] };

			if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i], &ev)) {
				perror("stall: epoll_ctl");
				return 1;
			}
		}
		if (ep < 0) {
			perror("stall: epoll_create1");
			return 1;
		}
	}
	stall_for(secs);
	printf("stall: many-server reading\n");
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		bad |= read_in_order(c[i], ~0ULL, &one_total);
		total += one_total;
		close(c[i]);
	}
	printf("stall: many-server read %llu bytes in order\n", total);
	free(c);
	return bad;
}

static int many_client(struct sockaddr_storage *ss, socklen_t len, int n, int secs)
{
	static char buf[1 << 16];
	unsigned long long queued = 0, *off = calloc((size_t)n, sizeof(*off));
	int *s = calloc((size_t)n, sizeof(*s)), *full = calloc((size_t)n, sizeof(*full));
	int nfull = 0, enomem = 0, other = 0;
	double end = now() + secs;

	if (!off || !s || !full)
		return 1;
	for (int i = 0; i < n; i++) {
		s[i] = socket(ss->ss_family, SOCK_STREAM, 0);
		if (connect(s[i], (struct sockaddr *)ss, len)) {
			perror("stall: connect");
			return 1;
		}
		fcntl(s[i], F_SETFL, fcntl(s[i], F_GETFL) | O_NONBLOCK);
	}
	while (nfull < n && now() < end) {
		int blocked = 0;

		for (int i = 0; i < n; i++) {
			ssize_t w;

			if (full[i])
				continue;
			fill(buf, sizeof(buf), off[i]);
			w = write(s[i], buf, sizeof(buf));
			if (w > 0) {
				off[i] += (unsigned long long)w;
				queued += (unsigned long long)w;
				continue;
			}
			if (w < 0 && errno == EAGAIN) {
				blocked++;
				continue;
			}
			if (w < 0 && errno == ENOMEM)
				enomem++;
			else
				other++;
			full[i] = 1;
			nfull++;
		}
		if (blocked < n - nfull)
			continue;
		/* every one said EAGAIN: those not writable within 200 ms,
		 * while nobody reads, are blocked for good */
		struct pollfd *p = calloc((size_t)n, sizeof(*p));

		if (!p)
			return 1;
		for (int i = 0; i < n; i++)
			p[i] = (struct pollfd){ full[i] ? -1 : s[i], POLLOUT, 0 };
		poll(p, (nfds_t)n, 200);
		for (int i = 0; i < n; i++)
			if (!full[i] && !(p[i].revents & POLLOUT)) {
				full[i] = 1;
				nfull++;
			}
		free(p);
	}
	printf("stall: many-client queued %llu bytes, %d ENOMEM, %d other errors%s\n", queued,
	       enomem, other, nfull < n ? ", deadline first" : "");
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		fcntl(s[i], F_SETFL, fcntl(s[i], F_GETFL) & ~O_NONBLOCK);
		close(s[i]);
	}
	free(off);
	free(s);
	free(full);
	return enomem || other || nfull < n;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 5 || addr_of(argv[2], (unsigned)atoi(argv[3]), &ss, &len))
		goto usage;
	if (!strcmp(argv[1], "server") && argc == 5)
		return server(&ss, len, atoi(argv[4]));
	if (!strcmp(argv[1], "client") && (argc == 5 || argc == 6))
		return client(&ss, len, atoi(argv[4]), argc == 6 ? atoi(argv[5]) : 0);
	if (!strcmp(argv[1], "duplex-server") && argc == 6)
		return duplex_server(&ss, len, atoi(argv[4]), strtoull(argv[5], NULL, 0));
	if (!strcmp(argv[1], "duplex-client") && argc == 5)
		return duplex_client(&ss, len, strtoull(argv[4], NULL, 0));
	if (!strcmp(argv[1], "many-server") && argc == 6)
		return many_server(&ss, len, atoi(argv[4]), atoi(argv[5]));
	if (!strcmp(argv[1], "many-client") && argc == 6)
		return many_client(&ss, len, atoi(argv[4]), atoi(argv[5]));
usage:
	fprintf(stderr, "usage: stall server ADDR PORT SECONDS\n"
			"       stall client ADDR PORT SECONDS [PACE_US]\n"
			"       stall duplex-server ADDR PORT SECONDS BYTES\n"
			"       stall duplex-client ADDR PORT BYTES\n"
			"       stall many-server ADDR PORT N SECONDS\n"
			"       stall many-client ADDR PORT N SECONDS\n");
	return 2;
}
