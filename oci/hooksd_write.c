/* hooksd_write.c - writes the hooks.d file (podman, CRI-O) and the CDI spec (containerd, Docker)
 * that run the hook. */
#include <errno.h>
#include <string.h>

#include "oci.h"
#include "ob_json.h"
#include "hooksd.h"

#define CDI_VERSION    "0.6.0"
#define CDI_KIND       "oci-bypass.io/net"
#define MODE_KEY_REGEX "^io\\.oci-bypass\\.mode$"

static struct json_object *string_array(const char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array();
	size_t i;

	if (!a)
		return NULL;
	for (i = 0; i < n; i++) {
		if (!ob_json_push(a, json_object_new_string(v[i]))) {
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
	return ob_err(e, -EINVAL,
		      "hook path %s is not an absolute path without \"..\" or control characters",
		      q);
}

int ob_hooksd_write(FILE *f, const char *hook_path, bool always, struct ob_error *e)
{
	static const char *const args[] = { "oci-bypass", "hook" };
	static const char *const stages[] = { "createRuntime", "poststop" };
	struct json_object *root, *hook, *when, *annots;
	char modes[64];
	bool ok;
	int rc;

	rc = check_hook_path(hook_path, e);
	if (rc)
		return rc;
	if (ob_mode_hook_regex(modes, sizeof(modes)))
		return ob_err(e, -ENAMETOOLONG, "hooks.d file: the mode regex is too long");
	root = json_object_new_object();
	hook = json_object_new_object();
	when = json_object_new_object();
	ok = root && hook && when;
	ok = ok && ob_json_add(hook, "path", json_object_new_string(hook_path));
	ok = ok && ob_json_add(hook, "args", string_array(args, 2));
	ok = ok && ob_json_add(hook, "timeout", json_object_new_int(OB_HOOK_TIMEOUT));
	if (ok && always) {
		ok = ob_json_add(when, "always", json_object_new_boolean(1));
	} else if (ok) {
		annots = json_object_new_object();
		ok = annots && ob_json_add(annots, MODE_KEY_REGEX, json_object_new_string(modes));
		ok = ob_json_add(when, "annotations", annots) && ok;
	}
	ok = ok && ob_json_add(root, "version", json_object_new_string(HOOKSD_VERSION));
	if (ok) {
		ok = ob_json_add(root, "hook", hook);
		hook = NULL;
	}
	if (ok) {
		ok = ob_json_add(root, "when", when);
		when = NULL;
	}
	ok = ok && ob_json_add(root, "stages", string_array(stages, 2));
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
	const char *const args[] = { "oci-bypass", "hook", verb };
	struct json_object *h = json_object_new_object();
	bool ok;

	ok = h && ob_json_add(h, "hookName", json_object_new_string(stage));
	ok = ok && ob_json_add(h, "path", json_object_new_string(path));
	ok = ok && ob_json_add(h, "args", string_array(args, 3));
	ok = ok && ob_json_add(h, "timeout", json_object_new_int(OB_HOOK_TIMEOUT));
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
	ok = root && ob_json_add(root, "cdiVersion", json_object_new_string(CDI_VERSION));
	ok = ok && ob_json_add(root, "kind", json_object_new_string(CDI_KIND));
	hooks = json_object_new_array();
	ok = ok && hooks;
	ok = ok && ob_json_push(hooks, cdi_hook("createRuntime", hook_path, "create"));
	ok = ok && ob_json_push(hooks, cdi_hook("poststop", hook_path, "teardown"));
	edits = json_object_new_object();
	ok = edits && ok;
	if (ok)
		ok = ob_json_add(edits, "hooks", hooks);
	else
		json_object_put(hooks);
	dev = json_object_new_object();
	ok = dev && ok;
	ok = ok && ob_json_add(dev, "name", json_object_new_string("on"));
	if (ok)
		ok = ob_json_add(dev, "containerEdits", edits);
	else
		json_object_put(edits);
	devices = json_object_new_array();
	ok = devices && ok;
	if (ok)
		ok = ob_json_push(devices, dev);
	else
		json_object_put(dev);
	if (ok)
		ok = ob_json_add(root, "devices", devices);
	else
		json_object_put(devices);
	if (!ok) {
		json_object_put(root);
		return ob_err(e, -ENOMEM, "CDI spec: out of memory");
	}
	return emit(f, root, "CDI spec", false, e);
}
