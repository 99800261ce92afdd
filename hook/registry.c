/* registry.c - enrols and withdraws network namespaces; one record each under /run/oci-bypass/netns. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ob.h"

#define NETNS_DIR OB_RUN_DIR "/netns"

/* The record is "name\norigin\n" (origin: cli or hook). */
static int write_record(uint64_t cookie, const char *name, const char *origin)
{
	char path[PATH_MAX], text[OB_NAME_MAX + 16];
	int n = snprintf(text, sizeof(text), "%s\n%s\n", name, origin);
	int err = ob_mkdirs(NETNS_DIR, 0700);

	if (err)
		return err;
	snprintf(path, sizeof(path), NETNS_DIR "/%" PRIu64, cookie);
	return ob_write_atomic(path, text, (size_t)n, 0600);
}

/* The netns record of a cookie, NUL-terminated; length, or <= 0. */
static ssize_t read_record(uint64_t cookie, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), NETNS_DIR "/%" PRIu64, cookie);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

int ob_registry_name(uint64_t cookie, char *name, size_t len)
{
	char buf[OB_NAME_MAX + 16];

	if (read_record(cookie, buf, sizeof(buf)) > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (ob_name_valid(buf)) {
			snprintf(name, len, "%s", buf);
			return 0;
		}
	}
	snprintf(name, len, "netns-%" PRIu64, cookie);
	return -ENOENT;
}

static int find_by_name(const char *name, uint64_t *cookie)
{
	DIR *d = opendir(NETNS_DIR);
	struct dirent *e;
	char have[OB_NAME_MAX + 1];
	int err = ob_err(-ENOENT, "no enrolled network namespace is named '%s'", name);

	if (!d)
		return err;
	while ((e = readdir(d))) {
		char *end;
		uint64_t c;

		if (e->d_name[0] == '.')
			continue;
		errno = 0;
		c = strtoull(e->d_name, &end, 10);
		if (errno || *end)
			continue;
		if (ob_registry_name(c, have, sizeof(have)) == 0 && !strcmp(have, name)) {
			*cookie = c;
			err = 0;
			break;
		}
	}
	closedir(d);
	return err;
}

int ob_registry_clear(void)
{
	DIR *d = opendir(NETNS_DIR);
	struct dirent *e;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' || strstr(e->d_name, ".tmp"))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(NETNS_DIR);
	return 0;
}

static void default_name(const char *path, uint64_t cookie, char *out, size_t len)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (!strncmp(path, "/run/netns/", 11) && ob_name_valid(base))
		snprintf(out, len, "%s", base);
	else
		snprintf(out, len, "netns-%" PRIu64, cookie);
}

static int new_token(const struct ob_maps *m, __u64 *token)
{
	for (int tries = 0; tries < 8; tries++) {
		uint64_t t, v;

		if (getrandom(&t, sizeof(t), 0) != sizeof(t))
			return ob_err(-errno, "getrandom failed: %s", strerror(errno));
		if (t && bpf_map_lookup_elem(m->tokens, &t, &v)) {
			*token = t;
			return 0;
		}
	}
	return ob_err(-EAGAIN, "could not draw a fresh token");
}

/* Enrols one netns (idempotent). Counters and token go in first: the
 * netns entry is what turns pairing on. */
int ob_enroll_cookie(const struct ob_maps *m, uint64_t cookie, const struct ob_enrolment *e)
{
	struct ob_counters *zero = NULL;
	struct ob_netns ns = { 0 }, have;
	int ncpu = libbpf_num_possible_cpus();
	bool made_counters;
	int err = 0;

	for (int i = 0; i < e->n_noports; i++) {
		struct ob_svc_key pk = { .netns_cookie = cookie, .port = e->noports[i] };
		__u8 one = 1;

		if (bpf_map_update_elem(m->noports, &pk, &one, BPF_ANY))
			return ob_err(-errno, "cannot record port %u to leave alone: %s",
				      e->noports[i], strerror(errno));
	}
	if (bpf_map_lookup_elem(m->netns, &cookie, &have) == 0) {
		if (e->already)
			*e->already = true;
		return write_record(cookie, e->name, e->origin);
	}
	if (e->already)
		*e->already = false;
	ns.flags = e->trust ? OB_NETNS_TRUST : 0;
	ns.max_unread = e->max_unread;
	zero = calloc(ncpu > 0 ? (size_t)ncpu : 1, sizeof(*zero));
	if (!zero)
		return ob_err(-ENOMEM, "out of memory");
	err = new_token(m, &ns.token);
	if (err)
		goto out;
	/* A concurrent enrolment of the same netns may get there first: its
	 * counters are kept (NOEXIST), and its netns entry (EEXIST) means
	 * enrolled already. Undo only what this call made. */
	made_counters = bpf_map_update_elem(m->counters, &cookie, zero, BPF_NOEXIST) == 0;
	if ((!made_counters && errno != EEXIST) ||
	    bpf_map_update_elem(m->tokens, &ns.token, &cookie, BPF_NOEXIST) ||
	    bpf_map_update_elem(m->netns, &cookie, &ns, BPF_NOEXIST)) {
		int why = errno;

		bpf_map_delete_elem(m->tokens, &ns.token);
		if (why == EEXIST && bpf_map_lookup_elem(m->netns, &cookie, &have) == 0) {
			if (e->already)
				*e->already = true;
			err = write_record(cookie, e->name, e->origin);
			goto out;
		}
		if (made_counters)
			bpf_map_delete_elem(m->counters, &cookie);
		if (why == E2BIG)
			err = ob_err(-E2BIG, "too many enrolled namespaces (%d)", OB_MAX_NETNS);
		else
			err = ob_err(-why, "cannot enrol: %s", strerror(why));
		goto out;
	}
	err = write_record(cookie, e->name, e->origin);
out:
	free(zero);
	return err;
}

/* Deletes every entry of a map keyed by struct ob_svc_key for one netns. */
static void delete_svc_keys(int map_fd, uint64_t cookie)
{
	struct ob_svc_key k, next, *prev = NULL;

	while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
		k = next;
		if (k.netns_cookie == cookie) {
			bpf_map_delete_elem(map_fd, &k);
			prev = NULL; /* restart: the walk lost its place */
			continue;
		}
		prev = &k;
	}
}

/* Withdrawing never touches the sockhash: connections already redirecting
 * keep going until they close (invariant 4). Returns 1 if it was enrolled. */
int ob_withdraw_cookie(const struct ob_maps *m, uint64_t cookie)
{
	char path[PATH_MAX];
	struct ob_netns ns;
	int was = 0;

	if (bpf_map_lookup_elem(m->netns, &cookie, &ns) == 0) {
		bpf_map_delete_elem(m->netns, &cookie);
		bpf_map_delete_elem(m->tokens, &ns.token);
		was = 1;
	}
	delete_svc_keys(m->noports, cookie);
	delete_svc_keys(m->services, cookie);
	bpf_map_delete_elem(m->counters, &cookie);
	snprintf(path, sizeof(path), NETNS_DIR "/%" PRIu64, cookie);
	unlink(path);
	return was;
}

/* Was this netns enrolled by the hook (so gc may withdraw it)? */
bool ob_registry_by_hook(uint64_t cookie)
{
	char buf[OB_NAME_MAX + 16];

	return read_record(cookie, buf, sizeof(buf)) > 0 && strstr(buf, "\nhook\n") != NULL;
}

int ob_cmd_enroll(const struct ob_args *a)
{
	char name[OB_NAME_MAX + 1];
	struct ob_maps m;
	uint64_t cookie, host;
	bool already = false;
	struct ob_enrolment e = { .name = name, .origin = "cli", .trust = a->trust,
				  .max_unread = a->max_unread,
				  .noports = a->noports, .n_noports = a->n_noports,
				  .already = &already };
	int err;

	err = ob_netns_cookie(a->netns, &cookie);
	if (err)
		return err;
	if (!a->allow_host && ob_host_netns_cookie(&host) == 0 && host == cookie)
		return ob_err(-EPERM, "%s is the host's network namespace; add --allow-host "
				      "to accelerate host processes too", a->netns);
	err = ob_open_maps(&m);
	if (err)
		return err;
	if (a->name)
		snprintf(name, sizeof(name), "%s", a->name);
	else
		default_name(a->netns, cookie, name, sizeof(name));
	err = ob_enroll_cookie(&m, cookie, &e);
	if (!err)
		printf("oci-bypass: %s %s (cookie %" PRIu64 ")\n",
		       already ? "already enrolled:" : "enrolled", name, cookie);
	ob_close_maps(&m);
	return err;
}

int ob_cmd_withdraw(const struct ob_args *a)
{
	char name[OB_NAME_MAX + 1];
	struct ob_maps m;
	uint64_t cookie;
	int err;

	if (a->target)
		err = find_by_name(a->target, &cookie);
	else
		err = ob_netns_cookie(a->netns, &cookie);
	if (err)
		return err;
	err = ob_open_maps(&m);
	if (err)
		return err;
	ob_registry_name(cookie, name, sizeof(name));
	if (ob_withdraw_cookie(&m, cookie))
		printf("oci-bypass: withdrew %s (cookie %" PRIu64 ")\n", name, cookie);
	else
		printf("oci-bypass: %s (cookie %" PRIu64 ") was not enrolled\n", name, cookie);
	ob_close_maps(&m);
	return 0;
}
