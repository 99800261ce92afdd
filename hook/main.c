/* main.c - the oci-bypass command: finds the verb in ob_cmds[], runs it, and is the one place that
 * prints an error. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ob.h"

int main(int argc, char **argv)
{
	const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
	struct ob_error e = { 0 };
	struct ob_args a;
	int err;

	/* Called by Docker or containerd as their OCI runtime (runtime.c). */
	if (argc > 0 && !strcmp(base ? base + 1 : argv[0], OB_RUNTIME_BIN))
		return ob_runtime_main(argc, argv);
	err = ob_parse_args(ob_cmds, argc, argv, &a, &e);
	if (err) {
		fprintf(stderr, "oci-bypass: %s\n", e.msg);
		return 2;
	}
	ob_verbose = a.verbose;
	if (a.help && a.cmd->fn != ob_cmd_help) {
		fputs(a.cmd->usage, stdout);
		return 0;
	}
	err = a.cmd->fn(&a, stdout, &e);
	if (!err)
		return 0;
	/* "oci-bypass: VERB: sentence", or the container id for the hook */
	fprintf(stderr, "oci-bypass: %s: %s\n", e.where[0] ? e.where : a.cmd->name,
		e.msg[0] ? e.msg : strerror(-err));
	return e.exit ? e.exit : 1;
}
