/* enrolments.c - enrolled network namespaces: the maps (through maps.c) and one record each under
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

/* How many records other than except's name their namespace name; the
 * cookies of the first two in found[]. */
static int named(const char *name, uint64_t except, uint64_t found[2])
{
	_cleanup_closedir_ DIR *d = opendir(NETNS_DIR);
	struct dirent *de;
	char have[OB_NAME_MAX + 1];
	int n = 0;

	while (d && (de = readdir(d))) {
		char *end;
		uint64_t c;

		if (de->d_name[0] == '.')
			continue;
		errno = 0;
		c = strtoull(de->d_name, &end, 10);
		if (errno || *end || c == except)
			continue;
		if (ob_registry_name(c, have, sizeof(have)) == 0 && !strcmp(have, name)) {
			if (n < 2)
				found[n] = c;
			n++;
		}
	}
	return n;
}

int ob_registry_find(const char *name, uint64_t *cookie, struct ob_error *e)
{
	uint64_t found[2] = { 0, 0 };
	int n = named(name, 0, found);

	if (!n)
		return ob_err(e, -ENOENT, "no enrolled network namespace is named '%s'", name);
	if (n > 1)
		return ob_err(e, -ENOTUNIQ,
			      "%d enrolled network namespaces are named '%s' (cookies %" PRIu64
			      ", %" PRIu64 "%s): withdraw --netns PATH says which",
			      n, name, found[0], found[1], n > 2 ? ", ..." : "");
	*cookie = found[0];
	return 0;
}

/*
 * A name for a new enrolment of cookie that no other enrolled namespace
 * has: the administrator's (origin cli) is refused if it is taken; a
 * hook's (a container's id or io.oci-bypass.name, which a container may
 * choose) is made unique with a suffix, -2 to -99.
 */
static int unique_name(char *name, uint64_t cookie, bool cli, struct ob_error *e)
{
	uint64_t found[2];
	char want[OB_NAME_MAX + 1];

	if (!named(name, cookie, found))
		return 0;
	if (cli)
		return ob_err(e, -EEXIST,
			      "the name '%s' is taken by the enrolled namespace of cookie %" PRIu64
			      ": choose another with --name",
			      name, found[0]);
	snprintf(want, sizeof(want), "%s", name);
	for (int i = 2; i < 100; i++) {
		snprintf(name, OB_NAME_MAX + 1, "%.*s-%d", OB_NAME_MAX - 3, want, i);
		if (!named(name, cookie, found))
			return 0;
	}
	return ob_err(e, -EEXIST, "the name '%s' is taken, and so are its suffixes -2 to -99",
		      want);
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

/*
 * Enrols one netns (idempotent) in the maps and records its name and
 * owner. An enrolment has one owner: a hook whose container joins a
 * namespace enrolled already (by the administrator, or by another
 * container's hook) changes nothing of it, so that its teardown or gc
 * never withdraws the administrator's; the administrator's enroll of a
 * namespace a hook enrolled takes it over (it then outlives the
 * containers), keeping its name. en->name says the name it is enrolled
 * under on return.
 */
int ob_enroll_cookie(const struct ob_maps *m, uint64_t cookie, const struct ob_enrolment *en,
		     struct ob_error *e)
{
	char buf[OB_NAME_MAX + PATH_MAX + 16];
	bool cli = !strcmp(en->origin, "cli"), already;
	bool recorded = read_record(cookie, buf, sizeof(buf)) > 0;
	int err = 0;

	if (!recorded || !ob_netns_enrolled(m, cookie))
		err = unique_name(en->name, cookie, cli, e);
	if (!err)
		err = ob_netns_enrol(m, cookie, en, &already, e);
	if (err)
		return err;
	if (en->already)
		*en->already = already;
	if (already && recorded) {
		buf[strcspn(buf, "\n")] = '\0';
		if (ob_name_valid(buf, OB_NAME_MAX))
			snprintf(en->name, OB_NAME_MAX + 1, "%s", buf);
		if (!cli || !ob_registry_by_hook(cookie))
			return 0;
		return write_record(cookie, en->name, "cli", en->nsref, e);
	}
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
