/* guardprobe.c - sockets that set a guarded option where the guards must see it
 * (tests/integration/t_guards.sh, bpf/bypass.h: enum ob_svc_state).
 *
 *   guardprobe listen ADDR PORT OPTION
 *       sets OPTION on the listening socket, prints "listening PORT" (flushed),
 *       accepts one connection, reads it to EOF, prints "read N", exits.
 *   guardprobe connect ADDR PORT OPTION BYTES
 *       sets OPTION before connect(), connects, sends BYTES bytes of a
 *       pattern, closes (no half-close: that is learned too), prints "sent N".
 *
 * OPTION: rcvlowat (SO_RCVLOWAT 1000), zerocopy (SO_ZEROCOPY 1), none.
 * Exit status 0 on success, 1 on any failure (with a message).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif

static int die(const char *what)
{
	fprintf(stderr, "guardprobe: %s: %s\n", what, strerror(errno));
	return 1;
}

static int set_option(int fd, const char *opt)
{
	int lowat = 1000, one = 1;

	if (!strcmp(opt, "rcvlowat"))
		return setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
	if (!strcmp(opt, "zerocopy"))
		return setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one));
	if (!strcmp(opt, "none"))
		return 0;
	errno = EINVAL;
	return -1;
}

static int addr_of(const char *ip, const char *port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(port));
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

static long drain(int fd)
{
	char buf[4096];
	long total = 0;
	ssize_t r;

	while ((r = recv(fd, buf, sizeof(buf), 0)) > 0 || (r < 0 && errno == EINTR))
		total += r > 0 ? r : 0;
	return r < 0 ? -1 : total;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, c;
	long n;

	if (argc < 5 || addr_of(argv[2], argv[3], &sa)) {
		fprintf(stderr, "usage: guardprobe listen ADDR PORT OPTION\n"
				"       guardprobe connect ADDR PORT OPTION BYTES\n");
		return 1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return die("socket");
	if (!strcmp(argv[1], "listen")) {
		c = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &c, sizeof(c));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8))
			return die("bind/listen");
		if (set_option(fd, argv[4]))
			return die(argv[4]);
		if (getsockname(fd, (struct sockaddr *)&sa, &len))
			return die("getsockname");
		printf("listening %u\n", ntohs(sa.sin_port));
		fflush(stdout);
		c = accept(fd, NULL, NULL);
		if (c < 0)
			return die("accept");
		n = drain(c);
		if (n < 0)
			return die("recv");
		printf("read %ld\n", n);
		return 0;
	}
	if (!strcmp(argv[1], "connect") && argc == 6) {
		long want = atol(argv[5]), sent = 0;
		char buf[4096];

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (char)(i * 7);
		if (set_option(fd, argv[4]))
			return die(argv[4]);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return die("connect");
		while (sent < want) {
			size_t chunk = (size_t)(want - sent) < sizeof(buf) ? (size_t)(want - sent)
									   : sizeof(buf);
			ssize_t r = send(fd, buf, chunk, MSG_NOSIGNAL);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return die("send");
			sent += r;
		}
		if (close(fd))
			return die("close");
		printf("sent %ld\n", sent);
		return 0;
	}
	fprintf(stderr, "guardprobe: unknown mode %s\n", argv[1]);
	return 1;
}
