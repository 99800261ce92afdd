/* config.c - the per-container policy in a bundle's config.json: io.oci-bypass.* annotations and
 * the network namespace. */
#include <errno.h>
#include <strings.h>
#include <string.h>

#include "oci.h"
#include "ob_json.h"

#define WHAT "config.json"

static int bad_value(const char *key, const char *val, const char *expect, struct ob_error *e)
{
	char q[OB_QUOTE_MAX];

	ob_quote(q, sizeof(q), val, strlen(val));
	return ob_err(e, -EINVAL, WHAT ": annotation %s is %s; expected %s", key, q, expect);
}

static int parse_bool(const char *key, const char *val, bool *out, struct ob_error *e)
{
	if (!strcmp(val, "true"))
		*out = true;
	else if (!strcmp(val, "false"))
		*out = false;
	else
		return bad_value(key, val, "true or false", e);
	return 0;
}

static int annot_mode(struct ob_policy *p, const char *key, const char *val, struct ob_error *e)
{
	if (!ob_mode_parse(val, &p->mode))
		return bad_value(key, val, "on, off or required", e);
	p->mode_set = true;
	return 0;
}

static int annot_noports(struct ob_policy *p, const char *key, const char *val, struct ob_error *e)
{
	int rc = ob_noports_parse(val, p->noports, &p->n_noports, e);

	if (rc) {
		char q[OB_QUOTE_MAX];

		ob_quote(q, sizeof(q), val, strlen(val));
		return ob_err_wrap(e, rc, WHAT ": annotation %s is %s", key, q);
	}
	return 0;
}

static int annot_trust(struct ob_policy *p, const char *key, const char *val, struct ob_error *e)
{
	return parse_bool(key, val, &p->trust, e);
}

static int annot_max_unread(struct ob_policy *p, const char *key, const char *val,
			    struct ob_error *e)
{
	int rc = ob_parse_bytes(key, val, OB_MAX_UNREAD_MIN, OB_MAX_UNREAD_MAX, &p->max_unread, e);

	return rc ? ob_err_wrap(e, rc, WHAT ": annotation") : 0;
}

static int annot_allow_host(struct ob_policy *p, const char *key, const char *val,
			    struct ob_error *e)
{
	return parse_bool(key, val, &p->allow_host_network, e);
}

static int annot_name(struct ob_policy *p, const char *key, const char *val, struct ob_error *e)
{
	if (!ob_name_valid(val, OB_ID_MAX))
		return bad_value(key, val,
				 "1-128 of [A-Za-z0-9_.+-], not starting with '.' or '-', "
				 "without \"..\"",
				 e);
	strcpy(p->id_hint, val); /* ob_id_valid bounds it to OB_ID_MAX */
	return 0;
}

static const struct {
	const char *key;
	int (*fn)(struct ob_policy *p, const char *key, const char *val, struct ob_error *e);
} annots[] = {
	{ "io.oci-bypass.mode", annot_mode },
	{ "io.oci-bypass.no-ports", annot_noports },
	{ "io.oci-bypass.trust", annot_trust },
	{ "io.oci-bypass.max-unread", annot_max_unread },
	{ "io.oci-bypass.allow-host-network", annot_allow_host },
	{ "io.oci-bypass.name", annot_name },
};

static int parse_annotations(struct json_object *root, struct ob_policy *p, struct ob_error *e)
{
	const size_t plen = strlen(OB_ANNOT_PREFIX);
	struct json_object *a;
	int rc;

	rc = ob_json_annotations(root, WHAT, &a, e);
	if (rc || !a)
		return rc;
	json_object_object_foreach(a, key, val)
	{
		const char *s = json_object_get_string(val);
		char q[OB_QUOTE_MAX];
		size_t i;

		/* Case-blind prefix so that "IO.OCI-BYPASS.MODE" is caught as a typo too. */
		if (strncasecmp(key, OB_ANNOT_PREFIX, plen))
			continue;
		for (i = 0; i < sizeof(annots) / sizeof(annots[0]); i++)
			if (!strcmp(key, annots[i].key))
				break;
		if (i == sizeof(annots) / sizeof(annots[0])) {
			ob_quote(q, sizeof(q), key, strlen(key));
			return ob_err(e, -EINVAL,
				      WHAT ": unknown annotation %s (known: io.oci-bypass.mode, "
					   "no-ports, trust, max-unread, allow-host-network, name)",
				      q);
		}
		rc = annots[i].fn(p, annots[i].key, s, e);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_namespaces(struct json_object *root, struct ob_policy *p, struct ob_error *e)
{
	struct json_object *linux_o, *ns;
	char q[OB_QUOTE_MAX];
	size_t i, n;

	linux_o = ob_json_get(root, "linux");
	if (!linux_o)
		return 0;
	if (!json_object_is_type(linux_o, json_type_object))
		return ob_err(e, -EINVAL, WHAT ": \"linux\" is a JSON %s, not an object",
			      ob_json_type_name(linux_o));
	ns = ob_json_get(linux_o, "namespaces");
	if (!ns)
		return 0;
	if (!json_object_is_type(ns, json_type_array))
		return ob_err(e, -EINVAL, WHAT ": linux.namespaces is a JSON %s, not an array",
			      ob_json_type_name(ns));
	n = json_object_array_length(ns);
	for (i = 0; i < n; i++) {
		struct json_object *el = json_object_array_get_idx(ns, i), *t, *pv;
		const char *type, *path;
		size_t tlen, plen;

		if (!el || !json_object_is_type(el, json_type_object))
			return ob_err(e, -EINVAL,
				      WHAT ": linux.namespaces[%zu] is a JSON %s, not an object", i,
				      ob_json_type_name(el));
		t = ob_json_get(el, "type");
		if (!t)
			return ob_err(e, -EINVAL, WHAT ": linux.namespaces[%zu] has no \"type\"",
				      i);
		if (!ob_json_string(t, &type, &tlen))
			return ob_err(e, -EINVAL,
				      WHAT
				      ": linux.namespaces[%zu].type is a JSON %s, not a string",
				      i, ob_json_type_name(t));
		if (strcmp(type, "network"))
			continue;
		if (p->has_netns)
			return ob_err(e, -EINVAL,
				      WHAT ": linux.namespaces lists \"network\" twice");
		p->has_netns = true;
		pv = ob_json_get(el, "path");
		if (!pv)
			continue;
		if (!ob_json_string(pv, &path, &plen))
			return ob_err(e, -EINVAL,
				      WHAT
				      ": the network namespace path is a JSON %s, not a string",
				      ob_json_type_name(pv));
		if (!plen)
			continue; /* "" means a new namespace, as if absent */
		if (!ob_path_valid(path)) {
			ob_quote(q, sizeof(q), path, plen);
			return ob_err(e, -EINVAL,
				      WHAT ": network namespace path %s is not an absolute path "
					   "without \"..\" or control characters",
				      q);
		}
		memcpy(p->netns_path, path, plen + 1); /* ob_path_valid: plen < OB_PATH_MAX */
	}
	return 0;
}

/* After an error elsewhere: a valid mode annotation still counts (only a
 * "required" one matters, and it must fail closed). */
static void mode_despite_error(struct json_object *root, struct ob_policy *p)
{
	struct json_object *a = ob_json_get(root, "annotations"), *v;
	const char *s;
	size_t len;

	if (!a || !json_object_is_type(a, json_type_object))
		return;
	v = ob_json_get(a, OB_ANNOT_MODE);
	if (v && ob_json_string(v, &s, &len))
		p->mode_set = ob_mode_parse(s, &p->mode);
}

int ob_policy_from_json(struct json_object *root, struct ob_policy *p, struct ob_error *e)
{
	int rc;

	memset(p, 0, sizeof(*p));
	p->mode = OB_MODE_ON;
	rc = parse_annotations(root, p, e);
	if (!rc)
		rc = parse_namespaces(root, p, e);
	if (rc) {
		memset(p, 0, sizeof(*p));
		mode_despite_error(root, p);
	}
	return rc;
}

int ob_config_parse(const char *buf, size_t len, struct ob_policy *p, struct ob_error *e)
{
	struct json_object *root;
	int rc;

	memset(p, 0, sizeof(*p));
	p->mode = OB_MODE_ON;
	rc = ob_json_parse_object(buf, len, OB_CONFIG_MAX, WHAT, &root, e);
	if (rc)
		return rc; /* *p is all zero: mode OB_MODE_ON is 0 */
	rc = ob_policy_from_json(root, p, e);
	json_object_put(root);
	return rc;
}
