/* test_oci_policy.c - the host policy file (policy.conf) and what it lets annotations do. */
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

static int parse(const char *s, struct ob_host_policy *hp)
{
	memset(&oe, 0, sizeof(oe));
	memset(hp, 0xff, sizeof(*hp)); /* whatever was there must not survive */
	return ob_host_policy_parse(s, strlen(s), "policy.conf", hp, &oe);
}

/* Fails with rc, names want, and leaves the policy all off. */
static void expect_fail(const char *s, int rc, const char *want)
{
	struct ob_host_policy hp;

	assert_int_equal(parse(s, &hp), rc);
	assert_false(hp.allow_trust);
	assert_false(hp.allow_host_network);
	assert_int_equal(oe.code, rc);
	if (!strstr(oe.msg, want))
		fail_msg("error '%s' does not mention '%s'", oe.msg, want);
	assert_null(strchr(oe.msg, '\n'));
}

static void valid(void **state)
{
	(void)state;
	struct ob_host_policy hp;

	assert_int_equal(parse("allow-trust = true\nallow-host-network = false\n", &hp), 0);
	assert_true(hp.allow_trust);
	assert_false(hp.allow_host_network);
	assert_string_equal(oe.msg, "");
	assert_int_equal(parse("allow-host-network=true", &hp), 0); /* no blanks, no newline */
	assert_false(hp.allow_trust);				    /* not given: false */
	assert_true(hp.allow_host_network);
	assert_int_equal(parse("\tallow-trust\t=\ttrue\t\r\nallow-host-network = true\r\n", &hp),
			 0);
	assert_true(hp.allow_trust);
	assert_true(hp.allow_host_network);
	assert_int_equal(parse("", &hp), 0); /* empty: all off */
	assert_false(hp.allow_trust);
	assert_false(hp.allow_host_network);
}

static void comments_and_blanks(void **state)
{
	(void)state;
	struct ob_host_policy hp;

	assert_int_equal(parse("# allow-trust = true\n"
			       "\n"
			       "   \n"
			       "  # indented comment = with = signs\n"
			       "allow-host-network = true # a comment after the value\n"
			       "#allow-trust = true",
			       &hp),
			 0);
	assert_false(hp.allow_trust);
	assert_true(hp.allow_host_network);
	assert_int_equal(parse("allow-trust = true#no blank before it", &hp), 0);
	assert_true(hp.allow_trust);
	/* a comment swallows what follows it, '=' included */
	expect_fail("allow-trust # = true\n", -EINVAL, "policy.conf:1: 'allow-trust' is not");
}

static void bad_keys(void **state)
{
	(void)state;
	expect_fail("allow-trust = true\nallow-trusted = true\n", -EINVAL,
		    "policy.conf:2: unknown key 'allow-trusted' (known: allow-trust, "
		    "allow-host-network, allow-max-unread)");
	expect_fail("Allow-Trust = true", -EINVAL, "policy.conf:1: unknown key 'Allow-Trust'");
	expect_fail("trust = true", -EINVAL, "unknown key 'trust'");
	expect_fail(" = true", -EINVAL, "policy.conf:1: unknown key ''");
	expect_fail("\n\n\nallow trust = true", -EINVAL,
		    "policy.conf:4: unknown key 'allow trust'");
	expect_fail("allow-trust\n", -EINVAL, "policy.conf:1: 'allow-trust' is not 'key = value'");
	expect_fail("allow-trust = true\n[section]\n", -EINVAL,
		    "policy.conf:2: '[section]' is not 'key = value'");
	expect_fail("allow-\x01trust = true", -EINVAL, "'allow-\\x01trust'");
}

static void bad_values(void **state)
{
	(void)state;
	static const char *const bad[] = { "yes", "True",      "TRUE",	   "1",	    "",
					   "on",  "true true", "\"true\"", "truex", "t" };
	char doc[128], want[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(doc, sizeof(doc), "allow-host-network = false\nallow-trust = %s\n",
			 bad[i]);
		snprintf(want, sizeof(want),
			 "policy.conf:2: allow-trust is '%s'; expected true or false", bad[i]);
		expect_fail(doc, -EINVAL, want);
	}
	expect_fail("allow-trust = true = false", -EINVAL, "allow-trust is 'true = false'");
}

static void duplicates(void **state)
{
	(void)state;
	expect_fail("allow-trust = false\n# later\nallow-trust = true\n", -EINVAL,
		    "policy.conf:3: allow-trust given twice (first on line 1)");
	expect_fail("allow-host-network = true\nallow-host-network = true\n", -EINVAL,
		    "policy.conf:2: allow-host-network given twice (first on line 1)");
}

static void limits(void **state)
{
	(void)state;
	struct ob_host_policy hp;
	char *big = malloc(OB_POLICY_MAX + 2);
	static const char nul[] = "allow-trust = true\n\0allow-host-network = true\n";

	assert_non_null(big);
	memset(big, '#', OB_POLICY_MAX + 1);
	big[OB_POLICY_MAX + 1] = '\0';
	memset(&hp, 0xff, sizeof(hp));
	assert_int_equal(ob_host_policy_parse(big, OB_POLICY_MAX + 1, "p", &hp, &oe), -EFBIG);
	assert_false(hp.allow_trust);
	assert_int_equal(ob_host_policy_parse(big, OB_POLICY_MAX, "p", &hp, &oe), 0);
	free(big);
	memset(&hp, 0xff, sizeof(hp));
	assert_int_equal(ob_host_policy_parse(nul, sizeof(nul) - 1, "p", &hp, &oe), -EINVAL);
	assert_false(hp.allow_trust);
	assert_false(hp.allow_host_network);
	assert_non_null(strstr(oe.msg, "NUL"));
	/* no error object: the same answer */
	assert_int_equal(ob_host_policy_parse("allow-trust = 1", 15, "p", &hp, NULL), -EINVAL);
}

/* What install-hooks writes, the parser reads back, for each of the four. */
static void write_round_trip(void **state)
{
	(void)state;
	for (int i = 0; i < 4; i++) {
		struct ob_host_policy in = { .allow_trust = i & 1,
					     .allow_host_network = i & 2,
					     .allow_max_unread = i == 3 ? 1ull << 30 : 0 },
				      out;
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		assert_non_null(f);
		assert_int_equal(ob_host_policy_write(f, &in, NULL), 0);
		fclose(f);
		assert_int_equal(ob_host_policy_parse(buf, len, "w", &out, &oe), 0);
		assert_int_equal(out.allow_trust, in.allow_trust);
		assert_int_equal(out.allow_host_network, in.allow_host_network);
		assert_true(out.allow_max_unread == in.allow_max_unread);
		assert_non_null(strstr(buf, "io.oci-bypass.trust=true"));
		assert_non_null(strstr(buf, "io.oci-bypass.allow-host-network=true"));
		assert_true(len < OB_POLICY_MAX);
		free(buf);
	}
}

/* allow-max-unread: 0 or a size as the annotation takes it; anything else
 * makes the whole file allow nothing. */
static void max_unread_key(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int ok;
		uint64_t want;
	} cases[] = {
		{ "allow-max-unread = 0\n", 1, 0 },
		{ "allow-max-unread = 1g\n", 1, 1ull << 30 },
		{ "allow-max-unread=536870912 # bytes\n", 1, 512ull << 20 },
		{ "allow-max-unread = 1t\n", 0, 0 },
		{ "allow-max-unread = -1\n", 0, 0 },
		{ "allow-max-unread = 1k\n", 0, 0 }, /* below the annotation's minimum */
		{ "allow-max-unread = true\n", 0, 0 },
		{ "allow-max-unread = \n", 0, 0 },
		{ "allow-max-unread = 123456789012345678901234567890\n", 0, 0 },
		{ "allow-max-unread = 1g\nallow-max-unread = 2g\n", 0, 0 },
		{ "allow-trust = true\nallow-max-unread = 1x\n", 0, 0 },
		/* found by fuzz_policy: a byte the message must not carry raw */
		{ "allow-max-unread =\xe9"
		  "0g\n",
		  0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ob_host_policy hp = { .allow_trust = true, .allow_max_unread = 7 };
		struct ob_error e = { 0 };
		int rc = ob_host_policy_parse(cases[i].text, strlen(cases[i].text), "p", &hp, &e);

		if (cases[i].ok) {
			if (rc)
				fail_msg("refused: %s (%s)", cases[i].text, e.msg);
			assert_true(hp.allow_max_unread == cases[i].want);
		} else {
			if (!rc)
				fail_msg("accepted: %s", cases[i].text);
			/* a bad file allows nothing, not even its good lines */
			assert_false(hp.allow_trust);
			assert_true(hp.allow_max_unread == 0);
			assert_non_null(strstr(e.msg, "p:"));
			for (const char *c = e.msg; *c; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
					fail_msg("unprintable byte in: %s", e.msg);
		}
	}
}

static void restrict_max_unread(void **state)
{
	(void)state;
	struct ob_host_policy none = { 0 }, two = { .allow_max_unread = 2ull << 30 };
	struct ob_policy q;

	/* up to the namespace default: nothing needed */
	q = (struct ob_policy){ .max_unread = OB_MAX_UNREAD_FREE };
	assert_int_equal(ob_policy_restrict(&q, &none), 0);
	assert_true(q.max_unread == OB_MAX_UNREAD_FREE);
	/* above it: the policy's allow-max-unread, or the default */
	q = (struct ob_policy){ .max_unread = OB_MAX_UNREAD_FREE + 1 };
	assert_int_equal(ob_policy_restrict(&q, &none), OB_REFUSED_MAX_UNREAD);
	assert_true(q.max_unread == 0);
	q = (struct ob_policy){ .max_unread = 2ull << 30 };
	assert_int_equal(ob_policy_restrict(&q, &two), 0);
	assert_true(q.max_unread == 2ull << 30);
	q = (struct ob_policy){ .max_unread = (2ull << 30) + 1, .trust = true };
	assert_int_equal(ob_policy_restrict(&q, &two), OB_REFUSED_MAX_UNREAD | OB_REFUSED_TRUST);
	assert_true(q.max_unread == 0);
}

static void restrict_annotations(void **state)
{
	(void)state;
	struct ob_host_policy none = { 0 }, trust = { .allow_trust = true },
			      host = { .allow_host_network = true },
			      both = { .allow_trust = true, .allow_host_network = true };
	struct ob_policy p = { .trust = true, .allow_host_network = true, .max_unread = 1 << 20 };
	struct ob_policy q;

	q = p;
	assert_int_equal(ob_policy_restrict(&q, &none), OB_REFUSED_TRUST | OB_REFUSED_HOST_NETWORK);
	assert_false(q.trust);
	assert_false(q.allow_host_network);
	assert_true(q.max_unread == 1 << 20); /* the other annotations keep working */
	q = p;
	assert_int_equal(ob_policy_restrict(&q, &trust), OB_REFUSED_HOST_NETWORK);
	assert_true(q.trust);
	assert_false(q.allow_host_network);
	q = p;
	assert_int_equal(ob_policy_restrict(&q, &host), OB_REFUSED_TRUST);
	assert_false(q.trust);
	assert_true(q.allow_host_network);
	q = p;
	assert_int_equal(ob_policy_restrict(&q, &both), 0);
	assert_true(q.trust);
	assert_true(q.allow_host_network);
	/* nothing asked, nothing refused */
	q = (struct ob_policy){ 0 };
	assert_int_equal(ob_policy_restrict(&q, &none), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid),
		cmocka_unit_test(comments_and_blanks),
		cmocka_unit_test(bad_keys),
		cmocka_unit_test(bad_values),
		cmocka_unit_test(duplicates),
		cmocka_unit_test(limits),
		cmocka_unit_test(write_round_trip),
		cmocka_unit_test(restrict_annotations),
		cmocka_unit_test(max_unread_key),
		cmocka_unit_test(restrict_max_unread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
