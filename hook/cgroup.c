/* cgroup.c - makes sure a container's cgroup runs our sock_ops program. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "ob.h"

/* The cgroup v2 directory of a process ("0::/path" in /proc/PID/cgroup). */
static int process_cgroup(int pid, char *out, size_t len)
{
	char path[64], line[PATH_MAX + 8], mnt[PATH_MAX];
	FILE *f;
	int err = ob_err(-ENOENT, "process %d has no cgroup v2 entry", pid);

	if (ob_find_cgroup2(mnt, sizeof(mnt)))
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return ob_err(-errno, "cannot read %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "0::/", 4))
			continue;
		if (strstr(line, "/../") || (size_t)snprintf(out, len, "%s%s", mnt,
							     strcmp(line + 3, "/") ? line + 3 : "") >= len)
			err = ob_err(-EINVAL, "odd cgroup path for process %d", pid);
		else
			err = 0;
		break;
	}
	fclose(f);
	return err;
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
int ob_cgroup_place(int pid, const char *key, char *cg_out, size_t cg_len, char *link_out,
		    size_t link_len)
{
	char attach[PATH_MAX];
	int cgfd, prog, link, err;

	link_out[0] = '\0';
	err = process_cgroup(pid, cg_out, cg_len);
	if (err)
		return err;
	if (ob_attach_cgroup(attach, sizeof(attach)) || path_under(cg_out, attach))
		return 0;
	if ((size_t)snprintf(link_out, link_len, OB_PIN_DIR "/ct-%s", key) >= link_len)
		return ob_err(-ENAMETOOLONG, "link path too long");
	cgfd = open(cg_out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return ob_err(-errno, "cannot open cgroup %s: %s", cg_out, strerror(errno));
	prog = bpf_obj_get(OB_PIN_PROG_SOCKOPS);
	if (prog < 0) {
		err = ob_err(-errno, "cannot open %s: %s", OB_PIN_PROG_SOCKOPS, strerror(errno));
		close(cgfd);
		return err;
	}
	link = bpf_link_create(prog, cgfd, BPF_CGROUP_SOCK_OPS, NULL);
	if (link < 0)
		err = ob_err(-errno, "cannot attach sock_ops to %s: %s", cg_out, strerror(errno));
	else if (unlink(link_out), bpf_obj_pin(link, link_out))
		err = ob_err(-errno, "cannot pin %s: %s", link_out, strerror(errno));
	if (link >= 0)
		close(link); /* pinned: stays attached; not pinned: detaches */
	close(prog);
	close(cgfd);
	if (err)
		link_out[0] = '\0';
	return err;
}
