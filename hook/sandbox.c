/* sandbox.c - the hook confines itself before it reads its input: capabilities, no-new-privs,
 * Landlock, seccomp by argument; and the parse child's stricter confinement. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "ob.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#ifndef NS_GET_NSTYPE
#define NS_GET_NSTYPE _IO(0xb7, 0x3)
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
/* Landlock rights and attributes newer than the UAPI headers of Debian 12 */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13) /* ABI 2, Linux 5.19 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3, Linux 6.2 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP	(1ULL << 0) /* ABI 4, Linux 6.7 */
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6, Linux 6.12 */
#endif

/*
 * Order (fixed, as in libnvidia-container, commented in cmd_hook.c's
 * confine()): 1. drop every capability the hook does not need, and
 * PR_SET_NO_NEW_PRIVS (ob_sandbox_prepare); 2. start the parse child,
 * which drops the rest and loads a filter of its own (parser.c,
 * ob_sandbox_parser); 3. a Landlock ruleset, then a seccomp allow-list
 * with argument rules whose default answer is EPERM (ob_sandbox_apply).
 * From there the privileged part drops capabilities as it stops needing
 * them (ob_caps_drop), and enforces the Landlock ruleset once it has no
 * more setns() to do (ob_sandbox_landlock). What a bug could then do is bounded by the lists below.
 */

/*
 * Capabilities kept by the privileged part, each until the stage that
 * needs it last (enum ob_caps_stage, ob_caps_drop), and why. Nothing else
 * is kept: not CAP_SYS_ADMIN's mount (bpffs is mounted before confinement),
 * not CAP_NET_RAW, CAP_SETUID, CAP_CHOWN, CAP_KILL, CAP_SYS_MODULE...
 */
static const struct {
	int cap;
	enum ob_caps_stage until; /* dropped by ob_caps_drop(until) */
	const char *why;
} keep_caps[] = {
	{ CAP_DAC_OVERRIDE, OB_CAPS_NETNS,
	  "read config.json in a bundle not owned by root (rootless engines); dropped once "
	  "its bytes are read (the parse child gets the bytes, not the file)" },
	{ CAP_DAC_READ_SEARCH, OB_CAPS_NETNS,
	  "walk to that config.json; dropped with DAC_OVERRIDE" },
	{ CAP_SYS_ADMIN, OB_CAPS_BPF,
	  "setns() into the container's netns and the host's to read their cookies (the "
	  "kernel asks for it in the namespace's user namespace and ours); dropped once both "
	  "are read" },
	{ CAP_SYS_PTRACE, OB_CAPS_BPF,
	  "setns() by pidfd and /proc/PID/ns/net need ptrace access to the container process "
	  "(and to init, for the host's netns), which holds capabilities we no longer hold; "
	  "dropped with SYS_ADMIN" },
	{ CAP_BPF, OB_CAPS_NONE, "bpf(): load programs, create and update maps" },
	{ CAP_PERFMON, OB_CAPS_NONE, "bpf(): the fexit programs, the BTF reads in sock_ops" },
	{ CAP_NET_ADMIN, OB_CAPS_NONE, "attach sock_ops to a cgroup, sockhash and sk_msg" },
	{ CAP_SYS_RESOURCE, OB_CAPS_NONE,
	  "map memory on kernels that still charge RLIMIT_MEMLOCK (before 5.11)" },
};

/* System calls the privileged part may make, and why; with cmp, only
 * when the argument(s) compare as given (several entries for one call:
 * any of them). Everything else fails with EPERM; clone3 with ENOSYS. */
struct cmp {
	unsigned arg;
	enum scmp_compare op;
	scmp_datum_t a, b;
};
static const struct {
	const char *name;
	const char *why;
	int ncmp;
	struct cmp cmp[2];
} allow[] = {
#define ARG(n, op, a, b)                                                                           \
	{                                                                                          \
		n, op, a, b                                                                        \
	}
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
	{ "clone",
	  "threads only (the one that enters a netns, netns.c): CLONE_THREAD set and no "
	  "CLONE_NEW* flag; a fork or a new namespace is refused (CLONE_NEWTIME, 0x80, is "
	  "clone3's only: in clone() that bit is part of the exit signal)",
	  1,
	  { ARG(0, SCMP_CMP_MASKED_EQ,
		CLONE_THREAD | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
			CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP,
		CLONE_THREAD) } },
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
	{ "ioctl",
	  "NS_GET_NSTYPE: is a netns path a network namespace (netns.c)",
	  1,
	  { ARG(1, SCMP_CMP_EQ, NS_GET_NSTYPE, 0) } },
	{ "ioctl", "TCGETS: isatty() in stdio", 1, { ARG(1, SCMP_CMP_EQ, TCGETS, 0) } },
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
	{ "pidfd_open", "the container process, race-free" },
	{ "pidfd_send_signal",
	  "signal 0 only: was what /proc/PID said the pidfd's process's (netns.c)",
	  1,
	  { ARG(1, SCMP_CMP_EQ, 0, 0) } },
	{ "setns",
	  "CLONE_NEWNET only: enter a netns (by its file or a pidfd) to read its cookie",
	  1,
	  { ARG(1, SCMP_CMP_EQ, CLONE_NEWNET, 0) } },
	{ "socket",
	  "AF_INET datagram: SO_NETNS_COOKIE (netns.c)",
	  2,
	  { ARG(0, SCMP_CMP_EQ, AF_INET, 0), ARG(1, SCMP_CMP_MASKED_EQ, 0xf, SOCK_DGRAM) } },
	{ "socket", "AF_UNIX: syslog's /dev/log", 1, { ARG(0, SCMP_CMP_EQ, AF_UNIX, 0) } },
	{ "getsockopt", "SO_NETNS_COOKIE" },
	{ "connect", "syslog's /dev/log" },
	{ "sendto", "syslog" },
	{ "sendmsg", "syslog" },
	{ "capget", "libbpf" },
	{ "capset", "ob_caps_drop: without CAP_SETPCAP it can only lower them" },
	{ "landlock_restrict_self",
	  "ob_sandbox_landlock, once setns() is done (it only restricts)" },
#ifdef __SANITIZE_ADDRESS__
	/* the ASan build (make SAN=1) only: its runtime gives every new
	 * thread an alternate signal stack and aborts if it cannot */
	{ "sigaltstack", "ASan: the netns thread's signal stack" },
	{ "prctl", "ASan" },
#else
	{ "prctl", "PR_SET_NAME: libc thread names", 1, { ARG(0, SCMP_CMP_EQ, PR_SET_NAME, 0) } },
	{ "prctl", "PR_GET_NAME", 1, { ARG(0, SCMP_CMP_EQ, PR_GET_NAME, 0) } },
#endif
#undef ARG
};

/* What the parse child may do: compute, allocate, talk over the socket
 * its parent gave it, exit. No open, no socket, no exec, no memory made
 * executable; it holds no capability. */
static const char *const parser_allow[] = {
	"read",
	"write",
	"close",
	"exit",
	"exit_group",
	"brk",
	"munmap",
	"mremap",
	"madvise",
	"futex",
	"getrandom",
	"rt_sigreturn",
	"clock_gettime",
	"gettimeofday",
	"time",
#ifdef __SANITIZE_ADDRESS__
	/* ASan's runtime: a report opens log_path.PID; its allocator maps
	 * and protects shadow memory */
	"openat",
	"getpid",
	"gettid",
	"mprotect",
	"sigaltstack",
	"rt_sigaction",
	"rt_sigprocmask",
	"prctl",
	"sched_yield",
	"fstat",
	"newfstatat",
	"readlink",
	"uname",
	"nanosleep",
	"lseek",
#endif
};

bool ob_sandbox_forced(const char *step)
{
	const char *f = getenv("OB_TEST_CONFINE_FAIL");

	return f && !strcmp(f, step);
}

/* Tests only: a confinement step made to fail (-EPERM with a sentence). */
static int forced_err(const char *step, struct ob_error *e)
{
	if (!ob_sandbox_forced(step))
		return 0;
	return ob_err(e, -EPERM, "%s: made to fail by OB_TEST_CONFINE_FAIL=%s", step, step);
}

/* Lowers effective, permitted and inheritable capabilities to those whose
 * stage comes after stage (keep_caps[].until); none for OB_CAPS_NONE. */
int ob_caps_drop(enum ob_caps_stage stage, struct ob_error *e)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return ob_err(e, -errno, "capget: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		__u32 keep = 0;

		for (size_t k = 0; k < sizeof(keep_caps) / sizeof(keep_caps[0]); k++)
			if (keep_caps[k].cap / 32 == i && keep_caps[k].until > stage)
				keep |= 1u << (keep_caps[k].cap % 32);
		d[i].effective &= keep;
		d[i].permitted &= keep;
		d[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &h, d))
		return ob_err(e, -errno, "capset: %s", strerror(errno));
	return 0;
}

/* Why OB_PIN_DIR could not be made ready (bpffs not mountable...): the
 * reason Landlock then gives, rather than its ENOENT. */
static struct ob_error bpffs_why;

int ob_sandbox_prepare(struct ob_error *e)
{
	int err = forced_err("caps", e);

	if (!err)
		err = ob_caps_drop(OB_CAPS_INPUT, e);
	if (!err && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		err = ob_err(e, -errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	/* What Landlock allows writes under must exist before it is set up;
	 * and Landlock forbids mount(), so bpffs is mounted now, as load
	 * would. A failure here shows later, as the load's. */
	ob_mkdirs(OB_RUN_DIR, 0700, NULL);
	ob_mkdirs(OB_VERDICTS_DIR, 0700, NULL);
	if (ob_ensure_bpffs(&bpffs_why) == 0 && mkdir(OB_PIN_DIR, 0700) && errno != EEXIST)
		ob_err(&bpffs_why, -errno, "cannot create %s: %s", OB_PIN_DIR, strerror(errno));
	return err;
}

#ifdef __SANITIZE_ADDRESS__
/* The ASan build: the directory of log_path in VAR (ASAN_OPTIONS), where
 * a report must still be written under Landlock; "" if none. */
static void san_log_dir(const char *var, char *dir, size_t len)
{
	const char *o = getenv(var), *p = o ? strstr(o, "log_path=") : NULL;
	char *slash;

	dir[0] = '\0';
	if (!p || p[9] != '/')
		return;
	snprintf(dir, len, "%.*s", (int)strcspn(p + 9, ":"), p + 9);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
}
#endif

static int landlock_allow(int rfd, const char *dir, __u64 access, struct ob_error *e)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = access };
	int err = 0;

	pb.parent_fd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pb.parent_fd < 0 && errno == ENOENT && bpffs_why.code && !strcmp(dir, OB_PIN_DIR))
		return ob_err(e, bpffs_why.code, "Landlock needs %s: %s", dir, bpffs_why.msg);
	if (pb.parent_fd < 0)
		return ob_err(e, -errno, "Landlock: cannot open %s: %s", dir, strerror(errno));
	if (syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0))
		err = ob_err(e, -errno, "Landlock: cannot allow writes under %s: %s", dir,
			     strerror(errno));
	close(pb.parent_fd);
	return err;
}

/*
 * Writes (create, write, truncate, rename, remove) only under OB_RUN_DIR,
 * OB_PIN_DIR and OB_VERDICTS_DIR; no execution; from ABI 4 no TCP bind or connect; from
 * ABI 6 no abstract unix socket outside. Reads are not restricted (the
 * hook reads /proc, /sys and config.json). A kernel without Landlock, or
 * with Landlock not enabled, is not an error: sb says why, the caller
 * logs it. Anything else that fails is.
 * The ruleset is built here, while its directories can be opened, and
 * enforced later (ob_sandbox_landlock): a Landlock domain denies ptrace
 * access to every process outside it, and setns() by pidfd, like opening
 * /proc/PID/ns/net, needs that access to the container process (and to
 * init, for the host's netns); enforced before, it fails with EPERM.
 */
static int landlock(struct ob_sandbox *sb, struct ob_error *e)
{
	struct {
		__u64 fs, net, scoped;
	} attr = { 0 };
	__u64 write = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
		      LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |
		      LANDLOCK_ACCESS_FS_MAKE_REG;
	_cleanup_close_ int rfd = -1;
	long abi;
	size_t size = sizeof(attr.fs);
	int err;

	sb->landlock_abi = 0;
	sb->ruleset = -1;
	sb->no_landlock[0] = '\0';
	err = forced_err("landlock", e);
	if (err)
		return err;
	abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0 && (errno == ENOSYS || errno == EOPNOTSUPP)) {
		snprintf(sb->no_landlock, sizeof(sb->no_landlock), "%s",
			 errno == ENOSYS ? "this kernel has no Landlock (CONFIG_SECURITY_LANDLOCK)"
					 : "Landlock is not enabled (add landlock to the lsm= "
					   "boot parameter)");
		return 0;
	}
	if (abi < 0)
		return ob_err(e, -errno, "Landlock: cannot read its version: %s", strerror(errno));
	attr.fs = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
		  LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
		  LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
		  LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
		  LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		  LANDLOCK_ACCESS_FS_MAKE_SYM;
	/* reads are not handled, so they stay free: a rule beneath "/"
	 * would not cover nsfs files reopened through /proc/self/fd */
	if (abi >= 2) {
		attr.fs |= LANDLOCK_ACCESS_FS_REFER;
		write |= LANDLOCK_ACCESS_FS_REFER;
	}
	if (abi >= 3) {
		attr.fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
		write |= LANDLOCK_ACCESS_FS_TRUNCATE;
	}
	if (abi >= 4) {
		attr.net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
		size = 2 * sizeof(__u64);
	}
	if (abi >= 6) {
		attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET;
		size = sizeof(attr);
	}
	rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (rfd < 0)
		return ob_err(e, -errno, "Landlock: cannot create a ruleset: %s", strerror(errno));
	err = landlock_allow(rfd, OB_RUN_DIR, write, e);
	if (!err)
		err = landlock_allow(rfd, OB_PIN_DIR, write, e);
	/* kept verdicts: where /var/lib cannot hold them (read-only), the
	 * hook runs without, and teardown says they were not kept */
	if (!err && access(OB_VERDICTS_DIR, F_OK) == 0)
		err = landlock_allow(rfd, OB_VERDICTS_DIR, write, e);
#ifdef __SANITIZE_ADDRESS__
	for (int i = 0; !err && i < 2; i++) {
		char dir[PATH_MAX];

		san_log_dir(i ? "UBSAN_OPTIONS" : "ASAN_OPTIONS", dir, sizeof(dir));
		if (dir[0])
			err = landlock_allow(rfd, dir, write, e);
	}
#endif
	if (err)
		return err;
	sb->landlock_abi = (int)abi;
	sb->ruleset = rfd;
	rfd = -1;
	return 0;
}

int ob_sandbox_landlock(struct ob_sandbox *sb, struct ob_error *e)
{
	int err = 0;

	if (sb->ruleset < 0)
		return 0;
	if (syscall(SYS_landlock_restrict_self, sb->ruleset, 0))
		err = ob_err(e, -errno, "Landlock: cannot restrict this process: %s",
			     strerror(errno));
	close(sb->ruleset);
	sb->ruleset = -1;
	return err;
}

static int seccomp(void)
{
	scmp_filter_ctx ctx;
	int err = 0;

	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return -ENOMEM;
	/* glibc's pthread_create tries clone3 first and falls back to
	 * clone on ENOSYS; clone3's flags are in memory, out of the
	 * filter's reach, so only clone (flags in a register) is allowed */
	err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	for (size_t i = 0; !err && i < sizeof(allow) / sizeof(allow[0]); i++) {
		int nr = seccomp_syscall_resolve_name(allow[i].name);
		struct scmp_arg_cmp c[2];

		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		for (int k = 0; k < allow[i].ncmp; k++)
			c[k] = (struct scmp_arg_cmp){ allow[i].cmp[k].arg, allow[i].cmp[k].op,
						      allow[i].cmp[k].a, allow[i].cmp[k].b };
		err = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, (unsigned)allow[i].ncmp, c);
	}
#ifdef __SANITIZE_ADDRESS__
	/* The ASan build (make SAN=1): LeakSanitizer checks at exit by
	 * ptrace()ing the process's threads, which the filter forbids; its
	 * tracer dies and the process spins at exit (for ever, or until the
	 * hook's alarm). Check for leaks now instead: that also marks the
	 * check done, so the one at exit is skipped. Leaks made after this
	 * point go unseen in the sandboxed hook; ASan and UBSan stay on. */
	if (!err)
		__lsan_do_leak_check();
#endif
	if (!err)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	return err;
}

/* Both steps are taken even if the first fails: the hook will not
 * accelerate, but what it still does is confined as far as it can be. */
int ob_sandbox_apply(struct ob_sandbox *sb, struct ob_error *e)
{
	struct ob_error se = { 0 };
	int err = landlock(sb, e), serr = forced_err("seccomp", &se);

	if (!serr) {
		serr = seccomp();
		if (serr)
			ob_err(&se, serr, "seccomp: %s", strerror(-serr));
	}
	if (serr && !err) {
		if (e)
			*e = se;
		err = serr;
	}
	return err;
}

int ob_sandbox_parser(struct ob_error *e)
{
	scmp_filter_ctx ctx;
	int err = forced_err("parser", e);

	if (err)
		return err;
	err = ob_caps_drop(OB_CAPS_NONE, e);
	if (err)
		return err;
	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return ob_err(e, -ENOMEM, "seccomp_init failed");
	/* mmap, never executable */
	err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
			       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* send(MSG_NOSIGNAL) on its socket: sendto without an address */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), 1,
				       SCMP_A4(SCMP_CMP_EQ, 0));
	for (size_t i = 0; !err && i < sizeof(parser_allow) / sizeof(parser_allow[0]); i++) {
		int nr = seccomp_syscall_resolve_name(parser_allow[i]);

		if (nr != __NR_SCMP_ERROR)
			err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	if (!err)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	if (err)
		return ob_err(e, err, "the parse child's seccomp filter: %s", strerror(-err));
	return 0;
}
