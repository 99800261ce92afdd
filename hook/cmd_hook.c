/* cmd_hook.c - the verbs hook (enrols a container's netns at create, withdraws it at teardown), gc
 * (repairs what killed hooks left) and sandbox-test. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ob.h"
#include "oci.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define HOOK_TIMEOUT_S 8 /* well inside the runtimes' and podman's hook timeouts */

/* What the alarm handler exits with: 0 (fail open) until a container asks
 * for "required". */
static volatile sig_atomic_t fail_code;

static void on_alarm(int sig)
{
	static const char msg[] = "oci-bypass: hook timed out\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(fail_code);
}

/* One line per event, container id first, to syslog and stderr. */
static void hlog(int prio, const char *id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void hlog(int prio, const char *id, const char *fmt, ...)
{
	char text[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	syslog(prio, "%s: %s", id, text);
	fprintf(stderr, "oci-bypass: %s: %s\n", id, text);
}

/* config.json's bytes are read here (a rootless bundle may need
 * CAP_DAC_OVERRIDE), parsed in the parse child. */
static int read_config(const char *bundle, struct ob_parser *ps, struct ob_policy *p,
		       struct ob_error *e)
{
	char path[PATH_MAX];
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t len;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/config.json", bundle) >= sizeof(path))
		return ob_err(e, -ENAMETOOLONG, "bundle path too long");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return ob_err(e, -errno, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return ob_err(e, -EINVAL, "%s is not a regular file", path);
	rc = ob_read_bounded(fd, &buf, OB_CONFIG_MAX, &len, e);
	if (rc)
		return ob_err_wrap(e, rc, "%s", path);
	rc = ob_parse_config(ps, buf, len, p, e);
	if (rc)
		return ob_err_wrap(e, rc, "%s", bundle); /* the sentence names config.json */
	return 0;
}

/*
 * The container's netns is its process's, entered through a pidfd so that
 * a recycled pid cannot hand us another process's netns. A path that
 * config.json names (pods, --network ns:PATH) must be that same namespace
 * (by cookie), and is opened only as ob_netns_open allows: a FIFO, a
 * symlink or another kind of namespace there is refused, not followed.
 * Without a pid (create given by hand with no pid), the path alone.
 */
static int container_cookie(const struct ob_state *st, const struct ob_policy *p, int pidfd,
			    uint64_t *cookie, struct ob_error *e)
{
	_cleanup_close_ int fd = -1;
	uint64_t named;
	int err;

	if (pidfd >= 0) {
		err = ob_netns_cookie_fd(pidfd, "the container process", cookie, e);
		if (err || !p->netns_path[0])
			return err;
	} else if (!p->netns_path[0]) {
		return ob_err(e, -ESRCH, "the state has no pid and config.json no netns path");
	}
	fd = ob_netns_open(p->netns_path, e);
	if (fd < 0)
		return ob_err_wrap(e, fd, "config.json's network namespace");
	err = ob_netns_cookie_fd(fd, p->netns_path, &named, e);
	if (err)
		return ob_err_wrap(e, err, "config.json's network namespace");
	if (pidfd >= 0 && named != *cookie)
		return ob_err(e, -EINVAL,
			      "config.json's network namespace %s (cookie %" PRIu64
			      ") is not the one of the container process %d (cookie %" PRIu64 ")",
			      p->netns_path, named, st->pid, *cookie);
	*cookie = named;
	return 0;
}

/* Loads the BPF objects if nobody has: under a lock, so that twenty
 * containers starting at once load once. */
static int ensure_loaded(const char *id, struct ob_error *e)
{
	char cg[PATH_MAX];
	bool already = false;
	_cleanup_close_ int fd = -1; /* closing releases the lock */
	int err;

	if (ob_sockops_attached())
		return 0;
	err = ob_mkdirs(OB_RUN_DIR, 0700, e);
	if (err)
		return err;
	fd = open(OB_RUN_DIR "/load.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ob_err(e, -errno, "cannot open the load lock: %s", strerror(errno));
	if (flock(fd, LOCK_EX))
		return ob_err(e, -errno, "cannot take the load lock: %s", strerror(errno));
	err = ob_load(&(struct ob_load_opts){ 0 }, &already, cg, sizeof(cg), e);
	if (!err && !already)
		hlog(LOG_INFO, id, "loaded the BPF programs (build %016llx), sock_ops on %s",
		     (unsigned long long)ob_build_id(), cg);
	return err;
}

/*
 * The enrolment lock: "enrol + record enrolled" in create, and "count the
 * records sharing the netns + withdraw + remove the record" in teardown,
 * rollback and gc, run one at a time on this host. Without it a teardown
 * could count no other record, a create then find the netns still
 * enrolled, and the teardown withdraw it under the new container.
 * Returns the locked fd (close() releases it), or -1 after logging: the
 * caller goes on unlocked rather than fail a container for it.
 */
static int enrol_lock(const char *id)
{
	int fd;

	if (ob_mkdirs(OB_RUN_DIR, 0700, NULL) == 0) {
		fd = open(OB_RUN_DIR "/enrol.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			  0600);
		if (fd >= 0 && flock(fd, LOCK_EX) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
	}
	hlog(LOG_WARNING, id, "cannot take the enrolment lock: %s", strerror(errno));
	return -1;
}

static void enrol_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* Tests only: OB_TEST_STALL_FD=N makes create block reading fd N right
 * after its first record, so that a test can kill it there. */
static void test_stall(void)
{
	const char *s = getenv("OB_TEST_STALL_FD");
	char c;

	if (s && *s)
		(void)!read(atoi(s), &c, 1);
}

/* Undoes a create that failed half way; the caller holds the enrolment lock. */
static void rollback_locked(const struct ob_record *r, bool enrolled)
{
	struct ob_maps m;

	ob_cgroup_unplace(r->key); /* the pin of this key, whatever the record says */
	if (enrolled && !ob_records_sharing(r->cookie, r->key, NULL) &&
	    ob_registry_by_hook(r->cookie) && ob_open_maps(&m, NULL) == 0) {
		ob_withdraw_cookie(&m, r->cookie);
		ob_close_maps(&m);
	}
	ob_record_remove(r->key, NULL);
}

static void rollback(const struct ob_record *r, bool enrolled)
{
	int lock = enrol_lock(r->id);

	rollback_locked(r, enrolled);
	enrol_unlock(lock);
}

/* What gc needs to enrol the netns again as this create does. */
static void record_enrolment(struct ob_record *r, const struct ob_enrolment *en)
{
	r->has_enrolment = true;
	snprintf(r->name, sizeof(r->name), "%s", en->name);
	r->trust = en->trust;
	r->max_unread = en->max_unread;
	r->n_noports = en->n_noports;
	memcpy(r->noports, en->noports, (size_t)en->n_noports * sizeof(r->noports[0]));
}

/* The container's process (*pidfd, if it has a pid) and netns cookie,
 * refused where the netns is the host's and that was not allowed; then the
 * hook drops to what it needs from here on. */
static int create_netns(const struct ob_state *st, const struct ob_policy *p, int *pidfd,
			struct ob_sandbox *sb, uint64_t *cookie, struct ob_error *e)
{
	uint64_t host;
	int err;

	if (!p->has_netns && !p->allow_host_network)
		return ob_err(
			e, -EPERM,
			"the container uses the host network (annotation "
			"io.oci-bypass.allow-host-network=true accelerates it where " OB_POLICY_PATH
			" allows it)");
	if (st->pid > 0) {
		*pidfd = ob_pidfd_open(st->pid, e);
		if (*pidfd < 0)
			return *pidfd;
	}
	err = container_cookie(st, p, *pidfd, cookie, e);
	if (err)
		return err;
	if (!p->allow_host_network && ob_host_netns_cookie(&host) == 0 && host == *cookie)
		return ob_err(e, -EPERM, "the container shares the host's network namespace");
	/* no more setns(): SYS_ADMIN and SYS_PTRACE go, Landlock comes */
	err = ob_caps_drop(OB_CAPS_BPF, e);
	if (!err)
		err = ob_sandbox_landlock(sb, e);
	return err ? ob_err_wrap(e, err, "cannot confine the hook") : 0;
}

/* The container's record as create first writes it ("creating"). */
static int create_record(struct ob_record *r, const struct ob_state *st, const char *key,
			 uint64_t cookie, int pidfd, struct ob_error *e)
{
	snprintf(r->key, sizeof(r->key), "%s", key);
	snprintf(r->id, sizeof(r->id), "%s", st->id);
	snprintf(r->bundle, sizeof(r->bundle), "%s", st->bundle);
	snprintf(r->state, sizeof(r->state), "creating");
	r->cookie = cookie;
	r->pid = st->pid;
	if (pidfd >= 0) {
		r->pid_start = ob_pidfd_start(pidfd, st->pid);
		if (!r->pid_start)
			return ob_err(e, -ESRCH, "the container process %d is gone", st->pid);
	}
	r->created = (long long)time(NULL);
	r->hook_pid = getpid();
	r->hook_start = ob_pid_start(r->hook_pid);
	return 0;
}

/* What this container's services were learned as before a restart, or
 * NULL (malloc'd). */
static struct ob_verdicts *create_kept(const char *key, const char *id)
{
	struct ob_verdicts *kept = calloc(1, sizeof(*kept));
	struct ob_error why = { 0 };

	if (kept && ob_verdicts_read(key, kept, &why)) {
		if (why.code != -ENOENT)
			hlog(LOG_WARNING, id, "kept verdicts ignored: %s", why.msg);
		free(kept);
		kept = NULL;
	}
	return kept;
}

static int hook_create(const struct ob_state *st, const struct ob_policy *p, const char *key,
		       struct ob_sandbox *sb, struct ob_error *e)
{
	struct ob_record r = { 0 };
	struct ob_maps m;
	char name[OB_NAME_MAX + 1];
	uint64_t cookie;
	bool already = false, enrolled = false;
	int restored = 0;
	struct ob_enrolment en = { .name = name,
				   .origin = "hook",
				   .trust = p->trust,
				   .max_unread = p->max_unread,
				   .noports = p->noports,
				   .n_noports = p->n_noports,
				   .already = &already,
				   .restored = &restored };
	_cleanup_close_ int pidfd = -1;
	_cleanup_free_ struct ob_verdicts *kept = NULL;
	int err, lock;

	err = create_netns(st, p, &pidfd, sb, &cookie, e);
	if (!err)
		err = create_record(&r, st, key, cookie, pidfd, e);
	if (err)
		return err;
	snprintf(name, sizeof(name), "%.12s", p->id_hint[0] ? p->id_hint : st->id);
	record_enrolment(&r, &en);
	err = ob_record_write(&r, e); /* first, so that gc can repair a killed hook */
	if (err)
		return err;
	test_stall();
	err = ensure_loaded(st->id, e);
	if (!err && pidfd >= 0)
		err = ob_cgroup_place(st->pid, pidfd, key, r.cgroup, sizeof(r.cgroup), r.link,
				      sizeof(r.link), e);
	if (!err)
		err = ob_open_maps(&m, e);
	if (err) {
		rollback(&r, false);
		return err;
	}
	en.kept = kept = create_kept(key, st->id);
	lock = enrol_lock(st->id);
	err = ob_enroll_cookie(&m, cookie, &en, e);
	ob_close_maps(&m);
	enrolled = !err && !already;
	if (!err) {
		if (strcmp(r.name, name))
			hlog(LOG_INFO, st->id, "named %s in status (%s)", name,
			     already ? "the name of the namespace it joined"
				     : "its own was taken by another namespace");
		snprintf(r.name, sizeof(r.name), "%s", name);
		snprintf(r.state, sizeof(r.state), "enrolled");
		err = ob_record_write(&r, e);
	}
	enrol_unlock(lock);
	if (err) {
		rollback(&r, enrolled);
		return err;
	}
	hlog(LOG_INFO, st->id, "accelerated: netns cookie %" PRIu64 "%s%s%s", cookie,
	     already ? " (shared, already enrolled)" : "", r.link[0] ? ", sock_ops link " : "",
	     r.link);
	if (kept)
		hlog(LOG_INFO, st->id, "kept verdicts: %d of %d services restored%s", restored,
		     kept->n, already ? " (none: its netns was enrolled already)" : "");
	return 0;
}

/* Shared by poststop and gc: the record, not the (maybe gone) netns, says
 * what to undo. The netns stays enrolled while another container uses it.
 * The caller holds the enrolment lock. */
static void teardown_locked(const struct ob_record *r, const char *why)
{
	struct ob_maps m;
	struct ob_error kwhy = { 0 };
	bool unsure, withdrew = false;
	int others = ob_records_sharing(r->cookie, r->key, &unsure), kept = -1;

	ob_cgroup_unplace(r->key); /* the pin of this key, whatever the record says */
	if (!others && ob_registry_by_hook(r->cookie) && ob_open_maps(&m, NULL) == 0) {
		/* what its services were learned as, for its next start */
		if (ob_netns_enrolled(&m, r->cookie) &&
		    ob_verdicts_save(&m, r->key, r->id, r->cookie, &kept, &kwhy))
			hlog(LOG_WARNING, r->id, "%s: verdicts not kept: %s", why, kwhy.msg);
		withdrew = ob_withdraw_cookie(&m, r->cookie) > 0;
		ob_close_maps(&m);
	}
	if (kept > 0)
		hlog(LOG_INFO, r->id, "%s: kept the verdicts of %d services", why, kept);
	ob_record_remove(r->key, NULL);
	hlog(LOG_INFO, r->id, "%s: %s netns cookie %" PRIu64 "%s", why,
	     withdrew ? "withdrew" : "kept", r->cookie,
	     unsure   ? " (a record that cannot be read might name it: see oci-bypass gc)"
	     : others ? " (still used by another container)"
		      : "");
}

static int hook_teardown(const struct ob_state *st, const char *key)
{
	struct ob_record r;
	struct ob_error why = { 0 };
	int lock, err = ob_record_read(key, &r, &why);

	if (err == -ENOENT) {
		hlog(LOG_INFO, st->id, "teardown: nothing to do");
		return 0;
	}
	if (err) {
		/* Nothing in it can be trusted, not even its netns: it stays
		 * enrolled, and oci-bypass gc names the record. The link of
		 * this key goes: its path comes from the key, not the record. */
		ob_cgroup_unplace(key);
		hlog(LOG_WARNING, st->id, "teardown: its record is unreadable (%s): kept it",
		     why.msg);
		return 0;
	}
	lock = enrol_lock(st->id);
	teardown_locked(&r, "teardown");
	enrol_unlock(lock);
	return 0;
}

_Static_assert(OB_MAX_UNREAD_FREE == OB_NS_MAX_UNREAD,
	       "the max-unread an annotation may ask for freely is the namespace default");

/*
 * An image can carry io.oci-bypass.trust and allow-host-network as well as
 * an admin can (podman copies an image's annotations into config.json), so
 * they take effect only where the host policy file allows them (issue 11).
 * The file is read only when a container asks, so that no other container
 * pays for it. A refused trust is logged and the container goes on with
 * probation; a refused allow-host-network on a host-network container is
 * the reason it is not accelerated (or, under required, fails). So is a
 * max-unread above the namespace default (issue 21): refused, it is logged
 * and the default applies.
 */
static int apply_host_policy(const char *id, struct ob_policy *p, struct ob_error *e)
{
	struct ob_host_policy hp;
	struct ob_error bad = { 0 };
	char why[sizeof(bad.msg) + 64];
	unsigned refused;

	if (!p->trust && !p->allow_host_network && p->max_unread <= OB_MAX_UNREAD_FREE)
		return 0;
	ob_host_policy_load(OB_POLICY_PATH, &hp, &bad); /* on failure hp is all off */
	refused = ob_policy_restrict(p, &hp);
	if (refused & OB_REFUSED_HOST_NETWORK) {
		if (bad.code)
			snprintf(why, sizeof(why), "the host policy allows nothing: %s", bad.msg);
		else
			snprintf(why, sizeof(why),
				 OB_POLICY_PATH " does not set allow-host-network = true");
		if (!p->has_netns)
			return ob_err(e, -EPERM,
				      "the container uses the host network and "
				      "io.oci-bypass.allow-host-network=true is ignored: %s",
				      why);
		hlog(LOG_WARNING, id, "io.oci-bypass.allow-host-network=true ignored: %s", why);
	}
	if (refused & OB_REFUSED_MAX_UNREAD) {
		if (bad.code)
			snprintf(why, sizeof(why), "the host policy allows nothing: %s", bad.msg);
		else if (hp.allow_max_unread)
			snprintf(why, sizeof(why),
				 OB_POLICY_PATH " allows at most allow-max-unread = %llu",
				 (unsigned long long)hp.allow_max_unread);
		else
			snprintf(why, sizeof(why), OB_POLICY_PATH " does not set allow-max-unread");
		hlog(LOG_WARNING, id,
		     "io.oci-bypass.max-unread above 256m ignored (the namespace default "
		     "applies): %s",
		     why);
	}
	if (refused & OB_REFUSED_TRUST) {
		if (bad.code)
			snprintf(why, sizeof(why), "the host policy allows nothing: %s", bad.msg);
		else
			snprintf(why, sizeof(why),
				 OB_POLICY_PATH " does not set allow-trust = true");
		hlog(LOG_WARNING, id,
		     "io.oci-bypass.trust=true ignored (services start on "
		     "probation): %s",
		     why);
	}
	return 0;
}

/* create, once the state is read: config.json through the parse child,
 * then the host policy, then the enrolment. Fails open but under
 * required, where it fails with the reason. */
static int hook_stage_create(const struct ob_state *st, const char *key, struct ob_parser *ps,
			     struct ob_sandbox *sb, bool confined, const struct ob_error *cwhy,
			     struct ob_error *e)
{
	struct ob_policy p = { 0 };
	struct ob_error why = { 0 }; /* fail open: logged, not the verb's error */
	struct ob_error dwhy = { 0 };
	int rc = read_config(st->bundle, ps, &p, &why);

	ob_parser_stop(ps);
	/* config.json is read: the DAC capabilities go */
	if (confined && ob_caps_drop(OB_CAPS_NETNS, &dwhy)) {
		confined = false;
		cwhy = &dwhy;
	}
	if (!rc && p.mode == OB_MODE_OFF) {
		hlog(LOG_INFO, st->id, "io.oci-bypass.mode=off: not accelerated");
		return 0;
	}
	if (!rc && p.mode == OB_MODE_REQUIRED)
		fail_code = 1;
	if (!rc && !confined)
		rc = ob_err(&why, cwhy->code ? cwhy->code : -EPERM, "cannot confine the hook: %s",
			    cwhy->msg);
	if (!rc && !sb->landlock_abi)
		hlog(LOG_INFO, st->id,
		     "no Landlock: %s; writes are not restricted to " OB_RUN_DIR " and " OB_PIN_DIR,
		     sb->no_landlock);
	if (!rc)
		rc = apply_host_policy(st->id, &p, &why);
	if (!rc)
		rc = hook_create(st, &p, key, sb, &why);
	if (!rc)
		return 0;
	if (p.mode == OB_MODE_REQUIRED) {
		/* Fails closed: main() prints "oci-bypass: ID: ..." and exits 1. */
		syslog(LOG_ERR, "%s: io.oci-bypass.mode=required and %s", st->id, why.msg);
		snprintf(e->where, sizeof(e->where), "%s", st->id);
		return ob_err(e, rc, "io.oci-bypass.mode=required and %s", why.msg);
	}
	hlog(LOG_WARNING, st->id, "not accelerated: %s", why.msg);
	return 0;
}

int ob_cmd_hook(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	struct ob_state st = { 0 };
	struct ob_error why = { 0 };  /* fail open: logged, not the verb's error */
	struct ob_error cwhy = { 0 }; /* why the hook could not be confined */
	struct ob_sandbox sb = { .ruleset = -1 };
	_cleanup_parser_ struct ob_parser ps = { 0, -2 };
	char key[sizeof(((struct ob_record *)0)->key)];
	_cleanup_free_ char *buf = NULL;
	enum ob_stage stage;
	bool confined;
	size_t len;
	int rc;

	(void)out; /* the hook's lines are logs: hlog() writes syslog and stderr */
	signal(SIGALRM, on_alarm);
	alarm(HOOK_TIMEOUT_S);
	openlog("oci-bypass", LOG_PID, LOG_DAEMON);
	/* Confine before reading anything the runtime or the container
	 * controls (sandbox.c lists what stays allowed and why). */
	confined = ob_confine(&sb, &ps, &cwhy) == 0;
	rc = ob_read_bounded(STDIN_FILENO, &buf, OB_STATE_MAX, &len, &why);
	if (!rc)
		rc = ob_parse_state(&ps, buf, len, &st, &why);
	if (rc) {
		hlog(LOG_ERR, "-", "bad state on stdin: %s", why.msg);
		return 0; /* we cannot even tell which container: fail open */
	}
	stage = ob_stage_from(a->operand, &st, &why);
	if (stage == OB_STAGE_UNKNOWN || ob_record_key(st.id, st.bundle, key, sizeof(key), &why)) {
		hlog(LOG_ERR, st.id, "%s", why.msg);
		return 0;
	}
	if (stage != OB_STAGE_TEARDOWN)
		return hook_stage_create(&st, key, &ps, &sb, confined, &cwhy, e);
	ob_parser_stop(&ps);
	if (!confined || ob_caps_drop(OB_CAPS_BPF, &cwhy) || ob_sandbox_landlock(&sb, &cwhy)) {
		hlog(LOG_WARNING, st.id,
		     "teardown not done: cannot confine the hook: %s (oci-bypass gc does it once "
		     "the container is gone)",
		     cwhy.msg);
		return 0;
	}
	return hook_teardown(&st, key);
}

struct gc {
	const struct ob_maps *m;
	int fixed;
};

/* A hook enrolment that no container record names any more. */
static int gc_orphan(uint64_t cookie, void *ctx)
{
	struct gc *g = ctx;

	if (ob_registry_by_hook(cookie) && !ob_records_sharing(cookie, "", NULL)) {
		ob_withdraw_cookie(g->m, cookie);
		hlog(LOG_INFO, "gc", "withdrew netns cookie %" PRIu64 " (no container left)",
		     cookie);
		g->fixed++;
	}
	return 0;
}

/* A container's own sock_ops link (ct-KEY) whose container has no record
 * left: a hook killed between pinning it and recording it, or a teardown
 * that never ran. A record that exists, even unreadable, keeps it. */
static int gc_link(const char *key, void *ctx)
{
	struct gc *g = ctx;

	if (ob_record_exists(key))
		return 0;
	ob_cgroup_unplace(key);
	hlog(LOG_INFO, "gc", "removed the sock_ops link " OB_PIN_CT "%s (no container record)",
	     key);
	g->fixed++;
	return 0;
}

/* A record gc cannot read: it is neither repaired nor removed, and it keeps
 * every hook enrolment in place (ob_records_sharing), so say which. */
static bool gc_unreadable(const struct ob_record *listed, FILE *out)
{
	struct ob_record r;
	struct ob_error why = { 0 };

	if (listed->err == -ENAMETOOLONG)
		ob_err(&why, listed->err, "a file name longer than any record's");
	else if (ob_record_read(listed->key, &r, &why) == 0 || why.code == -ENOENT)
		return false; /* fixed or removed meanwhile */
	fprintf(out,
		"oci-bypass: gc: unreadable record %s: %s; it keeps every namespace the hook "
		"enrolled from being withdrawn: remove it once its container is gone\n",
		listed->key, why.msg);
	syslog(LOG_WARNING, "gc: unreadable record %s: %s", listed->key, why.msg);
	return true;
}

/* The record's container process as a pidfd, if it is still the process
 * recorded (start time read, then checked to be the pidfd's); -ESRCH if
 * it is gone; another negative errno if gc cannot tell (it then leaves
 * the record alone). */
static int record_pidfd(const struct ob_record *r)
{
	int fd;

	if (r->pid <= 0 || !r->pid_start)
		return -ESRCH;
	fd = ob_pidfd_open(r->pid, NULL);
	if (fd == -ESRCH || fd == -EINVAL) /* EINVAL: now a thread, not a process */
		return -ESRCH;
	if (fd >= 0 && ob_pidfd_start(fd, r->pid) != r->pid_start) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}

/*
 * A live container whose netns is not enrolled (withdrawn by hand, or
 * unload and load since) or whose own sock_ops link is gone (unload
 * removes them): enrol it and place it again as its create did, if its
 * process is still in the netns the record names. Returns 1 if it did.
 */
static int gc_live(const struct ob_maps *m, struct ob_record *r, int pidfd)
{
	bool already, enrolled = ob_netns_enrolled(m, r->cookie);
	bool linked = !r->link[0] || ob_cgroup_placed(r->key);
	struct ob_enrolment en = { .name = r->name,
				   .origin = "hook",
				   .trust = r->trust,
				   .max_unread = r->max_unread,
				   .noports = r->noports,
				   .n_noports = r->n_noports,
				   .already = &already };
	struct ob_error why = { 0 };
	uint64_t cookie;

	if (enrolled && linked)
		return 0;
	if (!r->has_enrolment) {
		hlog(LOG_WARNING, r->id,
		     "gc: netns cookie %" PRIu64 " is not enrolled, and its record (of an older "
		     "build) does not say how it was: left as it is",
		     r->cookie);
		return 0;
	}
	if (ob_netns_cookie_fd(pidfd, "the container process", &cookie, &why) == 0 &&
	    cookie != r->cookie)
		ob_err(&why, -EINVAL, "its process is in netns cookie %" PRIu64 " now", cookie);
	if (!why.code && !ob_cgroup_placed(r->key))
		ob_cgroup_place(r->pid, pidfd, r->key, r->cgroup, sizeof(r->cgroup), r->link,
				sizeof(r->link), &why);
	if (!why.code && !enrolled)
		ob_enroll_cookie(m, r->cookie, &en, &why);
	if (why.code) {
		hlog(LOG_WARNING, r->id, "gc: cannot enrol netns cookie %" PRIu64 " again: %s",
		     r->cookie, why.msg);
		return 0;
	}
	ob_record_write(r, NULL);
	hlog(LOG_INFO, r->id, "gc: %s netns cookie %" PRIu64 "%s%s",
	     enrolled ? "kept" : "enrolled again", r->cookie, r->link[0] ? ", sock_ops link " : "",
	     r->link);
	return 1;
}

/* A hook killed mid-create: settle on what is true now. */
static void gc_interrupted(const struct ob_maps *m, struct ob_record *r)
{
	if (m && ob_netns_enrolled(m, r->cookie)) {
		snprintf(r->state, sizeof(r->state), "enrolled");
		if (!r->link[0] && ob_cgroup_placed(r->key))
			ob_cgroup_link_path(r->key, r->link, sizeof(r->link));
		ob_record_write(r, NULL);
		hlog(LOG_INFO, r->id, "gc: finished an interrupted create");
	} else {
		rollback_locked(r, false);
		hlog(LOG_INFO, r->id, "gc: rolled back an interrupted create");
	}
}

/*
 * gc: records of containers that are gone (poststop never ran, the hook
 * was killed) and creates a killed hook left half done; live containers
 * whose netns is no longer enrolled; hook enrolments and container links
 * without a record. All under the enrolment lock, as the hook's own
 * enrolments and withdrawals.
 */
int ob_cmd_gc(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	_cleanup_free_ struct ob_record *all = NULL;
	struct ob_maps m;
	struct gc g = { &m, 0 };
	long long now = (long long)time(NULL);
	bool maps, loaded;
	int n = 0, bad = 0, err, lock;
	unsigned swept_conns = 0, swept_ledgers = 0;
	struct ob_error why = { 0 };

	openlog("oci-bypass", LOG_PID, LOG_DAEMON);
	lock = enrol_lock("gc");
	err = ob_records_list(&all, &n, true, e);
	if (err) {
		enrol_unlock(lock);
		return err;
	}
	maps = ob_open_maps(&m, NULL) == 0;
	loaded = maps && ob_sockops_attached(); /* not while unload drains */
	for (int i = 0; i < n; i++) {
		struct ob_record *r = &all[i];
		_cleanup_close_ int pidfd = r->err ? -1 : record_pidfd(r);

		if (r->err) {
			bad += gc_unreadable(r, out);
		} else if (pidfd == -ESRCH) {
			teardown_locked(r, "gc: container gone");
			g.fixed++;
		} else if (pidfd < 0) {
			hlog(LOG_WARNING, r->id, "gc: cannot tell whether process %d lives: %s",
			     r->pid, strerror(-pidfd));
		} else if (!strcmp(r->state, "creating")) {
			if (ob_pid_start(r->hook_pid) != r->hook_start || now - r->created > 60) {
				gc_interrupted(maps ? &m : NULL, r);
				g.fixed++;
			}
		} else if (loaded) {
			g.fixed += gc_live(&m, r, pidfd);
		}
	}
	if (maps) {
		ob_netns_foreach(&m, gc_orphan, &g, NULL);
		/* the backstop for entries whose owners' close was not seen
		 * (bypass.h, the sweep) */
		if (ob_sweep_tables(&m,
				    a->stale_after_s ? a->stale_after_s * 1000000000ull
						     : OB_HANDSHAKE_WINDOW_NS,
				    &swept_conns, &swept_ledgers, &why))
			fprintf(out, "oci-bypass: gc: %s\n", why.msg);
		ob_close_maps(&m);
	}
	ob_cgroup_links_foreach(gc_link, &g);
	enrol_unlock(lock);
	fprintf(out, "oci-bypass: gc: %d item(s) repaired", g.fixed);
	if (swept_conns || swept_ledgers)
		fprintf(out, ", %u stale connection and %u ledger entries swept", swept_conns,
			swept_ledgers);
	if (bad)
		fprintf(out, ", %d unreadable record(s) left in place", bad);
	fputc('\n', out);
	return 0;
}
