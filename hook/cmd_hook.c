/* cmd_hook.c - the verbs hook (reads the runtime's state and config.json, applies the host policy,
 * then enrols or withdraws through lifecycle.c) and gc (lifecycle.c's repair, reported). */
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
		ob_hlog(LOG_WARNING, id, "io.oci-bypass.allow-host-network=true ignored: %s", why);
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
		ob_hlog(LOG_WARNING, id,
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
		ob_hlog(LOG_WARNING, id,
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
		ob_hlog(LOG_INFO, st->id, "io.oci-bypass.mode=off: not accelerated");
		return 0;
	}
	if (!rc && p.mode == OB_MODE_REQUIRED)
		fail_code = 1;
	if (!rc && !confined)
		rc = ob_err(&why, cwhy->code ? cwhy->code : -EPERM, "cannot confine the hook: %s",
			    cwhy->msg);
	if (!rc && !sb->landlock_abi)
		ob_hlog(LOG_INFO, st->id,
			"no Landlock: %s; writes are not restricted to " OB_RUN_DIR
			" and " OB_PIN_DIR,
			sb->no_landlock);
	if (!rc)
		rc = apply_host_policy(st->id, &p, &why);
	if (!rc)
		rc = ob_container_create(st, &p, key, sb, &why);
	if (!rc)
		return 0;
	if (p.mode == OB_MODE_REQUIRED) {
		/* Fails closed: main() prints "oci-bypass: ID: ..." and exits 1. */
		syslog(LOG_ERR, "%s: io.oci-bypass.mode=required and %s", st->id, why.msg);
		snprintf(e->where, sizeof(e->where), "%s", st->id);
		return ob_err(e, rc, "io.oci-bypass.mode=required and %s", why.msg);
	}
	ob_hlog(LOG_WARNING, st->id, "not accelerated: %s", why.msg);
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

	(void)out; /* the hook's lines are logs: ob_hlog() writes syslog and stderr */
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
		ob_hlog(LOG_ERR, "-", "bad state on stdin: %s", why.msg);
		return 0; /* we cannot even tell which container: fail open */
	}
	stage = ob_stage_from(a->operand, &st, &why);
	if (stage == OB_STAGE_UNKNOWN || ob_record_key(st.id, st.bundle, key, sizeof(key), &why)) {
		ob_hlog(LOG_ERR, st.id, "%s", why.msg);
		return 0;
	}
	if (stage != OB_STAGE_TEARDOWN)
		return hook_stage_create(&st, key, &ps, &sb, confined, &cwhy, e);
	ob_parser_stop(&ps);
	if (!confined || ob_caps_drop(OB_CAPS_BPF, &cwhy) || ob_sandbox_landlock(&sb, &cwhy)) {
		ob_hlog(LOG_WARNING, st.id,
			"teardown not done: cannot confine the hook: %s (oci-bypass gc does it "
			"once "
			"the container is gone)",
			cwhy.msg);
		return 0;
	}
	return ob_container_teardown(&st, key);
}

/* gc: lifecycle.c repairs; this says what it did. */
int ob_cmd_gc(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	struct ob_repair rep;
	int err;

	openlog("oci-bypass", LOG_PID, LOG_DAEMON);
	err = ob_containers_repair(a->stale_after_s ? a->stale_after_s * 1000000000ull
						    : OB_HANDSHAKE_WINDOW_NS,
				   out, &rep, e);
	if (err)
		return err;
	fprintf(out, "oci-bypass: gc: %d item(s) repaired", rep.fixed);
	if (rep.swept_conns || rep.swept_ledgers)
		fprintf(out, ", %u stale connection and %u ledger entries swept", rep.swept_conns,
			rep.swept_ledgers);
	if (rep.bad)
		fprintf(out, ", %d unreadable record(s) left in place", rep.bad);
	fputc('\n', out);
	return 0;
}
