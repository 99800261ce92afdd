/* files.c - the one way oci-bypass creates directories and writes files: whole, or not at all. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ob.h"

/* mkdir -p; directories that exist keep their mode. */
int ob_mkdirs(const char *dir, mode_t mode)
{
	char buf[PATH_MAX];

	if ((size_t)snprintf(buf, sizeof(buf), "%s", dir) >= sizeof(buf))
		return ob_err(-ENAMETOOLONG, "directory path too long");
	for (char *p = buf + 1;; p++) {
		if (*p && *p != '/')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return ob_err(-errno, "cannot create %s: %s", buf, strerror(errno));
		if (!c)
			return 0;
		*p = c;
	}
}

/* Writes buf to DIR/.NAME.tmp, fsyncs it and renames it over DIR/NAME, so
 * that a reader (or a hook killed half way) never sees half a file. The
 * directory must exist. */
int ob_write_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
	const char *base = strrchr(path, '/');
	char tmp[PATH_MAX];
	int fd, err = 0;

	if (!base || (size_t)snprintf(tmp, sizeof(tmp), "%.*s/.%s.tmp", (int)(base - path), path,
				      base + 1) >= sizeof(tmp))
		return ob_err(-ENAMETOOLONG, "bad file path %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return ob_err(-errno, "cannot write %s: %s", tmp, strerror(errno));
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd))
		err = ob_err(errno ? -errno : -EIO, "cannot write %s: %s", tmp,
			     strerror(errno ? errno : EIO));
	if (close(fd) && !err)
		err = ob_err(-errno, "cannot write %s: %s", tmp, strerror(errno));
	if (!err && rename(tmp, path))
		err = ob_err(-errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (err)
		unlink(tmp);
	return err;
}
