/* files.c - the one way oci-bypass creates directories and writes files: whole, or not at all;
 * and reads a small file whole. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ob.h"

/* mkdir -p; directories that exist keep their mode. */
int ob_mkdirs(const char *dir, mode_t mode, struct ob_error *e)
{
	char buf[PATH_MAX];

	if ((size_t)snprintf(buf, sizeof(buf), "%s", dir) >= sizeof(buf))
		return ob_err(e, -ENAMETOOLONG, "directory path too long");
	for (char *p = buf + 1;; p++) {
		if (*p && *p != '/')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return ob_err(e, -errno, "cannot create %s: %s", buf, strerror(errno));
		if (!c)
			return 0;
		*p = c;
	}
}

/* Creates DIR/.NAME.XXXXXXXXXXXXXXXX.tmp, a name of its own (16 random hex
 * digits, O_EXCL): two writers of one file at once must not share a temp
 * file, or one renames the other's away (issue 11: 727 of 6000 renames
 * failed with one fixed name). */
static int open_unique(const char *path, const char *base, mode_t mode, char *tmp, size_t len,
		       struct ob_error *e)
{
	unsigned long long r;

	for (int tries = 0; tries < 8; tries++) {
		int fd;

		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			return ob_err(e, -EIO, "no random bytes for a temp file name");
		if ((size_t)snprintf(tmp, len, "%.*s/.%s.%016llx.tmp", (int)(base - path), path,
				     base + 1, r) >= len)
			return ob_err(e, -ENAMETOOLONG, "bad file path %s", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd
				       : ob_err(e, -errno, "cannot write %s: %s", tmp,
						strerror(errno));
	}
	return ob_err(e, -EEXIST, "cannot find a free temp file name next to %s", path);
}

/* Writes buf to a temp file of its own next to path, fsyncs it and renames
 * it over path (or, with excl, links it there: -EEXIST if path exists), so
 * that a reader (or a hook killed half way) never sees half a file, and
 * concurrent writers never see each other's. The directory must exist. */
static int write_whole(const char *path, const void *buf, size_t len, mode_t mode, bool excl,
		       struct ob_error *e)
{
	const char *base = strrchr(path, '/');
	char tmp[PATH_MAX];
	int fd, err = 0;

	if (!base)
		return ob_err(e, -EINVAL, "bad file path %s", path);
	fd = open_unique(path, base, mode, tmp, sizeof(tmp), e);
	if (fd < 0)
		return fd;
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd))
		err = ob_err(e, errno ? -errno : -EIO, "cannot write %s: %s", tmp,
			     strerror(errno ? errno : EIO));
	if (close(fd) && !err)
		err = ob_err(e, -errno, "cannot write %s: %s", tmp, strerror(errno));
	if (!err && excl && link(tmp, path))
		err = errno == EEXIST ? ob_err(e, -EEXIST, "%s exists", path)
				      : ob_err(e, -errno, "cannot link %s to %s: %s", tmp, path,
					       strerror(errno));
	else if (!err && excl)
		unlink(tmp);
	else if (!err && rename(tmp, path))
		err = ob_err(e, -errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (err)
		unlink(tmp);
	return err;
}

int ob_write_atomic(const char *path, const void *buf, size_t len, mode_t mode, struct ob_error *e)
{
	return write_whole(path, buf, len, mode, false, e);
}

int ob_write_new(const char *path, const void *buf, size_t len, mode_t mode, struct ob_error *e)
{
	return write_whole(path, buf, len, mode, true, e);
}

/* Reads at most max bytes; more is an error (bounded input). */
int ob_read_bounded(int fd, char **out, size_t max, size_t *len, struct ob_error *e)
{
	char *buf = malloc(max + 1);
	size_t n = 0;

	if (!buf)
		return ob_err(e, -ENOMEM, "out of memory");
	for (;;) {
		ssize_t r = read(fd, buf + n, max + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return ob_err(e, -errno, "read failed: %s", strerror(errno));
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			free(buf);
			return ob_err(e, -EFBIG, "input larger than %zu bytes", max);
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int ob_read_file(const char *path, size_t max, int flags, char **out, size_t *len, mode_t *mode,
		 struct ob_error *e)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t n = 0;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | flags);
	if (fd < 0)
		return ob_err(e, -errno, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return ob_err(e, -EINVAL, "%s is not a regular file", path);
	if ((uint64_t)st.st_size > max)
		return ob_err(e, -EFBIG, "%s is larger than %zu bytes", path, max);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return ob_err(e, -ENOMEM, "out of memory");
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return ob_err(e, -errno, "cannot read %s: %s", path, strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n != (size_t)st.st_size)
		return ob_err(e, -EIO, "short read of %s", path);
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	*len = n;
	if (mode)
		*mode = st.st_mode & 07777;
	return 0;
}
