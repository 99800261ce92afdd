/* parser.c - parses what the runtime and the container control (the state on stdin, config.json)
 * in a child that holds no capability and may make almost no system call. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ob.h"

/*
 * Why a child: ob_state_parse and ob_config_parse (json-c) read bytes a
 * container's image or its runtime chose. A bug there, in the child, finds
 * a process with no capability that can read and write one socket, map
 * memory that cannot be executed, and exit (sandbox.c, parser_allow). The
 * parent reads the bytes (config.json may need CAP_DAC_OVERRIDE) and
 * hands them over; the child answers with the parsed struct, which the
 * parent checks again as untrusted (check_state, check_policy): a
 * subverted child can only mis-describe its own container.
 *
 * Protocol over a stream socketpair: the child first sends a struct
 * reply (rc 0: confined, ready); then per request (struct req + len
 * bytes) one struct reply. EOF ends the child.
 */

enum { REQ_STATE = 1, REQ_CONFIG = 2, REQ_BUNDLE = 3 };

struct req {
	uint32_t kind;
	uint32_t len;
};

struct reply {
	int32_t rc;
	int32_t degraded; /* ready: confinement failed, but it holds nothing */
	struct ob_error e;
	union {
		struct ob_state st;
		struct ob_policy p;
		struct ob_bundle_plan plan;
	} u;
};

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* send(MSG_NOSIGNAL): a dead peer is EPIPE, not SIGPIPE killing the hook. */
static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static size_t reply_size(uint32_t kind)
{
	return offsetof(struct reply, u) + (kind == REQ_STATE	 ? sizeof(struct ob_state)
					    : kind == REQ_CONFIG ? sizeof(struct ob_policy)
								 : sizeof(struct ob_bundle_plan));
}

/* REQ_BUNDLE's request: the hook's path, a NUL, config.json. */
static int bundle_plan(const char *buf, size_t len, struct ob_bundle_plan *p, struct ob_error *e)
{
	const char *nul = memchr(buf, '\0', len);

	if (!nul || (size_t)(nul - buf) >= OB_PATH_MAX)
		return ob_err(e, -EINVAL, "malformed request");
	return ob_bundle_plan(nul + 1, len - (size_t)(nul - buf) - 1, buf, p, e);
}

/* The child, confined: answers requests until EOF. Never returns. */
static void serve(int fd)
{
	static struct reply r;
	struct req h;
	char *buf;

	for (;;) {
		if (read_full(fd, &h, sizeof(h)))
			_exit(0);
		if (h.len > OB_CONFIG_MAX + OB_PATH_MAX ||
		    (h.kind != REQ_STATE && h.kind != REQ_CONFIG && h.kind != REQ_BUNDLE))
			_exit(1);
		buf = malloc((size_t)h.len + 1);
		if (!buf || read_full(fd, buf, h.len))
			_exit(1);
		buf[h.len] = '\0';
		memset(&r, 0, sizeof(r));
		if (h.kind == REQ_STATE)
			r.rc = ob_state_parse(buf, h.len, &r.u.st, &r.e) ? -EINVAL : 0;
		else if (h.kind == REQ_CONFIG)
			r.rc = ob_config_parse(buf, h.len, &r.u.p, &r.e);
		else
			r.rc = bundle_plan(buf, h.len, &r.u.plan, &r.e);
		free(buf);
		if (write_full(fd, &r, reply_size(h.kind)))
			_exit(1);
	}
}

/* Forks the child, which confines itself while the caller goes on (its
 * own Landlock and seccomp set-up); ob_parser_ready waits for it. */
int ob_parser_start(struct ob_parser *ps, struct ob_error *e)
{
	static struct reply ready;
	int sv[2], err;
	pid_t pid;

	ps->pid = 0;
	ps->fd = -2; /* no child, and no parsing in this process either */
	if (ob_sandbox_forced("fork"))
		return ob_err(e, -EAGAIN,
			      "the parse child: fork: made to fail by "
			      "OB_TEST_CONFINE_FAIL=fork");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return ob_err(e, -errno, "the parse child: socketpair: %s", strerror(errno));
	signal(SIGCHLD, SIG_IGN); /* reaped by the kernel (ob_parser_stop) */
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		return ob_err(e, err, "the parse child: fork: %s", strerror(-err));
	}
	if (pid == 0) {
		close(sv[0]);
		close(STDIN_FILENO); /* the parent reads it; stderr stays for sanitizers */
		close(STDOUT_FILENO);
		/* nothing else of the caller's (the shim's runtime may have
		 * been handed fds to preserve): its socket becomes fd 3 */
		if (sv[1] != 3 && dup2(sv[1], 3) == 3) {
			close(sv[1]);
			sv[1] = 3;
		}
		if (sv[1] == 3)
			close_range(4, ~0U, 0);
		memset(&ready, 0, sizeof(ready));
		/* the shim's child is nobody's first: if its confinement
		 * fails, it may still parse, holding nothing */
		if (ps->allow_degraded && !setgroups(0, NULL) && !setgid(OB_NOBODY))
			(void)!setuid(OB_NOBODY);
		ready.rc = ob_sandbox_parser(&ready.e);
		if (ready.rc && ps->allow_degraded)
			ready.degraded = getuid() == OB_NOBODY && getgid() == OB_NOBODY &&
					 !ob_caps_drop(OB_CAPS_NONE, NULL);
		if (write_full(sv[1], &ready, offsetof(struct reply, u)) ||
		    (ready.rc && !ready.degraded))
			_exit(1);
		serve(sv[1]);
	}
	close(sv[1]);
	ps->pid = pid;
	ps->fd = sv[0];
	return 0;
}

int ob_parser_ready(struct ob_parser *ps, struct ob_error *e)
{
	static struct reply ready;
	int err;

	if (ps->fd < 0)
		return ob_err(e, -EPIPE, "the parse child is gone");
	err = read_full(ps->fd, &ready, offsetof(struct reply, u));
	if (!err && ready.rc) {
		ready.e.msg[sizeof(ready.e.msg) - 1] = '\0';
		for (char *c = ready.e.msg; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		err = ob_err(e, ready.rc < 0 && ready.rc > -4096 ? ready.rc : -EINVAL,
			     "the parse child: %s", ready.e.msg);
		ps->degraded = ps->allow_degraded && ready.degraded == 1;
	} else if (err) {
		err = ob_err(e, err, "the parse child did not start: %s", strerror(-err));
	}
	if (err && !ps->degraded)
		ob_parser_stop(ps);
	return err;
}

/* The child exits at EOF; nobody waits for it (SIGCHLD is ignored, so
 * the kernel reaps it): on a busy host, waiting for it to be scheduled
 * cost the hook about a millisecond. */
void ob_parser_stop(struct ob_parser *ps)
{
	if (ps->fd >= 0)
		close(ps->fd);
	ps->fd = -2;
	ps->pid = 0;
}

static bool str_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static bool bool_ok(const bool *b)
{
	unsigned char c;

	memcpy(&c, b, 1);
	return c <= 1;
}

/* A request and its reply; the child's error, if any, in e (printable
 * characters only: it may have been written by a subverted child). */
static int ask(struct ob_parser *ps, uint32_t kind, const char *buf, size_t len, struct reply *r,
	       struct ob_error *e)
{
	struct req h = { kind, (uint32_t)len };
	int err;

	if (ps->fd < 0)
		return ob_err(e, -EPIPE, "the parse child is gone");
	if (len > OB_CONFIG_MAX + (kind == REQ_BUNDLE ? OB_PATH_MAX : 0))
		return ob_err(e, -EFBIG, "input of %zu bytes is too large", len);
	err = write_full(ps->fd, &h, sizeof(h));
	if (!err)
		err = write_full(ps->fd, buf, len);
	if (!err)
		err = read_full(ps->fd, r, reply_size(kind));
	if (err) {
		ob_parser_stop(ps);
		return ob_err(e, err, "the parse child failed: %s", strerror(-err));
	}
	if (!r->rc)
		return 0;
	r->e.msg[sizeof(r->e.msg) - 1] = '\0';
	for (char *c = r->e.msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return ob_err(e, r->rc < 0 && r->rc > -4096 ? r->rc : -EINVAL, "%s", r->e.msg);
}

static bool check_state(const struct ob_state *st)
{
	return str_ok(st->id, sizeof(st->id)) && ob_name_valid(st->id, OB_ID_MAX) &&
	       str_ok(st->status, sizeof(st->status)) && str_ok(st->bundle, sizeof(st->bundle)) &&
	       ob_path_valid(st->bundle) && st->pid >= 0;
}

static bool check_policy(const struct ob_policy *p)
{
	if ((unsigned)p->mode > OB_MODE_REQUIRED || !bool_ok(&p->mode_set) || !bool_ok(&p->trust) ||
	    !bool_ok(&p->allow_host_network) || !bool_ok(&p->has_netns) || p->n_noports < 0 ||
	    p->n_noports > OB_NOPORTS_MAX)
		return false;
	for (int i = 0; i < p->n_noports; i++)
		if (!p->noports[i])
			return false;
	return str_ok(p->netns_path, sizeof(p->netns_path)) &&
	       (!p->netns_path[0] || ob_path_valid(p->netns_path)) &&
	       str_ok(p->id_hint, sizeof(p->id_hint)) &&
	       (!p->id_hint[0] || ob_name_valid(p->id_hint, OB_ID_MAX));
}

int ob_parse_state(struct ob_parser *ps, const char *buf, size_t len, struct ob_state *st,
		   struct ob_error *e)
{
	static struct reply r;
	int err;

	if (ps->fd == -1)
		return ob_state_parse(buf, len, st, e) ? -EINVAL : 0;
	memset(st, 0, sizeof(*st));
	err = ask(ps, REQ_STATE, buf, len, &r, e);
	if (err)
		return err;
	if (!check_state(&r.u.st))
		return ob_err(e, -EPROTO, "the parse child's answer is malformed");
	*st = r.u.st;
	return 0;
}

int ob_parse_config(struct ob_parser *ps, const char *buf, size_t len, struct ob_policy *p,
		    struct ob_error *e)
{
	static struct reply r;
	int err;

	if (ps->fd == -1)
		return ob_config_parse(buf, len, p, e);
	memset(p, 0, sizeof(*p));
	memset(&r, 0, sizeof(r));
	err = ask(ps, REQ_CONFIG, buf, len, &r, e);
	/* on a parse error only the mode counts (required fails closed) */
	if (err && r.rc && (unsigned)r.u.p.mode <= OB_MODE_REQUIRED)
		p->mode = r.u.p.mode;
	if (err)
		return err;
	if (!check_policy(&r.u.p))
		return ob_err(e, -EPROTO, "the parse child's answer is malformed");
	*p = r.u.p;
	return 0;
}

static bool check_plan(const struct ob_bundle_plan *p)
{
	return (unsigned)p->mode <= OB_MODE_REQUIRED && (unsigned)p->from <= OB_FROM_ENV &&
	       bool_ok(&p->add_create) && bool_ok(&p->add_poststop) && bool_ok(&p->add_annotation);
}

int ob_parse_bundle(struct ob_parser *ps, const char *buf, size_t len, const char *hook_path,
		    struct ob_bundle_plan *p, struct ob_error *e)
{
	static struct reply r;
	size_t plen = strlen(hook_path);
	_cleanup_free_ char *req = NULL;
	int err;

	memset(p, 0, sizeof(*p));
	p->mode = OB_MODE_ON;
	if (plen >= OB_PATH_MAX || len > OB_CONFIG_MAX)
		return ob_err(e, -EFBIG, "config.json of %zu bytes is too large", len);
	req = malloc(plen + 1 + len);
	if (!req)
		return ob_err(e, -ENOMEM, "out of memory");
	memcpy(req, hook_path, plen + 1);
	memcpy(req + plen + 1, buf, len);
	memset(&r, 0, sizeof(r));
	err = ask(ps, REQ_BUNDLE, req, plen + 1 + len, &r, e);
	/* on a parse error only the mode counts (required fails closed) */
	if (err && r.rc && (unsigned)r.u.plan.mode <= OB_MODE_REQUIRED)
		p->mode = r.u.plan.mode;
	if (err)
		return err;
	if (!check_plan(&r.u.plan))
		return ob_err(e, -EPROTO, "the parse child's answer is malformed");
	*p = r.u.plan;
	return 0;
}

/*
 * Confinement, in this order:
 * 1. capabilities down to the kept list, PR_SET_NO_NEW_PRIVS, and the
 *    directories Landlock will allow writes under (bpffs mounted now:
 *    Landlock forbids mount later) (ob_sandbox_prepare);
 * 2. the parse child (parser.c): a fork, which step 3's filter forbids;
 *    it confines itself while this process goes on to step 3;
 * 3. a Landlock ruleset where the kernel has Landlock, then the seccomp
 *    filter (ob_sandbox_apply);
 * 4. later, once there is no setns() left to do (teardown: at once;
 *    create: after the netns cookies), the ruleset is enforced
 *    (ob_sandbox_landlock) as SYS_ADMIN and SYS_PTRACE are dropped.
 * Every step is taken even when one before it failed, and the first
 * failure is returned: the hook then does not accelerate, or fails under
 * required. Without a parse child this process drops every capability
 * and parses the input itself, only to learn the container and its mode.
 */
int ob_confine(struct ob_sandbox *sb, struct ob_parser *ps, struct ob_error *e)
{
	struct ob_error pe = { 0 }, ae = { 0 };
	int err = ob_sandbox_prepare(e);
	int perr = ob_parser_start(ps, &pe);
	int aerr = ob_sandbox_apply(sb, &ae); /* while the child confines itself */

	if (!perr)
		perr = ob_parser_ready(ps, &pe);

	if (perr && ob_caps_drop(OB_CAPS_NONE, NULL) == 0)
		ps->fd = -1; /* parse here, holding nothing */
	if (!err && perr) {
		if (e)
			*e = pe;
		err = perr;
	}
	if (!err && aerr) {
		if (e)
			*e = ae;
		err = aerr;
	}
	return err;
}
