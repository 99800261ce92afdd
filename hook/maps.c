/* maps.c - the pinned BPF objects: the only file that opens pins and reads or writes the datapath's
 * maps (bpffs, open/close, settings, counters, sizes, iterators, enrol/withdraw primitives). */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "ob.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

int ob_ensure_bpffs(struct ob_error *e)
{
	struct statfs st;

	if (statfs("/sys/fs/bpf", &st) == 0 && (uint32_t)st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", "/sys/fs/bpf", "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700"))
		return ob_err(e, -errno,
			      "bpffs is not mounted at /sys/fs/bpf and mounting it failed: %s",
			      strerror(errno));
	ob_log("mounted bpffs at /sys/fs/bpf");
	return 0;
}

/* The fds of struct ob_maps, their pin names and layouts, from the one list OB_MAPS. */
#define MAP_FD(n, k, v) &(m)->n,
#define MAP_FDS(m)                                                                                 \
	{                                                                                          \
		OB_MAPS(MAP_FD)                                                                    \
	}
#define MAP_NAME(n, k, v) "ob_" #n,
static const char *const map_names[] = { OB_MAPS(MAP_NAME) };
#define MAP_LAYOUT(n, k, v) { sizeof(k), sizeof(v) },
static const struct {
	__u32 key, value;
} map_layouts[] = { OB_MAPS(MAP_LAYOUT) };

/* A map pinned by a build whose layout differs: reading it into this
 * build's structs would overrun them, so it is not opened at all. */
static int check_layout(int fd, size_t i, const char *path, struct ob_error *e)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return ob_err(e, -errno, "cannot inspect %s: %s", path, strerror(errno));
	if (info.key_size == map_layouts[i].key && info.value_size == map_layouts[i].value)
		return 0;
	return ob_err(e, -EPROTO,
		      "%s was pinned by a build of oci-bypass with other map layouts (key %u, "
		      "value %u bytes; this build: %u, %u): unload it with that build's "
		      "'oci-bypass unload'",
		      path, info.key_size, info.value_size, map_layouts[i].key,
		      map_layouts[i].value);
}

int ob_open_maps(struct ob_maps *m, struct ob_error *e)
{
	int *fds[] = MAP_FDS(m);
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		*fds[i] = -1;
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		int err;

		snprintf(path, sizeof(path), OB_PIN_DIR "/%s", map_names[i]);
		*fds[i] = bpf_obj_get(path);
		if (*fds[i] < 0 && errno == ENOENT &&
		    (fds[i] == &m->parking || fds[i] == &m->ledger || fds[i] == &m->usage))
			continue; /* an older build, to be unloaded */
		if (*fds[i] < 0) {
			err = -errno;
			ob_close_maps(m);
			if (err == -ENOENT)
				return ob_err(e, err,
					      "oci-bypass is not loaded (run 'oci-bypass load')");
			return ob_err(e, err, "cannot open %s: %s", path, strerror(-err));
		}
		err = check_layout(*fds[i], i, path, e);
		if (err) {
			ob_close_maps(m);
			return err;
		}
	}
	return 0;
}

void ob_close_maps(struct ob_maps *m)
{
	int *fds[] = MAP_FDS(m);

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

int ob_read_settings(const struct ob_maps *m, struct ob_settings *s, struct ob_error *e)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(m->settings, &zero, s))
		return ob_err(e, -errno, "cannot read settings: %s", strerror(errno));
	return 0;
}

int ob_write_settings(const struct ob_maps *m, const struct ob_settings *s, struct ob_error *e)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(m->settings, &zero, s, BPF_EXIST))
		return ob_err(e, -errno, "cannot write settings: %s", strerror(errno));
	return 0;
}

int ob_read_netns(const struct ob_maps *m, uint64_t cookie, struct ob_netns *ns, struct ob_error *e)
{
	if (bpf_map_lookup_elem(m->netns, &cookie, ns))
		return ob_err(e, -errno, "cannot read the enrolment of netns %llu: %s",
			      (unsigned long long)cookie, strerror(errno));
	return 0;
}

/* Unread redirected bytes of the whole host (0 if not kept); *sharing:
 * the namespaces its budget is shared out among (bypass.h, "Budgets"). */
int64_t ob_read_usage(const struct ob_maps *m, int64_t *sharing)
{
	struct ob_usage u = { 0 };
	__u32 zero = 0;

	*sharing = 0;
	if (m->usage < 0 || bpf_map_lookup_elem(m->usage, &zero, &u))
		return 0;
	*sharing = u.namespaces;
	return u.unread;
}

int ob_read_counters(const struct ob_maps *m, uint64_t cookie, struct ob_counters *out,
		     struct ob_error *e)
{
	int ncpu = libbpf_num_possible_cpus();
	_cleanup_free_ struct ob_counters *per = NULL;

	if (ncpu <= 0)
		return ob_err(e, -EINVAL, "cannot count CPUs");
	per = calloc((size_t)ncpu, sizeof(*per));
	if (!per)
		return ob_err(e, -ENOMEM, "out of memory");
	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(m->counters, &cookie, per))
		return -errno; /* no counters: caller shows zeros */
	for (int i = 0; i < ncpu; i++)
		ob_counters_add(out, &per[i]);
	return 0;
}

static uint64_t ob_map_count(int map_fd, size_t key_size)
{
	unsigned char key[64], next[64];
	uint64_t n = 0;
	void *prev = NULL;

	if (key_size > sizeof(key))
		return 0;
	while (bpf_map_get_next_key(map_fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

bool ob_sockops_attached(void)
{
	return access(OB_PIN_LINK_SOCKOPS, F_OK) == 0;
}

unsigned ob_guards_attached(void)
{
	return (access(OB_PIN_LINK_SETSOCKOPT, F_OK) == 0 ? OB_GUARD_SETSOCKOPT : 0) |
	       (access(OB_PIN_LINK_WAITALL, F_OK) == 0 ? OB_GUARD_WAITALL : 0) |
	       (access(OB_PIN_LINK_SPLICE, F_OK) == 0 ? OB_GUARD_SPLICE : 0);
}

void ob_unpin_maps(void)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(map_names) / sizeof(map_names[0]); i++) {
		snprintf(path, sizeof(path), OB_PIN_DIR "/%s", map_names[i]);
		unlink(path);
	}
	unlink(OB_PIN_DIR "/ob_sk_state"); /* pinned, never opened here */
}

/* ---- a throwaway map: which kptr tag this kernel knows (features.c) ---- */

/* Does an array map take a value holding one pointer to struct tcp_sock
 * tagged tag (an untrusted kptr, if the kernel knows the tag)? */
/* Every member of a map value that holds a kptr on an 8-byte boundary,
 * or Linux 6.1 drops its kptrs (bypass.h, struct ob_conn). */
#define OB_ALIGNED(type, member)                                                                   \
	_Static_assert(offsetof(struct type, member) % 8 == 0,                                     \
		       #type "." #member " is not 8-byte "                                         \
			     "aligned: 6.1 would drop the kptrs")
OB_ALIGNED(ob_conn, state);
OB_ALIGNED(ob_conn, client_rcvbuf);
OB_ALIGNED(ob_conn, created);
OB_ALIGNED(ob_conn, client_netns);
OB_ALIGNED(ob_conn, client_cookie);
OB_ALIGNED(ob_conn, client_sk);
OB_ALIGNED(ob_ledger, sent);
OB_ALIGNED(ob_ledger, read);
OB_ALIGNED(ob_ledger, charged);
OB_ALIGNED(ob_ledger, sends);
OB_ALIGNED(ob_ledger, netns);
OB_ALIGNED(ob_ledger, rcvbuf);
OB_ALIGNED(ob_ledger, refs);
OB_ALIGNED(ob_ledger, moved);
OB_ALIGNED(ob_ledger, joined);
OB_ALIGNED(ob_ledger, redirecting);
OB_ALIGNED(ob_ledger, copied_at);
OB_ALIGNED(ob_ledger, cookie);
OB_ALIGNED(ob_ledger, sk0);
OB_ALIGNED(ob_ledger, sk1);

bool ob_map_takes_kptr(const char *tag)
{
	struct btf *b = btf__new_empty();
	int i32, tcp, ptr, val, fd = -1;
	__u64 v = 0xdeadbeef;
	__u32 zero = 0;
	bool kptr = false;

	if (!b)
		return false;
	i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
	tcp = btf__add_struct(b, "tcp_sock", 4);
	if (i32 > 0 && tcp > 0 && !btf__add_field(b, "x", i32, 0, 0)) {
		ptr = btf__add_ptr(b, btf__add_type_tag(b, tag, tcp));
		val = btf__add_struct(b, "ob_kptr_probe", 8);
		if (ptr > 0 && val > 0 && !btf__add_field(b, "sk", ptr, 0, 0) &&
		    !btf__load_into_kernel(b)) {
			LIBBPF_OPTS(bpf_map_create_opts, o, .btf_fd = (__u32)btf__fd(b),
				    .btf_key_type_id = (__u32)i32, .btf_value_type_id = (__u32)val);
			fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ob_kptr_probe", 4, 8, 1, &o);
		}
	}
	/* A kernel that does not know the tag takes the map all the same
	 * (6.1 and "kptr_untrusted"): only a kptr field reads back as 0
	 * after user space wrote it (the kernel never copies one out). */
	if (fd >= 0 && !bpf_map_update_elem(fd, &zero, &v, BPF_ANY) &&
	    !bpf_map_lookup_elem(fd, &zero, &v))
		kptr = v == 0;
	if (fd >= 0)
		close(fd);
	btf__free(b);
	return kptr;
}

/* ---- settings through a map fd (load writes them before anything is pinned) ---- */

int ob_settings_read_fd(int fd, struct ob_settings *s, struct ob_error *e)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fd, &zero, s))
		return ob_err(e, -errno, "cannot read settings: %s", strerror(errno));
	return 0;
}

int ob_settings_write_fd(int fd, const struct ob_settings *s, struct ob_error *e)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(fd, &zero, s, BPF_ANY))
		return ob_err(e, -errno, "cannot write settings: %s", strerror(errno));
	return 0;
}

/* ---- sizes ---- */

void ob_map_sizes(const struct ob_maps *m, struct ob_map_sizes *z)
{
	z->sockhash = ob_map_count(m->sockhash, sizeof(struct ob_sock_key));
	z->conns = ob_map_count(m->conns, sizeof(struct ob_conn_key));
	z->parking = m->parking >= 0 ? ob_map_count(m->parking, sizeof(struct ob_sock_key)) : 0;
	z->ledger = m->ledger >= 0 ? ob_map_count(m->ledger, sizeof(struct ob_conn_key)) : 0;
}

/* Sockets that still redirect: every paired socket is in parking too. */
uint64_t ob_sockets_left(const struct ob_maps *m)
{
	uint64_t left = ob_map_count(m->sockhash, sizeof(struct ob_sock_key));

	if (m->parking >= 0) {
		uint64_t parked = ob_map_count(m->parking, sizeof(struct ob_sock_key));

		left = parked > left ? parked : left;
	}
	return left;
}

/* ---- iterators: the keys are read first, so fn may delete ---- */

/* Every key of the map fd (each size bytes), read before any is used, into
 * *out (n of them; free() it). */
static int map_keys(int fd, size_t size, void **out, size_t *n, struct ob_error *e)
{
	unsigned char key[64], next[64];
	unsigned char *all = NULL;
	void *prev = NULL;

	*out = NULL;
	*n = 0;
	if (size > sizeof(key))
		return ob_err(e, -EINVAL, "map key of %zu bytes", size);
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		unsigned char *grown = realloc(all, (*n + 1) * size);

		if (!grown) {
			free(all);
			return ob_err(e, -ENOMEM, "out of memory");
		}
		all = grown;
		memcpy(all + *n * size, next, size);
		(*n)++;
		memcpy(key, next, size);
		prev = key;
	}
	*out = all;
	return 0;
}

int ob_netns_foreach(const struct ob_maps *m, int (*fn)(uint64_t cookie, void *ctx), void *ctx,
		     struct ob_error *e)
{
	_cleanup_free_ uint64_t *all = NULL;
	size_t n;
	int err = map_keys(m->netns, sizeof(*all), (void **)&all, &n, e);

	for (size_t i = 0; i < n && !err; i++)
		err = fn(all[i], ctx);
	return err;
}

int ob_services_foreach(const struct ob_maps *m,
			int (*fn)(uint64_t cookie, uint16_t port, const struct ob_service *sv,
				  void *ctx),
			void *ctx)
{
	struct ob_svc_key k, next, *prev = NULL;
	struct ob_service sv;
	int err = 0;

	while (!err && bpf_map_get_next_key(m->services, prev, &next) == 0) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(m->services, &k, &sv))
			continue;
		err = fn(k.netns_cookie, k.port, &sv, ctx);
	}
	return err;
}

/* ---- the promotion iterator (bypass.h, "Promotion") ---- */

int ob_promote_link_open(struct ob_error *e)
{
	int fd = bpf_obj_get(OB_PIN_LINK_PROMOTE);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		return ob_err(
			e, -ENOENT,
			"nothing to promote with: sock_ops is detached, or this kernel cannot "
			"promote (oci-bypass doctor)");
	return ob_err(e, -errno, "cannot open %s: %s", OB_PIN_LINK_PROMOTE, strerror(errno));
}

int ob_promote_iter_create(int link)
{
	return bpf_iter_create(link);
}

/* ---- enrolment primitives on the maps (enrolments.c keeps their records) ---- */

bool ob_netns_enrolled(const struct ob_maps *m, uint64_t cookie)
{
	struct ob_netns ns;

	return bpf_map_lookup_elem(m->netns, &cookie, &ns) == 0;
}

/* Enrols one netns in the maps (idempotent; *already: it was before).
 * Counters go in first: the netns entry is what turns pairing on. */
/* Deletes every entry of a map keyed by struct ob_svc_key for one netns. */
static void delete_svc_keys(int map_fd, uint64_t cookie)
{
	struct ob_svc_key k, next, *prev = NULL;

	while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
		k = next;
		if (k.netns_cookie == cookie) {
			bpf_map_delete_elem(map_fd, &k);
			prev = NULL; /* restart: the walk lost its place */
			continue;
		}
		prev = &k;
	}
}

/*
 * Kept verdicts (verdict_store.c) go in before the netns entry: until it
 * exists no BPF program makes or reads a service of this netns, and its
 * count of services (ob_netns.services, which only BPF changes once the
 * entry is in) starts at what was put in. At most its quota of services.
 * Returns how many.
 */
static int restore_verdicts(const struct ob_maps *m, uint64_t cookie, const struct ob_verdicts *vs,
			    uint32_t limit)
{
	int n = 0;

	for (int i = 0; vs && i < vs->n && (uint32_t)n < limit; i++) {
		struct ob_svc_key k = { .netns_cookie = cookie, .port = vs->v[i].port };
		struct ob_service sv = { .state = vs->v[i].state };

		if (ob_verdict_keepable(sv.state) &&
		    bpf_map_update_elem(m->services, &k, &sv, BPF_NOEXIST) == 0)
			n++;
	}
	return n;
}

/* Runs ob_sweep: 1 it deleted, 0 gone already, or -errno. A syscall
 * program's context is copied back into ctx_in. */
static int sweep_run(int prog, struct ob_sweep *ctx)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = ctx, .ctx_size_in = sizeof(*ctx));

	if (bpf_prog_test_run_opts(prog, &o))
		return -errno;
	return ctx->found ? 1 : 0;
}

/* Counts a namespace just enrolled among those the host's budget is shared
 * out among (bypass.h, "Budgets"), through ob_sweep; where it cannot run,
 * BPF counts the namespace when it first asks for its budget. */
static void share_take(uint64_t cookie)
{
	struct ob_sweep ctx = { .what = OB_SWEEP_SHARE, .netns = cookie };
	_cleanup_close_ int prog = bpf_obj_get(OB_PIN_PROG_SWEEP);

	if (prog >= 0)
		sweep_run(prog, &ctx);
}

/* The enrolment en, whole, into the maps: its ports left alone, its
 * namespace's entry (trust, budget, quotas) and counters, and the verdicts
 * kept for it (*en->restored: how many went in). *already: it was
 * enrolled before (nothing else done but the ports). */
int ob_netns_enrol(const struct ob_maps *m, uint64_t cookie, const struct ob_enrolment *en,
		   bool *already, struct ob_error *e)
{
	const struct ob_verdicts *kept = en->kept;
	int *restored = en->restored;
	struct ob_counters *zero = NULL;
	struct ob_netns ns = { 0 };
	int ncpu = libbpf_num_possible_cpus();
	bool made_counters;
	int err = 0;

	*already = false;
	if (restored)
		*restored = 0;
	for (int i = 0; i < en->n_noports; i++) {
		struct ob_svc_key pk = { .netns_cookie = cookie, .port = en->noports[i] };
		__u8 one = 1;

		if (bpf_map_update_elem(m->noports, &pk, &one, BPF_ANY))
			return ob_err(e, -errno, "cannot record port %u to leave alone: %s",
				      en->noports[i], strerror(errno));
	}
	if (ob_netns_enrolled(m, cookie)) {
		*already = true;
		return 0;
	}
	ns.flags = en->trust ? OB_NETNS_TRUST : 0;
	ns.max_unread = en->max_unread;
	ns.max_conns = en->quotas.conns;
	ns.max_services = en->quotas.services;
	ns.max_sockets = en->quotas.sockets;
	if (kept && kept->n) {
		struct ob_settings s;
		uint32_t limit = ns.max_services;

		if (!limit && ob_read_settings(m, &s, NULL) == 0)
			limit = s.ns_max_services;
		ns.services = restore_verdicts(m, cookie, kept, limit ? limit : OB_NS_MAX_SERVICES);
	}
	if (restored)
		*restored = (int)ns.services;
	zero = calloc(ncpu > 0 ? (size_t)ncpu : 1, sizeof(*zero));
	if (!zero) {
		delete_svc_keys(m->services, cookie);
		return ob_err(e, -ENOMEM, "out of memory");
	}
	/* A concurrent enrolment of the same netns may get there first: its
	 * counters are kept (NOEXIST), and its netns entry (EEXIST) means
	 * enrolled already. Undo only what this call made. */
	made_counters = bpf_map_update_elem(m->counters, &cookie, zero, BPF_NOEXIST) == 0;
	if ((!made_counters && errno != EEXIST) ||
	    bpf_map_update_elem(m->netns, &cookie, &ns, BPF_NOEXIST)) {
		int why = errno;

		if (why == EEXIST && ob_netns_enrolled(m, cookie)) {
			/* enrolled meanwhile (enroll from the command line):
			 * its services stay as they are, but for the kept ones
			 * put in above, which its count does not include: over
			 * its quota by at most OB_VERDICTS_MAX_SVC */
			*already = true;
			if (restored)
				*restored = 0;
			goto out;
		}
		delete_svc_keys(m->services, cookie);
		if (restored)
			*restored = 0;
		if (made_counters)
			bpf_map_delete_elem(m->counters, &cookie);
		if (why == E2BIG)
			err = ob_err(e, -E2BIG, "too many enrolled namespaces (%d)", OB_MAX_NETNS);
		else
			err = ob_err(e, -why, "cannot enrol: %s", strerror(why));
	}
	if (!err)
		share_take(cookie);
out:
	free(zero);
	return err;
}

/* Withdrawing never touches the sockhash: connections already redirecting
 * keep going until they close (invariant 4). Returns 1 if it was enrolled. */
int ob_netns_withdraw(const struct ob_maps *m, uint64_t cookie)
{
	struct ob_sweep ctx = { .what = OB_SWEEP_NETNS, .netns = cookie };
	_cleanup_close_ int prog = bpf_obj_get(OB_PIN_PROG_SWEEP);
	struct ob_netns ns;
	int was = 0;

	/* through ob_sweep, which gives back its share of the host's budget
	 * (bypass.h, "Budgets"); without it (pins of a load that failed
	 * half-way), deleted here, and the shares stay as they were until
	 * the next load */
	if (bpf_map_lookup_elem(m->netns, &cookie, &ns) == 0) {
		if (prog < 0 || sweep_run(prog, &ctx) < 0)
			bpf_map_delete_elem(m->netns, &cookie);
		was = 1;
	}
	delete_svc_keys(m->noports, cookie);
	delete_svc_keys(m->services, cookie);
	bpf_map_delete_elem(m->counters, &cookie);
	return was;
}

/* ---- the sweep (bypass.h): what no live socket needs, deleted through ob_sweep ---- */

/* Is the socket of that side of the connection in either sockhash? (Yes
 * when unsure.) A user-space lookup in a sockhash gives the socket's
 * cookie, or ENOENT. */
static bool sock_present(const struct ob_maps *m, const struct ob_conn_key *k, __u32 role)
{
	struct ob_sock_key sk = { .conn = *k, .role = role };
	__u64 cookie;

	if (bpf_map_lookup_elem(m->sockhash, &sk, &cookie) == 0 || errno != ENOENT)
		return true;
	return m->parking >= 0 &&
	       (bpf_map_lookup_elem(m->parking, &sk, &cookie) == 0 || errno != ENOENT);
}

/* Runs ob_sweep on one entry: 1 deleted, 0 gone already, or -errno. */
static int sweep_one(int prog, const struct ob_conn_key *k, __u32 what)
{
	struct ob_sweep ctx = { .key = *k, .what = what };

	return sweep_run(prog, &ctx);
}

int ob_sweep_tables(const struct ob_maps *m, uint64_t stale_ns, unsigned *conns, unsigned *ledgers,
		    struct ob_error *e)
{
	_cleanup_close_ int prog = bpf_obj_get(OB_PIN_PROG_SWEEP);
	_cleanup_free_ struct ob_conn_key *keys = NULL;
	struct timespec ts;
	uint64_t now;
	size_t n;
	int err;

	*conns = *ledgers = 0;
	if (prog < 0)
		return ob_err(e, -errno, "cannot open %s: %s", OB_PIN_PROG_SWEEP, strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns()'s clock */
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	err = map_keys(m->conns, sizeof(*keys), (void **)&keys, &n, e);
	for (size_t i = 0; !err && i < n; i++) {
		struct ob_conn c;

		if (bpf_map_lookup_elem(m->conns, &keys[i], &c))
			continue; /* gone meanwhile */
		if (c.created > now || now - c.created < stale_ns)
			continue; /* its handshake may still complete */
		if (c.state == OB_CONN_SERVER_READY && sock_present(m, &keys[i], OB_ROLE_CLIENT))
			continue; /* paired: waits for its client's first sendmsg */
		err = sweep_one(prog, &keys[i], OB_SWEEP_CONN);
		if (err > 0)
			(*conns)++;
		err = err < 0 ? ob_err(e, err, "the sweep failed: %s", strerror(-err)) : 0;
	}
	free(keys);
	keys = NULL;
	if (err || m->ledger < 0)
		return err;
	err = map_keys(m->ledger, sizeof(*keys), (void **)&keys, &n, e);
	for (size_t i = 0; !err && i < n; i++) {
		if (sock_present(m, &keys[i], OB_ROLE_CLIENT) ||
		    sock_present(m, &keys[i], OB_ROLE_SERVER))
			continue;
		err = sweep_one(prog, &keys[i], OB_SWEEP_LEDGER);
		if (err > 0)
			(*ledgers)++;
		err = err < 0 ? ob_err(e, err, "the sweep failed: %s", strerror(-err)) : 0;
	}
	return err;
}

/* ---- the sock_ops program pinned at load, attached to one more cgroup ---- */

/* Attaches the program pinned at prog_pin (sock_ops, or the setsockopt
 * guard) to the cgroup directory cgfd (named cg in messages) with a link
 * pinned at link_path: it stays attached until the pin is removed. */
int ob_cgroup_link_pin(const char *prog_pin, int type, int cgfd, const char *cg,
		       const char *link_path, struct ob_error *e)
{
	int prog, link, err = 0;

	prog = bpf_obj_get(prog_pin);
	if (prog < 0)
		return ob_err(e, -errno, "cannot open %s: %s", prog_pin, strerror(errno));
	link = bpf_link_create(prog, cgfd, (enum bpf_attach_type)type, NULL);
	if (link < 0)
		err = ob_err(e, -errno, "cannot attach %s to %s: %s",
			     type == BPF_CGROUP_SOCK_OPS ? "sock_ops" : "the setsockopt guard", cg,
			     strerror(errno));
	else if (unlink(link_path), bpf_obj_pin(link, link_path))
		err = ob_err(e, -errno, "cannot pin %s: %s", link_path, strerror(errno));
	if (link >= 0)
		close(link); /* pinned: stays attached; not pinned: detaches */
	close(prog);
	return err;
}
