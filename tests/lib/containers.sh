# tests/lib/containers.sh: real containers for oci-bypass integration tests.
# shellcheck shell=bash
#
# Source this file (after tests/lib/common.sh, or on its own); needs root,
# jq and, per engine, runc / crun / podman.  Containers run our own static
# test programs ($OB_BUILD/tests/streamcheck) in a busybox-static root
# filesystem; no image registry is used.
#
# Rules of every function: `set -u` safe, never changes the caller's shell
# options, prints exactly one "containers.sh: ..." line on stderr and
# returns non-zero on error (command output that explains the error, such
# as a runtime's log, follows that line), idempotent.
#
# Host and files
#   ct_host_prepare              make runc, crun and podman work on this host
#                                (see the comment there); safe to call often
#   ct_have RUNTIME              true if runc|crun|podman is installed
#   ct_rootfs [DIR]              busybox-static rootfs + /bin/streamcheck at
#                                DIR (default $CT_ROOTFS); sets CT_ROOTFS=DIR;
#                                cached, refreshed when a binary is newer
# runc / crun (RUNTIME is runc or crun)
#   ct_bundle DIR ID NETNS_PATH [HOOK_CMD...]
#                                OCI bundle at DIR for container ID whose
#                                process joins NETNS_PATH ("" = a new empty
#                                netns); HOOK_CMD added as hooks at
#                                $CT_HOOK_STAGES (default createRuntime
#                                poststop).  Env: CT_ARGS (JSON array, default
#                                ["sleep","3600"]), CT_ANNOTATIONS (JSON
#                                object), CT_ENV (JSON array of "K=V"),
#                                CT_HOOK_TIMEOUT (seconds)
#   ct_run RUNTIME ID BUNDLE     create + start detached; the container's
#                                stdout/stderr go to BUNDLE/output.log
#   ct_exec RUNTIME ID CMD...    run CMD in the container (stdio passed
#                                through; bounded by $CT_EXEC_TIMEOUT, 60 s)
#   ct_pid RUNTIME ID            print the pid of the container's process
#   ct_status RUNTIME ID         print created|running|stopped (or fail)
#   ct_wait_output ID REGEX [SECONDS]   wait until BUNDLE/output.log matches
#   ct_wait_stopped RUNTIME ID [SECONDS]
#   ct_output ID                 print BUNDLE/output.log
#   ct_kill_rm RUNTIME ID        SIGKILL + delete --force (runs poststop);
#                                missing container is fine
# podman (no registry: --rootfs of the ct_rootfs directory)
#   ct_podman ARGS...            podman with the global flags this host needs
#   ct_podman_net NAME SUBNET    internal bridge network, no DNS (idempotent)
#   ct_podman_net_rm NAME
#   ct_podman_run NAME NETWORK [podman run args...] -- CMD...
#                                detached container; NETWORK is a network
#                                name, "none", or "default" (podman's NAT
#                                network, avoid: see ct_podman_net);
#                                --hooks-dir DIR (and --runtime R) among the
#                                args are moved to podman's global flags
#   ct_podman_exec NAME CMD...   (bounded by $CT_EXEC_TIMEOUT)
#   ct_podman_wait_output NAME REGEX [SECONDS]
#   ct_podman_ip NAME NETWORK    print the container's IPv4 address there
#   ct_podman_id NAME            print the full container id
#   ct_podman_rm NAME            force-remove (runs poststop); missing is fine
# cleanup
#   ct_cleanup_all PREFIX        remove every runc/crun container (with a
#                                ct_bundle bundle), podman container and
#                                podman network whose name starts with
#                                PREFIX (2+ chars), the bundles ct_bundle
#                                made for such IDs, and (if netns.sh is
#                                loaded and PREFIX is a netns.sh prefix)
#                                ns_teardown PREFIX; call it in an EXIT trap
#
# Names: IDs, podman names and network names: [A-Za-z0-9][A-Za-z0-9_.-]*;
# give them all the test's prefix so ct_cleanup_all finds them.
#
# Environment: OB_BUILD (default: this tree's build/), CT_ROOTFS (default
# /tmp/oci-bypass-ct/rootfs), CT_STATE_DIR (default /run/ob-ct: which bundle
# belongs to which ID; deliberately not /run/oci-bypass, the product's own
# directory), CT_PODMAN_RUNTIME (crun|runc, default crun), CT_TIMEOUT
# (bound for each runtime/podman call, default 60 s).
#
# Measured on this host (Debian 12, runc 1.1.5, crun 1.8.1, podman 4.3.1,
# netavark 1.4.0, kernel 6.18, cgroup v1+v2 hybrid) - see ct_host_prepare
# and ct_podman for the quirks.

OB_BUILD=${OB_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
CT_ROOTFS=${CT_ROOTFS:-/tmp/oci-bypass-ct/rootfs}
CT_STATE_DIR=${CT_STATE_DIR:-/run/ob-ct}
CT_PODMAN_RUNTIME=${CT_PODMAN_RUNTIME:-crun}
CT_TIMEOUT=${CT_TIMEOUT:-60}
CT_EXEC_TIMEOUT=${CT_EXEC_TIMEOUT:-60}

_ct_err() {
	echo "containers.sh: $*" >&2
	return 1
}

_ct_check_name() {
	if [[ ! ${1-} =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || ((${#1} > 100)); then
		_ct_err "bad name '${1-}' ([A-Za-z0-9][A-Za-z0-9_.-]*, at most 100)"
		return 1
	fi
}

_ct_check_runtime() {
	case ${1-} in
	runc | crun)
		if ! command -v "$1" >/dev/null 2>&1; then
			_ct_err "$1 is not installed (apt-get install -y $1)"
			return 1
		fi
		;;
	*)
		_ct_err "unknown runtime '${1-}' (runc or crun)"
		return 1
		;;
	esac
}

# _ct_tail FILE: the last lines of FILE on stderr, indented (after the one
# "containers.sh:" line).
_ct_tail() {
	[[ -s ${1-} ]] || return 0
	tail -n "${2:-15}" "$1" | sed 's/^/    | /' >&2
}

ct_have() {
	case ${1-} in
	runc | crun | podman) command -v "$1" >/dev/null 2>&1 ;;
	*) return 1 ;;
	esac
}

# ---------------------------------------------------------------- host ----

# ct_host_prepare: what this host needs before runc, crun and podman can
# start containers.  Changes only:
#
# 1. /run/netns exists (ip netns add makes it too; OCI configs and podman
#    refer to paths under it).
#
# 2. cgroup v1+v2 hybrid: crun 1.8 refuses to start any container while the
#    v2 hierarchy (/sys/fs/cgroup/unified) still offers a controller:
#      crun: "cgroups in hybrid mode not supported, drop all controllers
#             from cgroupv2"
#    (podman with crun: "Error: OCI runtime error: crun: cgroups in hybrid
#    mode not supported, drop all controllers from cgroupv2").  On this host
#    the v2 root offers only "hugetlb", because no v1 hugetlb hierarchy is
#    mounted.  Mounting a v1 hierarchy for each such controller
#    (mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb) moves the
#    controller to v1, empties /sys/fs/cgroup/unified/cgroup.controllers,
#    and crun works.  runc 1.1 and podman+runc do not care.  Done only in
#    hybrid mode, only for controllers v2 still offers, and only if no v2
#    cgroup has the controller enabled (the mount would fail with EBUSY).
#    The v2 tree itself (where sock_ops attaches) is untouched; processes
#    stay in their v2 cgroups.  The mount stays until reboot (listed in
#    $CT_STATE_DIR/host-mounts).  It cannot be reliably undone: once podman
#    has made cgroups in it (libpod_parent/...), unmounting leaves the v1
#    hierarchy alive but invisible, still holding the controller (seen
#    here: /proc/cgroups kept hierarchy 10 after umount + rmdir).
#
# 3. Nothing global is sysctl'd.  Note: podman's *default* network (podman0,
#    10.88.0.0/16) makes netavark add NAT/forward rules and set
#    net.ipv4.ip_forward=1; the networks from ct_podman_net are --internal
#    (no firewall rules, no NAT) to avoid that.
#
# podman's rlimit quirk (no CAP_SYS_RESOURCE here) is handled per container
# in ct_podman_run, not here.
ct_host_prepare() {
	local v2 ctrls c dir
	if [[ $EUID -ne 0 ]]; then
		_ct_err "ct_host_prepare needs root"
		return 1
	fi
	command -v jq >/dev/null 2>&1 || { _ct_err "jq is not installed (apt-get install -y jq)"; return 1; }
	mkdir -p /run/netns "$CT_STATE_DIR" || { _ct_err "cannot create /run/netns or $CT_STATE_DIR"; return 1; }

	# hybrid: /sys/fs/cgroup is not itself cgroup2, a cgroup2 is mounted below it
	if [[ $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) != cgroup2fs ]]; then
		v2=$(awk '$3 == "cgroup2" && $2 ~ "^/sys/fs/cgroup/" {print $2; exit}' /proc/self/mounts)
		if [[ -n $v2 && -r $v2/cgroup.controllers ]]; then
			read -r -a ctrls <"$v2/cgroup.controllers" || ctrls=()
			for c in "${ctrls[@]}"; do
				[[ $c =~ ^[a-z_]+$ ]] || continue
				dir=/sys/fs/cgroup/$c
				if ! mkdir -p "$dir"; then
					_ct_err "cgroup hybrid mode: v2 still offers '$c' (crun refuses: 'cgroups in hybrid mode not supported, drop all controllers from cgroupv2') and $dir cannot be created"
					return 1
				fi
				if ! mountpoint -q "$dir"; then
					if ! mount -t cgroup -o "$c" cgroup "$dir" 2>/dev/null; then
						_ct_err "cgroup hybrid mode: cannot mount the v1 '$c' hierarchy at $dir (is '$c' enabled in some v2 cgroup.subtree_control?); crun will refuse containers"
						return 1
					fi
					echo "$dir" >>"$CT_STATE_DIR/host-mounts"
				fi
			done
			read -r -a ctrls <"$v2/cgroup.controllers" || ctrls=()
			if ((${#ctrls[@]} > 0)); then
				_ct_err "cgroup hybrid mode: v2 at $v2 still offers '${ctrls[*]}'; crun will refuse containers"
				return 1
			fi
		fi
	fi
	return 0
}

# --------------------------------------------------------------- rootfs ----

# ct_rootfs [DIR]: /bin/busybox (from busybox-static) with a symlink per
# applet in /bin (sh, sleep, cat, ip, ps, nc, ...), /sbin /usr/bin /usr/sbin
# -> /bin, /bin/streamcheck, /etc/passwd, /etc/group, empty files podman's
# and runc's bind mounts need (so nothing is created in the shared tree at
# container start), /tmp, /proc, /sys, /dev, /run.  Rebuilt only when
# $OB_BUILD/tests/streamcheck or busybox is newer than the copy; binaries
# are replaced by rename, so running containers keep theirs.  Serialised
# with flock, so parallel tests can share one DIR.
ct_rootfs() {
	local dir=${1:-$CT_ROOTFS} sc=$OB_BUILD/tests/streamcheck bb=/bin/busybox
	[[ -x /usr/bin/busybox && ! -x $bb ]] && bb=/usr/bin/busybox
	if [[ -z $dir || $dir != /* || $dir == / ]]; then
		_ct_err "ct_rootfs: need an absolute directory other than /, got '$dir'"
		return 1
	fi
	if [[ ! -x $sc ]]; then
		_ct_err "ct_rootfs: $sc missing (make build/tests/streamcheck)"
		return 1
	fi
	if ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
		_ct_err "ct_rootfs: no static busybox at $bb (apt-get install -y busybox-static)"
		return 1
	fi
	if ! file -L "$sc" 2>/dev/null | grep -q 'statically linked'; then
		_ct_err "ct_rootfs: $sc is not statically linked"
		return 1
	fi
	# (a directory another ct_rootfs is building has only the lock so far)
	if [[ -d $dir && -n $(ls -A "$dir" 2>/dev/null) && ! -e $dir/.ct-rootfs && ! -e $dir/.ct-rootfs.lock ]]; then
		_ct_err "ct_rootfs: $dir exists and was not made by ct_rootfs; refusing to touch it"
		return 1
	fi
	CT_ROOTFS=$dir
	if [[ -e $dir/.ct-rootfs && -x $dir/bin/streamcheck && -x $dir/bin/busybox &&
		! $sc -nt $dir/bin/streamcheck && ! $bb -nt $dir/bin/busybox ]]; then
		return 0
	fi
	mkdir -p "$dir" || { _ct_err "ct_rootfs: cannot create $dir"; return 1; }
	if ! (
		flock -w 60 9 || exit 1
		set -e
		cd "$dir"
		# the one that held the lock before us may have built it already
		if [[ -e .ct-rootfs && -x bin/streamcheck && -x bin/busybox &&
			! $sc -nt bin/streamcheck && ! $bb -nt bin/busybox ]]; then
			exit 0
		fi
		mkdir -p bin etc proc sys dev run tmp root var/tmp
		chmod 1777 tmp var/tmp
		for l in sbin usr/bin usr/sbin; do
			mkdir -p "$(dirname "$l")"
			[[ -L $l ]] || ln -sfn "$([[ $l == sbin ]] && echo bin || echo ../bin)" "$l"
		done
		if [[ ! -x bin/busybox || $bb -nt bin/busybox ]]; then
			cp -p "$bb" bin/.busybox.new && mv -f bin/.busybox.new bin/busybox
		fi
		for a in $(bin/busybox --list); do
			[[ $a == busybox || $a == */* ]] && continue
			[[ -L bin/$a ]] || ln -sfn busybox "bin/$a"
		done
		if [[ ! -x bin/streamcheck || $sc -nt bin/streamcheck ]]; then
			cp -p "$sc" bin/.streamcheck.new && mv -f bin/.streamcheck.new bin/streamcheck
		fi
		printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >etc/passwd
		printf 'root:x:0:\nnogroup:x:65534:\n' >etc/group
		for f in etc/hosts etc/resolv.conf etc/hostname run/.containerenv; do
			[[ -e $f ]] || : >"$f"
		done
		[[ -e etc/mtab ]] || ln -sfn /proc/mounts etc/mtab
		touch .ct-rootfs
	) 9>"$dir/.ct-rootfs.lock"; then
		_ct_err "ct_rootfs: building $dir failed"
		return 1
	fi
	return 0
}

# --------------------------------------------------------- runc / crun ----

# The bundle directory of ID, as recorded by ct_bundle.
_ct_bundle_of() {
	local f=$CT_STATE_DIR/bundles/$1
	[[ -r $f ]] || return 1
	cat "$f"
}

# The `runc spec` template (cached; `crun spec` if runc is missing).
_ct_base_spec() {
	local base=$CT_STATE_DIR/base-spec.json tmp rt
	if [[ -s $base ]]; then
		cat "$base"
		return 0
	fi
	mkdir -p "$CT_STATE_DIR" || return 1
	tmp=$(mktemp -d /tmp/ob-ct-spec.XXXXXX) || return 1
	for rt in runc crun; do
		command -v "$rt" >/dev/null 2>&1 || continue
		if (cd "$tmp" && "$rt" spec >/dev/null 2>&1) && jq -e . "$tmp/config.json" >/dev/null 2>&1; then
			cp "$tmp/config.json" "$base.$$" && mv -f "$base.$$" "$base"
			break
		fi
	done
	rm -rf "$tmp"
	[[ -s $base ]] && cat "$base"
}

# ct_bundle DIR ID NETNS_PATH [HOOK_CMD...]
# HOOK_CMD: the hook's argv, as separate words or as one string split at
# blanks; path = first word, args = all words (args[0] is the program, as
# OCI wants).  A word "%STAGE%" is replaced by the stage name.
ct_bundle() {
	local dir=${1-} id=${2-} netns=${3-} stage w hooks='{}' hook args
	local ann=${CT_ANNOTATIONS:-'{}'} cargs=${CT_ARGS:-'["sleep","3600"]'} cenv=${CT_ENV:-'[]'}
	local stages=${CT_HOOK_STAGES:-createRuntime poststop} htimeout=${CT_HOOK_TIMEOUT:-}
	local -a hookw=()
	[[ -z $htimeout || $htimeout =~ ^[1-9][0-9]*$ ]] || { _ct_err "ct_bundle: CT_HOOK_TIMEOUT must be a positive integer, got '$htimeout'"; return 1; }
	shift 3 2>/dev/null || { _ct_err "usage: ct_bundle DIR ID NETNS_PATH [HOOK_CMD...]"; return 1; }
	_ct_check_name "$id" || return 1
	if [[ -z $dir || $dir != /* || $dir == / ]]; then
		_ct_err "ct_bundle: need an absolute bundle directory, got '$dir'"
		return 1
	fi
	if [[ -e $dir && ! -e $dir/.ct-bundle && -n $(ls -A "$dir" 2>/dev/null) ]]; then
		_ct_err "ct_bundle: $dir exists and was not made by ct_bundle; refusing to touch it"
		return 1
	fi
	if [[ -n $netns && ! -e $netns ]]; then
		_ct_err "ct_bundle: network namespace $netns does not exist (ip netns add / ns_setup first)"
		return 1
	fi
	if [[ ! -e $CT_ROOTFS/.ct-rootfs ]]; then
		_ct_err "ct_bundle: no rootfs at $CT_ROOTFS (call ct_rootfs first)"
		return 1
	fi
	jq -e 'type == "object"' <<<"$ann" >/dev/null 2>&1 || { _ct_err "ct_bundle: CT_ANNOTATIONS is not a JSON object: $ann"; return 1; }
	jq -e 'type == "array" and length > 0 and all(type == "string")' <<<"$cargs" >/dev/null 2>&1 ||
		{ _ct_err "ct_bundle: CT_ARGS is not a non-empty JSON array of strings: $cargs"; return 1; }
	jq -e 'type == "array" and all(type == "string")' <<<"$cenv" >/dev/null 2>&1 ||
		{ _ct_err "ct_bundle: CT_ENV is not a JSON array of strings: $cenv"; return 1; }
	if (($# == 1)); then
		read -r -a hookw <<<"$1"
	elif (($# > 1)); then
		hookw=("$@")
	fi
	if ((${#hookw[@]} > 0)); then
		if [[ ${hookw[0]} != /* ]]; then
			_ct_err "ct_bundle: hook path must be absolute, got '${hookw[0]}'"
			return 1
		fi
		for stage in $stages; do
			case $stage in
			prestart | createRuntime | createContainer | startContainer | poststart | poststop) ;;
			*) _ct_err "ct_bundle: unknown hook stage '$stage' in CT_HOOK_STAGES"; return 1 ;;
			esac
			# one jq per word: `jq --args` would parse words like "--x" as options
			if ! args=$(for w in "${hookw[@]}"; do jq -n --arg w "${w//%STAGE%/$stage}" '$w'; done | jq -cs .) ||
				! hook=$(jq -cn --arg p "${hookw[0]}" --argjson a "$args" --arg t "$htimeout" '{path: $p, args: $a}
					+ (if $t == "" then {} else {timeout: ($t | tonumber)} end)') ||
				! hooks=$(jq -c --arg s "$stage" --argjson h "$hook" '.[$s] += [$h]' <<<"$hooks"); then
				_ct_err "ct_bundle: cannot build the $stage hook entry for $id (CT_HOOK_TIMEOUT '$htimeout'?)"
				return 1
			fi
		done
	fi
	local base
	base=$(_ct_base_spec) || { _ct_err "ct_bundle: cannot generate a base spec with 'runc spec' or 'crun spec'"; return 1; }
	mkdir -p "$dir" "$CT_STATE_DIR/bundles" || { _ct_err "ct_bundle: cannot create $dir"; return 1; }
	# runc spec's template, then: our process, our rootfs (shared, absolute
	# path, writable: runc/crun need no pivot of a read-only tree), the
	# test's netns, a private /tmp, one cgroup per ID (v1 hierarchies and the
	# v2 tree: /ob-ct-ID), hooks and annotations.
	if ! jq --argjson args "$cargs" --argjson env "$cenv" --arg root "$CT_ROOTFS" \
		--arg netns "$netns" --arg id "$id" --argjson hooks "$hooks" --argjson ann "$ann" '
		.process.terminal = false
		| .process.args = $args
		| .process.env = ((.process.env // []) + $env)
		| .process.cwd = "/"
		| .root = {path: $root, readonly: false}
		| .hostname = $id
		| .mounts += [{destination: "/tmp", type: "tmpfs", source: "tmpfs",
			options: ["nosuid", "nodev", "mode=1777", "size=65536k"]}]
		| .linux.namespaces = [.linux.namespaces[] | select(.type != "network")]
			+ [if $netns == "" then {type: "network"} else {type: "network", path: $netns} end]
		| .linux.cgroupsPath = ("/ob-ct-" + $id)
		| (if ($hooks | length) > 0 then .hooks = $hooks else del(.hooks) end)
		| .annotations = ((.annotations // {}) + $ann)
		' <<<"$base" >"$dir/config.json.tmp"; then
		rm -f "$dir/config.json.tmp"
		_ct_err "ct_bundle: jq failed editing the spec for $id"
		return 1
	fi
	mv -f "$dir/config.json.tmp" "$dir/config.json" || { _ct_err "ct_bundle: cannot write $dir/config.json"; return 1; }
	touch "$dir/.ct-bundle"
	echo "$dir" >"$CT_STATE_DIR/bundles/$id"
	return 0
}

# ct_status RUNTIME ID: created|running|stopped|paused; fails if unknown.
ct_status() {
	local rt=${1-} id=${2-} st
	_ct_check_runtime "$rt" || return 1
	_ct_check_name "$id" || return 1
	if ! st=$(timeout -k 5 "$CT_TIMEOUT" "$rt" state "$id" 2>/dev/null | jq -r '.status // empty' 2>/dev/null) || [[ -z $st ]]; then
		_ct_err "$rt: no container '$id'"
		return 1
	fi
	echo "$st"
}

ct_pid() {
	local rt=${1-} id=${2-} pid
	_ct_check_runtime "$rt" || return 1
	_ct_check_name "$id" || return 1
	pid=$(timeout -k 5 "$CT_TIMEOUT" "$rt" state "$id" 2>/dev/null | jq -r '.pid // 0' 2>/dev/null)
	if [[ ! $pid =~ ^[0-9]+$ ]] || ((pid == 0)); then
		_ct_err "$rt: no running container '$id'"
		return 1
	fi
	echo "$pid"
}

# ct_run RUNTIME ID BUNDLE: `RUNTIME run --detach`.  The runtime hands its
# own stdio to the container's process, so BUNDLE/output.log gets both the
# runtime's error messages and the container's output (not a pipe: a
# detached container must not hold our stdout open).
ct_run() {
	local rt=${1-} id=${2-} bundle=${3-} log rc
	_ct_check_runtime "$rt" || return 1
	_ct_check_name "$id" || return 1
	if [[ ! -r $bundle/config.json ]]; then
		_ct_err "$rt run $id: no $bundle/config.json (ct_bundle first)"
		return 1
	fi
	bundle=$(cd "$bundle" && pwd) || return 1
	log=$bundle/output.log
	mkdir -p "$CT_STATE_DIR/bundles" && echo "$bundle" >"$CT_STATE_DIR/bundles/$id"
	if timeout -k 5 "$CT_TIMEOUT" "$rt" state "$id" >/dev/null 2>&1; then
		_ct_err "$rt run $id: a container with this ID exists already (ct_kill_rm first)"
		return 1
	fi
	: >"$log"
	timeout -k 5 "$CT_TIMEOUT" "$rt" run --detach --bundle "$bundle" "$id" </dev/null >>"$log" 2>&1
	rc=$?
	if ((rc != 0)); then
		_ct_err "$rt run --detach $id failed (exit $rc); $log:"
		_ct_tail "$log"
		# a half-created container would block the ID
		timeout -k 5 "$CT_TIMEOUT" "$rt" delete --force "$id" >/dev/null 2>&1
		return 1
	fi
	return 0
}

ct_output() {
	local b
	b=$(_ct_bundle_of "${1-}") || { _ct_err "no bundle recorded for '${1-}'"; return 1; }
	cat "$b/output.log" 2>/dev/null
}

# ct_wait_output ID REGEX [SECONDS]: bounded (default 10 s) wait for a line
# of the container's output (grep -E).
ct_wait_output() {
	local id=${1-} re=${2-} secs=${3:-10} b i
	b=$(_ct_bundle_of "$id") || { _ct_err "no bundle recorded for '$id'"; return 1; }
	for ((i = 0; i < secs * 20; i++)); do
		grep -Eq -- "$re" "$b/output.log" 2>/dev/null && return 0
		sleep 0.05
	done
	_ct_err "$id: no output matching '$re' after $secs s; $b/output.log:"
	_ct_tail "$b/output.log"
	return 1
}

ct_wait_stopped() {
	local rt=${1-} id=${2-} secs=${3:-10} i st
	for ((i = 0; i < secs * 20; i++)); do
		st=$(ct_status "$rt" "$id" 2>/dev/null) || st=gone
		[[ $st == stopped || $st == gone ]] && return 0
		sleep 0.05
	done
	_ct_err "$rt: container $id still '$st' after $secs s"
	return 1
}

# ct_exec RUNTIME ID CMD...: the command's own exit status is returned.
ct_exec() {
	local rt=${1-} id=${2-} rc
	_ct_check_runtime "$rt" || return 1
	_ct_check_name "$id" || return 1
	shift 2
	(($# > 0)) || { _ct_err "usage: ct_exec RUNTIME ID CMD..."; return 1; }
	timeout -k 5 "$CT_EXEC_TIMEOUT" "$rt" exec "$id" "$@"
	rc=$?
	if ((rc != 0)); then
		_ct_err "$rt exec $id $*: exit $rc$( ((rc == 124)) && echo " (timeout after $CT_EXEC_TIMEOUT s)")"
	fi
	return "$rc"
}

# ct_kill_rm RUNTIME ID: SIGKILL, wait (bounded) for stopped, delete
# --force (which runs the poststop hooks).  No such container: success.
ct_kill_rm() {
	local rt=${1-} id=${2-} out
	_ct_check_runtime "$rt" || return 1
	_ct_check_name "$id" || return 1
	if timeout -k 5 "$CT_TIMEOUT" "$rt" state "$id" >/dev/null 2>&1; then
		timeout -k 5 "$CT_TIMEOUT" "$rt" kill "$id" KILL >/dev/null 2>&1
		ct_wait_stopped "$rt" "$id" 5 2>/dev/null
		if ! out=$(timeout -k 5 "$CT_TIMEOUT" "$rt" delete --force "$id" 2>&1) &&
			timeout -k 5 "$CT_TIMEOUT" "$rt" state "$id" >/dev/null 2>&1; then
			_ct_err "$rt delete --force $id failed: $(tail -n 1 <<<"$out")"
			return 1
		fi
	fi
	return 0
}

# ----------------------------------------------------------------- podman ----

# ct_podman ARGS...: podman with the global flags this host needs:
#   --cgroup-manager=cgroupfs  no systemd here (podman would otherwise try the
#                              systemd manager if it found one)
#   --events-backend=file      no journald
#   (no --storage-driver: with --rootfs nothing is stored as an image layer,
#   and a driver that differs from the existing store's (overlay here) makes
#   podman refuse with a database-mismatch error)
# The runtime is chosen per container (ct_podman_run: --runtime
# $CT_PODMAN_RUNTIME); other commands use the one recorded in the container.
ct_podman() {
	timeout -k 5 "$CT_TIMEOUT" podman --cgroup-manager=cgroupfs --events-backend=file "$@"
}

# ct_podman_net NAME SUBNET: an --internal bridge network without DNS:
# internal = netavark adds no NAT/forwarding firewall rules (and no default
# route in the containers); no DNS = no aardvark-dns daemon.  Containers on
# it reach each other over the bridge, as the accelerator needs.  Existing
# network with the same subnet: fine; with another subnet: error.
ct_podman_net() {
	local name=${1-} subnet=${2-} have out
	_ct_check_name "$name" || return 1
	if [[ ! $subnet =~ ^[0-9a-fA-F.:]+/[0-9]+$ ]]; then
		_ct_err "ct_podman_net: bad subnet '$subnet'"
		return 1
	fi
	ct_have podman || { _ct_err "podman is not installed"; return 1; }
	if ct_podman network exists "$name" >/dev/null 2>&1; then
		have=$(ct_podman network inspect "$name" 2>/dev/null | jq -r '.[0].subnets[]?.subnet' 2>/dev/null)
		if grep -qxF -- "$subnet" <<<"$have"; then
			return 0
		fi
		_ct_err "ct_podman_net: network $name exists with subnet(s) '${have//$'\n'/ }', not $subnet"
		return 1
	fi
	if ! out=$(ct_podman network create --internal --disable-dns --subnet "$subnet" "$name" 2>&1); then
		_ct_err "podman network create $name $subnet failed: $(tail -n 1 <<<"$out")"
		return 1
	fi
	return 0
}

ct_podman_net_rm() {
	local name=${1-} out
	_ct_check_name "$name" || return 1
	ct_podman network exists "$name" >/dev/null 2>&1 || return 0
	if ! out=$(ct_podman network rm -f "$name" 2>&1); then
		_ct_err "podman network rm $name failed: $(tail -n 1 <<<"$out")"
		return 1
	fi
}

# Ulimits for podman containers.  podman sets RLIMIT_NOFILE and RLIMIT_NPROC
# of a container to 1048576 unless told otherwise; the runtime then fails
# because this host gives root no CAP_SYS_RESOURCE (it is missing from the
# bounding set) and the hard limits are lower:
#   crun: "Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted:
#          OCI permission denied"
#   runc: "error setting rlimits for ready process: error setting rlimit
#          type 7: operation not permitted"   (7 = NOFILE, 6 = NPROC)
# Our limits: nofile = our hard limit (20000 here); nproc = min(our hard
# limit, kernel.pid_max): podman itself lowers its own RLIMIT_NPROC to
# pid_max at start-up (strace: setrlimit(RLIMIT_NPROC, {32768, 32768});
# pid_max is 32768 here), so nproc above that fails (tried 32769, 96365)
# even though our hard nproc limit is higher.
_ct_podman_ulimits() {
	local nofile nproc pidmax
	nofile=$(ulimit -Hn)
	nproc=$(ulimit -Hu)
	pidmax=$(cat /proc/sys/kernel/pid_max 2>/dev/null) || pidmax=32768
	[[ $nofile == unlimited ]] && nofile=1048576
	[[ $nproc == unlimited ]] && nproc=$pidmax
	((nproc > pidmax)) && nproc=$pidmax
	echo "--ulimit=nofile=$nofile:$nofile --ulimit=nproc=$nproc:$nproc"
}

# ct_podman_run NAME NETWORK [podman run args...] -- CMD...
ct_podman_run() {
	local name=${1-} net=${2-} rt=$CT_PODMAN_RUNTIME out a
	local -a global=() runargs=() cmd=() ul
	shift 2 2>/dev/null || { _ct_err "usage: ct_podman_run NAME NETWORK [args...] -- CMD..."; return 1; }
	_ct_check_name "$name" || return 1
	ct_have podman || { _ct_err "podman is not installed"; return 1; }
	if [[ ! -e $CT_ROOTFS/.ct-rootfs ]]; then
		_ct_err "ct_podman_run: no rootfs at $CT_ROOTFS (call ct_rootfs first)"
		return 1
	fi
	while (($# > 0)); do
		a=$1
		shift
		case $a in
		--) cmd=("$@"); break ;;
		--hooks-dir) (($# > 0)) || { _ct_err "ct_podman_run: --hooks-dir needs a value"; return 1; }
			global+=(--hooks-dir "$1"); shift ;;
		--hooks-dir=*) global+=("$a") ;;
		--runtime) (($# > 0)) || { _ct_err "ct_podman_run: --runtime needs a value"; return 1; }
			rt=$1; shift ;;
		--runtime=*) rt=${a#--runtime=} ;;
		*) runargs+=("$a") ;;
		esac
	done
	if ((${#cmd[@]} == 0)); then
		_ct_err "ct_podman_run $name: no command (ct_podman_run NAME NETWORK [args...] -- CMD...)"
		return 1
	fi
	case $net in
	default | "") ;;
	*) _ct_check_name "$net" || return 1; runargs=(--network "$net" "${runargs[@]}") ;;
	esac
	read -r -a ul <<<"$(_ct_podman_ulimits)"
	if ct_podman container exists "$name" >/dev/null 2>&1; then
		_ct_err "ct_podman_run: container $name exists already (ct_podman_rm first)"
		return 1
	fi
	# --rootfs is a boolean: the first positional argument is then the root
	# directory instead of an image, and `podman run` stops parsing flags at
	# it, so every flag must come before it.
	# CT_PODMAN_IMAGE: an image instead (made from the rootfs by the test)
	local -a root=(--rootfs "$CT_ROOTFS")
	[[ -n ${CT_PODMAN_IMAGE:-} ]] && root=("$CT_PODMAN_IMAGE")
	if ! out=$(ct_podman --runtime "$rt" "${global[@]}" run --detach --name "$name" \
		--log-driver k8s-file "${ul[@]}" "${runargs[@]}" "${root[@]}" "${cmd[@]}" 2>&1 </dev/null); then
		_ct_err "podman run $name (runtime $rt) failed: $(grep -v '^\s*$' <<<"$out" | tail -n 1)"
		ct_podman rm --force --time 0 "$name" >/dev/null 2>&1
		return 1
	fi
	return 0
}

ct_podman_exec() {
	local name=${1-} rc
	_ct_check_name "$name" || return 1
	shift
	(($# > 0)) || { _ct_err "usage: ct_podman_exec NAME CMD..."; return 1; }
	timeout -k 5 "$CT_EXEC_TIMEOUT" podman --cgroup-manager=cgroupfs --events-backend=file exec "$name" "$@"
	rc=$?
	if ((rc != 0)); then
		_ct_err "podman exec $name $*: exit $rc$( ((rc == 124)) && echo " (timeout after $CT_EXEC_TIMEOUT s)")"
	fi
	return "$rc"
}

ct_podman_wait_output() {
	local name=${1-} re=${2-} secs=${3:-10} i
	_ct_check_name "$name" || return 1
	for ((i = 0; i < secs * 10; i++)); do
		ct_podman logs "$name" 2>&1 | grep -Eq -- "$re" && return 0
		sleep 0.1
	done
	_ct_err "podman container $name: no output matching '$re' after $secs s; podman logs:"
	ct_podman logs "$name" 2>&1 | tail -n 15 | sed 's/^/    | /' >&2
	return 1
}

ct_podman_id() {
	local name=${1-} id
	_ct_check_name "$name" || return 1
	id=$(ct_podman container inspect --format '{{.Id}}' "$name" 2>/dev/null)
	[[ $id =~ ^[0-9a-f]{64}$ ]] || { _ct_err "podman: no container '$name'"; return 1; }
	echo "$id"
}

ct_podman_ip() {
	local name=${1-} net=${2-} ip
	_ct_check_name "$name" || return 1
	_ct_check_name "$net" || return 1
	ip=$(ct_podman container inspect "$name" 2>/dev/null |
		jq -r --arg n "$net" '.[0].NetworkSettings.Networks[$n].IPAddress // empty' 2>/dev/null)
	[[ -n $ip ]] || { _ct_err "podman: container '$name' has no address on network '$net'"; return 1; }
	echo "$ip"
}

# ct_podman_rm NAME: podman runs the poststop hooks while removing.
ct_podman_rm() {
	local name=${1-} out
	_ct_check_name "$name" || return 1
	ct_have podman || return 0
	ct_podman container exists "$name" >/dev/null 2>&1 || return 0
	if ! out=$(ct_podman rm --force --time 0 "$name" 2>&1); then
		_ct_err "podman rm $name failed: $(tail -n 1 <<<"$out")"
		return 1
	fi
}

# ---------------------------------------------------------------- cleanup ----

ct_cleanup_all() {
	local prefix=${1-} rt id f b n rc=0
	if [[ ! $prefix =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || ((${#prefix} < 2)); then
		_ct_err "ct_cleanup_all: refusing prefix '$prefix' (2+ chars of [A-Za-z0-9_.-])"
		return 1
	fi
	# Only containers whose bundle ct_bundle made: podman's containers show
	# up in `crun list` / `runc list` too (same state directories), under
	# hex IDs that a short prefix could match.
	for rt in runc crun; do
		ct_have "$rt" || continue
		while IFS=$'\t' read -r id b; do
			[[ $id == "$prefix"* && -e $b/.ct-bundle ]] || continue
			ct_kill_rm "$rt" "$id" 2>/dev/null || rc=1
		done < <(timeout -k 5 "$CT_TIMEOUT" "$rt" list --format json 2>/dev/null |
			jq -r '.[]? | [.id, .bundle] | @tsv' 2>/dev/null)
	done
	if ct_have podman; then
		while read -r n; do
			[[ $n == "$prefix"* ]] || continue
			ct_podman_rm "$n" 2>/dev/null || rc=1
		done < <(ct_podman ps --all --format '{{.Names}}' 2>/dev/null)
		while read -r n; do
			[[ $n == "$prefix"* ]] || continue
			ct_podman_net_rm "$n" 2>/dev/null || rc=1
		done < <(ct_podman network ls --format '{{.Name}}' 2>/dev/null)
	fi
	for f in "$CT_STATE_DIR"/bundles/"$prefix"*; do
		[[ -f $f ]] || continue
		b=$(cat "$f")
		if [[ -n $b && $b == /* && $b != / && -e $b/.ct-bundle ]]; then
			rm -f "$b/config.json" "$b/config.json.tmp" "$b/output.log" "$b/.ct-bundle"
			rmdir "$b" 2>/dev/null
		fi
		rm -f "$f"
	done
	if declare -F ns_teardown >/dev/null && [[ $prefix =~ ^[a-z]([a-z0-9]{0,4}[a-z])?$ ]]; then
		ns_teardown "$prefix" 2>/dev/null || rc=1
	fi
	((rc == 0)) || _ct_err "ct_cleanup_all $prefix: some objects could not be removed"
	return "$rc"
}
