/* args.c - parses the command line into struct ob_args; pure, unit-tested. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ob.h"

static int parse_seconds(const char *s, double *out, struct ob_error *e)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end || d < 0 || d > 86400)
		return ob_err(e, -EINVAL, "--wait takes seconds from 0 to 86400, not '%s'", s);
	*out = d;
	return 0;
}

/* A whole number from min to max for option opt ("--x takes 2 to 9, not 'y'"). */
static int parse_uint(const char *opt, const char *s, unsigned long min, unsigned long max,
		      const char *unit, unsigned *out, struct ob_error *e)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || n < min || n > max)
		return ob_err(e, -EINVAL, "%s takes %lu to %lu%s, not '%s'", opt, min, max, unit,
			      s);
	*out = (unsigned)n;
	return 0;
}

static int parse_port(const char *s, uint16_t *out, struct ob_error *e)
{
	char *end;
	long p;

	errno = 0;
	p = strtol(s, &end, 10);
	if (errno || end == s || *end || p < 1 || p > 65535)
		return ob_err(e, -EINVAL, "--no-port takes a port from 1 to 65535, not '%s'", s);
	*out = (uint16_t)p;
	return 0;
}

/* Every option, once: the verbs that accept one say so in ob_cmds[].opts.
 * One that takes no value sets the bool at offset flag of struct ob_args. */
#define FLAG(field) false, offsetof(struct ob_args, field)
static const struct {
	const char *name;
	enum ob_cli_opt id;
	bool value;
	size_t flag;
} opts[] = {
	{ "--cgroup", OB_OPT_CGROUP, true },
	{ "--max-sockets", OB_OPT_MAX_SOCKETS, true },
	{ "--btf", OB_OPT_BTF, true },
	{ "--small-stream-window", OB_OPT_SMALL_WINDOW, true },
	{ "--stall-window", OB_OPT_STALL_WINDOW, true },
	{ "--max-unread", OB_OPT_MAX_UNREAD, true },
	{ "--wait", OB_OPT_WAIT, true },
	{ "--netns", OB_OPT_NETNS, true },
	{ "--name", OB_OPT_NAME, true },
	{ "--no-port", OB_OPT_NOPORT, true },
	{ "--allow-host", OB_OPT_ALLOW_HOST, FLAG(allow_host) },
	{ "--trust", OB_OPT_TRUST, FLAG(trust) },
	{ "--json", OB_OPT_JSON, FLAG(json) },
	{ "--dir", OB_OPT_DIR, true },
	{ "--always", OB_OPT_ALWAYS, FLAG(always) },
	{ "--hook-path", OB_OPT_HOOK_PATH, true },
	{ "--cdi", OB_OPT_CDI, FLAG(cdi) },
	{ "--docker", OB_OPT_DOCKER, FLAG(docker) },
	{ "--docker-config", OB_OPT_DOCKER_CONFIG, true },
	{ "--default", OB_OPT_DEFAULT, FLAG(set_default) },
	{ "--containerd", OB_OPT_CONTAINERD, FLAG(containerd) },
	{ "--shim-path", OB_OPT_SHIM_PATH, true },
	{ "--allow-trust", OB_OPT_ALLOW_TRUST, FLAG(allow_trust) },
	{ "--allow-host-network", OB_OPT_ALLOW_HOST_NETWORK, FLAG(allow_host_network) },
	{ "--policy", OB_OPT_POLICY, true },
	{ "--max-conns", OB_OPT_MAX_CONNS, true },
	{ "--max-services", OB_OPT_MAX_SERVICES, true },
	{ "--stale-after", OB_OPT_STALE_AFTER, true },
};

static int apply_opt(struct ob_args *a, enum ob_cli_opt id, const char *val, struct ob_error *e)
{
	switch (id) {
	case OB_OPT_CGROUP:
		a->cgroup = val;
		return 0;
	case OB_OPT_WAIT:
		return parse_seconds(val, &a->wait_s, e);
	case OB_OPT_NETNS:
		a->netns = val;
		return 0;
	case OB_OPT_NAME:
		if (!ob_name_valid(val, OB_NAME_MAX))
			return ob_err(e, -EINVAL, "--name '%s': use 1-%d of " OB_NAME_CHARS, val,
				      OB_NAME_MAX);
		a->name = val;
		return 0;
	case OB_OPT_NOPORT:
		if (a->n_noports >= (int)(sizeof(a->noports) / sizeof(a->noports[0])))
			return ob_err(e, -E2BIG, "at most 16 --no-port options");
		return parse_port(val, &a->noports[a->n_noports++], e);
	case OB_OPT_DIR:
		a->dir = val;
		return 0;
	case OB_OPT_HOOK_PATH:
		if (val[0] != '/')
			return ob_err(e, -EINVAL, "--hook-path must be absolute, not '%s'", val);
		a->hook_path = val;
		return 0;
	case OB_OPT_DOCKER_CONFIG:
		a->docker = true;
		a->docker_config = val;
		return 0;
	case OB_OPT_SHIM_PATH:
		if (val[0] != '/')
			return ob_err(e, -EINVAL, "--shim-path must be absolute, not '%s'", val);
		a->shim_path = val;
		return 0;
	case OB_OPT_POLICY:
		if (val[0] != '/')
			return ob_err(e, -EINVAL, "--policy must be absolute, not '%s'", val);
		a->policy = val;
		return 0;
	case OB_OPT_BTF:
		a->btf = val;
		return 0;
	case OB_OPT_SMALL_WINDOW:
		return parse_uint("--small-stream-window", val, 1, 60000, " (ms)",
				  &a->small_window_ms, e);
	case OB_OPT_STALL_WINDOW:
		return parse_uint("--stall-window", val, 1, 60000, " (ms)", &a->stall_ms, e);
	case OB_OPT_MAX_UNREAD:
		return ob_parse_bytes("--max-unread", val, OB_MAX_UNREAD_MIN, OB_MAX_UNREAD_MAX,
				      &a->max_unread, e);
	case OB_OPT_MAX_SOCKETS:
		return parse_uint("--max-sockets", val, 2, 1u << 22, "", &a->max_sockets, e);
	case OB_OPT_MAX_CONNS:
		return parse_uint("--max-conns", val, 1, 1u << 22, "", &a->max_conns, e);
	case OB_OPT_MAX_SERVICES:
		return parse_uint("--max-services", val, 1, 1u << 22, "", &a->max_services, e);
	case OB_OPT_STALE_AFTER:
		return parse_uint("--stale-after", val, 1, 86400, " (s)", &a->stale_after_s, e);
	default: /* the flags: parse_verb_args sets them */
		return -EINVAL;
	}
}

static int parse_verb_args(struct ob_args *a, int argc, char *const argv[], int i,
			   struct ob_error *e)
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
			if (a->cmd->operand && !a->operand) {
				a->operand = arg;
				continue;
			}
			return ob_err(e, -EINVAL, "unexpected argument '%s'", arg);
		}
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
			size_t n = strlen(opts[k].name);

			if (!(a->cmd->opts & opts[k].id) || strncmp(arg, opts[k].name, n))
				continue;
			if (arg[n] == '=' && opts[k].value) {
				val = arg + n + 1;
				break;
			}
			if (arg[n] == '\0')
				break;
		}
		if (k == sizeof(opts) / sizeof(opts[0]))
			return ob_err(e, -EINVAL, "unknown option '%s' (see --help)", arg);
		if (opts[k].value && !val) {
			if (i + 1 >= argc)
				return ob_err(e, -EINVAL, "%s needs a value", opts[k].name);
			val = argv[++i];
		}
		if (!opts[k].value) {
			*(bool *)((char *)a + opts[k].flag) = true;
			continue;
		}
		int err = apply_opt(a, opts[k].id, val, e);
		if (err)
			return err;
	}
	return 0;
}

/* Rules beyond the options, named in ob_cmds[].check. */
int ob_args_check_enroll(const struct ob_args *a, struct ob_error *e)
{
	if (!a->netns)
		return ob_err(e, -EINVAL, "--netns PATH is required");
	return 0;
}

int ob_args_check_withdraw(const struct ob_args *a, struct ob_error *e)
{
	if (!!a->netns == !!a->operand)
		return ob_err(e, -EINVAL, "give either NAME or --netns PATH");
	if (a->operand && !ob_name_valid(a->operand, OB_NAME_MAX))
		return ob_err(e, -EINVAL, "'%s' is not a valid name", a->operand);
	return 0;
}

int ob_args_check_install(const struct ob_args *a, struct ob_error *e)
{
	if (a->always && a->cdi)
		return ob_err(e, -EINVAL, "--always applies to hooks.d, not to --cdi");
	if ((int)a->cdi + (int)a->docker + (int)a->containerd > 1)
		return ob_err(e, -EINVAL, "give one of --cdi, --docker, --containerd");
	if ((a->docker || a->containerd) && (a->always || a->dir || a->hook_path))
		return ob_err(e, -EINVAL,
			      "--always, --dir and --hook-path apply to hooks.d and CDI");
	if (a->set_default && !a->docker)
		return ob_err(e, -EINVAL, "--default applies to --docker");
	if (a->shim_path && !a->docker && !a->containerd)
		return ob_err(e, -EINVAL, "--shim-path applies to --docker and --containerd");
	return 0;
}

int ob_parse_args(const struct ob_cmd *cmds, int argc, char *const argv[], struct ob_args *a,
		  struct ob_error *e)
{
	const char *verb;
	int i = 1, err;

	memset(a, 0, sizeof(*a));
	a->wait_s = 10;
	while (i < argc && (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))) {
		a->verbose = true;
		i++;
	}
	if (i >= argc)
		return ob_err(e, -EINVAL, "no verb given (see 'oci-bypass --help')");
	verb = argv[i];
	if (!strcmp(verb, "--help") || !strcmp(verb, "-h"))
		verb = "help";
	else if (!strcmp(verb, "--version"))
		verb = "version";
	for (const struct ob_cmd *c = cmds; c->name; c++) {
		if (strcmp(verb, c->name))
			continue;
		a->cmd = c;
		if (!strcmp(argv[i], "--version"))
			return 0;
		err = parse_verb_args(a, argc, argv, i + 1, e);
		if (!err && !a->help && c->check)
			err = c->check(a, e);
		return err;
	}
	return ob_err(e, -EINVAL, "unknown verb '%s' (see 'oci-bypass --help')", argv[i]);
}
