/* test_oci_config.c - io.oci-bypass.* annotations and the network namespace in config.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "oci.h"

static struct ob_error oe;

/* A fresh error object: whatever is in it afterwards, the call wrote. */
static struct ob_error *fresh(void)
{
	memset(&oe, 0, sizeof(oe));
	return &oe;
}
static char doc[16384];

/* A trimmed runc `spec` with the given annotations object and namespaces array (NULL: left out). */
static const char *config(const char *annots, const char *namespaces)
{
	int n;

	n = snprintf(
		doc, sizeof(doc),
		"{\n"
		"  \"ociVersion\": \"1.0.2-dev\",\n"
		"  \"process\": {\"terminal\": false, \"user\": {\"uid\": 0, \"gid\": 0},\n"
		"    \"args\": [\"sh\", \"-c\", \"exec httpd -f\"],\n"
		"    \"env\": [\"PATH=/usr/sbin:/usr/bin:/sbin:/bin\", \"TERM=xterm\"],\n"
		"    \"cwd\": \"/\", \"capabilities\": {\"bounding\": [\"CAP_KILL\"]},\n"
		"    \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": "
		"1024}],\n"
		"    \"noNewPrivileges\": true},\n"
		"  \"root\": {\"path\": \"rootfs\", \"readonly\": true},\n"
		"  \"hostname\": \"web\",\n"
		"  \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": "
		"\"proc\"}],\n"
		"%s%s%s"
		"  \"linux\": {\n"
		"    \"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}]},\n"
		"%s%s%s"
		"    \"maskedPaths\": [\"/proc/kcore\"],\n"
		"    \"readonlyPaths\": [\"/proc/sys\"]\n"
		"  }\n"
		"}\n",
		annots ? "  \"annotations\": " : "", annots ? annots : "", annots ? ",\n" : "",
		namespaces ? "    \"namespaces\": " : "", namespaces ? namespaces : "",
		namespaces ? ",\n" : "");
	assert_true(n > 0 && (size_t)n < sizeof(doc));
	return doc;
}

static int parse(const char *s, struct ob_policy *p)
{
	return ob_config_parse(s, strlen(s), p, fresh());
}

static void expect_fail(const char *s, int rc, const char *want)
{
	struct ob_policy p, zero;

	memset(&zero, 0, sizeof(zero));
	assert_int_equal(parse(s, &p), rc);
	/* all zero, but a valid mode annotation (oci.h) */
	zero.mode = p.mode;
	zero.mode_set = p.mode_set;
	assert_false(p.mode_set && p.mode == OB_MODE_ON && !strstr(s, "io.oci-bypass.mode"));
	assert_memory_equal(&p, &zero, sizeof(p));
	if (!strstr(oe.msg, want))
		fail_msg("error '%s' does not mention '%s'", oe.msg, want);
	assert_null(strchr(oe.msg, '\n'));
}

#define NS_NEW                                                                                     \
	"[{\"type\": \"pid\"}, {\"type\": \"network\"}, {\"type\": \"ipc\"}, {\"type\": "          \
	"\"mount\"}]"

static void defaults(void **state)
{
	(void)state;
	struct ob_policy p;

	assert_int_equal(parse(config(NULL, NS_NEW), &p), 0);
	assert_string_equal(oe.msg, "");
	assert_int_equal(p.mode, OB_MODE_ON);
	assert_false(p.mode_set);
	assert_int_equal(p.n_noports, 0);
	assert_false(p.trust);
	assert_false(p.allow_host_network);
	assert_true(p.has_netns);
	assert_string_equal(p.netns_path, "");
	assert_string_equal(p.id_hint, "");

	/* Nothing but an object is fine too. */
	assert_int_equal(parse("{}", &p), 0);
	assert_int_equal(p.mode, OB_MODE_ON);
	assert_false(p.has_netns);
	assert_int_equal(parse("{\"annotations\": null, \"linux\": null}", &p), 0);
	assert_int_equal(parse("{\"annotations\": {}, \"linux\": {}}", &p), 0);
	assert_int_equal(parse("{\"linux\": {\"namespaces\": null}}", &p), 0);
	assert_int_equal(parse("{\"linux\": {\"namespaces\": []}}", &p), 0);
	assert_false(p.has_netns);
}

static void mode_values(void **state)
{
	(void)state;
	static const struct {
		const char *val;
		enum ob_mode mode;
	} good[] = {
		{ "on", OB_MODE_ON },
		{ "off", OB_MODE_OFF },
		{ "required", OB_MODE_REQUIRED },
	};
	static const char *const bad[] = { "yes", "ON", "On",	"",	   " on",
					   "on ", "1",	"true", "require", "requiredx" };
	struct ob_policy p;
	char a[128];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(a, sizeof(a), "{\"io.oci-bypass.mode\": \"%s\"}", good[i].val);
		assert_int_equal(parse(config(a, NS_NEW), &p), 0);
		assert_int_equal(p.mode, good[i].mode);
		assert_true(p.mode_set);
		assert_string_equal(ob_mode_name(p.mode), good[i].val);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[128];

		snprintf(a, sizeof(a), "{\"io.oci-bypass.mode\": \"%s\"}", bad[i]);
		snprintf(want, sizeof(want),
			 "annotation io.oci-bypass.mode is '%s'; expected on, off or required",
			 bad[i]);
		expect_fail(config(a, NS_NEW), -EINVAL, want);
	}
	/* Other engines' annotations are ignored, whatever they hold. */
	assert_int_equal(
		parse(config("{\"io.container.manager\": \"libpod\", \"io.kubernetes.cri-o.x\": "
			     "\"\", \"org.opencontainers.image.stopSignal\": \"15\", "
			     "\"io.oci-bypass\": \"x\", \"io.oci-bypassmode\": \"x\"}",
			     NS_NEW),
		      &p),
		0);
	assert_int_equal(p.mode, OB_MODE_ON);
}

/* One list of mode values (validate.c) gives the parser, the names and the
 * regex the hooks.d file selects containers with. */
static void mode_table(void **state)
{
	(void)state;
	char re[64], tiny[8];
	enum ob_mode m;

	assert_int_equal(ob_mode_hook_regex(re, sizeof(re)), 0);
	assert_string_equal(re, "^(on|required)$");
	assert_int_equal(ob_mode_hook_regex(tiny, sizeof(tiny)), -ENAMETOOLONG);
	for (m = OB_MODE_ON; m <= OB_MODE_REQUIRED; m++) {
		enum ob_mode back;

		assert_true(ob_mode_parse(ob_mode_name(m), &back));
		assert_int_equal(back, m);
		/* off is the one value the hooks.d file does not select */
		assert_int_equal(strstr(re, ob_mode_name(m)) != NULL, m != OB_MODE_OFF);
	}
	assert_false(ob_mode_parse("ON", &m));
	assert_false(ob_mode_parse(NULL, &m));
}

static void typo_keys(void **state)
{
	(void)state;
	expect_fail(config("{\"io.oci-bypass.mdoe\": \"on\"}", NS_NEW), -EINVAL,
		    "unknown annotation 'io.oci-bypass.mdoe'");
	expect_fail(config("{\"io.oci-bypass.mode\": \"on\", \"io.oci-bypass.noports\": \"80\"}",
			   NS_NEW),
		    -EINVAL, "unknown annotation 'io.oci-bypass.noports'");
	expect_fail(config("{\"IO.OCI-BYPASS.MODE\": \"on\"}", NS_NEW), -EINVAL,
		    "unknown annotation 'IO.OCI-BYPASS.MODE'");
	expect_fail(config("{\"io.oci-bypass.\": \"on\"}", NS_NEW), -EINVAL,
		    "unknown annotation 'io.oci-bypass.'");
	expect_fail(config("{\"io.oci-bypass.mode\\n\": \"on\"}", NS_NEW), -EINVAL,
		    "unknown annotation 'io.oci-bypass.mode\\x0a'");
}

/* required fails closed on any config.json error: the mode survives it,
 * before or after the bad key (issue 11: a misspelt key made it fail open). */
static void required_despite_errors(void **state)
{
	struct ob_policy p;

	(void)state;
	assert_int_equal(parse(config("{\"io.oci-bypass.no-port\": \"80\", "
				      "\"io.oci-bypass.mode\": \"required\"}",
				      NS_NEW),
			       &p),
			 -EINVAL);
	assert_int_equal(p.mode, OB_MODE_REQUIRED);
	assert_int_equal(parse(config("{\"io.oci-bypass.mode\": \"required\", "
				      "\"io.oci-bypass.trust\": \"maybe\"}",
				      NS_NEW),
			       &p),
			 -EINVAL);
	assert_int_equal(p.mode, OB_MODE_REQUIRED);
	assert_int_equal(parse(config("{\"io.oci-bypass.mode\": \"required\"}",
				      "[{\"type\": \"network\", \"path\": \"rel/x\"}]"),
			       &p),
			 -EINVAL);
	assert_int_equal(p.mode, OB_MODE_REQUIRED);
	assert_false(p.trust);
	/* an invalid mode value stays an error with mode on */
	assert_int_equal(parse(config("{\"io.oci-bypass.mode\": \"require\"}", NS_NEW), &p),
			 -EINVAL);
	assert_int_equal(p.mode, OB_MODE_ON);
	assert_int_equal(p.mode, OB_MODE_ON);
}

static void noports(void **state)
{
	(void)state;
	static const struct {
		const char *val;
		int n;
		uint16_t ports[4];
	} good[] = {
		{ "443", 1, { 443 } },
		{ "443,6379", 2, { 443, 6379 } },
		{ "443, 6379", 2, { 443, 6379 } },
		{ " 1 65535 ", 2, { 1, 65535 } },
		{ "80,80,443,80", 2, { 80, 443 } },
		{ "00080", 1, { 80 } },
		{ "", 0, { 0 } },
		{ ",, ,", 0, { 0 } },
		{ "22\t8080", 2, { 22, 8080 } },
	};
	static const char *const bad[] = { "0",	     "65536",	"80x",
					   "x",	     "-1",	"+80",
					   "80;443", "1000000", "99999999999999999999",
					   "8.0",    "0x50" };
	struct ob_policy p;
	uint16_t pv[OB_NOPORTS_MAX];
	char a[256], ports17[128];
	size_t i;
	int k, n;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(a, sizeof(a), "{\"io.oci-bypass.no-ports\": \"%s\"}", good[i].val);
		assert_int_equal(parse(config(a, NS_NEW), &p), 0);
		assert_int_equal(p.n_noports, good[i].n);
		for (k = 0; k < good[i].n; k++)
			assert_int_equal(p.noports[k], good[i].ports[k]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(a, sizeof(a), "{\"io.oci-bypass.no-ports\": \"%s\"}", bad[i]);
		expect_fail(config(a, NS_NEW), -EINVAL, "io.oci-bypass.no-ports");
		assert_non_null(strstr(oe.msg, "is not a port number from 1 to 65535"));
	}
	/* The bad token is named. */
	expect_fail(config("{\"io.oci-bypass.no-ports\": \"443, 80x, 22\"}", NS_NEW), -EINVAL,
		    "'80x' is not a port number");

	/* 16 distinct ports are fine, 17 are not; repeats do not count. */
	for (n = 0, k = 1; k <= 16; k++)
		n += snprintf(ports17 + n, sizeof(ports17) - (size_t)n, "%s%d", k > 1 ? "," : "",
			      1000 + k);
	snprintf(a, sizeof(a), "{\"io.oci-bypass.no-ports\": \"%s,1001,1016\"}", ports17);
	assert_int_equal(parse(config(a, NS_NEW), &p), 0);
	assert_int_equal(p.n_noports, 16);
	assert_int_equal(p.noports[0], 1001);
	assert_int_equal(p.noports[15], 1016);
	snprintf(ports17 + n, sizeof(ports17) - (size_t)n, ",2000");
	snprintf(a, sizeof(a), "{\"io.oci-bypass.no-ports\": \"%s\"}", ports17);
	expect_fail(config(a, NS_NEW), -E2BIG, "more than 16 distinct ports");

	/* The helper on its own. */
	assert_int_equal(ob_noports_parse("8080 ,9090", pv, &n, fresh()), 0);
	assert_int_equal(n, 2);
	assert_int_equal(pv[0], 8080);
	assert_int_equal(pv[1], 9090);
	assert_int_equal(ob_noports_parse("1,0", pv, &n, fresh()), -EINVAL);
	assert_int_equal(n, 0);
	assert_string_equal(oe.msg, "'0' is not a port number from 1 to 65535");
}

static void booleans_and_name(void **state)
{
	(void)state;
	struct ob_policy p;

	assert_int_equal(parse(config("{\"io.oci-bypass.trust\": \"true\", "
				      "\"io.oci-bypass.allow-host-network\": \"true\", "
				      "\"io.oci-bypass.name\": \"web-1\"}",
				      NULL),
			       &p),
			 0);
	assert_true(p.trust);
	assert_true(p.allow_host_network);
	assert_string_equal(p.id_hint, "web-1");
	assert_false(p.has_netns);
	assert_int_equal(parse(config("{\"io.oci-bypass.trust\": \"false\", "
				      "\"io.oci-bypass.allow-host-network\": \"false\"}",
				      NS_NEW),
			       &p),
			 0);
	assert_false(p.trust);
	assert_false(p.allow_host_network);

	expect_fail(config("{\"io.oci-bypass.trust\": \"yes\"}", NS_NEW), -EINVAL,
		    "annotation io.oci-bypass.trust is 'yes'; expected true or false");
	expect_fail(config("{\"io.oci-bypass.trust\": \"True\"}", NS_NEW), -EINVAL,
		    "io.oci-bypass.trust is 'True'");
	expect_fail(config("{\"io.oci-bypass.allow-host-network\": \"1\"}", NS_NEW), -EINVAL,
		    "io.oci-bypass.allow-host-network is '1'; expected true or false");
	expect_fail(config("{\"io.oci-bypass.trust\": true}", NS_NEW), -EINVAL,
		    "annotation 'io.oci-bypass.trust' is a JSON boolean, not a string");
	expect_fail(config("{\"io.oci-bypass.name\": \"../etc\"}", NS_NEW), -EINVAL,
		    "io.oci-bypass.name is '../etc'");
	expect_fail(config("{\"io.oci-bypass.name\": \"\"}", NS_NEW), -EINVAL,
		    "io.oci-bypass.name is ''");
}

static void max_unread(void **state)
{
	(void)state;
	struct ob_policy p;

	assert_int_equal(parse(config("{\"io.oci-bypass.max-unread\": \"64m\"}", NS_NEW), &p), 0);
	assert_int_equal(p.max_unread, 64ull << 20);
	assert_int_equal(parse(config("{\"io.oci-bypass.mode\": \"on\"}", NS_NEW), &p), 0);
	assert_int_equal(p.max_unread, 0); /* absent: the load's default */
	expect_fail(config("{\"io.oci-bypass.max-unread\": \"2t\"}", NS_NEW), -EINVAL,
		    "annotation: io.oci-bypass.max-unread takes 65536 to 1099511627776 bytes");
	expect_fail(config("{\"io.oci-bypass.max-unread\": \"1k\"}", NS_NEW), -EINVAL, "not '1k'");
	/* an image's bytes reach the message escaped (fuzz_config found them raw) */
	expect_fail(config("{\"io.oci-bypass.max-unread\": \"1\\u00e8'\"}", NS_NEW), -EINVAL,
		    "not '1\\xc3\\xa8\\''");
}

static void namespaces(void **state)
{
	(void)state;
	struct ob_policy p;

	/* podman (netavark) joins a namespace it made; so do pods and `ip netns`. */
	assert_int_equal(parse(config("{\"io.container.manager\": \"libpod\"}",
				      "[{\"type\": \"pid\"}, {\"type\": \"network\", \"path\": "
				      "\"/run/netns/netns-6a1b\"}, {\"type\": \"mount\"}]"),
			       &p),
			 0);
	assert_true(p.has_netns);
	assert_string_equal(p.netns_path, "/run/netns/netns-6a1b");
	assert_int_equal(
		parse(config(NULL, "[{\"type\": \"network\", \"path\": \"/proc/4242/ns/net\"}]"),
		      &p),
		0);
	assert_string_equal(p.netns_path, "/proc/4242/ns/net");
	/* runc's default: a new one. An empty path means the same. */
	assert_int_equal(parse(config(NULL, "[{\"type\": \"network\"}]"), &p), 0);
	assert_true(p.has_netns);
	assert_string_equal(p.netns_path, "");
	assert_int_equal(parse(config(NULL, "[{\"type\": \"network\", \"path\": \"\"}]"), &p), 0);
	assert_true(p.has_netns);
	assert_string_equal(p.netns_path, "");
	assert_int_equal(parse(config(NULL, "[{\"type\": \"network\", \"path\": null}]"), &p), 0);
	assert_string_equal(p.netns_path, "");
	/* No network entry: the host's namespace. */
	assert_int_equal(
		parse(config(NULL, "[{\"type\": \"pid\"}, {\"type\": \"mount\"}, {\"type\": "
				   "\"uts\", \"path\": \"relative is not our business\"}]"),
		      &p),
		0);
	assert_false(p.has_netns);
	assert_string_equal(p.netns_path, "");

	expect_fail(config(NULL, "[{\"type\": \"network\", \"path\": \"run/netns/x\"}]"), -EINVAL,
		    "network namespace path 'run/netns/x'");
	expect_fail(config(NULL, "[{\"type\": \"network\", \"path\": \"/run/netns/../../etc/x\"}]"),
		    -EINVAL, "network namespace path '/run/netns/../../etc/x'");
	expect_fail(config(NULL, "[{\"type\": \"network\", \"path\": \"/run/netns/\\tx\"}]"),
		    -EINVAL, "'/run/netns/\\x09x'");
	expect_fail(config(NULL, "[{\"type\": \"network\", \"path\": 7}]"), -EINVAL,
		    "path is a JSON integer, not a string");
	expect_fail(config(NULL,
			   "[{\"type\": \"network\"}, {\"type\": \"network\", \"path\": \"/x\"}]"),
		    -EINVAL, "lists \"network\" twice");
	expect_fail(config(NULL, "{\"type\": \"network\"}"), -EINVAL,
		    "linux.namespaces is a JSON object, not an array");
	expect_fail(config(NULL, "[\"network\"]"), -EINVAL,
		    "linux.namespaces[0] is a JSON string, not an object");
	expect_fail(config(NULL, "[{\"type\": \"pid\"}, null]"), -EINVAL,
		    "linux.namespaces[1] is a JSON null, not an object");
	expect_fail(config(NULL, "[{\"path\": \"/run/netns/x\"}]"), -EINVAL,
		    "linux.namespaces[0] has no \"type\"");
	expect_fail(config(NULL, "[{\"type\": 5}]"), -EINVAL,
		    "linux.namespaces[0].type is a JSON integer, not a string");
	expect_fail("{\"linux\": []}", -EINVAL, "\"linux\" is a JSON array, not an object");
	expect_fail("{\"linux\": \"x\"}", -EINVAL, "\"linux\" is a JSON string");
}

static void wrong_types_and_limits(void **state)
{
	(void)state;
	struct ob_policy p;
	char *big;
	size_t n;

	expect_fail(config("[\"io.oci-bypass.mode=on\"]", NS_NEW), -EINVAL,
		    "\"annotations\" is a JSON array, not an object");
	expect_fail(config("\"io.oci-bypass.mode=on\"", NS_NEW), -EINVAL,
		    "\"annotations\" is a JSON string");
	expect_fail(config("{\"other\": 1}", NS_NEW), -EINVAL,
		    "annotation 'other' is a JSON integer, not a string");
	expect_fail(config("{\"other\": {\"a\": \"b\"}}", NS_NEW), -EINVAL,
		    "JSON object, not a string");
	expect_fail(config("{\"io.oci-bypass.mode\": \"on\\u0000ff\"}", NS_NEW), -EINVAL,
		    "escaped NUL");
	expect_fail("", -EINVAL, "config.json is empty");
	expect_fail("[]", -EINVAL, "config.json is a JSON array, not an object");
	expect_fail("{\"annotations\": {\"io.oci-bypass.mode\": \"on\"}", -EINVAL, "ends early");
	expect_fail("{\"a\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
		    -EINVAL, "nests deeper than 24");

	/* 4 MiB are accepted, one byte more is not. */
	big = malloc(OB_CONFIG_MAX + 1);
	assert_non_null(big);
	n = (size_t)snprintf(big, 128,
			     "{\"annotations\": {\"io.oci-bypass.mode\": \"required\"}, \"x\": \"");
	memset(big + n, 'x', OB_CONFIG_MAX - n - 2);
	memcpy(big + OB_CONFIG_MAX - 2, "\"}", 2);
	assert_int_equal(ob_config_parse(big, OB_CONFIG_MAX, &p, fresh()), 0);
	assert_int_equal(p.mode, OB_MODE_REQUIRED);
	memset(big + n, 'x', OB_CONFIG_MAX + 1 - n - 2);
	memcpy(big + OB_CONFIG_MAX + 1 - 2, "\"}", 2);
	assert_int_equal(ob_config_parse(big, OB_CONFIG_MAX + 1, &p, fresh()), -E2BIG);
	assert_non_null(strstr(oe.msg, "4194305 bytes, more than the 4194304 accepted"));
	free(big);
}

static void everything(void **state)
{
	(void)state;
	struct ob_policy p;

	assert_int_equal(
		parse(config("{\"io.oci-bypass.mode\": \"required\", "
			     "\"io.oci-bypass.no-ports\": \"5432 6379\", "
			     "\"io.oci-bypass.trust\": \"true\", "
			     "\"io.oci-bypass.allow-host-network\": \"false\", "
			     "\"io.oci-bypass.name\": \"db.primary\", "
			     "\"io.kubernetes.cri.container-type\": \"container\"}",
			     "[{\"type\": \"network\", \"path\": \"/var/run/netns/cni-1234\"}]"),
		      &p),
		0);
	assert_int_equal(p.mode, OB_MODE_REQUIRED);
	assert_int_equal(p.n_noports, 2);
	assert_int_equal(p.noports[0], 5432);
	assert_int_equal(p.noports[1], 6379);
	assert_true(p.trust);
	assert_false(p.allow_host_network);
	assert_true(p.has_netns);
	assert_string_equal(p.netns_path, "/var/run/netns/cni-1234");
	assert_string_equal(p.id_hint, "db.primary");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(mode_values),
		cmocka_unit_test(mode_table),
		cmocka_unit_test(typo_keys),
		cmocka_unit_test(required_despite_errors),
		cmocka_unit_test(noports),
		cmocka_unit_test(booleans_and_name),
		cmocka_unit_test(max_unread),
		cmocka_unit_test(namespaces),
		cmocka_unit_test(wrong_types_and_limits),
		cmocka_unit_test(everything),
	};

	return cmocka_run_group_tests_name("oci_config", tests, NULL, NULL);
}
