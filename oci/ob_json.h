/* ob_json.h - helpers shared by the oci/ files only: bounded JSON parsing and error sentences. */
#ifndef OB_OCI_JSON_H
#define OB_OCI_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

/*
 * Quotes untrusted text for an error sentence: 'text', with control and
 * non-ASCII bytes as \xNN, quotes and backslashes escaped, cut to about 64
 * bytes with "..." added. dst always ends up NUL-terminated.
 */
void ob_quote(char *dst, size_t dstlen, const char *s, size_t len);
#define OB_QUOTE_MAX 300 /* a dst this big never truncates the quoted text further */

/*
 * Parses buf[len] as exactly one JSON object: at most max bytes, no NUL
 * byte and no \u0000 escape anywhere (json-c cuts keys at a NUL), strict
 * json-c grammar, depth OB_JSON_DEPTH, nothing but white space after it.
 * what names the document in the sentence ("state JSON").
 */
int ob_json_parse_object(const char *buf, size_t len, size_t max, const char *what,
			 struct json_object **out, struct ob_error *e);

/* Member key of object o; NULL when absent or JSON null. */
struct json_object *ob_json_get(struct json_object *o, const char *key);
/* Add val to object o under key, or to array arr; each takes the
 * reference to val, also on failure (and false for a NULL val). */
bool ob_json_add(struct json_object *o, const char *key, struct json_object *val);
bool ob_json_push(struct json_object *arr, struct json_object *val);

/* True if v is a string without embedded NUL; *s and *len set. */
bool ob_json_string(struct json_object *v, const char **s, size_t *len);

const char *ob_json_type_name(struct json_object *v);

/*
 * The "annotations" member of root: *out is NULL when absent or null;
 * otherwise it must be an object whose values are all strings without NUL.
 */
int ob_json_annotations(struct json_object *root, const char *what, struct json_object **out,
			struct ob_error *e);

/*
 * The policy of an already parsed config.json (config.c): what
 * ob_config_parse does after parsing, for oci-bypass-runtime's bundle.c,
 * which reads the same document.
 */
struct ob_policy;
int ob_policy_from_json(struct json_object *root, struct ob_policy *p, struct ob_error *e);

#endif /* OB_OCI_JSON_H */
