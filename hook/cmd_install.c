/* cmd_install.c - the verb install-hooks: writes the hooks.d file (podman, CRI-O) or the CDI spec
 * (containerd, Docker), or registers oci-bypass-runtime with Docker 20.10 or containerd 1.6. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ob.h"
#include "oci.h"

#define DEFAULT_HOOKS_DIR     "/etc/containers/oci/hooks.d"
#define DEFAULT_CDI_DIR	      "/etc/cdi"
#define DEFAULT_DOCKER_CONFIG "/etc/docker/daemon.json"

/* The oci-bypass-runtime link next to this binary (make install puts it
 * there). Not resolved: the engine must call it by that name. */
static int default_shim(char *out, size_t len, struct ob_error *e)
{
	char self[PATH_MAX];
	struct stat a, b;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return ob_err(e, -errno, "cannot find this binary; give --shim-path");
	self[n] = '\0';
	if ((size_t)snprintf(out, len, "%s/" OB_RUNTIME_BIN, dirname(self)) >= len)
		return ob_err(e, -ENAMETOOLONG, "path too long; give --shim-path");
	if (stat(out, &a) || stat("/proc/self/exe", &b) || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev)
		return ob_err(e, -ENOENT,
			      "%s is missing or not this binary (make install links it); "
			      "give --shim-path",
			      out);
	return 0;
}

static const char *tf(bool b)
{
	return b ? "true" : "false";
}

/*
 * The host policy file (issue 11): written, all off unless --allow-trust
 * or --allow-host-network, where there is none; an existing one changes
 * only when one of those is given (its key set, the other kept), and one
 * the parser refuses is then left alone with an error. prefix starts each
 * line of output ("# " where the output is a config.toml snippet).
 */
static int install_policy(const struct ob_args *a, const char *prefix, FILE *out,
			  struct ob_error *e)
{
	const char *path = a->policy ? a->policy : OB_POLICY_PATH;
	bool change = a->allow_trust || a->allow_host_network, exists;
	_cleanup_free_ char *old = NULL, *buf = NULL;
	struct ob_host_policy hp = { 0 }, now;
	struct ob_error re = { 0 };
	char dir[PATH_MAX];
	size_t len = 0, buf_len = 0;
	FILE *f;
	int rc;

	rc = ob_read_file(path, OB_POLICY_MAX, O_NOFOLLOW, &old, &len, NULL, &re);
	exists = rc != -ENOENT;
	if (!rc)
		rc = ob_host_policy_parse(old, len, path, &hp, &re);
	if (rc && exists) {
		if (change) {
			if (e)
				*e = re;
			return ob_err_wrap(e, rc,
					   "the host policy (left as it is; fix or remove it)");
		}
		fprintf(out, "%soci-bypass: kept %s as it is; the hook allows nothing while %s\n",
			prefix, path, re.msg);
		return 0;
	}
	if (exists && !change) {
		fprintf(out,
			"%soci-bypass: kept %s (allow-trust = %s, allow-host-network = %s, "
			"allow-max-unread = %llu)\n",
			prefix, path, tf(hp.allow_trust), tf(hp.allow_host_network),
			(unsigned long long)hp.allow_max_unread);
	} else {
		hp.allow_trust |= a->allow_trust;
		hp.allow_host_network |= a->allow_host_network;
		f = open_memstream(&buf, &buf_len);
		if (!f)
			return ob_err(e, -ENOMEM, "out of memory");
		rc = ob_host_policy_write(f, &hp, e);
		fclose(f);
		if (rc)
			return rc;
		snprintf(dir, sizeof(dir), "%s", path);
		rc = ob_mkdirs(dirname(dir), 0755, e);
		if (!rc) /* a new file never replaces one written meanwhile */
			rc = exists ? ob_write_atomic(path, buf, buf_len, 0644, e)
				    : ob_write_new(path, buf, buf_len, 0644, e);
		if (rc)
			return rc;
		fprintf(out,
			"%soci-bypass: wrote %s (allow-trust = %s, allow-host-network = %s, "
			"allow-max-unread = %llu)\n",
			prefix, path, tf(hp.allow_trust), tf(hp.allow_host_network),
			(unsigned long long)hp.allow_max_unread);
	}
	/* The file the hook reads: say so if the hook would not trust it. */
	if (!strcmp(path, OB_POLICY_PATH) && ob_host_policy_load(path, &now, &re))
		fprintf(out, "%soci-bypass: warning: the hook allows nothing while %s\n", prefix,
			re.msg);
	return 0;
}

/* --docker: runtimes.oci-bypass in daemon.json, every other key kept. */
static int install_docker(const struct ob_args *a, const char *shim, FILE *out, struct ob_error *e)
{
	const char *path = a->docker_config ? a->docker_config : DEFAULT_DOCKER_CONFIG;
	_cleanup_free_ char *old = NULL, *buf = NULL;
	struct ob_error re = { 0 };
	char dir[PATH_MAX];
	size_t len = 0, buf_len;
	mode_t mode = 0644;
	int rc;

	/* No file yet is fine; e is written only when this verb fails. */
	rc = ob_read_file(path, OB_CONFIG_MAX, 0, &old, &len, &mode, &re);
	if (rc && rc != -ENOENT) {
		if (e)
			*e = re;
		return rc;
	}
	rc = ob_docker_config_merge(old, len, shim, a->set_default, &buf, &buf_len, e);
	if (rc)
		return ob_err_wrap(e, rc, "%s (left as it is)", path);
	snprintf(dir, sizeof(dir), "%s", path);
	rc = ob_mkdirs(dirname(dir), 0755, e);
	if (!rc)
		rc = ob_write_atomic(path, buf, buf_len, mode, e);
	if (rc)
		return rc;
	fprintf(out,
		"oci-bypass: wrote %s (runtime \"" OB_RUNTIME_NAME "\" = %s%s); reload dockerd "
		"(SIGHUP) and run: docker run --runtime " OB_RUNTIME_NAME " ...\n",
		path, shim, a->set_default ? ", the default runtime" : "");
	return 0;
}

/* --docker, --containerd: the engines that apply neither hooks.d nor CDI. */
static int install_engines(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	char shim[PATH_MAX];
	int rc;

	if (a->shim_path)
		snprintf(shim, sizeof(shim), "%s", a->shim_path);
	else if ((rc = default_shim(shim, sizeof(shim), e)))
		return rc;
	if (a->docker)
		return install_docker(a, shim, out, e);
	return ob_containerd_snippet(out, shim, e);
}

int ob_cmd_install_hooks(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	const char *dir = a->dir ? a->dir : a->cdi ? DEFAULT_CDI_DIR : DEFAULT_HOOKS_DIR;
	char self[PATH_MAX], path[PATH_MAX];
	_cleanup_free_ char *buf = NULL;
	const char *hook = a->hook_path;
	size_t len = 0;
	FILE *f;
	int rc;

	/* First: an error there leaves everything as it was. --containerd
	 * prints a config.toml snippet: the policy lines are comments in it. */
	rc = install_policy(a, a->containerd ? "# " : "", out, e);
	if (rc)
		return rc;
	if (a->docker || a->containerd)
		return install_engines(a, out, e);
	if (!hook) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (n <= 0)
			return ob_err(e, -errno, "cannot find this binary; give --hook-path");
		self[n] = '\0';
		hook = self;
	}
	/* Render in memory and validate before anything touches the
	 * directory: one bad file in hooks.d breaks every podman run. */
	f = open_memstream(&buf, &len);
	if (!f)
		return ob_err(e, -ENOMEM, "out of memory");
	/* ob_hooksd_write validates what it writes (ob_hooksd_validate). */
	rc = a->cdi ? ob_cdi_write(f, hook, e) : ob_hooksd_write(f, hook, a->always, e);
	fclose(f);
	if (rc)
		return rc;
	rc = ob_mkdirs(dir, 0755, e);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/oci-bypass.json", dir);
	rc = ob_write_atomic(path, buf, len, 0644, e);
	if (rc)
		return rc;
	fprintf(out, "oci-bypass: wrote %s (hook %s%s)\n", path, hook,
		a->cdi	    ? ", use --device oci-bypass.io/net=on"
		: a->always ? ", every container; opt out with io.oci-bypass.mode=off"
			    : ", containers with io.oci-bypass.mode=on|required");
	return 0;
}
