/* runtime.c - oci-bypass-runtime: an OCI runtime shim that adds the hook to a bundle, then execs
 * runc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ob.h"
#include "oci.h"

/*
 * Docker 20.10 and containerd 1.6 apply neither hooks.d nor CDI, and Docker
 * 20.10 cannot set annotations. Registered as their OCI runtime (Docker
 * "runtimes", ctr --runc-binary, containerd's BinaryName), this binary is
 * called with runc's command line. On create and run it adds the oci-bypass
 * hooks to the bundle's config.json (oci/bundle.c decides); then, for every
 * verb, it execs the real runtime with the same arguments, less its own
 * --runtime-path. It never breaks a container it cannot parse: any error is
 * logged and the runtime runs unchanged, except when the container asked
 * for "required", which is refused before the runtime runs.
 */

#define DEFAULT_RUNTIME "runc"

struct rt_cmd {
	const char *runtime; /* --runtime-path, or NULL */
	const char *verb;    /* first argument that is not an option, or NULL */
	const char *bundle;  /* create/run --bundle, or NULL: the current directory */
	const char *id;	     /* create/run: the container id (for the log) */
	const char *log;     /* runc --log FILE, or NULL */
	bool log_json;	     /* runc --log-format json */
	char **argv;	     /* what the runtime gets (argv[0] replaced later) */
};

/* runc's global options that take a value (runc 1.1 main.go). */
static const char *const global_values[] = { "log", "log-format", "root", "criu", "rootless" };
/* create/run options that take a value. */
static const char *const create_values[] = { "bundle", "b", "console-socket", "pid-file",
					     "preserve-fds" };

/* "--name" / "-name" (Go's flag package takes both), and "--name=value". */
static bool opt_is(const char *arg, const char *name, const char **val)
{
	size_t n = strlen(name);

	*val = NULL;
	if (arg[0] != '-')
		return false;
	arg += arg[1] == '-' ? 2 : 1;
	if (strncmp(arg, name, n))
		return false;
	if (arg[n] == '=') {
		*val = arg + n + 1;
		return true;
	}
	return arg[n] == '\0';
}

/* Does arg name one of names, and take its value from the next argument? */
static bool takes_next(const char *arg, const char *const *names, size_t n)
{
	const char *val;

	for (size_t i = 0; i < n; i++)
		if (opt_is(arg, names[i], &val))
			return !val;
	return false;
}

static int parse_cmd(int argc, char **argv, struct rt_cmd *c, struct ob_error *e)
{
	int i, o = 0;
	const char *val;

	memset(c, 0, sizeof(*c));
	c->argv = calloc((size_t)argc + 1, sizeof(char *));
	if (!c->argv)
		return ob_err(e, -ENOMEM, "out of memory");
	c->argv[o++] = argv[0];
	for (i = 1; i < argc && !c->verb; i++) {
		if (opt_is(argv[i], "runtime-path", &val)) {
			if (!val && i + 1 >= argc)
				return ob_err(e, -EINVAL, "--runtime-path needs a value");
			c->runtime = val ? val : argv[++i];
			continue;
		}
		c->argv[o++] = argv[i];
		if (argv[i][0] != '-') {
			c->verb = argv[i];
			break;
		}
		if (opt_is(argv[i], "log", &val) && (val || i + 1 < argc))
			c->log = val ? val : argv[i + 1];
		if (opt_is(argv[i], "log-format", &val) && (val || i + 1 < argc))
			c->log_json = !strcmp(val ? val : argv[i + 1], "json");
		if (takes_next(argv[i], global_values,
			       sizeof(global_values) / sizeof(*global_values)) &&
		    i + 1 < argc)
			c->argv[o++] = argv[++i];
	}
	for (i++; i < argc; i++)
		c->argv[o++] = argv[i];
	c->argv[o] = NULL;
	if (!c->verb || (strcmp(c->verb, "create") && strcmp(c->verb, "run")))
		return 0;
	/* Only create and run need more: the bundle and the id. */
	for (i = 1; c->argv[i] != c->verb; i++)
		;
	for (i++; c->argv[i]; i++) {
		const char *a = c->argv[i];

		if (!strcmp(a, "--")) {
			c->id = c->argv[i + 1];
			break;
		}
		if (a[0] != '-') {
			c->id = a;
			continue;
		}
		if ((opt_is(a, "bundle", &val) || opt_is(a, "b", &val)) && (val || c->argv[i + 1]))
			c->bundle = val ? val : c->argv[i + 1];
		if (takes_next(a, create_values, sizeof(create_values) / sizeof(*create_values)) &&
		    c->argv[i + 1])
			i++;
	}
	return 0;
}

/*
 * One line to syslog and, for warnings and errors, to where the engine reads runc's errors: runc's
 * --log file (containerd shows its last "error" line when create fails),
 * else stderr. Not stderr when there is a log file: at create, runc's
 * stdio becomes the container's, so it would end up in `docker logs`.
 */
static void rlog(const struct rt_cmd *c, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void rlog(const struct rt_cmd *c, int prio, const char *fmt, ...)
{
	const char *id = c->id ? c->id : "-";
	char text[768], line[1024];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	openlog("oci-bypass-runtime", LOG_PID, LOG_DAEMON);
	syslog(prio, "%s: %s", id, text);
	if (prio > LOG_WARNING)
		return; /* news, not trouble: syslog only */
	if (!c->log) {
		fprintf(stderr, "oci-bypass-runtime: %s: %s\n", id, text);
		return;
	}
	fd = open(c->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "oci-bypass-runtime: %s: %s\n", id, text);
		return;
	}
	if (c->log_json) {
		char q[sizeof(text) * 2];
		size_t o = 0;
		time_t now = time(NULL);
		struct tm tm;
		char ts[32];

		/* JSON string escaping: our own text, and ids and paths that
		 * runc and the engine validated, but escape anyway. */
		for (const char *s = text; *s && o + 7 < sizeof(q); s++) {
			unsigned char ch = (unsigned char)*s;

			if (ch == '"' || ch == '\\') {
				q[o++] = '\\';
				q[o++] = (char)ch;
			} else if (ch < 0x20) {
				o += (size_t)snprintf(q + o, sizeof(q) - o, "\\u%04x", ch);
			} else {
				q[o++] = (char)ch;
			}
		}
		q[o] = '\0';
		gmtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		n = snprintf(line, sizeof(line),
			     "{\"level\":\"%s\",\"msg\":\"oci-bypass-runtime: %s: "
			     "%s\",\"time\":\"%s\"}\n",
			     prio <= LOG_ERR	   ? "error"
			     : prio == LOG_WARNING ? "warning"
						   : "info",
			     id, q, ts);
	} else {
		n = snprintf(line, sizeof(line), "oci-bypass-runtime: %s: %s\n", id, text);
	}
	if (n > 0)
		(void)!write(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	close(fd);
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The real runtime: --runtime-path, else $OCI_BYPASS_RUNTIME, else runc;
 * a name without '/' is looked up in PATH, skipping this very binary (a
 * shim installed as "runc" must not exec itself). */
static int find_runtime(const char *want, char *out, size_t len, struct ob_error *e)
{
	const char *path = getenv("PATH");
	char dirs[4096], *save = NULL;

	if (!want || !*want)
		want = getenv("OCI_BYPASS_RUNTIME");
	if (!want || !*want)
		want = DEFAULT_RUNTIME;
	if (strchr(want, '/')) {
		if (same_file(want, "/proc/self/exe"))
			return ob_err(e, -ELOOP, "runtime %s is oci-bypass-runtime itself", want);
		if ((size_t)snprintf(out, len, "%s", want) >= len)
			return ob_err(e, -ENAMETOOLONG, "runtime path too long");
		return 0;
	}
	snprintf(dirs, sizeof(dirs), "%s",
		 path && *path ? path
			       : "/usr/local/sbin:/usr/local/bin:"
				 "/usr/sbin:/usr/bin:/sbin:/bin");
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if ((size_t)snprintf(out, len, "%s/%s", *d ? d : ".", want) >= len)
			continue;
		if (access(out, X_OK) || same_file(out, "/proc/self/exe"))
			continue;
		return 0;
	}
	return ob_err(e, -ENOENT,
		      "no runtime '%s' in PATH (other than this shim); set "
		      "--runtime-path or OCI_BYPASS_RUNTIME",
		      want);
}

/*
 * Rewrites the bundle's config.json; *mode gets what the container asks
 * for. json-c's parse runs in the hook's parse child (parser.c: no
 * capability, a seccomp filter that allows little more than reading and
 * writing its socket), which only decides; the text written is this
 * process's own, put where a scan of the structure finds its place
 * (ob_bundle_splice), so a subverted parse cannot write into config.json.
 */
static int edit_bundle(const struct rt_cmd *c, const char *hook, enum ob_mode *mode,
		       struct ob_error *e)
{
	_cleanup_free_ char *buf = NULL, *out = NULL;
	char path[PATH_MAX];
	struct ob_bundle_plan plan = { .mode = OB_MODE_ON };
	struct ob_parser ps = { .fd = -2 };
	size_t len = 0, out_len = 0;
	mode_t fmode = 0644;
	int rc;

	*mode = OB_MODE_ON;
	if ((size_t)snprintf(path, sizeof(path), "%s/config.json", c->bundle ? c->bundle : ".") >=
	    sizeof(path))
		return ob_err(e, -ENAMETOOLONG, "bundle path too long");
	rc = ob_read_file(path, OB_CONFIG_MAX, O_NOFOLLOW, &buf, &len, &fmode, e);
	if (rc)
		return rc;
	ps.allow_degraded = true;
	rc = ob_parser_start(&ps, e);
	if (!rc)
		rc = ob_parser_ready(&ps, e);
	if (!rc) {
		rc = ob_parse_bundle(&ps, buf, len, hook, &plan, e);
	} else if (ps.degraded) {
		/* not confined, but holding nothing: asked only for the mode,
		 * so that required fails closed (as the hook does) */
		struct ob_error ignored = { 0 }, why = *e;

		ob_parse_bundle(&ps, buf, len, hook, &plan, &ignored);
		ob_err(e, rc, "cannot confine the parse of config.json: %s", why.msg);
	}
	ob_parser_stop(&ps);
	if (rc) {
		/* a mode the child could read still counts (required fails
		 * closed); without a child none does */
		*mode = plan.mode;
		return rc;
	}
	*mode = plan.mode;
	if (plan.mode == OB_MODE_OFF) {
		rlog(c, LOG_INFO, "mode off (%s): config.json left as it is",
		     ob_mode_from_name(plan.from));
		return 0;
	}
	if (!plan.add_create && !plan.add_poststop && !plan.add_annotation)
		return 0; /* the hooks are there already */
	rc = ob_bundle_splice(buf, len, hook, &plan, &out, &out_len, e);
	if (!rc)
		rc = ob_write_atomic(path, out, out_len, fmode, e);
	if (rc)
		return rc;
	syslog(LOG_INFO, "%s: hooks added to %s (mode %s, from %s)", c->id ? c->id : "-", path,
	       ob_mode_name(plan.mode), ob_mode_from_name(plan.from));
	return 0;
}

/* The runtime shim ends without running the runtime: rc, c's arguments freed. */
static int cmd_done(struct rt_cmd *c, int rc)
{
	free(c->argv);
	return rc;
}

/*
 * The shim's own main(): the one place that reports its errors, which go
 * to runc's log (the engine shows them), not to oci-bypass's stderr.
 */
int ob_runtime_main(int argc, char **argv)
{
	char runtime[PATH_MAX], self[PATH_MAX];
	struct ob_error e = { 0 };
	struct rt_cmd c;
	enum ob_mode mode = OB_MODE_ON;
	ssize_t n;
	int rc;

	rc = parse_cmd(argc, argv, &c, &e);
	if (rc == -ENOMEM) {
		fputs("oci-bypass-runtime: out of memory\n", stderr);
		return 1;
	}
	if (rc) { /* a bad --runtime-path of ours: nothing to exec */
		rlog(&c, LOG_ERR, "%s", e.msg);
		return cmd_done(&c, 1);
	}
	if (find_runtime(c.runtime, runtime, sizeof(runtime), &e)) {
		rlog(&c, LOG_ERR, "%s", e.msg);
		return cmd_done(&c, 127);
	}
	if (c.verb && (!strcmp(c.verb, "create") || !strcmp(c.verb, "run"))) {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0) {
			self[n] = '\0';
			rc = edit_bundle(&c, self, &mode, &e);
		} else {
			rc = ob_err(&e, -errno, "cannot find the oci-bypass binary: %s",
				    strerror(errno));
		}
		if (rc && mode == OB_MODE_REQUIRED) {
			rlog(&c, LOG_ERR, "io.oci-bypass.mode=required and %s", e.msg);
			return cmd_done(&c, 1);
		}
		if (rc)
			rlog(&c, LOG_WARNING, "not accelerated: %s", e.msg);
	}
	c.argv[0] = runtime;
	/* the parse child's SIGCHLD disposition is not the runtime's */
	signal(SIGCHLD, SIG_DFL);
	execv(runtime, c.argv);
	rlog(&c, LOG_ERR, "cannot run %s: %s", runtime, strerror(errno));
	return cmd_done(&c, 127);
}
