/* main.c - the oci-bypass command: dispatches verbs, prints the one error line. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ob.h"

#ifndef OB_VERSION
#define OB_VERSION "0.1.0"
#endif

static const char usage[] =
	"Usage: oci-bypass [-v] VERB [OPTIONS]\n"
	"Same-host TCP acceleration between enrolled network namespaces (sockmap).\n"
	"\n"
	"Verbs:\n"
	"  load       load and attach the BPF programs\n"
	"  unload     detach; keep the sockhash until its sockets close\n"
	"  enroll     enrol a network namespace\n"
	"  withdraw   withdraw an enrolment\n"
	"  enable     allow new pairings\n"
	"  disable    stop new pairings (open connections go on)\n"
	"  status     show state and counters (--json)\n"
	"  metrics    counters in Prometheus text format\n"
	"  doctor     check that this machine can accelerate\n"
	"  hook       the OCI hook (createRuntime/prestart, poststop)\n"
	"  install-hooks  write the hooks.d file (or a CDI spec)\n"
	"  gc         repair what killed hooks or vanished containers left\n"
	"  version    print the version\n"
	"\n"
	"'oci-bypass VERB --help' describes a verb. -v shows libbpf messages.\n"
	"Exit status: 0 ok, 1 error, 2 usage error, 75 unload left sockets open.\n";

static int run(const struct ob_args *a)
{
	switch (a->verb) {
	case OB_VERB_LOAD:
		return ob_cmd_load(a);
	case OB_VERB_UNLOAD:
		return ob_cmd_unload(a);
	case OB_VERB_ENROLL:
		return ob_cmd_enroll(a);
	case OB_VERB_WITHDRAW:
		return ob_cmd_withdraw(a);
	case OB_VERB_ENABLE:
		return ob_cmd_enable(a, true);
	case OB_VERB_DISABLE:
		return ob_cmd_enable(a, false);
	case OB_VERB_STATUS:
		return ob_cmd_status(a);
	case OB_VERB_METRICS:
		return ob_cmd_metrics(a);
	case OB_VERB_DOCTOR:
		return ob_cmd_doctor(a);
	case OB_VERB_HOOK:
		return ob_cmd_hook(a);
	case OB_VERB_INSTALL_HOOKS:
		return ob_cmd_install_hooks(a);
	case OB_VERB_GC:
		return ob_cmd_gc(a);
	case OB_VERB_SANDBOX_TEST:
		return ob_cmd_sandbox_test();
	case OB_VERB_VERSION:
		printf("oci-bypass %s (bpf build %016llx)\n", OB_VERSION,
		       (unsigned long long)ob_build_id());
		return 0;
	case OB_VERB_HELP:
	case OB_VERB_NONE:
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ob_args a;
	int err = ob_parse_args(argc, argv, &a);

	if (err) {
		fprintf(stderr, "oci-bypass: %s\n", ob_err_msg());
		return 2;
	}
	ob_verbose = a.verbose;
	if (a.verb == OB_VERB_HELP) {
		for (int v = OB_VERB_LOAD; a.target && v <= OB_VERB_LAST; v++)
			if (!strcmp(a.target, ob_verb_name((enum ob_verb)v))) {
				fputs(ob_verb_usage((enum ob_verb)v), stdout);
				return 0;
			}
		fputs(usage, stdout);
		return 0;
	}
	if (a.help) {
		fputs(ob_verb_usage(a.verb), stdout);
		return 0;
	}
	err = run(&a);
	if (err > 0)
		return err; /* the verb printed its own line */
	if (err) {
		fprintf(stderr, "oci-bypass: %s: %s\n", ob_verb_name(a.verb),
			ob_err_msg()[0] ? ob_err_msg() : strerror(-err));
		return err == -EAGAIN && a.verb == OB_VERB_UNLOAD ? 75 : 1;
	}
	return 0;
}
