/* ob.h - declarations shared by the files of the oci-bypass binary. */
#ifndef OB_H
#define OB_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "bypass.h"
#include "oci.h"

#define OB_PIN_DIR	    "/sys/fs/bpf/oci-bypass"
#define OB_PIN_PROG_SOCKOPS OB_PIN_DIR "/prog_sockops"
#define OB_PIN_LINK_SOCKOPS OB_PIN_DIR "/link_sockops"
#define OB_PIN_PROG_SWEEP   OB_PIN_DIR "/prog_sweep" /* gc's way to delete (bypass.h) */
/* a container's own sock_ops link (cgroup.c): OB_PIN_CT KEY, KEY its record's */
#define OB_PIN_CT OB_PIN_DIR "/ct-"
/* and its setsockopt guard (OB_PIN_CTG KEY), from the program pinned at load */
#define OB_PIN_CTG	       OB_PIN_DIR "/ctg-"
#define OB_PIN_PROG_SETSOCKOPT OB_PIN_DIR "/prog_guard_setsockopt"
/* the guards' links (bypass.h, enum ob_svc_state): kept, like the sockhash,
 * until the last redirecting socket has closed */
#define OB_PIN_LINK_SETSOCKOPT	OB_PIN_DIR "/link_guard_setsockopt"
#define OB_PIN_LINK_WAITALL	OB_PIN_DIR "/link_guard_waitall"
#define OB_PIN_LINK_WAITALL_BPF OB_PIN_DIR "/link_guard_waitall_bpf"
#define OB_PIN_LINK_SPLICE	OB_PIN_DIR "/link_guard_splice"
#define OB_PIN_LINK_PROMOTE	OB_PIN_DIR "/link_promote" /* the iterator ob_promote */
#define OB_RUN_DIR		"/run/oci-bypass"
#define OB_NAME_MAX		64
#define OB_BTF_PATH		"/sys/kernel/btf/vmlinux"
/* The kernel series README lists as tested (doctor's first line). On
 * these the datapath must load: the test suite fails, not skips, where it
 * does not (tests/lib/common.sh, need_datapath). */
#define OB_TESTED_KERNELS "6.1, 6.12, 6.18"

/*
 * Error convention (oci/oci.h): a function that fails returns a negative
 * errno and fills the caller's struct ob_error *e with ob_err(); callers
 * may prepend context with ob_err_wrap(); e is written only on failure
 * and may be NULL; only main() prints it, once.
 */

/* Cleanup attributes (systemd's style): the variable is released when it
 * goes out of scope, on every return path. */
static inline void ob_freep(void *p)
{
	free(*(void **)p);
}
static inline void ob_closep(const int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void ob_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void ob_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
#define _cleanup_free_	   __attribute__((cleanup(ob_freep)))
#define _cleanup_closedir_ __attribute__((cleanup(ob_closedirp)))
#define _cleanup_close_	   __attribute__((cleanup(ob_closep)))
#define _cleanup_fclose_   __attribute__((cleanup(ob_fclosep)))
/* Hands what p owns over to the caller: p is NULL after, so its cleanup
 * does nothing (systemd's TAKE_PTR). */
#define OB_TAKE_PTR(p)                                                                             \
	({                                                                                         \
		__typeof__(p) _taken = (p);                                                        \
		(p) = NULL;                                                                        \
		_taken;                                                                            \
	})
/* the parse child (parser.c): ob_parser_stop() is idempotent */
#define _cleanup_parser_ __attribute__((cleanup(ob_parser_stop)))

extern int ob_verbose;
void ob_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- files.c ---- */
int ob_mkdirs(const char *dir, mode_t mode, struct ob_error *e);
int ob_write_atomic(const char *path, const void *buf, size_t len, mode_t mode, struct ob_error *e);
/* As ob_write_atomic, but never replaces a file: -EEXIST if path exists. */
int ob_write_new(const char *path, const void *buf, size_t len, mode_t mode, struct ob_error *e);
/* All of fd, at most max bytes (more is an error), in *out (malloc'd, NUL
 * added). */
int ob_read_bounded(int fd, char **out, size_t max, size_t *len, struct ob_error *e);
/* A regular file of at most max bytes, whole, in *out (malloc'd, NUL
 * added); flags are added to open's (O_NOFOLLOW); *mode its permissions. */
int ob_read_file(const char *path, size_t max, int flags, char **out, size_t *len, mode_t *mode,
		 struct ob_error *e);

/* ---- policy.c: the host policy file ---- */
/* OB_POLICY_PATH as the hook trusts it: the file and its directory owned by
 * root and not writable by group or others, the file regular and not a
 * symlink, then ob_host_policy_parse. On any failure *hp is all off and e
 * says why. */
int ob_host_policy_load(const char *path, struct ob_host_policy *hp, struct ob_error *e);
/* Reads path (at most max bytes, *out NUL-terminated and malloc'd) only
 * where root alone can have written it: the file and its directory owned
 * by root and not writable by group or others, the file regular and not a
 * symlink. */
int ob_read_root_only(const char *path, size_t max, char **out, size_t *len, struct ob_error *e);

/* ---- args.c: command line (pure); cmds.c: the verb table ---- */
/* Options, as bits: ob_cmds[].opts says which a verb accepts. */
enum ob_cli_opt {
	OB_OPT_CGROUP = 1u << 0,
	OB_OPT_WAIT = 1u << 1,
	OB_OPT_NETNS = 1u << 2,
	OB_OPT_NAME = 1u << 3,
	OB_OPT_NOPORT = 1u << 4,
	OB_OPT_ALLOW_HOST = 1u << 5,
	OB_OPT_TRUST = 1u << 6,
	OB_OPT_JSON = 1u << 7,
	OB_OPT_DIR = 1u << 8,
	OB_OPT_ALWAYS = 1u << 9,
	OB_OPT_HOOK_PATH = 1u << 10,
	OB_OPT_CDI = 1u << 11,
	OB_OPT_MAX_SOCKETS = 1u << 12,
	OB_OPT_BTF = 1u << 13,
	OB_OPT_SMALL_WINDOW = 1u << 14,
	OB_OPT_STALL_WINDOW = 1u << 15,
	OB_OPT_MAX_UNREAD = 1u << 16,
	OB_OPT_DOCKER = 1u << 17,
	OB_OPT_DOCKER_CONFIG = 1u << 18,
	OB_OPT_DEFAULT = 1u << 19,
	OB_OPT_CONTAINERD = 1u << 20,
	OB_OPT_SHIM_PATH = 1u << 21,
	OB_OPT_ALLOW_TRUST = 1u << 22,
	OB_OPT_ALLOW_HOST_NETWORK = 1u << 23,
	OB_OPT_POLICY = 1u << 24,
	OB_OPT_MAX_CONNS = 1u << 25,
	OB_OPT_MAX_SERVICES = 1u << 26,
	OB_OPT_STALE_AFTER = 1u << 27,
};

/* A namespace's quotas (bypass.h, struct ob_netns): 0, the load's default. */
struct ob_quotas {
	unsigned conns, services, sockets;
};

struct ob_args;

/* One verb: bpftool's {name, fn} plus its help and what it accepts. */
struct ob_cmd {
	const char *name;
	int (*fn)(const struct ob_args *a, FILE *out, struct ob_error *e); /* output to out */
	const char *summary; /* its line in --help; NULL: not listed */
	const char *usage;   /* VERB --help */
	unsigned opts;	     /* enum ob_cli_opt bits accepted */
	const char *operand; /* one positional argument (a->operand), or NULL */
	int (*check)(const struct ob_args *a, struct ob_error *e); /* further rules, or NULL */
};
extern const struct ob_cmd ob_cmds[]; /* cmds.c; ends with a NULL name */
const struct ob_cmd *ob_cmd_find(const char *name);

struct ob_args {
	const struct ob_cmd *cmd;
	bool help;	 /* --help given to the verb */
	bool verbose;	 /* -v */
	bool json;	 /* status --json */
	bool allow_host; /* enroll --allow-host */
	bool trust;	 /* enroll --trust */
	const char *cgroup;
	const char *btf;	  /* doctor --btf */
	unsigned max_sockets;	  /* load --max-sockets (the table), enroll --max-sockets
				   * (the namespace's quota); 0: the default */
	unsigned max_conns;	  /* enroll --max-conns, 0: the default */
	unsigned max_services;	  /* enroll --max-services, 0: the default */
	unsigned stale_after_s;	  /* gc --stale-after, 0: the default */
	unsigned small_window_ms; /* load --small-stream-window, 0: the default */
	unsigned stall_ms;	  /* load --stall-window, 0: the default */
	uint64_t max_unread;	  /* enroll --max-unread, 0: the default */
	const char *netns;
	const char *name;
	const char *operand;	   /* withdraw NAME, hook STAGE, help VERB */
	double wait_s;		   /* unload --wait */
	const char *dir;	   /* install-hooks --dir */
	const char *hook_path;	   /* install-hooks --hook-path */
	bool always;		   /* install-hooks --always */
	bool cdi;		   /* install-hooks --cdi */
	bool docker;		   /* install-hooks --docker */
	bool containerd;	   /* install-hooks --containerd */
	bool set_default;	   /* install-hooks --docker --default */
	const char *docker_config; /* install-hooks --docker-config FILE */
	const char *shim_path;	   /* install-hooks --shim-path: oci-bypass-runtime */
	bool allow_trust;	   /* install-hooks --allow-trust */
	bool allow_host_network;   /* install-hooks --allow-host-network */
	const char *policy;	   /* install-hooks --policy FILE (default OB_POLICY_PATH) */
	uint16_t noports[16];
	int n_noports;
};

/* Fills *a from argv, verbs from cmds; returns 0 or a negative errno with ob_err() set. */
int ob_parse_args(const struct ob_cmd *cmds, int argc, char *const argv[], struct ob_args *a,
		  struct ob_error *e);
int ob_args_check_enroll(const struct ob_args *a, struct ob_error *e);
int ob_args_check_withdraw(const struct ob_args *a, struct ob_error *e);
int ob_args_check_install(const struct ob_args *a, struct ob_error *e);

/* ---- format.c: counters and their output (pure) ---- */

#define OB_QUOTAS 4 /* conns, services, sockets, ledgers (bypass.h, "Quotas") */

struct ob_ns_view {
	char name[OB_NAME_MAX + 1];
	uint64_t cookie;
	int64_t unread;	     /* unread redirected bytes its sockets sent */
	int64_t promotable;  /* its sockets that may be promoted (bypass.h) */
	uint64_t max_unread; /* its own budget for them */
	uint64_t budget_now; /* that, or its share of the host's where smaller */
	bool trust;	     /* enrolled with --trust or io.oci-bypass.trust: no probation */
	/* its quotas (bypass.h), in the order of ob_quota_names: in use, limit */
	struct {
		int64_t used;
		uint32_t limit;
	} quota[OB_QUOTAS];
	struct ob_counters c;
};
extern const char *const ob_quota_names[OB_QUOTAS]; /* conns, services, sockets, ledgers */
extern const char *const ob_skip_names[OB_SKIP_N];  /* enum ob_skip: quiet, peer, budget, ... */

struct ob_svc_view {
	uint64_t cookie;
	uint16_t port;
	uint32_t state;		   /* enum ob_svc_state */
	uint32_t promoted;	   /* directions switched to the redirect by a promotion */
	uint32_t skips[OB_SKIP_N]; /* promotions not made, by enum ob_skip */
};

/* ob_view.guards */
#define OB_GUARD_SETSOCKOPT 1 /* rcvlowat, zerocopy, ktls */
#define OB_GUARD_WAITALL    2
#define OB_GUARD_SPLICE	    4

struct ob_view {
	bool loaded; /* sock_ops attached */
	bool pinned; /* maps exist (possibly draining) */
	bool enabled;
	bool draining;
	uint64_t build_id;
	uint64_t small_window_ms;		    /* load --small-stream-window */
	uint64_t ingress_max, ingress_max_blocking; /* unread-bytes bounds */
	uint64_t stall_ms;	  /* push-back: the peer read nothing for this long */
	uint64_t ns_max_unread;	  /* a namespace's default budget of unread bytes */
	uint64_t host_max_unread; /* the host's */
	int64_t host_unread;	  /* unread redirected bytes now, all namespaces */
	int64_t host_sharing;	  /* namespaces the host's budget is shared out among */
	uint64_t ledger_entries;  /* paired connections with an account */
	unsigned guards;	  /* OB_GUARD_*: the guards attached */
	bool promotion;		  /* the promotion iterator is pinned (promote works) */
	char cgroup[256];
	uint64_t sockhash_entries;
	uint64_t parking_entries; /* paired sockets, those leaving included */
	uint64_t conn_entries;
	int n_ns;
	struct ob_ns_view *ns;
	int n_svc;
	struct ob_svc_view *svc;
	int n_ct;
	struct ob_record *ct;
	int n_kept; /* kept verdicts, oldest first */
	struct ob_verdicts *kept;
};

const char *ob_svc_state_name(uint32_t state);

void ob_counters_add(struct ob_counters *sum, const struct ob_counters *one);
int ob_format_text(FILE *f, const struct ob_view *v);
int ob_format_json(FILE *f, const struct ob_view *v);
int ob_format_prometheus(FILE *f, const struct ob_view *v);

/* ---- netns.c ---- */
/* The network namespace file at path, opened safely for setns(): no
 * symlink, no FIFO or device, nsfs only (/proc/PID/ns/net followed as the
 * magic link it is), a network namespace; the fd or a negative errno. */
int ob_netns_open(const char *path, struct ob_error *e);
int ob_netns_cookie(const char *path, uint64_t *cookie, struct ob_error *e);
int ob_netns_cookie_fd(int fd, const char *what, uint64_t *cookie, struct ob_error *e);
int ob_host_netns_cookie(uint64_t *cookie);
/* The process pid, as a pidfd (Linux 5.3); a negative errno with e set. */
int ob_pidfd_open(int pid, struct ob_error *e);
/* Does the pidfd's process still hold its pid? /proc/PID read before a
 * true answer (pid: its number) was that process's, not a successor's. */
bool ob_pidfd_alive(int pidfd);

/* ---- maps.c: the pinned maps (the mechanism under the verbs) ---- */
/* Does the kernel make an array map whose value is one pointer to struct
 * tcp_sock tagged tag, an untrusted kptr (ob_kptr_tag())? */
bool ob_map_takes_kptr(const char *tag);
/* Every map user space opens, in one list: the field of struct ob_maps,
 * pinned as "ob_" NAME, with its key and value types (as bypass.bpf.c
 * declares them; ob_open_maps refuses pins of another layout). parking is
 * -1 if an older build without it is loaded. ob_sk_state is pinned too but
 * never opened (ob_unpin_maps). */
#define OB_MAPS(X)                                                                                 \
	X(sockhash, struct ob_sock_key, __u64)                                                     \
	X(conns, struct ob_conn_key, struct ob_conn)                                               \
	X(netns, __u64, struct ob_netns)                                                           \
	X(counters, __u64, struct ob_counters)                                                     \
	X(settings, __u32, struct ob_settings)                                                     \
	X(noports, struct ob_svc_key, __u8)                                                        \
	X(services, struct ob_svc_key, struct ob_service)                                          \
	X(parking, struct ob_sock_key, __u64)                                                      \
	X(ledger, struct ob_conn_key, struct ob_ledger)                                            \
	X(usage, __u32, struct ob_usage)
struct ob_maps {
#define OB_MAP_FIELD(n, k, v) int n;
	OB_MAPS(OB_MAP_FIELD)
#undef OB_MAP_FIELD
};
int ob_open_maps(struct ob_maps *m, struct ob_error *e);
void ob_close_maps(struct ob_maps *m);
/* A struct ob_maps that closes its maps when it goes out of scope: declare
 * it _cleanup_maps_ ... = OB_MAPS_CLOSED (ob_close_maps() is idempotent). */
#define OB_MAP_CLOSED(n, k, v) .n = -1,
#define OB_MAPS_CLOSED                                                                             \
	{                                                                                          \
		OB_MAPS(OB_MAP_CLOSED)                                                             \
	}
#define _cleanup_maps_ __attribute__((cleanup(ob_close_maps)))
int ob_read_settings(const struct ob_maps *m, struct ob_settings *s, struct ob_error *e);
int ob_write_settings(const struct ob_maps *m, const struct ob_settings *s, struct ob_error *e);
int ob_settings_read_fd(int fd, struct ob_settings *s, struct ob_error *e);
int ob_settings_write_fd(int fd, const struct ob_settings *s, struct ob_error *e);
int ob_read_counters(const struct ob_maps *m, uint64_t cookie, struct ob_counters *out,
		     struct ob_error *e);
int ob_read_netns(const struct ob_maps *m, uint64_t cookie, struct ob_netns *ns,
		  struct ob_error *e);
int64_t ob_read_usage(const struct ob_maps *m, int64_t *sharing);
struct ob_map_sizes {
	uint64_t sockhash, conns, parking, ledger;
};
void ob_map_sizes(const struct ob_maps *m, struct ob_map_sizes *z);
uint64_t ob_sockets_left(const struct ob_maps *m);
/* Iterators: the keys are read first, so fn may delete; a non-zero
 * return of fn stops the walk and is returned. */
int ob_netns_foreach(const struct ob_maps *m, int (*fn)(uint64_t cookie, void *ctx), void *ctx,
		     struct ob_error *e);
/* The pinned link of the promotion iterator (fd, or -errno with e set),
 * and an iterator of it in the calling thread's netns (fd, or -1). */
int ob_promote_link_open(struct ob_error *e);
int ob_promote_iter_create(int link);
int ob_services_foreach(const struct ob_maps *m,
			int (*fn)(uint64_t cookie, uint16_t port, const struct ob_service *sv,
				  void *ctx),
			void *ctx);
bool ob_netns_enrolled(const struct ob_maps *m, uint64_t cookie);
struct ob_verdicts; /* verdicts.c */
struct ob_enrolment;
int ob_netns_enrol(const struct ob_maps *m, uint64_t cookie, const struct ob_enrolment *en,
		   bool *already, struct ob_error *e);
/* The sweep (bypass.h): deletes ob_conns entries older than stale_ns that
 * no live socket needs, and ob_ledger entries neither of whose sockets is
 * in a sockhash, through the pinned program ob_sweep. Counts what it
 * deleted; -errno if it could not run at all. */
int ob_sweep_tables(const struct ob_maps *m, uint64_t stale_ns, unsigned *conns, unsigned *ledgers,
		    struct ob_error *e);
int ob_netns_withdraw(const struct ob_maps *m, uint64_t cookie);
/* Attaches the program pinned at prog_pin (a BPF_CGROUP_* type) to cgroup
 * cgfd and pins the link at link_path: it stays attached until unlinked. */
int ob_cgroup_link_pin(const char *prog_pin, int type, int cgfd, const char *cg,
		       const char *link_path, struct ob_error *e);
bool ob_sockops_attached(void);
/* OB_GUARD_*: which guards' links are pinned (attached). */
unsigned ob_guards_attached(void);
int ob_ensure_bpffs(struct ob_error *e);
void ob_unpin_maps(void);

/* ---- loader.c: load, pin, attach; detach, unpin ---- */
uint64_t ob_build_id(void);
struct ob_load_opts {
	const char *cgroup;
	unsigned max_sockets, small_window_ms, stall_ms; /* 0: the defaults */
};
int ob_load(const struct ob_load_opts *o, bool *already, char *cg_out, size_t cg_len,
	    struct ob_error *e);
void ob_sockops_detach(void);
void ob_unpin_all(void);

/* ---- enrolments.c: enrolled network namespaces, one record each under OB_RUN_DIR/netns ---- */
struct ob_enrolment {
	char *name;	    /* OB_NAME_MAX + 1 bytes: in, the name asked for; out, the
			     * one it is enrolled under (ob_enroll_cookie) */
	const char *origin; /* "cli" or "hook": gc withdraws only the hook's */
	bool trust;
	uint64_t max_unread; /* 0: the load's default */
	struct ob_quotas quotas;
	const uint16_t *noports;
	int n_noports;
	bool *already; /* out, optional: it was enrolled before */
	/* kept verdicts of the container (the hook), or NULL; *restored
	 * (optional): how many went in (none if it was enrolled before) */
	const struct ob_verdicts *kept;
	int *restored;
	const char *nsref; /* an absolute path that reaches it (promote), or NULL */
};
int ob_enroll_cookie(const struct ob_maps *m, uint64_t cookie, const struct ob_enrolment *en,
		     struct ob_error *e);
int ob_withdraw_cookie(const struct ob_maps *m, uint64_t cookie);
bool ob_registry_by_hook(uint64_t cookie);
int ob_registry_name(uint64_t cookie, char *name, size_t len);
/* The path the namespace was enrolled by (enroll --netns), or -ENOENT. */
int ob_registry_nsref(uint64_t cookie, char *out, size_t len);
int ob_registry_find(const char *name, uint64_t *cookie, struct ob_error *e);
int ob_registry_clear(void);

/* ---- containers.c: one record per container under OB_RUN_DIR/containers ---- */
#define OB_KEY_MAX 159 /* a record's key: OB_ID_MAX + 9 fits */
struct ob_record {
	char key[OB_KEY_MAX + 1];	/* file name: id + "-" + crc32(bundle) */
	char image_key[OB_KEY_MAX + 1]; /* its image's kept verdicts (ob_image_key), or "" */
	char id[160];
	char bundle[4096];
	char state[16];	 /* "creating" (hook under way) or "enrolled" */
	uint64_t cookie; /* netns cookie */
	int pid;
	unsigned long long pid_start; /* tells a recycled pid apart */
	long long created;	      /* unix time */
	int hook_pid;		      /* the hook that wrote "creating" */
	unsigned long long hook_start;
	char link[PATH_MAX]; /* per-container sock_ops link pin (OB_PIN_CT key), or "" */
	char cgroup[PATH_MAX];
	/* what the hook enrolled the netns with, so that gc can enrol it
	 * again; has_enrolment: recorded (not by a build before this) */
	bool has_enrolment;
	char name[OB_NAME_MAX + 1];
	bool trust;
	uint64_t max_unread;
	uint16_t noports[OB_NOPORTS_MAX];
	int n_noports;
	int err; /* ob_records_list(unreadable): why it could not be read (-errno), else 0 */
};
int ob_record_key(const char *id, const char *bundle, char *key, size_t len, struct ob_error *e);
/* The key of the verdicts kept for the image container id (bundle) was
 * made from, where the engine records it in a file only root can have
 * written (containers/storage: podman, CRI-O); -ENOENT where it does not. */
int ob_image_key(const char *id, const char *bundle, char *key, size_t len, struct ob_error *e);
int ob_record_write(const struct ob_record *r, struct ob_error *e);
/* -ENOENT if there is none; any other error: it exists but is unreadable
 * (not a regular file, too large, bad JSON, a bad id or link). */
int ob_record_read(const char *key, struct ob_record *r, struct ob_error *e);
/* Is there a record file for key, readable or not? (true when unsure) */
bool ob_record_exists(const char *key);
int ob_record_remove(const char *key, struct ob_error *e);
int ob_records_list(struct ob_record **out, int *n, bool unreadable, struct ob_error *e);
int ob_records_sharing(uint64_t cookie, const char *except, bool *unsure);
unsigned long long ob_pid_start(int pid);
/* The same for the process of pidfd (pid its number), 0 if it is gone. */
unsigned long long ob_pidfd_start(int pidfd, int pid);

/* ---- verdicts.c (pure) and verdict_store.c: what was learned of a
 * container's services, kept across its restarts ---- */
#define OB_STATE_DIR	    "/var/lib/oci-bypass"
#define OB_VERDICTS_DIR	    OB_STATE_DIR "/verdicts"
#define OB_VERDICTS_MAX	    1024 /* containers kept: past it the oldest goes */
#define OB_VERDICTS_MAX_S   "1024"
#define OB_VERDICTS_MAX_SVC 256 /* services kept per container */
struct ob_verdict {
	uint16_t port;
	uint32_t state; /* enum ob_svc_state, ob_verdict_keepable() */
};
struct ob_verdicts {
	char key[OB_KEY_MAX + 1]; /* the container's record key (its id and bundle) */
	char id[160];
	long long saved; /* unix time */
	int n;
	struct ob_verdict v[OB_VERDICTS_MAX_SVC];
};
bool ob_verdict_keepable(uint32_t state);
bool ob_verdicts_key_valid(const char *key);
/* The file's text (malloc'd), or NULL when out of memory. */
char *ob_verdicts_format(const struct ob_verdicts *vs);
/* The file of key, whole: every field checked, its id the one key gives. */
int ob_verdicts_parse(const char *key, const char *buf, size_t len, struct ob_verdicts *vs,
		      struct ob_error *e);
/* At a container's teardown, before its netns is withdrawn: keeps what was
 * learned of the netns's services under its key (*kept: how many; none
 * learned: its file goes), then leaves OB_VERDICTS_MAX files at most. */
int ob_verdicts_save(const struct ob_maps *m, const char *key, const char *id, uint64_t cookie,
		     int *kept, struct ob_error *e);
/* -ENOENT if none are kept for key. */
int ob_verdicts_read(const char *key, struct ob_verdicts *vs, struct ob_error *e);
/* Every file that can be read, oldest first (*out malloc'd). */
int ob_verdicts_list(struct ob_verdicts **out, int *n, struct ob_error *e);
/* Removes the files of the containers named id (or with that key), or all
 * with id NULL; *n how many. */
int ob_verdicts_forget(const char *id, int *n, struct ob_error *e);

/* ---- lifecycle.c: a container's enrolment, create to teardown, and gc's repair ---- */
/* One line per event, container id first, to syslog and stderr (log.c). */
void ob_hlog(int prio, const char *id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
struct ob_state;
struct ob_policy;
struct ob_sandbox;
/* The hook's create: the record first (gc can repair a killed hook), the
 * objects loaded, the container placed, its netns enrolled under the
 * enrolment lock with its kept verdicts; undone on failure. */
int ob_container_create(const struct ob_state *st, const struct ob_policy *p, const char *key,
			struct ob_sandbox *sb, struct ob_error *e);
/* The hook's teardown: from the record; keeps the verdicts, withdraws the
 * netns if no other container uses it and the hook owns it. Never fails. */
int ob_container_teardown(const struct ob_state *st, const char *key);
struct ob_repair {
	int fixed, bad; /* items repaired; unreadable records left in place */
	unsigned swept_conns, swept_ledgers;
};
int ob_containers_repair(uint64_t stale_ns, FILE *out, struct ob_repair *rep, struct ob_error *e);

/* ---- cgroup.c ---- */
int ob_find_cgroup2(char *buf, size_t len, struct ob_error *e);
int ob_attach_cgroup_save(const char *cg, struct ob_error *e);
/* The cgroup sock_ops was attached to at load ("" and <0 if unknown). */
int ob_attach_cgroup(char *buf, size_t len);
void ob_attach_cgroup_forget(void);
int ob_cgroup_place(int pid, int pidfd, const char *key, char *cg_out, size_t cg_len,
		    char *link_out, size_t link_len, struct ob_error *e);
/* The link pin of the container whose record is key (OB_PIN_CT key), a
 * direct child of OB_PIN_DIR: -EINVAL if key is not a valid name. */
int ob_cgroup_link_path(const char *key, char *buf, size_t len);
/* Removes that pin (detaches the link), if there is one. */
/* The guard pin of the container whose record is key (OB_PIN_CTG key). */
int ob_cgroup_guard_path(const char *key, char *buf, size_t len);
void ob_cgroup_unplace(const char *key);
bool ob_cgroup_placed(const char *key); /* is that pin there? */
/* Calls fn with the key of every ct-KEY pin; a non-zero return stops the
 * walk and is returned (fn may remove the pin). */
int ob_cgroup_links_foreach(int (*fn)(const char *key, void *ctx), void *ctx);
void ob_cgroup_unplace_all(void);      /* unload: every container's sock_ops link */
void ob_cgroup_guards_unpin_all(void); /* sockhash empty: their guards too */

/* ---- sandbox.c: confinement (hook/cmd_hook.c's confine() runs the steps in order) ---- */
/* What the privileged part still holds: each stage drops what the one
 * before it needed last (sandbox.c's keep_caps says which and why). */
enum ob_caps_stage {
	OB_CAPS_INPUT, /* every kept capability: config.json still to read */
	OB_CAPS_NETNS, /* config.json read: DAC_* gone */
	OB_CAPS_BPF,   /* the netns cookies read: SYS_ADMIN, SYS_PTRACE gone */
	OB_CAPS_NONE,
};
int ob_caps_drop(enum ob_caps_stage stage, struct ob_error *e);
/* Step 1: capabilities to the kept list, PR_SET_NO_NEW_PRIVS; creates
 * OB_RUN_DIR and OB_PIN_DIR (mounting bpffs) for Landlock's rules. */
int ob_sandbox_prepare(struct ob_error *e);
struct ob_sandbox {
	int landlock_abi;      /* the Landlock ABI of the ruleset; 0: none */
	int ruleset;	       /* built, not yet enforced; -1: none */
	char no_landlock[128]; /* why there is none: the kernel has none or it is off */
};
/* Step 3, after the parse child is started (no fork from here on): a
 * Landlock ruleset where the kernel has Landlock, then the seccomp filter. */
int ob_sandbox_apply(struct ob_sandbox *sb, struct ob_error *e);
/* Step 4, once setns() is done (a Landlock domain denies the ptrace
 * access setns() by pidfd needs): enforces the ruleset, if any. */
int ob_sandbox_landlock(struct ob_sandbox *sb, struct ob_error *e);
/* The parse child's own: no capability, a filter of a few calls. */
int ob_sandbox_parser(struct ob_error *e);
/* Tests only: OB_TEST_CONFINE_FAIL=STEP (caps, fork, parser, landlock,
 * seccomp) makes that step fail. It can only make the hook not
 * accelerate (or fail under required), never less confined. */
bool ob_sandbox_forced(const char *step);

/* ---- parser.c: the parse child ---- */
/* Untrusted input (the state on stdin, config.json) is parsed in a child
 * process forked before the privileged part's filter is loaded, holding
 * no capability, allowed almost no system call; its answers are checked
 * again as untrusted. fd -1: no child, the parse runs in this process,
 * whose caller must hold no capability by then. */
#define OB_NOBODY 65534 /* the uid and gid of the shim's parse child */
struct ob_parser {
	int pid;
	int fd;
	/* the caller takes a child whose confinement failed but that holds
	 * no capability (the shim, only to learn the mode): ob_parser_ready
	 * still says why, and sets degraded */
	bool allow_degraded, degraded;
};
/* Forks it; ob_parser_ready waits until it is confined (or says why not). */
/* The hook's confinement, every step (parser.c says which, in order): the
 * parse child started, capabilities dropped, the seccomp filter and a
 * Landlock ruleset built; the first failure is returned. */
int ob_confine(struct ob_sandbox *sb, struct ob_parser *ps, struct ob_error *e);
int ob_parser_start(struct ob_parser *ps, struct ob_error *e);
int ob_parser_ready(struct ob_parser *ps, struct ob_error *e);
int ob_parse_state(struct ob_parser *ps, const char *buf, size_t len, struct ob_state *st,
		   struct ob_error *e);
int ob_parse_config(struct ob_parser *ps, const char *buf, size_t len, struct ob_policy *p,
		    struct ob_error *e);
/* The shim's decision about a config.json (ob_bundle_plan), by the child;
 * on an error p->mode is what a valid mode setting asked for. */
int ob_parse_bundle(struct ob_parser *ps, const char *buf, size_t len, const char *hook_path,
		    struct ob_bundle_plan *p, struct ob_error *e);
void ob_parser_stop(struct ob_parser *ps);

/* ---- runtime.c: oci-bypass-runtime, the OCI runtime shim for Docker 20.10 and
 * containerd 1.6 (the same binary, called by that name; main() hands over) ---- */
#define OB_RUNTIME_BIN "oci-bypass-runtime"
int ob_runtime_main(int argc, char **argv);

/* ---- features.c: what the datapath needs of the kernel ---- */
enum ob_feat_state { OB_FEAT_OK, OB_FEAT_MISSING, OB_FEAT_FALLBACK, OB_FEAT_WARN };
struct ob_feature {
	const char *name;
	const char *since; /* first mainline version that has it */
	enum ob_feat_state state;
	const char *note; /* the fix if missing, the fallback in use */
};
/* Probes the running kernel; fills up to max rows, returns how many. */
int ob_features(struct ob_feature *out, int max);
/* The first missing feature as a sentence, or NULL. */
const char *ob_missing_feature(void);
/* Does this kernel (or the BTF file btf_path) lack sk_psock.msg_tot_len,
 * so that the fexit fallback counts unread bytes? */
int ob_unread_fallback(const char *btf_path, bool *fallback, struct ob_error *e);
/* Can fentry programs be loaded and attached here (the guards for
 * MSG_WAITALL and splice)? 0, or the -errno that refused them. */
int ob_fentry_probe(void);
/* The BTF tag of an untrusted kptr on this kernel: "kptr_untrusted" (6.3
 * on), "kptr" (5.19 to 6.2), NULL if it has none. */
const char *ob_kptr_tag(void);
/* Can connections that started on TCP be promoted here (bypass.h): the
 * TCP iterator (5.10) and kptrs to read the peer through (5.19)? */
bool ob_promotion_supported(void);
/* libbpf's messages go to stderr with -v; the reason for a failure is kept. */
void ob_libbpf_messages(void);
struct bypass_bpf;
/* Opens the object as load and doctor load it (btf_path: NULL for the
 * running kernel's BTF; max_sockets: 0 for the default). */
int ob_open_object(struct bypass_bpf **skel, const char *btf_path, unsigned max_sockets,
		   bool *fallback, struct ob_error *e);
/* Loads it into the kernel; on failure the error names what is missing. */
int ob_load_object(struct bypass_bpf *skel, struct ob_error *e);
/* Destroys *skel, if any: the skeleton's owner when it goes out of scope
 * (_cleanup_object_); OB_TAKE_PTR() hands it over. */
void ob_close_object(struct bypass_bpf **skel);
#define _cleanup_object_ __attribute__((cleanup(ob_close_object)))
/* Loads the object with private maps, attaches nothing (the fexit
 * fallback for a moment), unloads: fails wherever load would. */
int ob_verify_object(const char *btf_path, bool *fallback, struct ob_error *e);

/* ---- the verbs (cmd_*.c, cmds.c), called only through ob_cmds[]: each writes its
 * output to out and returns its error in e; main() prints errors ---- */
int ob_cmd_load(const struct ob_args *a, FILE *out, struct ob_error *e); /* cmd_load.c */
int ob_cmd_unload(const struct ob_args *a, FILE *out, struct ob_error *e);
int ob_cmd_enable(const struct ob_args *a, FILE *out, struct ob_error *e);
int ob_cmd_disable(const struct ob_args *a, FILE *out, struct ob_error *e);
int ob_cmd_enroll(const struct ob_args *a, FILE *out, struct ob_error *e); /* cmd_enroll.c */
int ob_cmd_withdraw(const struct ob_args *a, FILE *out, struct ob_error *e);
int ob_cmd_status(const struct ob_args *a, FILE *out, struct ob_error *e); /* cmd_status.c */
int ob_cmd_metrics(const struct ob_args *a, FILE *out, struct ob_error *e);
int ob_cmd_doctor(const struct ob_args *a, FILE *out, struct ob_error *e); /* cmd_doctor.c */
int ob_cmd_hook(const struct ob_args *a, FILE *out, struct ob_error *e);   /* cmd_hook.c */
int ob_cmd_gc(const struct ob_args *a, FILE *out, struct ob_error *e);
int ob_cmd_promote(const struct ob_args *a, FILE *out, struct ob_error *e); /* cmd_promote.c */
int ob_cmd_forget(const struct ob_args *a, FILE *out, struct ob_error *e);  /* cmd_status.c */
int ob_cmd_install_hooks(const struct ob_args *a, FILE *out,
			 struct ob_error *e);				 /* cmd_install.c */
int ob_cmd_help(const struct ob_args *a, FILE *out, struct ob_error *e); /* cmds.c */
int ob_cmd_version(const struct ob_args *a, FILE *out, struct ob_error *e);

#endif /* OB_H */
