/* cmd_install.c - the verb install-hooks: writes the hooks.d file (podman, CRI-O) or the CDI spec (containerd, Docker). */
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

int ob_cmd_install_hooks(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	const char *dir = a->dir ? a->dir : a->cdi ? DEFAULT_CDI_DIR : DEFAULT_HOOKS_DIR;
	char self[PATH_MAX], path[PATH_MAX];
	_cleanup_free_ char *buf = NULL;
	const char *hook = a->hook_path;
	size_t len = 0;
	FILE *f;
	int rc;

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
	       a->cdi ? ", use --device oci-bypass.io/net=on"
	       : a->always ? ", every container; opt out with io.oci-bypass.mode=off"
			   : ", containers with io.oci-bypass.mode=on|required");
	return 0;
}
