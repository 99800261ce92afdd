/* args.c - parses the command line into struct ob_args; pure, unit-tested. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ob.h"

static const struct {
	enum ob_verb verb;
	const char *name;
	const char *usage;
} verbs[] = {
	{ OB_VERB_LOAD, "load",
	  "oci-bypass load [--cgroup PATH] [--max-sockets N] [--small-stream-window MS]\n"
	  "                [--stall-window MS]\n"
	  "  Load the BPF programs, pin them under " OB_PIN_DIR "/ and attach\n"
	  "  sock_ops to a cgroup v2 (default: the cgroup2 root from /proc/mounts).\n"
	  "  --max-sockets sizes the sockhash (default 65536); when it is full, new\n"
	  "  connections stay on stock TCP. --small-stream-window: a sender whose\n"
	  "  1024 messages in a row under 32 bytes come within MS milliseconds\n"
	  "  (default 4), with none from its peer between, moves to stock TCP, which\n"
	  "  coalesces them; raise it where the CPU is slow. --stall-window: a\n"
	  "  sender whose peer has more than its receive buffer unread and has read\n"
	  "  nothing for MS milliseconds (default 100) moves to stock TCP, whose\n"
	  "  window then blocks it (push-back). Loading the same build again does\n"
	  "  nothing.\n" },
	{ OB_VERB_UNLOAD, "unload",
	  "oci-bypass unload [--wait SECONDS]\n"
	  "  Stop new pairings at once and detach sock_ops. The sockhash stays\n"
	  "  pinned until every redirecting socket has closed, so no byte is lost;\n"
	  "  waits up to SECONDS (default 10) for that, then exits 75 if sockets\n"
	  "  remain (run unload again later to finish).\n" },
	{ OB_VERB_ENROLL, "enroll",
	  "oci-bypass enroll --netns PATH [--name NAME] [--no-port PORT]... [--trust] [--allow-host]\n"
	  "                  [--max-unread BYTES]\n"
	  "  Enrol a network namespace (/run/netns/NAME, /proc/PID/ns/net): TCP\n"
	  "  connections opened from now on between two enrolled namespaces are\n"
	  "  redirected. --no-port keeps connections to or from PORT on stock TCP.\n"
	  "  A service (listening port) of this namespace is accelerated once one\n"
	  "  of its connections has ended without a blocking shutdown(SHUT_WR);\n"
	  "  --trust skips that probation (see README, Limitations).\n"
	  "  --max-unread: the namespace's budget of redirected bytes its peers\n"
	  "  have not read yet (k, m, g suffixes; default 256m, or the host's\n"
	  "  budget where that is smaller); past it, its connections go by TCP.\n"
	  "  The host's own namespace is refused unless --allow-host is given.\n" },
	{ OB_VERB_WITHDRAW, "withdraw",
	  "oci-bypass withdraw NAME | --netns PATH\n"
	  "  Withdraw an enrolment: new connections stay on stock TCP, connections\n"
	  "  already redirecting go on until they close.\n" },
	{ OB_VERB_ENABLE, "enable",
	  "oci-bypass enable\n  Allow new pairings (the default after load).\n" },
	{ OB_VERB_DISABLE, "disable",
	  "oci-bypass disable\n"
	  "  Stop new pairings everywhere; connections already redirecting go on.\n" },
	{ OB_VERB_STATUS, "status",
	  "oci-bypass status [--json]\n"
	  "  Global state and, per enrolled namespace, its counters.\n" },
	{ OB_VERB_METRICS, "metrics",
	  "oci-bypass metrics\n"
	  "  The counters in Prometheus text format (node_exporter textfile).\n" },
	{ OB_VERB_DOCTOR, "doctor",
	  "oci-bypass doctor [--btf FILE]\n"
	  "  Check kernel, BTF, bpffs, cgroup v2, privileges and each kernel feature\n"
	  "  the datapath relies on (ok, missing, or the fallback in use), then load\n"
	  "  the BPF object itself into this kernel without attaching it: doctor\n"
	  "  fails wherever load would. Exits 1 if acceleration cannot work here.\n"
	  "  --btf FILE resolves the object's CO-RE relocations against FILE (a\n"
	  "  vmlinux or raw BTF) instead of this kernel's BTF, to check a kernel's\n"
	  "  type layout before booting it.\n" },
	{ OB_VERB_HOOK, "hook",
	  "oci-bypass hook [create|teardown]\n"
	  "  The OCI hook: reads the container state JSON on stdin. create (for the\n"
	  "  createRuntime or prestart stage) enrols the container's network\n"
	  "  namespace, loading the BPF programs on first use; teardown (poststop)\n"
	  "  withdraws it when its last container is gone. Without a stage it is\n"
	  "  inferred from the state's status. Fails open: errors are logged and\n"
	  "  the container runs unaccelerated, unless the container's annotation\n"
	  "  io.oci-bypass.mode is \"required\".\n" },
	{ OB_VERB_INSTALL_HOOKS, "install-hooks",
	  "oci-bypass install-hooks [--dir DIR] [--always] [--hook-path PATH] [--cdi]\n"
	  "  Write the hooks.d file oci-bypass.json (default DIR\n"
	  "  /etc/containers/oci/hooks.d). By default the hook runs for containers\n"
	  "  with the annotation io.oci-bypass.mode=on|required; --always runs it for\n"
	  "  every container (opt out with io.oci-bypass.mode=off). --cdi writes a\n"
	  "  CDI spec oci-bypass.json instead (default DIR /etc/cdi), for containerd,\n"
	  "  nerdctl and Docker: --device oci-bypass.io/net=on. PATH defaults to\n"
	  "  this binary.\n" },
	{ OB_VERB_GC, "gc",
	  "oci-bypass gc\n"
	  "  Repair what a killed hook or a container that died without poststop\n"
	  "  left behind: records of gone containers and their enrolments.\n" },
	{ OB_VERB_VERSION, "version", "oci-bypass version\n  Print the version and BPF build id.\n" },
	{ OB_VERB_SANDBOX_TEST, "sandbox-test",
	  "oci-bypass sandbox-test\n"
	  "  Confine this process as the hook does, then check that execve, ptrace\n"
	  "  and setuid fail with EPERM (used by the tests).\n" },
	{ OB_VERB_HELP, "help", "oci-bypass help [VERB]\n" },
};

#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

const char *ob_verb_name(enum ob_verb v)
{
	for (size_t i = 0; i < N_VERBS; i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "oci-bypass";
}

const char *ob_verb_usage(enum ob_verb v)
{
	for (size_t i = 0; i < N_VERBS; i++)
		if (verbs[i].verb == v)
			return verbs[i].usage;
	return NULL;
}

/* Names become file names under OB_RUN_DIR: a conservative alphabet. */
bool ob_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > OB_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end || d < 0 || d > 86400)
		return ob_err(-EINVAL, "--wait takes seconds from 0 to 86400, not '%s'", s);
	*out = d;
	return 0;
}

/* A whole number from min to max for option opt ("--x takes 2 to 9, not 'y'"). */
static int parse_uint(const char *opt, const char *s, unsigned long min, unsigned long max,
		      const char *unit, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || n < min || n > max)
		return ob_err(-EINVAL, "%s takes %lu to %lu%s, not '%s'", opt, min, max, unit, s);
	*out = (unsigned)n;
	return 0;
}

/* A byte count with an optional k, m or g suffix (powers of 1024). */
int ob_parse_bytes(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long n;
	char *end;
	int shift = 0;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (!errno && end != s && s[0] != '-' && end[0] && !end[1]) {
		switch (end[0]) {
		case 'k': case 'K': shift = 10; end++; break;
		case 'm': case 'M': shift = 20; end++; break;
		case 'g': case 'G': shift = 30; end++; break;
		}
	}
	if (errno || end == s || *end || s[0] == '-' || n > (max >> shift) || (n << shift) < min)
		return ob_err(-EINVAL, "%s takes %llu to %llu bytes (k, m, g suffixes allowed), not '%s'",
			      opt, (unsigned long long)min, (unsigned long long)max, s);
	*out = (uint64_t)n << shift;
	return 0;
}

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	long p;

	errno = 0;
	p = strtol(s, &end, 10);
	if (errno || end == s || *end || p < 1 || p > 65535)
		return ob_err(-EINVAL, "--no-port takes a port from 1 to 65535, not '%s'", s);
	*out = (uint16_t)p;
	return 0;
}

/* Option table: which verb accepts which option, and whether it takes a value. */
enum opt_id {
	O_CGROUP,
	O_WAIT,
	O_NETNS,
	O_NAME,
	O_NOPORT,
	O_ALLOW_HOST,
	O_TRUST,
	O_JSON,
	O_DIR,
	O_ALWAYS,
	O_HOOK_PATH,
	O_CDI,
	O_MAX_SOCKETS,
	O_BTF,
	O_SMALL_WINDOW,
	O_STALL_WINDOW,
	O_MAX_UNREAD,
};
static const struct {
	const char *name;
	enum opt_id id;
	bool value;
	enum ob_verb verb;
} opts[] = {
	{ "--cgroup", O_CGROUP, true, OB_VERB_LOAD },
	{ "--max-sockets", O_MAX_SOCKETS, true, OB_VERB_LOAD },
	{ "--btf", O_BTF, true, OB_VERB_DOCTOR },
	{ "--small-stream-window", O_SMALL_WINDOW, true, OB_VERB_LOAD },
	{ "--stall-window", O_STALL_WINDOW, true, OB_VERB_LOAD },
	{ "--wait", O_WAIT, true, OB_VERB_UNLOAD },
	{ "--netns", O_NETNS, true, OB_VERB_ENROLL },
	{ "--name", O_NAME, true, OB_VERB_ENROLL },
	{ "--no-port", O_NOPORT, true, OB_VERB_ENROLL },
	{ "--allow-host", O_ALLOW_HOST, false, OB_VERB_ENROLL },
	{ "--trust", O_TRUST, false, OB_VERB_ENROLL },
	{ "--max-unread", O_MAX_UNREAD, true, OB_VERB_ENROLL },
	{ "--netns", O_NETNS, true, OB_VERB_WITHDRAW },
	{ "--json", O_JSON, false, OB_VERB_STATUS },
	{ "--dir", O_DIR, true, OB_VERB_INSTALL_HOOKS },
	{ "--always", O_ALWAYS, false, OB_VERB_INSTALL_HOOKS },
	{ "--hook-path", O_HOOK_PATH, true, OB_VERB_INSTALL_HOOKS },
	{ "--cdi", O_CDI, false, OB_VERB_INSTALL_HOOKS },
};

static int apply_opt(struct ob_args *a, enum opt_id id, const char *val)
{
	switch (id) {
	case O_CGROUP:
		a->cgroup = val;
		return 0;
	case O_WAIT:
		return parse_seconds(val, &a->wait_s);
	case O_NETNS:
		a->netns = val;
		return 0;
	case O_NAME:
		if (!ob_name_valid(val))
			return ob_err(-EINVAL,
				      "--name '%s': use 1-%d of [A-Za-z0-9._-], not starting with '.' or '-'",
				      val, OB_NAME_MAX);
		a->name = val;
		return 0;
	case O_NOPORT:
		if (a->n_noports >= (int)(sizeof(a->noports) / sizeof(a->noports[0])))
			return ob_err(-E2BIG, "at most 16 --no-port options");
		return parse_port(val, &a->noports[a->n_noports++]);
	case O_ALLOW_HOST:
		a->allow_host = true;
		return 0;
	case O_TRUST:
		a->trust = true;
		return 0;
	case O_JSON:
		a->json = true;
		return 0;
	case O_DIR:
		a->dir = val;
		return 0;
	case O_ALWAYS:
		a->always = true;
		return 0;
	case O_HOOK_PATH:
		if (val[0] != '/')
			return ob_err(-EINVAL, "--hook-path must be absolute, not '%s'", val);
		a->hook_path = val;
		return 0;
	case O_CDI:
		a->cdi = true;
		return 0;
	case O_BTF:
		a->btf = val;
		return 0;
	case O_SMALL_WINDOW:
		return parse_uint("--small-stream-window", val, 1, 60000, " (ms)", &a->small_window_ms);
	case O_STALL_WINDOW:
		return parse_uint("--stall-window", val, 1, 60000, " (ms)", &a->stall_ms);
	case O_MAX_UNREAD:
		return ob_parse_bytes("--max-unread", val, OB_MAX_UNREAD_MIN, OB_MAX_UNREAD_MAX,
				      &a->max_unread);
	case O_MAX_SOCKETS:
		return parse_uint("--max-sockets", val, 2, 1u << 22, "", &a->max_sockets);
	}
	return -EINVAL;
}

static int parse_verb_args(struct ob_args *a, int argc, char *const argv[], int i)
{
	for (; i < argc; i++) {
		const char *arg = argv[i];
		const char *val = NULL;
		size_t k;

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			a->help = true;
			continue;
		}
		if (!strcmp(arg, "-v") || !strcmp(arg, "--verbose")) {
			a->verbose = true;
			continue;
		}
		if (arg[0] != '-') {
			if (a->verb == OB_VERB_WITHDRAW && !a->target) {
				a->target = arg;
				continue;
			}
			if (a->verb == OB_VERB_HELP && !a->target) {
				a->target = arg;
				continue;
			}
			if (a->verb == OB_VERB_HOOK && !a->stage) {
				a->stage = arg;
				continue;
			}
			return ob_err(-EINVAL, "unexpected argument '%s'", arg);
		}
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
			size_t n = strlen(opts[k].name);

			if (opts[k].verb != a->verb || strncmp(arg, opts[k].name, n))
				continue;
			if (arg[n] == '=' && opts[k].value) {
				val = arg + n + 1;
				break;
			}
			if (arg[n] == '\0')
				break;
		}
		if (k == sizeof(opts) / sizeof(opts[0]))
			return ob_err(-EINVAL, "unknown option '%s' (see --help)", arg);
		if (opts[k].value && !val) {
			if (i + 1 >= argc)
				return ob_err(-EINVAL, "%s needs a value", opts[k].name);
			val = argv[++i];
		}
		int err = apply_opt(a, opts[k].id, val);
		if (err)
			return err;
	}
	return 0;
}

static int check_required(const struct ob_args *a)
{
	if (a->help)
		return 0;
	if (a->verb == OB_VERB_ENROLL && !a->netns)
		return ob_err(-EINVAL, "--netns PATH is required");
	if (a->verb == OB_VERB_WITHDRAW && !!a->netns == !!a->target)
		return ob_err(-EINVAL, "give either NAME or --netns PATH");
	if (a->verb == OB_VERB_WITHDRAW && a->target && !ob_name_valid(a->target))
		return ob_err(-EINVAL, "'%s' is not a valid name", a->target);
	if (a->verb == OB_VERB_INSTALL_HOOKS && a->always && a->cdi)
		return ob_err(-EINVAL, "--always applies to hooks.d, not to --cdi");
	return 0;
}

int ob_parse_args(int argc, char *const argv[], struct ob_args *a)
{
	int i = 1;

	memset(a, 0, sizeof(*a));
	a->wait_s = 10;
	while (i < argc && (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))) {
		a->verbose = true;
		i++;
	}
	if (i >= argc)
		return ob_err(-EINVAL, "no verb given (see 'oci-bypass --help')");
	if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
		a->verb = OB_VERB_HELP;
		return parse_verb_args(a, argc, argv, i + 1);
	}
	if (!strcmp(argv[i], "--version")) {
		a->verb = OB_VERB_VERSION;
		return 0;
	}
	for (size_t k = 0; k < N_VERBS; k++) {
		if (!strcmp(argv[i], verbs[k].name)) {
			a->verb = verbs[k].verb;
			int err = parse_verb_args(a, argc, argv, i + 1);

			return err ? err : check_required(a);
		}
	}
	return ob_err(-EINVAL, "unknown verb '%s' (see 'oci-bypass --help')", argv[i]);
}
