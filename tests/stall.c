/* stall.c - a reader that stops reading: how much can its peer queue, and does it block cleanly? */
/*
 * stall server ADDR PORT SECONDS   accept one connection, read nothing for
 *                                  SECONDS, then read to EOF and print
 *                                  "stall: server read N bytes"
 * stall client ADDR PORT SECONDS   write 64 KiB chunks on a non-blocking
 *                                  socket until the kernel says EAGAIN (or
 *                                  SECONDS pass); print
 *                                  "stall: client queued N bytes, then ERR";
 *                                  then, blocking, write 1 MiB more (the
 *                                  server reads again by then) and close.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static unsigned char pattern(unsigned long long off)
{
	return (unsigned char)(off ^ (off >> 9) ^ (off >> 17));
}

static void fill(char *buf, size_t len, unsigned long long off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)pattern(off + i);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int addr_of(const char *a, const char *p, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)atoi(p));
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)atoi(p));
		*len = sizeof(*s6);
		return 0;
	}
	return -1;
}

static int server(struct sockaddr_storage *ss, socklen_t len, int secs)
{
	static char buf[1 << 16];
	unsigned long long total = 0;
	int one = 1, l = socket(ss->ss_family, SOCK_STREAM, 0), c;
	ssize_t n;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)ss, len) || listen(l, 1)) {
		perror("stall: bind/listen");
		return 1;
	}
	printf("stall: listening\n");
	fflush(stdout);
	c = accept(l, NULL, NULL);
	if (c < 0) {
		perror("stall: accept");
		return 1;
	}
	sleep((unsigned)secs);
	while ((n = read(c, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if ((unsigned char)buf[i] != pattern(total + (unsigned long long)i)) {
				printf("stall: server: wrong byte at offset %llu\n",
				       total + (unsigned long long)i);
				return 1;
			}
		total += (unsigned long long)n;
	}
	printf("stall: server read %llu bytes in order%s%s\n", total, n < 0 ? ", then " : "",
	       n < 0 ? strerror(errno) : "");
	return n < 0;
}

static int client(struct sockaddr_storage *ss, socklen_t len, int secs)
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

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;

	signal(SIGPIPE, SIG_IGN);
	if (argc != 5 || addr_of(argv[2], argv[3], &ss, &len)) {
		fprintf(stderr, "usage: stall server|client ADDR PORT SECONDS\n");
		return 2;
	}
	return !strcmp(argv[1], "server") ? server(&ss, len, atoi(argv[4]))
					  : client(&ss, len, atoi(argv[4]));
}
