/* hooksd.c - the hooks.d file (podman, CRI-O) and the CDI spec (containerd, Docker) that run the
 * hook, and a hooks.d validator. */
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <string.h>

#include "oci.h"
#include "ob_json.h"

#define HOOKSD_VERSION	 "1.0.0"
#define CDI_VERSION	 "0.6.0"
#define CDI_KIND	 "oci-bypass.io/net"
#define MODE_KEY_REGEX	 "^io\\.oci-bypass\\.mode$"
#define MODE_VALUE_REGEX "^(on|required)$"

/* ---- building ---- */

/* Adds val to o under key; takes the reference to val, also on failure. */
static bool add(struct json_object *o, const char *key, struct json_object *val)
{
	if (!val)
		return false;
	if (json_object_object_add(o, key, val)) {
		json_object_put(val);
		return false;
	}
	return true;
}

static bool push(struct json_object *arr, struct json_object *val)
{
	if (!val)
		return false;
	if (json_object_array_add(arr, val)) {
		json_object_put(val);
		return false;
	}
	return true;
}

static struct json_object *string_array(const char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array();
	size_t i;

	if (!a)
		return NULL;
	for (i = 0; i < n; i++) {
		if (!push(a, json_object_new_string(v[i]))) {
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

/* Serialises o, puts it and writes the text plus a newline to f. */
static int emit(FILE *f, struct json_object *o, const char *what, bool validate, struct ob_error *e)
{
	const char *text;
	size_t len;
	int rc = 0;

	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text) {
		json_object_put(o);
		return ob_err(e, -ENOMEM, "%s: out of memory", what);
	}
	len = strlen(text);
	if (validate) {
		rc = ob_hooksd_validate(text, len, e);
		if (rc) {
			json_object_put(o);
			return rc; /* a bug here: the sentence says what */
		}
	}
	if (fwrite(text, 1, len, f) != len || fputc('\n', f) == EOF || fflush(f) == EOF)
		rc = ob_err(e, -EIO, "cannot write the %s", what);
	json_object_put(o);
	return rc;
}

static int check_hook_path(const char *hook_path, struct ob_error *e)
{
	char q[OB_QUOTE_MAX];

	if (hook_path && ob_path_valid(hook_path))
		return 0;
	ob_quote(q, sizeof(q), hook_path ? hook_path : "", hook_path ? strlen(hook_path) : 0);
	return ob_err(
		e, -EINVAL,
		"hook path %s is not an absolute path without \"..\" or control characters", q);
}

int ob_hooksd_write(FILE *f, const char *hook_path, bool always, struct ob_error *e)
{
	static const char *const args[] = {"oci-bypass", "hook"};
	static const char *const stages[] = {"createRuntime", "poststop"};
	struct json_object *root, *hook, *when, *annots;
	bool ok;
	int rc;

	rc = check_hook_path(hook_path, e);
	if (rc)
		return rc;
	root = json_object_new_object();
	hook = json_object_new_object();
	when = json_object_new_object();
	ok = root && hook && when;
	ok = ok && add(hook, "path", json_object_new_string(hook_path));
	ok = ok && add(hook, "args", string_array(args, 2));
	ok = ok && add(hook, "timeout", json_object_new_int(OB_HOOK_TIMEOUT));
	if (ok && always) {
		ok = add(when, "always", json_object_new_boolean(1));
	} else if (ok) {
		annots = json_object_new_object();
		ok = annots &&
		     add(annots, MODE_KEY_REGEX, json_object_new_string(MODE_VALUE_REGEX));
		ok = add(when, "annotations", annots) && ok;
	}
	ok = ok && add(root, "version", json_object_new_string(HOOKSD_VERSION));
	if (ok) {
		ok = add(root, "hook", hook);
		hook = NULL;
	}
	if (ok) {
		ok = add(root, "when", when);
		when = NULL;
	}
	ok = ok && add(root, "stages", string_array(stages, 2));
	json_object_put(hook);
	json_object_put(when);
	if (!ok) {
		json_object_put(root);
		return ob_err(e, -ENOMEM, "hooks.d file: out of memory");
	}
	return emit(f, root, "hooks.d file", true, e);
}

static struct json_object *cdi_hook(const char *stage, const char *path, const char *verb)
{
	const char *const args[] = {"oci-bypass", "hook", verb};
	struct json_object *h = json_object_new_object();
	bool ok;

	ok = h && add(h, "hookName", json_object_new_string(stage));
	ok = ok && add(h, "path", json_object_new_string(path));
	ok = ok && add(h, "args", string_array(args, 3));
	ok = ok && add(h, "timeout", json_object_new_int(OB_HOOK_TIMEOUT));
	if (!ok) {
		json_object_put(h);
		return NULL;
	}
	return h;
}

int ob_cdi_write(FILE *f, const char *hook_path, struct ob_error *e)
{
	struct json_object *root, *devices, *dev, *edits, *hooks;
	bool ok;
	int rc;

	rc = check_hook_path(hook_path, e);
	if (rc)
		return rc;
	root = json_object_new_object();
	ok = root && add(root, "cdiVersion", json_object_new_string(CDI_VERSION));
	ok = ok && add(root, "kind", json_object_new_string(CDI_KIND));
	hooks = json_object_new_array();
	ok = ok && hooks;
	ok = ok && push(hooks, cdi_hook("createRuntime", hook_path, "create"));
	ok = ok && push(hooks, cdi_hook("poststop", hook_path, "teardown"));
	edits = json_object_new_object();
	ok = edits && ok;
	if (ok)
		ok = add(edits, "hooks", hooks);
	else
		json_object_put(hooks);
	dev = json_object_new_object();
	ok = dev && ok;
	ok = ok && add(dev, "name", json_object_new_string("on"));
	if (ok)
		ok = add(dev, "containerEdits", edits);
	else
		json_object_put(edits);
	devices = json_object_new_array();
	ok = devices && ok;
	if (ok)
		ok = push(devices, dev);
	else
		json_object_put(dev);
	if (ok)
		ok = add(root, "devices", devices);
	else
		json_object_put(devices);
	if (!ok) {
		json_object_put(root);
		return ob_err(e, -ENOMEM, "CDI spec: out of memory");
	}
	return emit(f, root, "CDI spec", false, e);
}

/* ---- validating ---- */

#define WHAT "hooks.d file"

static const char *const known_stages[] = {
	"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
};

/*
 * glibc's regcomp has two blow-ups that fuzz_hooksd_validate found:
 * - it copies the operand of every '+' and {m,n} (parse_dup_op ->
 *   duplicate_tree), so "a+++..." or "((a{1000}){1000}){1000}" need memory
 *   exponential in the pattern length;
 * - a loop ('*', '+', {m,}) around something that can match the empty
 *   string makes it take time exponential in the number of copies:
 *   "(((a*)*)?){20}" takes a second, {25} more than 20 s.
 * So estimate the tree it would build and refuse loops over empty-matching
 * operands before calling it. Both are pointless in a hooks.d regex (Go's
 * regexp, which podman uses, refuses stacked operators like "a**" and
 * counts over 1000).
 */
#define REGEX_TREE_MAX	 2048ULL
#define REGEX_GROUPS_MAX 64

enum regex_verdict { RE_CHEAP = 0, RE_TOO_BIG, RE_EMPTY_LOOP, RE_TOO_DEEP };

struct re_group {
	unsigned long long total; /* tree nodes so far */
	unsigned long long last;  /* nodes of the last atom (the operand of a postfix) */
	bool last_empty;	  /* the last atom can match "" */
	bool alt_empty;		  /* the current alternative can match "" so far */
	bool alt_empty_before;	  /* ... before its last atom */
	bool any_alt_empty;	  /* a finished alternative can match "" */
};

static unsigned long long sat_add(unsigned long long a, unsigned long long b)
{
	return a + b > REGEX_TREE_MAX ? REGEX_TREE_MAX + 1 : a + b;
}

static unsigned long long sat_mul(unsigned long long a, unsigned long long b)
{
	return b && a > REGEX_TREE_MAX / b ? REGEX_TREE_MAX + 1 : a * b;
}

/* Skips a bracket expression starting at re[i] == '['; returns the index of its ']'. */
static size_t skip_bracket(const char *re, size_t len, size_t i)
{
	i++;
	if (i < len && re[i] == '^')
		i++;
	if (i < len && re[i] == ']')
		i++;
	for (; i < len && re[i] != ']'; i++) {
		if (re[i] == '[' && i + 1 < len &&
		    (re[i + 1] == ':' || re[i + 1] == '.' || re[i + 1] == '=')) {
			char end = re[i + 1];

			for (i += 2; i + 1 < len && !(re[i] == end && re[i + 1] == ']'); i++)
				;
			i++;
		}
	}
	return i;
}

static unsigned long parse_count(const char *re, size_t len, size_t *i)
{
	unsigned long v = 0;

	for (; *i < len && re[*i] >= '0' && re[*i] <= '9'; (*i)++)
		if (v < 100000)
			v = v * 10 + (unsigned long)(re[*i] - '0');
	return v;
}

/*
 * re[*i] is '{': if a bound {m}, {m,}, {m,n} or {,n} follows, leaves *i on
 * the '}' and sets *m, *n (n is ULONG_MAX for {m,}).
 */
static bool parse_bound(const char *re, size_t len, size_t *i, unsigned long *m, unsigned long *n)
{
	size_t j = *i + 1;

	if (j >= len || !((re[j] >= '0' && re[j] <= '9') || re[j] == ','))
		return false;
	*m = *n = parse_count(re, len, &j);
	if (j < len && re[j] == ',') {
		j++;
		if (j < len && re[j] >= '0' && re[j] <= '9')
			*n = parse_count(re, len, &j);
		else
			*n = ULONG_MAX;
	}
	if (j >= len || re[j] != '}')
		return false;
	*i = j;
	return true;
}

static void group_start(struct re_group *g)
{
	memset(g, 0, sizeof(*g));
	g->alt_empty = true;
}

static void add_atom(struct re_group *g, unsigned long long size, bool empty)
{
	g->last = size;
	g->last_empty = empty;
	g->alt_empty_before = g->alt_empty;
	g->alt_empty = g->alt_empty && empty;
	g->total = sat_add(g->total, size);
}

/* A postfix operator: min copies of the operand are required, max allowed (ULONG_MAX: a loop). */
static enum regex_verdict add_repeat(struct re_group *g, unsigned long min, unsigned long max)
{
	unsigned long long copies, size;

	if (max == ULONG_MAX && g->last_empty)
		return RE_EMPTY_LOOP;
	/* glibc: min copies plus (max - min) optional ones, or one starred copy for a loop. */
	copies = max == ULONG_MAX ? (unsigned long long)min + 1 : max;
	if (copies < 1)
		copies = 1;
	size = sat_mul(sat_add(g->last, 1), copies);
	g->total = sat_add(g->total - g->last, size);
	g->last = size;
	if (min == 0) {
		g->last_empty = true;
		g->alt_empty = g->alt_empty_before;
	}
	return g->total > REGEX_TREE_MAX ? RE_TOO_BIG : RE_CHEAP;
}

static enum regex_verdict regex_cheap(const char *re, size_t len)
{
	struct re_group g[REGEX_GROUPS_MAX + 1];
	enum regex_verdict v = RE_CHEAP;
	unsigned long m, n;
	int depth = 0;
	size_t i;

	group_start(&g[0]);
	for (i = 0; i < len && v == RE_CHEAP; i++) {
		struct re_group *cur = &g[depth];

		switch (re[i]) {
		case '\\':
			i++;
			/* \1..\9 back-references may match "". */
			add_atom(cur, 1, i < len && re[i] >= '1' && re[i] <= '9');
			break;
		case '[':
			i = skip_bracket(re, len, i);
			add_atom(cur, 1, false);
			break;
		case '^':
		case '$':
			add_atom(cur, 1, true);
			break;
		case '(':
			if (depth == REGEX_GROUPS_MAX)
				return RE_TOO_DEEP;
			group_start(&g[++depth]);
			break;
		case ')':
			if (depth == 0) {
				add_atom(cur, 1, false); /* an unmatched ')' is ordinary */
				break;
			}
			depth--;
			add_atom(&g[depth], sat_add(cur->total, 3),
				 cur->any_alt_empty || cur->alt_empty);
			break;
		case '|':
			cur->any_alt_empty = cur->any_alt_empty || cur->alt_empty;
			cur->alt_empty = true;
			cur->last = 0;
			cur->last_empty = false;
			cur->total = sat_add(cur->total, 1);
			break;
		case '*':
			v = add_repeat(cur, 0, ULONG_MAX);
			break;
		case '+':
			v = add_repeat(cur, 1, ULONG_MAX);
			break;
		case '?':
			v = add_repeat(cur, 0, 1);
			break;
		case '{':
			if (parse_bound(re, len, &i, &m, &n))
				v = add_repeat(cur, m, n);
			else
				add_atom(cur, 1,
					 false); /* not a bound: ordinary, or regcomp says why */
			break;
		default:
			add_atom(cur, 1, false);
			break;
		}
		if (v == RE_CHEAP && g[depth].total > REGEX_TREE_MAX)
			v = RE_TOO_BIG;
	}
	return v;
}

static int check_regex(const char *what, const char *re, size_t len, struct ob_error *e)
{
	char q[OB_QUOTE_MAX], why[128];
	regex_t r;
	int rc;

	ob_quote(q, sizeof(q), re, len);
	if (len > OB_REGEX_MAX)
		return ob_err(e, -E2BIG, WHAT ": %s %s is longer than %d bytes", what,
				 q, OB_REGEX_MAX);
	switch (regex_cheap(re, len)) {
	case RE_CHEAP:
		break;
	case RE_TOO_BIG:
		return ob_err(e, -E2BIG,
				 WHAT
				 ": %s %s repeats too much (it would expand to over %llu nodes)",
				 what, q, REGEX_TREE_MAX);
	case RE_EMPTY_LOOP:
		return ob_err(e, -EINVAL,
				 WHAT ": %s %s repeats with '*', '+' or {m,} something that can "
				      "match nothing, which regcomp takes exponential time for",
				 what, q);
	case RE_TOO_DEEP:
		return ob_err(e, -E2BIG, WHAT ": %s %s nests more than %d groups",
				 what, q, REGEX_GROUPS_MAX);
	}
	rc = regcomp(&r, re, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		regerror(rc, &r, why, sizeof(why)); /* no regfree: regcomp failed */
		return ob_err(e, -EINVAL, WHAT ": %s %s is not a valid regex: %s",
				 what, q, why);
	}
	regfree(&r);
	return 0;
}

/* v must be an array of strings without NUL; each is checked as a regex if regex. */
static int check_strings(struct json_object *v, const char *name, bool regex, size_t *count,
			 struct ob_error *e)
{
	size_t i, n;

	*count = 0;
	if (!json_object_is_type(v, json_type_array))
		return ob_err(e, -EINVAL, WHAT ": %s is a JSON %s, not an array", name,
				 ob_json_type_name(v));
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		struct json_object *el = json_object_array_get_idx(v, i);
		const char *s;
		size_t len;
		int rc;

		if (!ob_json_string(el, &s, &len))
			return ob_err(e, -EINVAL,
					 WHAT ": %s[%zu] is a JSON %s, not a string", name, i,
					 ob_json_type_name(el));
		if (regex) {
			rc = check_regex(name, s, len, e);
			if (rc)
				return rc;
		}
	}
	*count = n;
	return 0;
}

static int check_hook(struct json_object *root, struct ob_error *e)
{
	struct json_object *hook = ob_json_get(root, "hook"), *v;
	char q[OB_QUOTE_MAX];
	const char *s;
	size_t len, n;
	int rc;

	if (!hook)
		return ob_err(e, -EINVAL, WHAT " has no \"hook\"");
	if (!json_object_is_type(hook, json_type_object))
		return ob_err(e, -EINVAL,
				 WHAT ": \"hook\" is a JSON %s, not an object",
				 ob_json_type_name(hook));
	v = ob_json_get(hook, "path");
	if (!v)
		return ob_err(e, -EINVAL, WHAT " has no hook.path");
	if (!ob_json_string(v, &s, &len))
		return ob_err(e, -EINVAL,
				 WHAT ": hook.path is a JSON %s, not a string",
				 ob_json_type_name(v));
	if (!ob_path_valid(s)) {
		ob_quote(q, sizeof(q), s, len);
		return ob_err(e, -EINVAL,
				 WHAT ": hook.path %s is not an absolute path without \"..\" or "
				      "control characters",
				 q);
	}
	v = ob_json_get(hook, "args");
	if (v) {
		rc = check_strings(v, "hook.args", false, &n, e);
		if (rc)
			return rc;
	}
	v = ob_json_get(hook, "env");
	if (v) {
		rc = check_strings(v, "hook.env", false, &n, e);
		if (rc)
			return rc;
	}
	v = ob_json_get(hook, "timeout");
	if (v) {
		int64_t t;

		if (!json_object_is_type(v, json_type_int))
			return ob_err(e, -EINVAL,
					 WHAT ": hook.timeout is a JSON %s, not an integer",
					 ob_json_type_name(v));
		t = json_object_get_int64(v);
		if (t < 1 || t > INT_MAX)
			return ob_err(e, -EINVAL,
					 WHAT ": hook.timeout %lld is not a number of seconds > 0",
					 (long long)t);
	}
	return 0;
}

static int check_bool(struct json_object *when, const char *key, bool *present, struct ob_error *e)
{
	struct json_object *v = ob_json_get(when, key);

	*present = false;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return ob_err(e, -EINVAL, WHAT ": when.%s is a JSON %s, not a boolean",
				 key, ob_json_type_name(v));
	*present = true;
	return 0;
}

static int check_when(struct json_object *root, struct ob_error *e)
{
	struct json_object *when = ob_json_get(root, "when"), *v;
	bool always, bind, or ;
	size_t n_annot = 0, n_cmd = 0;
	int rc;

	if (!when)
		return ob_err(e, -EINVAL, WHAT " has no \"when\"");
	if (!json_object_is_type(when, json_type_object))
		return ob_err(e, -EINVAL,
				 WHAT ": \"when\" is a JSON %s, not an object",
				 ob_json_type_name(when));
	rc = check_bool(when, "always", &always, e);
	if (!rc)
		rc = check_bool(when, "hasBindMounts", &bind, e);
	if (!rc)
		rc = check_bool(when, "or", & or, e);
	if (rc)
		return rc;
	v = ob_json_get(when, "annotations");
	if (v) {
		if (!json_object_is_type(v, json_type_object))
			return ob_err(e, -EINVAL,
					 WHAT ": when.annotations is a JSON %s, not an object",
					 ob_json_type_name(v));
		json_object_object_foreach(v, key, val)
		{
			const char *s;
			size_t len;

			rc = check_regex("when.annotations key", key, strlen(key), e);
			if (rc)
				return rc;
			if (!ob_json_string(val, &s, &len)) {
				char q[OB_QUOTE_MAX];

				ob_quote(q, sizeof(q), key, strlen(key));
				return ob_err(e, -EINVAL,
						 WHAT
						 ": when.annotations %s is a JSON %s, not a string",
						 q, ob_json_type_name(val));
			}
			rc = check_regex("when.annotations value", s, len, e);
			if (rc)
				return rc;
			n_annot++;
		}
	}
	v = ob_json_get(when, "commands");
	if (v) {
		rc = check_strings(v, "when.commands", true, &n_cmd, e);
		if (rc)
			return rc;
	}
	if (!always && !bind && !n_annot && !n_cmd)
		return ob_err(e, -EINVAL,
				 WHAT ": \"when\" sets no condition (always, annotations, commands "
				      "or hasBindMounts)");
	return 0;
}

static int check_stages(struct json_object *root, struct ob_error *e)
{
	struct json_object *v = ob_json_get(root, "stages");
	const size_t nk = sizeof(known_stages) / sizeof(known_stages[0]);
	bool seen[sizeof(known_stages) / sizeof(known_stages[0])] = {false};
	char q[OB_QUOTE_MAX];
	size_t i, k, n;
	int rc;

	if (!v)
		return ob_err(e, -EINVAL, WHAT " has no \"stages\"");
	rc = check_strings(v, "stages", false, &n, e);
	if (rc)
		return rc;
	if (!n)
		return ob_err(e, -EINVAL, WHAT ": \"stages\" is empty");
	for (i = 0; i < n; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(v, i));

		for (k = 0; k < nk; k++)
			if (!strcmp(s, known_stages[k]))
				break;
		ob_quote(q, sizeof(q), s, strlen(s));
		if (k == nk)
			return ob_err(e, -EINVAL,
					 WHAT
					 ": unknown stage %s (known: prestart, createRuntime, "
					 "createContainer, startContainer, poststart, poststop)",
					 q);
		if (seen[k])
			return ob_err(e, -EINVAL, WHAT ": stage %s is listed twice",
					 q);
		seen[k] = true;
	}
	return 0;
}

int ob_hooksd_validate(const char *buf, size_t len, struct ob_error *e)
{
	struct json_object *root, *v;
	char q[OB_QUOTE_MAX];
	const char *s;
	size_t slen;
	int rc;

	rc = ob_json_parse_object(buf, len, OB_HOOKSD_MAX, WHAT, &root, e);
	if (rc)
		return rc;
	v = ob_json_get(root, "version");
	if (!v) {
		rc = ob_err(e, -EINVAL, WHAT " has no \"version\" (want \"%s\")",
			       HOOKSD_VERSION);
	} else if (!ob_json_string(v, &s, &slen)) {
		rc = ob_err(e, -EINVAL,
			       WHAT ": \"version\" is a JSON %s, not a string",
			       ob_json_type_name(v));
	} else if (strcmp(s, HOOKSD_VERSION)) {
		ob_quote(q, sizeof(q), s, slen);
		rc = ob_err(e, -EINVAL, WHAT ": version %s is not \"%s\"", q,
			       HOOKSD_VERSION);
	}
	if (!rc)
		rc = check_hook(root, e);
	if (!rc)
		rc = check_when(root, e);
	if (!rc)
		rc = check_stages(root, e);
	json_object_put(root);
	return rc;
}
