// SPDX-License-Identifier: GPL-2.0
/* replay.bpf.c - a hostile peer for t_replay: a server in a namespace that
 * is not enrolled, whose SYN-ACKs carry an oci-bypass option it did not
 * make. rp_mode[0] 0: it echoes the client's SYN option back; 1: it replays
 * the option of a genuine SYN-ACK, recorded by the same program on the
 * client side (ACTIVE_ESTABLISHED) from an earlier connection to a real
 * enrolled server. rp_sent[0] counts the SYN-ACKs it wrote an option into.
 * 2: it writes nothing, and records in rp_syn the first SYN that a server
 * in its cgroup answers with a SYN-ACK (its ISN and oci-bypass option), for
 * synprobe to replay. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bypass.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ob_opt);
} rp_recorded SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} rp_mode SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rp_sent SEC(".maps");

/* A SYN as a server got it: its ISN (host order) and option. */
struct rp_syn_rec {
	__u32 seq;
	struct ob_opt opt;
	__u8 pad;
} __attribute__((packed));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rp_syn_rec);
} rp_syn SEC(".maps");

static __always_inline int load(struct bpf_sock_ops *skops, struct ob_opt *o, __u64 flags)
{
	__builtin_memset(o, 0, sizeof(*o));
	o->kind = OB_OPT_KIND;
	o->len = 4;
	o->exid[0] = OB_OPT_EXID >> 8;
	o->exid[1] = OB_OPT_EXID & 0xff;
	return bpf_load_hdr_opt(skops, o, sizeof(*o), flags) == OB_OPT_LEN ? 0 : -1;
}

SEC("sockops")
int rp_sockops(struct bpf_sock_ops *skops)
{
	__u32 zero = 0, *mode;
	struct ob_opt o, *rec;
	__u64 *sent;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
							 BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		/* the client side: record the first SYN-ACK's option (the
		 * genuine one; later ones are the replayer's own) */
		rec = bpf_map_lookup_elem(&rp_recorded, &zero);
		if (rec && rec->kind != OB_OPT_KIND && !load(skops, &o, 0))
			bpf_map_update_elem(&rp_recorded, &zero, &o, BPF_ANY);
		break;
	case BPF_SOCK_OPS_HDR_OPT_LEN_CB:
		mode = bpf_map_lookup_elem(&rp_mode, &zero);
		if ((skops->skb_tcp_flags & 0x12) == 0x12 && mode && *mode < 2) /* SYN-ACK */
			bpf_reserve_hdr_opt(skops, OB_OPT_LEN, 0);
		break;
	case BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
		if ((skops->skb_tcp_flags & 0x12) != 0x12)
			break;
		mode = bpf_map_lookup_elem(&rp_mode, &zero);
		rec = bpf_map_lookup_elem(&rp_recorded, &zero);
		if (!mode || !rec)
			break;
		if (*mode == 2) {
			struct rp_syn_rec *r = bpf_map_lookup_elem(&rp_syn, &zero);
			struct {
				__u16 source, dest;
				__u32 seq;
			} syn;
			long ret = bpf_getsockopt(skops, 6 /* SOL_TCP */, TCP_BPF_SYN, &syn,
						  sizeof(syn));

			if (r && !r->seq && (ret > 0 || ret == -28 /* ENOSPC */) &&
			    !load(skops, &o, BPF_LOAD_HDR_OPT_TCP_SYN)) {
				r->opt = o;
				r->seq = bpf_ntohl(syn.seq);
			}
			break;
		}
		if (*mode == 0) {
			if (load(skops, &o, BPF_LOAD_HDR_OPT_TCP_SYN))
				break;
		} else {
			if (rec->kind != OB_OPT_KIND)
				break;
			__builtin_memcpy(&o, rec, sizeof(o));
		}
		if (bpf_store_hdr_opt(skops, &o, sizeof(o), 0))
			break;
		sent = bpf_map_lookup_elem(&rp_sent, &zero);
		if (sent)
			__sync_fetch_and_add(sent, 1);
		break;
	}
	return 1;
}
