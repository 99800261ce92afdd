/* sandbox.c - the hook confines itself before it reads its input. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <seccomp.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ob.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/*
 * Order (fixed, as in libnvidia-container): 1. drop every capability the
 * hook does not need, 2. PR_SET_NO_NEW_PRIVS, 3. a seccomp allow-list
 * whose default answer is EPERM. What a parsing bug could then do is
 * bounded by the lists below.
 */

/* Capabilities kept, and why. */
static const struct {
	int cap;
	const char *why;
} keep_caps[] = {
	{ CAP_SYS_ADMIN, "setns() into the container's netns; bpf() on kernels without CAP_BPF; "
			 "mount bpffs on first load" },
	{ CAP_BPF, "bpf(): load programs, create and update maps" },
	{ CAP_PERFMON, "bpf(): the BTF reads in the sock_ops program" },
	{ CAP_NET_ADMIN, "attach sock_ops to a cgroup, sockmap updates" },
	{ CAP_SYS_PTRACE, "pidfd_open()/setns() on a container process of another user" },
	{ CAP_DAC_OVERRIDE, "read config.json in bundles not owned by root (rootless engines)" },
	{ CAP_DAC_READ_SEARCH, "walk bundle directories not owned by root" },
	{ CAP_SYS_RESOURCE, "map memory on kernels that still charge RLIMIT_MEMLOCK" },
};

/* System calls allowed, and why; arg1_zero: only with a second argument
 * of 0. Everything else fails with EPERM. */
static const struct {
	const char *name;
	const char *why;
	bool arg1_zero;
} allow[] = {
	/* memory, threads, signals: libc, json-c, libbpf */
	{ "brk", "malloc" },
	{ "mmap", "malloc, libbpf" },
	{ "munmap", "free" },
	{ "mprotect", "thread stacks" },
	{ "madvise", "free" },
	{ "mremap", "realloc" },
	{ "futex", "locks" },
	{ "set_robust_list", "threads" },
	{ "rseq", "threads" },
	{ "clone", "the thread that enters a netns (netns.c)" },
	{ "clone3", "the same, newer glibc" },
	{ "exit", "thread exit" },
	{ "exit_group", "exit" },
	{ "rt_sigaction", "alarm handler" },
	{ "rt_sigprocmask", "threads" },
	{ "rt_sigreturn", "signals" },
	{ "alarm", "the hook's own time limit" },
	{ "setitimer", "alarm() on some libcs" },
	{ "getpid", "syslog" },
	{ "gettid", "threads" },
	{ "getuid", "libbpf" },
	{ "geteuid", "libbpf" },
	{ "getrandom", "the host secret at load, temp file names" },
	{ "clock_gettime", "timestamps" },
	{ "clock_nanosleep", "none expected, harmless" },
	{ "nanosleep", "none expected, harmless" },
	{ "sched_getaffinity", "libbpf CPU count" },
	{ "sched_yield", "locks" },
	{ "uname", "libbpf kernel version" },
	{ "prlimit64", "libbpf memlock probe" },
	{ "sysinfo", "libc" },
	/* files: state on stdin, config.json, records, pins, /proc, /sys */
	{ "read", "input" },
	{ "write", "records, stderr" },
	{ "readv", "stdio" },
	{ "writev", "stdio" },
	{ "pread64", "libbpf ELF" },
	{ "openat", "files" },
	{ "open", "files" },
	{ "close", "files" },
	{ "fstat", "files" },
	{ "newfstatat", "files" },
	{ "statx", "files" },
	{ "lseek", "stdio" },
	{ "fcntl", "O_CLOEXEC" },
	{ "ioctl", "isatty() in stdio; NS_GET_NSTYPE: is a netns path a network namespace" },
	{ "getdents64", "record and registry listing" },
	{ "mkdir", "/run/oci-bypass" },
	{ "mkdirat", "/run/oci-bypass" },
	{ "rename", "atomic records" },
	{ "renameat", "atomic records" },
	{ "renameat2", "atomic records" },
	{ "unlink", "records, link pins" },
	{ "unlinkat", "records, link pins" },
	{ "rmdir", "none expected, harmless" },
	{ "fsync", "records" },
	{ "flock", "the load lock" },
	{ "statfs", "is bpffs mounted?" },
	{ "fstatfs", "libbpf; is a netns path on nsfs, is /proc procfs" },
	{ "readlink", "libc" },
	{ "readlinkat", "libc" },
	{ "faccessat", "access()" },
	{ "faccessat2", "access()" },
	{ "access", "access()" },
	{ "dup", "stdio" },
	{ "dup3", "stdio" },
	/* the work itself */
	{ "bpf", "load, pin, attach, update maps" },
	{ "mount", "mount bpffs on first load" },
	{ "pidfd_open", "the container process, race-free" },
	{ "pidfd_send_signal",
	  "signal 0 only: was what /proc/PID said the pidfd's process's (netns.c)", true },
	{ "setns", "enter the container's netns to read its cookie" },
	{ "socket", "SO_NETNS_COOKIE; syslog" },
	{ "getsockopt", "SO_NETNS_COOKIE" },
	{ "connect", "syslog's /dev/log" },
	{ "sendto", "syslog" },
	{ "sendmsg", "syslog" },
	{ "prctl", "libc thread names" },
	{ "capget", "libbpf" },
#ifdef __SANITIZE_ADDRESS__
	/* the ASan build (make SAN=1) only: its runtime gives every new
	 * thread an alternate signal stack and aborts if it cannot */
	{ "sigaltstack", "ASan: the netns thread's signal stack" },
#endif
};

static int drop_caps(struct ob_error *e)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return ob_err(e, -errno, "capget: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		__u32 keep = 0;

		for (size_t k = 0; k < sizeof(keep_caps) / sizeof(keep_caps[0]); k++)
			if (keep_caps[k].cap / 32 == i)
				keep |= 1u << (keep_caps[k].cap % 32);
		d[i].effective &= keep;
		d[i].permitted &= keep;
		d[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &h, d))
		return ob_err(e, -errno, "capset: %s", strerror(errno));
	return 0;
}

int ob_sandbox_apply(struct ob_error *e)
{
	scmp_filter_ctx ctx;
	int err = drop_caps(e);

	if (err)
		return err;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return ob_err(e, -errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return ob_err(e, -ENOMEM, "seccomp_init failed");
	for (size_t i = 0; i < sizeof(allow) / sizeof(allow[0]); i++) {
		int nr = seccomp_syscall_resolve_name(allow[i].name);

		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		if (allow[i].arg1_zero)
			err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A1(SCMP_CMP_EQ, 0));
		else
			err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (err) {
			seccomp_release(ctx);
			return ob_err(e, err, "seccomp_rule_add(%s): %s", allow[i].name,
				      strerror(-err));
		}
	}
#ifdef __SANITIZE_ADDRESS__
	/* The ASan build (make SAN=1): LeakSanitizer checks at exit by
	 * ptrace()ing the process's threads, which the filter forbids; its
	 * tracer dies and the process spins at exit (for ever, or until the
	 * hook's alarm). Check for leaks now instead: that also marks the
	 * check done, so the one at exit is skipped. Leaks made after this
	 * point go unseen in the sandboxed hook; ASan and UBSan stay on. */
	__lsan_do_leak_check();
#endif
	err = seccomp_load(ctx);
	seccomp_release(ctx);
	if (err)
		return ob_err(e, err, "seccomp_load: %s", strerror(-err));
	return 0;
}
