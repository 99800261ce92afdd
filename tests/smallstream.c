/* smallstream.c - a connection that streams small messages, then carries more both ways: every byte
 * checked. */
/*
 * smallstream server ADDR PORT CONNS
 * smallstream client ADDR PORT CONNS [--reader-thread | --read-first] [--msgs N]
 *
 * Each connection, on blocking sockets, in this order:
 *   1. the server writes 64 KiB at once, which the client leaves unread
 *      (with --read-first it reads them now);
 *   2. the client writes an 8-byte length, then N (default 20000) messages
 *      of 1 to 31 bytes back to back (oci-bypass moves such a stream to TCP
 *      and the socket leaves the sockhash, once nothing redirected to it is
 *      left unread), then 4 messages of 64 KiB;
 *   3. the server, having read and checked all of it, writes 1 MiB more
 *      (its redirect now misses: it moves to TCP and leaves in turn);
 *   4. the client reads the server's 64 KiB + 1 MiB and checks them, in
 *      order, then closes; the server sees EOF.
 * With --reader-thread the client's reading (step 4) runs in a thread
 * that is blocked in recv() from the start, so a reader is waiting on the
 * socket while the small messages go out (oci-bypass then keeps the
 * stream redirected: see OB_SMALL_* in bpf/bypass.h).
 * Every byte is a function of (direction, offset); a lost, repeated or
 * reordered byte fails the connection. Prints one line per side:
 *   "smallstream: client ok conns=N sent=S received=R"
 * Exit 0 ok, 1 failure, 2 usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "corrupt.h"

#define FIRST	 (64u << 10)
#define BIG_MSGS 4
#define BIG	 (64u << 10)
#define SECOND	 (1u << 20)

static unsigned char pattern(int dir, unsigned long long off)
{
	return (unsigned char)(off ^ (off >> 8) ^ (off >> 19) ^ (unsigned)(dir * 0x5b));
}

static void fill(int dir, unsigned char *buf, size_t len, unsigned long long off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(dir, off + i);
	corrupt_buf(buf, len, off);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0) {
			printf("smallstream: write: %s\n", n ? strerror(errno) : "0");
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads and checks len bytes of direction dir from offset *off. */
static int read_check(int fd, int dir, unsigned long long len, unsigned long long *off,
		      const char *who)
{
	static __thread unsigned char buf[1 << 16];

	while (len) {
		size_t want = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		ssize_t n = read(fd, buf, want);

		if (n <= 0) {
			printf("smallstream: %s: read at offset %llu: %s\n", who, *off,
			       n ? strerror(errno) : "EOF");
			return -1;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(dir, *off + (unsigned long long)i)) {
				printf("smallstream: %s: wrong byte at offset %llu\n", who,
				       *off + (unsigned long long)i);
				return -1;
			}
		*off += (unsigned long long)n;
		len -= (unsigned long long)n;
	}
	return 0;
}

static int serve_one(int c)
{
	static unsigned char buf[SECOND];
	unsigned long long len = 0, off = 0;
	unsigned char hdr[8];
	char tmp;
	ssize_t last;

	fill(1, buf, FIRST, 0);
	if (write_all(c, buf, FIRST))
		return -1;
	for (size_t got = 0; got < sizeof(hdr);) {
		ssize_t n = read(c, hdr + got, sizeof(hdr) - got);

		if (n <= 0) {
			printf("smallstream: server: no length\n");
			return -1;
		}
		got += (size_t)n;
	}
	for (int i = 0; i < 8; i++)
		len = len << 8 | hdr[i];
	if (read_check(c, 0, len, &off, "server"))
		return -1;
	fill(1, buf, SECOND, FIRST);
	if (write_all(c, buf, SECOND))
		return -1;
	last = read(c, &tmp, 1);
	if (last != 0) {
		/* a blocking socket: EAGAIN here is the kernel's spurious one */
		if (last < 0)
			printf("smallstream: server: expected EOF, read failed: %s\n",
			       strerror(errno));
		else
			printf("smallstream: server: expected EOF, got a byte more\n");
		return -1;
	}
	return 0;
}

static int server(struct sockaddr_storage *ss, socklen_t len, int conns)
{
	int one = 1, l = socket(ss->ss_family, SOCK_STREAM, 0), bad = 0;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)ss, len) || listen(l, 16)) {
		perror("smallstream: bind/listen");
		return 1;
	}
	printf("smallstream: listening\n");
	fflush(stdout);
	for (int i = 0; i < conns; i++) {
		int c = accept(l, NULL, NULL);

		if (c < 0) {
			perror("smallstream: accept");
			return 1;
		}
		bad += serve_one(c) != 0;
		close(c);
	}
	printf("smallstream: server %s conns=%d failed=%d\n", bad ? "FAIL" : "ok", conns, bad);
	return bad != 0;
}

struct reader {
	int fd, ok;
	unsigned long long off; /* of the server's stream */
};

static void *read_back(void *arg)
{
	struct reader *r = arg;

	r->ok = read_check(r->fd, 1, FIRST + SECOND - r->off, &r->off, "client") == 0;
	return NULL;
}

enum { PLAIN, THREAD, READ_FIRST };

static unsigned long long client_one(struct sockaddr_storage *ss, socklen_t len, int mode,
				     unsigned msgs, unsigned *seed)
{
	static unsigned char big[BIG];
	unsigned char msg[32], hdr[8];
	unsigned long long total = 0, off = 0;
	struct reader r = { socket(ss->ss_family, SOCK_STREAM, 0), 0, 0 };
	unsigned *sizes = calloc(msgs, sizeof(*sizes));
	pthread_t t;

	if (!sizes || connect(r.fd, (struct sockaddr *)ss, len)) {
		perror("smallstream: connect");
		return 0;
	}
	for (unsigned i = 0; i < msgs; i++) {
		sizes[i] = 1 + (unsigned)(rand_r(seed) % 31);
		total += sizes[i];
	}
	total += (unsigned long long)BIG_MSGS * BIG;
	if (mode == THREAD) {
		if (pthread_create(&t, NULL, read_back, &r))
			return 0;
		usleep(20000); /* the reader is blocked in recv() by now */
	}
	if (mode == READ_FIRST && read_check(r.fd, 1, FIRST, &r.off, "client"))
		return 0;
	for (int i = 0; i < 8; i++)
		hdr[i] = (unsigned char)(total >> (56 - 8 * i));
	if (write_all(r.fd, hdr, sizeof(hdr)))
		return 0;
	for (unsigned i = 0; i < msgs; i++) {
		fill(0, msg, sizes[i], off);
		if (write_all(r.fd, msg, sizes[i]))
			return 0;
		off += sizes[i];
	}
	for (int i = 0; i < BIG_MSGS; i++) {
		fill(0, big, BIG, off);
		if (write_all(r.fd, big, BIG))
			return 0;
		off += BIG;
	}
	if (mode == THREAD)
		pthread_join(t, NULL);
	else
		read_back(&r);
	close(r.fd);
	free(sizes);
	return r.ok ? total : 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	unsigned long long sent = 0, s;
	unsigned seed = 1, msgs = 20000;
	socklen_t len;
	int conns, bad = 0, mode = PLAIN;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 5 || addr_of(argv[2], (unsigned)atoi(argv[3]), &ss, &len) ||
	    (conns = atoi(argv[4])) < 1)
		goto usage;
	if (!strcmp(argv[1], "server") && argc == 5)
		return server(&ss, len, conns);
	if (strcmp(argv[1], "client"))
		goto usage;
	for (int i = 5; i < argc; i++) {
		if (!strcmp(argv[i], "--reader-thread") && mode == PLAIN)
			mode = THREAD;
		else if (!strcmp(argv[i], "--read-first") && mode == PLAIN)
			mode = READ_FIRST;
		else if (!strcmp(argv[i], "--msgs") && i + 1 < argc && atoi(argv[i + 1]) > 0)
			msgs = (unsigned)atoi(argv[++i]);
		else
			goto usage;
	}
	for (int i = 0; i < conns; i++) {
		s = client_one(&ss, len, mode, msgs, &seed);
		bad += !s;
		sent += s;
	}
	printf("smallstream: client %s conns=%d failed=%d sent=%llu received=%llu\n",
	       bad ? "FAIL" : "ok", conns, bad, sent,
	       (unsigned long long)(conns - bad) * (FIRST + SECOND));
	return bad != 0;
usage:
	fprintf(stderr,
		"usage: smallstream server ADDR PORT CONNS\n"
		"       smallstream client ADDR PORT CONNS [--reader-thread | --read-first] "
		"[--msgs N]\n");
	return 2;
}
