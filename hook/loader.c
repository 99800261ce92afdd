/* loader.c - loads, pins and attaches the BPF object (through features.c and maps.c), detaches and
 * unpins it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bypass.skel.h"
#include "ob.h"

#define PIN_PROG_MSG  OB_PIN_DIR "/prog_msg"
#define PIN_LINK_RECV OB_PIN_DIR "/link_recv" /* the fexit fallback, 6.1 */

uint64_t ob_build_id(void)
{
	size_t sz = 0;
	const void *elf = bypass_bpf__elf_bytes(&sz);
	uLong crc = crc32(0L, Z_NULL, 0);

	crc = crc32(crc, elf, (uInt)sz);
	return ((uint64_t)crc << 32) | (uint32_t)sz;
}

static int pin_prog(struct bpf_program *p, const char *path, struct ob_error *e)
{
	unlink(path);
	if (bpf_program__pin(p, path))
		return ob_err(e, -errno, "cannot pin %s: %s", path, strerror(errno));
	return 0;
}

/* The unread-bytes bounds and budgets for this host (bypass.h:
 * OB_INGRESS_*, OB_*_MAX_UNREAD): the defaults, lowered to a share of
 * tcp_mem's hard limit (bounds) and of its pressure threshold (the host's
 * budget, which then also caps a namespace's default and the bounds). */
static void ingress_bounds(struct ob_settings *s)
{
	unsigned long long lo, pressure, limit, bytes;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_mem", "re");

	s->ingress_max = OB_INGRESS_MAX;
	s->ingress_max_blocking = OB_INGRESS_MAX_BLOCKING;
	s->ns_max_unread = OB_NS_MAX_UNREAD;
	s->host_max_unread = OB_HOST_MAX_UNREAD;
	if (!f)
		return;
	if (fscanf(f, "%llu %llu %llu", &lo, &pressure, &limit) == 3 && page > 0) {
		bytes = limit * (unsigned long long)page;
		if (bytes / OB_INGRESS_MEM_SHARE < s->ingress_max)
			s->ingress_max = (__u32)(bytes / OB_INGRESS_MEM_SHARE);
		if (bytes / OB_INGRESS_MEM_SHARE_BLOCKING < s->ingress_max_blocking)
			s->ingress_max_blocking = (__u32)(bytes / OB_INGRESS_MEM_SHARE_BLOCKING);
		/* a host with much memory gets a budget to match; no bound
		 * or namespace budget above the host's */
		s->host_max_unread =
			pressure * (unsigned long long)page / OB_HOST_MEM_DEN * OB_HOST_MEM_NUM;
		if (s->host_max_unread < s->ns_max_unread)
			s->ns_max_unread = s->host_max_unread;
		if (s->host_max_unread < s->ingress_max_blocking)
			s->ingress_max_blocking = (__u32)s->host_max_unread;
		if (s->host_max_unread < s->ingress_max)
			s->ingress_max = (__u32)s->host_max_unread;
	}
	fclose(f);
}

/* A namespace's default quotas (bypass.h): a quarter of each table, so
 * that it takes four namespaces at their limits to fill one. --max-sockets
 * sizes the sockhashes and ob_conns alike. */
static void quota_defaults(struct ob_settings *s, unsigned max_sockets)
{
	unsigned table = max_sockets ? max_sockets : OB_MAX_SOCKETS;

	s->ns_max_conns = table / 4 ? table / 4 : 1;
	s->ns_max_sockets = table / 4 ? table / 4 : 1;
	s->ns_max_services = OB_NS_MAX_SERVICES;
}

/* Is there a loaded set, and is it ours? 1: same build, 0: none, <0: error. */
static int check_existing(uint64_t id, struct ob_error *e)
{
	struct ob_error none = { 0 };
	struct ob_settings s;
	_cleanup_maps_ struct ob_maps m = OB_MAPS_CLOSED;
	int err = ob_open_maps(&m, &none);

	if (err == -ENOENT)
		return 0; /* nothing loaded */
	if (err)
		return ob_err(e, err, "%s", none.msg);
	err = ob_read_settings(&m, &s, e);
	if (err)
		return err;
	if (s.build_id != id)
		return ob_err(
			e, -EEXIST,
			"a different build of oci-bypass (%016llx, this is %016llx) is loaded; "
			"run 'oci-bypass unload' (it waits for open connections), then load again",
			(unsigned long long)s.build_id, (unsigned long long)id);
	return 1;
}

/* Attaches a guard (to the cgroup, or as a tracing program where cgfd < 0)
 * and pins its link, unless an earlier load's link is pinned already;
 * *attached tells that this call did. */
static int attach_guard(struct bpf_program *p, int cgfd, const char *pin, bool *attached,
			struct ob_error *e)
{
	struct bpf_link *l;
	int err = 0;

	*attached = false;
	if (access(pin, F_OK) == 0)
		return 0;
	l = cgfd >= 0 ? bpf_program__attach_cgroup(p, cgfd) : bpf_program__attach_trace(p);
	if (!l)
		return ob_err(e, -errno, "cannot attach the guard %s: %s", bpf_program__name(p),
			      strerror(errno));
	if (bpf_link__pin(l, pin))
		err = ob_err(e, -errno, "cannot pin %s: %s", pin, strerror(errno));
	*attached = !err;
	bpf_link__destroy(l); /* pinned: stays attached; else detached */
	return err;
}

/* The promotion iterator's link (bypass.h, "Promotion"), pinned for
 * `oci-bypass promote`; only where it loaded. */
static int pin_promote(struct bypass_bpf *skel, struct ob_error *e)
{
	struct bpf_link *l;
	int err = 0;

	unlink(OB_PIN_LINK_PROMOTE);
	if (!bpf_program__autoload(skel->progs.ob_promote))
		return 0;
	l = bpf_program__attach_iter(skel->progs.ob_promote, NULL);
	if (!l)
		return ob_err(e, -errno, "cannot make the promotion iterator: %s", strerror(errno));
	if (bpf_link__pin(l, OB_PIN_LINK_PROMOTE))
		err = ob_err(e, -errno, "cannot pin %s: %s", OB_PIN_LINK_PROMOTE, strerror(errno));
	bpf_link__destroy(l);
	return err;
}

static const char *const guard_pins[] = { OB_PIN_LINK_SETSOCKOPT, OB_PIN_LINK_WAITALL,
					  OB_PIN_LINK_SPLICE, OB_PIN_LINK_WAITALL_BPF };

/*
 * A load in steps, each reading straight through. struct load holds what
 * the steps share and what they made, so that load_finish() can undo, on
 * failure, the pins a step made (the links pinned stay attached through
 * their pins; the rest goes with the skeleton).
 */
struct load {
	struct bypass_bpf *skel;
	char cg[PATH_MAX];
	int cgfd;
	bool existing; /* the maps of an earlier load of this build are pinned */
	bool fallback; /* unread bytes counted by the fexit program (6.1) */
	bool recv_pinned, setsockopt_pinned;
	bool guards[4]; /* guard_pins[i] pinned by this load */
};

/* The cgroup sock_ops attaches to: --cgroup, or the cgroup2 root. */
static int load_cgroup(struct load *l, const struct ob_load_opts *o, struct ob_error *e)
{
	int err = 0;

	if (o->cgroup) {
		if (strlen(o->cgroup) >= sizeof(l->cg))
			return ob_err(e, -ENAMETOOLONG, "--cgroup path too long");
		strcpy(l->cg, o->cgroup);
	} else {
		err = ob_find_cgroup2(l->cg, sizeof(l->cg), e);
		if (err)
			return err;
	}
	l->cgfd = open(l->cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->cgfd < 0)
		return ob_err(e, -errno, "cannot open cgroup %s: %s", l->cg, strerror(errno));
	return 0;
}

/* ob_settings: new ones for new maps (with a fresh secret: it keys the TCP
 * option, bypass.h), or an earlier load's kept; not draining. */
static int load_settings(struct load *l, const struct ob_load_opts *o, struct ob_error *e)
{
	int fd = bpf_map__fd(l->skel->maps.ob_settings);
	struct ob_settings s = { 0 };
	int err;

	if (!l->existing) {
		s.enabled = 1;
		s.build_id = ob_build_id();
		s.small_window_ns = (__u64)o->small_window_ms * 1000000;
		s.stall_ns = o->stall_ms ? (__u64)o->stall_ms * 1000000 : OB_STALL_NS;
		ingress_bounds(&s);
		quota_defaults(&s, o->max_sockets);
		if (getrandom(s.secret, sizeof(s.secret), 0) != (ssize_t)sizeof(s.secret))
			return ob_err(e, -errno, "getrandom failed: %s", strerror(errno));
	} else {
		err = ob_settings_read_fd(fd, &s, e);
		if (err)
			return err;
	}
	s.draining = 0;
	return ob_settings_write_fd(fd, &s, e);
}

/* sk_msg on the sockhash, and where the kernel does not count unread
 * bytes, the fexit program that does (pinned). One counter only: an
 * earlier load's fexit link, still pinned while its sockets drain, counts
 * into these same (reused) maps; with new maps, a link left behind counts
 * into old ones, so new maps start without the earlier links. */
static int load_datapath(struct load *l, struct ob_error *e)
{
	struct bpf_link *recv;
	int err = 0;

	if (bpf_prog_attach(bpf_program__fd(l->skel->progs.ob_msg),
			    bpf_map__fd(l->skel->maps.ob_sockhash), BPF_SK_MSG_VERDICT, 0))
		return ob_err(e, -errno, "cannot attach sk_msg to the sockhash: %s",
			      strerror(errno));
	if (!l->existing) {
		unlink(PIN_LINK_RECV);
		for (size_t i = 0; i < sizeof(guard_pins) / sizeof(guard_pins[0]); i++)
			unlink(guard_pins[i]);
	}
	if (!l->fallback || access(PIN_LINK_RECV, F_OK) == 0)
		return 0;
	recv = bpf_program__attach_trace(l->skel->progs.ob_recv_fexit);
	if (!recv)
		return ob_err(e, -errno, "cannot attach the fexit program on sk_msg_recvmsg: %s",
			      strerror(errno));
	if (bpf_link__pin(recv, PIN_LINK_RECV))
		err = ob_err(e, -errno, "cannot pin %s: %s", PIN_LINK_RECV, strerror(errno));
	l->recv_pinned = !err;
	bpf_link__destroy(recv); /* pinned: stays attached */
	return err;
}

/* The guards, before sock_ops pairs anything (bypass.h, enum ob_svc_state);
 * those on fentry only where they loaded. Containers outside the load's
 * cgroup get the setsockopt guard from its pinned program (cgroup.c). */
static int load_guards(struct load *l, struct ob_error *e)
{
	struct bpf_program *fentry[] = { l->skel->progs.ob_guard_waitall,
					 l->skel->progs.ob_guard_splice,
					 l->skel->progs.ob_guard_waitall_bpf };
	int err = attach_guard(l->skel->progs.ob_setsockopt, l->cgfd, guard_pins[0], &l->guards[0],
			       e);

	for (size_t i = 0; !err && i < sizeof(fentry) / sizeof(fentry[0]); i++)
		if (bpf_program__autoload(fentry[i]))
			err = attach_guard(fentry[i], -1, guard_pins[i + 1], &l->guards[i + 1], e);
	if (!err && l->guards[0]) {
		err = pin_prog(l->skel->progs.ob_setsockopt, OB_PIN_PROG_SETSOCKOPT, e);
		l->setsockopt_pinned = !err;
	}
	return err;
}

/* The programs others use by pin (cgroup.c, the sweep), then sock_ops
 * attached to the cgroup and pinned: from here on, connections pair. */
static int load_attach(struct load *l, struct ob_error *e)
{
	struct bpf_link *link;
	int err = pin_prog(l->skel->progs.ob_msg, PIN_PROG_MSG, e);

	if (!err)
		err = pin_prog(l->skel->progs.ob_sockops, OB_PIN_PROG_SOCKOPS, e);
	if (!err)
		err = pin_prog(l->skel->progs.ob_sweep, OB_PIN_PROG_SWEEP, e);
	if (err)
		return err;
	link = bpf_program__attach_cgroup(l->skel->progs.ob_sockops, l->cgfd);
	if (!link)
		return ob_err(e, -errno, "cannot attach sock_ops to %s: %s", l->cg,
			      strerror(errno));
	if (bpf_link__pin(link, OB_PIN_LINK_SOCKOPS))
		err = ob_err(e, -errno, "cannot pin %s: %s", OB_PIN_LINK_SOCKOPS, strerror(errno));
	bpf_link__destroy(link); /* pinned: stays attached; else detaches */
	if (!err)
		err = ob_attach_cgroup_save(l->cg, e);
	if (!err)
		err = pin_promote(l->skel, e);
	return err;
}

/* What a failed load made goes; what any load holds is let go. */
static void load_finish(struct load *l, int err)
{
	if (err && l->recv_pinned)
		unlink(PIN_LINK_RECV);
	for (size_t i = 0; err && i < sizeof(guard_pins) / sizeof(guard_pins[0]); i++)
		if (l->guards[i])
			unlink(guard_pins[i]);
	if (err && l->setsockopt_pinned)
		unlink(OB_PIN_PROG_SETSOCKOPT);
	bypass_bpf__destroy(l->skel);
	if (l->cgfd >= 0)
		close(l->cgfd);
}

/* Loads, pins and attaches; *already tells that the same build was
 * attached before (nothing done). cg_out gets the attach cgroup. */
int ob_load(const struct ob_load_opts *o, bool *already, char *cg_out, size_t cg_len,
	    struct ob_error *e)
{
	struct load l = { .cgfd = -1 };
	int existing, err;

	ob_libbpf_messages();
	err = ob_ensure_bpffs(e);
	if (err)
		return err;
	if (mkdir(OB_PIN_DIR, 0700) && errno != EEXIST)
		return ob_err(e, -errno, "cannot create %s: %s", OB_PIN_DIR, strerror(errno));
	existing = check_existing(ob_build_id(), e);
	if (existing < 0)
		return existing;
	*already = existing && ob_sockops_attached();
	if (*already)
		return 0;
	l.existing = existing;
	err = load_cgroup(&l, o, e);
	if (!err)
		err = ob_open_object(&l.skel, NULL, existing ? 0 : o->max_sockets, &l.fallback, e);
	if (!err)
		err = ob_load_object(l.skel, e);
	if (!err)
		err = load_settings(&l, o, e);
	if (!err)
		err = load_datapath(&l, e);
	if (!err)
		err = load_guards(&l, e);
	if (!err)
		err = load_attach(&l, e);
	if (!err)
		snprintf(cg_out, cg_len, "%s", l.cg);
	load_finish(&l, err);
	return err;
}

/* Detaches sock_ops: its link pins are the last references, the load's
 * and each container's own (gc places those again after a load). */
void ob_sockops_detach(void)
{
	unlink(OB_PIN_LINK_PROMOTE); /* no promotion once nothing pairs */
	unlink(OB_PIN_LINK_SOCKOPS);
	ob_cgroup_unplace_all();
	unlink(OB_PIN_PROG_SOCKOPS);
}

/* Removes what is left pinned once the sockhash is empty. */
void ob_unpin_all(void)
{
	ob_unpin_maps();
	unlink(PIN_PROG_MSG);
	unlink(OB_PIN_PROG_SWEEP);
	/* The fexit fallback counts reads until the last redirecting socket
	 * is gone: it goes with the sockhash, not with sock_ops. */
	unlink(PIN_LINK_RECV);
	for (size_t i = 0; i < sizeof(guard_pins) / sizeof(guard_pins[0]); i++)
		unlink(guard_pins[i]);
	ob_cgroup_guards_unpin_all();
	unlink(OB_PIN_PROG_SETSOCKOPT);
	rmdir(OB_PIN_DIR);
	ob_attach_cgroup_forget();
}
