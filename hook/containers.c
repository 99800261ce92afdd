/* containers.c - one record per container under /run/oci-bypass/containers, written atomically. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ob.h"
#include "oci.h"

#define CT_DIR	   OB_RUN_DIR "/containers"
#define RECORD_MAX (16 * 1024)

/* The key names the record file: the id alone could collide between two
 * engines (or two runc roots), the bundle path tells them apart. */
int ob_record_key(const char *id, const char *bundle, char *key, size_t len, struct ob_error *e)
{
	uLong crc = crc32(0L, Z_NULL, 0);

	if (!ob_name_valid(id, OB_ID_MAX))
		return ob_err(e, -EINVAL, "invalid container id");
	crc = crc32(crc, (const Bytef *)bundle, (uInt)strlen(bundle));
	if ((size_t)snprintf(key, len, "%s-%08lx", id, (unsigned long)crc) >= len)
		return ob_err(e, -ENAMETOOLONG, "container id too long");
	return 0;
}

#define IMAGES_MAX (8 * 1024 * 1024) /* containers.json: about 1 KiB a container */

static bool hex64(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == 64 && !s[n];
}

/* The image id of container id in containers/storage's list (text). */
static int image_of(const char *text, const char *id, char image[65], struct ob_error *e)
{
	json_object *all = json_tokener_parse(text), *c, *v;
	int err = ob_err(e, -ENOENT, "container %s is not in containers.json", id);

	if (!all || !json_object_is_type(all, json_type_array)) {
		json_object_put(all);
		return ob_err(e, -EINVAL, "containers.json is not a JSON array");
	}
	for (size_t i = 0; i < json_object_array_length(all); i++) {
		c = json_object_array_get_idx(all, i);
		if (!json_object_is_type(c, json_type_object) ||
		    !json_object_object_get_ex(c, "id", &v) ||
		    !json_object_is_type(v, json_type_string) ||
		    strcmp(json_object_get_string(v), id))
			continue;
		if (json_object_object_get_ex(c, "image", &v) &&
		    json_object_is_type(v, json_type_string) && hex64(json_object_get_string(v))) {
			memcpy(image, json_object_get_string(v), 65);
			err = 0;
		} else {
			/* podman run --rootfs: no image */
			err = ob_err(e, -ENOENT, "container %s has no image in containers.json",
				     id);
		}
		break;
	}
	json_object_put(all);
	return err;
}

/*
 * containers/storage (podman, CRI-O, buildah) lays a container's bundle out
 * as <storage>/overlay-containers/<id>/userdata and lists every container,
 * with the id of its image, in <storage>/overlay-containers/containers.json
 * (mode 0600): written by the engine, read here only where root alone can
 * have written it. The key is "img" and the image id's first 32 hex
 * digits, then the crc32 of that directory: two storage roots, two keys.
 * The image id is a digest of the image's content: an image cannot take
 * another's.
 */
int ob_image_key(const char *id, const char *bundle, char *key, size_t len, struct ob_error *e)
{
	static const char tail[] = "/userdata";
	size_t idlen = strlen(id), blen = strlen(bundle), n = 0;
	char dir[PATH_MAX], path[PATH_MAX], image[65];
	_cleanup_free_ char *buf = NULL;
	uLong crc = crc32(0L, Z_NULL, 0);
	int err;

	if (!ob_name_valid(id, OB_ID_MAX) || blen < idlen + sizeof(tail) + 1 ||
	    strcmp(bundle + blen - (sizeof(tail) - 1), tail) ||
	    strncmp(bundle + blen - (sizeof(tail) - 1) - idlen, id, idlen) ||
	    bundle[blen - (sizeof(tail) - 1) - idlen - 1] != '/' ||
	    blen - (sizeof(tail) - 1) - idlen - 1 + sizeof("/containers.json") > sizeof(dir))
		return ob_err(e, -ENOENT, "not a containers/storage bundle");
	snprintf(dir, sizeof(dir), "%.*s", (int)(blen - (sizeof(tail) - 1) - idlen - 1), bundle);
	snprintf(path, sizeof(path), "%s/containers.json", dir);
	err = ob_read_root_only(path, IMAGES_MAX, &buf, &n, e);
	if (err)
		return err;
	err = image_of(buf, id, image, e);
	if (err)
		return ob_err_wrap(e, err, "%s", path);
	crc = crc32(crc, (const Bytef *)dir, (uInt)strlen(dir));
	if ((size_t)snprintf(key, len, "img%.32s-%08lx", image, (unsigned long)crc) >= len)
		return ob_err(e, -ENAMETOOLONG, "key too long");
	return 0;
}

int ob_record_write(const struct ob_record *r, struct ob_error *e)
{
	char path[PATH_MAX];
	json_object *o;
	const char *text;
	int err = ob_mkdirs(CT_DIR, 0700, e);

	if (err)
		return err;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(r->id));
	json_object_object_add(o, "bundle", json_object_new_string(r->bundle));
	if (r->image_key[0])
		json_object_object_add(o, "image_key", json_object_new_string(r->image_key));
	json_object_object_add(o, "state", json_object_new_string(r->state));
	json_object_object_add(o, "cookie", json_object_new_uint64(r->cookie));
	json_object_object_add(o, "pid", json_object_new_int(r->pid));
	json_object_object_add(o, "pid_start", json_object_new_uint64(r->pid_start));
	json_object_object_add(o, "created", json_object_new_int64(r->created));
	json_object_object_add(o, "hook_pid", json_object_new_int(r->hook_pid));
	json_object_object_add(o, "hook_start", json_object_new_uint64(r->hook_start));
	json_object_object_add(o, "link", json_object_new_string(r->link));
	json_object_object_add(o, "cgroup", json_object_new_string(r->cgroup));
	if (r->has_enrolment) {
		json_object *en = json_object_new_object(), *ports = json_object_new_array();

		for (int i = 0; i < r->n_noports; i++)
			json_object_array_add(ports, json_object_new_int(r->noports[i]));
		json_object_object_add(en, "name", json_object_new_string(r->name));
		json_object_object_add(en, "trust", json_object_new_boolean(r->trust));
		json_object_object_add(en, "max_unread", json_object_new_uint64(r->max_unread));
		json_object_object_add(en, "no_ports", ports);
		json_object_object_add(o, "enrolment", en);
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	snprintf(path, sizeof(path), CT_DIR "/%s.json", r->key);
	err = ob_write_atomic(path, text, strlen(text), 0600, e);
	json_object_put(o);
	return err;
}

static void get_str(json_object *o, const char *k, char *dst, size_t len)
{
	json_object *v;

	dst[0] = '\0';
	if (json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string))
		snprintf(dst, len, "%s", json_object_get_string(v));
}

/* The "enrolment" object: as the hook wrote it, or the record is not ours. */
static int parse_enrolment(json_object *en, struct ob_record *r)
{
	json_object *v, *ports;
	size_t n;

	if (!json_object_is_type(en, json_type_object))
		return -EINVAL;
	get_str(en, "name", r->name, sizeof(r->name));
	if (!ob_name_valid(r->name, OB_NAME_MAX))
		return -EINVAL;
	if (json_object_object_get_ex(en, "trust", &v))
		r->trust = json_object_get_boolean(v);
	if (json_object_object_get_ex(en, "max_unread", &v))
		r->max_unread = json_object_get_uint64(v);
	if (json_object_object_get_ex(en, "no_ports", &ports)) {
		if (!json_object_is_type(ports, json_type_array))
			return -EINVAL;
		n = json_object_array_length(ports);
		if (n > OB_NOPORTS_MAX)
			return -EINVAL;
		for (size_t i = 0; i < n; i++) {
			int port = json_object_get_int(json_object_array_get_idx(ports, i));

			if (port < 1 || port > 65535)
				return -EINVAL;
			r->noports[r->n_noports++] = (uint16_t)port;
		}
	}
	r->has_enrolment = true;
	return 0;
}

static int parse_record(const char *key, const char *buf, struct ob_record *r, struct ob_error *e)
{
	json_object *o = json_tokener_parse(buf), *v;
	char link[PATH_MAX];
	int err = 0;

	memset(r, 0, sizeof(*r));
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return ob_err(e, -EINVAL, "not a JSON object");
	}
	snprintf(r->key, sizeof(r->key), "%s", key);
	get_str(o, "id", r->id, sizeof(r->id));
	get_str(o, "bundle", r->bundle, sizeof(r->bundle));
	get_str(o, "state", r->state, sizeof(r->state));
	get_str(o, "link", r->link, sizeof(r->link));
	get_str(o, "cgroup", r->cgroup, sizeof(r->cgroup));
	get_str(o, "image_key", r->image_key, sizeof(r->image_key));
	if (json_object_object_get_ex(o, "cookie", &v))
		r->cookie = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "pid", &v))
		r->pid = json_object_get_int(v);
	if (json_object_object_get_ex(o, "pid_start", &v))
		r->pid_start = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "created", &v))
		r->created = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "hook_pid", &v))
		r->hook_pid = json_object_get_int(v);
	if (json_object_object_get_ex(o, "hook_start", &v))
		r->hook_start = json_object_get_uint64(v);
	/* Only our own files are read, but never trust a path from one: the
	 * link teardown removes is this record's own (OB_PIN_CT key), a
	 * direct child of the pin directory. */
	if (!ob_name_valid(r->id, OB_ID_MAX))
		err = ob_err(e, -EINVAL, "invalid container id");
	else if (r->image_key[0] && !ob_verdicts_key_valid(r->image_key))
		err = ob_err(e, -EINVAL, "invalid image key");
	else if (json_object_object_get_ex(o, "enrolment", &v) && parse_enrolment(v, r))
		err = ob_err(e, -EINVAL, "invalid enrolment");
	else if (r->link[0] &&
		 (ob_cgroup_link_path(key, link, sizeof(link)) || strcmp(r->link, link)))
		err = ob_err(e, -EINVAL, "its link is not " OB_PIN_CT "%s", key);
	json_object_put(o);
	return err;
}

int ob_record_read(const char *key, struct ob_record *r, struct ob_error *e)
{
	char path[PATH_MAX];
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int err;

	snprintf(path, sizeof(path), CT_DIR "/%s.json", key);
	/* O_NONBLOCK (ob_read_file): a FIFO put there cannot block us */
	err = ob_read_file(path, RECORD_MAX, O_NOFOLLOW, &buf, &len, NULL, e);
	if (err)
		return err;
	err = parse_record(key, buf, r, e);
	return err ? ob_err_wrap(e, err, "%s", path) : 0;
}

bool ob_record_exists(const char *key)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), CT_DIR "/%s.json", key);
	return lstat(path, &st) == 0 || errno != ENOENT;
}

int ob_record_remove(const char *key, struct ob_error *e)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), CT_DIR "/%s.json", key);
	if (unlink(path) && errno != ENOENT)
		return ob_err(e, -errno, "cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* All records. Unreadable ones are left out, or with unreadable, listed
 * with only key and err set. */
int ob_records_list(struct ob_record **out, int *n, bool unreadable, struct ob_error *e)
{
	_cleanup_closedir_ DIR *d = opendir(CT_DIR);
	struct dirent *de;

	*out = NULL;
	*n = 0;
	if (!d && errno == ENOENT)
		return 0;
	if (!d)
		return ob_err(e, -errno, "cannot list %s: %s", CT_DIR, strerror(errno));
	while ((de = readdir(d))) {
		char key[OB_KEY_MAX + 1];
		size_t len = strlen(de->d_name);
		bool too_long = len - 5 > OB_KEY_MAX; /* ob_record_key makes none so long */
		struct ob_record *grown;
		int err;

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") ||
		    (too_long && !unreadable))
			continue;
		snprintf(key, sizeof(key), "%.*s", (int)(len - 5),
			 de->d_name); /* cut if too long */
		grown = realloc(*out, (size_t)(*n + 1) * sizeof(**out));
		if (!grown) {
			free(*out); /* the caller has nothing to free on failure */
			*out = NULL;
			*n = 0;
			return ob_err(e, -ENOMEM, "out of memory");
		}
		*out = grown;
		err = too_long ? -ENAMETOOLONG : ob_record_read(key, &(*out)[*n], NULL);
		if (err == -ENOENT || (err && !unreadable))
			continue; /* removed meanwhile, or not asked for */
		if (err) {
			memset(&(*out)[*n], 0, sizeof(**out));
			snprintf((*out)[*n].key, sizeof((*out)[*n].key), "%s", key);
			(*out)[*n].err = err;
		}
		(*n)++;
	}
	return 0;
}

/*
 * How many records other than `except` name this netns. A record that
 * cannot be read might name it: it counts, and *unsure (optional) says
 * so, as it does when the records cannot be listed. Either way the netns
 * stays enrolled: never withdrawn under a container whose record is
 * merely unreadable (gc reports those).
 */
int ob_records_sharing(uint64_t cookie, const char *except, bool *unsure)
{
	_cleanup_free_ struct ob_record *all = NULL;
	int n, count = 0;

	if (unsure)
		*unsure = false;
	if (ob_records_list(&all, &n, true, NULL)) {
		if (unsure)
			*unsure = true;
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (!strcmp(all[i].key, except))
			continue;
		if (all[i].err && unsure)
			*unsure = true;
		if (all[i].err || all[i].cookie == cookie)
			count++;
	}
	return count;
}

/* Start time of a process (field 22 of /proc/PID/stat), 0 if gone. */
unsigned long long ob_pid_start(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p)
		return 0;
	/* after ") " come fields 3.. ; starttime is field 22 */
	for (int field = 3; p && field <= 22; field++) {
		p = strchr(p + 1, ' ');
		if (p && field == 22)
			start = strtoull(p + 1, NULL, 10);
	}
	return start;
}

unsigned long long ob_pidfd_start(int pidfd, int pid)
{
	unsigned long long start = ob_pid_start(pid);

	return start && ob_pidfd_alive(pidfd) ? start : 0;
}
