/* synprobe.c - a SYN made by hand, and what comes back (t_replay: probes,
 * replayed and relayed SYNs; bpf/bypass.h, the option).
 *
 *   synprobe SRC DST PORT SEQ [OPTHEX]
 *       sends, from the IPv4 address SRC of this namespace through a raw
 *       socket, one TCP SYN to DST:PORT with sequence number SEQ (decimal)
 *       and, if given, the options OPTHEX (hex bytes, padded with NOPs to
 *       a multiple of 4); waits 3 s for the SYN-ACK and prints
 *       "synack hdr=N opt=yes|no flags=0xNN": its TCP header's length, and
 *       whether it carries oci-bypass's option (kind 254, length 15, ExID
 *       "OB"; flags is the option's last byte). No socket of this
 *       namespace owns the source port, so the kernel answers the SYN-ACK
 *       with a RST and the server forgets the attempt.
 *
 * Exit status 0 once a SYN-ACK came, 1 otherwise (with a message).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TH_SYN 0x02
#define TH_ACK 0x10

struct tcp_head {
	uint16_t source, dest;
	uint32_t seq, ack_seq;
	uint8_t doff_res; /* data offset in words, high nibble */
	uint8_t flags;
	uint16_t window, check, urg;
} __attribute__((packed));

static int die(const char *what)
{
	fprintf(stderr, "synprobe: %s: %s\n", what, strerror(errno));
	return 1;
}

static uint16_t csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (; len > 1; len -= 2, p += 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)(p[0] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Hex digits to bytes; -1 on anything else. */
static int unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	if (strlen(s) % 2)
		return -1;
	for (; s[0] && s[1]; s += 2) {
		unsigned v;

		if (n == max || sscanf(s, "%2x", &v) != 1)
			return -1;
		out[n++] = (uint8_t)v;
	}
	return (int)n;
}

/* oci-bypass's option among the SYN-ACK's options: its flags byte, or -1. */
static int find_option(const uint8_t *o, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (o[i] == 0)
			break;
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || o[i + 1] < 2 || i + o[i + 1] > len)
			break;
		if (o[i] == 254 && o[i + 1] == 15 && o[i + 2] == 0x4f && o[i + 3] == 0x42)
			return o[i + 14];
		i += o[i + 1];
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET };
	uint8_t pkt[60] = { 0 }, buf[2048];
	struct tcp_head *th = (struct tcp_head *)pkt;
	struct {
		uint32_t src, dst;
		uint8_t zero, proto;
		uint16_t len;
	} __attribute__((packed)) ph;
	size_t optlen = 0, len;
	uint16_t sport;
	time_t end;
	int s, n;

	if (argc < 5 || argc > 6 || inet_pton(AF_INET, argv[1], &src.sin_addr) != 1 ||
	    inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1) {
		fprintf(stderr, "usage: synprobe SRC DST PORT SEQ [OPTHEX]\n");
		return 2;
	}
	if (argc == 6) {
		n = unhex(argv[5], pkt + sizeof(*th), 40);
		if (n < 0) {
			fprintf(stderr, "synprobe: bad option bytes '%s'\n", argv[5]);
			return 2;
		}
		optlen = (size_t)n;
		while (optlen % 4)
			pkt[sizeof(*th) + optlen++] = 1; /* NOP */
	}
	srand((unsigned)(getpid() ^ time(NULL)));
	sport = (uint16_t)(20000 + rand() % 20000);
	len = sizeof(*th) + optlen;
	th->source = htons(sport);
	th->dest = htons((uint16_t)atoi(argv[3]));
	th->seq = htonl((uint32_t)strtoul(argv[4], NULL, 10));
	th->doff_res = (uint8_t)((len / 4) << 4);
	th->flags = TH_SYN;
	th->window = htons(64240);
	ph = (typeof(ph)){ src.sin_addr.s_addr, dst.sin_addr.s_addr, 0, IPPROTO_TCP,
			   htons((uint16_t)len) };
	{
		uint32_t sum = 0;
		const uint8_t *p = (const uint8_t *)&ph;

		for (size_t i = 0; i < sizeof(ph); i += 2)
			sum += (uint32_t)(p[i] << 8 | p[i + 1]);
		th->check = htons(csum(pkt, len, sum));
	}
	s = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
	if (s < 0)
		return die("socket");
	if (bind(s, (struct sockaddr *)&src, sizeof(src)))
		return die("bind");
	if (sendto(s, pkt, len, 0, (struct sockaddr *)&dst, sizeof(dst)) != (ssize_t)len)
		return die("sendto");
	end = time(NULL) + 3;
	while (time(NULL) <= end) {
		struct pollfd p = { s, POLLIN, 0 };
		const struct tcp_head *r;
		size_t ihl, hdr;
		int flags;

		if (poll(&p, 1, 200) <= 0)
			continue;
		n = (int)recv(s, buf, sizeof(buf), 0);
		if (n < 20)
			continue;
		ihl = (size_t)(buf[0] & 0xf) * 4;
		if ((size_t)n < ihl + sizeof(*r) || memcmp(buf + 12, &dst.sin_addr, 4))
			continue;
		r = (const struct tcp_head *)(buf + ihl);
		if (r->source != th->dest || r->dest != th->source ||
		    (r->flags & (TH_SYN | TH_ACK)) != (TH_SYN | TH_ACK))
			continue;
		hdr = (size_t)(r->doff_res >> 4) * 4;
		if (hdr < sizeof(*r) || (size_t)n < ihl + hdr)
			continue;
		flags = find_option(buf + ihl + sizeof(*r), hdr - sizeof(*r));
		printf("synack hdr=%zu opt=%s flags=0x%02x\n", hdr, flags < 0 ? "no" : "yes",
		       flags < 0 ? 0 : flags);
		return 0;
	}
	fprintf(stderr, "synprobe: no SYN-ACK from %s:%s in 3 s\n", argv[2], argv[3]);
	return 1;
}
