/* policy.c - reads the host policy file (oci/policy.c parses it) only where root alone could have
 * written it: what an image's annotations cannot allow by themselves (issue 11). The same check
 * serves every file the hook trusts that way (ob_read_root_only: podman's containers.json too). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ob.h"
#include "oci.h"

/* Owned by root and not writable by group or others: only root can have
 * written it, or (a directory) put another file in its place. A file may
 * hold at most max bytes. */
static int root_only(int fd, const char *path, bool dir, size_t max, struct ob_error *e)
{
	struct stat st;

	if (fstat(fd, &st))
		return ob_err(e, -errno, "cannot stat %s: %s", path, strerror(errno));
	if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return ob_err(e, -EINVAL, "%s is not a %s", path,
			      dir ? "directory" : "regular file");
	if (st.st_uid != 0)
		return ob_err(e, -EPERM, "%s is owned by uid %u, not root", path,
			      (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return ob_err(e, -EPERM, "%s is writable by group or others (mode %04o)", path,
			      (unsigned)(st.st_mode & 07777));
	if (!dir && (size_t)st.st_size > max)
		return ob_err(e, -EFBIG, "%s is larger than %zu bytes", path, max);
	return 0;
}

int ob_read_root_only(const char *path, size_t max, char **out, size_t *len, struct ob_error *e)
{
	char dir[PATH_MAX];
	const char *base = strrchr(path, '/');
	_cleanup_close_ int dfd = -1, fd = -1;
	int rc;

	if (!base || base == path || (size_t)(base - path) >= sizeof(dir))
		return ob_err(e, -EINVAL, "bad file path %s", path);
	snprintf(dir, sizeof(dir), "%.*s", (int)(base - path), path);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return ob_err(e, -errno, "cannot open %s: %s", dir, strerror(errno));
	rc = root_only(dfd, dir, true, 0, e);
	if (rc)
		return rc;
	fd = openat(dfd, base + 1, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return ob_err(e, -errno, "cannot open %s: %s", path, strerror(errno));
	rc = root_only(fd, path, false, max, e);
	if (rc)
		return rc;
	rc = ob_read_bounded(fd, out, max, len, e);
	return rc ? ob_err_wrap(e, rc, "%s", path) : 0;
}

int ob_host_policy_load(const char *path, struct ob_host_policy *hp, struct ob_error *e)
{
	_cleanup_free_ char *buf = NULL;
	size_t n = 0;
	int rc;

	memset(hp, 0, sizeof(*hp)); /* all off until the file says otherwise */
	rc = ob_read_root_only(path, OB_POLICY_MAX, &buf, &n, e);
	if (rc)
		return rc;
	return ob_host_policy_parse(buf, n, path, hp, e);
}
