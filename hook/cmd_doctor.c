/* cmd_doctor.c - the verb doctor: says whether acceleration can work on this machine, and what to
 * do if not. */
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

#include "ob.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

struct check {
	FILE *out;
	int fails, warns;
};

static void report(struct check *c, int ok, bool fatal, const char *what, const char *fix)
{
	const char *word = ok ? "ok  " : fatal ? "FAIL" : "warn";

	fprintf(c->out, "%s  %s", word, what);
	if (!ok && fix)
		fprintf(c->out, " -- %s", fix);
	fputc('\n', c->out);
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

int ob_cmd_doctor(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	struct check c = { .out = out };
	struct utsname u;
	struct statfs st;
	char cg[PATH_MAX], line[PATH_MAX + 128];
	struct ob_feature f[32];
	struct ob_error why = { 0 }; /* a failed check is a report line, not the verb's error */
	int n, err;
	bool fallback = false;
	bool root_caps = has_cap(CAP_SYS_ADMIN) || (has_cap(CAP_BPF) && has_cap(CAP_NET_ADMIN));

	uname(&u);
	/* what this kernel lacks is said feature by feature below */
	snprintf(line, sizeof(line), "kernel %s (tested: %s)", u.release, OB_TESTED_KERNELS);
	report(&c, 1, true, line, NULL);
	report(&c, access(OB_BTF_PATH, R_OK) == 0, true, "kernel BTF at " OB_BTF_PATH,
	       "the programs read socket fields through it: the kernel needs "
	       "CONFIG_DEBUG_INFO_BTF=y");
	report(&c, root_caps, true, "privileges (CAP_SYS_ADMIN, or CAP_BPF with CAP_NET_ADMIN)",
	       "run as root");
	/* load mounts bpffs itself, if it may */
	report(&c, statfs("/sys/fs/bpf", &st) == 0 && (uint32_t)st.f_type == BPF_FS_MAGIC,
	       !has_cap(CAP_SYS_ADMIN), "bpffs mounted at /sys/fs/bpf",
	       has_cap(CAP_SYS_ADMIN) ? "'oci-bypass load' mounts it"
				      : "mount it (mount -t bpf bpf /sys/fs/bpf): without "
					"CAP_SYS_ADMIN load cannot");
	if (ob_find_cgroup2(cg, sizeof(cg), NULL) == 0) {
		snprintf(line, sizeof(line), "cgroup v2 mounted at %s", cg);
		report(&c, 1, true, line, NULL);
	} else {
		report(&c, 0, true, "cgroup v2 mounted",
		       "mount -t cgroup2 none /sys/fs/cgroup/unified");
	}
	if (!root_caps) {
		fprintf(out, "skip  program, map and helper probes need privileges\n");
		goto done;
	}
	n = ob_features(f, (int)(sizeof(f) / sizeof(f[0])));
	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "%s (Linux %s)", f[i].name, f[i].since);
		if (f[i].state == OB_FEAT_FALLBACK) {
			fprintf(out, "ok    %s -- fallback: %s\n", line, f[i].note);
			continue;
		}
		if (f[i].state == OB_FEAT_WARN) {
			report(&c, 0, false, line, f[i].note);
			continue;
		}
		report(&c, f[i].state == OB_FEAT_OK, true, line,
		       f[i].note ? f[i].note : "kernel too old or built without it");
	}
	/* The proof: the very object load would load, verified by this
	 * kernel (against --btf's BTF for its CO-RE relocations, if given). */
	err = ob_verify_object(a->btf, &fallback, &why);
	snprintf(line, sizeof(line), "the BPF object loads on this kernel%s%s%s",
		 a->btf ? " (CO-RE against " : "", a->btf ? a->btf : "", a->btf ? ")" : "");
	report(&c, err == 0, true, line, err ? why.msg : NULL);
done:
	fprintf(out, "%s: %d problem(s), %d warning(s)\n",
		c.fails ? "acceleration cannot work here" : "acceleration can work here", c.fails,
		c.warns);
	if (c.fails)
		return ob_err(e, -ENOTSUP, "%d check(s) failed", c.fails);
	return 0;
}
