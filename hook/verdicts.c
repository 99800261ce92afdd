/* verdicts.c - what was learned of a container's services, as kept across its restarts (pure: the
 * file's text; verdict_store.c reads and writes the files). */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "ob.h"
#include "oci.h"

/* A verdict worth keeping: something learned (probation is the absence of
 * it), and stored (not the over-quota or untracked answers). */
bool ob_verdict_keepable(uint32_t state)
{
	return state >= OB_SVC_GOOD && state <= OB_SVC_ULP;
}

/* The state named as status names it ("accelerated", "halfclose", ...),
 * or OB_SVC_PROBATION if none is. */
static uint32_t state_from_name(const char *name)
{
	for (uint32_t s = OB_SVC_GOOD; s <= OB_SVC_ULP; s++)
		if (!strcmp(name, ob_svc_state_name(s)))
			return s;
	return OB_SVC_PROBATION;
}

/* A key as ob_record_key() makes it: a valid id, "-", 8 hex digits. */
bool ob_verdicts_key_valid(const char *key)
{
	size_t len = strnlen(key, OB_KEY_MAX + 1);
	char id[OB_KEY_MAX + 1];

	if (len < 10 || len > OB_KEY_MAX || key[len - 9] != '-')
		return false;
	for (size_t i = len - 8; i < len; i++)
		if (!strchr("0123456789abcdef", key[i]))
			return false;
	memcpy(id, key, len - 9);
	id[len - 9] = '\0';
	return ob_name_valid(id, OB_ID_MAX);
}

char *ob_verdicts_format(const struct ob_verdicts *vs)
{
	json_object *o = json_object_new_object(), *svc = json_object_new_array();
	char *text;

	for (int i = 0; i < vs->n; i++) {
		json_object *s = json_object_new_object();

		json_object_object_add(s, "port", json_object_new_int(vs->v[i].port));
		json_object_object_add(s, "state",
				       json_object_new_string(ob_svc_state_name(vs->v[i].state)));
		json_object_array_add(svc, s);
	}
	json_object_object_add(o, "id", json_object_new_string(vs->id));
	json_object_object_add(o, "saved", json_object_new_int64(vs->saved));
	json_object_object_add(o, "services", svc);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}

static int parse_services(json_object *arr, struct ob_verdicts *vs, struct ob_error *e)
{
	size_t n = json_object_array_length(arr);

	if (n > OB_VERDICTS_MAX_SVC)
		return ob_err(e, -EINVAL, "%zu services, more than %d", n, OB_VERDICTS_MAX_SVC);
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(arr, i), *port, *state;
		int p;
		uint32_t st;

		if (!json_object_is_type(s, json_type_object) ||
		    !json_object_object_get_ex(s, "port", &port) ||
		    !json_object_is_type(port, json_type_int) ||
		    !json_object_object_get_ex(s, "state", &state) ||
		    !json_object_is_type(state, json_type_string))
			return ob_err(e, -EINVAL, "service %zu: not {\"port\": N, \"state\": S}",
				      i);
		p = json_object_get_int(port);
		if (p < 1 || p > 65535)
			return ob_err(e, -EINVAL, "service %zu: port %d", i, p);
		st = state_from_name(json_object_get_string(state));
		if (!ob_verdict_keepable(st))
			return ob_err(e, -EINVAL, "service %zu: unknown state '%s'", i,
				      json_object_get_string(state));
		for (int k = 0; k < vs->n; k++)
			if (vs->v[k].port == p)
				return ob_err(e, -EINVAL, "port %d twice", p);
		vs->v[vs->n].port = (uint16_t)p;
		vs->v[vs->n].state = st;
		vs->n++;
	}
	return 0;
}

int ob_verdicts_parse(const char *key, const char *buf, size_t len, struct ob_verdicts *vs,
		      struct ob_error *e)
{
	json_tokener *tok;
	json_object *o, *id, *saved, *svc;
	size_t idlen = strlen(key) > 9 ? strlen(key) - 9 : 0;
	int err = 0;

	memset(vs, 0, sizeof(*vs));
	if (!ob_verdicts_key_valid(key))
		return ob_err(e, -EINVAL, "not a container's key: '%.*s'", OB_KEY_MAX, key);
	snprintf(vs->key, sizeof(vs->key), "%s", key);
	tok = json_tokener_new();
	if (!tok)
		return ob_err(e, -ENOMEM, "out of memory");
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len)
		err = ob_err(e, -EINVAL, "not one JSON object");
	json_tokener_free(tok);
	if (err) {
		json_object_put(o);
		return err;
	}
	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "id", &id) ||
	    !json_object_is_type(id, json_type_string) ||
	    !json_object_object_get_ex(o, "saved", &saved) ||
	    !json_object_is_type(saved, json_type_int) ||
	    !json_object_object_get_ex(o, "services", &svc) ||
	    !json_object_is_type(svc, json_type_array))
		err = ob_err(e, -EINVAL, "not {\"id\": S, \"saved\": N, \"services\": [...]}");
	/* the file's name says whose it is; its id must agree */
	else if ((size_t)json_object_get_string_len(id) != idlen ||
		 strncmp(json_object_get_string(id), key, idlen))
		err = ob_err(e, -EINVAL, "its id is not the one its name gives");
	else {
		snprintf(vs->id, sizeof(vs->id), "%s", json_object_get_string(id));
		vs->saved = json_object_get_int64(saved);
		err = parse_services(svc, vs, e);
	}
	json_object_put(o);
	return err;
}
