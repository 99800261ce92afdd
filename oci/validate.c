/* validate.c - what a name or container id, a path, a mode and a port list may look like. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"
#include "ob_json.h"

bool ob_name_valid(const char *id, size_t max)
{
	size_t i;

	if (!id || !id[0] || id[0] == '.' || id[0] == '-')
		return false;
	for (i = 0; id[i]; i++) {
		char c = id[i];

		if (i >= max)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '+' || c == '-'))
			return false;
		if (c == '.' && id[i + 1] == '.')
			return false;
	}
	return true;
}

bool ob_path_valid(const char *path)
{
	size_t i;

	if (!path || path[0] != '/')
		return false;
	for (i = 0; path[i]; i++) {
		unsigned char c = (unsigned char)path[i];

		if (i >= OB_PATH_MAX - 1)
			return false;
		if (c < 0x20 || c == 0x7f)
			return false;
		/* A ".." component: "/.." followed by '/' or the end. */
		if (c == '/' && path[i + 1] == '.' && path[i + 2] == '.' &&
		    (path[i + 3] == '/' || path[i + 3] == '\0'))
			return false;
	}
	return true;
}

bool ob_child_valid(const char *path, const char *prefix, size_t max)
{
	size_t n = strlen(prefix);

	return path && !strncmp(path, prefix, n) && ob_name_valid(path + n, max);
}

const char *ob_proc_ns_path(const char *path)
{
	const char *rel, *p;
	size_t n;

	if (!path || strncmp(path, "/proc/", 6))
		return NULL;
	rel = p = path + 6;
	if (!strncmp(p, "self/", 5))
		p += 4;
	else if (!strncmp(p, "thread-self/", 12))
		p += 11;
	else {
		n = strspn(p, "0123456789");
		if (n == 0 || n > 10 || p[0] == '0')
			return NULL;
		p += n;
	}
	if (strncmp(p, "/ns/", 4))
		return NULL;
	p += 4;
	n = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
	return n > 0 && n <= 32 && !p[n] ? rel : NULL;
}

/* The one list of io.oci-bypass.mode values: what each means, and
 * whether the hooks.d file (without --always) runs the hook for it. */
static const struct {
	const char *name;
	enum ob_mode mode;
	bool runs_hook;
} modes[] = {
	{ "on", OB_MODE_ON, true },
	{ "off", OB_MODE_OFF, false },
	{ "required", OB_MODE_REQUIRED, true },
};

bool ob_mode_parse(const char *s, enum ob_mode *m)
{
	for (size_t i = 0; s && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(s, modes[i].name)) {
			*m = modes[i].mode;
			return true;
		}
	return false;
}

const char *ob_mode_name(enum ob_mode m)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (modes[i].mode == m)
			return modes[i].name;
	return "?";
}

int ob_mode_hook_regex(char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "^(");

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (modes[i].runs_hook && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n > 2 ? "|" : "",
					      modes[i].name);
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, ")$");
	return n < len ? 0 : -ENAMETOOLONG;
}

const char *ob_stage_name(enum ob_stage s)
{
	switch (s) {
	case OB_STAGE_CREATE:
		return "create";
	case OB_STAGE_TEARDOWN:
		return "teardown";
	case OB_STAGE_UNKNOWN:
		break;
	}
	return "unknown";
}

static bool is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

int ob_noports_parse(const char *s, uint16_t *ports, int *n, struct ob_error *e)
{
	char q[OB_QUOTE_MAX];
	const char *p = s;
	int cnt = 0;

	*n = 0;
	while (*p) {
		const char *tok;
		unsigned long v = 0;
		size_t len = 0;
		int k;

		while (is_sep(*p))
			p++;
		if (!*p)
			break;
		tok = p;
		while (*p && !is_sep(*p)) {
			if (*p < '0' || *p > '9' || len >= 5) {
				while (*p && !is_sep(*p))
					p++;
				len = (size_t)(p - tok);
				ob_quote(q, sizeof(q), tok, len);
				return ob_err(e, -EINVAL, "%s is not a port number from 1 to 65535",
					      q);
			}
			v = v * 10 + (unsigned long)(*p - '0');
			p++;
			len++;
		}
		if (v < 1 || v > 65535) {
			ob_quote(q, sizeof(q), tok, len);
			return ob_err(e, -EINVAL, "%s is not a port number from 1 to 65535", q);
		}
		for (k = 0; k < cnt; k++)
			if (ports[k] == v)
				break;
		if (k < cnt)
			continue; /* duplicates are harmless */
		if (cnt >= OB_NOPORTS_MAX)
			return ob_err(e, -E2BIG, "more than %d distinct ports", OB_NOPORTS_MAX);
		ports[cnt++] = (uint16_t)v;
	}
	*n = cnt;
	return 0;
}

/* A byte count with an optional k, m or g suffix (powers of 1024). */
int ob_parse_bytes(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out,
		   struct ob_error *e)
{
	unsigned long long n;
	char *end;
	int shift = 0;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (!errno && end != s && s[0] != '-' && end[0] && !end[1]) {
		switch (end[0]) {
		case 'k':
		case 'K':
			shift = 10;
			end++;
			break;
		case 'm':
		case 'M':
			shift = 20;
			end++;
			break;
		case 'g':
		case 'G':
			shift = 30;
			end++;
			break;
		}
	}
	if (errno || end == s || *end || s[0] == '-' || n > (max >> shift) || (n << shift) < min) {
		char q[OB_QUOTE_MAX];

		/* s may come from an image's annotation: quoted, as every value */
		ob_quote(q, sizeof(q), s, strlen(s));
		return ob_err(e, -EINVAL,
			      "%s takes %llu to %llu bytes (k, m, g suffixes allowed), not %s", opt,
			      (unsigned long long)min, (unsigned long long)max, q);
	}
	*out = (uint64_t)n << shift;
	return 0;
}
