/* cmd_promote.c - the verb promote: the promotion iterator run in each namespace that holds
 * promotable sockets (bypass.h, "Promotion"). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ob.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71 /* Linux 5.14 */
#endif

struct promote_run {
	const struct ob_maps *m;
	int link;	      /* the pinned iterator link */
	struct ob_record *ct; /* container records: a live process per netns */
	int n_ct;
	unsigned visited, unreachable, put_in, skipped[OB_SKIP_N];
};

/* One visit: a thread (setns() moves only it) enters the namespace, checks
 * that it is the one meant, and reads the iterator there: the kernel
 * walks that namespace's TCP sockets. */
struct visit {
	struct promote_run *run;
	int nsfd;
	uint64_t cookie;
	int err;
};

static void *visit_thread(void *arg)
{
	struct visit *v = arg;
	struct ob_promote_rec rec[64];
	uint64_t have = 0;
	socklen_t len = sizeof(have);
	ssize_t n;
	int s, it;

	if (setns(v->nsfd, CLONE_NEWNET)) {
		v->err = -errno;
		return NULL;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &have, &len) || have != v->cookie) {
		v->err = s < 0 ? -errno : -ESTALE; /* its process moved on */
		if (s >= 0)
			close(s);
		return NULL;
	}
	close(s);
	it = ob_promote_iter_create(v->run->link);
	if (it < 0) {
		v->err = -errno;
		return NULL;
	}
	while ((n = read(it, rec, sizeof(rec))) > 0)
		for (size_t i = 0; i < (size_t)n / sizeof(rec[0]); i++) {
			if (rec[i].what == 0)
				v->run->put_in++;
			else if (rec[i].what - 1 < OB_SKIP_N)
				v->run->skipped[rec[i].what - 1]++;
		}
	if (n < 0)
		v->err = -errno;
	close(it);
	return NULL;
}

/* A handle on the namespace: a live process of a container the hook
 * enrolled it for, or the path enroll --netns was given. -1 if none. */
static int netns_handle(const struct promote_run *run, uint64_t cookie)
{
	char path[4096];

	for (int i = 0; i < run->n_ct; i++) {
		const struct ob_record *r = &run->ct[i];
		int fd;

		if (r->cookie != cookie || r->pid <= 0)
			continue;
		fd = ob_pidfd_open(r->pid, NULL);
		if (fd < 0)
			continue;
		if (r->pid_start && ob_pidfd_start(fd, r->pid) == r->pid_start)
			return fd;
		close(fd);
	}
	if (ob_registry_nsref(cookie, path, sizeof(path)) == 0)
		return ob_netns_open(path, NULL);
	return -1;
}

static int visit(uint64_t cookie, void *ctx)
{
	struct promote_run *run = ctx;
	struct visit v = { .run = run, .cookie = cookie };
	pthread_t t;

	v.nsfd = netns_handle(run, cookie);
	if (v.nsfd < 0) {
		run->unreachable++;
		return 0;
	}
	if (pthread_create(&t, NULL, visit_thread, &v) == 0)
		pthread_join(t, NULL);
	else
		v.err = -EAGAIN;
	close(v.nsfd);
	if (v.err)
		run->unreachable++;
	else
		run->visited++;
	return 0;
}

/* Only namespaces that hold promotable sockets are visited. */
static int maybe_visit(uint64_t cookie, void *ctx)
{
	struct promote_run *run = ctx;
	struct ob_netns ns;

	if (ob_read_netns(run->m, cookie, &ns, NULL) || ns.promotable <= 0)
		return 0;
	return visit(cookie, run);
}

int ob_cmd_promote(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	struct promote_run run = { .link = -1 };
	struct timespec t0, t1;
	_cleanup_maps_ struct ob_maps m = OB_MAPS_CLOSED;
	unsigned skipped = 0;
	int err;

	(void)a;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = ob_open_maps(&m, e);
	if (err)
		return err;
	run.link = ob_promote_link_open(e);
	if (run.link < 0)
		return run.link;
	if (ob_records_list(&run.ct, &run.n_ct, false, NULL))
		run.n_ct = 0;
	run.m = &m;
	err = ob_netns_foreach(&m, maybe_visit, &run, e);
	free(run.ct);
	close(run.link);
	if (err)
		return err;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (int i = 0; i < OB_SKIP_N; i++)
		skipped += run.skipped[i];
	fprintf(out,
		"oci-bypass: promote: %u namespace(s) visited, %u socket(s) put in, %u not "
		"(budget %u, quota %u, full %u, reader %u), %u namespace(s) unreachable, "
		"in %.1f ms\n",
		run.visited, run.put_in, skipped, run.skipped[OB_SKIP_BUDGET],
		run.skipped[OB_SKIP_QUOTA], run.skipped[OB_SKIP_FULL], run.skipped[OB_SKIP_READER],
		run.unreachable,
		(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	return 0;
}
