/* test_keys.c - connection keys and byte order shared with the BPF side. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "bypass.h"

/* Both sockets of one connection compute the same key from crosswise
 * sequence numbers; the sockets of another connection do not. */
static void conn_key_is_symmetric(void **state)
{
	(void)state;
	uint64_t server_cookie = 4098;
	uint32_t c_isn = 0x12345679, s_isn = 0xfedcba99;
	struct ob_conn_key c = ob_conn_key_client(server_cookie, c_isn, s_isn);
	struct ob_conn_key s = ob_conn_key_server(server_cookie, s_isn, c_isn);

	assert_memory_equal(&c, &s, sizeof(c));
	assert_int_equal(c.client_isn, c_isn);
	assert_int_equal(c.server_isn, s_isn);
}

static void conn_key_differs_between_netns(void **state)
{
	(void)state;
	/* Same 4-tuple, same sequence numbers, two namespaces: two keys. */
	struct ob_conn_key a = ob_conn_key_server(9, 1000, 2000);
	struct ob_conn_key b = ob_conn_key_server(4098, 1000, 2000);

	assert_memory_not_equal(&a, &b, sizeof(a));
}

static void conn_key_differs_between_connections(void **state)
{
	(void)state;
	struct ob_conn_key a = ob_conn_key_client(9, 1000, 2000);
	struct ob_conn_key b = ob_conn_key_client(9, 2000, 1000); /* swapped roles */
	struct ob_conn_key c = ob_conn_key_client(9, 1000, 2001);

	assert_memory_not_equal(&a, &b, sizeof(a));
	assert_memory_not_equal(&a, &c, sizeof(a));
}

static void key_layout_has_no_holes(void **state)
{
	(void)state;
	/* Hash map keys are compared byte for byte: padding must be named
	 * and zeroed, so the sizes are fixed here. */
	assert_int_equal(sizeof(struct ob_conn_key), 16);
	assert_int_equal(sizeof(struct ob_sock_key), 24);
	assert_int_equal(sizeof(struct ob_svc_key), 16);
	assert_int_equal(offsetof(struct ob_opt, port), 12);
	assert_int_equal(offsetof(struct ob_opt, flags), 14);
	assert_int_equal(sizeof(struct ob_opt), OB_OPT_LEN);
	assert_int_equal(offsetof(struct ob_opt, value), 4);
}

/* bpf_sock_ops.remote_port as the kernel builds it: sk_dport (network
 * order) shifted into the upper half on little-endian hosts. */
static uint32_t kernel_remote_port(uint16_t port)
{
	uint16_t be = htons(port);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (uint32_t)be << 16;
#else
	return be;
#endif
}

static void remote_port_byte_order(void **state)
{
	(void)state;
	uint16_t ports[] = { 1, 80, 255, 256, 443, 5001, 8080, 32768, 65535 };

	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		assert_int_equal(ob_remote_port(kernel_remote_port(ports[i])), ports[i]);
		/* The same value read naively would be wrong on this host. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	assert_int_not_equal(kernel_remote_port(80), 80);
#endif
}

/* SipHash-2-4 reference vectors (the paper's test.c, vectors_sip64): key
 * 00 01 .. 0f, message 00 01 .. n-1, here for n = 8, 16, 24 (whole words). */
static void siphash_reference_vectors(void **state)
{
	const __u64 k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
	const __u64 m[3] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, 0x1716151413121110ULL };

	(void)state;
	assert_true(ob_siphash(k0, k1, m, 0) == 0x726fdb47dd0e0e31ULL);
	assert_true(ob_siphash(k0, k1, m, 1) == 0x93f5f5799a932462ULL);
	assert_true(ob_siphash(k0, k1, m, 2) == 0x3f2acc7f57c29bdbULL);
	assert_true(ob_siphash(k0, k1, m, 3) == 0xb8ad50c6f649af94ULL);
}

/* The option's values: bound to the key, the ISNs, the port and the
 * flags; sealing twice unseals; a SYN's MAC never unseals a cookie. */
static void option_values_are_bound(void **state)
{
	const __u64 key[2] = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL };
	const __u64 other[2] = { 0x0123456789abcdefULL, 0xfedcba9876543211ULL };
	const __u64 cookie = 4098;
	const struct ob_addr a = { 0, 0xffff0000020afa0aULL }, relay = { 0, 0xffff0000030afa0aULL };
	__u64 sealed = ob_seal(key, cookie, OB_OPT_PAIR, 8080, 1000, 2000);

	(void)state;
	assert_true(ob_seal(key, sealed, OB_OPT_PAIR, 8080, 1000, 2000) == cookie);
	assert_true(ob_seal(other, sealed, OB_OPT_PAIR, 8080, 1000, 2000) != cookie);
	assert_true(ob_seal(key, sealed, 0, 8080, 1000, 2000) != cookie);
	assert_true(ob_seal(key, sealed, OB_OPT_PAIR, 8081, 1000, 2000) != cookie);
	assert_true(ob_seal(key, sealed, OB_OPT_PAIR, 8080, 1001, 2000) != cookie);
	assert_true(ob_seal(key, sealed, OB_OPT_PAIR, 8080, 1000, 2001) != cookie);
	assert_true(ob_seal(key, sealed, OB_OPT_PAIR, 8080, 2000, 1000) != cookie);
	assert_true(ob_syn_mac(key, 1000, &a) != ob_syn_mac(key, 1001, &a));
	assert_true(ob_syn_mac(key, 1000, &a) != ob_syn_mac(other, 1000, &a));
	/* bound to the client's address: a relay's own is another */
	assert_true(ob_syn_mac(key, 1000, &a) != ob_syn_mac(key, 1000, &relay));
	/* an echoed SYN value unseals to garbage, not to any small cookie */
	assert_true(ob_seal(key, ob_syn_mac(key, 1000, &a), 0, 0, 1000, 2000) > 0xffffffffULL);
}

/* One form of an address for both families (invariant 6): an IPv4
 * address and the same one v4-mapped in an IPv6 socket are equal; an IPv6
 * address, and a v4-compatible ::a.b.c.d, are not an IPv4 one. Words as
 * struct bpf_sock_ops gives them: network order in memory. */
static void addresses_in_one_form(void **state)
{
	const unsigned char v4[4] = { 10, 250, 0, 2 };
	const unsigned char mapped[16] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 250, 0, 2
	};
	const unsigned char compat[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 250, 0, 2 };
	const unsigned char six[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
	__u32 ip4, w[4], none[4] = { 0 };
	struct ob_addr a4, am, ac, a6;

	(void)state;
	memcpy(&ip4, v4, 4);
	a4 = ob_addr_norm(0, ip4, none);
	memcpy(w, mapped, 16);
	am = ob_addr_norm(1, 0x06000080 /* what a v6 socket shows there */, w);
	assert_true(a4.hi == am.hi && a4.lo == am.lo);
	memcpy(w, compat, 16);
	ac = ob_addr_norm(1, ip4, w);
	assert_false(a4.hi == ac.hi && a4.lo == ac.lo);
	memcpy(w, six, 16);
	a6 = ob_addr_norm(1, ip4, w);
	assert_false(a4.hi == a6.hi && a4.lo == a6.lo);
	assert_false(a6.hi == ac.hi && a6.lo == ac.lo);
}

/* The SYN-ACK's flags are masked per connection: unmasked by the same
 * ISNs, and the mask differs between connections. */
static void flags_masked(void **state)
{
	const __u64 key[2] = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL };
	unsigned seen = 0;

	(void)state;
	for (__u32 isn = 1; isn <= 64; isn++) {
		__u8 wire = OB_OPT_PAIR ^ ob_flags_mask(key, isn, 7 * isn);

		assert_int_equal(wire ^ ob_flags_mask(key, isn, 7 * isn), OB_OPT_PAIR);
		seen += wire == OB_OPT_PAIR;
	}
	assert_true(seen < 8); /* about 1 in 256 shows the flag as it is */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conn_key_is_symmetric),
		cmocka_unit_test(conn_key_differs_between_netns),
		cmocka_unit_test(conn_key_differs_between_connections),
		cmocka_unit_test(key_layout_has_no_holes),
		cmocka_unit_test(remote_port_byte_order),
		cmocka_unit_test(siphash_reference_vectors),
		cmocka_unit_test(option_values_are_bound),
		cmocka_unit_test(addresses_in_one_form),
		cmocka_unit_test(flags_masked),
	};

	return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
