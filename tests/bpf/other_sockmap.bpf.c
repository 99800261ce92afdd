// SPDX-License-Identifier: GPL-2.0
/* other_sockmap.bpf.c - "another tool": its own sock_ops puts every
 * established TCP socket into its own sockhash, whose sk_msg program passes
 * everything on. A socket it holds cannot take our sk_msg program too
 * (sock_map_link() answers EBUSY): t_ebusy checks that such connections
 * stay on stock TCP, intact and counted. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} other_hash SEC(".maps");

SEC("sockops")
int other_sockops(struct bpf_sock_ops *skops)
{
	__u64 key;

	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	key = ((__u64)skops->local_port << 32) | bpf_ntohl(skops->remote_port);
	bpf_sock_hash_update(skops, &other_hash, &key, BPF_ANY);
	return 1;
}

SEC("sk_msg")
int other_msg(struct sk_msg_md *msg)
{
	return SK_PASS;
}
