# common.sh - helpers for integration tests: the binary, assertions, counters.
# Sourced by tests/integration/*.sh. Exit codes: 0 pass, 77 skip, other fail.

set -u
OB_BUILD=${OB_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
OB="$OB_BUILD/oci-bypass"
SC="$OB_BUILD/tests/streamcheck"
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$TESTS_DIR/lib/netns.sh"

T_NAME=$(basename "$0" .sh)

# One integration test at a time on this host: they all load, enrol and
# unload the one pinned set of maps under /sys/fs/bpf/oci-bypass, so two
# checkouts (or two runs) testing at once would pull it from under each
# other. The owner file names the test shell that holds the host; it is
# free once that shell is gone (a flock would be inherited by every server
# a test leaves running, and held as long as they live). The flock only
# makes the check-and-take atomic. OB_TEST_LOCKED marks a test run from
# within another that holds the host already.
ob_take_host() {
	local owner=/run/oci-bypass-tests.owner holder said=
	while :; do
		exec 199>>/run/oci-bypass-tests.lock && flock 199 || return 0
		holder=$(cat "$owner" 2>/dev/null)
		if [ -z "$holder" ] || [ "$holder" = $$ ] || ! kill -0 "$holder" 2>/dev/null; then
			echo $$ >"$owner"
			exec 199>&-
			export OB_TEST_LOCKED=1
			return 0
		fi
		exec 199>&-
		[ -n "$said" ] || printf '  [%s] waiting: test shell %s holds this host (%s)\n' \
			"$T_NAME" "$holder" "$owner"
		said=1
		sleep 1
	done
}
if [ -z "${OB_TEST_LOCKED:-}" ] && [ -w /run ]; then
	ob_take_host
fi
T_FAILS=0
# A failure in a command substitution ($(counter ...)) happens in a
# subshell, whose T_FAILS dies with it: such failures are also written
# here, and finish counts them.
T_FAILS_FILE=${TMPDIR:-/tmp}/ob-fails.$T_NAME.$$
rm -f "$T_FAILS_FILE"

log() { printf '  [%s] %s\n' "$T_NAME" "$*"; }
fail() {
	printf '  [%s] FAIL: %s\n' "$T_NAME" "$*" >&2
	T_FAILS=$((T_FAILS + 1))
	echo "$*" >>"$T_FAILS_FILE"
}
die() { printf '  [%s] FAIL: %s\n' "$T_NAME" "$*" >&2; rm -f "$T_FAILS_FILE"; exit 1; }
skip() { printf '  [%s] SKIP: %s\n' "$T_NAME" "$*"; rm -f "$T_FAILS_FILE"; exit 77; }
finish() {
	local n=0
	[ -e "$T_FAILS_FILE" ] && n=$(wc -l <"$T_FAILS_FILE")
	rm -f "$T_FAILS_FILE"
	[ "$T_FAILS" -eq 0 ] && [ "$n" -eq 0 ] || exit 1
	exit 0
}

need_root() { [ "$(id -u)" = 0 ] || skip "needs root"; }

# kernel_claimed: is the running kernel one README lists as tested? doctor
# names them on its first line ("kernel R (tested: 6.1, 6.12, 6.18)", from
# OB_TESTED_KERNELS in hook/ob.h); the series is the release's first two
# numbers.
kernel_claimed() {
	local tested series
	tested=$("$OB" doctor 2>/dev/null | sed -n '1s/.*(tested: \(.*\))$/\1/p')
	series=$(uname -r | cut -d. -f1,2)
	[ -n "$tested" ] && [[ ", $tested, " == *", $series, "* ]]
}

# datapath_state: whether the datapath can run here, from doctor. Sets
# DP_STATE to
#  ok       doctor passes;
#  lacks    the kernel lacks something the datapath needs: DP_WHY holds
#           doctor's FAIL lines for it (each names the feature and the
#           first Linux version that has it);
#  refused  the kernel refused our BPF object although every feature it
#           needs is there: our bug, not a kernel limit; DP_WHY holds
#           doctor's line, with the verifier's reason.
datapath_state() {
	local doc fails
	DP_STATE=ok DP_WHY=
	doc=$("$OB" doctor 2>&1) && return 0
	fails=$(grep -E '^FAIL' <<<"$doc")
	DP_WHY=$(grep -vF 'the BPF object loads' <<<"$fails" | sed -E 's/^FAIL +//')
	if [ -n "$DP_WHY" ]; then
		DP_STATE=lacks
	else
		DP_STATE=refused
		DP_WHY=$(grep -F 'the BPF object loads' <<<"$fails" | sed -E 's/^FAIL +//; s/^[^-]* -- //')
		[ -n "$DP_WHY" ] || DP_WHY="doctor failed without a FAIL line: $(tail -n 3 <<<"$doc")"
	fi
}

# need_datapath: the datapath tests run only where oci-bypass can load. A
# skip names a kernel limit, never our own bug: a kernel that lacks a
# feature skips, naming it; a refusal of our object fails every datapath
# test with the verifier's line; and on a kernel README lists as tested,
# the datapath must load, so a missing feature fails there too.
# Tests that apply on any kernel set OB_ANY_KERNEL=1 before sourcing this.
need_datapath() {
	[ "$(id -u)" = 0 ] || return 0
	datapath_state
	case $DP_STATE in
	ok) return 0 ;;
	refused) die "the kernel ($(uname -r)) refused oci-bypass's BPF object, with every feature it needs present (a bug in the object, not a kernel limit): $DP_WHY" ;;
	esac
	kernel_claimed && die "kernel $(uname -r) is one README lists as tested, but oci-bypass cannot load on it: $(head -n 1 <<<"$DP_WHY")"
	skip "oci-bypass cannot load on this kernel ($(uname -r)), it lacks: $(head -n 1 <<<"$DP_WHY")"
}

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() { [ "$2" = "$3" ] && log "ok: $1 ($3)" || fail "$1: expected '$2', got '$3'"; }
# assert_ge WHAT MIN ACTUAL
assert_ge() { [ "$3" -ge "$2" ] 2>/dev/null && log "ok: $1 ($3 >= $2)" || fail "$1: expected >= $2, got '$3'"; }
assert_gt() { [ "$3" -gt "$2" ] 2>/dev/null && log "ok: $1 ($3 > $2)" || fail "$1: expected > $2, got '$3'"; }
# assert_le WHAT MAX ACTUAL
assert_le() { [ "$3" -le "$2" ] 2>/dev/null && log "ok: $1 ($3 <= $2)" || fail "$1: expected <= $2, got '$3'"; }

# clear_foreign_pins: a developer's host also runs other checkouts' suites,
# and a run that was killed leaves its pins: those of a build made with
# other map layouts cannot be unloaded, or loaded over, by this one.
clear_foreign_pins() {
	if "$OB" status 2>&1 | grep -q "other map layouts"; then
		log "pins of a build with other map layouts (another checkout's test): removed"
		rm -rf /sys/fs/bpf/oci-bypass
	fi
}

# Loads a fresh set of BPF objects: earlier tests may have left enrolments.
# OB_LOAD_ARGS: more options for load.
ob_fresh_load() {
	"$OB" unload --wait 5 >/dev/null 2>&1
	clear_foreign_pins
	# shellcheck disable=SC2086 # options, split on purpose
	"$OB" load ${OB_LOAD_ARGS:-} >/dev/null || die "oci-bypass load failed"
}

# other_build_loaded: the pinned maps look as if another build of
# oci-bypass had made them (build_id 0xdeadbeefdeadbeef, the rest of
# struct ob_settings as it is, whatever its layout).
other_build_loaded() {
	local v
	v=$(bpftool -j map lookup pinned /sys/fs/bpf/oci-bypass/ob_settings key hex 00 00 00 00 |
		jq -r '.value | map(ltrimstr("0x")) | .[0:8] + ["ef","be","ad","de","ef","be","ad","de"] + .[16:] | join(" ")') &&
		[ -n "$v" ] || return 1
	# shellcheck disable=SC2086 # one word per byte
	bpftool map update pinned /sys/fs/bpf/oci-bypass/ob_settings key hex 00 00 00 00 value hex $v
}

# counter NAME FIELD: a per-netns counter from status --json. A name that
# is not enrolled, or a field status does not have, fails the test (a
# misspelt name must not pass every "== 0" check) and prints a word that
# no number compares equal to.
counter() {
	local v
	v=$("$OB" status --json | jq -r --arg n "$1" --arg f "$2" \
		'[.netns[] | select(.name == $n)] | if length == 0 then "no-netns"
		 elif (.[0] | has($f) | not) then "no-field"
		 else .[0][$f] end')
	case $v in
	no-netns | no-field | "")
		fail "counter $1 $2: ${v:-no status} (enrolled: $("$OB" status --json 2>/dev/null |
			jq -r '[.netns[].name] | join(" ")'))"
		echo "counter-$1-$2-${v:-none}"
		;;
	*) echo "$v" ;;
	esac
}
status_field() { "$OB" status --json | jq -r ".$1"; }

# wait_line OUT PID TEXT SECONDS WHAT: waits until the process PID, whose
# output goes to file OUT, prints TEXT; dies with its output, saying WHAT
# did not happen, if it exits or SECONDS pass first.
wait_line() {
	local out=$1 pid=$2 text=$3 tenths=$(($4 * 10)) what=$5 real
	real=$(readlink -f -- "$out")
	for _ in $(seq $tenths); do
		# only once PID's stdout is OUT (the redirection has truncated
		# it), or PID has ended: a file used before may still hold the
		# line of the process before
		if [ "$(readlink "/proc/$pid/fd/1" 2>/dev/null)" = "$real" ] ||
			! kill -0 "$pid" 2>/dev/null; then
			grep -qF -- "$text" "$out" 2>/dev/null && return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$out" >&2
	die "$what"
}

# wait_listening OUT PID [WHAT]: waits (30 s at most: a TCG guest under
# load) until the server PID, whose output goes to file OUT, says
# "listening" (streamcheck, stall, smallstream and semantics all do, once
# they listen).
wait_listening() { wait_line "$1" "$2" listening 30 "${3:-server} did not start listening"; }

# wait_paused OUT PID: waits (60 s at most: TCG guests) until the
# streamcheck client PID, started with --pause-file and its output going to
# OUT, says every connection is paused halfway.
wait_paused() { wait_line "$1" "$2" "client paused" 60 "the client did not pause halfway"; }

# need_promotion: skips unless the loaded objects can promote connections
# (doctor: the TCP iterator and kptrs in maps).
need_promotion() {
	"$OB" status --json | jq -e '.promotion' >/dev/null ||
		skip "this kernel cannot promote (doctor: TCP iterator, kptrs)"
}

# Runs a streamcheck server in netns $1 in the background and waits for it
# to listen; sets SRV_PID and SRV_OUT. Remaining args go to the server.
start_server() {
	local ns=$1; shift
	SRV_OUT=$(mktemp)
	ip netns exec "$ns" "$SC" server "$@" >"$SRV_OUT" 2>&1 &
	SRV_PID=$!
	wait_listening "$SRV_OUT" "$SRV_PID" "server in $ns"
}

# wait_server: waits for the background server, fails the test if it failed.
wait_server() {
	if ! wait "$SRV_PID"; then
		fail "server: $(tail -n 3 "$SRV_OUT")"
	fi
	rm -f "$SRV_OUT"
}

# client NS ARGS...: runs a streamcheck client, fails the test if it fails.
client() {
	local ns=$1; shift
	local out
	if out=$(ip netns exec "$ns" "$SC" client "$@" 2>&1); then
		log "$(echo "$out" | tail -n 1)"
		return 0
	fi
	fail "client ($*): $(echo "$out" | tail -n 3)"
	return 1
}

# service_state PORT: the learned state of the service on PORT (empty if none).
service_state() {
	"$OB" status --json | jq -r --argjson p "$1" \
		'[.services[] | select(.port == $p) | .state] | first // empty'
}

# hold_conn NS ADDR PORT DIR: a connection from netns NS (bash's /dev/tcp)
# that writes nothing until DIR/write appears (then 64 KiB, once) and
# closes once DIR/close appears, or after 60 s: no fixed sleep that a slow
# machine (TCG guests) could outlast. Sets HOLD_PID.
hold_conn() {
	mkdir -p "$4"
	rm -f "$4/write" "$4/close"
	ip netns exec "$1" bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1
		for _ in $(seq 600); do
			[ -e "$2/close" ] && exit 0
			[ -e "$2/write" ] && { rm -f "$2/write"; printf "%065536d" 0 >&3; }
			sleep 0.1
		done' "$2" "$3" "$4" &
	HOLD_PID=$!
}

# warm_up NS ADDR PORT [CLIENT ARGS...]: a service is accelerated only after
# one of its connections has ended without a blocking half-close (docs/limitations.md,
# Limitations). One short connection does that; waits until it shows.
warm_up() {
	local ns=$1 addr=$2 port=$3; shift 3
	local args=("$@")
	[ ${#args[@]} -gt 0 ] || args=(--mode stream --bytes 1024)
	ip netns exec "$ns" "$SC" client --connect "$addr" "$port" --conns 1 "${args[@]}" \
		--timeout 30 >/dev/null 2>&1 || { fail "warm-up connection to $addr:$port failed"; return 1; }
	for _ in $(seq 100); do
		[ "$(service_state "$port")" = accelerated ] && return 0
		sleep 0.02
	done
	fail "service $addr:$port still '$(service_state "$port")' after its warm-up connection"
}

# server_port: the port of the last started server.
server_port() { awk '/listening/ {print $NF}' "$SRV_OUT"; }

# setup_enrolled PREFIX N NAME... [-- ENROLL-ARGS...]: N namespaces on a
# bridge (ns_setup), a fresh load, and namespace i enrolled as the i-th NAME.
setup_enrolled() {
	local p=$1 n=$2 i=1 name
	shift 2
	local -a names=() extra=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do names+=("$1"); shift; done
	[ $# -gt 0 ] && { shift; extra=("$@"); }
	ns_setup "$p" "$n" >/dev/null || die "netns setup"
	ob_fresh_load
	for name in "${names[@]}"; do
		"$OB" enroll --netns /run/netns/$p$i --name "$name" "${extra[@]}" >/dev/null ||
			die "enroll $name"
		i=$((i + 1))
	done
}

# wait_netns PID NS: waits (30 s at most: a TCG guest under load) until
# process PID is in netns NS: `ip netns exec NS CMD &` enters it a moment
# after $! is known, and the
# hook takes a container's netns from its process (and refuses a config.json
# path that names another), as a runtime's process is in it before any hook
# runs. Fails the test if it does not get there.
wait_netns() {
	local want
	want=$(stat -L -c %d:%i "/run/netns/$2") || { fail "no netns $2"; return 1; }
	for _ in $(seq 600); do
		[ "$(stat -L -c %d:%i "/proc/$1/ns/net" 2>/dev/null)" = "$want" ] && return 0
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	fail "process $1 did not enter netns $2"
	return 1
}

# oci_bundle DIR NETNS [ANNOTATIONS-JSON]: a minimal OCI bundle at DIR whose
# config.json joins NETNS (a path, or "host": no network namespace).
oci_bundle() {
	local ns='[{"type":"pid"},{"type":"network","path":"'"$2"'"}]'
	[ "$2" = host ] && ns='[{"type":"pid"}]'
	mkdir -p "$1"
	printf '{"ociVersion":"1.0.2","process":{"args":["sleep"]},"root":{"path":"rootfs"},"annotations":%s,"linux":{"namespaces":%s}}\n' \
		"${3:-{\}}" "$ns" >"$1/config.json"
}
# oci_state ID STATUS PID BUNDLE: the state JSON a runtime gives its hooks.
oci_state() { printf '{"ociVersion":"1.0.2-dev","id":"%s","status":"%s","pid":%s,"bundle":"%s"}' "$@"; }
# hook STATE-JSON [HOOK-ARGS...]: the hook run as a runtime runs it, the
# state on its stdin; its exit status and output are the caller's.
hook() { local s=$1; shift; printf '%s' "$s" | "$OB" hook "$@"; }
# name12 ID: the name the hook gives a container's netns (its id's first 12
# characters, as engines show ids).
name12() { printf '%.12s' "$1"; }

# policy_set [TEXT [MODE]]: the host policy file OB_POLICY (issue 11: what
# the trust and allow-host-network annotations need) holds TEXT, root's,
# mode MODE (default 644); without TEXT there is no file. The first call
# saves the file and its directory as they were and restores them at exit,
# ahead of the EXIT trap in place then (so set your own trap first).
OB_POLICY=/etc/oci-bypass/policy.conf
policy_set() {
	local text=${1-} mode=${2:-644} given=$# t
	if [ -z "${OB_POLICY_SAVED:-}" ]; then
		OB_POLICY_SAVED=$(mktemp -d /tmp/ob-policy.XXXXXX) || die "mktemp"
		if [ -d "${OB_POLICY%/*}" ]; then
			stat -c '%a %u:%g' "${OB_POLICY%/*}" >"$OB_POLICY_SAVED/dir" || die "stat"
		fi
		if [ -e "$OB_POLICY" ] || [ -L "$OB_POLICY" ]; then
			cp -a "$OB_POLICY" "$OB_POLICY_SAVED/policy.conf" || die "cannot save $OB_POLICY"
		fi
		t=$(trap -p EXIT)
		eval "set -- $t"
		# shellcheck disable=SC2064 # the old trap's text, now
		trap "policy_restore; ${3:-}" EXIT
	fi
	rm -f "$OB_POLICY"
	[ "$given" -gt 0 ] || return 0
	mkdir -p "${OB_POLICY%/*}" && chmod 755 "${OB_POLICY%/*}" &&
		printf '%s\n' "$text" >"$OB_POLICY" && chown 0:0 "$OB_POLICY" &&
		chmod "$mode" "$OB_POLICY" || die "cannot write $OB_POLICY"
}
policy_restore() {
	local mode owner
	[ -n "${OB_POLICY_SAVED:-}" ] || return 0
	rm -f "$OB_POLICY"
	if [ -e "$OB_POLICY_SAVED/policy.conf" ] || [ -L "$OB_POLICY_SAVED/policy.conf" ]; then
		cp -a "$OB_POLICY_SAVED/policy.conf" "$OB_POLICY"
	fi
	if [ -s "$OB_POLICY_SAVED/dir" ]; then
		read -r mode owner <"$OB_POLICY_SAVED/dir"
		chmod "$mode" "${OB_POLICY%/*}"
		chown "$owner" "${OB_POLICY%/*}"
	else
		rmdir "${OB_POLICY%/*}" 2>/dev/null
	fi
	rm -rf "$OB_POLICY_SAVED"
	OB_POLICY_SAVED=
}

# cgroup2_root: where cgroup v2 is mounted (/sys/fs/cgroup on Debian 12,
# /sys/fs/cgroup/unified on a hybrid host): the first cgroup2 line of
# /proc/mounts, as oci-bypass itself finds it (hook/cgroup.c). Empty if none.
cgroup2_root() { awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts; }

# container_test PREFIX N TOOL...: the preamble of a test with real
# containers (tests/lib/containers.sh): skips unless every TOOL is
# installed; sets WORK, removed at exit with every container, podman
# network and netns named PREFIX*; prepares the host and the rootfs; N
# namespaces on a bridge (ns_setup); oci-bypass not loaded.
container_test() {
	local p=$1 n=$2 tool
	shift 2
	. "$TESTS_DIR/lib/containers.sh"
	for tool in "$@"; do
		command -v "$tool" >/dev/null || skip "$tool is not installed (make deps installs it)"
	done
	WORK=$(mktemp -d "/tmp/ob-$p.XXXXXX")
	# shellcheck disable=SC2064 # expand now: p and WORK are known
	trap "ct_cleanup_all $p >/dev/null 2>&1; rm -rf '$WORK'" EXIT
	trap 'exit 130' INT TERM
	ct_host_prepare || die "ct_host_prepare"
	ct_rootfs >/dev/null || die "ct_rootfs"
	ct_cleanup_all "$p" >/dev/null 2>&1
	ns_setup "$p" "$n" >/dev/null || die "ns_setup"
	"$OB" unload --wait 5 >/dev/null 2>&1
	clear_foreign_pins
}

[ -n "${OB_ANY_KERNEL:-}" ] || need_datapath
