// SPDX-License-Identifier: GPL-2.0
/* bare.bpf.c - the bare mechanism, for tests/bench/bpfcost.sh only (the
 * product never loads it): sock_ops puts each established IPv4 TCP socket
 * (dual-stack ones too) into a sockhash under its 4-tuple, and sk_msg
 * redirects every message to the socket under the reversed tuple, the
 * peer, onto its ingress queue (by TCP while the peer has not been seen).
 * Nothing else: no pairing, no bounds, no budgets, no guards, no counters.
 * What oci-bypass's datapath costs beyond this is the price of its
 * guarantees. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

struct bare_key {
	__u32 local_ip, remote_ip;
	__u32 local_port, remote_port; /* host order */
};

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, struct bare_key);
	__type(value, __u64);
} bare_hash SEC(".maps");

/* tuples sock_ops has put in bare_hash (never deleted: an LRU) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct bare_key);
	__type(value, __u8);
} bare_seen SEC(".maps");

SEC("sockops")
int bare_sockops(struct bpf_sock_ops *skops)
{
	struct bare_key k;

	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	/* IPv4, or IPv4 on a dual-stack socket (::ffff:a.b.c.d, as qperf's
	 * server accepts), whose *_ip4 fields hold the IPv4 addresses */
	if (skops->family != 2 /* AF_INET */ &&
	    (skops->family != 10 /* AF_INET6 */ || skops->remote_ip6[0] || skops->remote_ip6[1] ||
	     skops->remote_ip6[2] != bpf_htonl(0xffff)))
		return 1;
	k.local_ip = skops->local_ip4;
	k.remote_ip = skops->remote_ip4;
	k.local_port = skops->local_port;
	k.remote_port = bpf_ntohl(skops->remote_port);
	if (bpf_sock_hash_update(skops, &bare_hash, &k, BPF_NOEXIST) == 0) {
		__u8 one = 1;

		bpf_map_update_elem(&bare_seen, &k, &one, BPF_ANY);
	}
	return 1;
}

SEC("sk_msg")
int bare_msg(struct sk_msg_md *msg)
{
	struct bare_key peer = {
		.local_ip = msg->remote_ip4,
		.remote_ip = msg->local_ip4,
		.local_port = bpf_ntohl(msg->remote_port),
		.remote_port = msg->local_port,
	};

	/* A client may write before its server's side is established (and
	 * in the sockhash): bpf_msg_redirect_hash() would drop that message
	 * (EACCES to the sender), and an sk_msg program cannot look a socket
	 * up in a sockhash (it may not release it). The least that keeps
	 * the message: TCP until the peer's tuple has been seen. */
	if (!bpf_map_lookup_elem(&bare_seen, &peer))
		return SK_PASS;
	return bpf_msg_redirect_hash(msg, &bare_hash, &peer, BPF_F_INGRESS);
}
