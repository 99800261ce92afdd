/* verdict_store.c - kept verdicts, one file per container under OB_VERDICTS_DIR, written
 * atomically, bounded in number (verdicts.c: their text). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ob.h"

#define FILE_MAX (64 * 1024)

static void path_of(const char *key, char *path, size_t len)
{
	snprintf(path, len, OB_VERDICTS_DIR "/%s.json", key);
}

/* The key of a directory entry named KEY.json, or false. */
static bool entry_key(const char *name, char *key, size_t len)
{
	size_t n = strlen(name);

	if (n < 6 || n - 5 >= len || strcmp(name + n - 5, ".json"))
		return false;
	snprintf(key, len, "%.*s", (int)(n - 5), name);
	return ob_verdicts_key_valid(key);
}

struct collect {
	uint64_t cookie;
	struct ob_verdicts *vs;
};

static int collect(uint64_t cookie, uint16_t port, const struct ob_service *sv, void *ctx)
{
	struct collect *c = ctx;

	if (cookie == c->cookie && ob_verdict_keepable(sv->state) &&
	    c->vs->n < OB_VERDICTS_MAX_SVC) {
		c->vs->v[c->vs->n].port = port;
		c->vs->v[c->vs->n].state = sv->state;
		c->vs->n++;
	}
	return 0;
}

struct aged {
	char key[OB_KEY_MAX + 1];
	struct timespec mtime;
};

static int older(const void *a, const void *b)
{
	const struct timespec *x = &((const struct aged *)a)->mtime,
			      *y = &((const struct aged *)b)->mtime;

	if (x->tv_sec != y->tv_sec)
		return x->tv_sec < y->tv_sec ? -1 : 1;
	return x->tv_nsec < y->tv_nsec ? -1 : x->tv_nsec > y->tv_nsec;
}

/* At most OB_VERDICTS_MAX files: the least recently saved go. */
static void prune(void)
{
	_cleanup_closedir_ DIR *d = opendir(OB_VERDICTS_DIR);
	_cleanup_free_ struct aged *all = NULL;
	struct dirent *de;
	size_t n = 0, cap = 0;

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;

		if (n == cap) {
			struct aged *grown =
				realloc(all, (cap = cap ? 2 * cap : 64) * sizeof(*all));

			if (!grown)
				return;
			all = grown;
		}
		if (!entry_key(de->d_name, all[n].key, sizeof(all[n].key)) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		all[n++].mtime = st.st_mtim;
	}
	if (n <= OB_VERDICTS_MAX)
		return;
	qsort(all, n, sizeof(*all), older);
	for (size_t i = 0; i < n - OB_VERDICTS_MAX; i++) {
		char path[PATH_MAX];

		path_of(all[i].key, path, sizeof(path));
		unlink(path);
	}
}

int ob_verdicts_save(const struct ob_maps *m, const char *key, const char *id, uint64_t cookie,
		     int *kept, struct ob_error *e)
{
	_cleanup_free_ struct ob_verdicts *vs = calloc(1, sizeof(*vs));
	_cleanup_free_ char *text = NULL;
	struct collect c = { cookie, vs };
	char path[PATH_MAX];
	int err;

	*kept = 0;
	if (!vs)
		return ob_err(e, -ENOMEM, "out of memory");
	if (!ob_verdicts_key_valid(key))
		return ob_err(e, -EINVAL, "not a container's key: '%s'", key);
	snprintf(vs->key, sizeof(vs->key), "%s", key);
	snprintf(vs->id, sizeof(vs->id), "%s", id);
	vs->saved = (long long)time(NULL);
	ob_services_foreach(m, collect, &c);
	path_of(key, path, sizeof(path));
	if (!vs->n) {
		/* nothing learned, not even what was kept: nothing to keep */
		if (unlink(path) && errno != ENOENT)
			return ob_err(e, -errno, "cannot remove %s: %s", path, strerror(errno));
		return 0;
	}
	err = ob_mkdirs(OB_VERDICTS_DIR, 0700, e);
	if (err)
		return err;
	text = ob_verdicts_format(vs);
	if (!text)
		return ob_err(e, -ENOMEM, "out of memory");
	err = ob_write_atomic(path, text, strlen(text), 0600, e);
	if (err)
		return err;
	*kept = vs->n;
	prune();
	return 0;
}

int ob_verdicts_read(const char *key, struct ob_verdicts *vs, struct ob_error *e)
{
	_cleanup_free_ char *buf = NULL;
	char path[PATH_MAX];
	size_t len;
	int err;

	if (!ob_verdicts_key_valid(key))
		return ob_err(e, -EINVAL, "not a container's key: '%s'", key);
	path_of(key, path, sizeof(path));
	/* O_NONBLOCK (ob_read_file): a FIFO put there cannot block us */
	err = ob_read_file(path, FILE_MAX, O_NOFOLLOW, &buf, &len, NULL, e);
	if (err)
		return err;
	err = ob_verdicts_parse(key, buf, len, vs, e);
	return err ? ob_err_wrap(e, err, "%s", path) : 0;
}

static int by_saved(const void *a, const void *b)
{
	const struct ob_verdicts *x = a, *y = b;

	if (x->saved != y->saved)
		return x->saved < y->saved ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Calls fn with every valid key of OB_VERDICTS_DIR (none if it does not
 * exist); fn's non-zero return stops the walk and is returned. */
static int each_key(int (*fn)(const char *key, void *ctx), void *ctx, struct ob_error *e)
{
	_cleanup_closedir_ DIR *d = opendir(OB_VERDICTS_DIR);
	struct dirent *de;
	int err = 0;

	if (!d && errno == ENOENT)
		return 0;
	if (!d)
		return ob_err(e, -errno, "cannot list %s: %s", OB_VERDICTS_DIR, strerror(errno));
	while (!err && (de = readdir(d))) {
		char key[OB_KEY_MAX + 1];

		if (entry_key(de->d_name, key, sizeof(key)))
			err = fn(key, ctx);
	}
	return err;
}

struct listing {
	struct ob_verdicts *all;
	int n;
};

static int list_one(const char *key, void *ctx)
{
	struct listing *l = ctx;
	struct ob_verdicts *grown = realloc(l->all, (size_t)(l->n + 1) * sizeof(*l->all));

	if (!grown)
		return -ENOMEM;
	l->all = grown;
	if (ob_verdicts_read(key, &l->all[l->n], NULL) == 0)
		l->n++;
	return 0;
}

int ob_verdicts_list(struct ob_verdicts **out, int *n, struct ob_error *e)
{
	struct listing l = { NULL, 0 };
	int err = each_key(list_one, &l, e);

	if (err) {
		free(l.all);
		*out = NULL;
		*n = 0;
		return err == -ENOMEM ? ob_err(e, err, "out of memory") : err;
	}
	if (l.n > 1)
		qsort(l.all, (size_t)l.n, sizeof(*l.all), by_saved);
	*out = l.all;
	*n = l.n;
	return 0;
}

struct forgetting {
	const char *id;
	int n;
	struct ob_error *e;
};

static int forget_one(const char *key, void *ctx)
{
	struct forgetting *f = ctx;
	size_t idlen = strlen(key) - 9; /* the key is the id, "-" and 8 digits */
	char path[PATH_MAX];

	if (f->id && strcmp(f->id, key) && (strlen(f->id) != idlen || strncmp(f->id, key, idlen)))
		return 0;
	path_of(key, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		return ob_err(f->e, -errno, "cannot remove %s: %s", path, strerror(errno));
	f->n++;
	return 0;
}

int ob_verdicts_forget(const char *id, int *n, struct ob_error *e)
{
	struct forgetting f = { id, 0, e };
	int err = each_key(forget_one, &f, e);

	*n = f.n;
	return err;
}
