/* jsonread.c - bounded, strict JSON parsing with json-c, and quoting untrusted text for error
 * sentences. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "oci.h"
#include "ob_json.h"

void ob_quote(char *dst, size_t dstlen, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const size_t shown = 64;
	size_t o = 0, i;

	if (!dstlen)
		return;
	/* Worst case per input byte is 4 output bytes (\xNN). */
	if (dstlen < 8) {
		dst[0] = '\0';
		return;
	}
	dst[o++] = '\'';
	for (i = 0; i < len && i < shown; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 4 + 5 >= dstlen)
			break;
		if (c < 0x20 || c >= 0x7f) {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		} else if (c == '\'' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o++] = '\'';
	if (i < len) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

/* JSON white space. */
static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* True if buf holds the JSON escape \u0000 outside of an escaped backslash. */
static bool has_nul_escape(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;

	while ((p = memchr(p, '\\', (size_t)(end - p)))) {
		if (end - p >= 6 && p[1] == 'u' && p[2] == '0' && p[3] == '0' && p[4] == '0' &&
		    p[5] == '0')
			return true;
		p += 2; /* skip the escaped character, so "\\u0000" is text */
		if (p >= end)
			break;
	}
	return false;
}

int ob_json_parse_object(const char *buf, size_t len, size_t max, const char *what,
			 struct json_object **out, struct ob_error *e)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error jerr;
	size_t end;

	*out = NULL;
	if (!buf && len)
		return ob_err(e, -EINVAL, "%s: no buffer", what);
	if (len > max)
		return ob_err(e, -E2BIG, "%s is %zu bytes, more than the %zu accepted", what, len,
			      max);
	if (len == 0)
		return ob_err(e, -EINVAL, "%s is empty", what);
	if (memchr(buf, '\0', len))
		return ob_err(e, -EINVAL, "%s contains a NUL byte", what);
	if (has_nul_escape(buf, len))
		return ob_err(e, -EINVAL, "%s contains an escaped NUL (\\u0000)", what);

	tok = json_tokener_new_ex(OB_JSON_DEPTH);
	if (!tok)
		return ob_err(e, -ENOMEM, "%s: out of memory", what);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	/* len <= max <= OB_CONFIG_MAX fits an int. */
	o = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	if (!o || jerr != json_tokener_success) {
		json_object_put(o);
		if (jerr == json_tokener_continue) {
			/* A bare number such as "42" is also incomplete to json-c. */
			size_t i = 0;

			while (i < len && is_space(buf[i]))
				i++;
			if (i < len && buf[i] != '{')
				return ob_err(e, -EINVAL, "%s is not an object", what);
			return ob_err(e, -EINVAL, "%s ends early (truncated at byte %zu)", what,
				      len);
		}
		if (jerr == json_tokener_error_depth)
			return ob_err(e, -EINVAL, "%s nests deeper than %d levels", what,
				      OB_JSON_DEPTH);
		if (jerr == json_tokener_success) /* the literal null */
			return ob_err(e, -EINVAL, "%s is null, not an object", what);
		return ob_err(e, -EINVAL, "%s is not valid JSON (%s at byte %zu)", what,
			      json_tokener_error_desc(jerr), end);
	}
	for (; end < len; end++) {
		if (!is_space(buf[end])) {
			json_object_put(o);
			return ob_err(e, -EINVAL, "%s has data after the object (at byte %zu)",
				      what, end);
		}
	}
	if (!json_object_is_type(o, json_type_object)) {
		int rc = ob_err(e, -EINVAL, "%s is a JSON %s, not an object", what,
				ob_json_type_name(o));
		json_object_put(o);
		return rc;
	}
	*out = o;
	return 0;
}

struct json_object *ob_json_get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v; /* NULL for JSON null */
}

bool ob_json_string(struct json_object *v, const char **s, size_t *len)
{
	const char *p;
	int n;

	if (!v || !json_object_is_type(v, json_type_string))
		return false;
	p = json_object_get_string(v);
	n = json_object_get_string_len(v);
	if (!p || n < 0 || strlen(p) != (size_t)n)
		return false;
	*s = p;
	*len = (size_t)n;
	return true;
}

const char *ob_json_type_name(struct json_object *v)
{
	if (!v)
		return "null";
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "boolean";
	case json_type_double:
		return "number";
	case json_type_int:
		return "integer";
	case json_type_object:
		return "object";
	case json_type_array:
		return "array";
	case json_type_string:
		return "string";
	}
	return "value";
}

int ob_json_annotations(struct json_object *root, const char *what, struct json_object **out,
			struct ob_error *e)
{
	struct json_object *a = ob_json_get(root, "annotations");
	char q[OB_QUOTE_MAX];

	*out = NULL;
	if (!a)
		return 0;
	if (!json_object_is_type(a, json_type_object))
		return ob_err(e, -EINVAL, "%s: \"annotations\" is a JSON %s, not an object", what,
			      ob_json_type_name(a));
	json_object_object_foreach(a, key, val)
	{
		const char *s;
		size_t len;

		if (!ob_json_string(val, &s, &len)) {
			ob_quote(q, sizeof(q), key, strlen(key));
			if (json_object_is_type(val, json_type_string))
				return ob_err(e, -EINVAL, "%s: annotation %s contains a NUL", what,
					      q);
			return ob_err(e, -EINVAL, "%s: annotation %s is a JSON %s, not a string",
				      what, q, ob_json_type_name(val));
		}
	}
	*out = a;
	return 0;
}

/* Adds val to o under key; takes the reference to val, also on failure. */
bool ob_json_add(struct json_object *o, const char *key, struct json_object *val)
{
	if (!val)
		return false;
	if (json_object_object_add(o, key, val)) {
		json_object_put(val);
		return false;
	}
	return true;
}

bool ob_json_push(struct json_object *arr, struct json_object *val)
{
	if (!val)
		return false;
	if (json_object_array_add(arr, val)) {
		json_object_put(val);
		return false;
	}
	return true;
}
