/* test_verdicts.c - kept verdicts: the file's text, written and read back, and every malformed
 * file refused (test_format.c: status lists them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ob.h"
#include "verdicts_sample.h"

#define KEY SAMPLE_KEY

static int parse(const char *key, const char *text, struct ob_verdicts *out)
{
	struct ob_error e = { 0 };
	int err = ob_verdicts_parse(key, text, strlen(text), out, &e);

	if (err)
		assert_true(e.msg[0] != '\0'); /* a refusal says why */
	return err;
}

static void round_trip(void **state)
{
	(void)state;
	struct ob_verdicts *vs = three_kept(), *back = calloc(1, sizeof(*back));
	char *text = ob_verdicts_format(vs);

	assert_non_null(text);
	assert_int_equal(parse(KEY, text, back), 0);
	assert_string_equal(back->key, KEY);
	assert_string_equal(back->id, "web");
	assert_true(back->saved == 1796000000);
	assert_int_equal(back->n, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(back->v[i].port, vs->v[i].port);
		assert_int_equal(back->v[i].state, vs->v[i].state);
	}
	free(text);
	free(vs);
	free(back);
}

static void only_learned_states_are_kept(void **state)
{
	(void)state;
	assert_false(ob_verdict_keepable(OB_SVC_PROBATION));
	assert_false(ob_verdict_keepable(OB_SVC_OVER_QUOTA));
	assert_false(ob_verdict_keepable(OB_SVC_UNTRACKED));
	for (uint32_t s = OB_SVC_GOOD; s <= OB_SVC_ULP; s++)
		assert_true(ob_verdict_keepable(s));
}

static void keys(void **state)
{
	(void)state;
	assert_true(ob_verdicts_key_valid(KEY));
	assert_false(ob_verdicts_key_valid("web"));
	assert_false(ob_verdicts_key_valid("web-1a2b3c4"));   /* 7 digits */
	assert_false(ob_verdicts_key_valid("web-1a2b3c4g"));  /* not hex */
	assert_false(ob_verdicts_key_valid("web-1A2B3C4D"));  /* not as made */
	assert_false(ob_verdicts_key_valid("-1a2b3c4d"));     /* no id */
	assert_false(ob_verdicts_key_valid("../x-1a2b3c4d")); /* a path */
	assert_false(ob_verdicts_key_valid("a/b-1a2b3c4d"));
}

/* Each text is one thing wrong with an otherwise good file. */
static void malformed_refused(void **state)
{
	(void)state;
	static const char *bad[] = {
		"",
		"[]",
		"{\"id\":\"web\",\"saved\":1,\"services\":[]} x",
		"{\"id\":\"web\",\"saved\":1}",
		"{\"id\":\"web\",\"services\":[]}",
		"{\"saved\":1,\"services\":[]}",
		"{\"id\":\"other\",\"saved\":1,\"services\":[]}", /* not its name's id */
		"{\"id\":\"we\",\"saved\":1,\"services\":[]}",
		"{\"id\":\"web\",\"saved\":\"1\",\"services\":[]}",
		"{\"id\":\"web\",\"saved\":1,\"services\":{}}",
		"{\"id\":\"web\",\"saved\":1,\"services\":[1]}",
		"{\"id\":\"web\",\"saved\":1,\"services\":[{\"port\":80}]}",
		"{\"id\":\"web\",\"saved\":1,\"services\":[{\"port\":0,\"state\":\"accelerated\"}]"
		"}",
		"{\"id\":\"web\",\"saved\":1,\"services\":[{\"port\":65536,\"state\":"
		"\"accelerated\"}]}",
		"{\"id\":\"web\",\"saved\":1,\"services\":[{\"port\":\"80\",\"state\":"
		"\"accelerated\"}]}",
		"{\"id\":\"web\",\"saved\":1,\"services\":[{\"port\":80,\"state\":\"probation\"}]}",
		"{\"id\":\"web\",\"saved\":1,\"services\":[{\"port\":80,\"state\":\"good\"}]}",
		"{\"id\":\"web\",\"saved\":1,\"services\":[{\"port\":80,\"state\":\"accelerated\"},"
		"{\"port\":80,\"state\":\"halfclose\"}]}",
	};
	struct ob_verdicts *out = calloc(1, sizeof(*out));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(KEY, bad[i], out) == 0)
			fail_msg("accepted: %s", bad[i]);
	/* a good text under a key that is not one */
	assert_int_not_equal(parse("web", "{\"id\":\"web\",\"saved\":1,\"services\":[]}", out), 0);
	free(out);
}

static void too_many_services_refused(void **state)
{
	(void)state;
	struct ob_verdicts *vs = calloc(1, sizeof(*vs)), *out = calloc(1, sizeof(*out));
	char *text, *big;
	size_t len;

	snprintf(vs->id, sizeof(vs->id), "web");
	vs->n = OB_VERDICTS_MAX_SVC;
	for (int i = 0; i < vs->n; i++)
		vs->v[i] = (struct ob_verdict){ (uint16_t)(1000 + i), OB_SVC_GOOD };
	text = ob_verdicts_format(vs);
	assert_int_equal(parse(KEY, text, out), 0);
	assert_int_equal(out->n, OB_VERDICTS_MAX_SVC);
	/* one more, spliced in before the closing "]}" */
	len = strlen(text);
	big = malloc(len + 64);
	snprintf(big, len + 64, "%.*s,{\"port\":9,\"state\":\"accelerated\"}]}", (int)(len - 2),
		 text);
	assert_int_not_equal(parse(KEY, big, out), 0);
	free(big);
	free(text);
	free(vs);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(only_learned_states_are_kept),
		cmocka_unit_test(keys),
		cmocka_unit_test(malformed_refused),
		cmocka_unit_test(too_many_services_refused),
	};

	return cmocka_run_group_tests_name("verdicts", tests, NULL, NULL);
}
