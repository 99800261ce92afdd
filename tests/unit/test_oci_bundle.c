/* test_oci_bundle.c - what oci-bypass-runtime does to config.json, and the engine configs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "oci.h"

#define HOOK "/usr/libexec/oci/hooks.d/oci-bypass"
#define SHIM "/usr/libexec/oci/hooks.d/oci-bypass-runtime"

static struct ob_error oe;
#define err (oe.msg)

static struct ob_error *fresh(void)
{
	memset(&oe, 0, sizeof(oe));
	return &oe;
}

static int edit(const char *doc, struct ob_bundle_edit *e)
{
	return ob_bundle_add_hooks(doc, strlen(doc), HOOK, e, fresh());
}

static struct json_object *parse(const char *text)
{
	struct json_object *o = json_tokener_parse(text);

	assert_non_null(o);
	return o;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no member '%s'", key);
	return v;
}

/* hooks[stage][i] is our hook running verb. */
static void expect_ours(struct json_object *hooks, const char *stage, size_t i, const char *verb)
{
	struct json_object *h = json_object_array_get_idx(get(hooks, stage), i), *args;

	assert_non_null(h);
	assert_string_equal(json_object_get_string(get(h, "path")), HOOK);
	args = get(h, "args");
	assert_int_equal(json_object_array_length(args), 3);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(args, 0)),
			    "oci-bypass");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(args, 1)), "hook");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(args, 2)), verb);
	assert_int_equal(json_object_get_int(get(h, "timeout")), OB_HOOK_TIMEOUT);
}

static void adds_hooks(void **state)
{
	/* Numbers json-c could mangle: past int64, a double, an exponent. */
	static const char doc[] =
		"{\"ociVersion\":\"1.0.2-dev\",\"process\":{\"args\":[\"sh\"],\"env\":[\"PATH=/"
		"bin\"]},"
		"\"root\":{\"path\":\"rootfs\"},\"linux\":{\"resources\":{\"memory\":"
		"{\"limit\":18446744073709551615,\"swappiness\":0},\"cpu\":{\"x\":1.5,\"y\":1e3}},"
		"\"namespaces\":[{\"type\":\"network\"}]},\"annotations\":{\"a\":\"b/c\"}}";
	struct ob_bundle_edit e;
	struct json_object *in, *out, *hooks;

	(void)state;
	assert_int_equal(edit(doc, &e), 0);
	assert_string_equal(err, "");
	assert_true(e.added);
	assert_int_equal(e.mode, OB_MODE_ON);
	assert_string_equal(e.mode_from, "default");
	assert_int_equal(strlen(e.out), e.out_len);
	/* every byte of the document kept: ours go right after its '{' */
	assert_true(e.out_len > strlen(doc));
	assert_string_equal(e.out + e.out_len - (strlen(doc) - 1), doc + 1);
	out = parse(e.out);
	hooks = get(out, "hooks");
	assert_int_equal(json_object_array_length(get(hooks, "createRuntime")), 1);
	assert_int_equal(json_object_array_length(get(hooks, "poststop")), 1);
	expect_ours(hooks, "createRuntime", 0, "create");
	expect_ours(hooks, "poststop", 0, "teardown");
	/* Everything else the same in meaning, the big numbers in text too. */
	json_object_object_del(out, "hooks");
	in = parse(doc);
	assert_true(json_object_equal(in, out));
	assert_non_null(strstr(e.out, "18446744073709551615"));
	assert_non_null(strstr(e.out, "\"b/c\""));
	assert_null(strstr(e.out, OB_ANNOT_MODE)); /* mode on: no annotation added */
	json_object_put(in);
	json_object_put(out);
	free(e.out);
}

static void keeps_existing_hooks(void **state)
{
	static const char doc[] = "{\"hooks\":{\"prestart\":[{\"path\":\"/bin/a\"}],"
				  "\"createRuntime\":[{\"path\":\"/bin/"
				  "b\",\"args\":[\"b\",\"1\"],\"env\":[\"X=1\"]}],"
				  "\"poststop\":[{\"path\":\"/bin/c\",\"timeout\":3}]}}";
	struct ob_bundle_edit e;
	struct json_object *out, *hooks, *h;

	(void)state;
	assert_int_equal(edit(doc, &e), 0);
	assert_true(e.added);
	out = parse(e.out);
	hooks = get(out, "hooks");
	assert_int_equal(json_object_array_length(get(hooks, "prestart")), 1);
	assert_int_equal(json_object_array_length(get(hooks, "createRuntime")), 2);
	assert_int_equal(json_object_array_length(get(hooks, "poststop")), 2);
	/* theirs first, unchanged; ours after */
	h = json_object_array_get_idx(get(hooks, "createRuntime"), 0);
	assert_string_equal(json_object_get_string(get(h, "path")), "/bin/b");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(get(h, "env"), 0)),
			    "X=1");
	expect_ours(hooks, "createRuntime", 1, "create");
	h = json_object_array_get_idx(get(hooks, "poststop"), 0);
	assert_int_equal(json_object_get_int(get(h, "timeout")), 3);
	expect_ours(hooks, "poststop", 1, "teardown");
	json_object_put(out);
	free(e.out);
}

static void not_twice(void **state)
{
	struct ob_bundle_edit e, e2;
	struct json_object *out;

	(void)state;
	/* Our own output again: nothing to add. */
	assert_int_equal(edit("{\"process\":{}}", &e), 0);
	assert_true(e.added);
	assert_int_equal(edit(e.out, &e2), 0);
	assert_false(e2.added);
	assert_null(e2.out);
	free(e.out);

	/* Another install of oci-bypass (another path, same args), and a
	 * create hook at prestart: neither stage gets a second one. */
	assert_int_equal(edit("{\"hooks\":{\"prestart\":[{\"path\":\"/opt/"
			      "oci-bypass\",\"args\":[\"oci-bypass\","
			      "\"hook\",\"create\"]}],\"poststop\":[{\"path\":\"/opt/x\",\"args\":"
			      "[\"oci-bypass\",\"hook\",\"teardown\"]}]}}",
			      &e),
			 0);
	assert_false(e.added);

	/* Only the missing stage is added. */
	assert_int_equal(edit("{\"hooks\":{\"createRuntime\":[{\"path\":\"" HOOK "\"}]}}", &e), 0);
	assert_true(e.added);
	out = parse(e.out);
	assert_int_equal(json_object_array_length(get(get(out, "hooks"), "createRuntime")), 1);
	expect_ours(get(out, "hooks"), "poststop", 0, "teardown");
	json_object_put(out);
	free(e.out);
}

static void opted_out(void **state)
{
	struct ob_bundle_edit e;

	(void)state;
	assert_int_equal(edit("{\"annotations\":{\"io.oci-bypass.mode\":\"off\"}}", &e), 0);
	assert_false(e.added);
	assert_null(e.out);
	assert_int_equal(e.mode, OB_MODE_OFF);
	assert_string_equal(e.mode_from, "annotation");

	assert_int_equal(edit("{\"process\":{\"env\":[\"A=1\",\"OCI_BYPASS_MODE=off\"]}}", &e), 0);
	assert_false(e.added);
	assert_int_equal(e.mode, OB_MODE_OFF);
	assert_string_equal(e.mode_from, "OCI_BYPASS_MODE");
}

static void env_mode(void **state)
{
	struct ob_bundle_edit e;
	struct json_object *out;

	(void)state;
	/* The last one wins (docker run -e comes after the image's ENV). */
	assert_int_equal(edit("{\"process\":{\"env\":[\"OCI_BYPASS_MODE=off\","
			      "\"OCI_BYPASS_MODE_X=off\",\"XOCI_BYPASS_MODE=off\","
			      "\"OCI_BYPASS_MODE=required\"]}}",
			      &e),
			 0);
	assert_int_equal(e.mode, OB_MODE_REQUIRED);
	assert_string_equal(e.mode_from, "OCI_BYPASS_MODE");
	assert_true(e.added);
	/* The hook reads annotations: the mode is written there. */
	out = parse(e.out);
	assert_string_equal(json_object_get_string(get(get(out, "annotations"), OB_ANNOT_MODE)),
			    "required");
	json_object_put(out);
	free(e.out);

	/* Look-alikes do not count. */
	assert_int_equal(edit("{\"process\":{\"env\":[\"OCI_BYPASS_MODEX=off\","
			      "\"OCI_BYPASS_MODE\",\"oci_bypass_mode=off\"]}}",
			      &e),
			 0);
	assert_int_equal(e.mode, OB_MODE_ON);
	assert_true(e.added);
	free(e.out);

	/* "on" adds no annotation; existing annotations are kept. */
	assert_int_equal(edit("{\"annotations\":{\"k\":\"v\"},\"process\":{\"env\":"
			      "[\"OCI_BYPASS_MODE=on\"]}}",
			      &e),
			 0);
	assert_string_equal(e.mode_from, "OCI_BYPASS_MODE");
	out = parse(e.out);
	assert_int_equal(json_object_object_length(get(out, "annotations")), 1);
	json_object_put(out);
	free(e.out);

	/* Annotation wins over the environment, both ways. */
	assert_int_equal(edit("{\"annotations\":{\"io.oci-bypass.mode\":\"on\"},\"process\":"
			      "{\"env\":[\"OCI_BYPASS_MODE=off\"]}}",
			      &e),
			 0);
	assert_int_equal(e.mode, OB_MODE_ON);
	assert_true(e.added);
	free(e.out);
	assert_int_equal(edit("{\"annotations\":{\"io.oci-bypass.mode\":\"off\"},\"process\":"
			      "{\"env\":[\"OCI_BYPASS_MODE=required\"]}}",
			      &e),
			 0);
	assert_int_equal(e.mode, OB_MODE_OFF);
	assert_false(e.added);

	/* A bad value is an error naming it. */
	assert_int_equal(edit("{\"process\":{\"env\":[\"OCI_BYPASS_MODE=yes\"]}}", &e), -EINVAL);
	assert_non_null(strstr(err, "OCI_BYPASS_MODE is 'yes'"));
	assert_false(e.added);
	assert_null(e.out);
}

static void malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"{\"a\":1} x",
		"{\"hooks\":[]}",
		"{\"hooks\":{\"poststop\":{}}}",
		"{\"hooks\":{\"createRuntime\":[1]}}",
		"{\"process\":[]}",
		"{\"process\":{\"env\":\"OCI_BYPASS_MODE=off\"}}",
		"{\"process\":{\"env\":[7]}}",
		"{\"annotations\":[]}",
		"{\"annotations\":{\"io.oci-bypass.mode\":\"maybe\"}}",
		"{\"annotations\":{\"x\":1}}",
		/* What the hook's policy parser refuses, the shim refuses too. */
		"{\"annotations\":{\"io.oci-bypass.mdoe\":\"on\"}}",
		"{\"annotations\":{\"io.oci-bypass.no-ports\":\"99999\"}}",
		"{\"linux\":{\"namespaces\":[{\"type\":\"network\"},{\"type\":\"network\"}]}}",
		"{\"a\":\"\\u0000\"}",
	};
	struct ob_bundle_edit e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = edit(bad[i], &e);

		if (rc >= 0)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err[0] != '\0');
		assert_false(e.added);
		assert_null(e.out);
	}
	/* The mode still counts where it could be read, so required fails
	 * closed; and from the environment when the annotations are fine. */
	assert_int_equal(edit("{\"annotations\":{\"io.oci-bypass.mode\":\"required\"},"
			      "\"hooks\":7}",
			      &e),
			 -EINVAL);
	assert_int_equal(e.mode, OB_MODE_REQUIRED);
	assert_int_equal(edit("{\"process\":{\"env\":[\"OCI_BYPASS_MODE=required\"]},"
			      "\"hooks\":{\"poststop\":\"x\"}}",
			      &e),
			 -EINVAL);
	assert_int_equal(e.mode, OB_MODE_REQUIRED);
	/* A required annotation beside another bad one still fails closed. */
	assert_int_equal(edit("{\"annotations\":{\"io.oci-bypass.mode\":\"required\","
			      "\"io.oci-bypass.trust\":\"yes\"},"
			      "\"process\":{\"env\":[\"OCI_BYPASS_MODE=off\"]}}",
			      &e),
			 -EINVAL);
	assert_int_equal(e.mode, OB_MODE_REQUIRED);
	assert_string_equal(e.mode_from, "annotation");
	/* A bad hook path is refused before anything is read. */
	assert_int_equal(ob_bundle_add_hooks("{}", 2, "rel/oci-bypass", &e, fresh()), -EINVAL);
	assert_int_equal(ob_bundle_add_hooks("{}", 2, NULL, &e, fresh()), -EINVAL);
}

/* ---- splice.c: the shim's own text, where the scan finds its place ---- */

static char *splice(const char *doc, const struct ob_bundle_plan *p, int want_rc)
{
	char *out = (char *)1;
	size_t len = 7;

	assert_int_equal(ob_bundle_splice(doc, strlen(doc), HOOK, p, &out, &len, fresh()), want_rc);
	if (want_rc) {
		assert_null(out);
		assert_int_equal(len, 0);
		assert_true(err[0] != '\0');
		return NULL;
	}
	assert_int_equal(strlen(out), len);
	return out;
}

#define OURS(verb)                                                                                 \
	"{\"path\":\"" HOOK "\",\"args\":[\"oci-bypass\",\"hook\",\"" verb                         \
	"\"],\"timeout\":" OB_STR(OB_HOOK_TIMEOUT) "}"
#define OB_STR(x)  OB_STR2(x)
#define OB_STR2(x) #x

static void splice_keeps_bytes(void **state)
{
	const struct ob_bundle_plan both = { .add_create = true, .add_poststop = true };
	char *out;

	(void)state;
	/* every byte kept, spaces and numbers included; ours inserted */
	out = splice(
		"{ \"a\" : 1.50e3 ,\n \"hooks\" : { \"poststop\" : [ {\"path\":\"/x\"} ] } }\n",
		&both, 0);
	assert_string_equal(
		out,
		"{ \"a\" : 1.50e3 ,\n \"hooks\" : {\"createRuntime\":[" OURS(
			"create") "], \"poststop\" : [ {\"path\":\"/x\"} ," OURS("teardown") "] } "
											     "}\n");
	free(out);
	/* no hooks at all, an empty document */
	out = splice("{}", &both, 0);
	assert_string_equal(out, "{\"hooks\":{\"createRuntime\":[" OURS(
					 "create") "],\"poststop\":[" OURS("teardown") "]}}");
	free(out);
	/* empty arrays and objects */
	out = splice("{\"hooks\":{\"createRuntime\":[ ],\"poststop\":[]}}", &both, 0);
	assert_string_equal(out, "{\"hooks\":{\"createRuntime\":[ " OURS(
					 "create") "],\"poststop\":[" OURS("teardown") "]}}");
	free(out);
}

static void splice_annotation(void **state)
{
	const struct ob_bundle_plan req = { .mode = OB_MODE_REQUIRED,
					    .from = OB_FROM_ENV,
					    .add_annotation = true };
	char *out;

	(void)state;
	out = splice("{\"annotations\":{\"a\":\"b\"}}", &req, 0);
	assert_string_equal(out,
			    "{\"annotations\":{\"io.oci-bypass.mode\":\"required\",\"a\":\"b\"}}");
	free(out);
	out = splice("{\"annotations\":{}}", &req, 0);
	assert_string_equal(out, "{\"annotations\":{\"io.oci-bypass.mode\":\"required\"}}");
	free(out);
	out = splice("{\"x\":[]}", &req, 0);
	assert_string_equal(out,
			    "{\"annotations\":{\"io.oci-bypass.mode\":\"required\"},\"x\":[]}");
	free(out);
	splice("{\"annotations\":[]}", &req, -EINVAL);
}

/* doc spliced with p: its hooks have ours, alone, in both stages. */
static void expect_both_ours(const char *doc, const struct ob_bundle_plan *p)
{
	char *out = splice(doc, p, 0);
	struct json_object *o = parse(out), *hooks = get(o, "hooks");

	expect_ours(hooks, "createRuntime", 0, "create");
	expect_ours(hooks, "poststop", 0, "teardown");
	json_object_put(o);
	free(out);
}

/* What json-c and runc read is what the scan finds: escaped keys, the
 * last of two members, braces and quotes inside strings. */
static void splice_structure(void **state)
{
	const struct ob_bundle_plan both = { .add_create = true, .add_poststop = true };
	struct json_object *o, *hooks;
	char *out;

	(void)state;
	out = splice("{\"ho\\u006fks\":{\"createRuntime\":[{\"path\":\"/x\"}]}}", &both, 0);
	o = parse(out);
	hooks = get(o, "hooks");
	assert_int_equal(json_object_array_length(get(hooks, "createRuntime")), 2);
	expect_ours(hooks, "createRuntime", 1, "create");
	expect_ours(hooks, "poststop", 0, "teardown");
	assert_int_equal(json_object_object_length(o), 1);
	json_object_put(o);
	free(out);
	/* two "hooks": the last counts, ours go there */
	expect_both_ours("{\"hooks\":{\"createRuntime\":[]},\"hooks\":{\"poststop\":[]}}", &both);
	/* what a string holds is not structure */
	expect_both_ours("{\"process\":{\"env\":[\"X=}]{\\\"hooks\\\":{\\\\\",\"Y=\\u0022\"]},"
			 "\"k\\\"\":{\"hooks\":{}}}",
			 &both);
}

/* A plan from a subverted child changes nothing but whether: a document
 * that is not one JSON object, or of the wrong shape, is refused. */
static void splice_refuses(void **state)
{
	const struct ob_bundle_plan both = { .add_create = true, .add_poststop = true };
	struct ob_bundle_plan bad = both;
	static const char *const docs[] = {
		"",
		"[]",
		"{",
		"{\"a\":}",
		"{\"a\":1,}",
		"{} {}",
		"{\"a\" 1}",
		"{\"a\":tru}",
		"{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12\"}",
		"{\"a\":\"\x01\"}",
		"{\"a\":-}",
		"{\"a\":\"}",
		"{'a':1}",
		"{\"a\":1}/*",
		"{\"hooks\":1}",
		"{\"hooks\":[]}",
		"{\"hooks\":{\"poststop\":{}}}",
	};
	char deep[200];
	int n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(*docs); i++) {
		splice(docs[i], &both, -EINVAL);
	}
	n += snprintf(deep, sizeof(deep), "{\"a\":");
	for (int i = 0; i < 70; i++)
		deep[n++] = '[';
	for (int i = 0; i < 70; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	splice(deep, &both, -E2BIG);
	bad.mode = (enum ob_mode)7;
	splice("{}", &bad, -EINVAL);
	assert_int_equal(ob_bundle_splice("{}", 2, "rel/x", &both, &(char *){ NULL },
					  &(size_t){ 0 }, fresh()),
			 -EINVAL);
}

static char *merge(const char *doc, bool def, int want_rc)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(
		ob_docker_config_merge(doc, doc ? strlen(doc) : 0, SHIM, def, &out, &len, fresh()),
		want_rc);
	if (want_rc) {
		assert_null(out);
		assert_true(err[0] != '\0');
		return NULL;
	}
	assert_int_equal(strlen(out), len);
	assert_int_equal(out[len - 1], '\n');
	return out;
}

static void docker_config(void **state)
{
	struct json_object *o, *rt;
	char *out;

	(void)state;
	/* No file, or an empty one. */
	out = merge(NULL, false, 0);
	o = parse(out);
	assert_string_equal(
		json_object_get_string(get(get(get(o, "runtimes"), OB_RUNTIME_NAME), "path")),
		SHIM);
	assert_int_equal(json_object_object_length(o), 1);
	json_object_put(o);
	free(out);
	free(merge(" \n", false, 0));

	/* Every other key kept, ours updated but its runtimeArgs kept, default set. */
	out = merge("{\"debug\":true,\"runtimes\":{\"nvidia\":{\"path\":\"/usr/bin/nvidia\"},"
		    "\"oci-bypass\":{\"path\":\"/old\",\"runtimeArgs\":[\"--runtime-path\","
		    "\"/usr/bin/crun\"]}},\"log-opts\":{\"max-size\":\"10m\"}}",
		    true, 0);
	o = parse(out);
	assert_true(json_object_get_boolean(get(o, "debug")));
	assert_string_equal(json_object_get_string(get(get(o, "log-opts"), "max-size")), "10m");
	assert_string_equal(json_object_get_string(get(get(get(o, "runtimes"), "nvidia"), "path")),
			    "/usr/bin/nvidia");
	rt = get(get(o, "runtimes"), OB_RUNTIME_NAME);
	assert_string_equal(json_object_get_string(get(rt, "path")), SHIM);
	assert_int_equal(json_object_array_length(get(rt, "runtimeArgs")), 2);
	assert_string_equal(json_object_get_string(get(o, "default-runtime")), OB_RUNTIME_NAME);
	json_object_put(o);
	free(out);

	/* Without --default, an existing default-runtime stays. */
	out = merge("{\"default-runtime\":\"runc\"}", false, 0);
	o = parse(out);
	assert_string_equal(json_object_get_string(get(o, "default-runtime")), "runc");
	json_object_put(o);
	free(out);

	/* Invalid files are errors (the caller leaves them alone). */
	merge("{\"debug\":", false, -EINVAL);
	merge("[]", false, -EINVAL);
	merge("{\"runtimes\":[]}", false, -EINVAL);
	merge("{\"runtimes\":{\"oci-bypass\":\"x\"}}", false, -EINVAL);
	assert_int_equal(
		ob_docker_config_merge("{}", 2, "relative", false, &out, &(size_t){ 0 }, fresh()),
		-EINVAL);
}

static void containerd_snippet(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(ob_containerd_snippet(f, "/opt/a \"b\"/oci-bypass-runtime", fresh()), 0);
	fclose(f);
	assert_non_null(strstr(text, "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes."
				     "oci-bypass]\n  runtime_type = \"io.containerd.runc.v2\"\n"));
	assert_non_null(strstr(text, "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes."
				     "oci-bypass.options]\n"));
	assert_non_null(strstr(text, "  BinaryName = \"/opt/a \\\"b\\\"/oci-bypass-runtime\"\n"));
	free(text);
	f = open_memstream(&text, &len);
	assert_int_equal(ob_containerd_snippet(f, "x", fresh()), -EINVAL);
	fclose(f);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(adds_hooks),	      cmocka_unit_test(keeps_existing_hooks),
		cmocka_unit_test(not_twice),	      cmocka_unit_test(opted_out),
		cmocka_unit_test(env_mode),	      cmocka_unit_test(malformed),
		cmocka_unit_test(docker_config),      cmocka_unit_test(containerd_snippet),
		cmocka_unit_test(splice_keeps_bytes), cmocka_unit_test(splice_annotation),
		cmocka_unit_test(splice_structure),   cmocka_unit_test(splice_refuses),
	};

	return cmocka_run_group_tests_name("oci_bundle", tests, NULL, NULL);
}
