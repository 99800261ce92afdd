/* test_dir.c - the steps of a socket's direction that invariant 3 allows
 * (ob_dir_allowed() in bypass.h, the table sk_dir_step() enforces). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bypass.h"

static const __u32 dirs[] = { OB_DIR_PENDING, OB_DIR_REDIRECT, OB_DIR_TCP, OB_DIR_PROMOTING };
#define NDIRS (sizeof(dirs) / sizeof(dirs[0]))

/* Every step at the handshake, and only those: into the sockhash as the
 * client (PENDING) or the server (REDIRECT), and back out. */
static void handshake_steps(void **state)
{
	(void)state;
	for (size_t i = 0; i < NDIRS; i++)
		for (size_t j = 0; j < NDIRS; j++) {
			__u32 f = dirs[i], t = dirs[j];
			int want =
				(f == OB_DIR_TCP &&
				 (t == OB_DIR_PENDING || t == OB_DIR_REDIRECT)) ||
				((f == OB_DIR_PENDING || f == OB_DIR_REDIRECT) && t == OB_DIR_TCP);

			assert_int_equal(ob_dir_allowed(f, t, OB_STEP_HANDSHAKE), want);
		}
}

/* Once bytes may have crossed: TCP -> REDIRECT never directly (it would
 * put redirected bytes beside TCP bytes still in flight), only through
 * PROMOTING; nothing returns to PENDING; REDIRECT -> TCP always (a move). */
static void run_steps(void **state)
{
	(void)state;
	assert_false(ob_dir_allowed(OB_DIR_TCP, OB_DIR_REDIRECT, OB_STEP_RUN));
	assert_true(ob_dir_allowed(OB_DIR_TCP, OB_DIR_PROMOTING, OB_STEP_RUN));
	assert_true(ob_dir_allowed(OB_DIR_PROMOTING, OB_DIR_REDIRECT, OB_STEP_RUN));
	assert_true(ob_dir_allowed(OB_DIR_PROMOTING, OB_DIR_TCP, OB_STEP_RUN));
	assert_true(ob_dir_allowed(OB_DIR_REDIRECT, OB_DIR_TCP, OB_STEP_RUN));
	assert_true(ob_dir_allowed(OB_DIR_PENDING, OB_DIR_REDIRECT, OB_STEP_RUN));
	assert_true(ob_dir_allowed(OB_DIR_PENDING, OB_DIR_TCP, OB_STEP_RUN));
	assert_false(ob_dir_allowed(OB_DIR_REDIRECT, OB_DIR_PROMOTING, OB_STEP_RUN));
	assert_false(ob_dir_allowed(OB_DIR_PENDING, OB_DIR_PROMOTING, OB_STEP_RUN));
	for (size_t i = 0; i < NDIRS; i++) {
		assert_false(ob_dir_allowed(dirs[i], OB_DIR_PENDING, OB_STEP_RUN));
		/* staying is not a step */
		assert_false(ob_dir_allowed(dirs[i], dirs[i], OB_STEP_RUN));
		assert_false(ob_dir_allowed(dirs[i], dirs[i], OB_STEP_HANDSHAKE));
	}
	/* the allowed run steps, counted: the six above */
	int n = 0;

	for (size_t i = 0; i < NDIRS; i++)
		for (size_t j = 0; j < NDIRS; j++)
			n += ob_dir_allowed(dirs[i], dirs[j], OB_STEP_RUN);
	assert_int_equal(n, 6);
}

/* A value that is no direction goes nowhere. */
static void unknown_directions(void **state)
{
	(void)state;
	assert_false(ob_dir_allowed(7, OB_DIR_TCP, OB_STEP_RUN));
	assert_false(ob_dir_allowed(OB_DIR_TCP, 7, OB_STEP_RUN));
	assert_false(ob_dir_allowed(7, OB_DIR_TCP, OB_STEP_HANDSHAKE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handshake_steps),
		cmocka_unit_test(run_steps),
		cmocka_unit_test(unknown_directions),
	};

	return cmocka_run_group_tests_name("dir", tests, NULL, NULL);
}
