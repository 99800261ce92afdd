/* main.c - the oci-bypass command: finds the verb in ob_cmds[], runs it, prints the one error line. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ob.h"

int main(int argc, char **argv)
{
	struct ob_args a;
	int err = ob_parse_args(ob_cmds, argc, argv, &a);

	if (err) {
		fprintf(stderr, "oci-bypass: %s\n", ob_err_msg());
		return 2;
	}
	ob_verbose = a.verbose;
	if (a.help && a.cmd->fn != ob_cmd_help) {
		fputs(a.cmd->usage, stdout);
		return 0;
	}
	err = a.cmd->fn(&a);
	if (err > 0)
		return err; /* the verb printed its own line */
	if (err) {
		fprintf(stderr, "oci-bypass: %s: %s\n", a.cmd->name,
			ob_err_msg()[0] ? ob_err_msg() : strerror(-err));
		return err == -EAGAIN && a.cmd->fn == ob_cmd_unload ? 75 : 1;
	}
	return 0;
}
