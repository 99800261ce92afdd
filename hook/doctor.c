/* doctor.c - says whether acceleration can work on this machine, and what to do if not. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "ob.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

struct check {
	int fails, warns;
};

static void report(struct check *c, int ok, bool fatal, const char *what, const char *fix)
{
	const char *word = ok ? "ok  " : fatal ? "FAIL" : "warn";

	printf("%s  %s", word, what);
	if (!ok && fix)
		printf(" -- %s", fix);
	putchar('\n');
	if (!ok)
		fatal ? c->fails++ : c->warns++;
}

static bool has_cap(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return false;
	return d[cap / 32].effective & (1u << (cap % 32));
}

static int null_print(enum libbpf_print_level l, const char *f, va_list ap)
{
	(void)l, (void)f, (void)ap;
	return 0;
}

static const struct {
	enum bpf_prog_type prog;
	enum bpf_func_id id;
	const char *name;
} helpers[] = {
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_get_netns_cookie, "bpf_get_netns_cookie (sock_ops, 5.15)" },
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_sock_hash_update, "bpf_sock_hash_update" },
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_sk_storage_get, "bpf_sk_storage_get (sock_ops)" },
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_load_hdr_opt, "bpf_load_hdr_opt (5.10)" },
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_store_hdr_opt, "bpf_store_hdr_opt (5.10)" },
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_reserve_hdr_opt, "bpf_reserve_hdr_opt (5.10)" },
	{ BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_sock_ops_cb_flags_set, "bpf_sock_ops_cb_flags_set" },
	{ BPF_PROG_TYPE_SK_MSG, BPF_FUNC_msg_redirect_hash, "bpf_msg_redirect_hash" },
	{ BPF_PROG_TYPE_SK_MSG, BPF_FUNC_sk_storage_get, "bpf_sk_storage_get (sk_msg, 5.8)" },
};
static const struct {
	enum bpf_map_type type;
	const char *name;
} maps[] = {
	{ BPF_MAP_TYPE_SOCKHASH, "sockhash map" },
	{ BPF_MAP_TYPE_SK_STORAGE, "sk_storage map" },
	{ BPF_MAP_TYPE_PERCPU_HASH, "per-CPU hash map" },
	{ BPF_MAP_TYPE_HASH, "hash map" },
};

#define BTF_PATH "/sys/kernel/btf/vmlinux"

/* The first thing this kernel lacks that load needs, as a sentence, or NULL.
 * Used by load to say why the kernel refused the programs. */
const char *ob_missing_feature(void)
{
	static char why[160];

	libbpf_set_print(null_print);
	if (access(BTF_PATH, R_OK))
		return "kernel BTF (" BTF_PATH "): the programs read socket fields through it; "
		       "the kernel needs CONFIG_DEBUG_INFO_BTF=y";
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCK_OPS, NULL) != 1)
		return "sock_ops programs (CONFIG_BPF_SYSCALL, CONFIG_CGROUP_BPF)";
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_MSG, NULL) != 1)
		return "sk_msg programs (CONFIG_NET_SOCK_MSG)";
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		if (libbpf_probe_bpf_map_type(maps[i].type, NULL) != 1) {
			snprintf(why, sizeof(why), "the %s (kernel too old)", maps[i].name);
			return why;
		}
	for (size_t i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++)
		if (libbpf_probe_bpf_helper(helpers[i].prog, helpers[i].id, NULL) != 1) {
			snprintf(why, sizeof(why), "the helper %s (kernel too old)", helpers[i].name);
			return why;
		}
	return NULL;
}

int ob_cmd_doctor(const struct ob_args *a)
{
	struct check c = { 0 };
	struct utsname u;
	struct statfs st;
	char cg[PATH_MAX], line[256];
	int major = 0, minor = 0;
	bool root_caps = has_cap(CAP_SYS_ADMIN) || (has_cap(CAP_BPF) && has_cap(CAP_NET_ADMIN));

	(void)a;
	libbpf_set_print(null_print);
	uname(&u);
	sscanf(u.release, "%d.%d", &major, &minor);
	snprintf(line, sizeof(line), "kernel %s (need 5.15 or later)", u.release);
	report(&c, major > 5 || (major == 5 && minor >= 15), true, line, "upgrade the kernel");
	report(&c, access(BTF_PATH, R_OK) == 0, true, "kernel BTF at " BTF_PATH,
	       "the programs read socket fields through it: the kernel needs CONFIG_DEBUG_INFO_BTF=y");
	report(&c, root_caps, true, "privileges (CAP_SYS_ADMIN, or CAP_BPF with CAP_NET_ADMIN)",
	       "run as root");
	/* load mounts bpffs itself, if it may */
	report(&c, statfs("/sys/fs/bpf", &st) == 0 && (uint32_t)st.f_type == BPF_FS_MAGIC,
	       !has_cap(CAP_SYS_ADMIN), "bpffs mounted at /sys/fs/bpf",
	       has_cap(CAP_SYS_ADMIN) ? "'oci-bypass load' mounts it"
				      : "mount it (mount -t bpf bpf /sys/fs/bpf): without CAP_SYS_ADMIN load cannot");
	if (ob_find_cgroup2(cg, sizeof(cg)) == 0) {
		snprintf(line, sizeof(line), "cgroup v2 mounted at %s", cg);
		report(&c, 1, true, line, NULL);
	} else {
		report(&c, 0, true, "cgroup v2 mounted", "mount -t cgroup2 none /sys/fs/cgroup/unified");
	}
	if (!root_caps) {
		printf("skip  program, map and helper probes need privileges\n");
		goto out;
	}
	report(&c, libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCK_OPS, NULL) == 1, true,
	       "sock_ops programs", "kernel needs CONFIG_BPF_SYSCALL and CONFIG_CGROUP_BPF");
	report(&c, libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_MSG, NULL) == 1, true,
	       "sk_msg programs", "kernel needs CONFIG_BPF_STREAM_PARSER / CONFIG_NET_SOCK_MSG");
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		report(&c, libbpf_probe_bpf_map_type(maps[i].type, NULL) == 1, true, maps[i].name,
		       "kernel too old or built without it");
	for (size_t i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++)
		report(&c, libbpf_probe_bpf_helper(helpers[i].prog, helpers[i].id, NULL) == 1, true,
		       helpers[i].name, "kernel too old");
out:
	printf("%s: %d problem(s), %d warning(s)\n",
	       c.fails ? "acceleration cannot work here" : "acceleration can work here", c.fails,
	       c.warns);
	if (c.fails)
		return ob_err(-ENOTSUP, "%d check(s) failed", c.fails);
	return 0;
}
