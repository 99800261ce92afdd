/* registry.c - enrolled network namespaces: the maps (through maps.c) and one record each under
 * /run/oci-bypass/netns. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ob.h"

#define NETNS_DIR OB_RUN_DIR "/netns"

/* The record is "name\norigin\nnsref\n" (origin: cli or hook; nsref: the
 * path it was enrolled by, that promote enters it by, or empty). */
static int write_record(uint64_t cookie, const char *name, const char *origin, const char *nsref,
			struct ob_error *e)
{
	char path[PATH_MAX], text[OB_NAME_MAX + PATH_MAX + 16];
	int n = snprintf(text, sizeof(text), "%s\n%s\n%s\n", name, origin, nsref ? nsref : "");
	int err = ob_mkdirs(NETNS_DIR, 0700, e);

	if (err)
		return err;
	snprintf(path, sizeof(path), NETNS_DIR "/%" PRIu64, cookie);
	return ob_write_atomic(path, text, (size_t)n, 0600, e);
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

int ob_registry_nsref(uint64_t cookie, char *out, size_t len)
{
	char buf[OB_NAME_MAX + PATH_MAX + 16], *p;

	if (read_record(cookie, buf, sizeof(buf)) <= 0)
		return -ENOENT;
	p = strchr(buf, '\n');
	p = p ? strchr(p + 1, '\n') : NULL; /* past name and origin */
	if (!p || p[1] != '/')
		return -ENOENT;
	p++;
	p[strcspn(p, "\n")] = '\0';
	if (strlen(p) >= len)
		return -ENAMETOOLONG;
	snprintf(out, len, "%s", p);
	return 0;
}

int ob_registry_name(uint64_t cookie, char *name, size_t len)
{
	char buf[OB_NAME_MAX + PATH_MAX + 16];

	if (read_record(cookie, buf, sizeof(buf)) > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (ob_name_valid(buf, OB_NAME_MAX)) {
			snprintf(name, len, "%s", buf);
			return 0;
		}
	}
	snprintf(name, len, "netns-%" PRIu64, cookie);
	return -ENOENT;
}

int ob_registry_find(const char *name, uint64_t *cookie, struct ob_error *e)
{
	_cleanup_closedir_ DIR *d = opendir(NETNS_DIR);
	struct dirent *de;
	char have[OB_NAME_MAX + 1];

	if (!d)
		return ob_err(e, -ENOENT, "no enrolled network namespace is named '%s'", name);
	while ((de = readdir(d))) {
		char *end;
		uint64_t c;

		if (de->d_name[0] == '.')
			continue;
		errno = 0;
		c = strtoull(de->d_name, &end, 10);
		if (errno || *end)
			continue;
		if (ob_registry_name(c, have, sizeof(have)) == 0 && !strcmp(have, name)) {
			*cookie = c;
			return 0;
		}
	}
	return ob_err(e, -ENOENT, "no enrolled network namespace is named '%s'", name);
}

int ob_registry_clear(void)
{
	DIR *d = opendir(NETNS_DIR);
	struct dirent *de;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' || strstr(de->d_name, ".tmp"))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(NETNS_DIR);
	return 0;
}

/* Enrols one netns (idempotent) in the maps and records its name. */
int ob_enroll_cookie(const struct ob_maps *m, uint64_t cookie, const struct ob_enrolment *en,
		     struct ob_error *e)
{
	bool already;
	int err = ob_netns_enrol(m, cookie, en->trust, en->max_unread, &en->quotas, en->noports,
				 en->n_noports, en->kept, en->restored, &already, e);

	if (err)
		return err;
	if (en->already)
		*en->already = already;
	return write_record(cookie, en->name, en->origin, en->nsref, e);
}

/* Withdraws one netns from the maps (never from the sockhash: see
 * ob_netns_withdraw) and drops its record. Returns 1 if it was enrolled. */
int ob_withdraw_cookie(const struct ob_maps *m, uint64_t cookie)
{
	char path[PATH_MAX];
	int was = ob_netns_withdraw(m, cookie);

	snprintf(path, sizeof(path), NETNS_DIR "/%" PRIu64, cookie);
	unlink(path);
	return was;
}

/* Was this netns enrolled by the hook (so gc may withdraw it)? */
bool ob_registry_by_hook(uint64_t cookie)
{
	char buf[OB_NAME_MAX + PATH_MAX + 16];

	return read_record(cookie, buf, sizeof(buf)) > 0 && strstr(buf, "\nhook\n") != NULL;
}
