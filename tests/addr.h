/* addr.h - a numeric IPv4 or IPv6 address and a port into a sockaddr, for the test programs. */
#ifndef OB_TESTS_ADDR_H
#define OB_TESTS_ADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* Fills *ss and *len from ADDR (numeric IPv4 or IPv6) and PORT; -1 if ADDR
 * is neither. */
static inline int addr_of(const char *addr, unsigned port, struct sockaddr_storage *ss,
			  socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	return -1;
}

#endif
