/* hooksd_validate.c - checks a hooks.d file as podman needs it, regexes included (their cost:
 * regex_cost.c). */
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <string.h>

#include "oci.h"
#include "ob_json.h"
#include "hooksd.h"

#define WHAT "hooks.d file"

static const char *const known_stages[] = {
	"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
};

static int check_regex(const char *what, const char *re, size_t len, struct ob_error *e)
{
	char q[OB_QUOTE_MAX], why[128];
	regex_t r;
	int rc;

	ob_quote(q, sizeof(q), re, len);
	if (len > OB_REGEX_MAX)
		return ob_err(e, -E2BIG, WHAT ": %s %s is longer than %d bytes", what, q,
			      OB_REGEX_MAX);
	switch (ob_regex_cost(re, len)) {
	case OB_RE_CHEAP:
		break;
	case OB_RE_TOO_BIG:
		return ob_err(e, -E2BIG,
			      WHAT ": %s %s repeats too much (it would expand to over %llu nodes)",
			      what, q, OB_REGEX_TREE_MAX);
	case OB_RE_EMPTY_LOOP:
		return ob_err(e, -EINVAL,
			      WHAT ": %s %s repeats with '*', '+' or {m,} something that can "
				   "match nothing, which regcomp takes exponential time for",
			      what, q);
	case OB_RE_TOO_DEEP:
		return ob_err(e, -E2BIG, WHAT ": %s %s nests more than %d groups", what, q,
			      OB_REGEX_GROUPS_MAX);
	}
	rc = regcomp(&r, re, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		regerror(rc, &r, why, sizeof(why)); /* no regfree: regcomp failed */
		return ob_err(e, -EINVAL, WHAT ": %s %s is not a valid regex: %s", what, q, why);
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
			return ob_err(e, -EINVAL, WHAT ": %s[%zu] is a JSON %s, not a string", name,
				      i, ob_json_type_name(el));
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
		return ob_err(e, -EINVAL, WHAT ": \"hook\" is a JSON %s, not an object",
			      ob_json_type_name(hook));
	v = ob_json_get(hook, "path");
	if (!v)
		return ob_err(e, -EINVAL, WHAT " has no hook.path");
	if (!ob_json_string(v, &s, &len))
		return ob_err(e, -EINVAL, WHAT ": hook.path is a JSON %s, not a string",
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
		return ob_err(e, -EINVAL, WHAT ": when.%s is a JSON %s, not a boolean", key,
			      ob_json_type_name(v));
	*present = true;
	return 0;
}

static int check_when(struct json_object *root, struct ob_error *e)
{
	struct json_object *when = ob_json_get(root, "when"), *v;
	bool always, bind, either;
	size_t n_annot = 0, n_cmd = 0;
	int rc;

	if (!when)
		return ob_err(e, -EINVAL, WHAT " has no \"when\"");
	if (!json_object_is_type(when, json_type_object))
		return ob_err(e, -EINVAL, WHAT ": \"when\" is a JSON %s, not an object",
			      ob_json_type_name(when));
	rc = check_bool(when, "always", &always, e);
	if (!rc)
		rc = check_bool(when, "hasBindMounts", &bind, e);
	if (!rc)
		rc = check_bool(when, "or", &either, e);
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
	bool seen[sizeof(known_stages) / sizeof(known_stages[0])] = { false };
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
				      WHAT ": unknown stage %s (known: prestart, createRuntime, "
					   "createContainer, startContainer, poststart, poststop)",
				      q);
		if (seen[k])
			return ob_err(e, -EINVAL, WHAT ": stage %s is listed twice", q);
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
		rc = ob_err(e, -EINVAL, WHAT " has no \"version\" (want \"%s\")", HOOKSD_VERSION);
	} else if (!ob_json_string(v, &s, &slen)) {
		rc = ob_err(e, -EINVAL, WHAT ": \"version\" is a JSON %s, not a string",
			    ob_json_type_name(v));
	} else if (strcmp(s, HOOKSD_VERSION)) {
		ob_quote(q, sizeof(q), s, slen);
		rc = ob_err(e, -EINVAL, WHAT ": version %s is not \"%s\"", q, HOOKSD_VERSION);
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
