/* oci.h - OCI state, config.json policy, hooks.d and CDI files: pure parsing and generation. */
#ifndef OB_OCI_H
#define OB_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Nothing in oci/ makes a system call of its own: callers read files and
 * stdin into buffers and pass them in, so all of it is unit-tested and
 * fuzzed without root.
 *
 * The error convention of oci/ and hook/ alike: a function that fails
 * returns a negative errno and fills the struct ob_error its caller
 * passed (one sentence: lower case, no final period, untrusted text
 * quoted and escaped) with ob_err(); a caller may prepend context with
 * ob_err_wrap(). Nothing is written on success, so nothing needs
 * clearing. e may be NULL where the caller does not want the sentence.
 * Only main() prints it, once, as "oci-bypass: VERB: sentence".
 */
struct ob_error {
	int code;	 /* the negative errno returned; 0 while nothing failed */
	int exit;	 /* exit status for main() instead of 1; 0: 1 */
	char where[160]; /* what main() names instead of the verb (a container id), or "" */
	char msg[512];
};
int ob_err(struct ob_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "context: " + the sentence already in e (or strerror(-code) if none). */
int ob_err_wrap(struct ob_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define OB_STATE_MAX	(64 * 1024)	  /* bytes of state JSON we accept */
#define OB_CONFIG_MAX	(4 * 1024 * 1024) /* bytes of config.json we accept */
#define OB_HOOKSD_MAX	(64 * 1024)	  /* bytes of a hooks.d file we validate */
#define OB_JSON_DEPTH	24		  /* json-c tokener depth limit */
#define OB_ID_MAX	128
#define OB_PATH_MAX	4096 /* including the NUL */
#define OB_NOPORTS_MAX	16
#define OB_REGEX_MAX	1024 /* bytes of one hooks.d regex we compile */
#define OB_HOOK_TIMEOUT 10   /* seconds, in the files we write */

#define OB_ANNOT_PREFIX "io.oci-bypass."
#define OB_ANNOT_MODE	"io.oci-bypass.mode"

enum ob_stage { OB_STAGE_UNKNOWN = 0, OB_STAGE_CREATE, OB_STAGE_TEARDOWN };

enum ob_mode { OB_MODE_ON = 0, OB_MODE_OFF, OB_MODE_REQUIRED };

/* OCI runtime state, as given to hooks on stdin. */
struct ob_state {
	char id[OB_ID_MAX + 1];	  /* validated, see ob_name_valid */
	char status[16];	  /* "creating", "created", "running", "stopped" (others kept) */
	int pid;		  /* 0 when absent, null or 0 (poststop) */
	char bundle[OB_PATH_MAX]; /* absolute path, validated (ob_path_valid) */
};

/*
 * Parses state JSON. Accepts runc's ("ociVersion":"1.0.2-dev", status
 * "creating" at createRuntime), crun's ("1.0", "created", extra "root"),
 * podman's poststop (status "stopped", pid absent or 0, maybe empty
 * annotations). Rejects: len > OB_STATE_MAX, NUL bytes or \u0000 escapes,
 * not one object, trailing data, nesting deeper than OB_JSON_DEPTH,
 * missing or ill-typed id/status/bundle, id or bundle failing validation,
 * pid negative or not an int, annotations not an object of strings. The
 * annotations are not read: the policy comes from config.json alone
 * (ob_config_parse). Unknown keys are ignored. On failure *st is zeroed.
 */
int ob_state_parse(const char *buf, size_t len, struct ob_state *st, struct ob_error *e);

/*
 * Stage from an explicit argument ("create", "teardown", or the OCI stage
 * names "createRuntime", "prestart", "createContainer" -> create,
 * "poststop" -> teardown; st may then be NULL and is not consulted) or,
 * when arg is NULL, from st->status: creating/created with pid > 0 ->
 * create; stopped -> teardown; anything else -> OB_STAGE_UNKNOWN with a
 * sentence in err.
 */
enum ob_stage ob_stage_from(const char *arg, const struct ob_state *st, struct ob_error *e);
const char *ob_stage_name(enum ob_stage s); /* "create", "teardown", "unknown" */

/*
 * The one validator of names: container ids (max OB_ID_MAX), the
 * io.oci-bypass.name annotation (OB_ID_MAX) and enrolment names, which
 * become file names under /run/oci-bypass (max OB_NAME_MAX in hook/ob.h):
 * 1..max chars of [A-Za-z0-9_.+-], not starting with '.' or '-', no "..".
 */
bool ob_name_valid(const char *name, size_t max);
#define OB_NAME_CHARS "[A-Za-z0-9_.+-], not starting with '.' or '-', without \"..\""
/*
 * Absolute, shorter than OB_PATH_MAX, no ".." component ("/../" or a
 * trailing "/.."), no control characters (< 0x20, 0x7f); "//" and "/./"
 * are allowed.
 */
bool ob_path_valid(const char *path);
/*
 * path is prefix followed by a name ob_name_valid(name, max) accepts, so a
 * direct child of the directory prefix names or ends in: prefix
 * "/sys/fs/bpf/oci-bypass/ct-" takes ".../ct-web-1a2b3c4d", never
 * ".../ct-x/y" or ".../../etc/shadow".
 */
bool ob_child_valid(const char *path, const char *prefix, size_t max);
/*
 * If path is a namespace file of procfs, "/proc/PID/ns/TYPE" (PID digits,
 * "self" or "thread-self"; TYPE [a-z_], e.g. net), what follows "/proc/";
 * else NULL. Such a file is a magic link into nsfs, which netns.c follows
 * on purpose (and only it).
 */
const char *ob_proc_ns_path(const char *path);

/* "on" | "off" | "required", exactly; false for anything else. */
bool ob_mode_parse(const char *s, enum ob_mode *m);
const char *ob_mode_name(enum ob_mode m);
/* "^(on|required)$": the values for which the hooks.d file runs the hook;
 * 0, or -ENAMETOOLONG if buf is too short. */
int ob_mode_hook_regex(char *buf, size_t len);

/* From the bundle's config.json. */
/* enroll --max-unread, io.oci-bypass.max-unread: 64 KiB to 1 TiB */
#define OB_MAX_UNREAD_MIN (64ull << 10)
#define OB_MAX_UNREAD_MAX (1ull << 40)
/* A byte count from min to max with an optional k, m or g suffix (powers
 * of 1024); the error names opt. */
int ob_parse_bytes(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out,
		   struct ob_error *e);

struct ob_policy {
	enum ob_mode mode;		  /* io.oci-bypass.mode; absent: ON */
	bool mode_set;			  /* io.oci-bypass.mode was given (and valid) */
	uint16_t noports[OB_NOPORTS_MAX]; /* io.oci-bypass.no-ports "443,6379", deduplicated */
	int n_noports;
	bool trust;		      /* io.oci-bypass.trust "true": skip service probation
				       * (if the host policy allows it: ob_policy_restrict) */
	uint64_t max_unread;	      /* io.oci-bypass.max-unread "64m"; 0: the default */
	bool allow_host_network;      /* io.oci-bypass.allow-host-network "true"/"false" (the
				       * same) */
	bool has_netns;		      /* linux.namespaces has an entry of type "network" */
	char netns_path[OB_PATH_MAX]; /* its "path" (an existing netns), validated; "" if new */
	char id_hint[OB_ID_MAX + 1];  /* io.oci-bypass.name (validated like ids), else "" */
};

/*
 * Parses config.json. Same caps (OB_CONFIG_MAX, OB_JSON_DEPTH, no NUL).
 * An annotation under the io.oci-bypass. prefix (compared without case)
 * that is not one of mode, no-ports, trust, max-unread, allow-host-network, name is an
 * error naming the key; an invalid value is an error naming key and value.
 * Missing or null "linux", "annotations", "namespaces" are fine; wrong
 * types (annotations not an object of strings, namespaces not an array of
 * objects with a string "type", a second network entry) are errors. On
 * failure *p is zeroed, except that mode keeps a valid io.oci-bypass.mode
 * annotation wherever it stands, so that a container that asks for
 * "required" fails closed on any error in its config.json.
 */
int ob_config_parse(const char *buf, size_t len, struct ob_policy *p, struct ob_error *e);

/* io.oci-bypass.no-ports value: ports 1..65535 separated by commas and/or blanks. */
int ob_noports_parse(const char *s, uint16_t *ports, int *n, struct ob_error *e);

/*
 * The host policy (policy.c): what an annotation alone cannot decide,
 * because an image's annotations reach config.json too (podman copies
 * them): io.oci-bypass.trust and io.oci-bypass.allow-host-network take
 * effect only where the host's policy file allows them (issue 11).
 */
#define OB_POLICY_PATH "/etc/oci-bypass/policy.conf"
#define OB_POLICY_MAX  4096 /* bytes of policy file we accept */

struct ob_host_policy {
	bool allow_trust;	 /* allow-trust = true */
	bool allow_host_network; /* allow-host-network = true */
	/* allow-max-unread = SIZE: the most io.oci-bypass.max-unread may ask
	 * for above OB_MAX_UNREAD_FREE; 0: nothing above it */
	uint64_t allow_max_unread;
};
/* io.oci-bypass.max-unread up to this needs no policy: it is the
 * namespace default (bypass.h, OB_NS_MAX_UNREAD), and less only restricts
 * the container itself. Above it a namespace may hold more of the host's
 * budget than its share: that needs allow-max-unread. */
#define OB_MAX_UNREAD_FREE (256ull << 20)

/*
 * Parses a policy file: lines "key = value", blanks around key and value
 * ignored, '#' starts a comment (to the end of the line), blank lines
 * ignored. Keys allow-trust and allow-host-network (true or false) and
 * allow-max-unread (0, or bytes with a k, m or g suffix, as the
 * annotation), each at most once; a key not given is false or 0. Anything else (an
 * unknown key, another value, a line without '=', a key given twice, a
 * NUL byte, more than OB_POLICY_MAX bytes) is an error naming
 * name:line. On failure *hp is all false: the policy never fails open.
 */
int ob_host_policy_parse(const char *buf, size_t len, const char *name, struct ob_host_policy *hp,
			 struct ob_error *e);

/* Writes a policy file: both keys, each with a comment saying what it
 * allows. ob_host_policy_parse reads it back as hp. */
int ob_host_policy_write(FILE *f, const struct ob_host_policy *hp, struct ob_error *e);

/* What ob_policy_restrict dropped. */
#define OB_REFUSED_TRUST 1u /* io.oci-bypass.trust=true without allow-trust */
#define OB_REFUSED_HOST_NETWORK                                                                    \
	2u /* io.oci-bypass.allow-host-network=true without allow-host-network */
#define OB_REFUSED_MAX_UNREAD                                                                      \
	4u /* io.oci-bypass.max-unread above OB_MAX_UNREAD_FREE and allow-max-unread */

/* Clears p->trust and p->allow_host_network where hp does not allow them,
 * and p->max_unread (the namespace default then) where it asks for more
 * than OB_MAX_UNREAD_FREE and hp allows; returns the OB_REFUSED_* bits of
 * what it cleared. */
unsigned ob_policy_restrict(struct ob_policy *p, const struct ob_host_policy *hp);

/*
 * hooks.d file (podman / CRI-O "version": "1.0.0"): stages
 * ["createRuntime", "poststop"], hook args ["oci-bypass", "hook"] (the stage
 * is inferred from the state), timeout OB_HOOK_TIMEOUT. always=false:
 * "when": {"annotations": {"^io\\.oci-bypass\\.mode$": "^(on|required)$"}};
 * always=true: "when": {"always": true} (opt-out with mode=off is the
 * hook's job). hook_path must pass ob_path_valid. Writes pretty JSON and a
 * newline to f; the text is checked with ob_hooksd_validate first.
 */
int ob_hooksd_write(FILE *f, const char *hook_path, bool always, struct ob_error *e);

/*
 * CDI spec: cdiVersion "0.6.0", kind "oci-bypass.io/net", one device "on"
 * whose containerEdits.hooks are createRuntime [path] "oci-bypass hook
 * create" and poststop "oci-bypass hook teardown", timeout
 * OB_HOOK_TIMEOUT. For containerd 2.x, nerdctl >= 2.1, Docker >= 28.2
 * (--device oci-bypass.io/net=on).
 */
int ob_cdi_write(FILE *f, const char *hook_path, struct ob_error *e);

/*
 * Validates a hooks.d file as podman needs it: one JSON object (<=
 * OB_HOOKSD_MAX), "version" "1.0.0"; "hook" object with "path" passing
 * ob_path_valid, optional "args"/"env" arrays of strings, optional
 * "timeout" > 0; "when" object with at least one of always (bool),
 * annotations (non-empty object of string -> string, each key and value a
 * POSIX ERE that regcomp(REG_EXTENDED) accepts), commands (non-empty array
 * of such regexes), hasBindMounts (bool), and "or" a bool if present;
 * "stages" a non-empty array of distinct known stage names (prestart,
 * createRuntime, createContainer, startContainer, poststart, poststop).
 * Regexes are capped so that compiling them stays cheap: OB_REGEX_MAX
 * bytes, a bounded expansion of '+' and {m,n}, and no '*', '+' or {m,}
 * around something that can match "" (glibc's regcomp is exponential in
 * both; Go's regexp, which podman uses, refuses "a**" and counts > 1000).
 */
int ob_hooksd_validate(const char *buf, size_t len, struct ob_error *e);

/*
 * oci-bypass-runtime, the runtime shim for engines that apply no hooks of
 * their own (Docker 20.10, containerd 1.6): bundle.c.
 */
#define OB_RUNTIME_NAME "oci-bypass"	  /* the runtime's name in daemon.json / containerd */
#define OB_ENV_MODE	"OCI_BYPASS_MODE" /* process.env: off | on | required */

struct ob_bundle_edit {
	enum ob_mode mode;     /* what the container asks for */
	const char *mode_from; /* "annotation", OB_ENV_MODE or "default" (on) */
	bool added;	       /* out holds the new config.json */
	char *out;	       /* malloc'd, NUL-terminated */
	size_t out_len;
};

/* Where the mode came from (ob_bundle_edit.mode_from's names). */
enum ob_mode_from {
	OB_FROM_DEFAULT,
	OB_FROM_ANNOTATION,
	OB_FROM_ENV,
};
const char *ob_mode_from_name(enum ob_mode_from from);

/* What the shim is to do to a config.json: decided by json-c's parse in a
 * confined child (ob_bundle_plan), done by ob_bundle_splice in the shim. */
struct ob_bundle_plan {
	enum ob_mode mode;
	enum ob_mode_from from;
	bool add_create;     /* hooks.createRuntime gets ours */
	bool add_poststop;   /* hooks.poststop gets ours */
	bool add_annotation; /* annotations get io.oci-bypass.mode = mode */
};

/*
 * The decision of ob_bundle_add_hooks (below), with json-c: the mode, and
 * which hooks and annotation are missing. On an error p->mode still says
 * what a valid annotation or OCI_BYPASS_MODE asked for.
 */
int ob_bundle_plan(const char *buf, size_t len, const char *hook_path, struct ob_bundle_plan *p,
		   struct ob_error *e);

/*
 * The edit, without json-c (splice.c): finds by a scan of the document's
 * structure where what p says is missing goes (the last member of a name
 * counts, as for runc), and inserts text of its own making there; every
 * other byte is kept. *out (malloc'd, NUL-terminated) is checked to be one
 * JSON object again. Errors: a document that is not one JSON object, nests
 * deeper than 64 levels, or has "hooks", a stage to add to, or (with an
 * annotation to add) "annotations" of the wrong type.
 */
int ob_bundle_splice(const char *buf, size_t len, const char *hook_path,
		     const struct ob_bundle_plan *p, char **out, size_t *out_len,
		     struct ob_error *e);

/*
 * Adds the createRuntime hook [hook_path] "oci-bypass hook create" and the
 * poststop hook "oci-bypass hook teardown" (timeout OB_HOOK_TIMEOUT) to a
 * config.json, after the hooks already there, unless the container opted
 * out. The mode: the io.oci-bypass.mode annotation if present (it wins),
 * else the last OCI_BYPASS_MODE=... in process.env, else on. Mode off:
 * nothing changes. A stage that already runs an oci-bypass hook (same
 * path, or args "oci-bypass" "hook"; prestart counts for createRuntime)
 * gets no second one. A mode that came from OCI_BYPASS_MODE and is not on
 * is written into the annotations, where the hook reads it (so that
 * "required" fails closed there too). ed->added is false when nothing
 * changed. Every other byte is kept (ob_bundle_plan, then
 * ob_bundle_splice: the shim runs the first in a confined child). Errors: whatever ob_config_parse
 * refuses (the hook would refuse it too: the same parser decides the
 * annotation's mode), an invalid OCI_BYPASS_MODE value, process or
 * process.env or hooks or a hooks stage of the wrong type. On an error
 * ed->mode still says what a valid annotation or OCI_BYPASS_MODE asked
 * for, so that "required" can fail closed.
 */
int ob_bundle_add_hooks(const char *buf, size_t len, const char *hook_path,
			struct ob_bundle_edit *ed, struct ob_error *e);

/*
 * Docker's daemon.json with runtimes.oci-bypass.path = shim_path (other
 * members of that entry, such as runtimeArgs, kept) and, with set_default,
 * "default-runtime": "oci-bypass". buf may be NULL or blank (no file yet).
 * Every other key is kept. *out is malloc'd pretty JSON with a final
 * newline. An invalid document, or runtimes / runtimes.oci-bypass not an
 * object, is an error (the caller must not overwrite the file then).
 */
int ob_docker_config_merge(const char *buf, size_t len, const char *shim_path, bool set_default,
			   char **out, size_t *out_len, struct ob_error *e);

/*
 * The containerd 1.6 config.toml (version 2) snippet: runtime oci-bypass
 * of type io.containerd.runc.v2 with options.BinaryName = shim_path under
 * [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.oci-bypass].
 */
int ob_containerd_snippet(FILE *f, const char *shim_path, struct ob_error *e);

#endif /* OB_OCI_H */
