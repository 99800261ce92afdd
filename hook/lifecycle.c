/* lifecycle.c - a container's enrolment from create to teardown, and gc's repair of what a killed
 * hook or a lost poststop left: the enrolment lock, the record written first and rolled back on
 * failure, the verdicts kept across restarts. cmd_hook.c's verbs call it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ob.h"
#include "oci.h"

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
		ob_hlog(LOG_INFO, id, "loaded the BPF programs (build %016llx), sock_ops on %s",
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
	ob_hlog(LOG_WARNING, id, "cannot take the enrolment lock: %s", strerror(errno));
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
	_cleanup_maps_ struct ob_maps m = OB_MAPS_CLOSED;

	ob_cgroup_unplace(r->key); /* the pin of this key, whatever the record says */
	if (enrolled && !ob_records_sharing(r->cookie, r->key, NULL) &&
	    ob_registry_by_hook(r->cookie) && ob_open_maps(&m, NULL) == 0)
		ob_withdraw_cookie(&m, r->cookie);
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
	/* its image's kept verdicts, where the engine says which image */
	if (ob_image_key(st->id, st->bundle, r->image_key, sizeof(r->image_key), NULL))
		r->image_key[0] = '\0';
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

/* What this container's services were learned as before a restart, or,
 * for a new container, by the last container of its image (key, then
 * image_key), or NULL (malloc'd). */
static struct ob_verdicts *create_kept(const char *key, const char *id)
{
	struct ob_verdicts *kept = calloc(1, sizeof(*kept));
	struct ob_error why = { 0 };

	if (kept && ob_verdicts_read(key, kept, &why)) {
		if (why.code != -ENOENT)
			ob_hlog(LOG_WARNING, id, "kept verdicts ignored: %s", why.msg);
		free(kept);
		kept = NULL;
	}
	return kept;
}

int ob_container_create(const struct ob_state *st, const struct ob_policy *p, const char *key,
			struct ob_sandbox *sb, struct ob_error *e)
{
	struct ob_record r = { 0 };
	_cleanup_maps_ struct ob_maps m = OB_MAPS_CLOSED;
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
	if (!kept && r.image_key[0])
		en.kept = kept = create_kept(r.image_key, st->id);
	lock = enrol_lock(st->id);
	err = ob_enroll_cookie(&m, cookie, &en, e);
	enrolled = !err && !already;
	if (!err) {
		if (strcmp(r.name, name))
			ob_hlog(LOG_INFO, st->id, "named %s in status (%s)", name,
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
	ob_hlog(LOG_INFO, st->id, "accelerated: netns cookie %" PRIu64 "%s%s%s", cookie,
		already ? " (shared, already enrolled)" : "", r.link[0] ? ", sock_ops link " : "",
		r.link);
	if (kept)
		ob_hlog(LOG_INFO, st->id, "kept verdicts: %d of %d services restored%s", restored,
			kept->n, already ? " (none: its netns was enrolled already)" : "");
	return 0;
}

/* The id part of a verdicts key ("img" and 32 hex digits for an image). */
static const char *image_id(const char *key, char *id, size_t len)
{
	const char *dash = strrchr(key, '-');

	snprintf(id, len, "%.*s", dash ? (int)(dash - key) : 0, key);
	return id;
}

/* Shared by poststop and gc: the record, not the (maybe gone) netns, says
 * what to undo. The netns stays enrolled while another container uses it.
 * The caller holds the enrolment lock. */
static void teardown_locked(const struct ob_record *r, const char *why)
{
	_cleanup_maps_ struct ob_maps m = OB_MAPS_CLOSED;
	struct ob_error kwhy = { 0 };
	bool unsure, withdrew = false;
	int others = ob_records_sharing(r->cookie, r->key, &unsure), kept = -1, ikept = 0;
	char iid[OB_KEY_MAX + 1];

	ob_cgroup_unplace(r->key); /* the pin of this key, whatever the record says */
	if (!others && ob_registry_by_hook(r->cookie) && ob_open_maps(&m, NULL) == 0) {
		/* what its services were learned as, for its next start */
		if (ob_netns_enrolled(&m, r->cookie) &&
		    ob_verdicts_save(&m, r->key, r->id, r->cookie, &kept, &kwhy))
			ob_hlog(LOG_WARNING, r->id, "%s: verdicts not kept: %s", why, kwhy.msg);
		/* and for the next container of its image */
		if (kept > 0 && r->image_key[0] &&
		    ob_verdicts_save(&m, r->image_key, image_id(r->image_key, iid, sizeof(iid)),
				     r->cookie, &ikept, &kwhy))
			ob_hlog(LOG_WARNING, r->id, "%s: verdicts not kept for its image: %s", why,
				kwhy.msg);
		withdrew = ob_withdraw_cookie(&m, r->cookie) > 0;
	}
	if (kept > 0)
		ob_hlog(LOG_INFO, r->id, "%s: kept the verdicts of %d services", why, kept);
	ob_record_remove(r->key, NULL);
	ob_hlog(LOG_INFO, r->id, "%s: %s netns cookie %" PRIu64 "%s", why,
		withdrew ? "withdrew" : "kept", r->cookie,
		unsure	 ? " (a record that cannot be read might name it: see oci-bypass gc)"
		: others ? " (still used by another container)"
			 : "");
}

int ob_container_teardown(const struct ob_state *st, const char *key)
{
	struct ob_record r;
	struct ob_error why = { 0 };
	int lock, err = ob_record_read(key, &r, &why);

	if (err == -ENOENT) {
		ob_hlog(LOG_INFO, st->id, "teardown: nothing to do");
		return 0;
	}
	if (err) {
		/* Nothing in it can be trusted, not even its netns: it stays
		 * enrolled, and oci-bypass gc names the record. The link of
		 * this key goes: its path comes from the key, not the record. */
		ob_cgroup_unplace(key);
		ob_hlog(LOG_WARNING, st->id, "teardown: its record is unreadable (%s): kept it",
			why.msg);
		return 0;
	}
	lock = enrol_lock(st->id);
	teardown_locked(&r, "teardown");
	enrol_unlock(lock);
	return 0;
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
		ob_hlog(LOG_INFO, "gc", "withdrew netns cookie %" PRIu64 " (no container left)",
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
	ob_hlog(LOG_INFO, "gc", "removed the sock_ops link " OB_PIN_CT "%s (no container record)",
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
		ob_hlog(LOG_WARNING, r->id,
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
		ob_hlog(LOG_WARNING, r->id, "gc: cannot enrol netns cookie %" PRIu64 " again: %s",
			r->cookie, why.msg);
		return 0;
	}
	ob_record_write(r, NULL);
	ob_hlog(LOG_INFO, r->id, "gc: %s netns cookie %" PRIu64 "%s%s",
		enrolled ? "kept" : "enrolled again", r->cookie,
		r->link[0] ? ", sock_ops link " : "", r->link);
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
		ob_hlog(LOG_INFO, r->id, "gc: finished an interrupted create");
	} else {
		rollback_locked(r, false);
		ob_hlog(LOG_INFO, r->id, "gc: rolled back an interrupted create");
	}
}

/*
 * gc's repair: records of containers that are gone (poststop never ran,
 * the hook was killed) and creates a killed hook left half done; live
 * containers whose netns is no longer enrolled; hook enrolments and
 * container links without a record. All under the enrolment lock, as the
 * hook's own enrolments and withdrawals. Unreadable records are named on
 * out; the rest is logged.
 */
int ob_containers_repair(uint64_t stale_ns, FILE *out, struct ob_repair *rep, struct ob_error *e)
{
	_cleanup_free_ struct ob_record *all = NULL;
	_cleanup_maps_ struct ob_maps m = OB_MAPS_CLOSED;
	struct gc g = { &m, 0 };
	long long now = (long long)time(NULL);
	bool maps, loaded;
	int n = 0, err, lock;
	struct ob_error why = { 0 };

	memset(rep, 0, sizeof(*rep));
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
			rep->bad += gc_unreadable(r, out);
		} else if (pidfd == -ESRCH) {
			teardown_locked(r, "gc: container gone");
			g.fixed++;
		} else if (pidfd < 0) {
			ob_hlog(LOG_WARNING, r->id, "gc: cannot tell whether process %d lives: %s",
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
		if (ob_sweep_tables(&m, stale_ns, &rep->swept_conns, &rep->swept_ledgers, &why))
			fprintf(out, "oci-bypass: gc: %s\n", why.msg);
	}
	ob_cgroup_links_foreach(gc_link, &g);
	enrol_unlock(lock);
	rep->fixed = g.fixed;
	return 0;
}
