/* state.c - the OCI state JSON a hook reads on stdin, and the hook stage it implies. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "oci.h"
#include "ob_json.h"

#define WHAT "state JSON"

/* A required (or optional) string member, copied into dst[dstlen]. */
static int get_string(struct json_object *root, const char *key, bool required, char *dst,
		      size_t dstlen, struct ob_error *e)
{
	struct json_object *v = ob_json_get(root, key);
	char q[OB_QUOTE_MAX];
	const char *s;
	size_t len, i;

	if (!v) {
		if (!required)
			return 0;
		return ob_err(e, -EINVAL, WHAT " has no \"%s\"", key);
	}
	if (!ob_json_string(v, &s, &len))
		return ob_err(e, -EINVAL, WHAT ": \"%s\" is a JSON %s, not a string", key,
			      ob_json_type_name(v));
	if (len >= dstlen) {
		ob_quote(q, sizeof(q), s, len);
		return ob_err(e, -ENAMETOOLONG, WHAT ": \"%s\" %s is longer than %zu bytes", key, q,
			      dstlen - 1);
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			ob_quote(q, sizeof(q), s, len);
			return ob_err(e, -EINVAL, WHAT ": \"%s\" %s contains a control character",
				      key, q);
		}
	}
	memcpy(dst, s, len + 1);
	return 0;
}

static int get_pid(struct json_object *root, int *pid, struct ob_error *e)
{
	struct json_object *v = ob_json_get(root, "pid");
	int64_t n;

	*pid = 0;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return ob_err(e, -EINVAL, WHAT ": \"pid\" is a JSON %s, not an integer",
			      ob_json_type_name(v));
	/* json-c clamps out-of-range integers to INT64_MIN / INT64_MAX. */
	n = json_object_get_int64(v);
	if (n < 0 || n > INT_MAX)
		return ob_err(e, -EINVAL, WHAT ": \"pid\" %lld is not a process id (0 to %d)",
			      (long long)n, INT_MAX);
	*pid = (int)n;
	return 0;
}

/* The annotations must be an object of strings; what they say is
 * config.json's business (ob_config_parse), not the state's. */
static int check_annotations(struct json_object *root, struct ob_error *e)
{
	struct json_object *a;

	return ob_json_annotations(root, WHAT, &a, e);
}

static int parse(struct json_object *root, struct ob_state *st, struct ob_error *e)
{
	char q[OB_QUOTE_MAX];
	size_t i;
	int rc;

	rc = get_string(root, "id", true, st->id, sizeof(st->id), e);
	if (rc)
		return rc;
	if (!ob_name_valid(st->id, OB_ID_MAX)) {
		ob_quote(q, sizeof(q), st->id, strlen(st->id));
		return ob_err(e, -EINVAL,
			      WHAT ": container id %s is not 1-%d of [A-Za-z0-9_.+-] "
				   "starting with a letter, digit, '_' or '+', without \"..\"",
			      q, OB_ID_MAX);
	}
	rc = get_string(root, "status", true, st->status, sizeof(st->status), e);
	if (rc)
		return rc;
	for (i = 0; st->status[i]; i++)
		if (st->status[i] < 'a' || st->status[i] > 'z')
			break;
	if (!st->status[0] || st->status[i]) {
		ob_quote(q, sizeof(q), st->status, strlen(st->status));
		return ob_err(e, -EINVAL, WHAT ": status %s is not an OCI status", q);
	}
	rc = get_pid(root, &st->pid, e);
	if (rc)
		return rc;
	rc = get_string(root, "bundle", true, st->bundle, sizeof(st->bundle), e);
	if (rc)
		return rc;
	if (!ob_path_valid(st->bundle)) {
		ob_quote(q, sizeof(q), st->bundle, strlen(st->bundle));
		return ob_err(e, -EINVAL, WHAT ": bundle %s is not an absolute path without \"..\"",
			      q);
	}
	return check_annotations(root, e);
}

int ob_state_parse(const char *buf, size_t len, struct ob_state *st, struct ob_error *e)
{
	struct json_object *root;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = ob_json_parse_object(buf, len, OB_STATE_MAX, WHAT, &root, e);
	if (rc)
		return rc;
	rc = parse(root, st, e);
	json_object_put(root);
	if (rc)
		memset(st, 0, sizeof(*st));
	return rc;
}

static const struct {
	const char *name;
	enum ob_stage stage;
} stage_args[] = {
	{ "create", OB_STAGE_CREATE },	   { "createRuntime", OB_STAGE_CREATE },
	{ "prestart", OB_STAGE_CREATE },   { "createContainer", OB_STAGE_CREATE },
	{ "teardown", OB_STAGE_TEARDOWN }, { "poststop", OB_STAGE_TEARDOWN },
};

enum ob_stage ob_stage_from(const char *arg, const struct ob_state *st, struct ob_error *e)
{
	char q[OB_QUOTE_MAX];
	size_t i;

	if (arg) {
		for (i = 0; i < sizeof(stage_args) / sizeof(stage_args[0]); i++)
			if (!strcmp(arg, stage_args[i].name))
				return stage_args[i].stage;
		ob_quote(q, sizeof(q), arg, strlen(arg));
		ob_err(e, -EINVAL,
		       "unknown hook stage %s (use create or teardown, or an OCI stage name: "
		       "createRuntime, prestart, createContainer, poststop)",
		       q);
		return OB_STAGE_UNKNOWN;
	}
	if (!st) {
		ob_err(e, -EINVAL, "no stage given and no state to infer it from");
		return OB_STAGE_UNKNOWN;
	}
	if (!strcmp(st->status, "creating") || !strcmp(st->status, "created")) {
		if (st->pid > 0)
			return OB_STAGE_CREATE;
		ob_err(e, -EINVAL,
		       "state status is '%s' but it has no pid, so the stage is unclear "
		       "(give create or teardown)",
		       st->status);
		return OB_STAGE_UNKNOWN;
	}
	if (!strcmp(st->status, "stopped"))
		return OB_STAGE_TEARDOWN;
	ob_quote(q, sizeof(q), st->status, strnlen(st->status, sizeof(st->status)));
	ob_err(e, -EINVAL,
	       "cannot infer the stage from state status %s: the hook runs at createRuntime "
	       "(creating/created) and poststop (stopped)",
	       q);
	return OB_STAGE_UNKNOWN;
}
