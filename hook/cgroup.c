/* cgroup.c - cgroup v2: where it is mounted, where load attached sock_ops, and that a container's
 * cgroup runs our sock_ops program. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/bpf.h>

#include "ob.h"

#define CGROUP_FILE OB_RUN_DIR "/cgroup" /* where load attached sock_ops */

/* The cgroup v2 directory of a process ("0::/path" in /proc/PID/cgroup),
 * read by number and checked to be the pidfd's. */
static int process_cgroup(int pid, int pidfd, char *out, size_t len, struct ob_error *e)
{
	char path[64], line[PATH_MAX + 8], mnt[PATH_MAX];
	_cleanup_fclose_ FILE *f = NULL;
	int err;

	err = ob_find_cgroup2(mnt, sizeof(mnt), e);
	if (err)
		return err;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return ob_err(e, -errno, "cannot read %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "0::/", 4))
			continue;
		if (strstr(line, "/../") ||
		    (size_t)snprintf(out, len, "%s%s", mnt,
				     strcmp(line + 3, "/") ? line + 3 : "") >= len)
			return ob_err(e, -EINVAL, "odd cgroup path for process %d", pid);
		if (!ob_pidfd_alive(pidfd))
			return ob_err(e, -ESRCH, "process %d exited while its cgroup was read",
				      pid);
		return 0;
	}
	return ob_err(e, -ENOENT, "process %d has no cgroup v2 entry", pid);
}

static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/*
 * The sock_ops program runs only for sockets of processes in (or below)
 * the cgroup it is attached to. If the container's cgroup lies outside
 * the cgroup chosen at load (`load --cgroup`), attach the program to the
 * container's own cgroup for its lifetime: a link pinned as ct-KEY, which
 * teardown removes. link_out is "" when the load-time attachment covers it.
 */
int ob_cgroup_place(int pid, int pidfd, const char *key, char *cg_out, size_t cg_len,
		    char *link_out, size_t link_len, struct ob_error *e)
{
	char attach[PATH_MAX], guard[PATH_MAX];
	_cleanup_close_ int cgfd = -1;
	int err;

	link_out[0] = '\0';
	err = process_cgroup(pid, pidfd, cg_out, cg_len, e);
	if (err)
		return err;
	if (ob_attach_cgroup(attach, sizeof(attach)) || path_under(cg_out, attach))
		return 0;
	if (ob_cgroup_link_path(key, link_out, link_len))
		return ob_err(e, -EINVAL, "invalid container record key");
	cgfd = open(cg_out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return ob_err(e, -errno, "cannot open cgroup %s: %s", cg_out, strerror(errno));
	/* the setsockopt guard first, as at load: before anything pairs
	 * (where the load attached none, there is none to place) */
	if (ob_cgroup_guard_path(key, guard, sizeof(guard)))
		return ob_err(e, -EINVAL, "invalid container record key");
	if (access(OB_PIN_PROG_SETSOCKOPT, F_OK) == 0) {
		err = ob_cgroup_link_pin(OB_PIN_PROG_SETSOCKOPT, BPF_CGROUP_SETSOCKOPT, cgfd,
					 cg_out, guard, e);
		if (err) {
			link_out[0] = '\0';
			return err;
		}
	}
	err = ob_cgroup_link_pin(OB_PIN_PROG_SOCKOPS, BPF_CGROUP_SOCK_OPS, cgfd, cg_out, link_out,
				 e);
	if (err) {
		link_out[0] = '\0';
		unlink(guard);
	}
	return err;
}

/* prefix KEY, a direct child of the pin directory, or -EINVAL */
static int pin_path(const char *prefix, const char *key, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s%s", prefix, key) >= len ||
	    !ob_child_valid(buf, prefix, OB_KEY_MAX)) {
		buf[0] = '\0';
		return -EINVAL;
	}
	return 0;
}

int ob_cgroup_guard_path(const char *key, char *buf, size_t len)
{
	return pin_path(OB_PIN_CTG, key, buf, len);
}

int ob_cgroup_link_path(const char *key, char *buf, size_t len)
{
	return pin_path(OB_PIN_CT, key, buf, len);
}

/* The paths come from the key, never from what a record says. */
void ob_cgroup_unplace(const char *key)
{
	char link[PATH_MAX];

	if (ob_cgroup_link_path(key, link, sizeof(link)) == 0)
		unlink(link);
	if (ob_cgroup_guard_path(key, link, sizeof(link)) == 0)
		unlink(link);
}

bool ob_cgroup_placed(const char *key)
{
	char link[PATH_MAX];

	return ob_cgroup_link_path(key, link, sizeof(link)) == 0 && access(link, F_OK) == 0;
}

int ob_cgroup_links_foreach(int (*fn)(const char *key, void *ctx), void *ctx)
{
	_cleanup_closedir_ DIR *d = opendir(OB_PIN_DIR);
	struct dirent *de;
	int err;

	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, "ct-", 3) && ob_name_valid(de->d_name + 3, OB_KEY_MAX)) {
			err = fn(de->d_name + 3, ctx);
			if (err)
				return err;
		}
	return 0;
}

/* At unload: sock_ops pairs nothing more; the guards stay while sockets
 * may still redirect, as the load's own (ob_unpin_all()). */
static int unplace(const char *key, void *ctx)
{
	char link[PATH_MAX];

	(void)ctx;
	if (ob_cgroup_link_path(key, link, sizeof(link)) == 0)
		unlink(link);
	return 0;
}

void ob_cgroup_unplace_all(void)
{
	ob_cgroup_links_foreach(unplace, NULL);
}

void ob_cgroup_guards_unpin_all(void)
{
	_cleanup_closedir_ DIR *d = opendir(OB_PIN_DIR);
	struct dirent *de;
	char path[PATH_MAX];

	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, "ctg-", 4) &&
		    ob_cgroup_guard_path(de->d_name + 4, path, sizeof(path)) == 0)
			unlink(path);
}

/* Where cgroup v2 is mounted: /sys/fs/cgroup (Debian 12), or below it on a
 * hybrid host (/sys/fs/cgroup/unified). */
int ob_find_cgroup2(char *buf, size_t len, struct ob_error *e)
{
	FILE *f = fopen("/proc/mounts", "re");
	char dev[256], dir[PATH_MAX], type[64];
	int err = -ENOENT;

	if (!f)
		return ob_err(e, -errno, "cannot read /proc/mounts: %s", strerror(errno));
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
		if (strcmp(type, "cgroup2"))
			continue;
		err = strlen(dir) < len ? 0 : -ENAMETOOLONG;
		if (!err)
			strcpy(buf, dir);
		break;
	}
	fclose(f);
	if (err == -ENAMETOOLONG)
		return ob_err(e, err, "cgroup2 mount path too long");
	if (err)
		return ob_err(e, err,
			      "no cgroup v2 file system is mounted (see /proc/mounts): mount one "
			      "(mount -t cgroup2 none /sys/fs/cgroup) or give load --cgroup");
	return 0;
}

/* Records the cgroup sock_ops is attached to at load. */
int ob_attach_cgroup_save(const char *cg, struct ob_error *e)
{
	char line[PATH_MAX + 1];
	int n = snprintf(line, sizeof(line), "%s\n", cg);
	int err = ob_mkdirs(OB_RUN_DIR, 0700, e);

	return err ? err : ob_write_atomic(CGROUP_FILE, line, (size_t)n, 0600, e);
}

/* The cgroup sock_ops was attached to at load ("" if unknown). */
int ob_attach_cgroup(char *buf, size_t len)
{
	FILE *f = fopen(CGROUP_FILE, "re");

	buf[0] = '\0';
	if (!f)
		return -errno;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
	return buf[0] ? 0 : -ENOENT;
}

void ob_attach_cgroup_forget(void)
{
	unlink(CGROUP_FILE);
}
