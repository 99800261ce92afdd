/* features.c - what the datapath needs of the kernel: the probes, the object check and the
 * fallbacks, shared by load and doctor. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bypass.skel.h"
#include "ob.h"

/* ---- libbpf's messages: shown with -v, and the telling one kept ---- */

static char libbpf_why[256];

/* Keeps the most telling line of why libbpf gave up on a program: a CO-RE
 * relocation the BTF cannot satisfy (it names the field; it sits deep in
 * the verifier log, which libbpf hands over as one message) beats any
 * other; then the verifier's own reason (the line before its "processed
 * N insns"); else the first failed load. */
static void keep_reason(const char *msg)
{
	/* by rank; VERIFIER stands for the verifier's own last word */
	static const char *const marks[] = { "failed to resolve CO-RE", "failed to find kernel BTF",
					     "VERIFIER", "failed to load" };
	enum { VERIFIER = 2 };
	static size_t kept = sizeof(marks) / sizeof(marks[0]); /* rank of what is kept */
	const char *prev = NULL;
	size_t prev_len = 0;

	if (!libbpf_why[0])
		kept = sizeof(marks) / sizeof(marks[0]);
	for (const char *line = msg; *line;) {
		size_t len = strcspn(line, "\n");

		/* The verifier's log ends with its reason, then "processed N
		 * insns ...": that line is why it refused the program. */
		if (kept > VERIFIER && prev && len > 10 && !strncmp(line, "processed ", 10) &&
		    memmem(line, len, " insns", 6)) {
			snprintf(libbpf_why, sizeof(libbpf_why), "the verifier: %.*s",
				 (int)prev_len, prev);
			kept = VERIFIER;
		}
		for (size_t i = 0; i < kept; i++)
			if (i != VERIFIER && memmem(line, len, marks[i], strlen(marks[i]))) {
				snprintf(libbpf_why, sizeof(libbpf_why), "%.*s", (int)len, line);
				kept = i;
				break;
			}
		if (len) {
			prev = line;
			prev_len = len;
		}
		line += len + (line[len] == '\n');
	}
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg = NULL;
	va_list copy;
	int n;

	va_copy(copy, ap);
	n = vasprintf(&msg, fmt, copy);
	va_end(copy);
	if (n < 0)
		return 0;
	if (level != LIBBPF_DEBUG)
		keep_reason(msg);
	if (ob_verbose && level != LIBBPF_DEBUG)
		fputs(msg, stderr);
	free(msg);
	return n;
}

void ob_libbpf_messages(void)
{
	libbpf_set_print(libbpf_print);
}

/* ---- what the kernel offers ---- */

/* Does the struct in this BTF have the member? 1 yes, 0 no, <0 error. */
static int btf_has_member(const struct btf *btf, const char *type, const char *member)
{
	int id = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);
	const struct btf_type *t;
	const struct btf_member *m;

	if (id < 0)
		return 0;
	t = btf__type_by_id(btf, (__u32)id);
	m = btf_members(t);
	for (unsigned i = 0; i < btf_vlen(t); i++, m++)
		if (!strcmp(btf__name_by_offset(btf, m->name_off), member))
			return 1;
	return 0;
}

/* The running kernel's BTF, parsed once per process: load, doctor and the
 * probes below all read it (NULL, errno set, if it cannot be read). */
static const struct btf *kernel_btf(void)
{
	static struct btf *btf;

	if (!btf)
		btf = btf__load_vmlinux_btf();
	return btf;
}

int ob_unread_fallback(const char *btf_path, bool *fallback, struct ob_error *e)
{
	struct btf *own = btf_path ? btf__parse(btf_path, NULL) : NULL;
	const struct btf *btf = btf_path ? own : kernel_btf();
	int has;

	if (!btf)
		return ob_err(e, -errno, "cannot read %s (%s): %s",
			      btf_path ? "the BTF file" : "the kernel's BTF",
			      btf_path ? btf_path : OB_BTF_PATH, strerror(errno));
	/* the CO-RE check KERNEL_COUNTS_UNREAD in bypass.bpf.c decides alike */
	has = btf_has_member(btf, "sk_psock", "msg_tot_len");
	btf__free(own);
	*fallback = !has;
	return 0;
}

/* Is the kernel function in the running kernel's BTF (an fentry target)? */
static bool btf_has_func(const char *name)
{
	const struct btf *btf = kernel_btf();

	return btf && btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) >= 0;
}

int ob_fentry_probe(void)
{
	/* r0 = 0; exit */
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	static int result = 1; /* 1: not probed yet */
	const struct btf *btf = kernel_btf();
	int id, fd, link;

	if (result <= 0)
		return result;
	id = btf ? btf__find_by_name_kind(btf, "tcp_recvmsg", BTF_KIND_FUNC) : -ENOENT;
	if (id < 0)
		return result = -ENOENT;
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY,
		    .attach_btf_id = (__u32)id);
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", insns, 2, &opts);
	if (fd < 0)
		return result = -errno;
	link = bpf_link_create(fd, 0, BPF_TRACE_FENTRY, NULL);
	result = link < 0 ? -errno : 0;
	if (link >= 0)
		close(link);
	close(fd);
	return result;
}

static const struct ob_helper_need {
	enum bpf_prog_type prog;
	enum bpf_func_id id;
	const char *name;
	const char *since;
} helpers[] = {
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_get_netns_cookie, "bpf_get_netns_cookie in sock_ops",
	  "5.15" },
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_sock_hash_update, "bpf_sock_hash_update", "4.18" },
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_sk_storage_get, "bpf_sk_storage_get in sock_ops",
	  "5.3" },
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_load_hdr_opt, "bpf_load_hdr_opt", "5.10" },
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_store_hdr_opt, "bpf_store_hdr_opt", "5.10" },
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_reserve_hdr_opt, "bpf_reserve_hdr_opt", "5.10" },
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_sock_ops_cb_flags_set, "bpf_sock_ops_cb_flags_set",
	  "4.16" },
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_skc_to_tcp_sock, "bpf_skc_to_tcp_sock", "5.9" },
	{ BPF_PROG_TYPE_SK_MSG, BPF_FUNC_msg_redirect_hash, "bpf_msg_redirect_hash", "4.18" },
	{ BPF_PROG_TYPE_SK_MSG, BPF_FUNC_sk_storage_get, "bpf_sk_storage_get in sk_msg", "5.8" },
	{ BPF_PROG_TYPE_SK_MSG, BPF_FUNC_probe_read_kernel, "bpf_probe_read_kernel in sk_msg",
	  "5.5" },
	{ BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_FUNC_sk_storage_get,
	  "bpf_sk_storage_get in cgroup sockopt", "5.3" },
	{ BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_FUNC_get_netns_cookie,
	  "bpf_get_netns_cookie in cgroup sockopt", "5.15" },
};

static const struct {
	enum bpf_map_type type;
	const char *name;
	const char *since;
} maps[] = {
	{ BPF_MAP_TYPE_SOCKHASH, "sockhash map", "4.18" },
	{ BPF_MAP_TYPE_SK_STORAGE, "sk_storage map", "5.2" },
	{ BPF_MAP_TYPE_PERCPU_HASH, "per-CPU hash map", "4.6" },
	{ BPF_MAP_TYPE_HASH, "hash map", "3.19" },
};

static int null_print(enum libbpf_print_level l, const char *f, va_list ap)
{
	(void)l, (void)f, (void)ap;
	return 0;
}

bool ob_promotion_supported(void)
{
	const struct btf *btf = kernel_btf();

	return btf && btf__find_by_name_kind(btf, "bpf_iter_tcp", BTF_KIND_FUNC) >= 0 &&
	       ob_kptr_tag() != NULL;
}

const char *ob_kptr_tag(void)
{
	static const char *tag;
	static bool probed;

	if (!probed) {
		libbpf_print_fn_t old = libbpf_set_print(null_print);

		/* 6.3 renamed the untrusted kptr's tag; "kptr" now means a
		 * referenced one, which struct tcp_sock cannot be */
		tag = ob_map_takes_kptr("kptr_untrusted") ? "kptr_untrusted"
		      : ob_map_takes_kptr("kptr")	  ? "kptr"
							  : NULL;
		libbpf_set_print(old);
		probed = true;
	}
	return tag;
}

/* The object tags its hidden sockets (OB_HIDDEN_SK in bypass.h) with
 * 6.3's name; before 6.3 the same kind of kptr is tagged "kptr". */
static int use_kptr_tag(struct bpf_object *obj, bool fallback, struct ob_error *e)
{
	const char *tag = ob_kptr_tag();
	struct btf *btf = bpf_object__btf(obj);
	int off;

	/* where the kernel has no kptrs, it treats the tag as a plain
	 * modifier, and nothing is stored there: no msg_tot_len either */
	if (!tag)
		return fallback ? 0
				: ob_err(e, -EOPNOTSUPP,
					 "the kernel cannot run the BPF programs: it lacks %s",
					 "untrusted kptrs in map values (in Linux 5.19 and later)");
	if (!strcmp(tag, "kptr_untrusted") || !btf)
		return 0;
	off = btf__add_str(btf, tag);
	if (off < 0)
		return ob_err(e, off, "cannot retag the BPF object's kptrs: %s", strerror(-off));
	for (__u32 id = 1; id < btf__type_cnt(btf); id++) {
		struct btf_type *t = (struct btf_type *)btf__type_by_id(btf, id);

		if (btf_is_type_tag(t) &&
		    !strcmp(btf__name_by_offset(btf, t->name_off), "kptr_untrusted"))
			t->name_off = (__u32)off;
	}
	return 0;
}

int ob_features(struct ob_feature *out, int max)
{
	static char fentry_note[256];
	int n = 0, fentry;
	bool fallback = false;
	libbpf_print_fn_t old = libbpf_set_print(null_print);

#define ROW(nm, since_, st, note_)                                                                 \
	do {                                                                                       \
		if (n < max)                                                                       \
			out[n] = (struct ob_feature){ (nm), (since_), (st), (note_) };             \
		n++;                                                                               \
	} while (0)
	ROW("sock_ops programs", "4.13",
	    libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCK_OPS, NULL) == 1 ? OB_FEAT_OK
									  : OB_FEAT_MISSING,
	    "CONFIG_BPF_SYSCALL, CONFIG_CGROUP_BPF");
	ROW("sk_msg programs", "4.17",
	    libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_MSG, NULL) == 1 ? OB_FEAT_OK
									: OB_FEAT_MISSING,
	    "CONFIG_NET_SOCK_MSG");
	ROW("cgroup sockopt programs (guards for SO_RCVLOWAT, SO_ZEROCOPY, TCP_ULP)", "5.3",
	    libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCKOPT, NULL) == 1 ? OB_FEAT_OK
										: OB_FEAT_MISSING,
	    "CONFIG_CGROUP_BPF");
	fentry = ob_fentry_probe();
	snprintf(fentry_note, sizeof(fentry_note),
		 "refused here (%s): a service that uses them is not kept on TCP by a guard "
		 "(docs/limitations.md, Guards); keep its port off with --no-port",
		 strerror(-fentry));
	ROW("fentry programs on tcp_recvmsg, tcp_splice_read (guards for MSG_WAITALL, splice)",
	    "5.5", fentry ? OB_FEAT_WARN : OB_FEAT_OK, fentry ? fentry_note : NULL);
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		ROW(maps[i].name, maps[i].since,
		    libbpf_probe_bpf_map_type(maps[i].type, NULL) == 1 ? OB_FEAT_OK
								       : OB_FEAT_MISSING,
		    NULL);
	for (size_t i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++)
		ROW(helpers[i].name, helpers[i].since,
		    libbpf_probe_bpf_helper(helpers[i].prog, helpers[i].id, NULL) == 1
			    ? OB_FEAT_OK
			    : OB_FEAT_MISSING,
		    NULL);
	ROW("TCP iterator filling the sockhash, untrusted kptrs (promotion of connections that "
	    "started on TCP)",
	    "5.19", ob_promotion_supported() ? OB_FEAT_OK : OB_FEAT_WARN,
	    ob_promotion_supported() ? NULL
				     : "not here: connections opened before their service is "
				       "learned stay on TCP (docs/limitations.md)");
	if (access(OB_BTF_PATH, R_OK) == 0 && ob_unread_fallback(NULL, &fallback, NULL) == 0) {
		ROW("unread bytes counted by the kernel (sk_psock.msg_tot_len)", "6.12, not 6.1",
		    fallback ? OB_FEAT_FALLBACK : OB_FEAT_OK,
		    fallback ? "counted by an fexit program on sk_msg_recvmsg instead" : NULL);
		if (!fallback)
			ROW("untrusted kptrs in map values (to read the peer's count, hidden "
			    "from user space)",
			    "5.19", ob_kptr_tag() ? OB_FEAT_OK : OB_FEAT_MISSING, NULL);
		if (fallback)
			ROW("fexit programs with bpf_sk_storage_get (for that fallback)", "5.11",
			    libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACING, NULL) == 1
				    ? OB_FEAT_OK
				    : OB_FEAT_MISSING,
			    "CONFIG_DEBUG_INFO_BTF, CONFIG_FUNCTION_TRACER");
	}
#undef ROW
	libbpf_set_print(old);
	return n;
}

const char *ob_missing_feature(void)
{
	static char why[256];
	struct ob_feature f[32];
	int n;

	if (access(OB_BTF_PATH, R_OK))
		return "kernel BTF (" OB_BTF_PATH
		       "; in Linux 5.4 and later): the programs read socket "
		       "fields through it; the kernel needs CONFIG_DEBUG_INFO_BTF=y";
	n = ob_features(f, 32);
	for (int i = 0; i < n && i < 32; i++)
		if (f[i].state == OB_FEAT_MISSING) {
			snprintf(why, sizeof(why), "%s (in Linux %s and later%s%s)", f[i].name,
				 f[i].since, f[i].note ? "; " : "", f[i].note ? f[i].note : "");
			return why;
		}
	return NULL;
}

/* ---- the object itself ---- */

int ob_open_object(struct bypass_bpf **out, const char *btf_path, unsigned max_sockets,
		   bool *fallback, struct ob_error *e)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = OB_PIN_DIR,
		    .btf_custom_path = btf_path);
	_cleanup_object_ struct bypass_bpf *skel = NULL;
	int err;

	*out = NULL;
	err = ob_unread_fallback(btf_path, fallback, e);
	if (err && !btf_path && ob_missing_feature())
		return ob_err(e, err, "the kernel cannot run the BPF programs: it lacks %s",
			      ob_missing_feature());
	if (err)
		return err;
	skel = bypass_bpf__open_opts(&opts);
	if (!skel)
		return ob_err(e, -errno, "cannot open the BPF object: %s", strerror(errno));
	err = use_kptr_tag(skel->obj, *fallback, e);
	if (err)
		return err;
	/* Only where the kernel does not count unread bytes (features.c). */
	bpf_program__set_autoload(skel->progs.ob_recv_fexit, *fallback);
	/* Only where fentry programs load and attach: elsewhere the guards
	 * for MSG_WAITALL and splice are missing (doctor warns), the rest
	 * of the datapath is the same. */
	bpf_program__set_autoload(skel->progs.ob_guard_waitall, ob_fentry_probe() == 0);
	bpf_program__set_autoload(skel->progs.ob_guard_waitall_bpf,
				  ob_fentry_probe() == 0 && btf_has_func("tcp_bpf_recvmsg"));
	bpf_program__set_autoload(skel->progs.ob_guard_splice, ob_fentry_probe() == 0);
	/* Promotion (bypass.h) needs the TCP iterator and kptrs to read the
	 * peer through; elsewhere nothing is promoted, the rest is the same. */
	skel->rodata->ob_promotion = ob_promotion_supported();
	bpf_program__set_autoload(skel->progs.ob_promote, skel->rodata->ob_promotion);
	if (max_sockets && (bpf_map__set_max_entries(skel->maps.ob_sockhash, max_sockets) ||
			    bpf_map__set_max_entries(skel->maps.ob_parking, max_sockets) ||
			    bpf_map__set_max_entries(skel->maps.ob_conns, max_sockets) ||
			    bpf_map__set_max_entries(skel->maps.ob_ledger, max_sockets)))
		return ob_err(e, -EINVAL, "cannot size the sockhash");
	*out = OB_TAKE_PTR(skel);
	return 0;
}

void ob_close_object(struct bypass_bpf **skel)
{
	bypass_bpf__destroy(*skel); /* NULL: nothing */
	*skel = NULL;
}

int ob_load_object(struct bypass_bpf *skel, struct ob_error *e)
{
	int err;
	const char *missing;

	libbpf_why[0] = '\0';
	ob_libbpf_messages();
	err = bypass_bpf__load(skel);
	if (!err)
		return 0;
	missing = ob_missing_feature();
	if (missing)
		return ob_err(e, err, "the kernel refused the BPF programs: it lacks %s", missing);
	if (libbpf_why[0])
		return ob_err(e, err, "the kernel refused the BPF programs (%s): %s",
			      strerror(-err), libbpf_why);
	return ob_err(e, err,
		      "the kernel refused the BPF programs (%s); 'oci-bypass -v load' shows why",
		      strerror(-err));
}

int ob_verify_object(const char *btf_path, bool *fallback, struct ob_error *e)
{
	_cleanup_object_ struct bypass_bpf *skel = NULL;
	struct bpf_link *l;
	int err;

	/* Private maps: nothing pinned is touched, nothing is attached
	 * except the tracing programs, for a moment, to see that they can be. */
	err = ob_open_object(&skel, btf_path, 0, fallback, e);
	if (err)
		return err;
	for (struct bpf_map *m = bpf_object__next_map(skel->obj, NULL); m;
	     m = bpf_object__next_map(skel->obj, m))
		bpf_map__set_pin_path(m, NULL);
	err = ob_load_object(skel, e);
	if (!err && *fallback) {
		l = bpf_program__attach_trace(skel->progs.ob_recv_fexit);
		if (!l)
			err = ob_err(e, -errno,
				     "cannot attach the fexit program on sk_msg_recvmsg: %s",
				     strerror(errno));
		bpf_link__destroy(l);
	}
	for (int i = 0; !err && i < 3; i++) {
		struct bpf_program *p = i == 0	 ? skel->progs.ob_guard_waitall
					: i == 1 ? skel->progs.ob_guard_waitall_bpf
						 : skel->progs.ob_guard_splice;

		if (!bpf_program__autoload(p))
			continue;
		l = bpf_program__attach_trace(p);
		if (!l)
			err = ob_err(e, -errno, "cannot attach the guard %s: %s",
				     bpf_program__name(p), strerror(errno));
		bpf_link__destroy(l);
	}
	return err;
}
