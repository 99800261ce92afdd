#!/usr/bin/env bash
# t_identity.sh - which network namespace is the container's. The hook
# takes it from the container process (pidfd); a path config.json names
# must be that same namespace, and is refused, quickly and with a one-line
# reason, when it is a FIFO (it blocked the hook until its alarm), a
# symlink, a regular file, another kind of namespace, or another network
# namespace; a process that is gone is not replaced by the path. enroll
# --netns refuses the same files the same way.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obid
T=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	umount "$T/uts" 2>/dev/null
	for id in $(ls /run/oci-bypass/containers 2>/dev/null | grep '^id-'); do
		rm -f "/run/oci-bypass/containers/$id"
	done
	ns_teardown $P 2
	rm -rf "$T"
}
trap cleanup EXIT
ns_setup $P 2 >/dev/null || die "netns setup"
ob_fresh_load
enrolled() { "$OB" status --json | jq '.netns | length'; }
records() { ls /run/oci-bypass/containers 2>/dev/null | grep -c '^id-'; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

ip netns exec ${P}1 sleep 600 >/dev/null 2>&1 &
PID1=$!
PIDS+=($PID1)
wait_netns $PID1 ${P}1
mkfifo "$T/fifo"
echo x >"$T/file"
ln -s /run/netns/${P}1 "$T/link"
touch "$T/uts"
unshare --uts="$T/uts" true || die "unshare --uts"

# refused NAME PATH REASON: the hook, given a container process in ${P}1
# and PATH as config.json's netns, fails open within 2 s with REASON on
# one line, enrols nothing and leaves no record.
refused() {
	local name=$1 path=$2 reason=$3 out rc start ms
	oci_bundle "$T/b-$name" "$path"
	start=$(date +%s%N)
	out=$(hook "$(oci_state "id-$name" creating $PID1 "$T/b-$name")" 2>&1)
	rc=$? ms=$(ms_since "$start")
	assert_eq "$name: the hook fails open" 0 $rc
	assert_le "$name: the hook returns at once (ms)" 2000 "$ms"
	assert_eq "$name: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
	grep -q "not accelerated: .*$reason" <<<"$out" && log "ok: $out" || fail "$name: message: $out"
	assert_eq "$name: nothing enrolled" 0 "$(enrolled)"
	assert_eq "$name: no record" 0 "$(records)"
}

log "config.json's netns path, checked against the container process"
refused fifo "$T/fifo" "config.json's network namespace: $T/fifo is a FIFO, not a namespace file"
refused link "$T/link" "$T/link is a symbolic link"
refused file "$T/file" "$T/file is a regular file, not a namespace file"
refused mnt "/proc/$PID1/ns/mnt" "/proc/$PID1/ns/mnt is a mount namespace, not a network namespace"
refused uts "$T/uts" "$T/uts is a UTS namespace, not a network namespace"
refused other /run/netns/${P}2 \
	"config.json's network namespace /run/netns/${P}2 (cookie [0-9]*) is not the one of the container process $PID1 (cookie [0-9]*)"

log "required: a FIFO fails the container, quickly"
oci_bundle "$T/req" "$T/fifo" '{"io.oci-bypass.mode":"required"}'
start=$(date +%s%N)
out=$(hook "$(oci_state id-req creating $PID1 "$T/req")" 2>&1)
rc=$? ms=$(ms_since "$start")
assert_eq "required + FIFO: fails closed" 1 $rc
assert_le "required + FIFO: at once (ms)" 2000 "$ms"
grep -q "^oci-bypass: id-req: io.oci-bypass.mode=required and .*is a FIFO" <<<"$out" &&
	log "ok: $out" || fail "required + FIFO: message: $out"

log "a state whose process is gone: the path alone is not taken for its netns"
ip netns exec ${P}1 true &
DEAD=$!
wait $DEAD
oci_bundle "$T/dead" /run/netns/${P}1
out=$(hook "$(oci_state id-dead creating $DEAD "$T/dead")" 2>&1)
grep -q "not accelerated: pidfd_open($DEAD): No such process" <<<"$out" && log "ok: $out" ||
	fail "dead process: message: $out"
assert_eq "dead process: nothing enrolled" 0 "$(enrolled)"

log "the paths that are the container's netns are accepted"
for path in /run/netns/${P}1 "/proc/$PID1/ns/net"; do
	oci_bundle "$T/ok" "$path"
	out=$(hook "$(oci_state id-ok creating $PID1 "$T/ok")" 2>&1) || fail "create with $path: $out"
	grep -q "accelerated: netns cookie" <<<"$out" || fail "$path: not accelerated: $out"
	assert_eq "$path: enrolled" 1 "$(enrolled)"
	hook "$(oci_state id-ok stopped 0 "$T/ok")" 2>/dev/null || fail "teardown with $path"
	assert_eq "$path: withdrawn at teardown" 0 "$(enrolled)"
done

log "enroll --netns refuses the same files, each with one line, at once"
for c in "fifo:$T/fifo is a FIFO, not a namespace file (on nsfs)" \
	"file:$T/file is a regular file, not a namespace file (on nsfs)" \
	"link:$T/link is a symbolic link: give the namespace file itself (/run/netns/NAME or /proc/PID/ns/net)" \
	"uts:$T/uts is a UTS namespace, not a network namespace" \
	"/proc/self/ns/mnt:/proc/self/ns/mnt is a mount namespace, not a network namespace"; do
	what=${c%%:*} reason=${c#*:}
	case $what in /*) path=$what ;; *) path=$T/$what ;; esac
	start=$(date +%s%N)
	out=$(timeout 10 "$OB" enroll --netns "$path" 2>&1)
	rc=$? ms=$(ms_since "$start")
	assert_eq "enroll $what: exit" 1 $rc
	assert_le "enroll $what: at once (ms)" 2000 "$ms"
	assert_eq "enroll $what: the error" "oci-bypass: enroll: $reason" "$out"
done
assert_eq "enroll: nothing enrolled" 0 "$(enrolled)"

log "enroll --netns accepts the namespace files that are network namespaces"
ip netns exec ${P}2 sleep 600 >/dev/null 2>&1 &
PID2=$!
PIDS+=($PID2)
wait_netns $PID2 ${P}2
out=$("$OB" enroll --netns /run/netns/${P}1 --name id-one 2>&1) || fail "enroll /run/netns/${P}1: $out"
out=$("$OB" enroll --netns /proc/$PID2/ns/net --name id-two 2>&1) || fail "enroll /proc/$PID2/ns/net: $out"
assert_eq "both enrolled" "id-one id-two" "$("$OB" status --json | jq -r '[.netns[].name] | sort | join(" ")')"
finish
