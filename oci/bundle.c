/* bundle.c - what oci-bypass-runtime does to a bundle's config.json (adds the hooks), and the
 * Docker daemon.json and containerd config that register it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"
#include "ob_json.h"

#define WHAT "config.json"

/* WHAT (a hook or runtime path) must be absolute, without ".." or control characters. */
static int check_path(const char *what, const char *path, struct ob_error *e)
{
	char q[OB_QUOTE_MAX];

	if (path && ob_path_valid(path))
		return 0;
	ob_quote(q, sizeof(q), path ? path : "", path ? strlen(path) : 0);
	return ob_err(e, -EINVAL,
		      "%s %s is not an absolute path without \"..\" or control characters", what,
		      q);
}

/* A copy of o's compact text in *out (malloc'd, NUL-terminated). */
static int serialise(struct json_object *o, int flags, const char *what, char **out,
		     size_t *out_len, struct ob_error *e)
{
	const char *text =
		json_object_to_json_string_ext(o, flags | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len;

	if (!text)
		return ob_err(e, -ENOMEM, "%s: out of memory", what);
	len = strlen(text);
	*out = malloc(len + 2);
	if (!*out)
		return ob_err(e, -ENOMEM, "%s: out of memory", what);
	memcpy(*out, text, len);
	(*out)[len++] = '\n';
	(*out)[len] = '\0';
	*out_len = len;
	return 0;
}

/* ---- the mode a container asks for ---- */

/* OCI_BYPASS_MODE from process.env ("K=V" strings); *found false when absent. */

static int env_mode(struct json_object *root, enum ob_mode *mode, bool *found, struct ob_error *e)
{
	const size_t klen = strlen(OB_ENV_MODE);
	struct json_object *proc, *env;
	char q[OB_QUOTE_MAX];
	size_t i, n;

	*found = false;
	proc = ob_json_get(root, "process");
	if (!proc)
		return 0;
	if (!json_object_is_type(proc, json_type_object))
		return ob_err(e, -EINVAL, WHAT ": \"process\" is a JSON %s, not an object",
			      ob_json_type_name(proc));
	env = ob_json_get(proc, "env");
	if (!env)
		return 0;
	if (!json_object_is_type(env, json_type_array))
		return ob_err(e, -EINVAL, WHAT ": process.env is a JSON %s, not an array",
			      ob_json_type_name(env));
	n = json_object_array_length(env);
	/* The last one wins: that is the one a shell or getenv() after
	 * docker run -e sees, since the engine appends -e after the image's. */
	for (i = n; i-- > 0;) {
		struct json_object *el = json_object_array_get_idx(env, i);
		const char *s;
		size_t len;

		if (!ob_json_string(el, &s, &len))
			return ob_err(e, -EINVAL,
				      WHAT ": process.env[%zu] is a JSON %s, not a string", i,
				      ob_json_type_name(el));
		if (len <= klen || strncmp(s, OB_ENV_MODE, klen) || s[klen] != '=')
			continue;
		if (!ob_mode_parse(s + klen + 1, mode)) {
			ob_quote(q, sizeof(q), s + klen + 1, len - klen - 1);
			return ob_err(e, -EINVAL,
				      WHAT ": " OB_ENV_MODE " is %s; expected on, off or required",
				      q);
		}
		*found = true;
		return 0;
	}
	return 0;
}

/*
 * The annotation, through the hook's own policy parser (config.c: the
 * same mode values, and whatever else it refuses, refused here too), else
 * OCI_BYPASS_MODE, else on. On an error in one, the other still decides
 * if it can, so that "required" fails closed.
 */
static int decide_mode(struct json_object *root, struct ob_bundle_plan *pl, struct ob_error *e)
{
	enum ob_mode em = OB_MODE_ON;
	struct ob_error ee = { 0 };
	struct ob_policy p;
	bool efound = false;
	int arc, erc;

	arc = ob_policy_from_json(root, &p, e);
	erc = env_mode(root, &em, &efound, &ee);
	pl->mode = OB_MODE_ON;
	pl->from = OB_FROM_DEFAULT;
	if (p.mode_set) {
		pl->mode = p.mode;
		pl->from = OB_FROM_ANNOTATION;
	} else if (efound) {
		pl->mode = em;
		pl->from = OB_FROM_ENV;
	}
	if (arc)
		return arc;
	if (erc && !p.mode_set)
		return ob_err(e, erc, "%s", ee.msg);
	return 0;
}

const char *ob_mode_from_name(enum ob_mode_from from)
{
	switch (from) {
	case OB_FROM_ANNOTATION:
		return "annotation";
	case OB_FROM_ENV:
		return OB_ENV_MODE;
	default:
		return "default";
	}
}

/* ---- hooks ---- */

/* Is h one of ours: our binary, or any oci-bypass binary run as "oci-bypass hook ..."? */
static bool is_our_hook(struct json_object *h, const char *hook_path)
{
	struct json_object *p, *args, *a0, *a1;
	const char *s;
	size_t len;

	if (!h || !json_object_is_type(h, json_type_object))
		return false;
	p = ob_json_get(h, "path");
	if (p && ob_json_string(p, &s, &len) && !strcmp(s, hook_path))
		return true;
	args = ob_json_get(h, "args");
	if (!args || !json_object_is_type(args, json_type_array) ||
	    json_object_array_length(args) < 2)
		return false;
	a0 = json_object_array_get_idx(args, 0);
	a1 = json_object_array_get_idx(args, 1);
	return ob_json_string(a0, &s, &len) && !strcmp(s, "oci-bypass") &&
	       ob_json_string(a1, &s, &len) && !strcmp(s, "hook");
}

/* hooks[stage] as an array, NULL if absent; error if it is something else. */
static int stage_array(struct json_object *hooks, const char *stage, struct json_object **out,
		       struct ob_error *e)
{
	struct json_object *a = hooks ? ob_json_get(hooks, stage) : NULL;
	size_t n;

	*out = NULL;
	if (!a)
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return ob_err(e, -EINVAL, WHAT ": hooks.%s is a JSON %s, not an array", stage,
			      ob_json_type_name(a));
	n = json_object_array_length(a);
	for (size_t i = 0; i < n; i++) {
		struct json_object *h = json_object_array_get_idx(a, i);

		if (!h || !json_object_is_type(h, json_type_object))
			return ob_err(e, -EINVAL,
				      WHAT ": hooks.%s[%zu] is a JSON %s, not an object", stage, i,
				      ob_json_type_name(h));
	}
	*out = a;
	return 0;
}

static bool has_our_hook(struct json_object *arr, const char *hook_path)
{
	size_t n = arr ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++)
		if (is_our_hook(json_object_array_get_idx(arr, i), hook_path))
			return true;
	return false;
}

/* Does stage lack our hook (also under alt, when given)? */
static int stage_needs(struct json_object *hooks, const char *stage, const char *alt,
		       const char *path, bool *needs, struct ob_error *e)
{
	struct json_object *arr, *other = alt && hooks ? ob_json_get(hooks, alt) : NULL;
	int rc;

	*needs = false;
	if (other && json_object_is_type(other, json_type_array) && has_our_hook(other, path))
		return 0;
	rc = stage_array(hooks, stage, &arr, e);
	if (rc)
		return rc;
	*needs = !has_our_hook(arr, path);
	return 0;
}

int ob_bundle_plan(const char *buf, size_t len, const char *hook_path, struct ob_bundle_plan *p,
		   struct ob_error *e)
{
	struct json_object *root, *hooks;
	int rc;

	memset(p, 0, sizeof(*p));
	p->mode = OB_MODE_ON;
	p->from = OB_FROM_DEFAULT;
	rc = check_path("hook path", hook_path, e);
	if (rc)
		return rc;
	rc = ob_json_parse_object(buf, len, OB_CONFIG_MAX, WHAT, &root, e);
	if (rc)
		return rc;
	rc = decide_mode(root, p, e);
	if (rc || p->mode == OB_MODE_OFF)
		goto out;
	hooks = ob_json_get(root, "hooks");
	if (hooks && !json_object_is_type(hooks, json_type_object)) {
		rc = ob_err(e, -EINVAL, WHAT ": \"hooks\" is a JSON %s, not an object",
			    ob_json_type_name(hooks));
		goto out;
	}
	rc = stage_needs(hooks, "createRuntime", "prestart", hook_path, &p->add_create, e);
	if (!rc)
		rc = stage_needs(hooks, "poststop", NULL, hook_path, &p->add_poststop, e);
	if (rc)
		goto out;
	/* what OCI_BYPASS_MODE asked for, where the hook reads it */
	p->add_annotation = p->from == OB_FROM_ENV && p->mode != OB_MODE_ON;
	if (p->add_annotation &&
	    !json_object_is_type(ob_json_get(root, "annotations"), json_type_object) &&
	    ob_json_get(root, "annotations"))
		rc = ob_err(e, -EINVAL, WHAT ": \"annotations\" is not an object");
out:
	json_object_put(root);
	if (rc)
		p->add_create = p->add_poststop = p->add_annotation = false;
	return rc;
}

int ob_bundle_add_hooks(const char *buf, size_t len, const char *hook_path,
			struct ob_bundle_edit *ed, struct ob_error *e)
{
	struct ob_bundle_plan p;
	int rc;

	memset(ed, 0, sizeof(*ed));
	rc = ob_bundle_plan(buf, len, hook_path, &p, e);
	ed->mode = p.mode;
	ed->mode_from = ob_mode_from_name(p.from);
	if (rc || p.mode == OB_MODE_OFF)
		return rc;
	if (!p.add_create && !p.add_poststop && !p.add_annotation)
		return 0;
	rc = ob_bundle_splice(buf, len, hook_path, &p, &ed->out, &ed->out_len, e);
	ed->added = !rc;
	return rc;
}

/* ---- registering the shim with the engines ---- */

#define DOCKER_WHAT "daemon.json"

static bool blank(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\r')
			return false;
	return true;
}

int ob_docker_config_merge(const char *buf, size_t len, const char *shim_path, bool set_default,
			   char **out, size_t *out_len, struct ob_error *e)
{
	struct json_object *root = NULL, *rts, *ours;
	int rc;

	*out = NULL;
	*out_len = 0;
	rc = check_path("runtime path", shim_path, e);
	if (rc)
		return rc;
	if (!buf || blank(buf, len)) {
		root = json_object_new_object();
		if (!root)
			return ob_err(e, -ENOMEM, DOCKER_WHAT ": out of memory");
	} else {
		rc = ob_json_parse_object(buf, len, OB_CONFIG_MAX, DOCKER_WHAT, &root, e);
		if (rc)
			return rc;
	}
	rc = -EINVAL;
	rts = ob_json_get(root, "runtimes");
	if (rts && !json_object_is_type(rts, json_type_object)) {
		ob_err(e, rc, DOCKER_WHAT ": \"runtimes\" is a JSON %s, not an object",
		       ob_json_type_name(rts));
		goto out;
	}
	if (!rts) {
		rts = json_object_new_object();
		if (!ob_json_add(root, "runtimes", rts))
			goto oom;
	}
	ours = ob_json_get(rts, OB_RUNTIME_NAME);
	if (ours && !json_object_is_type(ours, json_type_object)) {
		ob_err(e, rc,
		       DOCKER_WHAT ": runtimes." OB_RUNTIME_NAME " is a JSON %s, not an object",
		       ob_json_type_name(ours));
		goto out;
	}
	if (!ours) {
		ours = json_object_new_object();
		if (!ob_json_add(rts, OB_RUNTIME_NAME, ours))
			goto oom;
	}
	/* Only "path": runtimeArgs (--runtime-path) set by hand stay. */
	if (!ob_json_add(ours, "path", json_object_new_string(shim_path)))
		goto oom;
	if (set_default &&
	    !ob_json_add(root, "default-runtime", json_object_new_string(OB_RUNTIME_NAME)))
		goto oom;
	rc = serialise(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED, DOCKER_WHAT, out,
		       out_len, e);
	goto out;
oom:
	rc = ob_err(e, -ENOMEM, DOCKER_WHAT ": out of memory");
out:
	json_object_put(root);
	return rc;
}

int ob_containerd_snippet(FILE *f, const char *shim_path, struct ob_error *e)
{
	static const char table[] =
		"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes." OB_RUNTIME_NAME "]";
	char path[2 * OB_PATH_MAX];
	size_t o = 0;
	int rc;

	rc = check_path("runtime path", shim_path, e);
	if (rc)
		return rc;
	/* A TOML basic string: only '"' and '\' need escaping (no control
	 * characters pass ob_path_valid). */
	for (const char *s = shim_path; *s; s++) {
		if (*s == '"' || *s == '\\')
			path[o++] = '\\';
		path[o++] = *s;
	}
	path[o] = '\0';
	if (fprintf(f,
		    "# containerd 1.6 (config version 2): the oci-bypass runtime for the CRI\n"
		    "# plugin (Kubernetes, crictl; runtime handler \"" OB_RUNTIME_NAME "\").\n"
		    "# Merge into /etc/containerd/config.toml and restart containerd.\n"
		    "# ctr without the CRI plugin: ctr run --runtime io.containerd.runc.v2 \\\n"
		    "#     --runc-binary %s ...\n"
		    "%s\n"
		    "  runtime_type = \"io.containerd.runc.v2\"\n"
		    "%.*s.options]\n"
		    "  BinaryName = \"%s\"\n",
		    path, table, (int)(sizeof(table) - 2), table, path) < 0 ||
	    fflush(f) == EOF)
		return ob_err(e, -EIO, "cannot write the containerd snippet");
	return 0;
}
