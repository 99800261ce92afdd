/* splice.c - where the runtime shim's hooks go in a config.json, found without a JSON library,
 * and the text it inserts there. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"

/*
 * Why not json-c here: the shim runs as root, unconfined, and config.json
 * carries what an image chose (process.env). json-c's parse of it runs in
 * a confined child (hook/parser.c), which only decides (struct
 * ob_bundle_plan: the mode, which hooks to add). This file, in the shim
 * itself, finds where they go by a scan of the document's structure only
 * (strings, nesting, and the keys of the three levels that matter),
 * allocates nothing but the output, and inserts text of its own making. A
 * subverted child can change whether the hooks are added, never what is
 * written or where. Everything else keeps its bytes.
 *
 * The member that counts is the last of its name, as for json-c and for
 * runc's decoder (Go's encoding/json): a second "hooks" replaces the
 * first's stages, so the stages are looked for in the last "hooks" only.
 */

#define SPLICE_DEPTH 64 /* the child's json-c stops at OB_JSON_DEPTH (24) */
#define KEY_MAX	     32 /* longer keys match nothing we look for */

enum target { T_NONE, T_ROOT, T_HOOKS, T_ANNOT, T_CREATE, T_POSTSTOP, T_COUNT };

/* A member's value: where its brackets are, and whether it has members. */
struct span {
	size_t open, close; /* offsets of '{' / '[' and of the matching close */
	bool found, empty;
	bool bad; /* not the container expected (an object; an array for a stage) */
};

struct scan {
	const char *b;
	size_t n, i;
	struct span at[T_COUNT];
};

static void ws(struct scan *s)
{
	while (s->i < s->n && (s->b[s->i] == ' ' || s->b[s->i] == '\t' || s->b[s->i] == '\n' ||
			       s->b[s->i] == '\r'))
		s->i++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One escape after its '\\': the code unit it stands for, or -1. */
static long escape(struct scan *s)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *p;
	long cp = 0;

	if (s->i >= s->n)
		return -1;
	p = strchr(from, s->b[s->i]);
	if (p && *p) {
		s->i++;
		return (unsigned char)to[p - from];
	}
	if (s->b[s->i] != 'u' || s->n - s->i < 5)
		return -1;
	for (int k = 1; k <= 4; k++) {
		int h = hexval(s->b[s->i + (size_t)k]);

		if (h < 0)
			return -1;
		cp = cp * 16 + h;
	}
	s->i += 5;
	return cp;
}

/* The string at s->i (its opening quote). With key, its text decoded
 * into key when it is ASCII and short (*fits), for a comparison. */
static int string(struct scan *s, char *key, bool *fits)
{
	size_t k = 0;
	bool ok = key != NULL;

	s->i++;
	while (s->i < s->n) {
		unsigned char c = (unsigned char)s->b[s->i++];
		long cp = c;

		if (c == '"') {
			if (key)
				key[ok ? k : 0] = '\0';
			if (fits)
				*fits = ok;
			return 0;
		}
		if (c < 0x20)
			return -EINVAL;
		if (c == '\\' && (cp = escape(s)) < 0)
			return -EINVAL;
		if (cp == 0 || cp > 0x7f || k + 1 >= KEY_MAX)
			ok = false;
		else if (ok)
			key[k++] = (char)cp;
	}
	return -EINVAL;
}

/* true, false, null or a number (its characters: the child's parse
 * checked the rest). */
static int scalar(struct scan *s)
{
	static const char *const lit[] = { "true", "false", "null" };
	size_t start = s->i;

	for (size_t k = 0; k < sizeof(lit) / sizeof(*lit); k++) {
		size_t n = strlen(lit[k]);

		if (s->n - s->i >= n && !memcmp(s->b + s->i, lit[k], n)) {
			s->i += n;
			return 0;
		}
	}
	while (s->i < s->n &&
	       ((s->b[s->i] >= '0' && s->b[s->i] <= '9') || s->b[s->i] == '-' ||
		s->b[s->i] == '+' || s->b[s->i] == '.' || s->b[s->i] == 'e' || s->b[s->i] == 'E'))
		s->i++;
	return s->i > start && s->b[s->i - 1] >= '0' && s->b[s->i - 1] <= '9' ? 0 : -EINVAL;
}

/* What a member named key of a value that is parent is. */
static enum target member(enum target parent, const char *key)
{
	if (parent == T_ROOT && !strcmp(key, "hooks"))
		return T_HOOKS;
	if (parent == T_ROOT && !strcmp(key, "annotations"))
		return T_ANNOT;
	if (parent == T_HOOKS && !strcmp(key, "createRuntime"))
		return T_CREATE;
	if (parent == T_HOOKS && !strcmp(key, "poststop"))
		return T_POSTSTOP;
	return T_NONE;
}

static int value(struct scan *s, enum target t, int depth);

/* An object or array at s->i; t: what it is (its span is kept). */
static int container(struct scan *s, enum target t, int depth)
{
	char open = s->b[s->i], close = open == '{' ? '}' : ']', key[KEY_MAX];
	struct span sp = { .open = s->i, .found = true, .empty = true };
	bool fits;
	int rc;

	if (depth > SPLICE_DEPTH)
		return -E2BIG;
	s->i++;
	ws(s);
	if (s->i < s->n && s->b[s->i] == close)
		goto done;
	for (;;) {
		enum target mt = T_NONE;

		ws(s);
		if (open == '{') {
			if (s->i >= s->n || s->b[s->i] != '"')
				return -EINVAL;
			rc = string(s, key, &fits);
			if (rc)
				return rc;
			if (fits && t != T_NONE)
				mt = member(t, key);
			ws(s);
			if (s->i >= s->n || s->b[s->i] != ':')
				return -EINVAL;
			s->i++;
		}
		rc = value(s, mt, depth + 1);
		if (rc)
			return rc;
		sp.empty = false;
		ws(s);
		if (s->i >= s->n)
			return -EINVAL;
		if (s->b[s->i] == close)
			break;
		if (s->b[s->i] != ',')
			return -EINVAL;
		s->i++;
	}
done:
	sp.close = s->i++;
	if (t != T_NONE) {
		sp.bad = open != (t == T_CREATE || t == T_POSTSTOP ? '[' : '{');
		s->at[t] = sp;
	}
	return 0;
}

static int value(struct scan *s, enum target t, int depth)
{
	ws(s);
	if (s->i >= s->n)
		return -EINVAL;
	/* the last "hooks" is the one that counts: its stages only */
	if (t == T_HOOKS)
		s->at[T_CREATE] = s->at[T_POSTSTOP] = (struct span){ 0 };
	if (s->b[s->i] == '{' || s->b[s->i] == '[')
		return container(s, t, depth);
	if (t != T_NONE)
		s->at[t] = (struct span){ .found = true, .bad = true };
	return s->b[s->i] == '"' ? string(s, NULL, NULL) : scalar(s);
}

/* The document's structure: a single object, nothing after it. */
static int scan(struct scan *s, const char *buf, size_t len, struct ob_error *e)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->b = buf;
	s->n = len;
	ws(s);
	if (s->i >= s->n || s->b[s->i] != '{')
		return ob_err(e, -EINVAL, "config.json is not a JSON object");
	rc = container(s, T_ROOT, 0);
	ws(s);
	if (!rc && s->i != s->n)
		rc = -EINVAL;
	if (rc == -E2BIG)
		return ob_err(e, rc, "config.json nests deeper than %d levels", SPLICE_DEPTH);
	if (rc)
		return ob_err(e, rc, "config.json is not valid JSON near byte %zu", s->i);
	return 0;
}

/* ---- the text inserted ---- */

/* A JSON string of ours: path passed ob_path_valid (no control
 * characters), but may hold '"' or '\\'. */
static void put_string(FILE *f, const char *str)
{
	fputc('"', f);
	for (const char *c = str; *c; c++) {
		if (*c == '"' || *c == '\\')
			fputc('\\', f);
		if ((unsigned char)*c < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*c);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

static void put_hook(FILE *f, const char *path, const char *verb)
{
	fputs("{\"path\":", f);
	put_string(f, path);
	fprintf(f, ",\"args\":[\"oci-bypass\",\"hook\",\"%s\"],\"timeout\":%d}", verb,
		OB_HOOK_TIMEOUT);
}

static const char *const stage_name[2] = { "createRuntime", "poststop" };
static const char *const stage_verb[2] = { "create", "teardown" };

/* Members to insert into one object: each one's text follows a comma
 * unless it is the first (*first). */
static void put_sep(FILE *f, bool *first)
{
	if (!*first)
		fputc(',', f);
	*first = false;
}

static void put_stage(FILE *f, int k, const char *path, bool *first)
{
	put_sep(f, first);
	fprintf(f, "\"%s\":[", stage_name[k]);
	put_hook(f, path, stage_verb[k]);
	fputc(']', f);
}

static void put_annotation(FILE *f, const struct ob_bundle_plan *p, bool *first)
{
	put_sep(f, first);
	put_string(f, OB_ANNOT_MODE);
	fputc(':', f);
	put_string(f, ob_mode_name(p->mode));
}

struct insert {
	size_t at;
	char *text;
	size_t len;
};

static int insert_cmp(const void *a, const void *b)
{
	const struct insert *x = a, *y = b;

	return x->at < y->at ? -1 : x->at > y->at;
}

/* What goes where, from the plan and the scan (at most five places). */
static int plan_inserts(const struct scan *s, const struct ob_bundle_plan *p, const char *path,
			struct insert *ins, int *n)
{
	const struct span *hooks = &s->at[T_HOOKS], *annot = &s->at[T_ANNOT];
	bool add[2] = { p->add_create, p->add_poststop }, first;
	FILE *f;

	*n = 0;
	/* into the root: "hooks" and "annotations" that are not there */
	if ((!hooks->found && (add[0] || add[1])) || (!annot->found && p->add_annotation)) {
		f = open_memstream(&ins[*n].text, &ins[*n].len);
		if (!f)
			return -ENOMEM;
		first = true;
		if (!hooks->found && (add[0] || add[1])) {
			bool inner = true;

			put_sep(f, &first);
			fputs("\"hooks\":{", f);
			for (int k = 0; k < 2; k++)
				if (add[k])
					put_stage(f, k, path, &inner);
			fputc('}', f);
		}
		if (!annot->found && p->add_annotation) {
			put_sep(f, &first);
			fputs("\"annotations\":{", f);
			first = true;
			put_annotation(f, p, &first);
			fputc('}', f);
		}
		if (!s->at[T_ROOT].empty)
			fputc(',', f);
		ins[(*n)++].at = s->at[T_ROOT].open + 1;
		if (fclose(f))
			return -ENOMEM;
	}
	/* into "hooks": the stages that are not there; into a stage: ours last */
	if (hooks->found) {
		bool missing =
			(add[0] && !s->at[T_CREATE].found) || (add[1] && !s->at[T_POSTSTOP].found);

		if (missing) {
			f = open_memstream(&ins[*n].text, &ins[*n].len);
			if (!f)
				return -ENOMEM;
			first = true;
			for (int k = 0; k < 2; k++)
				if (add[k] && !s->at[T_CREATE + k].found)
					put_stage(f, k, path, &first);
			if (!hooks->empty)
				fputc(',', f);
			ins[(*n)++].at = hooks->open + 1;
			if (fclose(f))
				return -ENOMEM;
		}
		for (int k = 0; k < 2; k++) {
			const struct span *st = &s->at[T_CREATE + k];

			if (!add[k] || !st->found)
				continue;
			f = open_memstream(&ins[*n].text, &ins[*n].len);
			if (!f)
				return -ENOMEM;
			if (!st->empty)
				fputc(',', f);
			put_hook(f, path, stage_verb[k]);
			ins[(*n)++].at = st->close;
			if (fclose(f))
				return -ENOMEM;
		}
	}
	/* into "annotations" */
	if (annot->found && p->add_annotation) {
		f = open_memstream(&ins[*n].text, &ins[*n].len);
		if (!f)
			return -ENOMEM;
		first = true;
		put_annotation(f, p, &first);
		if (!annot->empty)
			fputc(',', f);
		ins[(*n)++].at = annot->open + 1;
		if (fclose(f))
			return -ENOMEM;
	}
	return 0;
}

int ob_bundle_splice(const char *buf, size_t len, const char *hook_path,
		     const struct ob_bundle_plan *p, char **out, size_t *out_len,
		     struct ob_error *e)
{
	struct insert ins[5] = { 0 };
	size_t total = len + 2, from = 0, o = 0;
	struct scan s;
	int n = 0, rc;

	*out = NULL;
	*out_len = 0;
	if (!hook_path || !ob_path_valid(hook_path))
		return ob_err(e, -EINVAL,
			      "hook path is not an absolute path without \"..\" or "
			      "control characters");
	if ((unsigned)p->mode > OB_MODE_REQUIRED)
		return ob_err(e, -EINVAL, "plan: no such mode %d", (int)p->mode);
	rc = scan(&s, buf, len, e);
	if (rc)
		return rc;
	if ((s.at[T_HOOKS].found && s.at[T_HOOKS].bad) ||
	    (p->add_create && s.at[T_CREATE].found && s.at[T_CREATE].bad) ||
	    (p->add_poststop && s.at[T_POSTSTOP].found && s.at[T_POSTSTOP].bad))
		return ob_err(e, -EINVAL,
			      "config.json: \"hooks\" or a stage of it is of the "
			      "wrong type");
	if (p->add_annotation && s.at[T_ANNOT].found && s.at[T_ANNOT].bad)
		return ob_err(e, -EINVAL, "config.json: \"annotations\" is not an object");
	rc = plan_inserts(&s, p, hook_path, ins, &n);
	for (int k = 0; !rc && k < n; k++)
		total += ins[k].len;
	if (!rc && !(*out = malloc(total)))
		rc = -ENOMEM;
	if (rc) {
		ob_err(e, rc, "config.json: out of memory");
		goto out;
	}
	qsort(ins, (size_t)n, sizeof(*ins), insert_cmp);
	for (int k = 0; k < n; k++) {
		memcpy(*out + o, buf + from, ins[k].at - from);
		o += ins[k].at - from;
		memcpy(*out + o, ins[k].text, ins[k].len);
		o += ins[k].len;
		from = ins[k].at;
	}
	memcpy(*out + o, buf + from, len - from);
	o += len - from;
	(*out)[o] = '\0';
	*out_len = o;
	/* what we wrote is JSON again, or nothing is written */
	rc = scan(&s, *out, o, e);
	if (rc) {
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
out:
	for (int k = 0; k < n; k++)
		free(ins[k].text);
	return rc;
}
