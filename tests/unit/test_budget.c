/* test_budget.c - a namespace's budget of unread redirected bytes, shared
 * out of the host's (ob_ns_budget() in bypass.h, "Budgets"): the budgets
 * of the namespaces enrolled never add up to more than the host's, and
 * a namespace's own budget is kept where it is the smaller. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bypass.h"

/* However many namespaces share, and whatever they ask, their budgets
 * together stay within the host's. */
static void shares_add_up_to_the_host_at_most(void **state)
{
	static const __u64 hosts[] = { 1, 4096, 256ull << 20, 1179156488ull, ~0ull };

	(void)state;
	for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++)
		for (__s64 n = 1; n <= 4096; n = n < 16 ? n + 1 : n * 3) {
			__u64 each = ob_ns_budget(~0ull, hosts[h], n);

			assert_true(each <= hosts[h] / (__u64)n);
			assert_true(each * (__u64)n <= hosts[h]);
		}
}

/* A namespace's own budget, where it is below its share, is its budget;
 * alone it may have the host's, no more. */
static void own_budget_kept_below_the_share(void **state)
{
	(void)state;
	assert_int_equal(ob_ns_budget(256ull << 20, 1ull << 30, 1), 256ull << 20);
	assert_int_equal(ob_ns_budget(256ull << 20, 1ull << 30, 4), 256ull << 20);
	assert_int_equal(ob_ns_budget(256ull << 20, 1ull << 30, 5), (1ull << 30) / 5);
	assert_int_equal(ob_ns_budget(1ull << 40, 1ull << 30, 1), 1ull << 30);
}

/* No namespace counted yet (or a count read while one is given back): the
 * host's budget, never a division by zero or by a negative count. */
static void no_count_is_one(void **state)
{
	(void)state;
	assert_int_equal(ob_ns_budget(~0ull, 1000, 0), 1000);
	assert_int_equal(ob_ns_budget(~0ull, 1000, -3), 1000);
	assert_int_equal(ob_ns_budget(10, 1000, 0), 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shares_add_up_to_the_host_at_most),
		cmocka_unit_test(own_budget_kept_below_the_share),
		cmocka_unit_test(no_count_is_one),
	};

	return cmocka_run_group_tests_name("budget", tests, NULL, NULL);
}
