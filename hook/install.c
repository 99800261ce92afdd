/* install.c - writes the hooks.d file (podman, CRI-O) or the CDI spec (containerd, Docker). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ob.h"
#include "oci.h"

#define DEFAULT_HOOKS_DIR "/etc/containers/oci/hooks.d"
#define DEFAULT_CDI_DIR "/etc/cdi"

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];

	if ((size_t)snprintf(buf, sizeof(buf), "%s", dir) >= sizeof(buf))
		return ob_err(-ENAMETOOLONG, "directory path too long");
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return ob_err(-errno, "cannot create %s: %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return ob_err(-errno, "cannot create %s: %s", buf, strerror(errno));
	return 0;
}

int ob_cmd_install_hooks(const struct ob_args *a)
{
	const char *dir = a->dir ? a->dir : a->cdi ? DEFAULT_CDI_DIR : DEFAULT_HOOKS_DIR;
	char self[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX], err[256], *buf = NULL;
	const char *hook = a->hook_path;
	size_t len = 0;
	FILE *f;
	int rc, fd;

	if (!hook) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (n <= 0)
			return ob_err(-errno, "cannot find this binary; give --hook-path");
		self[n] = '\0';
		hook = self;
	}
	/* Render in memory and validate before anything touches the
	 * directory: one bad file in hooks.d breaks every podman run. */
	f = open_memstream(&buf, &len);
	if (!f)
		return ob_err(-ENOMEM, "out of memory");
	rc = a->cdi ? ob_cdi_write(f, hook, err, sizeof(err))
		    : ob_hooksd_write(f, hook, a->always, err, sizeof(err));
	fclose(f);
	if (!rc && !a->cdi && ob_hooksd_validate(buf, len, err, sizeof(err)))
		rc = -EINVAL;
	if (rc) {
		free(buf);
		return ob_err(rc, "%s", err);
	}
	rc = mkdir_p(dir);
	if (rc)
		goto out;
	snprintf(path, sizeof(path), "%s/oci-bypass.json", dir);
	snprintf(tmp, sizeof(tmp), "%s/.oci-bypass.json.tmp", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		rc = ob_err(-errno, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd)) {
		rc = ob_err(-EIO, "cannot write %s", tmp);
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path)) {
		rc = ob_err(-errno, "cannot rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	printf("oci-bypass: wrote %s (hook %s%s)\n", path, hook,
	       a->cdi ? ", use --device oci-bypass.io/net=on"
	       : a->always ? ", every container; opt out with io.oci-bypass.mode=off"
			   : ", containers with io.oci-bypass.mode=on|required");
out:
	free(buf);
	return rc;
}
