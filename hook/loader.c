/* loader.c - the verbs load, unload, enable and disable: loads, pins and attaches the BPF object (through features.c and maps.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bypass.skel.h"
#include "ob.h"

#define PIN_PROG_MSG OB_PIN_DIR "/prog_msg"
#define PIN_LINK_RECV OB_PIN_DIR "/link_recv" /* the fexit fallback, 6.1 */

uint64_t ob_build_id(void)
{
	size_t sz = 0;
	const void *elf = bypass_bpf__elf_bytes(&sz);
	uLong crc = crc32(0L, Z_NULL, 0);

	crc = crc32(crc, elf, (uInt)sz);
	return ((uint64_t)crc << 32) | (uint32_t)sz;
}

static int pin_prog(struct bpf_program *p, const char *path)
{
	unlink(path);
	if (bpf_program__pin(p, path))
		return ob_err(-errno, "cannot pin %s: %s", path, strerror(errno));
	return 0;
}

/* The unread-bytes bounds and budgets for this host (bypass.h:
 * OB_INGRESS_*, OB_*_MAX_UNREAD): the defaults, lowered to a share of
 * tcp_mem's hard limit (bounds) and of its pressure threshold (the host's
 * budget, which then also caps a namespace's default). */
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
		s->host_max_unread = pressure * (unsigned long long)page / OB_HOST_MEM_DEN *
				     OB_HOST_MEM_NUM;
		if (s->host_max_unread < s->ns_max_unread)
			s->ns_max_unread = s->host_max_unread;
		if (s->host_max_unread < s->ingress_max_blocking)
			s->ingress_max_blocking = (__u32)s->host_max_unread;
		if (s->host_max_unread < s->ingress_max)
			s->ingress_max = (__u32)s->host_max_unread;
	}
	fclose(f);
}

/* Is there a loaded set, and is it ours? 1: same build, 0: none, <0: error. */
static int check_existing(uint64_t id)
{
	struct ob_settings s;
	struct ob_maps m;
	int err = ob_open_maps(&m);

	if (err == -ENOENT) {
		ob_err_clear();
		return 0;
	}
	if (err)
		return err;
	err = ob_read_settings(&m, &s);
	ob_close_maps(&m);
	if (err)
		return err;
	if (s.build_id != id)
		return ob_err(-EEXIST,
			      "a different build of oci-bypass (%016llx, this is %016llx) is loaded; "
			      "run 'oci-bypass unload' (it waits for open connections), then load again",
			      (unsigned long long)s.build_id, (unsigned long long)id);
	return 1;
}

/* Loads, pins and attaches; *already tells that the same build was
 * attached before (nothing done). cg_out gets the attach cgroup. */
int ob_load(const struct ob_load_opts *o, bool *already, char *cg_out, size_t cg_len)
{
	struct bypass_bpf *skel = NULL;
	struct bpf_link *link = NULL, *recv = NULL;
	struct ob_settings s = { 0 };
	char cg[PATH_MAX];
	uint64_t id = ob_build_id();
	__u32 zero = 0;
	int cgfd = -1, existing, err;
	bool fallback = false;

	ob_libbpf_messages();
	err = ob_ensure_bpffs();
	if (err)
		return err;
	if (mkdir(OB_PIN_DIR, 0700) && errno != EEXIST)
		return ob_err(-errno, "cannot create %s: %s", OB_PIN_DIR, strerror(errno));
	existing = check_existing(id);
	if (existing < 0)
		return existing;
	*already = existing && ob_sockops_attached();
	if (*already)
		return 0;

	if (o->cgroup) {
		if (strlen(o->cgroup) >= sizeof(cg))
			return ob_err(-ENAMETOOLONG, "--cgroup path too long");
		strcpy(cg, o->cgroup);
	} else {
		err = ob_find_cgroup2(cg, sizeof(cg));
		if (err)
			return err;
	}
	cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return ob_err(-errno, "cannot open cgroup %s: %s", cg, strerror(errno));

	err = ob_open_object(&skel, NULL, existing ? 0 : o->max_sockets, &fallback);
	if (!err)
		err = ob_load_object(skel);
	if (err)
		goto cleanup;
	if (!existing) {
		s.enabled = 1;
		s.build_id = id;
		s.small_window_ns = (__u64)o->small_window_ms * 1000000;
		s.stall_ns = o->stall_ms ? (__u64)o->stall_ms * 1000000 : OB_STALL_NS;
		ingress_bounds(&s);
	} else if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.ob_settings), &zero, &s)) {
		err = ob_err(-errno, "cannot read settings: %s", strerror(errno));
		goto cleanup;
	}
	s.draining = 0;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.ob_settings), &zero, &s, BPF_ANY)) {
		err = ob_err(-errno, "cannot write settings: %s", strerror(errno));
		goto cleanup;
	}
	if (bpf_prog_attach(bpf_program__fd(skel->progs.ob_msg),
			    bpf_map__fd(skel->maps.ob_sockhash), BPF_SK_MSG_VERDICT, 0)) {
		err = ob_err(-errno, "cannot attach sk_msg to the sockhash: %s", strerror(errno));
		goto cleanup;
	}
	/* Attached before any socket can redirect, so that every read is
	 * counted. One counter only: an earlier load's fexit link, still
	 * pinned while its sockets drain, counts into these same (reused)
	 * maps; with new maps, a link left behind counts into old ones. */
	if (!existing)
		unlink(PIN_LINK_RECV);
	if (fallback && access(PIN_LINK_RECV, F_OK) != 0 &&
	    !(recv = bpf_program__attach_trace(skel->progs.ob_recv_fexit))) {
		err = ob_err(-errno, "cannot attach the fexit program on sk_msg_recvmsg: %s",
			     strerror(errno));
		goto cleanup;
	}
	if (recv) {
		if (bpf_link__pin(recv, PIN_LINK_RECV)) {
			err = ob_err(-errno, "cannot pin %s: %s", PIN_LINK_RECV, strerror(errno));
			goto cleanup;
		}
	}
	err = pin_prog(skel->progs.ob_msg, PIN_PROG_MSG);
	if (!err)
		err = pin_prog(skel->progs.ob_sockops, OB_PIN_PROG_SOCKOPS);
	if (err)
		goto cleanup;
	link = bpf_program__attach_cgroup(skel->progs.ob_sockops, cgfd);
	if (!link) {
		err = ob_err(-errno, "cannot attach sock_ops to %s: %s", cg, strerror(errno));
		goto cleanup;
	}
	if (bpf_link__pin(link, OB_PIN_LINK_SOCKOPS)) {
		err = ob_err(-errno, "cannot pin %s: %s", OB_PIN_LINK_SOCKOPS, strerror(errno));
		bpf_link__destroy(link); /* not pinned: this detaches */
		link = NULL;
		goto cleanup;
	}
	err = ob_attach_cgroup_save(cg);
	if (err)
		goto cleanup;
	snprintf(cg_out, cg_len, "%s", cg);
cleanup:
	if (err && recv)
		unlink(PIN_LINK_RECV);
	bpf_link__destroy(recv); /* pinned: stays attached */
	bpf_link__destroy(link); /* pinned: stays attached */
	bypass_bpf__destroy(skel);
	if (cgfd >= 0)
		close(cgfd);
	return err;
}

int ob_cmd_load(const struct ob_args *a)
{
	char cg[PATH_MAX];
	bool already = false;
	struct ob_load_opts o = { .cgroup = a->cgroup, .max_sockets = a->max_sockets,
				  .small_window_ms = a->small_window_ms, .stall_ms = a->stall_ms };
	int err = ob_load(&o, &already, cg, sizeof(cg));

	if (err)
		return err;
	if (already)
		printf("oci-bypass: already loaded (build %016llx)\n",
		       (unsigned long long)ob_build_id());
	else
		printf("oci-bypass: loaded (build %016llx), sock_ops attached to %s\n",
		       (unsigned long long)ob_build_id(), cg);
	return 0;
}

static void unpin_all(void)
{
	ob_unpin_maps();
	unlink(PIN_PROG_MSG);
	/* The fexit fallback counts reads until the last redirecting socket
	 * is gone: it goes with the sockhash, not with sock_ops. */
	unlink(PIN_LINK_RECV);
	rmdir(OB_PIN_DIR);
	ob_attach_cgroup_forget();
	ob_registry_clear();
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ob_cmd_unload(const struct ob_args *a)
{
	struct ob_settings s;
	struct ob_maps m;
	uint64_t left;
	double deadline;
	bool told = false;
	int err = ob_open_maps(&m);

	if (err == -ENOENT) {
		printf("oci-bypass: not loaded\n");
		return 0;
	}
	if (err)
		return err;
	err = ob_read_settings(&m, &s);
	if (!err && !s.draining) {
		/* New pairings stop at once; handshakes already under way
		 * settle (refused) while sock_ops still runs. */
		s.draining = 1;
		err = ob_write_settings(&m, &s);
		if (!err)
			usleep(200 * 1000);
	}
	if (err)
		goto out;
	unlink(OB_PIN_LINK_SOCKOPS); /* last reference: sock_ops detaches */
	unlink(OB_PIN_PROG_SOCKOPS);

	/* Removing a live socket from the sockhash would purge bytes it has
	 * not read yet (invariant 4): wait for them to close instead. */
	deadline = now_s() + a->wait_s;
	for (;;) {
		left = ob_map_count(m.sockhash, sizeof(struct ob_sock_key));
		if (m.parking >= 0) { /* every paired socket is there too */
			uint64_t parked = ob_map_count(m.parking, sizeof(struct ob_sock_key));

			left = parked > left ? parked : left;
		}
		if (left == 0 || now_s() >= deadline)
			break;
		if (!told) {
			fprintf(stderr, "oci-bypass: waiting up to %.0f s for %llu redirecting sockets to close\n",
				a->wait_s, (unsigned long long)left);
			told = true;
		}
		usleep(100 * 1000);
	}
	if (left) {
		printf("oci-bypass: detached; %llu sockets still redirecting keep the sockhash pinned "
		       "until they close; run 'oci-bypass unload' again to finish\n",
		       (unsigned long long)left);
		err = -EAGAIN;
		ob_err(err, "%llu sockets still open", (unsigned long long)left);
		goto out;
	}
	ob_close_maps(&m);
	unpin_all();
	printf("oci-bypass: unloaded\n");
	return 0;
out:
	ob_close_maps(&m);
	return err;
}

int ob_cmd_enable(const struct ob_args *a, bool on)
{
	struct ob_settings s;
	struct ob_maps m;
	int err;

	(void)a;
	err = ob_open_maps(&m);
	if (err)
		return err;
	err = ob_read_settings(&m, &s);
	if (!err) {
		s.enabled = on;
		err = ob_write_settings(&m, &s);
	}
	ob_close_maps(&m);
	if (!err)
		printf("oci-bypass: %s\n", on ? "enabled" : "disabled (open connections go on)");
	return err;
}
