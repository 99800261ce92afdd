/* test_args.c - command line parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "ob.h"

/* The real verb table, with the verbs themselves stubbed out. */
#include "../../hook/cmds.c"
#define STUB(fn)                                                                                   \
	int fn(const struct ob_args *a, FILE *out, struct ob_error *e)                             \
	{                                                                                          \
		(void)a, (void)out, (void)e;                                                       \
		return 0;                                                                          \
	}
STUB(ob_cmd_load)
STUB(ob_cmd_unload)
STUB(ob_cmd_enable)
STUB(ob_cmd_disable)
STUB(ob_cmd_enroll)
STUB(ob_cmd_withdraw)
STUB(ob_cmd_status)
STUB(ob_cmd_metrics)
STUB(ob_cmd_doctor)
STUB(ob_cmd_forget)
STUB(ob_cmd_hook)
STUB(ob_cmd_gc)
STUB(ob_cmd_promote)
STUB(ob_cmd_install_hooks)
uint64_t ob_build_id(void)
{
	return 0;
}

static struct ob_error oe;

static struct ob_error *fresh(void)
{
	memset(&oe, 0, sizeof(oe));
	return &oe;
}

#define PARSE(a, ...)                                                                              \
	({                                                                                         \
		char *argv_[] = { "oci-bypass", __VA_ARGS__, NULL };                               \
		ob_parse_args(ob_cmds, (int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_, (a),    \
			      fresh());                                                            \
	})

static void verbs_and_options(void **state)
{
	(void)state;
	struct ob_args a;

	assert_int_equal(PARSE(&a, "load"), 0);
	assert_string_equal(a.cmd->name, "load");
	assert_ptr_equal(a.cmd->fn, ob_cmd_load);
	assert_null(a.cgroup);
	assert_int_equal(PARSE(&a, "load", "--cgroup", "/sys/fs/cgroup/x"), 0);
	assert_string_equal(a.cgroup, "/sys/fs/cgroup/x");
	assert_int_equal(PARSE(&a, "load", "--cgroup=/a", "--max-sockets", "8"), 0);
	assert_int_equal(a.max_sockets, 8);
	assert_string_equal(a.cgroup, "/a");
	assert_int_equal(PARSE(&a, "load", "--small-stream-window", "1000"), 0);
	assert_int_equal(a.small_window_ms, 1000);
	assert_int_equal(PARSE(&a, "load", "--stall-window", "250"), 0);
	assert_int_equal(a.stall_ms, 250);
	assert_int_equal(PARSE(&a, "enroll", "--netns", "/run/netns/x", "--max-unread", "64m"), 0);
	assert_int_equal(a.max_unread, 64ull << 20);
	assert_int_equal(PARSE(&a, "load", "--max-unread", "64m"), -EINVAL); /* enroll's */
	assert_int_equal(PARSE(&a, "enroll", "--netns", "/run/netns/x", "--max-conns", "100",
			       "--max-services", "10", "--max-sockets", "50"),
			 0);
	assert_int_equal(a.max_conns, 100);
	assert_int_equal(a.max_services, 10);
	assert_int_equal(a.max_sockets, 50);
	assert_int_equal(PARSE(&a, "enroll", "--netns", "/run/netns/x", "--max-conns", "0"),
			 -EINVAL);
	assert_int_equal(PARSE(&a, "load", "--max-conns", "10"), -EINVAL); /* enroll's */
	assert_int_equal(PARSE(&a, "gc", "--stale-after", "5"), 0);
	assert_int_equal(a.stale_after_s, 5);
	assert_int_equal(PARSE(&a, "gc", "--stale-after", "0"), -EINVAL);
	assert_int_equal(PARSE(&a, "doctor", "--btf", "/tmp/vmlinux"), 0);
	assert_string_equal(a.btf, "/tmp/vmlinux");
	assert_int_equal(PARSE(&a, "-v", "status", "--json"), 0);
	assert_true(a.verbose);
	assert_true(a.json);
	assert_int_equal(PARSE(&a, "unload"), 0);
	assert_true(a.wait_s == 10);
	assert_int_equal(PARSE(&a, "unload", "--wait", "2.5"), 0);
	assert_true(a.wait_s == 2.5);
	assert_int_equal(PARSE(&a, "enroll", "--netns", "/run/netns/x", "--name", "web-1",
			       "--no-port", "443", "--no-port", "6379", "--allow-host", "--trust"),
			 0);
	assert_true(a.trust);
	assert_string_equal(a.netns, "/run/netns/x");
	assert_string_equal(a.name, "web-1");
	assert_int_equal(a.n_noports, 2);
	assert_int_equal(a.noports[1], 6379);
	assert_true(a.allow_host);
	assert_int_equal(PARSE(&a, "withdraw", "web-1"), 0);
	assert_string_equal(a.operand, "web-1");
	assert_int_equal(PARSE(&a, "withdraw", "--netns", "/proc/1/ns/net"), 0);
	assert_string_equal(a.netns, "/proc/1/ns/net");
	assert_int_equal(PARSE(&a, "enroll", "--help"), 0); /* no --netns needed */
	assert_true(a.help);
	assert_int_equal(PARSE(&a, "--help"), 0);
	assert_string_equal(a.cmd->name, "help");
	assert_int_equal(PARSE(&a, "--version"), 0);
	assert_string_equal(a.cmd->name, "version");
	assert_int_equal(PARSE(&a, "hook"), 0);
	assert_null(a.operand);
	assert_int_equal(PARSE(&a, "hook", "teardown"), 0);
	assert_string_equal(a.operand, "teardown");
	assert_int_equal(PARSE(&a, "install-hooks", "--dir", "/tmp/h", "--always", "--hook-path",
			       "/usr/libexec/oci/hooks.d/oci-bypass"),
			 0);
	assert_string_equal(a.dir, "/tmp/h");
	assert_true(a.always);
	assert_int_equal(PARSE(&a, "install-hooks", "--cdi"), 0);
	assert_true(a.cdi);
	assert_int_equal(PARSE(&a, "install-hooks", "--docker"), 0);
	assert_true(a.docker);
	assert_null(a.docker_config);
	assert_false(a.set_default);
	assert_int_equal(PARSE(&a, "install-hooks", "--docker-config", "/tmp/d.json", "--default",
			       "--shim-path", "/usr/bin/oci-bypass-runtime"),
			 0);
	assert_true(a.docker); /* --docker-config implies --docker */
	assert_string_equal(a.docker_config, "/tmp/d.json");
	assert_true(a.set_default);
	assert_string_equal(a.shim_path, "/usr/bin/oci-bypass-runtime");
	assert_int_equal(PARSE(&a, "install-hooks", "--containerd"), 0);
	assert_true(a.containerd);
	assert_false(a.docker);
	assert_false(a.allow_trust);
	assert_false(a.allow_host_network);
	assert_null(a.policy);
	assert_int_equal(PARSE(&a, "install-hooks", "--allow-trust", "--policy", "/tmp/p.conf"), 0);
	assert_true(a.allow_trust);
	assert_false(a.allow_host_network);
	assert_string_equal(a.policy, "/tmp/p.conf");
	assert_int_equal(PARSE(&a, "install-hooks", "--docker", "--allow-host-network"), 0);
	assert_false(a.allow_trust);
	assert_true(a.allow_host_network);
	assert_int_equal(PARSE(&a, "gc"), 0);
	assert_string_equal(a.cmd->name, "gc");
}

static void bad_input_is_refused(void **state)
{
	(void)state;
	struct ob_args a;

	assert_int_equal(PARSE(&a, "frobnicate"), -EINVAL);
	assert_non_null(strstr(oe.msg, "unknown verb"));
	assert_int_equal(PARSE(&a, "load", "--json"), -EINVAL); /* option of another verb */
	assert_non_null(strstr(oe.msg, "unknown option"));
	assert_int_equal(PARSE(&a, "load", "--cgroup"), -EINVAL);
	assert_non_null(strstr(oe.msg, "needs a value"));
	assert_int_equal(PARSE(&a, "enroll"), -EINVAL);
	assert_non_null(strstr(oe.msg, "--netns"));
	assert_int_equal(PARSE(&a, "enroll", "--netns", "/x", "--name", "../etc"), -EINVAL);
	assert_int_equal(PARSE(&a, "enroll", "--netns", "/x", "--name", "a/b"), -EINVAL);
	assert_int_equal(PARSE(&a, "enroll", "--netns", "/x", "--no-port", "0"), -EINVAL);
	assert_int_equal(PARSE(&a, "enroll", "--netns", "/x", "--no-port", "65536"), -EINVAL);
	assert_int_equal(PARSE(&a, "enroll", "--netns", "/x", "--no-port", "80x"), -EINVAL);
	assert_int_equal(PARSE(&a, "unload", "--wait", "-1"), -EINVAL);
	assert_int_equal(PARSE(&a, "unload", "--wait", "soon"), -EINVAL);
	assert_int_equal(PARSE(&a, "withdraw"), -EINVAL);
	assert_int_equal(PARSE(&a, "withdraw", "a", "--netns", "/x"), -EINVAL);
	assert_int_equal(PARSE(&a, "status", "extra"), -EINVAL);
	assert_int_equal(PARSE(&a, "load", "--max-sockets", "1"), -EINVAL);
	assert_int_equal(PARSE(&a, "load", "--max-sockets", "lots"), -EINVAL);
	assert_int_equal(PARSE(&a, "load", "--max-sockets", "-8"), -EINVAL);
	assert_int_equal(PARSE(&a, "load", "--small-stream-window", "0"), -EINVAL);
	assert_int_equal(PARSE(&a, "load", "--small-stream-window", "60001"), -EINVAL);
	assert_int_equal(PARSE(&a, "doctor", "--btf"), -EINVAL);
	assert_int_equal(PARSE(&a, "load", "--btf", "/x"), -EINVAL);
	assert_int_equal(PARSE(&a, "hook", "create", "again"), -EINVAL);
	assert_int_equal(PARSE(&a, "install-hooks", "--hook-path", "relative/x"), -EINVAL);
	assert_int_equal(PARSE(&a, "install-hooks", "--cdi", "--always"), -EINVAL);
	assert_int_equal(PARSE(&a, "install-hooks", "--docker", "--containerd"), -EINVAL);
	assert_non_null(strstr(oe.msg, "give one of"));
	assert_int_equal(PARSE(&a, "install-hooks", "--cdi", "--docker"), -EINVAL);
	assert_int_equal(PARSE(&a, "install-hooks", "--docker", "--dir", "/x"), -EINVAL);
	assert_int_equal(PARSE(&a, "install-hooks", "--containerd", "--always"), -EINVAL);
	assert_int_equal(PARSE(&a, "install-hooks", "--containerd", "--default"), -EINVAL);
	assert_non_null(strstr(oe.msg, "--default applies to --docker"));
	assert_int_equal(PARSE(&a, "install-hooks", "--shim-path", "/x"), -EINVAL);
	assert_int_equal(PARSE(&a, "install-hooks", "--docker", "--shim-path", "rel/x"), -EINVAL);
	assert_int_equal(PARSE(&a, "install-hooks", "--docker-config"), -EINVAL);
	assert_int_equal(PARSE(&a, "load", "--docker"), -EINVAL); /* install-hooks' */
	assert_int_equal(PARSE(&a, "install-hooks", "--policy", "rel/p.conf"), -EINVAL);
	/* the host policy is install-hooks', not the CLI's: enroll has --trust, --allow-host */
	assert_int_equal(PARSE(&a, "enroll", "--netns", "/x", "--allow-trust"), -EINVAL);
	assert_int_equal(PARSE(&a, "enroll", "--netns", "/x", "--allow-host-network"), -EINVAL);
	assert_int_equal(PARSE(&a, "install-hooks", "--allow-host"), -EINVAL);
	{
		char *argv_[] = { "oci-bypass", NULL };

		assert_int_equal(ob_parse_args(ob_cmds, 1, argv_, &a, fresh()), -EINVAL);
	}
}

static void names(void **state)
{
	(void)state;
	char longname[OB_NAME_MAX + 2];

	assert_true(ob_name_valid("web", OB_NAME_MAX));
	assert_true(ob_name_valid("a.b_c-1", OB_NAME_MAX));
	assert_false(ob_name_valid("", OB_NAME_MAX));
	assert_false(ob_name_valid(".", OB_NAME_MAX));
	assert_false(ob_name_valid("..", OB_NAME_MAX));
	assert_false(ob_name_valid("-rf", OB_NAME_MAX));
	assert_false(ob_name_valid("a b", OB_NAME_MAX));
	assert_false(ob_name_valid("a\nb", OB_NAME_MAX));
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(ob_name_valid(longname, OB_NAME_MAX));
	longname[OB_NAME_MAX] = '\0';
	assert_true(ob_name_valid(longname, OB_NAME_MAX));
	/* One validator for names and container ids (issue 13): '+' is
	 * valid in both, ".." in neither. */
	assert_true(ob_name_valid("web+1", OB_NAME_MAX));
	assert_true(ob_name_valid("+x", OB_NAME_MAX));
	assert_false(ob_name_valid("a..b", OB_NAME_MAX));
	assert_false(ob_name_valid(NULL, OB_NAME_MAX));
	assert_false(ob_name_valid("abc", 2));
	assert_true(ob_name_valid("ab", 2));
}

/* The hook names a netns after the first 12 characters of the container
 * id; whatever id the state parser accepts must give a name the registry
 * accepts, or status shows netns-<cookie> (a '+' did, before). */
static void container_ids_make_names(void **state)
{
	(void)state;
	static const char *const ids[] = { "c1",
					   "web+1",
					   "+x",
					   "a.b.c",
					   "_x",
					   "0123456789abcdef0123456789abcdef",
					   "ab.+-_cdefghijkl" };
	char name[OB_NAME_MAX + 1];

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		assert_true(ob_name_valid(ids[i], OB_ID_MAX));
		snprintf(name, sizeof(name), "%.12s", ids[i]);
		if (!ob_name_valid(name, OB_NAME_MAX))
			fail_msg("id '%s' gives the name '%s', which is refused", ids[i], name);
	}
}

static void every_verb_has_usage(void **state)
{
	(void)state;
	int n = 0;

	for (const struct ob_cmd *c = ob_cmds; c->name; c++, n++) {
		assert_non_null(c->fn);
		assert_non_null(c->usage);
		assert_non_null(strstr(c->usage, c->name));
		assert_ptr_equal(ob_cmd_find(c->name), c);
	}
	assert_int_equal(n, 16);
	assert_null(ob_cmd_find("frobnicate"));
}

static void byte_counts(void **state)
{
	(void)state;
	uint64_t n = 7;

#define BYTES(str)                                                                                 \
	ob_parse_bytes("--max-unread", (str), OB_MAX_UNREAD_MIN, OB_MAX_UNREAD_MAX, &n, fresh())
	assert_int_equal(BYTES("65536"), 0);
	assert_int_equal(n, 65536);
	assert_int_equal(BYTES("64k"), 0);
	assert_int_equal(n, 65536);
	assert_int_equal(BYTES("2G"), 0);
	assert_int_equal(n, 2ull << 30);
	assert_int_equal(BYTES("1024g"), 0);
	assert_int_equal(n, 1ull << 40);
	n = 7;
	/* out of range, negative, junk, suffix only, two suffixes, overflow */
	const char *bad[] = { "1025g",
			      "63k",
			      "-1m",
			      "12x",
			      "m",
			      "1mm",
			      "",
			      "1 m",
			      "18446744073709551615k",
			      "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(BYTES(bad[i]), -EINVAL);
		assert_non_null(strstr(oe.msg, "--max-unread"));
	}
	assert_int_equal(n, 7); /* untouched on error */
#undef BYTES
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(verbs_and_options),
		cmocka_unit_test(bad_input_is_refused),
		cmocka_unit_test(names),
		cmocka_unit_test(byte_counts),
		cmocka_unit_test(container_ids_make_names),
		cmocka_unit_test(every_verb_has_usage),
	};

	return cmocka_run_group_tests_name("args", tests, NULL, NULL);
}
