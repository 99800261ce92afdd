/* bypass.h - every key, value and flag shared by the BPF programs and user space.
 *
 * Included by bpf/bypass.bpf.c (clang -target bpf) and by hook/ and tests/
 * (gcc). Only <linux/types.h> types, no libc, no helpers.
 *
 * How two sockets become peers (see docs/how-it-works.md):
 *
 *   client (active side)                       server (passive side)
 *   TCP_CONNECT_CB: ask for header-option callbacks
 *   SYN  --- option {254, 15, EXID, MAC(client ISN, address), 0, 0} --->
 *                                               SYN-ACK carries {.., server netns
 *                                               cookie sealed, its port, PAIR
 *                                               masked} only if the SYN's MAC
 *                                               is right (else no option space
 *                                               either), with PAIR only if its
 *                                               service will be redirected
 *                                               (GOOD; no service entry made)
 *   ACTIVE_ESTABLISHED_CB (SYN-ACK in hand):
 *     the cookie unseals to an enrolled netns?  with PAIR: conn entry NEW,
 *     client socket inserted under {conn, OB_ROLE_CLIENT}; without PAIR:
 *     conn entry LEARN only (the server watches the connection for its
 *     service, see enum ob_svc_state), the client stays out of the
 *     sockhash (invariant 1)
 *   ACK -------------------------------------->
 *                                               PASSIVE_ESTABLISHED_CB:
 *                                               conn entry NEW? insert server
 *                                               socket, NEW -> SERVER_READY
 *                                               (or, if the client already
 *                                               wrote: take the client out
 *                                               of the sockhash)
 *   first sendmsg (sk_msg):
 *     SERVER_READY -> redirect (until it moves to TCP: "Leaving")
 *     NEW          -> CLIENT_TCP: TCP for life, the server side takes the
 *                     client out of the sockhash (sk_msg may not)
 *
 * The option proves, to the other end only, that its sender is an enrolled
 * endpoint of this host: both values are keyed by the host's secret
 * (ob_settings.secret, drawn at load, never sent) and bound to this
 * connection's initial sequence numbers, which NAT leaves alone. The SYN's
 * is a MAC of the client's ISN and of the client's address, which DNAT
 * leaves alone too (SNAT between the two ends keeps a connection on TCP):
 * a SYN replayed, or relayed by a host that aligns sequence numbers, from
 * any other address gets a SYN-ACK without option or option space. The
 * SYN-ACK's is the server's netns cookie XOR a keystream of both ISNs, the
 * server's port and the flags, so a value copied from another connection,
 * namespace or host, or a flag flipped, unseals to a cookie that is not
 * enrolled; its flags go out masked (ob_flags_mask()). Nothing in the
 * option names a namespace, or tells whether a service is accelerated, to
 * anyone without the secret (ob_seal()).
 * The connection key is {server netns cookie, client ISN+1, server ISN+1}: both
 * sides compute it without seeing the other's socket, it survives DNAT and
 * differs between two namespaces that hold the very same 4-tuple. No
 * address is part of any key, and the MAC's is in one form for both
 * families (ob_addr_norm()), so IPv4, IPv6 and v4-mapped sockets take
 * exactly the same path (invariant 6).
 */
#ifndef OB_BYPASS_H
#define OB_BYPASS_H

#include <linux/types.h>

/* RFC 6994 experimental option: kind 254, 16-bit ExID "OB". */
#define OB_OPT_KIND 254
#define OB_OPT_EXID 0x4f42
#define OB_OPT_LEN  15 /* kind, len, exid(2), value(8), port(2), flags */

/* ob_opt.flags */
#define OB_OPT_PAIR 1 /* the sender will redirect this connection */

struct ob_opt {
	__u8 kind;
	__u8 len;
	__u8 exid[2];  /* big endian */
	__u8 value[8]; /* SYN: ob_syn_mac(); SYN-ACK: the sealed netns cookie */
	__u8 port[2];  /* big endian: SYN-ACK, the server's local port; SYN, 0 */
	__u8 flags;    /* OB_OPT_* (SYN-ACK; sealed with the cookie) */
} __attribute__((packed));

/* SipHash-2-4 (Aumasson, Bernstein) over n 64-bit words, keyed by the
 * host's secret: a pseudo-random function nobody can compute without the
 * key. Unit-tested against the reference vectors. */
#define OB_ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define OB_SIPROUND(v0, v1, v2, v3)                                                                \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = OB_ROTL64(v1, 13);                                                            \
		v1 ^= v0;                                                                          \
		v0 = OB_ROTL64(v0, 32);                                                            \
		v2 += v3;                                                                          \
		v3 = OB_ROTL64(v3, 16);                                                            \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = OB_ROTL64(v3, 21);                                                            \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = OB_ROTL64(v1, 17);                                                            \
		v1 ^= v2;                                                                          \
		v2 = OB_ROTL64(v2, 32);                                                            \
	} while (0)

static inline __attribute__((always_inline)) __u64 ob_siphash(__u64 k0, __u64 k1, const __u64 *m,
							      int n)
{
	__u64 v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	__u64 v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	__u64 b = (__u64)(n * 8) << 56;

	for (int i = 0; i < n; i++) {
		v3 ^= m[i];
		OB_SIPROUND(v0, v1, v2, v3);
		OB_SIPROUND(v0, v1, v2, v3);
		v0 ^= m[i];
	}
	v3 ^= b;
	OB_SIPROUND(v0, v1, v2, v3);
	OB_SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	OB_SIPROUND(v0, v1, v2, v3);
	OB_SIPROUND(v0, v1, v2, v3);
	OB_SIPROUND(v0, v1, v2, v3);
	OB_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Domain tags: a SYN's MAC is never a SYN-ACK's keystream, nor its flags'. */
#define OB_TAG_SYN    0x4f4253594eULL /* "OBSYN" */
#define OB_TAG_SYNACK 0x4f42534100ULL /* "OBSA", then flags and port above */
#define OB_TAG_FLAGS  0x4f42464cULL   /* "OBFL" */

/* The SYN's value: a MAC of the client's ISN and of the client's address
 * (struct ob_addr), as the client sees it and as the server does: a SYN's
 * option is good only from the address it was made for, so a host that
 * replays or relays it from another gets no answer in kind. */
struct ob_addr {
	__u64 hi, lo; /* an IPv6 address, or ::ffff:IPv4 (network order) */
};

static inline __attribute__((always_inline)) __u64 ob_syn_mac(const __u64 key[2], __u32 client_isn,
							      const struct ob_addr *client)
{
	__u64 m[4] = { OB_TAG_SYN, client_isn, client->hi, client->lo };

	return ob_siphash(key[0], key[1], m, 4);
}

/* The address in one form for both families (invariant 6): IPv4 and
 * IPv4-mapped IPv6 as ::ffff:IPv4; w are the four words of an IPv6
 * address, ip4 the IPv4 one, as struct bpf_sock_ops gives them (network
 * order). */
static inline __attribute__((always_inline)) struct ob_addr ob_addr_norm(int v6, __u32 ip4,
									 const __u32 w[4])
{
	/* ::ffff:0:0, the first three words of a v4-mapped address */
	const __u32 mapped = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 0xffff0000u : 0xffffu;
	struct ob_addr a;

	if (v6 && w[0] == 0 && w[1] == 0 && w[2] == mapped)
		ip4 = w[3];
	else if (v6) {
		a.hi = ((__u64)w[0] << 32) | w[1];
		a.lo = ((__u64)w[2] << 32) | w[3];
		return a;
	}
	a.hi = 0;
	a.lo = ((__u64)mapped << 32) | ip4;
	return a;
}

/* The SYN-ACK's flags go out masked, so that nobody without the secret can
 * read them (whether a service is accelerated); the seal binds them. */
static inline __attribute__((always_inline)) __u8 ob_flags_mask(const __u64 key[2],
								__u32 client_isn, __u32 server_isn)
{
	__u64 m[2] = { OB_TAG_FLAGS, ((__u64)client_isn << 32) | server_isn };

	return (__u8)ob_siphash(key[0], key[1], m, 2);
}

/* The SYN-ACK's value: the server's netns cookie sealed for this
 * connection (sealing twice unseals). */
static inline __attribute__((always_inline)) __u64 ob_seal(const __u64 key[2], __u64 cookie,
							   __u8 flags, __u16 server_port,
							   __u32 client_isn, __u32 server_isn)
{
	__u64 m[2] = { OB_TAG_SYNACK | ((__u64)flags << 40) | ((__u64)server_port << 48),
		       ((__u64)client_isn << 32) | server_isn };

	return cookie ^ ob_siphash(key[0], key[1], m, 2);
}

/* Identity of one TCP connection, equal on both of its sockets. */
struct ob_conn_key {
	__u64 server_cookie; /* netns cookie of the server's socket */
	__u32 client_isn;    /* client snd_nxt at establishment = ISN + 1 */
	__u32 server_isn;    /* server snd_nxt at establishment = ISN + 1 */
};

enum ob_role {
	OB_ROLE_CLIENT = 1,
	OB_ROLE_SERVER = 2,
};

/* Key of one socket in the sockhash. */
struct ob_sock_key {
	struct ob_conn_key conn;
	__u32 role;
	__u32 pad;
};

/* Handshake between the two sockets of one connection (ob_conns value). */
enum ob_conn_state {
	OB_CONN_NEW = 0,	  /* client inserted, server not yet seen */
	OB_CONN_SERVER_READY = 1, /* server inserted: client may redirect */
	OB_CONN_CLIENT_TCP = 2,	  /* client sent first: both stay on TCP */
	OB_CONN_REFUSED = 3,	  /* server will not pair: both stay on TCP */
	OB_CONN_LEARN = 4,	  /* server said at SYN-ACK it will not pair:
				   * the client stays out of the sockhash; the
				   * entry only tells the server that its peer
				   * is enrolled, so that it learns from it */
	OB_CONN_GONE = 255,	  /* not a state: the entry is deleted
				   * (conn_step() in bypass.bpf.c) */
};

/*
 * A socket that BPF can reach but user space cannot see. The sender's
 * bound needs how much its peer has not read yet, which only the peer's
 * psock knows (6.12: sk_psock.msg_tot_len), and no program may look the
 * peer up in the sockhash here (that takes a reference that sock_ops and
 * sk_msg cannot release). So the peer's socket is kept as an untrusted
 * kptr: the kernel zeroes kptr fields in every copy it gives user space
 * (a map dump shows 0), and BPF reads through it only with fault-safe
 * loads, checked against the socket's cookie (ledger_queued() in
 * bypass.bpf.c). The tag is "kptr_untrusted" from Linux 6.3 and "kptr"
 * before; user space renames it to what the running kernel knows
 * (features.c, ob_kptr_tag()). For user space it is 8 bytes of padding.
 */
#ifdef __bpf__
struct tcp_sock {
	int ob_named_only; /* only the name counts: the kernel's type is used */
} __attribute__((preserve_access_index));
/* clang 14 drops a type tag put on a struct type directly, not on a typedef */
typedef struct tcp_sock ob_tcp_sock;
#define OB_HIDDEN_SK(name) ob_tcp_sock __attribute__((btf_type_tag("kptr_untrusted"))) * name
#else
#define OB_HIDDEN_SK(name) __u64 name
#endif

/* A struct that holds a kptr has every member on an 8-byte boundary:
 * Linux 6.1 drops all kptr fields of a map value that has a member
 * elsewhere (btf_find_struct_field() fails the search), and then loads
 * them as plain numbers (checked in maps.c). Hence the __u64 counts. */
struct ob_conn {
	__u64 state;		 /* enum ob_conn_state, changed only by cmpxchg */
	__u64 client_rcvbuf;	 /* the client's sk_rcvbuf at establishment */
	__u64 created;		 /* bpf_ktime_get_ns() at creation (the sweep, below) */
	__u64 client_netns;	 /* netns cookie of the client's socket */
	__u64 client_cookie;	 /* the client socket's cookie */
	OB_HIDDEN_SK(client_sk); /* the client socket, for the ledger */
};

/*
 * The account of one paired connection (ob_ledger: its ob_conn_key ->
 * this), made by the server side just before it lets the client redirect,
 * shared by both sockets and deleted by the last of them to close. Index
 * [OB_IDX(role)] is about that role's socket. sent[i] is written by the
 * peer's sk_msg program only, under the peer's socket lock. read[i] moves
 * forward only, by compare-and-swap: where the kernel counts unread bytes
 * (sk_psock.msg_tot_len, 6.12), both sockets' sk_msg programs bring it up
 * to sent[i] less that count; where it does not (6.1), ob_recv_fexit
 * counts what socket i's recvmsg takes. charged[i] is what the sender's
 * namespace and the host have charged to their budgets for the bytes
 * redirected to socket i: at least what it has not read, and some credit
 * ahead (see "Budgets"); it changes only by compare-and-swap, each change
 * mirrored in the budgets, so the budgets hold the sum of charged[] and
 * never drift.
 */
struct ob_ledger {
	__u64 sent[2];	    /* bytes redirected to this socket */
	__u64 read[2];	    /* bytes it took off its redirect queue */
	__u64 charged[2];   /* bytes charged to the sender's budgets for it */
	__u64 sends[2];	    /* its sendmsg calls (a stream or request/response?) */
	__u64 netns[2];	    /* its netns cookie: whose budget its redirects use */
	__u32 rcvbuf[2];    /* its sk_rcvbuf as last seen */
	__u64 refs;	    /* sockets of the connection not closed yet */
	__u64 moved;	    /* 1: a guard moved the connection to TCP, both ways */
	__u64 joined;	    /* promotion: bit i, socket i is in the sockhashes;
			     * OB_JOIN_NEVER, one never will be */
	__u64 redirecting;  /* bit i: socket i redirects to its peer (its sk_msg
			     * sets it before its first redirect, clears it as it
			     * moves to TCP); see "Leaving" */
	__u32 copied_at[2]; /* promotion: socket i's copied_seq when it was put in */
	__u64 cookie[2];    /* its socket cookie: is sk0/sk1 still this socket? */
	OB_HIDDEN_SK(sk0);  /* the socket of index 0 (the client), */
	OB_HIDDEN_SK(sk1);  /* and of index 1 (the server): see ob_conn */
};

#define OB_IDX(role)  (((role)-1) & 1)
#define OB_JOIN_NEVER 4

/* Direction of one socket's sends (invariant 3): PENDING to REDIRECT or
 * TCP at the client's first byte; REDIRECT to TCP at any time (a move:
 * everything redirected is queued ahead of the first TCP byte); TCP to
 * REDIRECT only through a promotion (below): PROMOTING, then REDIRECT at
 * a quiescent sendmsg, or back to TCP. It changes only through
 * sk_dir_step() in bypass.bpf.c, which refuses any other step. */
enum ob_dir {
	OB_DIR_PENDING = 0,   /* client before its first byte */
	OB_DIR_REDIRECT = 1,  /* every sendmsg goes to the peer's ingress */
	OB_DIR_TCP = 2,	      /* every sendmsg goes by TCP */
	OB_DIR_PROMOTING = 3, /* in the sockhashes by a promotion, its sendmsg still by
			       * TCP until the connection is quiescent */
};

/*
 * The steps of enum ob_dir that invariant 3 allows (sk_dir_step()). At the
 * handshake (OB_STEP_HANDSHAKE), before any byte crossed the connection:
 * TCP, a socket's state as pairing starts, to PENDING (the client) or
 * REDIRECT (the server) as it enters the sockhash, and back to TCP if the
 * pairing is undone. Afterwards (OB_STEP_RUN): PENDING to REDIRECT or TCP
 * at the client's first byte; REDIRECT to TCP at any time (a move); TCP to
 * PROMOTING by a promotion only, and PROMOTING to REDIRECT at a quiescent
 * sendmsg (promote_step()) or to TCP. Staying is not a step.
 */
enum ob_step {
	OB_STEP_HANDSHAKE,
	OB_STEP_RUN,
};

static inline int ob_dir_allowed(__u32 from, __u32 to, enum ob_step when)
{
	if (from == to || from > OB_DIR_PROMOTING || to > OB_DIR_PROMOTING)
		return 0;
	if (when == OB_STEP_HANDSHAKE)
		return (from == OB_DIR_TCP && (to == OB_DIR_PENDING || to == OB_DIR_REDIRECT)) ||
		       ((from == OB_DIR_PENDING || from == OB_DIR_REDIRECT) && to == OB_DIR_TCP);
	switch (to) {
	case OB_DIR_TCP:
		return 1;
	case OB_DIR_REDIRECT:
		return from == OB_DIR_PENDING || from == OB_DIR_PROMOTING;
	case OB_DIR_PROMOTING:
		return from == OB_DIR_TCP;
	default:
		return 0; /* nothing goes back to PENDING */
	}
}

/*
 * Promotion: connections that started on TCP. A connection between two
 * enrolled endpoints that did not pair at its handshake (its service on
 * probation or not learned yet, or its client wrote first) still
 * exchanged the keyed option: each socket knows the connection's key and
 * its peer's namespace, and is marked promotable (OB_SK_PROMOTABLE).
 * Once its service is learned GOOD, `oci-bypass promote` (a timer,
 * README) runs the iterator ob_promote in each namespace that holds
 * promotable sockets. Holding each socket's lock (iter/tcp), it puts the
 * socket into both sockhashes under its key, makes or joins the
 * connection's ledger, and sets its direction PROMOTING: its sendmsg
 * still go by TCP. A PROMOTING direction switches to REDIRECT at a
 * sendmsg where (promote_ready() in bypass.bpf.c):
 *  - both sockets are in (ob_ledger.joined);
 *  - the sender has nothing unacknowledged (write_seq == snd_una): none
 *    of its TCP bytes is in flight;
 *  - the peer has read every TCP byte it got (copied_seq == rcv_nxt): no
 *    TCP byte waits to be read after a redirected one (invariant 3);
 *  - the peer has read something since it was put in (copied_seq moved
 *    from ob_ledger.copied_at): a reader that was inside recv() then, in
 *    the stock tcp_recvmsg() that never looks at the redirect queue, has
 *    returned, and every recv() from then on is tcp_bpf_recvmsg().
 * So the first message each way after a promotion goes by TCP. A
 * direction that finds no such moment in OB_PROMOTE_TRIES sendmsg calls
 * and OB_PROMOTE_WINDOW_NS from the first of them once both sockets are
 * in (a connection idle since has not tried yet), or whose peer is not put
 * in within OB_PROMOTE_PEER_NS (later promote runs may bring it), goes to
 * TCP for good and its socket leaves the sockhashes as any other (counted
 * by its service as skipped, with the reason: enum ob_skip).
 *
 * While a socket is in the sockhashes, a reader blocked in
 * tcp_bpf_recvmsg() that is woken without data gets a spurious EAGAIN
 * (enum ob_svc_state). Between its promotion and the switch its bytes go
 * by TCP: a writer that fills its send buffer then wakes its own reader
 * with each ACK that frees room. So a blocking socket is never promoted
 * (OB_SK_DUPLEX) once it has been seen with two threads waiting on it, or
 * with another thread waiting while it sends, or, at OB_DUPLEX_SIGHTINGS
 * ACKs, with someone waiting while more of its own bytes were in flight:
 * a reader thread beside a writer; also a single thread that waits for
 * the answers to requests of several segments. One such ACK is not
 * enough: a thread that wrote a header and then its request, and waits,
 * meets it once when the ACK of the header comes late (softirq work
 * deferred to ksoftirqd, on a loaded host or under qemu's TCG). A single
 * thread waiting for its answer is put in even with its request in
 * flight: only an ACK that frees room in a full send buffer (SOCK_NOSPACE)
 * wakes a waiting reader without data, and such a thread never blocked
 * on room. What remains is a blocking reader thread whose writer first
 * fills the send buffer within the moments between promotion and switch
 * (docs/limitations.md).
 */
#define OB_DUPLEX_SIGHTINGS  2
#define OB_PROMOTE_WINDOW_NS (1000ull * 1000 * 1000)
#define OB_PROMOTE_TRIES     64
#define OB_PROMOTE_PEER_NS   (10000ull * 1000 * 1000)

/* Why a promotion was not made (ob_service.skips[], status). */
enum ob_skip {
	OB_SKIP_QUIET = 0,  /* no quiescent moment within OB_PROMOTE_WINDOW_NS */
	OB_SKIP_PEER = 1,   /* its peer was never put in (closed, withdrawn, refused) */
	OB_SKIP_BUDGET = 2, /* its namespace or the host had its budget out */
	OB_SKIP_QUOTA = 3,  /* its namespace had its quota of sockets in use */
	OB_SKIP_FULL = 4,   /* a table was full, or another tool owns the socket */
	OB_SKIP_READER = 5, /* a reader and a writer waited on the blocking socket at
			     * once (full duplex): OB_SK_DUPLEX */
	OB_SKIP_N = 6,
};

/*
 * Learning from a live connection: a service whose connections never
 * close must still be learned. A server socket on probation that has
 * carried OB_LEARN_SEGS data segments each way, with no blocking
 * half-close so far, vouches for its service as a closed one does (seen
 * at an ACK of its data: sock_ops RTT callback). A request/response
 * exchange that half-closes carries one request and one response: it
 * never gets there. What it risks is what any GOOD service risks: a
 * connection that half-closes later, after many exchanges, meets the
 * spurious EAGAIN there (enum ob_svc_state); its service is then learned
 * HALFCLOSE and its next connections stay on TCP.
 */
#define OB_LEARN_SEGS 4

/* What the iterator ob_promote tells `oci-bypass promote`, per socket it
 * acted on (read from the iterator's file). */
struct ob_promote_rec {
	__u32 what; /* 0: put in (PROMOTING); 1 + enum ob_skip: not, why */
	__u32 pad;
	__u64 netns_cookie;
};

/* A service: a listening port of an enrolled netns (server side of a
 * connection). Also the key of ob_noports. */
struct ob_svc_key {
	__u64 netns_cookie;
	__u16 port; /* host order */
	__u16 pad[3];
};

/*
 * What we learned about a service (ob_services value).
 *
 * Every kernel up to at least 6.18 returns a spurious EAGAIN from a
 * blocking recv() on a redirected socket when the socket is woken without
 * data: tcp_bpf_recvmsg() waits once and gives up. A socket that has sent
 * its FIN with shutdown(SHUT_WR) is woken when the FIN is acknowledged,
 * so a blocking reader after a half-close gets EAGAIN where stock TCP
 * would keep waiting. We cannot change recv(); we keep such services on
 * stock TCP: a service's first connections stay on TCP and are watched
 * (PROBATION); the first one that closes without a blocking half-close
 * makes it GOOD; a blocking half-close anywhere makes it HALFCLOSE for
 * good.
 */
enum ob_svc_state {
	OB_SVC_PROBATION = 0,
	OB_SVC_GOOD = 1,
	OB_SVC_HALFCLOSE = 2,
	/* a blocking sender's peer fell OB_INGRESS_MAX_BLOCKING behind while
	 * a reader waited on the sender's socket: that connection moved to
	 * TCP, the service's next ones start there */
	OB_SVC_OVERFLOW = 3,
	/*
	 * Guards: a connection of the service was seen using what a
	 * redirect cannot give, and the service stays on stock TCP for
	 * good (a redirecting connection that starts using it moves, see
	 * "Guards" in bypass.bpf.c):
	 *  - recv(MSG_WAITALL): tcp_bpf_recvmsg() returns what is queued;
	 *  - splice() from the socket: tcp_splice_read() reads only the TCP
	 *    queue and never sees redirected bytes;
	 *  - SO_RCVLOWAT: tcp_bpf_recvmsg() and poll ignore it;
	 *  - SO_ZEROCOPY: a redirect copies, and no completion is ever queued;
	 *  - TCP_ULP (kTLS): the record layer would sit under the redirect.
	 * WAITALL and SPLICE are seen by fentry programs (not where the
	 * kernel refuses them: doctor says so), the others by a cgroup
	 * setsockopt program.
	 */
	OB_SVC_WAITALL = 4,
	OB_SVC_SPLICE = 5,
	OB_SVC_RCVLOWAT = 6,
	OB_SVC_ZEROCOPY = 7,
	OB_SVC_ULP = 8,
	/* not stored: the namespace has its quota of services
	 * (ob_netns.services); its connections stay on stock TCP, counted
	 * as over_quota */
	OB_SVC_OVER_QUOTA = 254,
	/* not stored: ob_services is full, the service cannot be tracked;
	 * its connections stay on stock TCP, counted as full */
	OB_SVC_UNTRACKED = 255,
};

struct ob_service {
	__u32 state;		/* enum ob_svc_state */
	__u32 promoted;		/* directions switched to REDIRECT by a promotion */
	__u32 skips[OB_SKIP_N]; /* promotions not made, by reason */
	__u32 pad;
};

/* ob_sk_state.flags */
#define OB_SK_HALFCLOSED   1   /* this socket sent FIN by shutdown(SHUT_WR) */
#define OB_SK_LEAVING	   2   /* dir is TCP for good: leave the sockhash */
#define OB_SK_PARKED	   4   /* out of ob_sockhash, still in ob_parking */
#define OB_SK_NOPARK	   8   /* not in ob_parking: cannot leave, stays */
#define OB_SK_REFS_PARKING 16  /* never set (see ob_msg) */
#define OB_SK_OWNS_CONN	   32  /* client: its LEARN or CLIENT_TCP entry goes at its close */
#define OB_SK_LEDGER	   64  /* holds a reference on its ob_ledger entry */
#define OB_SK_READER	   128 /* blocking, and it reads too (reader_at_risk()) */
#define OB_SK_SLOT	   256 /* holds one of its namespace's socket slots (quotas) */
#define OB_SK_PROMOTABLE                                                                           \
	512 /* not in the sockhashes, may be promoted (counted in                                  \
	     * ob_netns.promotable) */
#define OB_SK_DUPLEX                                                                               \
	1024 /* a reader and a writer waited on this blocking                                      \
	      * socket at once: never promoted */
#define OB_SK_RETURN                                                                               \
	2048 /* moved to TCP for a reason that passes (push-back, a budget,                        \
	      * small messages, a peer that moved so): promotable again once                       \
	      * out of both sockhashes ("Moves that come back") */

/*
 * Leaving the sockhash. A socket whose direction went to TCP (small
 * messages streamed, a peer that fell behind, a peer that left; for
 * good, or until it comes back: below)
 * still runs the sk_msg program and tcp_bpf_recvmsg() while it is in a
 * sockmap: slower than stock TCP, and open to the spurious EAGAIN. Taking
 * it out drops its psock, and with it any redirected bytes not read yet,
 * so every paired socket is also in ob_parking (a sockhash without
 * programs) and leaves in two steps, driven by sock_ops RTT callbacks (its
 * TCP traffic brings ACKs):
 *   1. out of ob_sockhash: the peer's next redirect misses and goes by TCP
 *      (and the peer leaves in turn); the psock lives on in ob_parking, so
 *      a redirect already under way still lands and is read in order;
 *   2. OB_LEAVE_GRACE_NS later, once nothing redirected is left unread:
 *      out of ob_parking, the psock goes, the socket is stock TCP.
 * Step 2 also waits until the peer is known not to redirect to us any
 * more (ob_ledger.redirecting): between the verdict and the queueing the
 * peer's thread holds no lock (tcp_bpf_send_verdict() releases the
 * socket), and a redirect decided before step 1 that stalled there (a busy
 * machine, TCG) would otherwise queue into a psock on its way out, and be
 * lost. The peer clears its bit at its first sendmsg after step 1, when its
 * redirect misses: that sendmsg comes after the stalled one has queued
 * (one thread writes a socket at a time). A peer that sends nothing more
 * keeps its bit: then step 2 comes OB_LEAVE_IDLE_NS after step 1, far
 * beyond any stall. Where the kernel does not count
 * unread bytes (6.1), what was redirected and not read yet (ob_recv_fexit)
 * covers a redirect in flight as well.
 */
/*
 * Moves that come back. A direction that moved to TCP for a reason that
 * passes (push-back, a bound, a budget, small messages streamed; its peer,
 * whose next redirect then misses, follows with the same mark) is not on
 * TCP for good: once out of both sockhashes, with nothing redirected left
 * unread, the socket is promotable again, releases its hold on the ledger
 * (the last one to leave drops it), and `oci-bypass promote` brings it
 * back by the route of "Promotion": PROMOTING, then REDIRECT at a
 * quiescent sendmsg (invariant 3). Not while its peer still redirects to
 * it (ob_ledger.redirecting) or is a client that has not written yet (its
 * ob_conns entry NEW or SERVER_READY): those redirects would reach the
 * new psock at once, while a reader of ours may sit in the stock
 * tcp_recvmsg(), which never looks there. So a one-way stream whose
 * reader never writes stays on TCP. What never comes back: a guard
 * (ob_ledger.moved), a move with a reader waiting (OB_MOVE_*_WAITING: its
 * service is learned OVERFLOW), a half-close, a full-duplex blocking
 * socket (OB_SK_DUPLEX), a promotion that found no quiet moment or no
 * peer, and a connection whose ledger was lost. A socket that leaves for
 * good marks the ledger OB_JOIN_NEVER, so its peer is not promoted in
 * vain. ob_ledger.joined has both bits from a pairing at the handshake;
 * a socket's bit goes when it leaves ob_sockhash.
 */
#define OB_LEAVE_GRACE_NS (200ull * 1000 * 1000)
#define OB_LEAVE_IDLE_NS  (5000ull * 1000 * 1000)

/*
 * Small messages streamed back to back are slower redirected than by TCP,
 * which coalesces them (one allocation and one wake-up of the reader per
 * sendmsg here). A sender whose OB_SMALL_RUN messages in a row are smaller
 * than OB_SMALL_MSG bytes, sent within OB_SMALL_WINDOW_NS (or the window
 * set at load, ob_settings.small_window_ns: a slow CPU streams slower) with
 * no message from the peer in between (a stream, not request/response),
 * moves to TCP and leaves. A blocking socket with a reader blocked in recv() at that
 * moment does not move (that reader could meet the spurious EAGAIN).
 */
#define OB_SMALL_MSG	   32
#define OB_SMALL_RUN	   1024
#define OB_SMALL_WINDOW_NS (4ull * 1000 * 1000)

/* Per-socket state (sk_storage). */
struct ob_sk_state {
	struct ob_sock_key peer; /* where our messages go */
	struct ob_svc_key svc;	 /* the service of this connection */
	__u64 netns_cookie;	 /* counters and budget to charge */
	__u32 role;
	__u32 dir;
	__u32 active;	       /* counted in ob_counters.sockets */
	__u32 flags;	       /* OB_SK_* */
	__u64 seen_peer_sends; /* the peer's ledger .sends when the run began */
	__u64 run_start;       /* ktime of the first message of the run */
	__u64 left_at;	       /* ktime of leaving step 1 */
	__u64 seen_read;       /* the peer's ledger .read when last seen to move */
	__u64 progress_at;     /* ktime it was seen to move (or had read it all) */
	__u32 run;	       /* small messages in a row */
	__u32 guard;	       /* enum ob_svc_state: a guard seen on this socket, or 0 */
	__u64 peer_netns;      /* the peer's netns cookie (promotion) */
	__u64 promoted_at;     /* ktime it was put in by a promotion */
	__u64 tried_at;	       /* ktime of its first sendmsg since (promotion) */
	__u32 tries;	       /* its sendmsg calls since that found no quiet moment */
	__u32 waits_sending;   /* ACKs that found a waiter and more of ours in flight */
};

/* ob_netns.flags */
#define OB_NETNS_TRUST 1 /* services start GOOD: no probation */

/*
 * Quotas: no namespace may fill a table for all. Each enrolled namespace
 * holds at most
 *  - conns: ob_conns entries its clients made (the entry is the client's:
 *    made at ACTIVE_ESTABLISHED, counted in ob_netns.conns of
 *    ob_conn.client_netns, given back by whoever deletes it, conn_step());
 *  - services: ob_services entries of its listening ports (given back
 *    only with the namespace: withdraw deletes its services);
 *  - sockets: its sockets in ob_sockhash / ob_parking (a slot is taken
 *    just before the insert and given back when the socket leaves
 *    ob_parking or closes; OB_SK_SLOT in its ob_sk_state);
 *  - ledgers: ob_ledger entries of connections its clients made (taken
 *    by whoever makes the entry, ledger_make(), given back by whoever
 *    deletes it, ledger_drop(); ob_netns.ledgers), as many as conns. An
 *    entry goes once neither socket holds it: each holds it until it
 *    closes or leaves both sockhashes for good.
 * A connection that would go past one stays on stock TCP, counted as
 * over_quota; nothing fails. The counts change only by atomic adds in
 * BPF: a slot is taken by adding 1 and looking at the count before,
 * given back at once if that was the limit already. Limits: enroll
 * --max-conns/--max-services/--max-sockets (ob_netns.max_*), else the
 * load's (ob_settings.ns_max_*: a quarter of each table), else the
 * OB_NS_MAX_* below.
 */
#define OB_NS_MAX_CONNS	   (OB_MAX_CONNS / 4)
#define OB_NS_MAX_SERVICES (OB_MAX_SERVICES / 4)
#define OB_NS_MAX_SOCKETS  (OB_MAX_SOCKETS / 4)

/* An enrolled network namespace (ob_netns: netns cookie -> this). */
struct ob_netns {
	__u32 flags;	  /* OB_NETNS_* */
	__u32 shares;	  /* enum ob_share: does it count in ob_usage.namespaces? */
	__s64 unread;	  /* bytes its sockets redirected that are not read
			   * yet (changed only by atomic adds, in BPF) */
	__u64 max_unread; /* its budget for them; 0: ob_settings' */
	/* quotas (above): in use now (atomic adds, in BPF only), and the
	 * limits, 0: ob_settings' */
	__s64 conns, services, sockets;
	__u32 max_conns, max_services, max_sockets, pad2;
	__s64 promotable; /* its sockets marked OB_SK_PROMOTABLE (atomic adds, in
			   * BPF): promote visits a namespace only if > 0 */
	__s64 ledgers;	  /* quotas: ob_ledger entries of its clients' connections
			   * (limit: max_conns, as for conns) */
};

/* Host-wide usage (ob_usage[0]). */
struct ob_usage {
	__s64 unread;	  /* redirected bytes not read yet, all namespaces */
	__s64 namespaces; /* namespaces the host's budget is shared out
			   * among (ob_netns.shares, "Budgets") */
};

/* ob_netns.shares: a namespace counts in ob_usage.namespaces from its
 * enrolment (through ob_sweep, OB_SWEEP_SHARE; else the first time its
 * budget is asked) until it is withdrawn (through ob_sweep,
 * OB_SWEEP_NETNS). Compare-and-swap both ways: it is counted once, and
 * given back once, whichever comes first. */
enum ob_share {
	OB_SHARE_NONE = 0,	/* not counted yet */
	OB_SHARE_COUNTED = 1,	/* counted */
	OB_SHARE_WITHDRAWN = 2, /* withdrawn: never counted again */
};

/* Per-netns counters (ob_counters: netns cookie -> per-CPU this). */
struct ob_counters {
	__u64 sockets;		/* live sockets redirecting (inc/dec) */
	__u64 paired;		/* sockets that ever redirected */
	__u64 redirected_msgs;	/* sendmsg calls carried to the peer */
	__u64 redirected_bytes; /* their bytes */
	__u64 tcp_msgs;		/* sendmsg calls of enrolled sockets sent by TCP */
	__u64 misses;		/* redirect found no peer (peer closed) */
	__u64 client_first;	/* client wrote before the server was ready */
	__u64 refused;		/* server side would not pair */
	__u64 ebusy;		/* socket owned by another sockmap user */
	__u64 full;		/* sockhash or conn table full */
	__u64 probation;	/* kept on TCP while their service was learning */
	__u64 guarded;		/* kept on TCP: their service half-closes, or a guard */
	__u64 halfcloses;	/* blocking shutdown(SHUT_WR) seen on a service */
	__u64 overflows;	/* directions moved to TCP: the peer fell a bound behind */
	__u64 small_streams;	/* directions moved to TCP: small messages streamed */
	__u64 departures;	/* redirecting sockets that left for TCP while open */
	__u64 pushbacks;	/* directions moved to TCP: the peer stopped reading */
	__u64 over_budget;	/* directions moved to TCP: namespace or host budget spent */
	__u64 guard_moves;	/* redirecting connections moved to TCP by a guard */
	__u64 over_quota;	/* kept on TCP: a quota of the namespace (conns, services,
				 * sockets) was used up */
	__u64 promoted;		/* directions switched to REDIRECT by a promotion */
	__u64 promote_skips;	/* promotions not made (enum ob_skip) */
};

#define OB_COUNTER_FIELDS 22

/* Global settings (ob_settings[0]). */
struct ob_settings {
	__u32 enabled;		    /* 0: no new pairings, existing ones go on */
	__u32 draining;		    /* unload in progress: no new pairings */
	__u64 build_id;		    /* identifies the BPF object that created the maps */
	__u64 small_window_ns;	    /* load --small-stream-window; 0: OB_SMALL_WINDOW_NS */
	__u32 ingress_max;	    /* bytes; 0: OB_INGRESS_MAX */
	__u32 ingress_max_blocking; /* bytes; 0: OB_INGRESS_MAX_BLOCKING */
	__u64 stall_ns;		    /* 0: OB_STALL_NS */
	__u64 ns_max_unread;	    /* a namespace's default budget; 0: OB_NS_MAX_UNREAD */
	__u64 host_max_unread;	    /* all namespaces together; 0: OB_HOST_MAX_UNREAD */
	__u64 secret[2];	    /* keys the TCP option (ob_syn_mac(), ob_seal()); drawn
				     * at load, never leaves the host */
	__u32 ns_max_conns;	    /* a namespace's default quotas; 0: OB_NS_MAX_* */
	__u32 ns_max_services;
	__u32 ns_max_sockets;
	__u32 pad;
};

/*
 * The sweep: the backstop for entries whose owners' callbacks never ran.
 * Every ob_conns and ob_ledger entry is deleted by BPF once its sockets are
 * gone, as long as sock_ops sees them close; it does not when sock_ops was
 * detached from the sockets' cgroup while they were open (a container's
 * link removed, an unload, a socket made outside the cgroup), or in the
 * instant races noted in bypass.bpf.c. `oci-bypass gc` then deletes
 *  - an ob_conns entry older than the handshake window
 *    (OB_HANDSHAKE_WINDOW_NS, gc --stale-after), unless it is
 *    SERVER_READY and its client is still in ob_sockhash or ob_parking
 *    (it waits for that client's first sendmsg). An entry only lives past
 *    the handshake for a server that never completed, or a client that
 *    has not written yet: deleting it is what the client's first sendmsg
 *    finds as REFUSED (stock TCP, and it leaves the sockhash), and what a
 *    late server finds as "not pairing" (stock TCP): never a mis-pairing,
 *    never a reorder.
 *  - an ob_ledger entry neither of whose sockets is in ob_sockhash or
 *    ob_parking: nothing reads it any more (a socket that left both is on
 *    TCP for good with nothing unread); what it still had charged goes
 *    back to the budgets.
 * Why not an LRU map: its evictions follow whoever inserts, so one
 * namespace's churn would evict the entries of live connections of
 * others (what the quotas are there to prevent); an evicted SERVER_READY
 * entry would send a client to TCP whose server already redirects to it
 * (correct, but that connection loses its pairing), and an evicted
 * ledger would take a paired connection's account with bytes in flight:
 * its unread charges never return to the budgets, and its push-back and
 * guards stop. The sweep deletes only what no live socket needs.
 * User space cannot give back the namespace's count atomically, so gc
 * deletes through the program ob_sweep (BPF_PROG_TEST_RUN), which takes
 * this as its context.
 */
#define OB_HANDSHAKE_WINDOW_NS (120ull * 1000 * 1000 * 1000)

enum ob_sweep_what {
	OB_SWEEP_CONN = 1,   /* delete the ob_conns entry key, give back its count */
	OB_SWEEP_LEDGER = 2, /* delete the ob_ledger entry key, return its charges */
	OB_SWEEP_NETNS = 3,  /* withdraw: delete the ob_netns entry netns, give back
			      * its share of the host's budget */
	OB_SWEEP_SHARE = 4,  /* enrol: count the namespace netns among those the
			      * host's budget is shared out among */
};

struct ob_sweep {
	struct ob_conn_key key;
	__u32 what;  /* enum ob_sweep_what */
	__u32 found; /* out: 1 if it deleted the entry */
	__u64 netns; /* OB_SWEEP_NETNS: the namespace's cookie */
};

/* Pure helpers, used by both sides and unit-tested in tests/unit. */

/* The connection key as the client sees it at ACTIVE_ESTABLISHED. */
static inline struct ob_conn_key ob_conn_key_client(__u64 server_cookie, __u32 snd_nxt,
						    __u32 rcv_nxt)
{
	struct ob_conn_key k = { server_cookie, snd_nxt, rcv_nxt };

	return k;
}

/* The same key as the server sees it at PASSIVE_ESTABLISHED. */
static inline struct ob_conn_key ob_conn_key_server(__u64 own_cookie, __u32 snd_nxt, __u32 rcv_nxt)
{
	struct ob_conn_key k = { own_cookie, rcv_nxt, snd_nxt };

	return k;
}

/* bpf_sock_ops.remote_port holds the network-order port in its upper 16
 * bits on little-endian hosts (the kernel shifts sk_dport left by 16, see
 * sock_ops_convert_ctx_access) and in its lower 16 bits on big-endian
 * ones; local_port is plain host order. Returns the port in host order. */
static inline __u16 ob_remote_port(__u32 remote_port)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (__u16)(((remote_port >> 24) & 0xff) | ((remote_port >> 8) & 0xff00));
#else
	return (__u16)remote_port;
#endif
}

/* A namespace's budget ("Budgets" below): its own (own), but no more than
 * its share of the host's (host) among the n namespaces enrolled. */
static inline __u64 ob_ns_budget(__u64 own, __u64 host, __s64 n)
{
	__u64 share = n > 1 ? host / (__u64)n : host;

	return own < share ? own : share;
}

#define OB_MAX_SOCKETS	65536
#define OB_MAX_CONNS	65536
#define OB_MAX_NETNS	4096
#define OB_MAX_NOPORTS	4096
#define OB_MAX_SERVICES 65536
/* Unread redirected bytes a peer may hold before its sender goes to TCP;
 * stock TCP holds up to the receiver's rcvbuf plus the sender's sndbuf, a
 * few MiB. The kernel offers no back-pressure on a redirect, so a producer
 * faster than its consumer reaches this bound, and moving to TCP is how the
 * sender comes to block. A blocking sender's socket may have a reader
 * thread blocked in recv(); once the sender writes by TCP, the ACKs that
 * free its send buffer wake that reader without data, and tcp_bpf_recvmsg()
 * returns EAGAIN to it (see enum ob_svc_state). So a blocking sender gets a
 * larger bound, one that a consumer lagging behind a busy CPU does not
 * reach (t_stop measured lags of 128 to 256 MiB with 16 threads on 2 CPUs),
 * and when it does reach it with someone waiting on its socket, its service
 * is learned as OB_SVC_OVERFLOW. */
#define OB_INGRESS_MAX		(64u << 20)
#define OB_INGRESS_MAX_BLOCKING (256u << 20)
/* Redirected bytes count against the host's TCP memory (tcp_mem); past its
 * hard limit (tcp_mem[2]) a redirect fails and send() returns ENOMEM,
 * which stock TCP never does there. A host with little memory has a small
 * tcp_mem (4 GiB: a limit of about 350 MiB), so load lowers each bound to
 * this share of that limit where that is smaller (ob_settings: about 45
 * and 178 MiB on 4 GiB, unchanged from about 8 GiB up). Under qemu (4 GiB)
 * the 256 MiB bound let t_faults' sender get ENOMEM on 6.12; a quarter of
 * the pressure threshold instead (58 MiB) moved 8 lagging full-duplex
 * streams to TCP on 6.1, whose blocking readers then met the spurious
 * EAGAIN: the blocking bound stays as high as memory allows. Several
 * connections can still add up past the limit: a host-wide budget is
 * issue 10. */
#define OB_INGRESS_MEM_SHARE_BLOCKING 2 /* a half */
#define OB_INGRESS_MEM_SHARE	      8 /* an eighth */

/*
 * Push-back. TCP stops a sender once its window is full: about half of the
 * peer's receive buffer (sk_rcvbuf, tcp_rmem[1] unless set) and half of
 * its own send buffer (sk_sndbuf) in payload, the rest being the kernel's
 * overhead. A redirect has no window, so the sender's direction moves to
 * TCP (which keeps the order: see peer_backlog(); and it comes back, see
 * "Moves that come back") once its peer has more than that unread:
 *  - at once where the application can tell the difference: it set our
 *    send buffer (SO_SNDBUF) or the peer's receive buffer (SO_RCVBUF),
 *    or a send timeout (SO_SNDTIMEO), or, for a non-blocking sender (it
 *    sees the window in send()'s EAGAIN), the peer has read nothing yet
 *    and nobody waits on it (a server that accepts and does not read);
 *  - otherwise once the peer has also read nothing for OB_STALL_NS
 *    (ob_settings.stall_ns; measured by the kernel's coarse clock, so to
 *    a tick, 1 to 10 ms; and looked at when the sender's credit is spent,
 *    see "Budgets"): TCP's autotuning would have grown the
 *    window of a reader that reads, and a reader that is only slower, or
 *    not scheduled yet (both ends on one CPU), keeps reading within that
 *    time and keeps the redirect up to the bounds above.
 * TCP's window then blocks the sender, its send timeout fires and a close
 * by the peer reaches it as an error. Not for a blocking socket that also
 * reads (reader_at_risk() in bypass.bpf.c): its reader could meet the
 * spurious EAGAIN (enum ob_svc_state), so it keeps the bounds above.
 */
#define OB_STALL_NS (100ull * 1000 * 1000)

/*
 * Budgets. Unread redirected bytes are charged to the sending socket's
 * namespace (ob_netns.unread) and to the host (ob_usage). The host's
 * budget is set at load to OB_HOST_MEM_NUM/OB_HOST_MEM_DEN of tcp_mem's
 * pressure threshold (tcp_mem[1]), and every bound above is lowered to it:
 * redirected bytes alone never bring TCP into memory pressure, nor a
 * send() to ENOMEM. It is shared out: a namespace's budget is its own
 * (enroll --max-unread, default OB_NS_MAX_UNREAD), but never more than
 * the host's divided by the namespaces enrolled (ob_usage.namespaces), so
 * the budgets add up to the host's at most and no namespace can spend
 * another's part. Past its budget a namespace's new connections are not
 * paired and its redirecting directions move to TCP, every sender's alike,
 * a blocking one with a reader waiting included (its reader may meet the
 * spurious EAGAIN, as for the bound: *_WAITING in bypass.bpf.c); nobody
 * else's move. A budget move is never learned as a service's verdict (it
 * is the namespace's doing, not the service's). When a namespace is
 * enrolled the others' parts shrink, and those past theirs move at their
 * next look; connections of a withdrawn namespace still redirecting are
 * held to the host's budget itself.
 *
 * A direction's charge (ob_ledger.charged) is not made message by message:
 * where its sender looks at the peer (the slow path of ob_msg), it charges
 * what the peer has not read, this message, and a credit of up to
 * OB_CREDIT_MSGS more messages of this size (OB_CREDIT_MAX bytes at most),
 * as far as the bound and both budgets allow, and TCP's window unless
 * push-back would only wait there for the stall window (the peer reads, and
 * neither socket has a buffer or a send timeout set: peer_backlog()). The
 * messages that follow and fit in what is charged (the fast path) are
 * redirected without looking at the peer, the clock or the budgets: no
 * bound or budget can be crossed within it, since the peer's unread bytes
 * can only have gone down; a stall is seen once the credit is spent. What
 * the peer read goes back to the budgets at the sender's next look, or as
 * the connection leaves or ends. A socket that sets its buffer (SO_SNDBUF,
 * SO_RCVBUF) or a send timeout gives its connection's credit back at once:
 * the window is looked at again.
 */
#define OB_NS_MAX_UNREAD   (256ull << 20)
#define OB_CREDIT_MSGS	   16
#define OB_CREDIT_MAX	   (256u << 10)
#define OB_HOST_MAX_UNREAD (256ull << 20)
#define OB_HOST_MEM_NUM	   3
#define OB_HOST_MEM_DEN	   4

#endif /* OB_BYPASS_H */
