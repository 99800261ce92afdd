/* sandboxcheck.c - for t_confine and t_hook only, never shipped: confines itself with the hook's
 * own ob_confine() (linked from the hook's objects), then checks what must fail and, as controls,
 * what the hook needs. One line "what: result" per check; exit status 0 if every result was the
 * expected one, 1 if not, 2 if it could not confine itself.
 *   usage: sandboxcheck [FILE]   FILE (default /var/tmp/oci-bypass-sandbox-test) must not exist:
 *                                creating it must be refused where Landlock is on. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ob.h"

/* One line "what: result" per check, counting in *failures those whose
 * result is not the one expected. */
static void expect(FILE *out, int *failures, const char *what, long rc, int want)
{
	int got = rc < 0 ? errno : 0;

	fprintf(out, "%s: %s%s\n", what, got ? strerrorname_np(got) : "allowed",
		got == want ? "" : " (UNEXPECTED)");
	*failures += got != want;
}

/* The parse child as the kernel sees it (/proc/PID/status), not as it
 * says it is: no capability, no-new-privs, a seccomp filter. */
static void check_parser(FILE *out, int *failures, int pid)
{
	char path[64], line[256];
	_cleanup_fclose_ FILE *f = NULL;
	int seen = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		const char *want = !strncmp(line, "CapEff:", 7)	       ? "0000000000000000"
				   : !strncmp(line, "CapPrm:", 7)      ? "0000000000000000"
				   : !strncmp(line, "CapInh:", 7)      ? "0000000000000000"
				   : !strncmp(line, "CapAmb:", 7)      ? "0000000000000000"
				   : !strncmp(line, "NoNewPrivs:", 11) ? "1"
				   : !strncmp(line, "Seccomp:", 8)     ? "2"
								       : NULL;
		const char *v = strchr(line, ':');

		if (!want)
			continue;
		v += strspn(v + 1, " \t") + 1;
		line[strcspn(line, "\n")] = '\0';
		fprintf(out, "parse child %s%s\n", line,
			strncmp(v, want, strlen(want)) ? " (UNEXPECTED)" : "");
		*failures += strncmp(v, want, strlen(want)) != 0;
		seen++;
	}
	if (seen != 6) {
		fprintf(out, "parse child: /proc/%d/status unreadable (UNEXPECTED)\n", pid);
		(*failures)++;
	}
}

/* After the last drop the privileged part holds BPF, PERFMON, NET_ADMIN
 * and SYS_RESOURCE, nothing else (sandbox.c, keep_caps). */
static void check_caps(FILE *out, int *failures)
{
	const unsigned long long want = 1ULL << 39 /* BPF */ | 1ULL << 38 /* PERFMON */ |
					1ULL << 12 /* NET_ADMIN */ | 1ULL << 24 /* SYS_RESOURCE */;
	_cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
	unsigned long long eff = ~0ULL, prm = ~0ULL;
	char line[256];

	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "CapEff: %llx", &eff);
		sscanf(line, "CapPrm: %llx", &prm);
	}
	fprintf(out, "privileged part CapEff %016llx CapPrm %016llx%s\n", eff, prm,
		(eff & ~want) || (prm & ~want) ? " (UNEXPECTED)" : "");
	*failures += (eff & ~want) || (prm & ~want);
}

static void *thread_ok(void *arg)
{
	return arg;
}

static int check(const char *file, FILE *out, struct ob_error *e)
{
	char *const argv[] = { "true", NULL };
	char inside[128];
	struct ob_sandbox sb = { .ruleset = -1 };
	struct ob_parser ps = { 0, -2 };
	_cleanup_close_ int self = -1, net = -1, uts = -1, s = -1;
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	} cl = { .exit_signal = SIGCHLD };
	pthread_t t;
	int failures = 0, err;
	long rc;

	self = ob_pidfd_open(getpid(), e);
	if (self < 0)
		return self;
	net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	uts = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
	if (net < 0 || uts < 0)
		return ob_err(e, -errno, "cannot open /proc/self/ns: %s", strerror(errno));
	err = ob_confine(&sb, &ps, e);
	if (err) {
		ob_parser_stop(&ps);
		return err;
	}
	check_parser(out, &failures, ps.pid);
	ob_parser_stop(&ps);

	expect(out, &failures, "execve", execv("/bin/true", argv), EPERM);
	expect(out, &failures, "ptrace", syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0),
	       EPERM);
	expect(out, &failures, "setuid", syscall(SYS_setuid, 0), EPERM);
	/* a real signal (SIGCONT: harmless if it went through) by pidfd */
	expect(out, &failures, "pidfd_send_signal SIGCONT",
	       syscall(SYS_pidfd_send_signal, self, SIGCONT, NULL, 0), EPERM);
	expect(out, &failures, "mount", syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, NULL),
	       EPERM);
	/* setns: CLONE_NEWNET only (our own netns: a no-op when allowed) */
	expect(out, &failures, "setns CLONE_NEWNET", setns(net, CLONE_NEWNET), 0);
	expect(out, &failures, "setns CLONE_NEWUTS", setns(uts, CLONE_NEWUTS), EPERM);
	expect(out, &failures, "setns 0 (any type)", setns(net, 0), EPERM);
	/* as the hook, once setns() is done */
	err = ob_caps_drop(OB_CAPS_BPF, e);
	if (!err)
		err = ob_sandbox_landlock(&sb, e);
	if (err)
		return err;
	check_caps(out, &failures);
	/* socket: AF_INET datagram and AF_UNIX only */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	expect(out, &failures, "socket AF_INET SOCK_DGRAM", s, 0);
	expect(out, &failures, "ioctl SIOCGIFCONF", ioctl(s, SIOCGIFCONF, &(struct ifconf){ 0 }),
	       EPERM);
	expect(out, &failures, "socket AF_PACKET", socket(AF_PACKET, SOCK_RAW, 0), EPERM);
	expect(out, &failures, "socket AF_NETLINK", socket(AF_NETLINK, SOCK_RAW, 0), EPERM);
	expect(out, &failures, "socket AF_INET6", socket(AF_INET6, SOCK_DGRAM, 0), EPERM);
	expect(out, &failures, "socket AF_INET SOCK_STREAM", socket(AF_INET, SOCK_STREAM, 0),
	       EPERM);
	/* clone: threads only; clone3 ENOSYS, so that glibc falls back */
	/* (a child, if one were made, leaves at once) */
	rc = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (rc == 0)
		_exit(0);
	expect(out, &failures, "clone (fork)", rc, EPERM);
	rc = fork();
	if (rc == 0)
		_exit(0);
	expect(out, &failures, "fork", rc, EPERM);
	rc = syscall(SYS_clone3, &cl, sizeof(cl));
	if (rc == 0)
		_exit(0);
	expect(out, &failures, "clone3 (fork)", rc, ENOSYS);
	errno = pthread_create(&t, NULL, thread_ok, NULL);
	expect(out, &failures, "pthread_create", errno ? -1 : 0, 0);
	if (!errno)
		pthread_join(t, NULL);
	/* Landlock: writes only under OB_RUN_DIR and OB_PIN_DIR */
	if (sb.landlock_abi) {
		fprintf(out, "landlock: ABI %d\n", sb.landlock_abi);
		expect(out, &failures, "create FILE",
		       open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), EACCES);
		expect(out, &failures, "mkdir /run/oci-bypass-sandbox-test",
		       mkdir("/run/oci-bypass-sandbox-test", 0700), EACCES);
		snprintf(inside, sizeof(inside), OB_RUN_DIR "/.sandbox-test.%d", (int)getpid());
		err = open(inside, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		expect(out, &failures, "create under " OB_RUN_DIR, err, 0);
		if (err >= 0) {
			close(err);
			unlink(inside);
		}
	} else {
		fprintf(out, "landlock: none: %s\n", sb.no_landlock);
	}
	if (failures)
		return ob_err(e, -EPERM, "%d check(s) did not give the expected result", failures);
	return 0;
}

int main(int argc, char **argv)
{
	struct ob_error e = { 0 };
	int err = check(argc > 1 ? argv[1] : "/var/tmp/oci-bypass-sandbox-test", stdout, &e);

	fflush(stdout);
	if (!err)
		return 0;
	fprintf(stderr, "sandboxcheck: %s\n", e.msg);
	return err == -EPERM && strstr(e.msg, "check(s)") ? 1 : 2;
}
