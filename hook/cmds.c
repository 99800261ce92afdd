/* cmds.c - the one table of verbs: name, function, one-line summary, usage, accepted options; help
 * and version. */
#include <stdio.h>
#include <string.h>

#include "ob.h"

#ifndef OB_VERSION
#define OB_VERSION "0.1.0"
#endif

/* One entry per verb, in the order --help lists them. A new verb is one
 * entry here and its ob_cmd_* function in a cmd_*.c file. */
const struct ob_cmd ob_cmds[] = {
	{ .name = "load",
	  .fn = ob_cmd_load,
	  .summary = "load and attach the BPF programs",
	  .opts = OB_OPT_CGROUP | OB_OPT_MAX_SOCKETS | OB_OPT_SMALL_WINDOW | OB_OPT_STALL_WINDOW,
	  .usage = "oci-bypass load [--cgroup PATH] [--max-sockets N] [--small-stream-window MS]\n"
		   "                [--stall-window MS]\n"
		   "  Load the BPF programs, pin them under " OB_PIN_DIR "/ and attach\n"
		   "  sock_ops to a cgroup v2 (default: the cgroup2 root from /proc/mounts).\n"
		   "  --max-sockets sizes the sockhash (default 65536); when it is full, new\n"
		   "  connections stay on stock TCP. A namespace's quotas of sockets and\n"
		   "  connection entries default to a quarter of it (enroll --help).\n"
		   "  --small-stream-window: a sender whose\n"
		   "  1024 messages in a row under 32 bytes come within MS milliseconds\n"
		   "  (default 4), with none from its peer between, moves to stock TCP, which\n"
		   "  coalesces them; raise it where the CPU is slow. --stall-window: a\n"
		   "  sender whose peer has more than TCP's window unread moves to stock TCP,\n"
		   "  whose window then blocks it (push-back): at once if the application\n"
		   "  set SO_SNDBUF, SO_RCVBUF or a send timeout, or if a non-blocking\n"
		   "  sender's peer has read nothing and is not waiting to, else once the\n"
		   "  peer has read nothing for MS milliseconds (default 100; measured by\n"
		   "  the kernel's tick, 1 to 10 ms, and looked at once the sender's credit\n"
		   "  of up to 16 messages, 256 KiB at most, is spent). Loading the\n"
		   "  same build again does nothing.\n" },
	{ .name = "unload",
	  .fn = ob_cmd_unload,
	  .summary = "detach; keep the sockhash until its sockets close",
	  .opts = OB_OPT_WAIT,
	  .usage = "oci-bypass unload [--wait SECONDS]\n"
		   "  Stop new pairings at once and detach sock_ops (also from containers'\n"
		   "  own cgroups: gc attaches it there again after a load). The sockhash\n"
		   "  stays pinned until every redirecting socket has closed, so no byte is lost;\n"
		   "  waits up to SECONDS (default 10) for that, then exits 75 if sockets\n"
		   "  remain (run unload again later to finish).\n" },
	{ .name = "enroll",
	  .fn = ob_cmd_enroll,
	  .summary = "enrol a network namespace",
	  .opts = OB_OPT_NETNS | OB_OPT_NAME | OB_OPT_NOPORT | OB_OPT_ALLOW_HOST | OB_OPT_TRUST |
		  OB_OPT_MAX_UNREAD | OB_OPT_MAX_CONNS | OB_OPT_MAX_SERVICES | OB_OPT_MAX_SOCKETS,
	  .check = ob_args_check_enroll,
	  .usage = "oci-bypass enroll --netns PATH [--name NAME] [--no-port PORT]... [--trust] "
		   "[--allow-host]\n"
		   "                  [--max-unread BYTES] [--max-conns N] [--max-services N]\n"
		   "                  [--max-sockets N]\n"
		   "  Enrol a network namespace (/run/netns/NAME or another file on nsfs,\n"
		   "  not a symlink; or /proc/PID/ns/net): TCP connections opened from now\n"
		   "  on between two enrolled namespaces are redirected. --no-port keeps\n"
		   "  connections to or from PORT on stock TCP. A service (listening port)\n"
		   "  of this namespace is accelerated once one of its connections has\n"
		   "  ended without a blocking shutdown(SHUT_WR); --trust skips that\n"
		   "  probation (see docs/limitations.md).\n"
		   "  --max-unread: the namespace's budget of redirected bytes its peers\n"
		   "  have not read yet (k, m, g suffixes; default 256m), at most an equal\n"
		   "  share of the host's budget among the namespaces enrolled;\n"
		   "  past it, its connections go by TCP.\n"
		   "  Quotas, so that one namespace cannot fill a table for all: at most N\n"
		   "  connection entries made by its clients and N ledger entries of their\n"
		   "  connections (--max-conns), N services learned (--max-services), N\n"
		   "  of its sockets paired in the sockhash (--max-sockets); default a\n"
		   "  quarter of each table (16384 with the default sizes). A connection\n"
		   "  past a quota stays on stock TCP, counted as over_quota; status shows\n"
		   "  each quota as used/limit.\n"
		   "  The host's own namespace is refused unless --allow-host is given.\n"
		   "  --name (default: the /run/netns name) must not be another enrolled\n"
		   "  namespace's. A namespace enrolled by hand stays yours: a container\n"
		   "  that joins it changes nothing of it, and its teardown and gc never\n"
		   "  withdraw it.\n" },
	{ .name = "withdraw",
	  .fn = ob_cmd_withdraw,
	  .summary = "withdraw an enrolment",
	  .opts = OB_OPT_NETNS,
	  .operand = "NAME",
	  .check = ob_args_check_withdraw,
	  .usage = "oci-bypass withdraw NAME | --netns PATH\n"
		   "  Withdraw an enrolment: new connections stay on stock TCP, connections\n"
		   "  already redirecting go on until they close. A NAME two enrolled\n"
		   "  namespaces have is refused: --netns says which.\n" },
	{ .name = "enable",
	  .fn = ob_cmd_enable,
	  .summary = "allow new pairings",
	  .usage = "oci-bypass enable\n  Allow new pairings (the default after load).\n" },
	{ .name = "disable",
	  .fn = ob_cmd_disable,
	  .summary = "stop new pairings (open connections go on)",
	  .usage = "oci-bypass disable\n"
		   "  Stop new pairings everywhere; connections already redirecting go on.\n" },
	{ .name = "status",
	  .fn = ob_cmd_status,
	  .summary = "show state and counters (--json)",
	  .opts = OB_OPT_JSON,
	  .usage = "oci-bypass status [--json]\n"
		   "  Global state, the guards attached, whether open connections can be\n"
		   "  promoted, per enrolled namespace its counters, and each service's\n"
		   "  state (probation, accelerated, or why it stays on stock TCP:\n"
		   "  halfclose, overflow, waitall, splice, rcvlowat, zerocopy, ktls),\n"
		   "  with the directions of its connections promoted onto the redirect\n"
		   "  and the promotions not made, by reason (quiet, peer, budget, quota,\n"
		   "  full, reader).\n" },
	{ .name = "metrics",
	  .fn = ob_cmd_metrics,
	  .summary = "counters in Prometheus text format",
	  .usage = "oci-bypass metrics\n"
		   "  The counters in Prometheus text format (node_exporter textfile).\n" },
	{ .name = "doctor",
	  .fn = ob_cmd_doctor,
	  .summary = "check that this machine can accelerate",
	  .opts = OB_OPT_BTF,
	  .usage = "oci-bypass doctor [--btf FILE]\n"
		   "  Check kernel, BTF, bpffs, cgroup v2, privileges and each kernel feature\n"
		   "  the datapath relies on (ok, missing, the fallback in use, or a warning\n"
		   "  where a guard cannot be attached), then load\n"
		   "  the BPF object itself into this kernel without attaching it: doctor\n"
		   "  fails wherever load would. Exits 1 if acceleration cannot work here.\n"
		   "  --btf FILE resolves the object's CO-RE relocations against FILE (a\n"
		   "  vmlinux or raw BTF) instead of this kernel's BTF, to check a kernel's\n"
		   "  type layout before booting it.\n" },
	{ .name = "hook",
	  .fn = ob_cmd_hook,
	  .summary = "the OCI hook (createRuntime/prestart, poststop)",
	  .operand = "STAGE",
	  .usage = "oci-bypass hook [create|teardown]\n"
		   "  The OCI hook: reads the container state JSON on stdin. create (for the\n"
		   "  createRuntime or prestart stage) enrols the container's network\n"
		   "  namespace, loading the BPF programs on first use; teardown (poststop)\n"
		   "  withdraws it when its last container is gone. Without a stage it is\n"
		   "  inferred from the state's status. Fails open: errors are logged and\n"
		   "  the container runs unaccelerated, unless the container's annotation\n"
		   "  io.oci-bypass.mode is \"required\". The annotations io.oci-bypass.trust\n"
		   "  and allow-host-network take effect only where the host policy\n"
		   "  " OB_POLICY_PATH " allows them (oci-bypass(8), HOST POLICY).\n"
		   "  It confines itself first (a parse child without capabilities, few\n"
		   "  capabilities kept, seccomp, Landlock where the kernel has it); if\n"
		   "  that cannot be set up, the container is not accelerated (or, under\n"
		   "  required, fails).\n" },
	{ .name = "install-hooks",
	  .fn = ob_cmd_install_hooks,
	  .summary = "write the hooks.d file (or a CDI spec, or register the runtime shim)",
	  .opts = OB_OPT_DIR | OB_OPT_ALWAYS | OB_OPT_HOOK_PATH | OB_OPT_CDI | OB_OPT_DOCKER |
		  OB_OPT_DOCKER_CONFIG | OB_OPT_DEFAULT | OB_OPT_CONTAINERD | OB_OPT_SHIM_PATH |
		  OB_OPT_ALLOW_TRUST | OB_OPT_ALLOW_HOST_NETWORK | OB_OPT_POLICY,
	  .check = ob_args_check_install,
	  .usage = "oci-bypass install-hooks [--dir DIR] [--always] [--hook-path PATH] [--cdi]\n"
		   "oci-bypass install-hooks --docker [--docker-config FILE] [--default] "
		   "[--shim-path PATH]\n"
		   "oci-bypass install-hooks --containerd [--shim-path PATH]\n"
		   "  each with [--allow-trust] [--allow-host-network] [--policy FILE]\n"
		   "  Write the hooks.d file oci-bypass.json (default DIR\n"
		   "  /etc/containers/oci/hooks.d). By default the hook runs for containers\n"
		   "  with the annotation io.oci-bypass.mode=on|required; --always runs it for\n"
		   "  every container (opt out with io.oci-bypass.mode=off). --cdi writes a\n"
		   "  CDI spec oci-bypass.json instead (default DIR /etc/cdi), for containerd,\n"
		   "  nerdctl and Docker: --device oci-bypass.io/net=on. PATH defaults to\n"
		   "  this binary.\n"
		   "  --docker registers oci-bypass-runtime, the runtime shim that adds the\n"
		   "  hooks to each container it creates, as the Docker runtime \"oci-bypass\"\n"
		   "  in FILE (default /etc/docker/daemon.json), keeping every other key;\n"
		   "  --default also makes it the default-runtime. Restart dockerd, then:\n"
		   "  docker run --runtime oci-bypass [-e OCI_BYPASS_MODE=off|on|required].\n"
		   "  --containerd prints the containerd 1.6 config.toml snippet for it (merge\n"
		   "  it by hand). --shim-path defaults to the oci-bypass-runtime next to\n"
		   "  this binary. For engines without hooks.d or CDI: Docker < 28.2,\n"
		   "  containerd < 2.0.\n"
		   "  Each form also writes the host policy " OB_POLICY_PATH "\n"
		   "  (mode 0644) if it is missing, with allow-trust and allow-host-network\n"
		   "  false: the annotations io.oci-bypass.trust=true and\n"
		   "  io.oci-bypass.allow-host-network=true, which any image can carry, take\n"
		   "  effect only where that file sets them true. --allow-trust and\n"
		   "  --allow-host-network set them true, in a new file or an existing one\n"
		   "  (keeping the other key); without them an existing file is left as it\n"
		   "  is. --policy writes FILE instead (packaging: make install DESTDIR=);\n"
		   "  the hook reads only " OB_POLICY_PATH ", and only if it and its\n"
		   "  directory are owned by root and not writable by group or others.\n" },
	{ .name = "gc",
	  .fn = ob_cmd_gc,
	  .opts = OB_OPT_STALE_AFTER,
	  .summary = "repair what killed hooks or vanished containers left",
	  .usage = "oci-bypass gc [--stale-after SECONDS]\n"
		   "  Repair what a killed hook or a container that died without poststop\n"
		   "  left behind: records of gone containers and their enrolments, and\n"
		   "  container links (ct-* pins) no record names. Enrol a live container's\n"
		   "  namespace again where it is no longer enrolled (after unload and\n"
		   "  load). Report records that cannot be read: they stay, and keep\n"
		   "  every namespace the hook enrolled.\n"
		   "  Sweep the datapath's tables: a connection entry older than SECONDS\n"
		   "  (default 120, past any handshake) that no live socket needs, and a\n"
		   "  connection's account neither of whose sockets is paired any more,\n"
		   "  are deleted and given back to their namespace's quota. BPF deletes\n"
		   "  them itself as sockets close; this catches sockets whose close it\n"
		   "  did not see (sock_ops detached from their cgroup meanwhile).\n" },
	{ .name = "promote",
	  .fn = ob_cmd_promote,
	  .summary = "accelerate open connections whose service is now learned",
	  .usage = "oci-bypass promote\n"
		   "  Connections between two enrolled namespaces that started on stock TCP\n"
		   "  (opened while their service was on probation, or whose client wrote\n"
		   "  before its server was ready), and connections that moved to TCP for\n"
		   "  a reason that passes (push-back, a budget, small messages), move\n"
		   "  onto the redirect once their service is learned: promote puts their\n"
		   "  sockets into the sockhash, in each namespace that holds some, and\n"
		   "  each direction then switches at\n"
		   "  its first sendmsg with nothing in flight or unread either way. Run\n"
		   "  it from a timer (the oci-bypass-promote.timer unit that make install\n"
		   "  puts in place runs it every second); its cost is one walk of each\n"
		   "  such namespace's TCP sockets. Prints what it did and how long it took.\n" },
	{ .name = "forget",
	  .fn = ob_cmd_forget,
	  .summary = "drop the verdicts kept across container restarts",
	  .operand = "CONTAINER",
	  .usage = "oci-bypass forget [CONTAINER]\n"
		   "  When a container's network namespace is withdrawn at its teardown, what\n"
		   "  was learned of its services (accelerated, or why they stay on stock\n"
		   "  TCP) is kept under " OB_VERDICTS_DIR "/, by the container's id and\n"
		   "  bundle as its engine gave them, and restored when that container\n"
		   "  starts again, so that its clients' first connections are\n"
		   "  accelerated. Under podman (containers/storage) it is also kept for the\n"
		   "  container's image (img and the image id's first 32 hex digits) and\n"
		   "  restored for a new container of that image. status lists what is kept\n"
		   "  (the " OB_VERDICTS_MAX_S " saved last). forget drops it: for CONTAINER (an\n"
		   "  id, an img id, or a key as status shows it), or for every one.\n" },
	{ .name = "version",
	  .fn = ob_cmd_version,
	  .summary = "print the version",
	  .usage = "oci-bypass version\n  Print the version and BPF build id.\n" },
	{ .name = "help",
	  .fn = ob_cmd_help,
	  .summary = NULL /* hidden */,
	  .operand = "VERB",
	  .usage = "oci-bypass help [VERB]\n" },
	{ .name = NULL },
};

const struct ob_cmd *ob_cmd_find(const char *name)
{
	for (const struct ob_cmd *c = ob_cmds; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void print_usage(FILE *out)
{
	fputs("Usage: oci-bypass [-v] VERB [OPTIONS]\n"
	      "Same-host TCP acceleration between enrolled network namespaces (sockmap).\n"
	      "\n"
	      "Verbs:\n",
	      out);
	for (const struct ob_cmd *c = ob_cmds; c->name; c++) {
		size_t n = strlen(c->name);

		if (c->summary)
			fprintf(out, "  %s%*s%s\n", c->name, n < 10 ? (int)(11 - n) : 2, "",
				c->summary);
	}
	fputs("\n"
	      "'oci-bypass VERB --help' describes a verb. -v shows libbpf messages.\n"
	      "Exit status: 0 ok, 1 error, 2 usage error, 75 unload left sockets open.\n",
	      out);
}

/* help [VERB]: the usage of a listed verb, else the list. */
int ob_cmd_help(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	const struct ob_cmd *c = a->operand ? ob_cmd_find(a->operand) : NULL;

	(void)e;
	if (c && c->summary)
		fputs(c->usage, out);
	else
		print_usage(out);
	return 0;
}

int ob_cmd_version(const struct ob_args *a, FILE *out, struct ob_error *e)
{
	(void)a, (void)e;
	fprintf(out, "oci-bypass %s (bpf build %016llx)\n", OB_VERSION,
		(unsigned long long)ob_build_id());
	return 0;
}
