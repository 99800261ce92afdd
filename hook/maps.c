/* maps.c - the pinned BPF maps: the only file that opens pins and reads or writes the datapath's maps for the verbs (bpffs, open/close, settings, counters, counting). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ob.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

int ob_ensure_bpffs(void)
{
	struct statfs st;

	if (statfs("/sys/fs/bpf", &st) == 0 && (uint32_t)st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", "/sys/fs/bpf", "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700"))
		return ob_err(-errno, "bpffs is not mounted at /sys/fs/bpf and mounting it failed: %s",
			      strerror(errno));
	ob_log("mounted bpffs at /sys/fs/bpf");
	return 0;
}

/* The fds of struct ob_maps and their pin names, from the one list OB_MAPS. */
#define MAP_FD(n) &(m)->n,
#define MAP_FDS(m) { OB_MAPS(MAP_FD) }
#define MAP_NAME(n) "ob_" #n,
static const char *const map_names[] = { OB_MAPS(MAP_NAME) };

int ob_open_maps(struct ob_maps *m)
{
	int *fds[] = MAP_FDS(m);
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		*fds[i] = -1;
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		snprintf(path, sizeof(path), OB_PIN_DIR "/%s", map_names[i]);
		*fds[i] = bpf_obj_get(path);
		if (*fds[i] < 0 && errno == ENOENT &&
		    (fds[i] == &m->parking || fds[i] == &m->ledger || fds[i] == &m->usage))
			continue; /* an older build, to be unloaded */
		if (*fds[i] < 0) {
			int err = -errno;

			ob_close_maps(m);
			if (err == -ENOENT)
				return ob_err(err, "oci-bypass is not loaded (run 'oci-bypass load')");
			return ob_err(err, "cannot open %s: %s", path, strerror(-err));
		}
	}
	return 0;
}

void ob_close_maps(struct ob_maps *m)
{
	int *fds[] = MAP_FDS(m);

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* Unread redirected bytes of the whole host (0 if not kept). */
int64_t ob_read_usage(const struct ob_maps *m)
{
	struct ob_usage u = { 0 };
	__u32 zero = 0;

	if (m->usage < 0 || bpf_map_lookup_elem(m->usage, &zero, &u))
		return 0;
	return u.unread;
}

int ob_read_netns(const struct ob_maps *m, uint64_t cookie, struct ob_netns *ns)
{
	if (bpf_map_lookup_elem(m->netns, &cookie, ns))
		return ob_err(-errno, "cannot read the enrolment of netns %llu: %s",
			      (unsigned long long)cookie, strerror(errno));
	return 0;
}

int ob_read_settings(const struct ob_maps *m, struct ob_settings *s)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(m->settings, &zero, s))
		return ob_err(-errno, "cannot read settings: %s", strerror(errno));
	return 0;
}

int ob_write_settings(const struct ob_maps *m, const struct ob_settings *s)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(m->settings, &zero, s, BPF_EXIST))
		return ob_err(-errno, "cannot write settings: %s", strerror(errno));
	return 0;
}

int ob_read_counters(const struct ob_maps *m, uint64_t cookie, struct ob_counters *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct ob_counters *per;

	if (ncpu <= 0)
		return ob_err(-EINVAL, "cannot count CPUs");
	per = calloc((size_t)ncpu, sizeof(*per));
	if (!per)
		return ob_err(-ENOMEM, "out of memory");
	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(m->counters, &cookie, per)) {
		int err = -errno;

		free(per);
		return err; /* no counters: caller shows zeros */
	}
	for (int i = 0; i < ncpu; i++)
		ob_counters_add(out, &per[i]);
	free(per);
	return 0;
}

uint64_t ob_map_count(int map_fd, size_t key_size)
{
	unsigned char key[64], next[64];
	uint64_t n = 0;
	void *prev = NULL;

	if (key_size > sizeof(key))
		return 0;
	while (bpf_map_get_next_key(map_fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

bool ob_sockops_attached(void)
{
	return access(OB_PIN_LINK_SOCKOPS, F_OK) == 0;
}

void ob_unpin_maps(void)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(map_names) / sizeof(map_names[0]); i++) {
		snprintf(path, sizeof(path), OB_PIN_DIR "/%s", map_names[i]);
		unlink(path);
	}
	unlink(OB_PIN_DIR "/ob_sk_state"); /* pinned, never opened here */
}
