/* test_oci_hooksd.c - the hooks.d file and CDI spec we write, and the hooks.d validator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <regex.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "oci.h"

static struct ob_error oe;

/* A fresh error object: whatever is in it afterwards, the call wrote. */
static struct ob_error *fresh(void)
{
	memset(&oe, 0, sizeof(oe));
	return &oe;
}
static char *text;
static size_t text_len;

#define HOOK_PATH "/usr/local/bin/oci-bypass"

static int write_hooksd(const char *path, bool always)
{
	FILE *f;
	int rc;

	free(text);
	text = NULL;
	f = open_memstream(&text, &text_len);
	assert_non_null(f);
	rc = ob_hooksd_write(f, path, always, fresh());
	assert_int_equal(fclose(f), 0);
	return rc;
}

static int write_cdi(const char *path)
{
	FILE *f;
	int rc;

	free(text);
	text = NULL;
	f = open_memstream(&text, &text_len);
	assert_non_null(f);
	rc = ob_cdi_write(f, path, fresh());
	assert_int_equal(fclose(f), 0);
	return rc;
}

static int teardown_text(void **state)
{
	(void)state;
	free(text);
	text = NULL;
	return 0;
}

/* Parses the written text back; one trailing newline, nothing else. */
static struct json_object *parse_back(void)
{
	struct json_object *o;

	assert_true(text_len > 2);
	assert_int_equal(text[text_len - 1], '\n');
	assert_int_not_equal(text[text_len - 2], '\n');
	o = json_tokener_parse(text);
	assert_non_null(o);
	assert_true(json_object_is_type(o, json_type_object));
	return o;
}

static struct json_object *member(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no member '%s'", key);
	assert_non_null(v);
	assert_int_equal(json_object_get_type(v), t);
	return v;
}

static void expect_strings(struct json_object *arr, const char *const *want, size_t n)
{
	size_t i;

	assert_true(json_object_is_type(arr, json_type_array));
	assert_int_equal(json_object_array_length(arr), n);
	for (i = 0; i < n; i++)
		assert_string_equal(json_object_get_string(json_object_array_get_idx(arr, i)),
				    want[i]);
}

static bool re_match(const char *re, const char *s)
{
	regex_t r;
	int rc;

	assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	rc = regexec(&r, s, 0, NULL, 0);
	regfree(&r);
	return rc == 0;
}

static void check_hook_object(struct json_object *root, const char *path)
{
	static const char *const args[] = { "oci-bypass", "hook" };
	static const char *const stages[] = { "createRuntime", "poststop" };
	struct json_object *hook;

	assert_int_equal(json_object_object_length(root), 4);
	assert_string_equal(json_object_get_string(member(root, "version", json_type_string)),
			    "1.0.0");
	hook = member(root, "hook", json_type_object);
	assert_int_equal(json_object_object_length(hook), 3);
	assert_string_equal(json_object_get_string(member(hook, "path", json_type_string)), path);
	expect_strings(member(hook, "args", json_type_array), args, 2);
	assert_int_equal(json_object_get_int(member(hook, "timeout", json_type_int)), 10);
	expect_strings(member(root, "stages", json_type_array), stages, 2);
}

static void hooksd_by_annotation(void **state)
{
	(void)state;
	struct json_object *root, *when, *annots;
	const char *key_re = NULL, *val_re = NULL;

	assert_int_equal(write_hooksd(HOOK_PATH, false), 0);
	assert_string_equal(oe.msg, "");
	assert_int_equal(ob_hooksd_validate(text, text_len, fresh()), 0);
	/* Pretty, with slashes left alone. */
	assert_non_null(strstr(text, "\n  \"version\": \"1.0.0\",\n"));
	assert_non_null(strstr(text, "\"" HOOK_PATH "\""));
	assert_non_null(strstr(text, "\"^io\\\\.oci-bypass\\\\.mode$\": \"^(on|required)$\""));

	root = parse_back();
	check_hook_object(root, HOOK_PATH);
	when = member(root, "when", json_type_object);
	assert_int_equal(json_object_object_length(when), 1);
	annots = member(when, "annotations", json_type_object);
	assert_int_equal(json_object_object_length(annots), 1);
	json_object_object_foreach(annots, k, v)
	{
		key_re = k;
		val_re = json_object_get_string(v);
	}
	assert_string_equal(key_re, "^io\\.oci-bypass\\.mode$");
	assert_string_equal(val_re, "^(on|required)$");

	/* podman matches these unanchored; the anchors keep them exact. */
	assert_true(re_match(key_re, "io.oci-bypass.mode"));
	assert_false(re_match(key_re, "io.oci-bypass.modes"));
	assert_false(re_match(key_re, "xio.oci-bypass.mode"));
	assert_false(re_match(key_re, "io.oci-bypassXmode"));
	assert_false(re_match(key_re, "io.oci-bypass.name"));
	assert_true(re_match(val_re, "on"));
	assert_true(re_match(val_re, "required"));
	assert_false(re_match(val_re, "off"));
	assert_false(re_match(val_re, "onx"));
	assert_false(re_match(val_re, "xon"));
	assert_false(re_match(val_re, "ON"));
	assert_false(re_match(val_re, ""));
	assert_false(re_match(val_re, "on|required"));
	json_object_put(root);
}

static void hooksd_always(void **state)
{
	(void)state;
	struct json_object *root, *when;

	assert_int_equal(write_hooksd("/opt/oci-bypass/bin/oci-bypass", true), 0);
	assert_int_equal(ob_hooksd_validate(text, text_len, fresh()), 0);
	root = parse_back();
	check_hook_object(root, "/opt/oci-bypass/bin/oci-bypass");
	when = member(root, "when", json_type_object);
	assert_int_equal(json_object_object_length(when), 1);
	assert_true(json_object_get_boolean(member(when, "always", json_type_boolean)));
	json_object_put(root);

	/* Odd but valid characters survive the round trip. */
	assert_int_equal(write_hooksd("/opt/my tools/\"q\"\\/\xc3\xa9/oci-bypass", true), 0);
	root = parse_back();
	check_hook_object(root, "/opt/my tools/\"q\"\\/\xc3\xa9/oci-bypass");
	json_object_put(root);
}

static void bad_hook_paths(void **state)
{
	(void)state;
	static const char *const bad[] = { "oci-bypass",    "./oci-bypass", "",
					   "/usr/../bin/x", "/usr/bin/x\n", "/usr/bin/.." };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(write_hooksd(bad[i], false), -EINVAL);
		assert_int_equal(text_len, 0);
		assert_non_null(strstr(oe.msg, "hook path"));
		assert_null(strchr(oe.msg, '\n'));
		assert_int_equal(write_cdi(bad[i]), -EINVAL);
		assert_int_equal(text_len, 0);
	}
	assert_int_equal(write_hooksd(NULL, true), -EINVAL);
	assert_string_equal(
		oe.msg,
		"hook path '' is not an absolute path without \"..\" or control characters");
	assert_int_equal(write_cdi(NULL), -EINVAL);
}

static void write_error(void **state)
{
	(void)state;
	FILE *f = fopen("/dev/full", "w");

	if (!f)
		skip();
	assert_int_equal(ob_hooksd_write(f, HOOK_PATH, false, fresh()), -EIO);
	assert_string_equal(oe.msg, "cannot write the hooks.d file");
	clearerr(f);
	assert_int_equal(ob_cdi_write(f, HOOK_PATH, fresh()), -EIO);
	assert_string_equal(oe.msg, "cannot write the CDI spec");
	fclose(f);
}

static void cdi_spec(void **state)
{
	(void)state;
	static const char *const create[] = { "oci-bypass", "hook", "create" };
	static const char *const teardown[] = { "oci-bypass", "hook", "teardown" };
	struct json_object *root, *devs, *dev, *edits, *hooks, *h;

	assert_int_equal(write_cdi(HOOK_PATH), 0);
	assert_string_equal(oe.msg, "");
	assert_non_null(strstr(text, "\"kind\": \"oci-bypass.io/net\""));
	root = parse_back();
	assert_int_equal(json_object_object_length(root), 3);
	assert_string_equal(json_object_get_string(member(root, "cdiVersion", json_type_string)),
			    "0.6.0");
	assert_string_equal(json_object_get_string(member(root, "kind", json_type_string)),
			    "oci-bypass.io/net");
	devs = member(root, "devices", json_type_array);
	assert_int_equal(json_object_array_length(devs), 1);
	dev = json_object_array_get_idx(devs, 0);
	assert_int_equal(json_object_object_length(dev), 2);
	assert_string_equal(json_object_get_string(member(dev, "name", json_type_string)), "on");
	edits = member(dev, "containerEdits", json_type_object);
	assert_int_equal(json_object_object_length(edits), 1);
	hooks = member(edits, "hooks", json_type_array);
	assert_int_equal(json_object_array_length(hooks), 2);

	h = json_object_array_get_idx(hooks, 0);
	assert_int_equal(json_object_object_length(h), 4);
	assert_string_equal(json_object_get_string(member(h, "hookName", json_type_string)),
			    "createRuntime");
	assert_string_equal(json_object_get_string(member(h, "path", json_type_string)), HOOK_PATH);
	expect_strings(member(h, "args", json_type_array), create, 3);
	assert_int_equal(json_object_get_int(member(h, "timeout", json_type_int)), 10);

	h = json_object_array_get_idx(hooks, 1);
	assert_int_equal(json_object_object_length(h), 4);
	assert_string_equal(json_object_get_string(member(h, "hookName", json_type_string)),
			    "poststop");
	assert_string_equal(json_object_get_string(member(h, "path", json_type_string)), HOOK_PATH);
	expect_strings(member(h, "args", json_type_array), teardown, 3);
	assert_int_equal(json_object_get_int(member(h, "timeout", json_type_int)), 10);
	json_object_put(root);
}

static int validate(const char *s)
{
	return ob_hooksd_validate(s, strlen(s), fresh());
}

#define HOOK  "\"hook\": {\"path\": \"/usr/bin/x\", \"args\": [\"x\", \"hook\"]}"
#define WHEN  "\"when\": {\"always\": true}"
#define STAGE "\"stages\": [\"createRuntime\", \"poststop\"]"

static void validator_accepts(void **state)
{
	(void)state;
	/* The NVIDIA toolkit's legacy hook, as shipped for podman. */
	assert_int_equal(
		validate("{\n  \"version\": \"1.0.0\",\n  \"hook\": {\n    \"path\": "
			 "\"/usr/bin/nvidia-container-toolkit\",\n    \"args\": "
			 "[\"nvidia-container-toolkit\", \"prestart\"],\n    \"env\": "
			 "[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin\"]\n  },\n"
			 "  \"when\": {\n    \"always\": true,\n    \"commands\": [\".*\"]\n  },\n"
			 "  \"stages\": [\"prestart\"]\n}\n"),
		0);
	assert_string_equal(oe.msg, "");
	assert_int_equal(
		validate("{\"version\": \"1.0.0\", \"hook\": {\"path\": \"/x\"}, \"when\": "
			 "{\"hasBindMounts\": true}, \"stages\": [\"poststart\"]}"),
		0);
	assert_int_equal(validate("{\"version\": \"1.0.0\", " HOOK ", \"when\": {\"annotations\": "
				  "{\"^a$\": \"^[0-9]{1,5}$\"}, \"or\": true}, " STAGE
				  ", \"x\": 1}"),
			 0);
	assert_int_equal(validate("{\"version\": \"1.0.0\", " HOOK
				  ", \"when\": {\"always\": false, "
				  "\"commands\": [\"^/usr/bin/.*$\"]}, \"stages\": [\"prestart\", "
				  "\"createRuntime\", \"createContainer\", \"startContainer\", "
				  "\"poststart\", \"poststop\"]}"),
			 0);
	assert_int_equal(validate("{\"version\": \"1.0.0\", \"hook\": {\"path\": \"/x\", "
				  "\"timeout\": 5}, " WHEN ", " STAGE "}"),
			 0);
}

static void validator_rejects(void **state)
{
	(void)state;
	static const struct {
		const char *doc;
		const char *want;
	} cases[] = {
		{ "{" HOOK ", " WHEN ", " STAGE "}", "has no \"version\"" },
		{ "{\"version\": \"0.1.0\", " HOOK ", " WHEN ", " STAGE "}",
		  "version '0.1.0' is not \"1.0.0\"" },
		{ "{\"version\": 1, " HOOK ", " WHEN ", " STAGE "}",
		  "\"version\" is a JSON integer" },
		{ "{\"version\": \"1.0.0\", " WHEN ", " STAGE "}", "has no \"hook\"" },
		{ "{\"version\": \"1.0.0\", \"hook\": \"/x\", " WHEN ", " STAGE "}",
		  "\"hook\" is a JSON string, not an object" },
		{ "{\"version\": \"1.0.0\", \"hook\": {\"args\": []}, " WHEN ", " STAGE "}",
		  "has no hook.path" },
		{ "{\"version\": \"1.0.0\", \"hook\": {\"path\": \"usr/bin/x\"}, " WHEN ", " STAGE
		  "}",
		  "hook.path 'usr/bin/x' is not an absolute path" },
		{ "{\"version\": \"1.0.0\", \"hook\": {\"path\": \"/a/../x\"}, " WHEN ", " STAGE
		  "}",
		  "hook.path '/a/../x'" },
		{ "{\"version\": \"1.0.0\", \"hook\": {\"path\": 5}, " WHEN ", " STAGE "}",
		  "hook.path is a JSON integer" },
		{ "{\"version\": \"1.0.0\", \"hook\": {\"path\": \"/x\", \"args\": \"x "
		  "hook\"}, " WHEN ", " STAGE "}",
		  "hook.args is a JSON string, not an array" },
		{ "{\"version\": \"1.0.0\", \"hook\": {\"path\": \"/x\", \"args\": [\"x\", "
		  "1]}, " WHEN ", " STAGE "}",
		  "hook.args[1] is a JSON integer, not a string" },
		{ "{\"version\": \"1.0.0\", \"hook\": {\"path\": \"/x\", \"env\": {}}, " WHEN
		  ", " STAGE "}",
		  "hook.env is a JSON object" },
		{ "{\"version\": \"1.0.0\", \"hook\": {\"path\": \"/x\", \"timeout\": 0}, " WHEN
		  ", " STAGE "}",
		  "hook.timeout 0 is not a number of seconds > 0" },
		{ "{\"version\": \"1.0.0\", \"hook\": {\"path\": \"/x\", \"timeout\": "
		  "\"10\"}, " WHEN ", " STAGE "}",
		  "hook.timeout is a JSON string" },
		{ "{\"version\": \"1.0.0\", " HOOK ", " STAGE "}", "has no \"when\"" },
		{ "{\"version\": \"1.0.0\", " HOOK ", \"when\": true, " STAGE "}",
		  "\"when\" is a JSON boolean" },
		{ "{\"version\": \"1.0.0\", " HOOK ", \"when\": {}, " STAGE "}",
		  "\"when\" sets no condition" },
		{ "{\"version\": \"1.0.0\", " HOOK ", \"when\": {\"annotations\": {}}, " STAGE "}",
		  "\"when\" sets no condition" },
		{ "{\"version\": \"1.0.0\", " HOOK ", \"when\": {\"commands\": []}, " STAGE "}",
		  "\"when\" sets no condition" },
		{ "{\"version\": \"1.0.0\", " HOOK ", \"when\": {\"or\": true}, " STAGE "}",
		  "\"when\" sets no condition" },
		{ "{\"version\": \"1.0.0\", " HOOK ", \"when\": {\"always\": \"true\"}, " STAGE "}",
		  "when.always is a JSON string, not a boolean" },
		{ "{\"version\": \"1.0.0\", " HOOK
		  ", \"when\": {\"always\": true, \"or\": 1}, " STAGE "}",
		  "when.or is a JSON integer" },
		{ "{\"version\": \"1.0.0\", " HOOK
		  ", \"when\": {\"annotations\": {\"(\": \"x\"}}, " STAGE "}",
		  "when.annotations key '(' is not a valid regex" },
		{ "{\"version\": \"1.0.0\", " HOOK
		  ", \"when\": {\"annotations\": {\"a\": \"(\"}}, " STAGE "}",
		  "when.annotations value '(' is not a valid regex" },
		{ "{\"version\": \"1.0.0\", " HOOK
		  ", \"when\": {\"annotations\": {\"a\": \"[z-a]\"}}, " STAGE "}",
		  "not a valid regex" },
		{ "{\"version\": \"1.0.0\", " HOOK
		  ", \"when\": {\"annotations\": {\"a\": 1}}, " STAGE "}",
		  "when.annotations 'a' is a JSON integer, not a string" },
		{ "{\"version\": \"1.0.0\", " HOOK ", \"when\": {\"annotations\": [\"a\"]}, " STAGE
		  "}",
		  "when.annotations is a JSON array" },
		{ "{\"version\": \"1.0.0\", " HOOK
		  ", \"when\": {\"commands\": [\"a\", \"[\"]}, " STAGE "}",
		  "when.commands '[' is not a valid regex" },
		{ "{\"version\": \"1.0.0\", " HOOK
		  ", \"when\": {\"annotations\": {\"a\": \"((a{1000}){1000}){1000}\"}}, " STAGE "}",
		  "repeats too much" },
		{ "{\"version\": \"1.0.0\", " HOOK
		  ", \"when\": {\"commands\": [\"(((a*)*)?){25}\"]}, " STAGE "}",
		  "repeats with '*', '+' or {m,} something that can match nothing" },
		{ "{\"version\": \"1.0.0\", " HOOK ", \"when\": {\"commands\": [\"a**\"]}, " STAGE
		  "}",
		  "something that can match nothing" },
		{ "{\"version\": \"1.0.0\", " HOOK
		  ", \"when\": {\"commands\": [\"a++++++++++++++++\"]}, " STAGE "}",
		  "repeats too much" },
		{ "{\"version\": \"1.0.0\", " HOOK
		  ", \"when\": {\"commands\": [\"(a|b)**\"]}, " STAGE "}",
		  "something that can match nothing" },
		{ "{\"version\": \"1.0.0\", " HOOK ", " WHEN "}", "has no \"stages\"" },
		{ "{\"version\": \"1.0.0\", " HOOK ", " WHEN ", \"stages\": []}",
		  "\"stages\" is empty" },
		{ "{\"version\": \"1.0.0\", " HOOK ", " WHEN ", \"stages\": \"poststop\"}",
		  "stages is a JSON string, not an array" },
		{ "{\"version\": \"1.0.0\", " HOOK ", " WHEN
		  ", \"stages\": [\"prestart\", \"teardown\"]}",
		  "unknown stage 'teardown'" },
		{ "{\"version\": \"1.0.0\", " HOOK ", " WHEN ", \"stages\": [\"PostStop\"]}",
		  "unknown stage 'PostStop'" },
		{ "{\"version\": \"1.0.0\", " HOOK ", " WHEN ", \"stages\": [null]}",
		  "stages[0] is a JSON null, not a string" },
		{ "{\"version\": \"1.0.0\", " HOOK ", " WHEN
		  ", \"stages\": [\"poststop\", \"poststop\"]}",
		  "stage 'poststop' is listed twice" },
		{ "[]", "hooks.d file is a JSON array, not an object" },
		{ "", "hooks.d file is empty" },
		{ "{\"version\": \"1.0.0\", " HOOK ", " WHEN ", " STAGE, "ends early" },
		{ "{\"version\": \"1.0.0\", " HOOK ", " WHEN ", " STAGE "}\n{}", "not valid JSON" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = validate(cases[i].doc);

		if (rc >= 0 || !strstr(oe.msg, cases[i].want))
			fail_msg("case %zu: rc %d, error '%s', want '%s'", i, rc, oe.msg,
				 cases[i].want);
		assert_null(strchr(oe.msg, '\n'));
	}
}

static void validator_limits(void **state)
{
	(void)state;
	char *doc = malloc(OB_HOOKSD_MAX + 64), re[OB_REGEX_MAX + 2];
	static const char *const fine[] = {
		"^x{2,8}(ab){3}$",
		"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
		"a{1000}",
		"(a+)+",
		"([a-z]+\\\\.)*[a-z]+",
		"^/usr/(s?bin|libexec)/.*$",
		"(a*){2,5}",
		"(a*)?",
	};
	size_t n, i;

	assert_non_null(doc);
	/* A regex of OB_REGEX_MAX bytes compiles, one more is refused. */
	memset(re, 'a', OB_REGEX_MAX);
	re[OB_REGEX_MAX] = '\0';
	snprintf(doc, OB_HOOKSD_MAX,
		 "{\"version\": \"1.0.0\", " HOOK ", \"when\": {\"commands\": [\"%s\"]}, " STAGE
		 "}",
		 re);
	assert_int_equal(validate(doc), 0);
	strcat(re, "a");
	snprintf(doc, OB_HOOKSD_MAX,
		 "{\"version\": \"1.0.0\", " HOOK ", \"when\": {\"commands\": [\"%s\"]}, " STAGE
		 "}",
		 re);
	assert_int_equal(validate(doc), -E2BIG);
	assert_non_null(strstr(oe.msg, "is longer than 1024 bytes"));
	assert_true(strlen(oe.msg) < 300);
	/* Modest counted repetitions and ordinary loops are fine. */
	for (i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
		snprintf(doc, OB_HOOKSD_MAX,
			 "{\"version\": \"1.0.0\", " HOOK
			 ", \"when\": {\"commands\": [\"%s\"]}, " STAGE "}",
			 fine[i]);
		if (validate(doc))
			fail_msg("'%s' refused: %s", fine[i], oe.msg);
	}

	/* Size cap. */
	n = (size_t)snprintf(doc, 256,
			     "{\"version\": \"1.0.0\", " HOOK ", " WHEN ", " STAGE ", \"pad\": \"");
	memset(doc + n, 'p', OB_HOOKSD_MAX + 1 - n - 2);
	memcpy(doc + OB_HOOKSD_MAX + 1 - 2, "\"}", 2);
	assert_int_equal(ob_hooksd_validate(doc, OB_HOOKSD_MAX + 1, fresh()), -E2BIG);
	assert_int_equal(ob_hooksd_validate(doc, OB_HOOKSD_MAX + 1 - 1, fresh()), -EINVAL);
	memcpy(doc + OB_HOOKSD_MAX - 2, "\"}", 2);
	assert_int_equal(ob_hooksd_validate(doc, OB_HOOKSD_MAX, fresh()), 0);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(hooksd_by_annotation, teardown_text),
		cmocka_unit_test_teardown(hooksd_always, teardown_text),
		cmocka_unit_test_teardown(bad_hook_paths, teardown_text),
		cmocka_unit_test(write_error),
		cmocka_unit_test_teardown(cdi_spec, teardown_text),
		cmocka_unit_test(validator_accepts),
		cmocka_unit_test(validator_rejects),
		cmocka_unit_test(validator_limits),
	};

	return cmocka_run_group_tests_name("oci_hooksd", tests, NULL, NULL);
}
