/* netns.c - reads the cookie of a network namespace given by path. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ob.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71 /* Linux 5.14 */
#endif
#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

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
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return ob_err(e, -errno, "cannot open %s: %s", path, strerror(errno));
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
