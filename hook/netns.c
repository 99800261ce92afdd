/* netns.c - opens a network namespace given by path without being fooled, and reads its cookie. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "ob.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71 /* Linux 5.14 */
#endif
#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif
#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif
#ifndef NS_GET_NSTYPE
#define NS_GET_NSTYPE _IO(0xb7, 0x3) /* Linux 4.11 */
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* Linux 5.3 */
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424 /* Linux 5.1 */
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	case S_IFCHR:
	case S_IFBLK:
		return "a device";
	}
	return "a file";
}

static const char *ns_kind(int type)
{
	switch (type) {
	case CLONE_NEWNS:
		return "a mount";
	case CLONE_NEWUTS:
		return "a UTS";
	case CLONE_NEWIPC:
		return "an IPC";
	case CLONE_NEWUSER:
		return "a user";
	case CLONE_NEWPID:
		return "a PID";
	case CLONE_NEWCGROUP:
		return "a cgroup";
	case CLONE_NEWTIME:
		return "a time";
	}
	return "another";
}

/*
 * Opens the network namespace file at path, for setns(). Nothing that is
 * not one is ever opened for reading: the last component is not followed
 * if it is a symlink and is first opened with O_PATH, which neither blocks
 * on a FIFO nor wakes a device; only once it is known to lie on nsfs is it
 * reopened (O_RDONLY | O_NONBLOCK) through /proc/self/fd. The one
 * exception is /proc/PID/ns/TYPE (ob_proc_ns_path): a magic link, opened
 * from a /proc that is procfs, followed on purpose: it leads only into
 * nsfs, which is checked again. Last, the namespace must be a network
 * namespace (NS_GET_NSTYPE; before Linux 4.11 setns() checks that).
 * Returns the fd, or a negative errno with e set.
 */
int ob_netns_open(const char *path, struct ob_error *e)
{
	_cleanup_close_ int pathfd = -1, fd = -1;
	const char *rel = ob_proc_ns_path(path);
	char self[64];
	struct statfs sf;
	struct stat st;
	int type, ret;

	if (rel) {
		pathfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (pathfd < 0 || fstatfs(pathfd, &sf) || sf.f_type != PROC_SUPER_MAGIC)
			return ob_err(e, -ENOENT, "cannot open %s: /proc is not procfs", path);
		fd = openat(pathfd, rel, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return ob_err(e, -errno, "cannot open %s: %s", path, strerror(errno));
	} else {
		pathfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (pathfd < 0)
			return ob_err(e, -errno, "cannot open %s: %s", path, strerror(errno));
		if (fstat(pathfd, &st) || fstatfs(pathfd, &sf))
			return ob_err(e, -errno, "cannot stat %s: %s", path, strerror(errno));
		if (S_ISLNK(st.st_mode))
			return ob_err(e, -ELOOP,
				      "%s is a symbolic link: give the namespace file itself "
				      "(/run/netns/NAME or /proc/PID/ns/net)",
				      path);
		if (sf.f_type != NSFS_MAGIC)
			return ob_err(e, -EINVAL, "%s is %s, not a namespace file (on nsfs)", path,
				      file_kind(st.st_mode));
		snprintf(self, sizeof(self), "/proc/self/fd/%d", pathfd);
		fd = open(self, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return ob_err(e, -errno, "cannot open %s: %s", path, strerror(errno));
	}
	if (fstatfs(fd, &sf) || sf.f_type != NSFS_MAGIC)
		return ob_err(e, -EINVAL, "%s is not a namespace file (on nsfs)", path);
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type >= 0 && type != CLONE_NEWNET)
		return ob_err(e, -EINVAL, "%s is %s namespace, not a network namespace", path,
			      ns_kind(type));
	ret = fd;
	fd = -1;
	return ret;
}

struct probe {
	int fd;
	int err;
	uint64_t cookie;
};

/* setns() moves only the calling thread, so a short-lived thread does the
 * work and the process never leaves its own namespace. */
static void *probe_thread(void *arg)
{
	struct probe *p = arg;
	socklen_t len = sizeof(p->cookie);
	int s;

	if (setns(p->fd, CLONE_NEWNET)) {
		p->err = -errno;
		return NULL;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		p->err = -errno;
		return NULL;
	}
	if (getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &p->cookie, &len))
		p->err = -errno;
	close(s);
	return NULL;
}

/* fd: a netns file or a pidfd (Linux 5.8: setns() accepts a pidfd and
 * enters that process's netns, which cannot be a recycled PID's). */
int ob_netns_cookie_fd(int fd, const char *what, uint64_t *cookie, struct ob_error *e)
{
	struct probe p = { .fd = fd };
	pthread_t t;
	int err;

	err = pthread_create(&t, NULL, probe_thread, &p);
	if (err)
		return ob_err(e, -err, "cannot start a thread: %s", strerror(err));
	pthread_join(t, NULL);
	if (p.err == -EINVAL)
		return ob_err(e, p.err, "%s is not a network namespace", what);
	if (p.err == -ENOPROTOOPT)
		return ob_err(e, p.err, "this kernel has no SO_NETNS_COOKIE (needs Linux 5.14)");
	if (p.err)
		return ob_err(e, p.err, "cannot read the netns cookie of %s: %s", what,
			      strerror(-p.err));
	*cookie = p.cookie;
	return 0;
}

int ob_netns_cookie(const char *path, uint64_t *cookie, struct ob_error *e)
{
	_cleanup_close_ int fd = ob_netns_open(path, e);

	if (fd < 0)
		return fd;
	return ob_netns_cookie_fd(fd, path, cookie, e);
}

/* The host's netns is init's; where init's is out of reach (a sandbox),
 * ours: the runtime runs hooks in the host's netns. */
int ob_host_netns_cookie(uint64_t *cookie)
{
	if (ob_netns_cookie("/proc/1/ns/net", cookie, NULL) == 0)
		return 0;
	return ob_netns_cookie("/proc/self/ns/net", cookie, NULL);
}

/* ---- the container process, by pidfd: a recycled pid cannot stand in for it ---- */

int ob_pidfd_open(int pid, struct ob_error *e)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0)
		return ob_err(e, -errno, "pidfd_open(%d): %s", pid, strerror(errno));
	return fd;
}

/* Signal 0 checks without sending: EPERM (a process of another user, and
 * no CAP_KILL) says it exists as well as 0 does. A zombie still holds its
 * pid, so the number cannot have passed to another process. */
bool ob_pidfd_alive(int pidfd)
{
	return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 || errno == EPERM;
}
