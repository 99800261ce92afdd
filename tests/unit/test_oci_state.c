/* test_oci_state.c - OCI state JSON from runc, crun and podman, stage inference, ids and paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "oci.h"

#define GOOD_MIN "{\"id\":\"c\",\"status\":\"creating\",\"pid\":1,\"bundle\":\"/b\"}"

static struct ob_error oe;

/* A fresh error object: whatever is in it afterwards, the call wrote. */
static struct ob_error *fresh(void)
{
	memset(&oe, 0, sizeof(oe));
	return &oe;
}

static int parse_n(const char *s, size_t len, struct ob_state *st)
{
	return ob_state_parse(s, len, st, fresh());
}

static int parse(const char *s, struct ob_state *st)
{
	return parse_n(s, strlen(s), st);
}

/* Parsing s fails with rc, *st is all zero and oe.msg mentions want. */
static void expect_fail(const char *s, int rc, const char *want)
{
	struct ob_state st, zero;

	memset(&zero, 0, sizeof(zero));
	assert_int_equal(parse(s, &st), rc);
	assert_memory_equal(&st, &zero, sizeof(st));
	if (!strstr(oe.msg, want))
		fail_msg("error '%s' does not mention '%s' (input %s)", oe.msg, want, s);
	assert_null(strchr(oe.msg, '\n'));
}

static void runc_create_runtime(void **state)
{
	(void)state;
	struct ob_state st;
	const char *s = "{\"ociVersion\":\"1.0.2-dev\",\"id\":\"web-1\",\"status\":\"creating\","
			"\"pid\":12345,\"bundle\":\"/run/containerd/io.containerd.runtime.v2.task/"
			"default/web-1\",\"annotations\":{\"io.oci-bypass.mode\":\"on\","
			"\"io.kubernetes.cri.container-type\":\"container\"}}";

	assert_int_equal(parse(s, &st), 0);
	assert_string_equal(oe.msg, "");
	assert_string_equal(st.id, "web-1");
	assert_string_equal(st.status, "creating");
	assert_int_equal(st.pid, 12345);
	assert_string_equal(st.bundle,
			    "/run/containerd/io.containerd.runtime.v2.task/default/web-1");
	assert_int_equal(ob_stage_from(NULL, &st, fresh()), OB_STAGE_CREATE);
	assert_string_equal(oe.msg, "");

	/* runc leaves out empty annotations; trailing newline and pretty printing are fine. */
	s = "{\n  \"ociVersion\": \"1.0.2-dev\",\n  \"id\": \"a1b2c3\",\n  \"status\": "
	    "\"creating\",\n"
	    "  \"pid\": 1,\n  \"bundle\": \"/tmp/b\"\n}\n";
	assert_int_equal(parse(s, &st), 0);
	assert_string_equal(st.id, "a1b2c3");
	assert_int_equal(st.pid, 1);
}

static void crun_created(void **state)
{
	(void)state;
	struct ob_state st;
	const char *s =
		"{\"ociVersion\":\"1.0\",\"id\":\"0123456789abcdef0123456789abcdef0123456789abcdef"
		"0123456789abcdef\",\"pid\":4242,\"root\":\"/run/crun/0123\",\"bundle\":"
		"\"/var/lib/containers/storage/overlay-containers/0123/userdata\",\"rootfs\":"
		"\"/var/lib/containers/storage/overlay/4567/merged\",\"created\":"
		"\"2025-11-25T22:00:00.000000000Z\",\"status\":\"created\",\"owner\":\"\","
		"\"systemd-scope\":null,\"annotations\":{\"io.container.manager\":\"libpod\","
		"\"io.oci-bypass.mode\":\"required\",\"org.opencontainers.image.stopSignal\":"
		"\"15\"}}";

	assert_int_equal(parse(s, &st), 0);
	assert_int_equal(strlen(st.id), 64);
	assert_string_equal(st.status, "created");
	assert_int_equal(st.pid, 4242);
	assert_string_equal(st.bundle,
			    "/var/lib/containers/storage/overlay-containers/0123/userdata");
	assert_int_equal(ob_stage_from(NULL, &st, fresh()), OB_STAGE_CREATE);
}

static void podman_poststop(void **state)
{
	(void)state;
	struct ob_state st;
	const char *annots = "\"annotations\":{\"io.container.manager\":\"libpod\","
			     "\"io.podman.annotations.autoremove\":\"FALSE\","
			     "\"io.podman.annotations.init\":\"FALSE\","
			     "\"io.oci-bypass.mode\":\"off\"}";
	char s[1024];

	/* pid absent */
	snprintf(s, sizeof(s),
		 "{\"ociVersion\":\"1.2.0\",\"id\":\"db\",\"status\":\"stopped\","
		 "\"bundle\":\"/var/lib/containers/storage/overlay-containers/db/userdata\",%s}",
		 annots);
	assert_int_equal(parse(s, &st), 0);
	assert_int_equal(st.pid, 0);
	assert_string_equal(st.status, "stopped");
	assert_int_equal(ob_stage_from(NULL, &st, fresh()), OB_STAGE_TEARDOWN);

	/* pid 0 */
	snprintf(s, sizeof(s),
		 "{\"ociVersion\":\"1.0.2-dev\",\"id\":\"db\",\"status\":\"stopped\",\"pid\":0,"
		 "\"bundle\":\"/b\",%s}",
		 annots);
	assert_int_equal(parse(s, &st), 0);
	assert_int_equal(st.pid, 0);
	assert_int_equal(ob_stage_from(NULL, &st, fresh()), OB_STAGE_TEARDOWN);

	/* pid null, empty annotations, annotations null */
	assert_int_equal(
		parse("{\"id\":\"db\",\"status\":\"stopped\",\"pid\":null,\"bundle\":\"/b\","
		      "\"annotations\":{}}",
		      &st),
		0);
	assert_int_equal(st.pid, 0);
	assert_int_equal(parse("{\"id\":\"db\",\"status\":\"stopped\",\"bundle\":\"/b\","
			       "\"annotations\":null}",
			       &st),
			 0);
	assert_int_equal(ob_stage_from(NULL, &st, fresh()), OB_STAGE_TEARDOWN);
}

static void mode_annotation(void **state)
{
	(void)state;
	struct ob_state st;

	/* The policy is parsed once, from config.json (ob_config_parse): the
	 * state's copy of the annotation is not read, only type-checked. */
	assert_int_equal(parse("{\"id\":\"c\",\"status\":\"creating\",\"pid\":9,\"bundle\":\"/b\","
			       "\"annotations\":{\"io.oci-bypass.mode\":\"yes\"}}",
			       &st),
			 0);
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"pid\":9,\"bundle\":\"/b\","
		    "\"annotations\":{\"io.oci-bypass.mode\":true}}",
		    -EINVAL, "is a JSON boolean, not a string");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"pid\":9,\"bundle\":\"/b\","
		    "\"annotations\":[]}",
		    -EINVAL, "\"annotations\" is a JSON array, not an object");
	/* Other io.oci-bypass.* keys are config.json's business, not the state's. */
	assert_int_equal(parse("{\"id\":\"c\",\"status\":\"creating\",\"pid\":9,\"bundle\":\"/b\","
			       "\"annotations\":{\"io.oci-bypass.trust\":\"true\"}}",
			       &st),
			 0);
}

static void stage_inference(void **state)
{
	(void)state;
	static const struct {
		const char *status;
		int pid;
		enum ob_stage want;
	} cases[] = {
		{ "creating", 10, OB_STAGE_CREATE }, { "created", 10, OB_STAGE_CREATE },
		{ "creating", 0, OB_STAGE_UNKNOWN }, { "created", 0, OB_STAGE_UNKNOWN },
		{ "stopped", 0, OB_STAGE_TEARDOWN }, { "stopped", 10, OB_STAGE_TEARDOWN },
		{ "running", 10, OB_STAGE_UNKNOWN }, { "paused", 10, OB_STAGE_UNKNOWN },
	};
	struct ob_state st;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&st, 0, sizeof(st));
		strcpy(st.status, cases[i].status);
		st.pid = cases[i].pid;
		assert_int_equal(ob_stage_from(NULL, &st, fresh()), cases[i].want);
		if (cases[i].want == OB_STAGE_UNKNOWN)
			assert_true(strlen(oe.msg) > 10);
		else
			assert_string_equal(oe.msg, "");
	}
	memset(&st, 0, sizeof(st));
	strcpy(st.status, "creating");
	assert_int_equal(ob_stage_from(NULL, &st, fresh()), OB_STAGE_UNKNOWN);
	assert_non_null(strstr(oe.msg, "no pid"));
	strcpy(st.status, "running");
	assert_int_equal(ob_stage_from(NULL, &st, fresh()), OB_STAGE_UNKNOWN);
	assert_non_null(strstr(oe.msg, "'running'"));
	assert_int_equal(ob_stage_from(NULL, NULL, fresh()), OB_STAGE_UNKNOWN);
	assert_non_null(strstr(oe.msg, "no state"));
}

static void stage_arguments(void **state)
{
	(void)state;
	static const struct {
		const char *arg;
		enum ob_stage want;
	} cases[] = {
		{ "create", OB_STAGE_CREATE },	   { "createRuntime", OB_STAGE_CREATE },
		{ "prestart", OB_STAGE_CREATE },   { "createContainer", OB_STAGE_CREATE },
		{ "teardown", OB_STAGE_TEARDOWN }, { "poststop", OB_STAGE_TEARDOWN },
		{ "poststart", OB_STAGE_UNKNOWN }, { "startContainer", OB_STAGE_UNKNOWN },
		{ "Create", OB_STAGE_UNKNOWN },	   { "", OB_STAGE_UNKNOWN },
		{ "create ", OB_STAGE_UNKNOWN },
	};
	struct ob_state st;
	size_t i;

	/* The argument wins over the status, and st may be NULL. */
	memset(&st, 0, sizeof(st));
	strcpy(st.status, "stopped");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(ob_stage_from(cases[i].arg, &st, fresh()), cases[i].want);
		assert_int_equal(ob_stage_from(cases[i].arg, NULL, fresh()), cases[i].want);
		if (cases[i].want == OB_STAGE_UNKNOWN)
			assert_non_null(strstr(oe.msg, "unknown hook stage"));
		else
			assert_string_equal(oe.msg, "");
	}
	assert_int_equal(ob_stage_from("bogus\n\x1b[31m", NULL, fresh()), OB_STAGE_UNKNOWN);
	assert_non_null(strstr(oe.msg, "'bogus\\x0a\\x1b[31m'"));
	assert_string_equal(ob_stage_name(OB_STAGE_CREATE), "create");
	assert_string_equal(ob_stage_name(OB_STAGE_TEARDOWN), "teardown");
	assert_string_equal(ob_stage_name(OB_STAGE_UNKNOWN), "unknown");
}

static void malformed_json(void **state)
{
	(void)state;
	struct ob_state st;
	const char *good = "{\"id\":\"c\",\"status\":\"creating\",\"pid\":9,\"bundle\":\"/b\"}";
	char s[256];
	size_t i;

	expect_fail("", -EINVAL, "empty");
	expect_fail("   \n", -EINVAL, "ends early");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"pid\":9,\"bundle\":\"/b\"", -EINVAL,
		    "ends early");
	expect_fail("{\"id\":\"c\",\"status\":\"creat", -EINVAL, "ends early");
	expect_fail("[]", -EINVAL, "is a JSON array, not an object");
	expect_fail("[{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\"}]", -EINVAL,
		    "not an object");
	expect_fail("\"creating\"", -EINVAL, "is a JSON string, not an object");
	expect_fail("42", -EINVAL, "not an object");
	expect_fail("null", -EINVAL, "not an object");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\"} {}", -EINVAL,
		    "not valid JSON");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\",}", -EINVAL,
		    "not valid JSON");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\"} // x", -EINVAL,
		    "not valid JSON");
	expect_fail("\xef\xbb\xbf{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "not valid JSON");

	/* Every proper prefix of a good state is rejected. */
	for (i = 0; i < strlen(good); i++) {
		assert_int_equal(parse_n(good, i, &st), -EINVAL);
		assert_true(oe.msg[0] != '\0');
	}
	assert_int_equal(parse_n(good, strlen(good), &st), 0);

	/* A NUL byte inside len, even after the object. */
	snprintf(s, sizeof(s), "%s", good);
	assert_int_equal(parse_n(s, strlen(good) + 1, &st), -EINVAL);
	assert_non_null(strstr(oe.msg, "NUL byte"));
	s[7] = '\0';
	assert_int_equal(parse_n(s, strlen(good), &st), -EINVAL);
	assert_non_null(strstr(oe.msg, "NUL byte"));
	assert_int_equal(ob_state_parse(NULL, 0, &st, fresh()), -EINVAL);
	assert_int_equal(ob_state_parse(NULL, 5, &st, fresh()), -EINVAL);
}

static void size_and_depth(void **state)
{
	(void)state;
	const char *head =
		"{\"id\":\"c\",\"status\":\"creating\",\"pid\":9,\"bundle\":\"/b\",\"pad\":\"";
	size_t hl = strlen(head);
	char *buf = malloc(OB_STATE_MAX + 2);
	struct ob_state st;
	char deep[2048];
	int i, n;

	assert_non_null(buf);
	/* Exactly OB_STATE_MAX bytes is fine, one more is not. */
	memcpy(buf, head, hl);
	memset(buf + hl, 'a', OB_STATE_MAX - hl - 2);
	memcpy(buf + OB_STATE_MAX - 2, "\"}", 2);
	assert_int_equal(parse_n(buf, OB_STATE_MAX, &st), 0);
	assert_string_equal(st.id, "c");
	memset(buf + hl, 'a', OB_STATE_MAX + 1 - hl - 2);
	memcpy(buf + OB_STATE_MAX + 1 - 2, "\"}", 2);
	assert_int_equal(parse_n(buf, OB_STATE_MAX + 1, &st), -E2BIG);
	assert_non_null(strstr(oe.msg, "65537 bytes"));
	free(buf);

	/* Nesting 100 deep: rejected; 20 deep (under OB_JSON_DEPTH) in an unknown key: fine. */
	n = snprintf(deep, sizeof(deep),
		     "{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\",\"x\":");
	for (i = 0; i < 100; i++)
		n += snprintf(deep + n, sizeof(deep) - (size_t)n, "{\"a\":");
	n += snprintf(deep + n, sizeof(deep) - (size_t)n, "1");
	for (i = 0; i < 101; i++)
		n += snprintf(deep + n, sizeof(deep) - (size_t)n, "}");
	expect_fail(deep, -EINVAL, "nests deeper than 24");
	n = snprintf(deep, sizeof(deep),
		     "{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\",\"x\":");
	for (i = 0; i < 100; i++)
		n += snprintf(deep + n, sizeof(deep) - (size_t)n, "[");
	for (i = 0; i < 100; i++)
		n += snprintf(deep + n, sizeof(deep) - (size_t)n, "]");
	snprintf(deep + n, sizeof(deep) - (size_t)n, "}");
	expect_fail(deep, -EINVAL, "nests deeper");
	n = snprintf(deep, sizeof(deep),
		     "{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\",\"x\":");
	for (i = 0; i < 20; i++)
		n += snprintf(deep + n, sizeof(deep) - (size_t)n, "[");
	for (i = 0; i < 20; i++)
		n += snprintf(deep + n, sizeof(deep) - (size_t)n, "]");
	snprintf(deep + n, sizeof(deep) - (size_t)n, "}");
	assert_int_equal(parse(deep, &st), 0);
}

static void wrong_types(void **state)
{
	(void)state;
	struct ob_state st;

	expect_fail("{\"id\":42,\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "\"id\" is a JSON integer, not a string");
	expect_fail("{\"id\":null,\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "no \"id\"");
	expect_fail("{\"id\":\"c\",\"status\":1,\"bundle\":\"/b\"}", -EINVAL,
		    "\"status\" is a JSON integer");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":[\"/b\"]}", -EINVAL,
		    "\"bundle\" is a JSON array");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\",\"pid\":\"123\"}",
		    -EINVAL, "\"pid\" is a JSON string, not an integer");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\",\"pid\":-1}", -EINVAL,
		    "\"pid\" -1 is not a process id");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\",\"pid\":1e20}",
		    -EINVAL, "\"pid\" is a JSON number, not an integer");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\",\"pid\":12.0}",
		    -EINVAL, "not an integer");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\",\"pid\":2147483648}",
		    -EINVAL, "not a process id");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\","
		    "\"pid\":100000000000000000000}",
		    -EINVAL, "not a process id");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\",\"pid\":true}",
		    -EINVAL, "JSON boolean");
	/* ociVersion is not used, so it is ignored like any unknown key. */
	assert_int_equal(
		parse("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\",\"ociVersion\":1}",
		      &st),
		0);
	assert_int_equal(
		parse("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\",\"pid\":2147483647}",
		      &st),
		0);
	assert_int_equal(st.pid, 2147483647);
	/* Duplicate keys: json-c keeps the last. */
	assert_int_equal(
		parse("{\"id\":\"a\",\"id\":\"b\",\"status\":\"creating\",\"bundle\":\"/b\"}", &st),
		0);
	assert_string_equal(st.id, "b");
}

static void missing_fields(void **state)
{
	(void)state;
	expect_fail("{\"status\":\"creating\",\"pid\":9,\"bundle\":\"/b\"}", -EINVAL,
		    "has no \"id\"");
	expect_fail("{\"id\":\"c\",\"pid\":9,\"bundle\":\"/b\"}", -EINVAL, "has no \"status\"");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"pid\":9}", -EINVAL,
		    "has no \"bundle\"");
	expect_fail("{}", -EINVAL, "has no \"id\"");
	expect_fail("{\"id\":\"c\",\"status\":\"\",\"bundle\":\"/b\"}", -EINVAL,
		    "is not an OCI status");
	expect_fail("{\"id\":\"c\",\"status\":\"Creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "is not an OCI status");
	expect_fail("{\"id\":\"c\",\"status\":\"creatingcreatingcreating\",\"bundle\":\"/b\"}",
		    -ENAMETOOLONG, "longer than 15");
}

static void bad_ids(void **state)
{
	(void)state;
	struct ob_state st;
	char s[512], id[200];

	expect_fail("{\"id\":\"a/b\",\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "container id 'a/b'");
	expect_fail("{\"id\":\"..\",\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "container id '..'");
	expect_fail("{\"id\":\"a..b\",\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "container id");
	expect_fail("{\"id\":\"-rf\",\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "container id '-rf'");
	expect_fail("{\"id\":\".hidden\",\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "container id");
	expect_fail("{\"id\":\"\",\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "container id ''");
	expect_fail("{\"id\":\"a b\",\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "container id");
	expect_fail("{\"id\":\"a\\u0001b\",\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "control character");
	expect_fail("{\"id\":\"a\\nb\",\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "'a\\x0ab' contains a control character");
	expect_fail("{\"id\":\"a\\u0000b\",\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "escaped NUL");
	expect_fail("{\"id\\u0000x\":\"a\",\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "escaped NUL");
	expect_fail("{\"id\":\"caf\xc3\xa9\",\"status\":\"creating\",\"bundle\":\"/b\"}", -EINVAL,
		    "'caf\\xc3\\xa9'");

	/* 128 characters are fine, 129 are not. */
	memset(id, 'a', 128);
	id[128] = '\0';
	snprintf(s, sizeof(s), "{\"id\":\"%s\",\"status\":\"creating\",\"bundle\":\"/b\"}", id);
	assert_int_equal(parse(s, &st), 0);
	assert_string_equal(st.id, id);
	strcat(id, "a");
	snprintf(s, sizeof(s), "{\"id\":\"%s\",\"status\":\"creating\",\"bundle\":\"/b\"}", id);
	expect_fail(s, -ENAMETOOLONG, "longer than 128 bytes");
	/* The error quotes at most 64 bytes of it. */
	assert_true(strlen(oe.msg) < 200);
	/* The escape "\\u0000" is a backslash and text, not a NUL. */
	assert_int_equal(parse("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/b\","
			       "\"x\":\"\\\\u0000\"}",
			       &st),
			 0);
}

static void bad_bundles(void **state)
{
	(void)state;
	struct ob_state st;
	char s[8192];
	char path[4200];

	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"b\"}", -EINVAL,
		    "bundle 'b' is not an absolute path");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"\"}", -EINVAL, "bundle ''");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"./b\"}", -EINVAL, "bundle");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/run/../etc\"}", -EINVAL,
		    "bundle '/run/../etc'");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/run/..\"}", -EINVAL,
		    "bundle");
	expect_fail("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/run/\\u007f\"}", -EINVAL,
		    "control character");
	assert_int_equal(
		parse("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/run//x/./..y/\"}", &st),
		0);
	assert_string_equal(st.bundle, "/run//x/./..y/");
	assert_int_equal(parse("{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"/\"}", &st), 0);

	memset(path, 'p', 4095);
	path[0] = '/';
	path[4095] = '\0';
	snprintf(s, sizeof(s), "{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"%s\"}", path);
	assert_int_equal(parse(s, &st), 0);
	assert_int_equal(strlen(st.bundle), 4095);
	path[4095] = 'p';
	path[4096] = '\0';
	snprintf(s, sizeof(s), "{\"id\":\"c\",\"status\":\"creating\",\"bundle\":\"%s\"}", path);
	expect_fail(s, -ENAMETOOLONG, "longer than 4095 bytes");
}

static void id_and_path_rules(void **state)
{
	(void)state;
	char long_id[130];

	assert_true(ob_name_valid("a", OB_ID_MAX));
	assert_true(ob_name_valid("web_1.v2+x-y", OB_ID_MAX));
	assert_true(ob_name_valid("_x", OB_ID_MAX));
	assert_true(ob_name_valid("+x", OB_ID_MAX));
	assert_true(ob_name_valid("a.b.c", OB_ID_MAX));
	assert_false(ob_name_valid(NULL, OB_ID_MAX));
	assert_false(ob_name_valid("", OB_ID_MAX));
	assert_false(ob_name_valid(".", OB_ID_MAX));
	assert_false(ob_name_valid("-a", OB_ID_MAX));
	assert_false(ob_name_valid(".a", OB_ID_MAX));
	assert_false(ob_name_valid("a..b", OB_ID_MAX));
	assert_false(ob_name_valid("a/b", OB_ID_MAX));
	assert_false(ob_name_valid("a:b", OB_ID_MAX));
	assert_false(ob_name_valid("a\tb", OB_ID_MAX));
	memset(long_id, 'x', 128);
	long_id[128] = '\0';
	assert_true(ob_name_valid(long_id, OB_ID_MAX));
	long_id[128] = 'x';
	long_id[129] = '\0';
	assert_false(ob_name_valid(long_id, OB_ID_MAX));

	assert_true(ob_path_valid("/"));
	assert_true(ob_path_valid("/run/netns/x"));
	assert_true(ob_path_valid("//a//b/"));
	assert_true(ob_path_valid("/a/./b"));
	assert_true(ob_path_valid("/a/..b/c.."));
	assert_true(ob_path_valid("/a/b.."));
	assert_true(ob_path_valid("/proc/123/ns/net"));
	assert_false(ob_path_valid(NULL));
	assert_false(ob_path_valid(""));
	assert_false(ob_path_valid("a/b"));
	assert_false(ob_path_valid("../a"));
	assert_false(ob_path_valid("/.."));
	assert_false(ob_path_valid("/../a"));
	assert_false(ob_path_valid("/a/../b"));
	assert_false(ob_path_valid("/a/.."));
	assert_false(ob_path_valid("/a/b\n"));
	assert_false(ob_path_valid("/a/\x7f"));
}

/* A record's link must be a direct child of the pin directory: a prefix
 * compare alone (the first 20 characters once) let "../" through. */
static void child_rules(void **state)
{
	(void)state;
	const char *ct = "/sys/fs/bpf/oci-bypass/ct-";

	assert_true(ob_child_valid("/sys/fs/bpf/oci-bypass/ct-web-1a2b3c4d", ct, 159));
	assert_true(ob_child_valid("/sys/fs/bpf/oci-bypass/ct-a.b_c+d", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypass/ct-", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypass/../../../../tmp/x", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypass/ct-../../../tmp/x", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypass/ct-..", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypass/ct-x/y", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypass/ct-x/", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypass/ct-.x", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypass/ct--x", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypass/c", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypass/ctx", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypass/prog_sockops", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypassX/ct-x", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypass/ct-x\n", ct, 159));
	assert_false(ob_child_valid("/sys/fs/bpf/oci-bypass/ct-abc", ct, 2));
	assert_false(ob_child_valid(NULL, ct, 159));
}

/* Which paths netns.c opens by following procfs's magic link. */
static void proc_ns_rules(void **state)
{
	(void)state;

	assert_string_equal(ob_proc_ns_path("/proc/123/ns/net"), "123/ns/net");
	assert_string_equal(ob_proc_ns_path("/proc/self/ns/net"), "self/ns/net");
	assert_string_equal(ob_proc_ns_path("/proc/thread-self/ns/mnt"), "thread-self/ns/mnt");
	assert_string_equal(ob_proc_ns_path("/proc/1/ns/pid_for_children"),
			    "1/ns/pid_for_children");
	assert_null(ob_proc_ns_path(NULL));
	assert_null(ob_proc_ns_path("/run/netns/a"));
	assert_null(ob_proc_ns_path("/proc/123/ns/"));
	assert_null(ob_proc_ns_path("/proc/123/ns"));
	assert_null(ob_proc_ns_path("/proc//ns/net"));
	assert_null(ob_proc_ns_path("/proc/0123/ns/net"));
	assert_null(ob_proc_ns_path("/proc/12345678901/ns/net"));
	assert_null(ob_proc_ns_path("/proc/123/ns/net/"));
	assert_null(ob_proc_ns_path("/proc/123/ns/../ns/net"));
	assert_null(ob_proc_ns_path("/proc/123/../1/ns/net"));
	assert_null(ob_proc_ns_path("/proc/123/ns/Net"));
	assert_null(ob_proc_ns_path("/proc/selfx/ns/net"));
	assert_null(ob_proc_ns_path("/proc/self/fd/3"));
	assert_null(ob_proc_ns_path("/proc/123/task/123/ns/net"));
	assert_null(ob_proc_ns_path("//proc/123/ns/net"));
	assert_null(ob_proc_ns_path("/proc/123//ns/net"));
}

static void error_buffer(void **state)
{
	(void)state;
	struct ob_state st;

	/* An absent error object is fine; one is written only on failure. */
	assert_int_equal(ob_state_parse("[]", 2, &st, NULL), -EINVAL);
	assert_int_equal(ob_stage_from("x", NULL, NULL), OB_STAGE_UNKNOWN);
	assert_int_equal(ob_state_parse("[]", 2, &st, fresh()), -EINVAL);
	assert_int_equal(oe.code, -EINVAL);
	assert_true(oe.msg[0] != '\0');
	assert_int_equal(ob_state_parse(GOOD_MIN, strlen(GOOD_MIN), &st, fresh()), 0);
	assert_int_equal(oe.code, 0);
	assert_string_equal(oe.msg, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(runc_create_runtime),
		cmocka_unit_test(crun_created),
		cmocka_unit_test(podman_poststop),
		cmocka_unit_test(mode_annotation),
		cmocka_unit_test(stage_inference),
		cmocka_unit_test(stage_arguments),
		cmocka_unit_test(malformed_json),
		cmocka_unit_test(size_and_depth),
		cmocka_unit_test(wrong_types),
		cmocka_unit_test(missing_fields),
		cmocka_unit_test(bad_ids),
		cmocka_unit_test(bad_bundles),
		cmocka_unit_test(id_and_path_rules),
		cmocka_unit_test(child_rules),
		cmocka_unit_test(proc_ns_rules),
		cmocka_unit_test(error_buffer),
	};

	return cmocka_run_group_tests_name("oci_state", tests, NULL, NULL);
}
