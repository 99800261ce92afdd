/* repair.c - forge a TCP connection with TCP_REPAIR that copies a live one's sequence numbers. */
/*
 * repair ADDR PORT: connects to ADDR:PORT (a streamcheck sink), reads the
 * connection's sequence numbers through TCP_REPAIR, then builds a second,
 * repaired socket with exactly those numbers, "connected" to the same
 * server without any handshake, as a container holding CAP_NET_ADMIN in
 * its own netns could. It then streams 1 MiB on the real connection and
 * checks that the forged socket received nothing. Prints
 * "repair: forged socket established" once the clone exists (then waits for
 * a line on stdin, so that a test can look at the sockhash) and
 * "repair: forged socket received N bytes" at the end. Exit 0 if N == 0.
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
	static char buf[1 << 16];
	struct sockaddr_in dst = { .sin_family = AF_INET };
	unsigned snd, rcv;
	int on = REPAIR_ON, off = REPAIR_OFF, one = 1, real, forged;
	long got = 0;
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
	memset(buf, 'v', sizeof(buf));
	for (int i = 0; i < 16; i++)
		if (write(real, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			perror("repair: write");
			return 2;
		}
	usleep(200 * 1000);
	while ((n = recv(forged, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		got += n;
	printf("repair: forged socket received %ld bytes\n", got);
	close(real);
	close(forged);
	return got != 0;
}
