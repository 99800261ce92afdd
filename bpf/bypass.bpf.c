// SPDX-License-Identifier: GPL-2.0
/* bypass.bpf.c - sock_ops pairs sockets of enrolled netns, sk_msg redirects their messages. */
/*
 * Reading order: the maps; the accounts (ledger, budgets) and the two
 * functions that own every state change, conn_step() for ob_conns and
 * svc_learn() for ob_services; pairing (sock_ops, from the SYN to the
 * handshake's end); the verdict (sk_msg, each sendmsg); leaving
 * (half-closes, closes, the way out of the sockhash); the entry points.
 * Keys, values and the design are in bypass.h.
 */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "bypass.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#define OB_TCP_ESTABLISHED	1
#define OB_TCP_FIN_WAIT1	4
#define OB_TCP_CLOSE		7
#define OB_TCP_CLOSE_WAIT	8
#define OB_TCPHDR_SYN		0x02
#define OB_TCPHDR_ACK		0x10
#define OB_EBUSY		16
#define OB_E2BIG		7
#define OB_ENOMEM		12
#define OB_ENOSPC		28
#define OB_RCV_SHUTDOWN		1
#define OB_O_NONBLOCK		04000
#define OB_MSG_PEEK		2
#define OB_MSG_WAITALL		0x100
#define OB_TCP_LISTEN		10
#define OB_IPPROTO_TCP		6
#define OB_SOL_SOCKET		1
#define OB_SO_RCVLOWAT		18
#define OB_SO_ZEROCOPY		60
#define OB_SO_SNDBUF		7
#define OB_SO_RCVBUF		8
#define OB_SO_SNDBUFFORCE	32
#define OB_SO_RCVBUFFORCE	33
#define OB_SO_SNDTIMEO_OLD	21
#define OB_SO_SNDTIMEO_NEW	67
#define OB_SOL_TCP		6
#define OB_TCP_ULP		31
#define OB_SOCKOPT_PAGE		4096
#define OB_SOCK_SNDBUF_LOCK	1
#define OB_SOCK_RCVBUF_LOCK	2
#define OB_MAX_SCHEDULE_TIMEOUT 0x7fffffffffffffffLL

/* Kernel structures read through BTF (CO-RE): only the fields we use. */
struct file___ob {
	unsigned int f_flags;
} __attribute__((preserve_access_index));

struct sock___ob;

struct socket___ob {
	struct file___ob *file;
	struct sock___ob *sk;
} __attribute__((preserve_access_index));

struct list_head___ob {
	struct list_head___ob *next;
} __attribute__((preserve_access_index));

struct wait_queue_head___ob {
	struct list_head___ob head;
} __attribute__((preserve_access_index));

struct socket_wq___ob {
	struct wait_queue_head___ob wait;
} __attribute__((preserve_access_index));

struct atomic64___ob {
	__s64 counter;
} __attribute__((preserve_access_index));

struct sock_common___ob {
	struct atomic64___ob skc_cookie; /* 0 until first asked for */
	volatile unsigned char skc_state;
} __attribute__((preserve_access_index));

struct sock___ob {
	struct sock_common___ob __sk_common;
	unsigned char sk_shutdown;
	unsigned char sk_userlocks; /* a 4-bit bitfield up to 6.8: read with
				     * BPF_CORE_READ_BITFIELD_PROBED */
	int sk_rcvbuf;
	int sk_sndbuf;
	long sk_sndtimeo;
	void *sk_user_data; /* the psock, low 3 bits are flags */
	struct socket___ob *sk_socket;
	struct socket_wq___ob *sk_wq;
} __attribute__((preserve_access_index));

/* The sequence numbers that tell whether a connection is quiescent
 * (promotion, bypass.h). */
struct tcp_sock___ob {
	__u32 rcv_nxt;	  /* what it has received, in order */
	__u32 copied_seq; /* what it has read of that */
	__u32 snd_una;	  /* the first byte it sent not acknowledged yet */
	__u32 write_seq;  /* the end of what it has written */
} __attribute__((preserve_access_index));

/* The iterator over TCP sockets (iter/tcp; as the kernel defines it). */
struct seq_file;
struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));
struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
	__u32 uid __attribute__((aligned(8)));
} __attribute__((preserve_access_index));

/* Set at load (features.c): the kernel stores sockets in map values
 * (untrusted kptrs, 5.19), which a promotion needs to look at the peer's
 * sequence numbers. Without them nothing is promoted. */
const volatile __u32 ob_promotion = 0;

/* Bytes queued on ingress_msg, not yet read. Not in Linux 6.1 (6.12 has
 * it): there ob_recv_fexit counts what is read instead. */
struct sk_psock___ob {
	__u32 msg_tot_len;
} __attribute__((preserve_access_index));

char LICENSE[] SEC("license") = "GPL";

/* ======== Maps ======== */

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, OB_MAX_SOCKETS);
	__type(key, struct ob_sock_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ob_sockhash SEC(".maps");

/* Every paired socket again, with no program: see "Leaving" in bypass.h. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, OB_MAX_SOCKETS);
	__type(key, struct ob_sock_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ob_parking SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OB_MAX_CONNS);
	__type(key, struct ob_conn_key);
	__type(value, struct ob_conn);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ob_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OB_MAX_CONNS);
	__type(key, struct ob_conn_key);
	__type(value, struct ob_ledger);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ob_ledger SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ob_usage);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ob_usage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ob_sk_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ob_sk_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OB_MAX_NETNS);
	__type(key, __u64);
	__type(value, struct ob_netns);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ob_netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, OB_MAX_NETNS);
	__type(key, __u64);
	__type(value, struct ob_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ob_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ob_settings);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ob_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OB_MAX_SERVICES);
	__type(key, struct ob_svc_key);
	__type(value, struct ob_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ob_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OB_MAX_NOPORTS);
	__type(key, struct ob_svc_key);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ob_noports SEC(".maps");

#define COUNT(c, field, n)                                                                         \
	do {                                                                                       \
		if (c)                                                                             \
			(c)->field += (n);                                                         \
	} while (0)

static __always_inline __u64 min_u64(__u64 a, __u64 b)
{
	return a < b ? a : b;
}

/* ======== Accounts, budgets and the owners of each state ======== */

static __always_inline int pairing_allowed(void)
{
	__u32 zero = 0;
	struct ob_settings *s = bpf_map_lookup_elem(&ob_settings, &zero);

	return s && s->enabled && !s->draining;
}

static __always_inline int port_excluded(__u64 cookie, __u32 port)
{
	struct ob_svc_key k = { .netns_cookie = cookie, .port = port };

	return bpf_map_lookup_elem(&ob_noports, &k) != NULL;
}

/* No byte may have crossed the connection before it is paired (invariant 3):
 * this rules out TCP Fast Open data in the SYN and anything unacknowledged.
 * bytes_acked counts the SYN itself (tcp_snd_una_update), hence <= 1. */
static __always_inline int connection_is_clean(struct bpf_sock_ops *skops)
{
	return skops->bytes_received == 0 && skops->bytes_acked <= 1 && skops->data_segs_in == 0 &&
	       skops->data_segs_out == 0 && skops->snd_una == skops->snd_nxt;
}

/* The psock the kernel made for this socket when it entered the sockhash
 * (sk_user_data, flags in the low 3 bits), 0 if unknown. */
static __always_inline __u64 sk_psock_addr(struct sock___ob *sk)
{
	return sk ? (__u64)sk->sk_user_data & ~7ULL : 0;
}

static __always_inline __u64 own_psock(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;

	if (!sk)
		return 0;
	return sk_psock_addr((struct sock___ob *)bpf_skc_to_tcp_sock(sk));
}

/* Does the kernel count unread redirected bytes (sk_psock.msg_tot_len)?
 * Resolved at load time against the kernel's BTF. */
#define KERNEL_COUNTS_UNREAD bpf_core_field_exists(struct sk_psock___ob, msg_tot_len)

/* Bytes queued on a psock's ingress_msg and not read yet (0 if unknown).
 * Not bpf_rdonly_cast() (a plain load): a weak kfunc the kernel lacks
 * (6.1) makes libbpf look through the modules' BTF, which the confined
 * hook may not (it holds no CAP_SYS_ADMIN), and the load fails there. */
static __always_inline __u32 psock_unread(__u64 psock)
{
	__u32 queued = 0;

	if (psock)
		bpf_probe_read_kernel(
			&queued, sizeof(queued),
			(void *)(psock + bpf_core_field_offset(struct sk_psock___ob, msg_tot_len)));
	return queued;
}

/* The cookie of a socket reached through a kptr (a fault-safe load). */
static __always_inline __u64 sk_cookie_of(struct sock___ob *sk)
{
	return sk->__sk_common.skc_cookie.counter;
}

/*
 * Bytes socket i of the connection has not read off its redirect queue,
 * as its psock counts them: 1 and *queued if known, 0 if not (the socket
 * left, or it is another socket by now). The ledger holds the socket as an
 * untrusted kptr (OB_HIDDEN_SK in bypass.h), which may outlive it. TCP
 * sockets are freed SLAB_TYPESAFE_BY_RCU: within this program (an RCU
 * read-side section) the memory stays a socket, but maybe another one, so
 * its cookie, never reused, is checked before and after. Its psock, read
 * from sk_user_data within the section, is freed only after an RCU grace
 * period (sk_psock_drop()).
 */
/*
 * Socket i of the ledger (a kptr: the verifier checks its target, NULL
 * allowed). Both fields are loaded at their own constant offsets before
 * one is picked: Linux 6.1's verifier takes a load through a pointer
 * already moved to the field (the compiler's way of picking first) for a
 * plain number, and refuses what follows.
 */
static __always_inline struct sock___ob *ledger_sk(struct ob_ledger *l, __u32 i)
{
	struct sock___ob *s0 = (struct sock___ob *)l->sk0, *s1 = (struct sock___ob *)l->sk1;

	barrier_var(s0);
	barrier_var(s1);
	return (i & 1) ? s1 : s0;
}

static __always_inline int ledger_queued(struct ob_ledger *l, __u32 i, __u64 *queued)
{
	struct sock___ob *sk = ledger_sk(l, i);
	__u64 cookie = l->cookie[i & 1], psock;

	if (!sk || !cookie || sk_cookie_of(sk) != cookie)
		return 0;
	psock = sk_psock_addr(sk);
	if (!psock)
		return 0;
	*queued = psock_unread(psock);
	return sk_cookie_of(sk) == cookie;
}

/* The socket's receive buffer (sk_rcvbuf), 0 if unknown. */
static __always_inline __u32 own_rcvbuf(struct bpf_sock_ops *skops)
{
	struct bpf_sock *bsk = skops->sk;
	struct sock___ob *sk;

	if (!bsk)
		return 0;
	sk = (struct sock___ob *)bpf_skc_to_tcp_sock(bsk);
	return sk && sk->sk_rcvbuf > 0 ? sk->sk_rcvbuf : 0;
}

/* Bytes redirected to the socket of index i and not read by it yet. */
static __always_inline __u64 ledger_unread(struct ob_ledger *l, __u32 i)
{
	__u64 sent = l->sent[i & 1], read = l->read[i & 1];

	return sent > read ? sent - read : 0;
}

/* ---- Quotas (bypass.h): a namespace's slots of each table ---- */

enum ob_quota {
	OB_Q_CONNS,
	OB_Q_SERVICES,
	OB_Q_SOCKETS,
	OB_Q_LEDGERS,
};

static __always_inline __s64 *quota_count(struct ob_netns *ns, enum ob_quota q)
{
	if (q == OB_Q_CONNS)
		return &ns->conns;
	if (q == OB_Q_SERVICES)
		return &ns->services;
	if (q == OB_Q_LEDGERS)
		return &ns->ledgers;
	return &ns->sockets;
}

static __always_inline __s64 quota_limit(struct ob_netns *ns, enum ob_quota q)
{
	__u32 zero = 0, own, load, dflt;
	const struct ob_settings *s = bpf_map_lookup_elem(&ob_settings, &zero);

	if (q == OB_Q_CONNS || q == OB_Q_LEDGERS) {
		own = ns->max_conns;
		load = s ? s->ns_max_conns : 0;
		dflt = OB_NS_MAX_CONNS;
	} else if (q == OB_Q_SERVICES) {
		own = ns->max_services;
		load = s ? s->ns_max_services : 0;
		dflt = OB_NS_MAX_SERVICES;
	} else {
		own = ns->max_sockets;
		load = s ? s->ns_max_sockets : 0;
		dflt = OB_NS_MAX_SOCKETS;
	}
	return own ? own : load ? load : dflt;
}

/* Takes one of the namespace's slots of q: 1 if it did, 0 if the
 * namespace has its quota already (or is not enrolled). */
static __always_inline int quota_take(__u64 cookie, enum ob_quota q)
{
	struct ob_netns *ns = bpf_map_lookup_elem(&ob_netns, &cookie);
	__s64 *count;

	if (!ns)
		return 0;
	count = quota_count(ns, q);
	if (__sync_fetch_and_add(count, 1) < quota_limit(ns, q))
		return 1;
	__sync_fetch_and_add(count, -1);
	return 0;
}

/* Gives one back (a namespace withdrawn meanwhile has no count). */
static __always_inline void quota_put(__u64 cookie, enum ob_quota q)
{
	struct ob_netns *ns = bpf_map_lookup_elem(&ob_netns, &cookie);

	if (ns)
		__sync_fetch_and_add(quota_count(ns, q), -1);
}

/* Unread redirected bytes charged to (or, with a negative n, returned by)
 * a namespace (its record ns, if it has one), and to the host. */
static __always_inline void charge_ns(struct ob_netns *ns, __s64 n)
{
	struct ob_usage *u;
	__u32 zero = 0;

	if (ns)
		__sync_fetch_and_add(&ns->unread, n);
	u = bpf_map_lookup_elem(&ob_usage, &zero);
	if (u)
		__sync_fetch_and_add(&u->unread, n);
}

static __always_inline void charge(__u64 netns_cookie, __s64 n)
{
	charge_ns(bpf_map_lookup_elem(&ob_netns, &netns_cookie), n);
}

/*
 * Where the kernel counts unread bytes: socket i has read what was sent
 * to it less what its psock still has queued. Moves read[i] up to that
 * (compare-and-swap: both sockets of the connection call this). The count
 * can run ahead by a message being queued right now: read[i] is a lower
 * bound on what was read, never more than was sent. The budgets follow at
 * the sender's next settle().
 */
static __always_inline void ledger_catch_up(struct ob_ledger *l, __u32 i, __u64 queued)
{
	__u64 sent = l->sent[i & 1], now_read, old;

	now_read = sent > queued ? sent - queued : 0;
	old = l->read[i & 1];
	if (now_read > old)
		__sync_val_compare_and_swap(&l->read[i & 1], old, now_read);
}

/*
 * Charges the budgets for the bytes redirected to socket i at want
 * instead of old (bypass.h, "Budgets"): the sender's namespace (its record
 * ns, if the caller has it and it is that namespace: one lookup less) and
 * the host. Compare-and-swap, so that the charge and the budgets move
 * together whoever else settles it at the same time: 0 if someone did.
 */
static __always_inline int settle(struct ob_ledger *l, __u32 i, __u64 old, __u64 want,
				  struct ob_netns *ns, __u64 cookie)
{
	__u64 to = l->netns[(i ^ 1) & 1];

	if (want == old)
		return 1;
	if (__sync_val_compare_and_swap(&l->charged[i & 1], old, want) != old)
		return 0;
	if (ns && cookie && cookie == to)
		charge_ns(ns, (__s64)(want - old));
	else
		charge(to, (__s64)(want - old));
	return 1;
}

/* What is charged for socket i goes down to what it has not read. */
static __always_inline void settle_unread(struct ob_ledger *l, __u32 i)
{
	__u64 old = l->charged[i & 1], unread = ledger_unread(l, i);

	if (old > unread)
		settle(l, i, old, unread, NULL, 0);
}

/* The ledger goes: what it had charged goes back to the senders' budgets. */
static __always_inline void ledger_drop(const struct ob_conn_key *k, struct ob_ledger *l)
{
	__u64 left;

	left = l->charged[0]; /* for what the server sent */
	if (left)
		charge(l->netns[1], -(__s64)left);
	left = l->charged[1]; /* for what the client sent */
	if (left)
		charge(l->netns[0], -(__s64)left);
	if (bpf_map_delete_elem(&ob_ledger, k) == 0)
		quota_put(l->netns[0], OB_Q_LEDGERS);
}

/* A new ledger entry for the connection k (fresh), charged to its client's
 * namespace (bypass.h, "Quotas"): 0 if made, 1 over that quota, 2 if the
 * table is full or the entry was made meanwhile. */
static __always_inline int ledger_make(const struct ob_conn_key *k, struct ob_ledger *fresh)
{
	if (!quota_take(fresh->netns[0], OB_Q_LEDGERS))
		return 1;
	if (bpf_map_update_elem(&ob_ledger, k, fresh, BPF_NOEXIST)) {
		quota_put(fresh->netns[0], OB_Q_LEDGERS);
		return 2;
	}
	return 0;
}

/* A socket closes: it gives up its reference on the connection's ledger;
 * the last one drops it. */
static __always_inline void ledger_release(struct ob_sk_state *st)
{
	struct ob_ledger *l;

	if (!(st->flags & OB_SK_LEDGER))
		return;
	st->flags &= ~OB_SK_LEDGER;
	l = bpf_map_lookup_elem(&ob_ledger, &st->peer.conn);
	if (!l || __sync_fetch_and_add(&l->refs, -1) != 1)
		return;
	ledger_drop(&st->peer.conn, l);
}

/* Counts the namespace among those the host's budget is shared out among
 * (bypass.h, "Budgets"), once; the host's usage record, or NULL. */
static __always_inline struct ob_usage *share_count(struct ob_netns *ns)
{
	struct ob_usage *u;
	__u32 zero = 0;

	u = bpf_map_lookup_elem(&ob_usage, &zero);
	if (u && ns->shares == OB_SHARE_NONE &&
	    __sync_val_compare_and_swap(&ns->shares, OB_SHARE_NONE, OB_SHARE_COUNTED) ==
		    OB_SHARE_NONE)
		__sync_fetch_and_add(&u->namespaces, 1);
	return u;
}

/*
 * A namespace's budget of unread redirected bytes (bypass.h, "Budgets"):
 * its own, but no more than its share of the host's. A namespace its
 * enrolment did not count (ob_sweep could not run) is counted here.
 */
static __always_inline __u64 ns_budget(struct ob_netns *ns, const struct ob_settings *s, __u64 host)
{
	__u64 max = OB_NS_MAX_UNREAD;
	struct ob_usage *u;

	if (ns->max_unread)
		max = ns->max_unread;
	else if (s && s->ns_max_unread)
		max = s->ns_max_unread;
	u = share_count(ns);
	if (!u)
		return max;
	return ob_ns_budget(max, host, u->namespaces);
}

/* Is the host past its budget (with size more)? */
static __always_inline int host_over_budget(__u64 host, __u64 size)
{
	struct ob_usage *u;
	__u32 zero = 0;

	u = bpf_map_lookup_elem(&ob_usage, &zero);
	return u && u->unread > 0 && (__u64)u->unread + size > host;
}

/* Is this namespace past its budget (with size more)? A namespace with no
 * record (withdrawn while its connections still redirect) is held to the
 * host's budget itself. */
static __always_inline int over_budget(struct ob_netns *ns, const struct ob_settings *s, __u64 size)
{
	__u64 host = s && s->host_max_unread ? s->host_max_unread : OB_HOST_MAX_UNREAD;

	if (!ns)
		return host_over_budget(host, size);
	return ns->unread > 0 && (__u64)ns->unread + size > ns_budget(ns, s, host);
}

/* Pairing a new connection of this namespace: refused while it is past its
 * budget. */
static __always_inline int pairing_over_budget(__u64 cookie)
{
	__u32 zero = 0;
	const struct ob_settings *s = bpf_map_lookup_elem(&ob_settings, &zero);

	return over_budget(bpf_map_lookup_elem(&ob_netns, &cookie), s, 0);
}

/* The socket's slot in the sockhashes goes back, once (OB_SK_SLOT). */
static __always_inline void slot_release(struct ob_sk_state *st)
{
	if (!(st->flags & OB_SK_SLOT))
		return;
	st->flags &= ~OB_SK_SLOT;
	quota_put(st->netns_cookie, OB_Q_SOCKETS);
}

/*
 * The one place an ob_conns entry changes (enum ob_conn_state): from
 * `from` to `to` by compare-and-swap, or away (to == OB_CONN_GONE, from
 * any state; conn may then be NULL). Returns the state it found. Whoever
 * deletes the entry gives its slot back to the client's namespace.
 */
static __always_inline __u32 conn_step(const struct ob_conn_key *k, struct ob_conn *conn,
				       __u32 from, __u32 to)
{
	__u32 old;
	__u64 owner;

	if (to == OB_CONN_GONE) {
		if (!conn)
			conn = bpf_map_lookup_elem(&ob_conns, k);
		if (!conn)
			return OB_CONN_GONE;
		old = conn->state;
		owner = conn->client_netns;
		if (bpf_map_delete_elem(&ob_conns, k) == 0)
			quota_put(owner, OB_Q_CONNS);
		return old;
	}
	if (!conn)
		return OB_CONN_GONE;
	return __sync_val_compare_and_swap(&conn->state, from, to);
}

/*
 * The one place a service's state changes (enum ob_svc_state): to GOOD
 * only from PROBATION; to OVERFLOW from PROBATION or GOOD; to HALFCLOSE
 * or a guard's state from any state but those. HALFCLOSE and the guards'
 * states are final, OVERFLOW is left only for them. Returns 1 if it
 * changed. Compare-and-swap, retried: a half-close learned at the instant
 * another connection vouches for the service must win.
 */
static __always_inline int svc_final(__u32 state)
{
	return state == OB_SVC_HALFCLOSE || (state >= OB_SVC_WAITALL && state <= OB_SVC_ULP);
}

static __always_inline int svc_learn(struct ob_service *sv, __u32 to)
{
	for (int i = 0; i < 3 && sv; i++) {
		__u32 old = sv->state;

		if (old == to || svc_final(old) || (to == OB_SVC_GOOD && old != OB_SVC_PROBATION) ||
		    (to == OB_SVC_OVERFLOW && old == OB_SVC_OVERFLOW))
			return 0;
		if (__sync_val_compare_and_swap(&sv->state, old, to) == old)
			return 1;
	}
	return 0;
}

/* ======== Pairing (sock_ops): from the SYN to the end of the handshake ======== */

/* Takes a socket out of both sockhashes, at once (pairing failed). */
static __always_inline void unpair(struct ob_sock_key *key)
{
	bpf_map_delete_elem(&ob_sockhash, key);
	bpf_map_delete_elem(&ob_parking, key);
}

/* A paired socket also goes into ob_parking, and gets RTT callbacks (they
 * drive its leaving, and come only with TCP traffic). */
static __always_inline void park_too(struct bpf_sock_ops *skops, struct ob_sock_key *key,
				     struct ob_sk_state *st)
{
	if (bpf_sock_hash_update(skops, &ob_parking, key, BPF_NOEXIST))
		st->flags |= OB_SK_NOPARK;
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_RTT_CB_FLAG);
}

/* A socket of an enrolled connection that did not pair may be promoted
 * later (bypass.h, "Promotion"): counted in its namespace (promote visits
 * only those with some), and its ACKs call us back (RTT): they learn its
 * service from the live connection, and drive its leaving once promoted. */
static __always_inline void promotable_set(struct ob_sk_state *st)
{
	struct ob_netns *ns;

	if (!ob_promotion || (st->flags & OB_SK_PROMOTABLE))
		return;
	/* a client told at its handshake that a ledger would come: none did */
	ledger_release(st);
	st->flags |= OB_SK_PROMOTABLE;
	ns = bpf_map_lookup_elem(&ob_netns, &st->netns_cookie);
	if (ns)
		__sync_fetch_and_add(&ns->promotable, 1);
}

static __always_inline void promotable_mark(struct bpf_sock_ops *skops, struct ob_sk_state *st)
{
	if (!ob_promotion || (st->flags & OB_SK_PROMOTABLE))
		return;
	promotable_set(st);
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_RTT_CB_FLAG);
}

static __always_inline void promotable_clear(struct ob_sk_state *st)
{
	struct ob_netns *ns;

	if (!(st->flags & OB_SK_PROMOTABLE))
		return;
	st->flags &= ~OB_SK_PROMOTABLE;
	ns = bpf_map_lookup_elem(&ob_netns, &st->netns_cookie);
	if (ns)
		__sync_fetch_and_add(&ns->promotable, -1);
}

/* A promotion that is not made, counted by its service and namespace. */
static __always_inline void promote_skip(struct ob_sk_state *st, enum ob_skip why)
{
	struct ob_service *sv = bpf_map_lookup_elem(&ob_services, &st->svc);
	struct ob_counters *c = bpf_map_lookup_elem(&ob_counters, &st->netns_cookie);

	if (sv && why < OB_SKIP_N)
		__sync_fetch_and_add(&sv->skips[why], 1);
	COUNT(c, promote_skips, 1);
}

/* The first words of a TCP header: what the option's values are bound to. */
struct ob_tcp_head {
	__u16 source;
	__u16 dest;
	__u32 seq;
	__u32 ack_seq;
};

/* The host's secret (ob_settings.secret), or NULL. */
static __always_inline const __u64 *host_secret(void)
{
	__u32 zero = 0;
	struct ob_settings *s = bpf_map_lookup_elem(&ob_settings, &zero);

	return s ? s->secret : NULL;
}

static __always_inline __u64 opt_value(const struct ob_opt *o)
{
	__u64 v;

	__builtin_memcpy(&v, o->value, sizeof(v));
	return v;
}

/* Looks for our option in the current packet, or in the SYN. */
static __always_inline int load_opt(struct bpf_sock_ops *skops, struct ob_opt *o, __u64 flags)
{
	__builtin_memset(o, 0, sizeof(*o));
	o->kind = OB_OPT_KIND;
	o->len = 4; /* search by kind and 2-byte ExID */
	o->exid[0] = OB_OPT_EXID >> 8;
	o->exid[1] = OB_OPT_EXID & 0xff;
	if (bpf_load_hdr_opt(skops, o, sizeof(*o), flags) != OB_OPT_LEN)
		return -1;
	return o->len == OB_OPT_LEN ? 0 : -1;
}

static __always_inline void stop_hdr_callbacks(struct bpf_sock_ops *skops)
{
	bpf_sock_ops_cb_flags_set(
		skops, (skops->bpf_sock_ops_cb_flags & ~BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG) |
			       BPF_SOCK_OPS_STATE_CB_FLAG);
}

/* Returns what we know of the service, creating its entry on first sight. */
static __always_inline __u32 service_state(struct ob_svc_key *svc, struct ob_netns *ns)
{
	struct ob_service fresh = { .state = (ns->flags & OB_NETNS_TRUST) ? OB_SVC_GOOD
									  : OB_SVC_PROBATION };
	struct ob_service *sv = bpf_map_lookup_elem(&ob_services, svc);

	if (!sv) {
		if (!quota_take(svc->netns_cookie, OB_Q_SERVICES))
			return OB_SVC_OVER_QUOTA; /* stay stock */
		if (bpf_map_update_elem(&ob_services, svc, &fresh, BPF_NOEXIST))
			quota_put(svc->netns_cookie, OB_Q_SERVICES); /* full, or made meanwhile */
		sv = bpf_map_lookup_elem(&ob_services, svc);
	}
	return sv ? sv->state : OB_SVC_UNTRACKED; /* table full: stay stock */
}

/* svc_learn() on a service's entry, made first if the handshake that
 * verified its connection has not made it yet (the client side learns
 * before the server's side completes). */
static __always_inline int svc_learn_key(struct ob_svc_key *svc, __u32 to)
{
	struct ob_netns *ns = bpf_map_lookup_elem(&ob_netns, &svc->netns_cookie);

	if (ns)
		service_state(svc, ns);
	return svc_learn(bpf_map_lookup_elem(&ob_services, svc), to);
}

/* What we know of the service, as service_state() would say, but making
 * no entry: a SYN-ACK answers a SYN that may never complete (a replay), and
 * only a handshake that completes with a verified option makes one
 * (passive_established()). */
static __always_inline __u32 service_peek(struct ob_svc_key *svc, struct ob_netns *ns)
{
	struct ob_service *sv = bpf_map_lookup_elem(&ob_services, svc);

	if (sv)
		return sv->state;
	return (ns->flags & OB_NETNS_TRUST) ? OB_SVC_GOOD : OB_SVC_PROBATION;
}

/* The client's address (bypass.h, struct ob_addr): its own on the SYN,
 * the server's view of it on the SYN-ACK (a request socket's remote). */
static __always_inline struct ob_addr client_addr(struct bpf_sock_ops *skops, int own)
{
	__u32 w[4];

	if (own) {
		w[0] = skops->local_ip6[0];
		w[1] = skops->local_ip6[1];
		w[2] = skops->local_ip6[2];
		w[3] = skops->local_ip6[3];
		return ob_addr_norm(skops->family == AF_INET6, skops->local_ip4, w);
	}
	w[0] = skops->remote_ip6[0];
	w[1] = skops->remote_ip6[1];
	w[2] = skops->remote_ip6[2];
	w[3] = skops->remote_ip6[3];
	return ob_addr_norm(skops->family == AF_INET6, skops->remote_ip4, w);
}

/* A SYN-ACK answers only a SYN of this host's, from the address it was
 * made for: the SYN's option must be the MAC of the client's ISN (isn)
 * and address; o gets the option. */
static __always_inline int syn_verified(struct bpf_sock_ops *skops, const __u64 *key, __u32 isn,
					struct ob_opt *o)
{
	struct ob_addr a;

	if (load_opt(skops, o, BPF_LOAD_HDR_OPT_TCP_SYN))
		return 0;
	a = client_addr(skops, 0);
	return opt_value(o) == ob_syn_mac(key, isn, &a);
}

/* Option space: on our SYN, and on a SYN-ACK only once the SYN's MAC
 * verifies, so that a probe with any option of our kind gets a SYN-ACK
 * like a host without oci-bypass would send. The SYN's header (its ISN)
 * is there for the asking while the SYN-ACK is made. */
static __always_inline void hdr_opt_len(struct bpf_sock_ops *skops, __u64 cookie)
{
	__u8 flags = skops->skb_tcp_flags;
	struct ob_tcp_head syn;
	const __u64 *key;
	struct ob_opt o;
	long ret;

	if (!(flags & OB_TCPHDR_SYN))
		return;
	if (!bpf_map_lookup_elem(&ob_netns, &cookie) || !pairing_allowed())
		return;
	if (flags & OB_TCPHDR_ACK) {
		key = host_secret();
		/* the header is longer than what we copy: ENOSPC, copied */
		ret = bpf_getsockopt(skops, OB_SOL_TCP, TCP_BPF_SYN, &syn, sizeof(syn));
		if (!key || (ret < 0 && ret != -OB_ENOSPC) ||
		    !syn_verified(skops, key, bpf_ntohl(syn.seq), &o))
			return;
	}
	bpf_reserve_hdr_opt(skops, OB_OPT_LEN, 0);
}

static __always_inline void write_hdr_opt(struct bpf_sock_ops *skops, __u64 cookie)
{
	struct ob_tcp_head *th = (void *)(long)skops->skb_data;
	__u8 flags = skops->skb_tcp_flags;
	const __u64 *key;
	struct ob_netns *ns;
	struct ob_opt o;
	__u64 value;

	if (!(flags & OB_TCPHDR_SYN))
		return;
	ns = bpf_map_lookup_elem(&ob_netns, &cookie);
	if (!ns || !pairing_allowed())
		return;
	key = host_secret();
	if (!key || (void *)(th + 1) > (void *)(long)skops->skb_data_end)
		return;
	/* the client's ISN is acknowledged here, + 1 (no space was
	 * reserved unless it verified: hdr_opt_len()) */
	if ((flags & OB_TCPHDR_ACK) && !syn_verified(skops, key, bpf_ntohl(th->ack_seq) - 1, &o))
		return;
	o.kind = OB_OPT_KIND;
	o.len = OB_OPT_LEN;
	o.exid[0] = OB_OPT_EXID >> 8;
	o.exid[1] = OB_OPT_EXID & 0xff;
	o.port[0] = 0;
	o.port[1] = 0;
	o.flags = 0;
	if (!(flags & OB_TCPHDR_ACK)) {
		struct ob_addr a = client_addr(skops, 1);

		value = ob_syn_mac(key, bpf_ntohl(th->seq), &a);
		__builtin_memcpy(o.value, &value, sizeof(value));
		bpf_store_hdr_opt(skops, &o, sizeof(o), 0);
		return;
	}
	o.port[0] = skops->local_port >> 8;
	o.port[1] = skops->local_port & 0xff;
	o.flags = OB_OPT_PAIR;
	{
		/* The server decides now whether it will pair, so that a
		 * client it will not pair with never enters the sockhash
		 * (invariant 1): there a blocking reader would be open to
		 * tcp_bpf_recvmsg()'s spurious EAGAIN until this side took
		 * it out again. PASSIVE_ESTABLISHED checks once more. */
		struct ob_svc_key svc = { .netns_cookie = cookie, .port = skops->local_port };

		if (port_excluded(cookie, skops->local_port) ||
		    service_peek(&svc, ns) != OB_SVC_GOOD)
			o.flags = 0;
	}
	value = ob_seal(key, cookie, o.flags, skops->local_port, bpf_ntohl(th->ack_seq) - 1,
			bpf_ntohl(th->seq));
	__builtin_memcpy(o.value, &value, sizeof(value));
	o.flags ^= ob_flags_mask(key, bpf_ntohl(th->ack_seq) - 1, bpf_ntohl(th->seq));
	bpf_store_hdr_opt(skops, &o, sizeof(o), 0);
}

static __always_inline void count_insert_error(struct ob_counters *c, long err)
{
	if (err == -OB_EBUSY)
		COUNT(c, ebusy, 1);
	else if (err == -OB_E2BIG || err == -OB_ENOMEM || err == -OB_ENOSPC)
		COUNT(c, full, 1);
	else
		COUNT(c, refused, 1);
}

/* The one place a socket's direction changes (enum ob_dir): only by the
 * steps ob_dir_allowed() names (bypass.h); any other is refused: returns
 * 0, and the direction stays. In the way of conn_step(). */
static __always_inline int sk_dir_step(struct ob_sk_state *st, __u32 to, enum ob_step when)
{
	if (st->dir == to)
		return 1;
	if (!ob_dir_allowed(st->dir, to, when))
		return 0;
	st->dir = to;
	return 1;
}

/* A socket's state as pairing starts: on TCP until both sides are in. */
static __always_inline void sk_state_init(struct ob_sk_state *st, __u64 cookie, __u32 role)
{
	st->netns_cookie = cookie;
	st->role = role;
	st->dir = OB_DIR_TCP;
	st->active = 0;
	st->flags = 0;
	st->seen_peer_sends = 0;
	st->run_start = 0;
	st->left_at = 0;
	st->seen_read = 0;
	st->progress_at = 0;
	st->run = 0;
	st->peer_netns = 0;
	st->promoted_at = 0;
	st->tried_at = 0;
	st->tries = 0;
	/* st->guard stays: set before connect() (ob_setsockopt), it keeps
	 * the connection from pairing (active_established()) */
}

/* Client side: the SYN-ACK is in hand, the ACK not yet sent. */
static __always_inline void active_established(struct bpf_sock_ops *skops, __u64 cookie)
{
	struct ob_conn conn = { .state = OB_CONN_NEW }, *entry;
	struct ob_sock_key key = {}, peer = {};
	struct bpf_sock *sk = skops->sk;
	struct ob_counters *c;
	struct ob_sk_state *st;
	struct ob_opt o;
	const __u64 *secret;
	__u64 server_cookie;
	__u16 port;
	long err;

	stop_hdr_callbacks(skops);
	if (!bpf_map_lookup_elem(&ob_netns, &cookie) || !pairing_allowed())
		return;
	secret = host_secret();
	if (!secret || load_opt(skops, &o, 0))
		return; /* peer is not an enrolled endpoint (invariant 1) */
	port = ((__u16)o.port[0] << 8) | o.port[1];
	o.flags ^= ob_flags_mask(secret, skops->snd_nxt - 1, skops->rcv_nxt - 1);
	server_cookie = ob_seal(secret, opt_value(&o), o.flags, port, skops->snd_nxt - 1,
				skops->rcv_nxt - 1);
	if (!bpf_map_lookup_elem(&ob_netns, &server_cookie))
		return; /* not sealed by this host (copied, forged, or flags
			 * changed), or the server's netns was withdrawn */
	c = bpf_map_lookup_elem(&ob_counters, &cookie);
	if (!connection_is_clean(skops) ||
	    port_excluded(cookie, ob_remote_port(skops->remote_port)) || !sk) {
		COUNT(c, refused, 1);
		return;
	}
	if ((o.flags & OB_OPT_PAIR) && pairing_over_budget(cookie)) {
		COUNT(c, over_budget, 1);
		return; /* stays out: the server finds no entry, stock TCP */
	}

	key.conn = ob_conn_key_client(server_cookie, skops->snd_nxt, skops->rcv_nxt);
	key.role = OB_ROLE_CLIENT;
	peer.conn = key.conn;
	peer.role = OB_ROLE_SERVER;

	st = bpf_sk_storage_get(&ob_sk_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		COUNT(c, full, 1);
		return;
	}
	st->peer = peer;
	st->svc.netns_cookie = server_cookie;
	st->svc.port = port;
	sk_state_init(st, cookie, OB_ROLE_CLIENT);
	st->peer_netns = server_cookie;
	if (st->guard) {
		/* set before connect(): the service learns it, and this
		 * connection stays on stock TCP (the server finds no entry) */
		svc_learn_key(&st->svc, st->guard);
		COUNT(c, guarded, 1);
		return;
	}

	/* The entry is ours: one of our namespace's conn slots (quotas,
	 * bypass.h), given back by whoever deletes it (conn_step()). */
	conn.client_netns = cookie;
	conn.created = bpf_ktime_get_ns();
	if (!quota_take(cookie, OB_Q_CONNS)) {
		COUNT(c, over_quota, 1);
		return; /* the server finds no entry: stock TCP */
	}
	if (!(o.flags & OB_OPT_PAIR)) {
		/* The server will not pair: stay out of the sockhash, and
		 * tell the server only that we are enrolled (it learns its
		 * service from this connection). Ours to delete at close,
		 * should the server never take it. */
		conn.state = OB_CONN_LEARN;
		if (!bpf_map_update_elem(&ob_conns, &key.conn, &conn, BPF_NOEXIST)) {
			st->flags |= OB_SK_OWNS_CONN;
			promotable_mark(skops, st); /* the server marks itself too */
		} else {
			quota_put(cookie, OB_Q_CONNS);
		}
		return;
	}
	if (!quota_take(cookie, OB_Q_SOCKETS)) {
		quota_put(cookie, OB_Q_CONNS);
		COUNT(c, over_quota, 1);
		return;
	}
	st->flags |= OB_SK_SLOT;
	conn.client_rcvbuf = own_rcvbuf(skops);
	conn.client_cookie = bpf_get_socket_cookie(skops);
	err = bpf_map_update_elem(&ob_conns, &key.conn, &conn, BPF_NOEXIST);
	if (err) {
		quota_put(cookie, OB_Q_CONNS);
		slot_release(st);
		COUNT(c, full, 1);
		return;
	}
	err = bpf_sock_hash_update(skops, &ob_sockhash, &key, BPF_NOEXIST);
	if (err) {
		conn_step(&key.conn, NULL, 0, OB_CONN_GONE);
		slot_release(st);
		count_insert_error(c, err);
		return;
	}
	park_too(skops, &key, st);
	/* only where the peer's psock is read (ledger_queued()), or a move
	 * may come back (promote_ready() reads the peer) */
	entry = (KERNEL_COUNTS_UNREAD || ob_promotion) ? bpf_map_lookup_elem(&ob_conns, &key.conn)
						       : NULL;
	if (entry && skops->sk)
		entry->client_sk = bpf_skc_to_tcp_sock(skops->sk);
	/* a ledger entry, if the server makes one, counts on our close */
	st->flags |= OB_SK_LEDGER;
	sk_dir_step(st, OB_DIR_PENDING, OB_STEP_HANDSHAKE);
}

/* Server side refuses to pair: the client must leave the sockhash before
 * anything reaches it by TCP, and learns REFUSED at its first sendmsg. */
/* Returns the state it found: NEW if this refusal is what kept the
 * connection on TCP, CLIENT_TCP if the client's first write did (and was
 * counted as client_first) in the meantime. */
static __always_inline __u32 refuse(struct ob_conn *conn, struct ob_sock_key *client)
{
	__u32 old = conn_step(&client->conn, conn, OB_CONN_NEW, OB_CONN_REFUSED);

	unpair(client);
	if (old == OB_CONN_CLIENT_TCP || old == OB_CONN_LEARN)
		conn_step(&client->conn, conn, 0, OB_CONN_GONE);
	return old;
}

/* Both sockets into the new ledger entry (kptrs, in BPF only), before the
 * client can see READY: the client's from its conn entry, ours. */
static __always_inline void ledger_set_socks(const struct ob_conn_key *k, struct ob_conn *conn,
					     struct bpf_sock *sk)
{
	struct ob_ledger *l = bpf_map_lookup_elem(&ob_ledger, k);

	/* Always true. It makes clang describe struct tcp_sock in full: the
	 * kernel takes a kptr's target only as a struct, not a declaration. */
	if (!bpf_core_type_exists(struct tcp_sock))
		return;
	/* Only the kernels that count unread bytes (ledger_queued()) or
	 * promote (promote_ready(), for moves that come back) need them:
	 * elsewhere no socket is stored, and kptrs are not needed (5.15). */
	if (!(KERNEL_COUNTS_UNREAD || ob_promotion) || !l || !sk)
		return;
	l->sk0 = conn->client_sk;
	l->sk1 = bpf_skc_to_tcp_sock(sk);
}

/* Server side: the ACK that completes the handshake is in hand. */
/* passive_established() backs out of a pairing it began, as far as it
 * got (its undo steps, all here): the ledger entry, if it made one; the
 * socket out of both sockhashes, if it got in (inserted: not when our
 * insert failed, the key is another socket's then); its slot; and its
 * direction back to TCP. Nothing was redirected to it yet. The
 * connection's entry and the client are the caller's. */
static __always_inline void passive_undo(struct ob_sk_state *st, struct ob_sock_key *key,
					 int inserted)
{
	struct ob_ledger *l;

	if (st->flags & OB_SK_LEDGER) {
		st->flags &= ~OB_SK_LEDGER;
		l = bpf_map_lookup_elem(&ob_ledger, &key->conn);
		if (l)
			ledger_drop(&key->conn, l); /* nothing charged yet: its quota */
	}
	if (inserted)
		unpair(key);
	slot_release(st);
	sk_dir_step(st, OB_DIR_TCP, OB_STEP_HANDSHAKE);
}

static __always_inline void passive_established(struct bpf_sock_ops *skops, __u64 cookie)
{
	struct ob_sock_key key = {}, client = {};
	struct ob_ledger ledger = {};
	struct bpf_sock *sk;
	struct ob_counters *c;
	struct ob_sk_state *st;
	struct ob_netns *ns;
	struct ob_conn *conn;
	__u32 old, svc_state;
	long err;
	int made;

	stop_hdr_callbacks(skops);
	key.conn = ob_conn_key_server(cookie, skops->snd_nxt, skops->rcv_nxt);
	key.role = OB_ROLE_SERVER;
	client.conn = key.conn;
	client.role = OB_ROLE_CLIENT;

	conn = bpf_map_lookup_elem(&ob_conns, &key.conn);
	if (!conn)
		return; /* the client is not pairing with us */
	c = bpf_map_lookup_elem(&ob_counters, &cookie);
	ns = bpf_map_lookup_elem(&ob_netns, &cookie);
	sk = skops->sk;
	st = sk ? bpf_sk_storage_get(&ob_sk_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE) : NULL;
	if (!ns || !st || !pairing_allowed() || port_excluded(cookie, skops->local_port)) {
		COUNT(c, refused, 1);
		refuse(conn, &client);
		return;
	}
	st->peer = client;
	st->svc.netns_cookie = cookie;
	st->svc.port = skops->local_port;
	sk_state_init(st, cookie, OB_ROLE_SERVER);
	st->peer_netns = conn->client_netns;
	/* the handshake completed with a verified option (the client made
	 * the conn entry): the service's entry is made now, not at the
	 * SYN-ACK (service_peek()) */
	svc_state = service_state(&st->svc, ns);
	if (!connection_is_clean(skops)) {
		/* bytes crossed already (a TCP_DEFER_ACCEPT server completes
		 * only once the client wrote): stock TCP, and a promotion
		 * may follow, at a quiescent moment (invariant 3) */
		COUNT(c, refused, 1);
		refuse(conn, &client);
		promotable_mark(skops, st);
		return;
	}

	if (conn->state == OB_CONN_LEARN) {
		/* We said at SYN-ACK that we would not pair; the service may
		 * have become GOOD since, but the client is not in the
		 * sockhash: stock TCP, watched by state_change(), promoted
		 * once its service is learned (bypass.h, "Promotion"). */
		if (svc_state == OB_SVC_PROBATION || svc_state == OB_SVC_GOOD) {
			COUNT(c, probation, 1);
			promotable_mark(skops, st);
		} else if (svc_state == OB_SVC_UNTRACKED)
			COUNT(c, full, 1);
		else if (svc_state == OB_SVC_OVER_QUOTA)
			COUNT(c, over_quota, 1);
		else
			COUNT(c, guarded, 1);
		conn_step(&key.conn, conn, 0, OB_CONN_GONE);
		return;
	}
	if (svc_state != OB_SVC_GOOD) {
		/* stock TCP, watched by state_change(); promoted once its
		 * service is learned (the client's promotable once it left) */
		if (svc_state == OB_SVC_PROBATION) {
			COUNT(c, probation, 1);
			promotable_mark(skops, st);
		} else if (svc_state == OB_SVC_UNTRACKED)
			COUNT(c, full, 1);
		else if (svc_state == OB_SVC_OVER_QUOTA)
			COUNT(c, over_quota, 1);
		else
			COUNT(c, guarded, 1);
		refuse(conn, &client);
		return;
	}
	if (pairing_over_budget(cookie)) {
		COUNT(c, over_budget, 1);
		refuse(conn, &client);
		promotable_mark(skops, st);
		return;
	}
	if (conn->state != OB_CONN_NEW) {
		/* The client already wrote by TCP: it leaves the sockhash
		 * before anything of ours can reach it. */
		unpair(&client);
		conn_step(&key.conn, conn, 0, OB_CONN_GONE);
		promotable_mark(skops, st);
		return;
	}

	if (!quota_take(cookie, OB_Q_SOCKETS)) {
		if (refuse(conn, &client) == OB_CONN_NEW)
			COUNT(c, over_quota, 1);
		promotable_mark(skops, st);
		return;
	}
	st->flags |= OB_SK_SLOT;
	sk_dir_step(st, OB_DIR_REDIRECT, OB_STEP_HANDSHAKE);
	err = bpf_sock_hash_update(skops, &ob_sockhash, &key, BPF_NOEXIST);
	if (err) {
		passive_undo(st, &key, 0);
		/* each connection counted once: if the client wrote first
		 * meanwhile, it was counted as client_first */
		if (refuse(conn, &client) == OB_CONN_NEW)
			count_insert_error(c, err);
		return;
	}
	park_too(skops, &key, st);
	/* The ledger, before the client can see READY. */
	ledger.netns[OB_IDX(OB_ROLE_CLIENT)] = conn->client_netns;
	ledger.netns[OB_IDX(OB_ROLE_SERVER)] = cookie;
	ledger.rcvbuf[OB_IDX(OB_ROLE_CLIENT)] = conn->client_rcvbuf;
	ledger.rcvbuf[OB_IDX(OB_ROLE_SERVER)] = own_rcvbuf(skops);
	ledger.cookie[OB_IDX(OB_ROLE_CLIENT)] = conn->client_cookie;
	ledger.cookie[OB_IDX(OB_ROLE_SERVER)] = bpf_get_socket_cookie(skops);
	ledger.refs = 2;
	ledger.joined = 3; /* both in ob_sockhash ("Moves that come back") */
	ledger.redirecting = 1ull << OB_IDX(OB_ROLE_SERVER); /* we do from now on */
	made = ledger_make(&key.conn, &ledger);
	if (made) {
		passive_undo(st, &key, 1);
		if (refuse(conn, &client) == OB_CONN_NEW) {
			if (made == 1)
				COUNT(c, over_quota, 1);
			else
				COUNT(c, full, 1);
		}
		return;
	}
	st->flags |= OB_SK_LEDGER;
	ledger_set_socks(&key.conn, conn, skops->sk);
	old = conn_step(&key.conn, conn, OB_CONN_NEW, OB_CONN_SERVER_READY);
	if (old != OB_CONN_NEW) {
		/* The client wrote first, in the instant between our check and
		 * the insert. Nothing was redirected to us: leave again. */
		passive_undo(st, &key, 1);
		unpair(&client);
		conn_step(&key.conn, conn, 0, OB_CONN_GONE);
		promotable_mark(skops, st);
		return;
	}
	st->active = 1;
	COUNT(c, sockets, 1);
	COUNT(c, paired, 1);
}

/* Can a reader of this socket block in recv()? Its file is not O_NONBLOCK
 * (a kernel socket, without a file, counts as blocking). */
static __always_inline int file_blocking(struct sock___ob *sk)
{
	struct socket___ob *sock = sk->sk_socket;
	struct file___ob *file;

	if (!sock)
		return 0;
	file = sock->file;
	if (!file)
		return 1;
	return !(file->f_flags & OB_O_NONBLOCK);
}

/* ======== Guards: what a redirect cannot give keeps a service on TCP ======== */

/*
 * A socket of an enrolled connection was seen using MSG_WAITALL, splice,
 * SO_RCVLOWAT, SO_ZEROCOPY or TCP_ULP (enum ob_svc_state): its service
 * stays on stock TCP from now on, whatever probation or --trust said, and
 * if the connection redirects, both of its directions move to TCP
 * (ledger.moved: each side's next sendmsg sees it, ob_msg). What was
 * redirected before is read first, in order. Called without the socket
 * lock from the fentry programs: it writes only st->guard, the service
 * (compare-and-swap) and ledger.moved (compare-and-swap); the socket's
 * own direction is changed by its sk_msg program, under the lock.
 */
static __always_inline void guard_move(struct ob_sk_state *st, struct ob_ledger *l)
{
	struct ob_counters *c;

	if (__sync_val_compare_and_swap(&l->moved, 0, 1) == 0) {
		c = bpf_map_lookup_elem(&ob_counters, &st->netns_cookie);
		COUNT(c, guard_moves, 1);
	}
}

static __always_inline void guard(struct ob_sk_state *st, __u32 why)
{
	struct ob_ledger *l;

	st->guard = why;
	if (st->svc.netns_cookie)
		svc_learn_key(&st->svc, why);
	/* A client that has not written yet, whose server is not ready:
	 * as if it had written first, the server will not pair and takes
	 * it out of the sockhash (passive_established()). */
	if (st->role == OB_ROLE_CLIENT && st->dir == OB_DIR_PENDING)
		conn_step(&st->peer.conn, bpf_map_lookup_elem(&ob_conns, &st->peer.conn),
			  OB_CONN_NEW, OB_CONN_CLIENT_TCP);
	l = (st->flags & OB_SK_LEDGER) ? bpf_map_lookup_elem(&ob_ledger, &st->peer.conn) : NULL;
	if (l)
		guard_move(st, l);
}

/* What the setsockopt() about to run means for us: a guard's state, or 0. */
static __always_inline __u32 sockopt_guard(struct bpf_sockopt *ctx)
{
	int *val = ctx->optval;

	if (ctx->level == OB_SOL_TCP && ctx->optname == OB_TCP_ULP)
		return OB_SVC_ULP;
	if (ctx->level != OB_SOL_SOCKET || (void *)(val + 1) > ctx->optval_end)
		return 0;
	/* SO_RCVLOWAT 0 and 1 are the default; SO_ZEROCOPY 0 turns it off */
	if (ctx->optname == OB_SO_RCVLOWAT && *val > 1)
		return OB_SVC_RCVLOWAT;
	if (ctx->optname == OB_SO_ZEROCOPY && *val)
		return OB_SVC_ZEROCOPY;
	return 0;
}

/* ======== The verdict (sk_msg): redirect, or move to TCP ======== */

/* The client's first sendmsg settles the connection for good. */
static __always_inline __u32 client_decide(struct ob_sk_state *st, struct ob_counters *c,
					   struct ob_ledger *l)
{
	struct ob_conn *conn = bpf_map_lookup_elem(&ob_conns, &st->peer.conn);
	__u32 old = OB_CONN_REFUSED;

	if (conn)
		old = conn_step(&st->peer.conn, conn, OB_CONN_NEW, OB_CONN_CLIENT_TCP);
	if (old == OB_CONN_SERVER_READY) {
		/* we redirect from now on: said before the entry goes, so that
		 * promote_one() sees one or the other (a server that left may
		 * not come back under our first redirect) */
		if (l)
			__sync_fetch_and_or(&l->redirecting, 1ull << OB_IDX(st->role));
		conn_step(&st->peer.conn, conn, 0, OB_CONN_GONE);
		st->active = 1;
		COUNT(c, sockets, 1);
		COUNT(c, paired, 1);
		return OB_DIR_REDIRECT;
	}
	/* NEW: the server will see CLIENT_TCP at its PASSIVE_ESTABLISHED
	 * and take us out of the sockhash (sk_msg programs may not delete
	 * from a sockmap), before it can send us anything. REFUSED: the
	 * server already did. */
	if (old == OB_CONN_NEW) {
		COUNT(c, client_first, 1);
		/* the server deletes the entry when it takes us out; should
		 * it never get there (killed in the handshake, outside the
		 * sock_ops cgroup), ours to delete at close */
		st->flags |= OB_SK_OWNS_CONN;
	} else if (conn)
		conn_step(&st->peer.conn, conn, 0, OB_CONN_GONE);
	/* Should the server side never get to take us out (its socket is
	 * outside the sock_ops cgroup), we leave by ourselves. Nothing was
	 * redirected to us: the connection may be promoted once we are out
	 * (its ACKs already call us back, park_too()). */
	st->flags |= OB_SK_LEAVING;
	if (!st->guard)
		promotable_set(st);
	return OB_DIR_TCP;
}

/* Is anyone waiting on the socket (a reader blocked in recv(), or a poll
 * or epoll entry)? */
static __always_inline int someone_waiting(struct sock___ob *sk)
{
	struct socket_wq___ob *wq = sk->sk_wq;

	if (!wq)
		return 0;
	return wq->wait.head.next != &wq->wait.head;
}

/* Two threads wait on this blocking socket at once: a reader blocked in
 * recv() beside a writer blocked in send() for room (full duplex), whose
 * wake-ups at each ACK would reach the reader without data (bypass.h,
 * "Promotion"). One thread waiting, to read or to write, is not it. */
static __always_inline int duplex_now(struct sock___ob *sk)
{
	struct socket_wq___ob *wq;
	struct list_head___ob *first;

	if (!sk || !file_blocking(sk))
		return 0;
	wq = sk->sk_wq;
	if (!wq)
		return 0;
	first = wq->wait.head.next;
	return first != &wq->wait.head && first->next != &wq->wait.head;
}

/* Someone waits on the blocking socket while its bytes are still in
 * flight: seen by the writer itself at its sendmsg, someone else (a reader
 * thread); seen at an ACK, the one thread of a request/response exchange
 * too, waiting for the answer while its request is not all acknowledged
 * (a request of several segments): not promoted either (bypass.h). */
static __always_inline int duplex_sending(struct sock___ob *sk)
{
	struct tcp_sock___ob *tp = (struct tcp_sock___ob *)sk;

	return sk && file_blocking(sk) && someone_waiting(sk) && tp->snd_una != tp->write_seq;
}

/* Why a redirecting direction moves to TCP (for good, or until it comes
 * back: move_tcp()), or OB_STAY. */
enum ob_move {
	OB_STAY = 0,
	OB_MOVE_BOUND,		/* the peer fell a bound behind */
	OB_MOVE_BOUND_WAITING,	/* the same, and a reader waits on our blocking socket */
	OB_MOVE_STOPPED,	/* the peer stopped reading (push-back) */
	OB_MOVE_BUDGET,		/* our namespace spent its budget */
	OB_MOVE_BUDGET_WAITING, /* it did, and a reader waits on our socket */
	OB_MOVE_SMALL,		/* small messages streamed */
};

/* The sending socket, where it can be read (NULL if not). */
static __always_inline struct sock___ob *msg_sock(struct sk_msg_md *msg)
{
	return msg->sk ? (struct sock___ob *)bpf_skc_to_tcp_sock(msg->sk) : NULL;
}

/* Could a reader blocked on this socket meet the spurious EAGAIN if its
 * direction moved to TCP (bypass.h, enum ob_svc_state)? A blocking socket
 * that reads too: its peer has sent it something, or a reader has been
 * seen waiting on it, now or at any message before. Only a sighting is
 * not enough: the reader of a full-duplex application is not on the wait
 * queue at every instant (it may be copying what it got, or waiting for a
 * CPU: under qemu's TCG, 16 full-duplex streams met the EAGAIN that way),
 * so what the socket received counts as well, for the life of the
 * socket (note_reader(), at every look at the peer; the fast path in
 * between notes only what the socket received: a move is made at a look,
 * which sights a reader waiting then). A blocking socket that only writes
 * is not at risk. */
static __always_inline int reader_at_risk(int blocking, struct ob_sk_state *st)
{
	return blocking && (st->flags & OB_SK_READER);
}

/* OB_SK_READER: the peer has sent this socket something, or someone
 * waits on it now (blocking or not: reader_at_risk() asks that when it
 * matters, since O_NONBLOCK may change). */
static __always_inline void note_reader(struct sock___ob *sk, struct ob_sk_state *st,
					struct ob_ledger *l)
{
	if (!(st->flags & OB_SK_READER) && sk && (l->sent[OB_IDX(st->role)] || someone_waiting(sk)))
		st->flags |= OB_SK_READER;
}

/*
 * TCP's window toward the peer, in payload bytes (bypass.h, "Push-back"):
 * half of its receive buffer and of our send buffer (the rest of each is
 * the kernel's overhead). From the ledger's copy of the peer's buffer;
 * fresh is its live size.
 */
static __always_inline __u64 window(struct ob_ledger *l, __u32 peer, struct sock___ob *sk,
				    __s32 fresh)
{
	__s64 rcv = fresh > 0 ? fresh : (__s64)l->rcvbuf[peer & 1], snd = sk ? sk->sk_sndbuf : 0;

	return (__u64)((rcv > 0 ? rcv : 0) + (snd > 0 ? snd : 0)) / 2;
}

/*
 * Past the window from the ledger's copy: looks at the peer itself (its
 * live receive buffer, through the ledger's kptr, checked against its
 * cookie) and says whether the sender is still past it, and whether the
 * window is to be held exactly (2), not after the stall (1): when
 * the application can tell, because it set our send buffer (SO_SNDBUF),
 * the peer's receive buffer (SO_RCVBUF) or a send timeout (SO_SNDTIMEO),
 * or because we do not block (send()'s EAGAIN shows the window) and the
 * peer has read nothing yet and nobody waits on it (a server that accepts
 * and does not read). Not so for a blocking sender: its socket may get a
 * reader thread that nothing has shown yet (reader_at_risk()), which a
 * move before that thread's first recv() would expose to the spurious
 * EAGAIN (t_integrity's full-duplex streams met it so).
 */
static __always_inline int window_full(struct ob_ledger *l, __u32 peer, struct sock___ob *sk,
				       int blocking, __u64 after, __u64 read)
{
	struct sock___ob *p = ledger_sk(l, peer);
	__u64 cookie = l->cookie[peer & 1];
	__u8 mine = 0, theirs = 0;
	__s32 rcv = 0;
	int exact = 0, waiting = 1;

	if (sk) {
		mine = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_userlocks);
		exact = (mine & OB_SOCK_SNDBUF_LOCK) || sk->sk_sndtimeo != OB_MAX_SCHEDULE_TIMEOUT;
	}
	if (p && cookie && sk_cookie_of(p) == cookie) {
		rcv = p->sk_rcvbuf;
		theirs = BPF_CORE_READ_BITFIELD_PROBED(p, sk_userlocks);
		waiting = someone_waiting(p);
		if (sk_cookie_of(p) != cookie)
			rcv = 0, theirs = 0, waiting = 1;
	}
	if (rcv > 0)
		l->rcvbuf[peer & 1] = rcv;
	exact = exact || (theirs & OB_SOCK_RCVBUF_LOCK) || (!read && !waiting && sk && !blocking);
	return after > window(l, peer, sk, rcv) ? 1 + exact : 0;
}

/*
 * May the fast path run past TCP's window without a look (peer_backlog())?
 * Only where push-back would not hold it exactly (window_full()): the peer
 * has read something, so that whether we block no longer counts, and
 * neither socket has its buffer or a send timeout set (a setsockopt that
 * sets one gives the credit back: credit_back()). The peer is read through
 * the ledger's kptr, checked against its cookie before and after.
 */
static __always_inline int window_loose(struct ob_ledger *l, __u32 peer, struct sock___ob *sk,
					__u64 read)
{
	struct sock___ob *p = ledger_sk(l, peer);
	__u64 cookie = l->cookie[peer & 1];
	__u8 theirs;

	if (!read || !sk || !p || !cookie || sk_cookie_of(p) != cookie)
		return 0;
	if ((BPF_CORE_READ_BITFIELD_PROBED(sk, sk_userlocks) & OB_SOCK_SNDBUF_LOCK) ||
	    sk->sk_sndtimeo != OB_MAX_SCHEDULE_TIMEOUT)
		return 0;
	theirs = BPF_CORE_READ_BITFIELD_PROBED(p, sk_userlocks);
	return !(theirs & OB_SOCK_RCVBUF_LOCK) && sk_cookie_of(p) == cookie;
}

/*
 * Bounds on what the peer has not read yet (bypass.h: push-back, bounds,
 * budgets). A redirected message is queued on the peer without regard to
 * its receive buffer (bpf_tcp_ingress() only checks global TCP memory), so
 * the sender's direction moves to TCP, where flow control blocks it:
 *  - once the peer has more than TCP's window unread: at once where the
 *    application could tell, else once it has also read nothing for
 *    stall_ns (push-back, window_full());
 *  - past OB_INGRESS_MAX (OB_INGRESS_MAX_BLOCKING for a blocking sender)
 *    unread, a reader however busy;
 *  - once this namespace, or the host, has its budget of unread bytes out.
 * Moving redirect -> TCP keeps the order: everything redirected is already
 * on the peer's redirect queue, which recvmsg() drains before the TCP
 * queue. A blocking sender with a reader waiting on its socket (at risk of
 * the spurious EAGAIN once it moves) is left be by push-back, and moves
 * only past its own bound (*_WAITING, which also keeps the service's next
 * connections on TCP) or its namespace's budget (*_WAITING, learned by no
 * service: bypass.h, "Budgets").
 */
static __always_inline enum ob_move peer_backlog(struct sock___ob *sk, struct ob_sk_state *st,
						 struct ob_ledger *l, const struct ob_settings *s,
						 struct ob_netns *ns, __u32 size, __u64 *cap)
{
	__u32 peer = OB_IDX(st->role) ^ 1;
	/* brought up to date by ob_msg just before (ledger_catch_up()) */
	__u64 unread = ledger_unread(l, peer);
	__u64 after = unread + size, read = l->read[peer & 1];
	__u64 max = OB_INGRESS_MAX, max_blocking = OB_INGRESS_MAX_BLOCKING, stall = OB_STALL_NS;
	/* the budgets are asked only for what is not charged yet (reserve()) */
	__u64 charged = l->charged[peer & 1], more = after > charged ? after - charged : 0;
	int blocking, risk, full, budget;

	if (s) {
		if (s->ingress_max)
			max = s->ingress_max;
		if (s->ingress_max_blocking)
			max_blocking = s->ingress_max_blocking;
		if (s->stall_ns)
			stall = s->stall_ns;
	}
	/* The peer read something since we last looked, or has read it all.
	 * The stall window is measured by the tick (the coarse clock: no
	 * clock source read on every message, which costs more than a map
	 * lookup under a hypervisor). */
	if (read != st->seen_read || !unread) {
		st->seen_read = read;
		st->progress_at = bpf_ktime_get_coarse_ns();
	}
	/* a reader seen on this socket, at any look (reader_at_risk()) */
	note_reader(sk, st, l);
	budget = over_budget(ns, s, more);
	/* Nothing near: most messages end here, without reading what the
	 * socket is (three cache lines: its file, for O_NONBLOCK). */
	if (after <= max && !budget && after <= window(l, peer, sk, 0)) {
		/* the credit may pass the window where push-back would
		 * wait for the stall window there anyway */
		*cap = window_loose(l, peer, sk, read) ? max : min_u64(window(l, peer, sk, 0), max);
		return OB_STAY;
	}
	blocking = sk && file_blocking(sk);
	risk = reader_at_risk(blocking, st);
	/* past the window: at once if it is to be held exactly, else once
	 * the peer has read nothing for the stall window */
	if (!risk && after > window(l, peer, sk, 0)) {
		full = window_full(l, peer, sk, blocking, after, read);
		if (full == 2 || (full && bpf_ktime_get_coarse_ns() - st->progress_at > stall))
			return OB_MOVE_STOPPED;
	}
	if (after > max) {
		if (!blocking)
			return OB_MOVE_BOUND;
		if (after > max_blocking)
			return risk ? OB_MOVE_BOUND_WAITING : OB_MOVE_BOUND;
	}
	/* every sender of a namespace past its budget, a reader at risk or
	 * not: its own connections move, nobody else's */
	if (budget)
		return risk ? OB_MOVE_BUDGET_WAITING : OB_MOVE_BUDGET;
	/* As far as the fast path may go before the next look: the bound,
	 * where push-back lets the sender be (a reader at risk, or past the
	 * window within the stall window: looked at again once the credit
	 * is spent), else TCP's window too. */
	if (blocking)
		max = max_blocking;
	*cap = (risk || after > window(l, peer, sk, 0)) ? max
							: min_u64(window(l, peer, sk, 0), max);
	return OB_STAY;
}

/* Does this message end a run of small messages streamed back to back
 * (bypass.h: OB_SMALL_*) by a sender that can move to TCP safely? */
static __always_inline int small_stream(struct sock___ob *sk, struct ob_sk_state *st,
					struct ob_ledger *l, const struct ob_settings *s,
					__u32 size)
{
	__u64 peer_sends, window, now;

	if (size >= OB_SMALL_MSG) {
		st->run = 0;
		return 0;
	}
	peer_sends = l->sends[(OB_IDX(st->role) ^ 1) & 1];
	window = s && s->small_window_ns ? s->small_window_ns : OB_SMALL_WINDOW_NS;
	now = bpf_ktime_get_ns();
	if (!st->run || peer_sends != st->seen_peer_sends || now - st->run_start > window) {
		st->run = 1;
		st->run_start = now;
		st->seen_peer_sends = peer_sends;
		return 0;
	}
	if (++st->run < OB_SMALL_RUN)
		return 0;
	st->run = 0;
	/* not reader_at_risk(): a small-message stream seldom fills its
	 * send buffer by TCP, and only ACKs that free a full one wake a
	 * reader; a reader waiting right now is the risk left */
	return !(sk && file_blocking(sk) && someone_waiting(sk));
}

/* n more charged for the bytes redirected to socket i, whatever it was
 * (after a settle() that someone else's beat). */
static __always_inline void charge_more(struct ob_ledger *l, __u32 i, __u64 n, struct ob_netns *ns)
{
	__sync_fetch_and_add(&l->charged[i & 1], n);
	charge_ns(ns, (__s64)n);
}

/*
 * After a look at the peer that lets this message be redirected: charges
 * the budgets for what the peer has not read and this message (after), and
 * a credit of up to OB_CREDIT_MSGS messages of this size more (bypass.h,
 * "Budgets"), within cap (peer_backlog()) and what both budgets have room
 * for; the messages that fit in it take the fast path of ob_msg.
 * Gives back what is charged beyond that. ns is the sender's record.
 */
static __always_inline void reserve(struct ob_ledger *l, __u32 peer, __u64 after, __u32 size,
				    __u64 cap, const struct ob_settings *s, struct ob_netns *ns,
				    __u64 cookie)
{
	__u64 old = l->charged[peer & 1];
	__u64 want = after + min_u64((__u64)size * OB_CREDIT_MSGS, OB_CREDIT_MAX);

	if (want > cap)
		want = cap;
	if (want < after)
		want = after;
	if (want > old && want > after && over_budget(ns, s, want - old))
		want = after; /* no room for credit */
	if (!settle(l, peer, old, want, ns, cookie))
		charge_more(l, peer, size, ns);
}

/* This direction goes to TCP for good, and the socket leaves the sockhash
 * (bypass.h, "Leaving"); its peer may then leave in turn. */
static __always_inline void go_tcp(struct ob_sk_state *st, struct ob_ledger *l)
{
	sk_dir_step(st, OB_DIR_TCP, OB_STEP_RUN);
	st->flags |= OB_SK_LEAVING;
	if (l && (l->redirecting & (1ull << OB_IDX(st->role))))
		__sync_fetch_and_and(&l->redirecting, ~(1ull << OB_IDX(st->role)));
}

/* A move that may come back (bypass.h, "Moves that come back"), where
 * promotion is possible: the socket is promotable again once it left. */
static __always_inline void move_tcp(struct ob_sk_state *st, struct ob_ledger *l)
{
	go_tcp(st, l);
	if (ob_promotion && st->peer_netns)
		st->flags |= OB_SK_RETURN;
}

/* A blocking sender with a reader waiting moved to TCP: that reader may
 * meet a spurious EAGAIN; the service's next connections start on TCP. */
static __always_inline void learn_overflow(struct ob_sk_state *st)
{
	svc_learn(bpf_map_lookup_elem(&ob_services, &st->svc), OB_SVC_OVERFLOW);
}

static __always_inline void count_move(struct ob_counters *c, enum ob_move why)
{
	if (!c)
		return;
	c->tcp_msgs += 1;
	switch (why) {
	case OB_MOVE_BOUND:
	case OB_MOVE_BOUND_WAITING:
		c->overflows += 1;
		break;
	case OB_MOVE_STOPPED:
		c->pushbacks += 1;
		break;
	case OB_MOVE_BUDGET:
	case OB_MOVE_BUDGET_WAITING:
		c->over_budget += 1;
		break;
	case OB_MOVE_SMALL:
		c->small_streams += 1;
		break;
	default:
		break;
	}
}

/* Can this PROMOTING direction switch to REDIRECT at this sendmsg without
 * reordering (bypass.h, "Promotion")? Both sockets are in, none of our
 * TCP bytes is unacknowledged, and the peer has read every TCP byte it
 * got, and something since it was put in. The peer is read through the
 * ledger's kptr, checked against its cookie before and after. */
static __always_inline int promote_ready(struct sock___ob *sk, struct ob_sk_state *st,
					 struct ob_ledger *l)
{
	struct tcp_sock___ob *me = (struct tcp_sock___ob *)sk, *peer;
	__u32 i = OB_IDX(st->role) ^ 1, copied, rcv;
	__u64 cookie;

	if (!ob_promotion || !l || l->joined != 3 || !me || me->write_seq != me->snd_una)
		return 0;
	peer = (struct tcp_sock___ob *)ledger_sk(l, i);
	cookie = l->cookie[i & 1];
	if (!peer || !cookie || sk_cookie_of((struct sock___ob *)peer) != cookie)
		return 0;
	copied = peer->copied_seq;
	rcv = peer->rcv_nxt;
	if (copied != rcv || copied == l->copied_at[i & 1])
		return 0;
	return sk_cookie_of((struct sock___ob *)peer) == cookie;
}

/* A PROMOTING direction at a sendmsg: switches to REDIRECT if it may
 * (counted), else stays on TCP; past OB_PROMOTE_WINDOW_NS it gives up,
 * goes to TCP for good and leaves. */
static __always_inline void promote_step(struct sk_msg_md *msg, struct sock___ob *sk,
					 struct ob_sk_state *st, struct ob_ledger *l,
					 struct ob_counters *c)
{
	struct ob_service *sv;
	__u64 now;

	if (duplex_sending(sk)) {
		st->flags |= OB_SK_DUPLEX;
		go_tcp(st, l);
		promote_skip(st, OB_SKIP_READER);
		return;
	}
	if (msg->sk->state == OB_TCP_ESTABLISHED && promote_ready(sk, st, l)) {
		sk_dir_step(st, OB_DIR_REDIRECT, OB_STEP_RUN);
		st->active = 1;
		COUNT(c, sockets, 1);
		COUNT(c, paired, 1);
		COUNT(c, promoted, 1);
		sv = bpf_map_lookup_elem(&ob_services, &st->svc);
		if (sv)
			__sync_fetch_and_add(&sv->promoted, 1);
		return;
	}
	now = bpf_ktime_get_ns();
	if (!l || l->joined != 3) {
		/* its peer is not in yet: the next promote run may bring it,
		 * unless it never will */
		if ((l && (l->joined & OB_JOIN_NEVER)) ||
		    now - st->promoted_at > OB_PROMOTE_PEER_NS) {
			go_tcp(st, l);
			promote_skip(st, OB_SKIP_PEER);
		}
		return;
	}
	if (!st->tries++)
		st->tried_at = now;
	if (st->tries >= OB_PROMOTE_TRIES && now - st->tried_at > OB_PROMOTE_WINDOW_NS) {
		go_tcp(st, l);
		promote_skip(st, OB_SKIP_QUIET);
	}
}

/*
 * The fast path of a redirecting direction (bypass.h, "Budgets"): this
 * message fits in what is charged for the peer, whose unread bytes can
 * only have gone down since the last look, so no bound, window or budget
 * can be crossed; and it is not small (small_stream() counts those). 1 if
 * it is redirected so, 0 to take the slow path.
 */
static __always_inline int fast_redirect(struct sk_msg_md *msg, struct ob_sk_state *st,
					 struct ob_ledger *l, struct ob_counters *c, __u32 size)
{
	__u32 me = OB_IDX(st->role), peer = me ^ 1;

	if (size < OB_SMALL_MSG || ledger_unread(l, peer) + size > l->charged[peer & 1])
		return 0;
	/* a reader, at the sight the fast path has: the peer sent to it */
	if (!(st->flags & OB_SK_READER) && l->sent[me & 1])
		st->flags |= OB_SK_READER;
	st->run = 0; /* not a small message (small_stream()) */
	if (!(l->redirecting & (1ull << me)))
		return 0;
	if (bpf_msg_redirect_hash(msg, &ob_sockhash, &st->peer, BPF_F_INGRESS) != SK_PASS)
		return 0; /* the slow path tries again, and moves */
	l->sent[peer & 1] += size;
	COUNT(c, redirected_msgs, 1);
	COUNT(c, redirected_bytes, size);
	return 1;
}

SEC("sk_msg")
int ob_msg(struct sk_msg_md *msg)
{
	struct ob_settings *s;
	struct ob_counters *c;
	struct ob_sk_state *st;
	struct ob_ledger *l;
	struct ob_netns *ns = NULL;
	struct sock___ob *tsk;
	struct bpf_sock *sk = msg->sk;
	__u32 size = msg->size, zero = 0, peer;
	enum ob_move why;
	__u64 cap = 0;
	long ret;

	if (!sk)
		return SK_PASS;
	st = bpf_sk_storage_get(&ob_sk_state, sk, 0, 0);
	if (!st)
		return SK_PASS;
	/* Never true: makes ob_parking one of this program's maps, so that
	 * the psocks, which hold this program, keep ob_parking (and the
	 * sockets parked there) alive after the pins and sock_ops are gone. */
	if (st->flags & OB_SK_REFS_PARKING)
		return bpf_msg_redirect_hash(msg, &ob_parking, &st->peer, BPF_F_INGRESS);
	c = bpf_map_lookup_elem(&ob_counters, &st->netns_cookie);
	l = (st->flags & OB_SK_LEDGER) ? bpf_map_lookup_elem(&ob_ledger, &st->peer.conn) : NULL;
	if (st->dir == OB_DIR_PENDING) {
		sk_dir_step(st, client_decide(st, c, l), OB_STEP_RUN);
		if (!(st->flags & OB_SK_LEDGER))
			l = NULL; /* let go of (client first) */
	}
	if (l)
		l->sends[OB_IDX(st->role)] += 1;
	/* After shutdown(SHUT_WR) TCP answers EPIPE: let it. */
	if (l && st->dir == OB_DIR_REDIRECT && !st->guard && !l->moved &&
	    (sk->state == OB_TCP_ESTABLISHED || sk->state == OB_TCP_CLOSE_WAIT) &&
	    fast_redirect(msg, st, l, c, size))
		return SK_PASS;
	/* the slow path: the sending socket, read once for all below */
	tsk = msg_sock(msg);
	if (l) {
		/* our namespace's record, looked up once for all below */
		ns = bpf_map_lookup_elem(&ob_netns, &st->netns_cookie);
		/* what we and the peer read since */
		/* (only where the ledger has something unread: else there
		 * is nothing to catch up, and no psock to read) */
		if (KERNEL_COUNTS_UNREAD) {
			__u32 me = OB_IDX(st->role), peer = me ^ 1;
			__u64 mine, queued = 0;

			if (l->sent[me & 1] != l->read[me & 1]) {
				mine = sk_psock_addr(tsk);
				if (mine)
					ledger_catch_up(l, me, psock_unread(mine));
			}
			if (l->sent[peer & 1] != l->read[peer & 1] &&
			    ledger_queued(l, peer, &queued))
				ledger_catch_up(l, peer, queued);
		}
	}
	if (st->dir == OB_DIR_PROMOTING)
		promote_step(msg, tsk, st, l, c);
	if (st->dir != OB_DIR_REDIRECT ||
	    (sk->state != OB_TCP_ESTABLISHED && sk->state != OB_TCP_CLOSE_WAIT)) {
		/* by TCP: what the peer read goes back to our budgets */
		if (l)
			settle_unread(l, OB_IDX(st->role) ^ 1);
		COUNT(c, tcp_msgs, 1);
		return SK_PASS;
	}
	if (!l) {
		/* No ledger: the connection's account is gone (its peer
		 * closed, or the table lost it); TCP, as on a miss. */
		go_tcp(st, NULL);
		COUNT(c, misses, 1);
		COUNT(c, tcp_msgs, 1);
		return SK_PASS;
	}
	if (st->guard || l->moved) {
		/* a guard on either socket: both directions go by TCP */
		guard_move(st, l);
		go_tcp(st, l);
		settle_unread(l, OB_IDX(st->role) ^ 1);
		COUNT(c, tcp_msgs, 1);
		return SK_PASS;
	}
	s = bpf_map_lookup_elem(&ob_settings, &zero);
	why = peer_backlog(tsk, st, l, s, ns, size, &cap);
	if (why == OB_STAY && small_stream(tsk, st, l, s, size))
		why = OB_MOVE_SMALL;
	if (why != OB_STAY) {
		if (why == OB_MOVE_BOUND_WAITING || why == OB_MOVE_BUDGET_WAITING) {
			/* no coming back for a reader at risk; and a
			 * budget is its namespace's doing, not its
			 * service's */
			go_tcp(st, l);
			if (why == OB_MOVE_BOUND_WAITING)
				learn_overflow(st);
		} else {
			move_tcp(st, l);
		}
		settle_unread(l, OB_IDX(st->role) ^ 1);
		count_move(c, why);
		return SK_PASS;
	}
	/* the peer must know before it may leave (bypass.h, "Leaving") */
	if (!(l->redirecting & (1ull << OB_IDX(st->role))))
		__sync_fetch_and_or(&l->redirecting, 1ull << OB_IDX(st->role));
	peer = OB_IDX(st->role) ^ 1;
	/* charged before the redirect: the peer may read it at once */
	reserve(l, peer, ledger_unread(l, peer) + size, size, cap, s, ns, st->netns_cookie);
	ret = bpf_msg_redirect_hash(msg, &ob_sockhash, &st->peer, BPF_F_INGRESS);
	if (ret != SK_PASS) {
		/* The peer closed, or left the sockhash for TCP: from now on
		 * we go by TCP too (a closed peer answers as stock TCP would),
		 * and leave in turn; back with it if its move passes. */
		move_tcp(st, l);
		settle_unread(l, peer);
		COUNT(c, misses, 1);
		COUNT(c, tcp_msgs, 1);
		return SK_PASS;
	}
	l->sent[peer & 1] += size;
	COUNT(c, redirected_msgs, 1);
	COUNT(c, redirected_bytes, size);
	return SK_PASS;
}

/* ======== Leaving: half-closes, closes, and the way out of the sockhash ======== */

/* shutdown(SHUT_WR) on a socket whose file is blocking: the case that
 * makes tcp_bpf_recvmsg() return a spurious EAGAIN (see bypass.h). A
 * close() has set RCV_SHUTDOWN too and leaves no reader behind. */
static __always_inline int blocking_half_close(struct bpf_sock_ops *skops)
{
	struct sock___ob *sk;

	if (!skops->sk)
		return 0;
	sk = (struct sock___ob *)bpf_skc_to_tcp_sock(skops->sk);
	if (!sk || (sk->sk_shutdown & OB_RCV_SHUTDOWN))
		return 0;
	return file_blocking(sk);
}

static __always_inline void state_change(struct bpf_sock_ops *skops)
{
	struct ob_sk_state *st;
	struct ob_ledger *l;
	struct ob_counters *c;

	if (!skops->sk)
		return;
	if (skops->args[0] == OB_TCP_ESTABLISHED && skops->args[1] == OB_TCP_FIN_WAIT1) {
		st = bpf_sk_storage_get(&ob_sk_state, skops->sk, 0, 0);
		if (!st || !st->svc.netns_cookie || !blocking_half_close(skops))
			return;
		st->flags |= OB_SK_HALFCLOSED;
		if (svc_learn_key(&st->svc, OB_SVC_HALFCLOSE)) {
			c = bpf_map_lookup_elem(&ob_counters, &st->svc.netns_cookie);
			COUNT(c, halfcloses, 1);
		}
		return;
	}
	if (skops->args[1] != OB_TCP_CLOSE)
		return;
	st = bpf_sk_storage_get(&ob_sk_state, skops->sk, 0, 0);
	if (!st)
		return;
	/* Every FIN of this connection, and so any half-close, came before
	 * this: a connection that ends without one vouches for its service. */
	if (st->svc.netns_cookie && !(st->flags & OB_SK_HALFCLOSED)) {
		svc_learn_key(&st->svc, OB_SVC_GOOD);
	}
	if (st->role == OB_ROLE_CLIENT &&
	    (st->dir == OB_DIR_PENDING || (st->flags & OB_SK_OWNS_CONN)))
		conn_step(&st->peer.conn, NULL, 0, OB_CONN_GONE);
	/* closed: redirects nothing more (its peer may leave) */
	l = (st->flags & OB_SK_LEDGER) ? bpf_map_lookup_elem(&ob_ledger, &st->peer.conn) : NULL;
	if (l)
		__sync_fetch_and_and(&l->redirecting, ~(1ull << OB_IDX(st->role)));
	ledger_release(st);
	slot_release(st); /* the kernel takes a closed socket out of both sockhashes */
	promotable_clear(st);
	if (st->active) {
		st->active = 0;
		c = bpf_map_lookup_elem(&ob_counters, &st->netns_cookie);
		if (c)
			c->sockets -= 1;
	}
}

/* A promotable socket's connection vouches for its service once it has
 * carried OB_LEARN_SEGS data segments each way without a blocking
 * half-close (bypass.h, OB_LEARN_SEGS). Either end may see it first. */
static __always_inline void learn_live(struct bpf_sock_ops *skops, struct ob_sk_state *st)
{
	struct ob_service *sv;

	struct sock___ob *sk =
		skops->sk ? (struct sock___ob *)bpf_skc_to_tcp_sock(skops->sk) : NULL;

	/* at an ACK of ours: two threads wait, or one waits while more of
	 * ours is in flight, for the second time (once is what a thread that
	 * wrote its request in two segments meets when the ACK of the first
	 * comes late: bypass.h, "Promotion") */
	if (duplex_now(sk) || (duplex_sending(sk) && ++st->waits_sending >= OB_DUPLEX_SIGHTINGS))
		st->flags |= OB_SK_DUPLEX;

	if ((st->flags & OB_SK_HALFCLOSED) || skops->data_segs_in < OB_LEARN_SEGS ||
	    skops->data_segs_out < OB_LEARN_SEGS)
		return;
	sv = bpf_map_lookup_elem(&ob_services, &st->svc);
	if (sv && sv->state == OB_SVC_PROBATION)
		svc_learn(sv, OB_SVC_GOOD);
}

/* Out of both sockhashes after a move: does it come back (bypass.h,
 * "Moves that come back")? Not after a guard, a half-close, or two
 * waiters on a blocking socket. */
static __always_inline int comes_back(struct ob_sk_state *st, struct ob_ledger *l)
{
	if (!(st->flags & OB_SK_RETURN) || st->guard ||
	    (st->flags & (OB_SK_HALFCLOSED | OB_SK_DUPLEX | OB_SK_PROMOTABLE)))
		return 0;
	return !(l && l->moved);
}

/* An RTT sample: an ACK of our TCP data. Moves a leaving socket along
 * (bypass.h, "Leaving"). */
static __always_inline void rtt_sample(struct bpf_sock_ops *skops)
{
	struct ob_sock_key own = {};
	struct ob_counters *c;
	struct ob_sk_state *st;
	struct ob_ledger *l;
	__u64 now, prev;

	if (!skops->sk)
		return;
	st = bpf_sk_storage_get(&ob_sk_state, skops->sk, 0, 0);
	if (!st)
		return;
	if (st->flags & OB_SK_PROMOTABLE)
		learn_live(skops, st); /* its callbacks stay: they drive its leaving
					* once promoted */
	if (!(st->flags & OB_SK_LEAVING) || (st->flags & OB_SK_NOPARK)) {
		/* On TCP and not leaving (refused, wrote first, cannot
		 * park): out of both sockhashes already, or staying; no more
		 * callbacks for its ACKs. */
		if (st->dir == OB_DIR_TCP && !(st->flags & OB_SK_PROMOTABLE))
			bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags &
								 ~BPF_SOCK_OPS_RTT_CB_FLAG);
		return;
	}
	own.conn = st->peer.conn;
	own.role = st->role;
	now = bpf_ktime_get_ns();
	if (!(st->flags & OB_SK_PARKED)) {
		bpf_map_delete_elem(&ob_sockhash, &own);
		l = (st->flags & OB_SK_LEDGER) ? bpf_map_lookup_elem(&ob_ledger, &st->peer.conn)
					       : NULL;
		if (l && (l->joined & (1ull << OB_IDX(st->role))))
			__sync_fetch_and_and(&l->joined, ~(1ull << OB_IDX(st->role)));
		st->flags |= OB_SK_PARKED;
		st->left_at = now;
		return;
	}
	if (now - st->left_at < OB_LEAVE_GRACE_NS)
		return;
	/* the peer still redirects to us (it has not sent since step 1): a
	 * redirect of its may be under way, unless it has been idle long */
	l = bpf_map_lookup_elem(&ob_ledger, &st->peer.conn);
	if (l && (l->redirecting & (1ull << (OB_IDX(st->role) ^ 1))) &&
	    now - st->left_at < OB_LEAVE_IDLE_NS)
		return;
	if (KERNEL_COUNTS_UNREAD) {
		if (psock_unread(own_psock(skops)))
			return;
	} else if (l && ledger_unread(l, OB_IDX(st->role))) {
		return;
	}
	/* all read (and nothing under way): back to its sender's budget now,
	 * not when the ledger goes */
	if (l && (st->flags & OB_SK_LEDGER)) {
		if (KERNEL_COUNTS_UNREAD)
			ledger_catch_up(l, OB_IDX(st->role), 0);
		settle_unread(l, OB_IDX(st->role));
	}
	bpf_map_delete_elem(&ob_parking, &own);
	slot_release(st);
	st->flags &= ~OB_SK_LEAVING;
	if (comes_back(st, l)) {
		promotable_set(st); /* gives up its hold on the ledger */
	} else if (!(st->flags & OB_SK_PROMOTABLE)) {
		/* on TCP for good: its peer is not promoted in vain. A peer
		 * that marked it so before is out for good too: nothing needs
		 * the ledger any more, it goes now (and its namespace's
		 * quota with it), not when a socket closes. */
		if (l && (st->flags & OB_SK_LEDGER)) {
			prev = __sync_fetch_and_or(&l->joined, OB_JOIN_NEVER);
			if ((prev & OB_JOIN_NEVER) && !(prev & (1ull << (OB_IDX(st->role) ^ 1)))) {
				st->flags &= ~OB_SK_LEDGER;
				ledger_drop(&st->peer.conn, l);
			}
		}
		bpf_sock_ops_cb_flags_set(skops,
					  skops->bpf_sock_ops_cb_flags & ~BPF_SOCK_OPS_RTT_CB_FLAG);
	}
	/* a promotable socket keeps its ACK callbacks: they drive its
	 * leaving, should it move again once back */
	st->flags &= ~OB_SK_RETURN;
	if (st->active) { /* it redirected: a departure */
		c = bpf_map_lookup_elem(&ob_counters, &st->netns_cookie);
		st->active = 0;
		if (c) {
			c->sockets -= 1;
			c->departures += 1;
		}
	}
}

/* ======== Entry points ======== */

SEC("sockops")
int ob_sockops(struct bpf_sock_ops *skops)
{
	__u64 cookie;

	if (skops->family != AF_INET && skops->family != AF_INET6)
		return 1;
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		cookie = bpf_get_netns_cookie(skops);
		if (bpf_map_lookup_elem(&ob_netns, &cookie) && pairing_allowed())
			bpf_sock_ops_cb_flags_set(skops,
						  skops->bpf_sock_ops_cb_flags |
							  BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG);
		break;
	case BPF_SOCK_OPS_HDR_OPT_LEN_CB:
		hdr_opt_len(skops, bpf_get_netns_cookie(skops));
		break;
	case BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
		write_hdr_opt(skops, bpf_get_netns_cookie(skops));
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		if (skops->bpf_sock_ops_cb_flags & BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG)
			active_established(skops, bpf_get_netns_cookie(skops));
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		if (skops->bpf_sock_ops_cb_flags & BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG)
			passive_established(skops, bpf_get_netns_cookie(skops));
		break;
	case BPF_SOCK_OPS_STATE_CB:
		state_change(skops);
		break;
	case BPF_SOCK_OPS_RTT_CB:
		rtt_sample(skops);
		break;
	}
	return 1;
}

/* SO_SNDBUF or SO_RCVBUF (or their FORCE): TCP's window changes;
 * SO_SNDTIMEO: push-back holds it exactly (window_full()). */
static __always_inline int sets_window(struct bpf_sockopt *ctx)
{
	return ctx->level == OB_SOL_SOCKET &&
	       (ctx->optname == OB_SO_SNDBUF || ctx->optname == OB_SO_RCVBUF ||
		ctx->optname == OB_SO_SNDBUFFORCE || ctx->optname == OB_SO_RCVBUFFORCE ||
		ctx->optname == OB_SO_SNDTIMEO_OLD || ctx->optname == OB_SO_SNDTIMEO_NEW);
}

/* A buffer of a paired socket is set: its connection gives back the credit
 * of both directions (bypass.h, "Budgets"), so that their next messages
 * look at the window again, as the application set it. */
static __always_inline void credit_back(struct bpf_sock *sk)
{
	struct ob_sk_state *st = bpf_sk_storage_get(&ob_sk_state, sk, 0, 0);
	struct ob_ledger *l;

	if (!st || !(st->flags & OB_SK_LEDGER))
		return;
	l = bpf_map_lookup_elem(&ob_ledger, &st->peer.conn);
	if (!l)
		return;
	settle_unread(l, 0);
	settle_unread(l, 1);
}

/*
 * Guards for SO_RCVLOWAT, SO_ZEROCOPY and TCP_ULP, before the kernel acts
 * on the option. A listening socket's service learns it at once (its
 * accepted sockets inherit the option); a socket not connected yet keeps
 * it in its state, and its connection will not pair; a connected one
 * learns its service and moves (guard()). Sockets of namespaces that are
 * not enrolled are not looked at. A paired socket that sets its buffer or
 * a send timeout gives its connection's credit back first (credit_back()).
 * The option itself is never changed.
 */
SEC("cgroup/setsockopt")
int ob_setsockopt(struct bpf_sockopt *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct ob_svc_key svc = {};
	struct ob_sk_state *st;
	struct ob_netns *ns;
	__u32 why = sockopt_guard(ctx);
	__u64 cookie;

	/* Past a page the program sees only the first one; 0 tells the
	 * kernel to use the caller's buffer as it is (every kernel). */
	if (ctx->optlen > OB_SOCKOPT_PAGE)
		ctx->optlen = 0;
	if (sk && sets_window(ctx))
		credit_back(sk);
	if (!why || !sk || sk->protocol != OB_IPPROTO_TCP ||
	    (sk->family != AF_INET && sk->family != AF_INET6))
		return 1;
	cookie = bpf_get_netns_cookie(ctx);
	ns = bpf_map_lookup_elem(&ob_netns, &cookie);
	if (!ns)
		return 1;
	if (sk->state == OB_TCP_LISTEN) {
		svc.netns_cookie = cookie;
		svc.port = sk->src_port;
		svc_learn_key(&svc, why);
		return 1;
	}
	st = bpf_sk_storage_get(&ob_sk_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st)
		guard(st, why);
	return 1;
}

/* Guards for recv(MSG_WAITALL) on a socket of an enrolled connection: on
 * stock TCP (a service on probation), and redirected, where the read at
 * hand may return short; the service learns it and the connection moves,
 * so that the reads after the redirected bytes are TCP's. */
static __always_inline int guard_sock(struct sock___ob *sk, __u32 why)
{
	struct ob_sk_state *st;

	if (!sk)
		return 0;
	st = bpf_sk_storage_get(&ob_sk_state, sk, 0, 0);
	if (st)
		guard(st, why);
	return 0;
}

static __always_inline int waitall_seen(struct sock___ob *sk, int flags)
{
	return (flags & OB_MSG_WAITALL) ? guard_sock(sk, OB_SVC_WAITALL) : 0;
}

SEC("fentry/tcp_recvmsg")
int BPF_PROG(ob_guard_waitall, struct sock___ob *sk, void *msg, __u64 len, int flags)
{
	return waitall_seen(sk, flags);
}

/* tcp_bpf_recvmsg() is static: only where the kernel's BTF has it. */
SEC("fentry/tcp_bpf_recvmsg")
int BPF_PROG(ob_guard_waitall_bpf, struct sock___ob *sk, void *msg, __u64 len, int flags)
{
	return waitall_seen(sk, flags);
}

/* Guard for splice() from a socket of an enrolled connection. */
SEC("fentry/tcp_splice_read")
int BPF_PROG(ob_guard_splice, struct socket___ob *sock)
{
	return guard_sock(sock->sk, OB_SVC_SPLICE);
}

/*
 * Counts, per connection, the bytes each socket's recvmsg takes off its
 * redirect queue (ob_ledger.read), which the sender's next look at its
 * peer returns to its budgets (settle()): sk_msg_recvmsg() copies from
 * ingress_msg only (TCP-path bytes go through tcp_recvmsg()), under the
 * socket lock. MSG_PEEK takes nothing off. It also notes the reader's
 * receive buffer, which the sender's push-back compares against.
 */
SEC("fexit/sk_msg_recvmsg")
int BPF_PROG(ob_recv_fexit, struct sock___ob *sk, void *psock, void *msg, int len, int flags,
	     int ret)
{
	struct ob_sk_state *st;
	struct ob_ledger *l;
	__u32 own;
	int rcvbuf;

	if (ret <= 0 || (flags & OB_MSG_PEEK))
		return 0;
	st = bpf_sk_storage_get(&ob_sk_state, sk, 0, 0);
	if (!st || !(st->flags & OB_SK_LEDGER))
		return 0;
	l = bpf_map_lookup_elem(&ob_ledger, &st->peer.conn);
	if (!l)
		return 0;
	own = OB_IDX(st->role);
	l->read[own & 1] += ret;
	rcvbuf = BPF_CORE_READ(sk, sk_rcvbuf);
	if (rcvbuf > 0)
		l->rcvbuf[own & 1] = rcvbuf;
	return 0;
}

/* This socket will never be put in: neither will its connection, and a
 * peer put in already waits for it no more (OB_JOIN_NEVER). */
static __always_inline void promote_never(struct ob_sk_state *st)
{
	struct ob_ledger *l = bpf_map_lookup_elem(&ob_ledger, &st->peer.conn);

	promotable_clear(st);
	if (l)
		__sync_fetch_and_or(&l->joined, OB_JOIN_NEVER);
}

/* A client whose first sendmsg may still redirect (its entry is NEW or
 * SERVER_READY). */
static __always_inline int client_undecided(const struct ob_conn_key *k)
{
	struct ob_conn *conn = bpf_map_lookup_elem(&ob_conns, k);

	return conn && (conn->state == OB_CONN_NEW || conn->state == OB_CONN_SERVER_READY);
}

/*
 * Promotion (bypass.h): `oci-bypass promote` reads this iterator in each
 * namespace that holds promotable sockets; the kernel runs it for every
 * TCP socket of that namespace, holding the socket's lock. A promotable
 * socket whose service is learned GOOD goes into both sockhashes under
 * its key, joins (or makes) its connection's ledger with its cookie, its
 * kptr and its copied_seq now, and its direction becomes PROMOTING. One
 * not promoted now stays promotable and is looked at again next time,
 * unless it never can be (closing, a guard, an excluded port, a socket
 * another tool owns).
 */
/* What it did: -1 nothing, 0 put in, 1 + enum ob_skip not (struct ob_promote_rec). */
static __always_inline int promote_one(struct tcp_sock___ob *tp, struct ob_sk_state *st)
{
	struct sock___ob *sk = (struct sock___ob *)tp;
	struct ob_sock_key key = { .conn = st->peer.conn, .role = st->role };
	struct ob_ledger fresh = {}, *l;
	struct ob_service *sv;
	__u32 i = OB_IDX(st->role), why;
	long err;
	int made;

	if (sk->__sk_common.skc_state != OB_TCP_ESTABLISHED || st->guard ||
	    (st->flags & OB_SK_HALFCLOSED) || port_excluded(st->svc.netns_cookie, st->svc.port)) {
		promote_never(st);
		return -1;
	}
	if (st->dir != OB_DIR_TCP)
		return -1; /* only TCP -> PROMOTING (sk_dir_step()) */
	if (sk_psock_addr(sk))
		return -1; /* still in a sockhash (leaving, or its server has not
			    * taken it out yet): later */
	if (st->flags & OB_SK_LEAVING) {
		/* out of both already (its server took it out): its leaving
		 * is over, nothing was redirected to it */
		st->flags &= ~(OB_SK_LEAVING | OB_SK_PARKED);
		slot_release(st);
	}
	if (duplex_now(sk))
		st->flags |= OB_SK_DUPLEX;
	if (st->flags & OB_SK_DUPLEX) {
		promote_never(st);
		promote_skip(st, OB_SKIP_READER);
		return 1 + OB_SKIP_READER;
	}
	sv = bpf_map_lookup_elem(&ob_services, &st->svc);
	if (!sv || sv->state != OB_SVC_GOOD || !pairing_allowed() ||
	    !bpf_map_lookup_elem(&ob_netns, &st->netns_cookie) ||
	    !bpf_map_lookup_elem(&ob_netns, &st->peer_netns))
		return -1; /* not yet: it may be learned, or enrolled again */
	if (pairing_over_budget(st->netns_cookie)) {
		promote_skip(st, OB_SKIP_BUDGET);
		return 1 + OB_SKIP_BUDGET;
	}
	l = bpf_map_lookup_elem(&ob_ledger, &key.conn);
	if (l && (l->moved || (l->joined & OB_JOIN_NEVER))) {
		/* a guard moved it, or its peer left for good */
		promote_never(st);
		return -1;
	}
	/* Coming back while the peer still redirects to us, or is a client
	 * that has not written yet (its entry is still there): not now. Its
	 * redirects would reach our new psock at once, while a reader of ours
	 * may wait in the stock tcp_recvmsg(), which never looks there. It
	 * may come back once the peer has moved as well (bypass.h, "Moves
	 * that come back"). */
	if (l && (client_undecided(&key.conn) ||
		  /* read after the entry, atomically: client_decide() sets
		   * it before the entry goes */
		  (__sync_fetch_and_or(&l->redirecting, 0) & (1ull << ((i ^ 1) & 1)))))
		return -1;
	if (!quota_take(st->netns_cookie, OB_Q_SOCKETS)) {
		promote_skip(st, OB_SKIP_QUOTA);
		return 1 + OB_SKIP_QUOTA;
	}
	err = bpf_map_update_elem(&ob_sockhash, &key, tp, BPF_NOEXIST);
	if (err) {
		quota_put(st->netns_cookie, OB_Q_SOCKETS);
		promote_skip(st, OB_SKIP_FULL);
		if (err == -OB_EBUSY)
			promote_never(st); /* another sockmap user's */
		return 1 + OB_SKIP_FULL;
	}
	st->flags |= OB_SK_SLOT;
	if (bpf_map_update_elem(&ob_parking, &key, tp, BPF_NOEXIST))
		st->flags |= OB_SK_NOPARK;
	fresh.netns[i & 1] = st->netns_cookie;
	fresh.netns[(i ^ 1) & 1] = st->peer_netns;
	/* the peer's, if it came back first; else ours, charged */
	made = l ? 2 : ledger_make(&key.conn, &fresh);
	l = bpf_map_lookup_elem(&ob_ledger, &key.conn);
	if (!l) {
		unpair(&key);
		slot_release(st);
		why = made == 1 ? OB_SKIP_QUOTA : OB_SKIP_FULL;
		promote_skip(st, why);
		return 1 + why;
	}
	l->rcvbuf[i & 1] = sk->sk_rcvbuf > 0 ? sk->sk_rcvbuf : 0;
	l->cookie[i & 1] = bpf_get_socket_cookie(tp);
	l->copied_at[i & 1] = tp->copied_seq;
	if (i & 1)
		l->sk1 = (ob_tcp_sock *)tp;
	else
		l->sk0 = (ob_tcp_sock *)tp;
	__sync_fetch_and_add(&l->refs, 1);
	__sync_fetch_and_or(&l->joined, 1ull << (i & 1));
	st->flags |= OB_SK_LEDGER;
	sk_dir_step(st, OB_DIR_PROMOTING, OB_STEP_RUN);
	st->promoted_at = bpf_ktime_get_ns();
	st->tries = 0;
	promotable_clear(st);
	return 0;
}

SEC("iter/tcp")
int ob_promote(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct ob_promote_rec rec = {};
	struct tcp_sock___ob *tp;
	struct ob_sk_state *st;

	if (!ob_promotion || !skc)
		return 0;
	tp = (struct tcp_sock___ob *)bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	st = bpf_sk_storage_get(&ob_sk_state, tp, 0, 0);
	if (!st || !(st->flags & OB_SK_PROMOTABLE))
		return 0;
	rec.what = promote_one(tp, st);
	rec.netns_cookie = st->netns_cookie;
	if ((int)rec.what >= 0)
		bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

/*
 * The sweep (bypass.h): `oci-bypass gc` deletes, through this program, an
 * entry no live socket needs, so that the count of its namespace goes
 * back as it does in BPF (user space cannot add atomically); an enrolment
 * counts the namespace's share of the host's budget through it, and a
 * withdrawal deletes the namespace's record through it, giving that back. Run by
 * BPF_PROG_TEST_RUN with a struct ob_sweep; uses hash and array maps only
 * (a sleepable program may not touch a sockhash).
 */
SEC("syscall")
int ob_sweep(struct ob_sweep *ctx)
{
	struct ob_conn_key k = ctx->key;
	__u64 netns = ctx->netns;
	struct ob_ledger *l;
	struct ob_netns *ns;
	struct ob_usage *u;
	__u32 zero = 0;

	ctx->found = 0;
	if (ctx->what == OB_SWEEP_CONN) {
		ctx->found = conn_step(&k, NULL, 0, OB_CONN_GONE) != OB_CONN_GONE;
	} else if (ctx->what == OB_SWEEP_LEDGER) {
		l = bpf_map_lookup_elem(&ob_ledger, &k);
		if (l) {
			ledger_drop(&k, l);
			ctx->found = 1;
		}
	} else if (ctx->what == OB_SWEEP_SHARE) {
		ns = bpf_map_lookup_elem(&ob_netns, &netns);
		if (ns) {
			share_count(ns);
			ctx->found = 1;
		}
	} else if (ctx->what == OB_SWEEP_NETNS) {
		ns = bpf_map_lookup_elem(&ob_netns, &netns);
		if (ns) {
			/* its share goes back, or is never taken */
			if (__sync_val_compare_and_swap(&ns->shares, OB_SHARE_COUNTED,
							OB_SHARE_WITHDRAWN) == OB_SHARE_COUNTED) {
				u = bpf_map_lookup_elem(&ob_usage, &zero);
				if (u)
					__sync_fetch_and_add(&u->namespaces, -1);
			} else {
				__sync_val_compare_and_swap(&ns->shares, OB_SHARE_NONE,
							    OB_SHARE_WITHDRAWN);
			}
			ctx->found = bpf_map_delete_elem(&ob_netns, &netns) == 0;
		}
	}
	return 0;
}
