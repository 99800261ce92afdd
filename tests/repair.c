/* repair.c - forge a TCP connection with TCP_REPAIR that copies a live one's sequence numbers. */
/*
 * repair ADDR PORT: connects to ADDR:PORT (an echo server: churn's),
 * reads the connection's sequence numbers through TCP_REPAIR, then builds
 * a second, repaired socket with exactly those numbers, "connected" to the
 * same server without any handshake, as a container holding CAP_NET_ADMIN
 * in its own netns could. It then sends 1 MiB on the real connection, 64
 * KiB at a time, and reads each back from the server, so that the server
 * sends as much: were the forged socket taken for the real one, those
 * bytes would land in it. Prints "repair: forged socket established" once
 * the clone exists (then waits for a line on stdin, so that a test can
 * look at the sockhash) and "repair: real socket got N bytes back, forged
 * socket received M bytes" at the end. Exit 0 if N is 1 MiB, every byte
 * as sent, and M is 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef TCP_REPAIR
#define TCP_REPAIR	 19
#define TCP_REPAIR_QUEUE 20
#define TCP_QUEUE_SEQ	 21
#endif
#define REPAIR_ON  1
#define REPAIR_OFF 0
#define RECV_QUEUE 1
#define SEND_QUEUE 2

static int seq_of(int s, int queue, unsigned *seq)
{
	socklen_t len = sizeof(*seq);

	return setsockopt(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof(queue)) ||
	       getsockopt(s, IPPROTO_TCP, TCP_QUEUE_SEQ, seq, &len);
}

static int set_seq(int s, int queue, unsigned seq)
{
	return setsockopt(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof(queue)) ||
	       setsockopt(s, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq));
}

int main(int argc, char **argv)
{
	static char buf[1 << 16], echo[1 << 16];
	struct sockaddr_in dst = { .sin_family = AF_INET };
	unsigned snd, rcv;
	int on = REPAIR_ON, off = REPAIR_OFF, one = 1, real, forged;
	long got = 0, back = 0;
	ssize_t n;
	char line[8];

	if (argc != 3 || inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
		fprintf(stderr, "usage: repair ADDR PORT\n");
		return 2;
	}
	dst.sin_port = htons((unsigned short)atoi(argv[2]));
	real = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(real, (struct sockaddr *)&dst, sizeof(dst))) {
		perror("repair: connect");
		return 2;
	}
	/* read the live connection's numbers */
	if (setsockopt(real, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) ||
	    seq_of(real, SEND_QUEUE, &snd) || seq_of(real, RECV_QUEUE, &rcv) ||
	    setsockopt(real, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off))) {
		perror("repair: TCP_REPAIR on the real socket");
		return 2;
	}
	/* the forgery: same numbers, no handshake */
	forged = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(forged, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(forged, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) ||
	    set_seq(forged, SEND_QUEUE, snd) || set_seq(forged, RECV_QUEUE, rcv) ||
	    connect(forged, (struct sockaddr *)&dst, sizeof(dst)) ||
	    setsockopt(forged, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off))) {
		perror("repair: forging");
		return 2;
	}
	printf("repair: forged socket established (snd %u rcv %u)\n", snd, rcv);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin)) /* the test looks at the sockhash now */
		line[0] = '\0';
	for (int i = 0; i < 16; i++) {
		memset(buf, 'a' + i, sizeof(buf));
		if (write(real, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			perror("repair: write");
			return 2;
		}
		for (size_t have = 0; have < sizeof(buf); have += (size_t)n) {
			struct pollfd p = { real, POLLIN, 0 };

			if (poll(&p, 1, 10000) != 1) {
				fprintf(stderr, "repair: no echo within 10 s\n");
				return 2;
			}
			n = read(real, echo + have, sizeof(echo) - have);
			if (n <= 0) {
				perror("repair: read");
				return 2;
			}
		}
		if (memcmp(buf, echo, sizeof(buf))) {
			fprintf(stderr, "repair: the echo of block %d differs\n", i);
			return 2;
		}
		back += (long)sizeof(buf);
	}
	usleep(200 * 1000);
	while ((n = recv(forged, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		got += n;
	printf("repair: real socket got %ld bytes back, forged socket received %ld bytes\n", back,
	       got);
	close(real);
	close(forged);
	return back != 16 * (long)sizeof(buf) || got != 0;
}
