/* test_format.c - counter sums, status JSON and Prometheus exposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "ob.h"
#include "verdicts_sample.h"

static char *render(int (*fn)(FILE *, const struct ob_view *), const struct ob_view *v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(fn(f, v), 0);
	fclose(f);
	return buf;
}

static struct ob_ns_view two_ns[2];
static struct ob_svc_view two_svc[2] = {
	{ 4098, 8080, OB_SVC_GOOD, 6, { [OB_SKIP_QUIET] = 2, [OB_SKIP_READER] = 1 } },
	{ 77, 22, OB_SVC_HALFCLOSE, 0, { 0 } }
};

static struct ob_view sample(void)
{
	struct ob_view v = { .loaded = true,
			     .pinned = true,
			     .enabled = true,
			     .build_id = 0xabcdef0123456789ull,
			     .sockhash_entries = 4,
			     .n_ns = 2,
			     .ns = two_ns,
			     .n_svc = 2,
			     .svc = two_svc };

	memset(two_ns, 0, sizeof(two_ns));
	strcpy(two_ns[0].name, "web");
	two_ns[0].cookie = 4098;
	two_ns[0].c.sockets = 2;
	two_ns[0].c.redirected_bytes = 123456789012ull;
	two_ns[0].c.redirected_msgs = 7;
	two_ns[0].c.tcp_msgs = 1;
	two_ns[0].unread = -5; /* a drift must show, signed */
	two_ns[0].trust = true;
	two_ns[0].c.over_quota = 3;
	two_ns[0].quota[0].used = 12;
	two_ns[0].quota[0].limit = 16384;
	two_ns[0].quota[2].used = 4;
	two_ns[0].quota[2].limit = 4;
	strcpy(two_ns[1].name, "we\"ird\\name");
	two_ns[1].cookie = 9;
	return v;
}

/* Per-CPU values: a socket opened on CPU 0 and closed on CPU 1 leaves
 * +1 and -1 (wrapped); the sum must be exact. */
static void counters_sum_across_cpus(void **state)
{
	(void)state;
	struct ob_counters cpu0 = { .sockets = 1, .redirected_bytes = 10, .full = 3 };
	struct ob_counters cpu1 = { .sockets = (uint64_t)-1, .redirected_bytes = 5, .full = 1 };
	struct ob_counters sum = { 0 };

	ob_counters_add(&sum, &cpu0);
	ob_counters_add(&sum, &cpu1);
	assert_int_equal(sum.sockets, 0);
	assert_int_equal(sum.redirected_bytes, 15);
	assert_int_equal(sum.full, 4);
}

/* The names README and status --json document, one per enum value. */
static void service_state_names(void **state)
{
	(void)state;
	assert_string_equal(ob_svc_state_name(OB_SVC_PROBATION), "probation");
	assert_string_equal(ob_svc_state_name(OB_SVC_GOOD), "accelerated");
	assert_string_equal(ob_svc_state_name(OB_SVC_HALFCLOSE), "halfclose");
	assert_string_equal(ob_svc_state_name(OB_SVC_OVERFLOW), "overflow");
	assert_string_equal(ob_svc_state_name(OB_SVC_WAITALL), "waitall");
	assert_string_equal(ob_svc_state_name(OB_SVC_SPLICE), "splice");
	assert_string_equal(ob_svc_state_name(OB_SVC_RCVLOWAT), "rcvlowat");
	assert_string_equal(ob_svc_state_name(OB_SVC_ZEROCOPY), "zerocopy");
	assert_string_equal(ob_svc_state_name(OB_SVC_ULP), "ktls");
	assert_string_equal(ob_svc_state_name(OB_SVC_UNTRACKED), "unknown");
	assert_string_equal(ob_svc_state_name(77), "unknown");
}

static void json_has_documented_keys(void **state)
{
	(void)state;
	struct ob_view v = sample();
	char *out = render(ob_format_json, &v);
	json_object *root = json_tokener_parse(out), *arr, *ns0, *x;

	assert_non_null(root);
	assert_true(json_object_object_get_ex(root, "loaded", &x));
	assert_true(json_object_get_boolean(x));
	assert_true(json_object_object_get_ex(root, "enabled", &x));
	assert_true(json_object_get_boolean(x));
	assert_true(json_object_object_get_ex(root, "netns", &arr));
	assert_int_equal(json_object_array_length(arr), 2);
	ns0 = json_object_array_get_idx(arr, 0);
	static const char *keys[] = { "name",
				      "cookie",
				      "sockets",
				      "redirected_bytes",
				      "redirected_msgs",
				      "tcp_msgs",
				      "trust",
				      "quota",
				      "over_quota",
				      "unread_budget_bytes",
				      "unread_budget_share_bytes" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_true(json_object_object_get_ex(ns0, keys[i], &x));
	json_object_object_get_ex(ns0, "redirected_bytes", &x);
	assert_true(json_object_get_uint64(x) == 123456789012ull);
	json_object_object_get_ex(ns0, "name", &x);
	assert_string_equal(json_object_get_string(x), "web");
	json_object_object_get_ex(json_object_array_get_idx(arr, 1), "name", &x);
	assert_string_equal(json_object_get_string(x), "we\"ird\\name");
	json_object_object_get_ex(ns0, "trust", &x);
	assert_true(json_object_get_boolean(x));
	json_object_object_get_ex(ns0, "over_quota", &x);
	assert_true(json_object_get_uint64(x) == 3);
	{
		json_object *q, *one;

		assert_true(json_object_object_get_ex(ns0, "quota", &q));
		for (int k = 0; k < OB_QUOTAS; k++) {
			assert_true(json_object_object_get_ex(q, ob_quota_names[k], &one));
			assert_true(json_object_object_get_ex(one, "used", &x));
			assert_true(json_object_object_get_ex(one, "limit", &x));
		}
		json_object_object_get_ex(q, "sockets", &one);
		json_object_object_get_ex(one, "used", &x);
		assert_int_equal(json_object_get_int64(x), 4);
		json_object_object_get_ex(q, "conns", &one);
		json_object_object_get_ex(one, "limit", &x);
		assert_int_equal(json_object_get_int64(x), 16384);
	}
	json_object_object_get_ex(json_object_array_get_idx(arr, 1), "trust", &x);
	assert_false(json_object_get_boolean(x));
	assert_true(json_object_object_get_ex(root, "services", &arr));
	assert_int_equal(json_object_array_length(arr), 2);
	json_object_object_get_ex(json_object_array_get_idx(arr, 0), "state", &x);
	assert_string_equal(json_object_get_string(x), "accelerated");
	json_object_object_get_ex(json_object_array_get_idx(arr, 0), "netns", &x);
	assert_string_equal(json_object_get_string(x), "web");
	json_object_object_get_ex(json_object_array_get_idx(arr, 1), "state", &x);
	assert_string_equal(json_object_get_string(x), "halfclose");
	json_object_object_get_ex(json_object_array_get_idx(arr, 1), "netns", &x);
	assert_string_equal(json_object_get_string(x), "(withdrawn)");
	{
		json_object *svc = json_object_array_get_idx(arr, 0), *skips;

		assert_true(json_object_object_get_ex(svc, "promoted", &x));
		assert_int_equal(json_object_get_int64(x), 6);
		assert_true(json_object_object_get_ex(svc, "promote_skips", &skips));
		for (int k = 0; k < OB_SKIP_N; k++)
			assert_true(json_object_object_get_ex(skips, ob_skip_names[k], &x));
		json_object_object_get_ex(skips, "quiet", &x);
		assert_int_equal(json_object_get_int64(x), 2);
		json_object_object_get_ex(skips, "reader", &x);
		assert_int_equal(json_object_get_int64(x), 1);
	}
	json_object_put(root);
	free(out);
}

static void json_not_loaded(void **state)
{
	(void)state;
	struct ob_view v = { 0 };
	char *out = render(ob_format_json, &v);
	json_object *root = json_tokener_parse(out), *x;

	assert_true(json_object_object_get_ex(root, "loaded", &x));
	assert_false(json_object_get_boolean(x));
	assert_true(json_object_object_get_ex(root, "netns", &x));
	assert_int_equal(json_object_array_length(x), 0);
	json_object_put(root);
	free(out);
}

/* Every sample line is "name{labels} value", every metric has HELP and
 * TYPE before its samples, label values are escaped. */
static void prometheus_exposition(void **state)
{
	(void)state;
	struct ob_view v = sample();
	char *out = render(ob_format_prometheus, &v), *save = NULL;
	char last_type[128] = "";
	int samples = 0;

	assert_non_null(strstr(
		out,
		"oci_bypass_redirected_bytes_total{netns=\"web\",cookie=\"4098\"} 123456789012\n"));
	assert_non_null(strstr(out, "oci_bypass_sockets{netns=\"web\",cookie=\"4098\"} 2\n"));
	assert_non_null(strstr(out, "netns=\"we\\\"ird\\\\name\""));
	assert_non_null(strstr(out, "oci_bypass_loaded 1\n"));
	assert_non_null(
		strstr(out, "oci_bypass_netns_unread_bytes{netns=\"web\",cookie=\"4098\"} -5\n"));
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "# TYPE ", 7)) {
			sscanf(line + 7, "%127s", last_type);
			assert_true(strstr(line, " counter") || strstr(line, " gauge"));
			continue;
		}
		if (line[0] == '#')
			continue;
		/* sample belongs to the metric whose TYPE came last */
		assert_int_equal(strncmp(line, last_type, strlen(last_type)), 0);
		char c = line[strlen(last_type)];
		assert_true(c == '{' || c == ' ');
		assert_non_null(strrchr(line, ' '));
		samples++;
	}
	/* 4 host gauges, 2 for unread bytes and budget, then per netns (2):
	 * its unread bytes and every counter */
	assert_int_equal(samples, 4 + 2 + 2 + OB_COUNTER_FIELDS * 2);
	free(out);
}

static void negative_gauge_prints_signed(void **state)
{
	(void)state;
	struct ob_view v = sample();
	char *out;

	two_ns[0].c.sockets = (uint64_t)-1; /* transiently negative across CPUs */
	out = render(ob_format_prometheus, &v);
	assert_non_null(strstr(out, "oci_bypass_sockets{netns=\"web\",cookie=\"4098\"} -1\n"));
	free(out);
}

static void text_lists_every_netns(void **state)
{
	(void)state;
	struct ob_view v = sample();
	char *out = render(ob_format_text, &v);

	assert_non_null(strstr(out, "enabled"));
	assert_non_null(strstr(out, "web"));
	assert_non_null(strstr(out, "123456789012"));
	assert_non_null(strstr(out, "4098"));
	assert_non_null(strstr(out, "8080  accelerated"));
	assert_non_null(strstr(out, "6  quiet 2, reader 1\n"));
	assert_non_null(strstr(out, "22  halfclose           0  -\n"));
	assert_non_null(strstr(out, "QUOTAS (USED/LIMIT)"));
	assert_non_null(strstr(out, "12/16384"));
	assert_non_null(strstr(out, " 4/4 "));
	free(out);
	v.loaded = false;
	out = render(ob_format_text, &v);
	assert_non_null(strstr(out, "draining"));
	free(out);
}

/* status lists them whether the datapath is loaded or not. */
static void status_lists_them(void **state)
{
	(void)state;
	struct ob_view v = { 0 };
	char *out;
	json_object *root, *arr, *one, *x;

	v.kept = three_kept();
	v.n_kept = 1;
	out = render(ob_format_text, &v);
	assert_non_null(strstr(out, SAMPLE_KEY));
	assert_non_null(strstr(out, "6379 accelerated, 5432 halfclose, 443 ktls"));
	free(out);
	v.pinned = v.loaded = true;
	out = render(ob_format_text, &v);
	assert_non_null(strstr(out, "6379 accelerated"));
	free(out);
	out = render(ob_format_json, &v);
	root = json_tokener_parse(out);
	assert_true(json_object_object_get_ex(root, "kept_verdicts", &arr));
	assert_int_equal(json_object_array_length(arr), 1);
	one = json_object_array_get_idx(arr, 0);
	assert_true(json_object_object_get_ex(one, "key", &x));
	assert_string_equal(json_object_get_string(x), SAMPLE_KEY);
	assert_true(json_object_object_get_ex(one, "services", &x));
	assert_int_equal(json_object_array_length(x), 3);
	json_object_object_get_ex(json_object_array_get_idx(x, 1), "state", &x);
	assert_string_equal(json_object_get_string(x), "halfclose");
	json_object_put(root);
	free(out);
	free(v.kept);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counters_sum_across_cpus),
		cmocka_unit_test(service_state_names),
		cmocka_unit_test(json_has_documented_keys),
		cmocka_unit_test(json_not_loaded),
		cmocka_unit_test(prometheus_exposition),
		cmocka_unit_test(negative_gauge_prints_signed),
		cmocka_unit_test(text_lists_every_netns),
		cmocka_unit_test(status_lists_them),
	};

	return cmocka_run_group_tests_name("format", tests, NULL, NULL);
}
