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
	struct ob_maps m;
	int err = ob_open_maps(&m, &none);

	if (err == -ENOENT)
		return 0; /* nothing loaded */
	if (err)
		return ob_err(e, err, "%s", none.msg);
	err = ob_read_settings(&m, &s, e);
	ob_close_maps(&m);
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

/* Loads, pins and attaches; *already tells that the same build was
 * attached before (nothing done). cg_out gets the attach cgroup. */
int ob_load(const struct ob_load_opts *o, bool *already, char *cg_out, size_t cg_len,
	    struct ob_error *e)
{
	struct bypass_bpf *skel = NULL;
	struct bpf_link *link = NULL, *recv = NULL;
	struct ob_settings s = { 0 };
	char cg[PATH_MAX];
	uint64_t id = ob_build_id();
	int cgfd = -1, existing, err;
	bool fallback = false, guards[4] = { false };

	ob_libbpf_messages();
	err = ob_ensure_bpffs(e);
	if (err)
		return err;
	if (mkdir(OB_PIN_DIR, 0700) && errno != EEXIST)
		return ob_err(e, -errno, "cannot create %s: %s", OB_PIN_DIR, strerror(errno));
	existing = check_existing(id, e);
	if (existing < 0)
		return existing;
	*already = existing && ob_sockops_attached();
	if (*already)
		return 0;

	if (o->cgroup) {
		if (strlen(o->cgroup) >= sizeof(cg))
			return ob_err(e, -ENAMETOOLONG, "--cgroup path too long");
		strcpy(cg, o->cgroup);
	} else {
		err = ob_find_cgroup2(cg, sizeof(cg), e);
		if (err)
			return err;
	}
	cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return ob_err(e, -errno, "cannot open cgroup %s: %s", cg, strerror(errno));

	err = ob_open_object(&skel, NULL, existing ? 0 : o->max_sockets, &fallback, e);
	if (!err)
		err = ob_load_object(skel, e);
	if (err)
		goto cleanup;
	if (!existing) {
		s.enabled = 1;
		s.build_id = id;
		s.small_window_ns = (__u64)o->small_window_ms * 1000000;
		s.stall_ns = o->stall_ms ? (__u64)o->stall_ms * 1000000 : OB_STALL_NS;
		ingress_bounds(&s);
		quota_defaults(&s, o->max_sockets);
		/* keys the TCP option (bypass.h); a load with these maps
		 * again keeps it */
		if (getrandom(s.secret, sizeof(s.secret), 0) != (ssize_t)sizeof(s.secret)) {
			err = ob_err(e, -errno, "getrandom failed: %s", strerror(errno));
			goto cleanup;
		}
	} else if ((err = ob_settings_read_fd(bpf_map__fd(skel->maps.ob_settings), &s, e))) {
		goto cleanup;
	}
	s.draining = 0;
	err = ob_settings_write_fd(bpf_map__fd(skel->maps.ob_settings), &s, e);
	if (err)
		goto cleanup;
	if (bpf_prog_attach(bpf_program__fd(skel->progs.ob_msg),
			    bpf_map__fd(skel->maps.ob_sockhash), BPF_SK_MSG_VERDICT, 0)) {
		err = ob_err(e, -errno, "cannot attach sk_msg to the sockhash: %s",
			     strerror(errno));
		goto cleanup;
	}
	/* One counter only: an earlier load's fexit link, still pinned while
	 * its sockets drain, counts into these same (reused) maps; with new
	 * maps, a link left behind counts into old ones. */
	if (!existing) {
		unlink(PIN_LINK_RECV);
		for (size_t i = 0; i < sizeof(guard_pins) / sizeof(guard_pins[0]); i++)
			unlink(guard_pins[i]);
	}
	if (fallback && access(PIN_LINK_RECV, F_OK) != 0 &&
	    !(recv = bpf_program__attach_trace(skel->progs.ob_recv_fexit))) {
		err = ob_err(e, -errno, "cannot attach the fexit program on sk_msg_recvmsg: %s",
			     strerror(errno));
		goto cleanup;
	}
	if (recv) {
		if (bpf_link__pin(recv, PIN_LINK_RECV)) {
			err = ob_err(e, -errno, "cannot pin %s: %s", PIN_LINK_RECV,
				     strerror(errno));
			goto cleanup;
		}
	}
	/* The guards, before sock_ops pairs anything (bypass.h, enum
	 * ob_svc_state); those on fentry only where they loaded. */
	err = attach_guard(skel->progs.ob_setsockopt, cgfd, OB_PIN_LINK_SETSOCKOPT, &guards[0], e);
	if (!err && bpf_program__autoload(skel->progs.ob_guard_waitall))
		err = attach_guard(skel->progs.ob_guard_waitall, -1, OB_PIN_LINK_WAITALL,
				   &guards[1], e);
	if (!err && bpf_program__autoload(skel->progs.ob_guard_waitall_bpf))
		err = attach_guard(skel->progs.ob_guard_waitall_bpf, -1, OB_PIN_LINK_WAITALL_BPF,
				   &guards[3], e);
	if (!err && bpf_program__autoload(skel->progs.ob_guard_splice))
		err = attach_guard(skel->progs.ob_guard_splice, -1, OB_PIN_LINK_SPLICE, &guards[2],
				   e);
	/* containers outside the load's cgroup get the setsockopt guard
	 * from it (cgroup.c) */
	if (!err && guards[0])
		err = pin_prog(skel->progs.ob_setsockopt, OB_PIN_PROG_SETSOCKOPT, e);
	if (err)
		goto cleanup;
	err = pin_prog(skel->progs.ob_msg, PIN_PROG_MSG, e);
	if (!err)
		err = pin_prog(skel->progs.ob_sockops, OB_PIN_PROG_SOCKOPS, e);
	if (!err)
		err = pin_prog(skel->progs.ob_sweep, OB_PIN_PROG_SWEEP, e);
	if (err)
		goto cleanup;
	link = bpf_program__attach_cgroup(skel->progs.ob_sockops, cgfd);
	if (!link) {
		err = ob_err(e, -errno, "cannot attach sock_ops to %s: %s", cg, strerror(errno));
		goto cleanup;
	}
	if (bpf_link__pin(link, OB_PIN_LINK_SOCKOPS)) {
		err = ob_err(e, -errno, "cannot pin %s: %s", OB_PIN_LINK_SOCKOPS, strerror(errno));
		bpf_link__destroy(link); /* not pinned: this detaches */
		link = NULL;
		goto cleanup;
	}
	err = ob_attach_cgroup_save(cg, e);
	if (!err)
		err = pin_promote(skel, e);
	if (err)
		goto cleanup;
	snprintf(cg_out, cg_len, "%s", cg);
cleanup:
	if (err && recv)
		unlink(PIN_LINK_RECV);
	for (size_t i = 0; err && i < sizeof(guard_pins) / sizeof(guard_pins[0]); i++)
		if (guards[i])
			unlink(guard_pins[i]);
	if (err)
		unlink(OB_PIN_PROG_SETSOCKOPT);
	bpf_link__destroy(recv); /* pinned: stays attached */
	bpf_link__destroy(link); /* pinned: stays attached */
	bypass_bpf__destroy(skel);
	if (cgfd >= 0)
		close(cgfd);
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
