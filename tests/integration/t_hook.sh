#!/usr/bin/env bash
# t_hook.sh - the hook's lifecycle, driven with the state JSON a runtime
# would send, against real network namespaces and processes: load on first
# use, create twice, teardown without create or without netns, pods sharing
# a netns (one with an unreadable record), 200 cycles, 20 in parallel, a hook killed mid-create then gc,
# fail-open and required, bad input, and the sandbox.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obh
N=20
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	ns_teardown $P $N
	rm -rf "$WORK"
}
trap cleanup EXIT
ns_setup $P $N >/dev/null || die "netns setup"
CT_DIR=/run/oci-bypass/containers

# bundle NAME NETNS [ANNOTATIONS-JSON]: a bundle dir whose config.json joins NETNS.
bundle() { oci_bundle "$WORK/$1" "$2" "${3-}" && echo "$WORK/$1"; }
# proc_in NS: a process living in netns NS (the "container process"), pid in LAST_PID
proc_in() {
	ip netns exec "$1" sleep 600 >/dev/null 2>&1 &
	LAST_PID=$!
	PIDS+=($LAST_PID)
	wait_netns $LAST_PID "$1"
}
state() { oci_state "$@"; }
records() { ls "$CT_DIR" 2>/dev/null | grep -c '\.json$'; }
enrolled() { "$OB" status --json | jq '.netns | length'; }

"$OB" unload --wait 5 >/dev/null 2>&1
rm -rf /run/oci-bypass/containers

log "create loads the BPF objects on first use"
B1=$(bundle b1 /run/netns/${P}1)
proc_in ${P}1; PID1=$LAST_PID
out=$(hook "$(state c1 creating $PID1 "$B1")" 2>&1); rc=$?
assert_eq "create exit" 0 $rc
grep -q "loaded the BPF programs" <<<"$out" && log "ok: $out" | head -1 || fail "no load line: $out"
assert_eq "loaded" true "$(status_field loaded)"
assert_eq "one netns enrolled" 1 "$(enrolled)"
assert_eq "status names the container" c1 "$("$OB" status --json | jq -r '.containers[0].id')"
assert_eq "record state" enrolled "$("$OB" status --json | jq -r '.containers[0].state')"
hook "$(state c1 created $PID1 "$B1")" create 2>/dev/null; assert_eq "create twice" 0 $?
assert_eq "still one record" 1 "$(records)"

log "teardown (no pid, as podman sends it), then teardown again"
hook "$(state c1 stopped 0 "$B1")" 2>/dev/null; assert_eq "teardown exit" 0 $?
assert_eq "records left" 0 "$(records)"
assert_eq "netns withdrawn" 0 "$(enrolled)"
out=$(hook "$(state c1 stopped 0 "$B1")" 2>&1); assert_eq "teardown without create" 0 $?

log "same id from two engines (two bundles) does not collide"
B1b=$(bundle b1b /run/netns/${P}2)
proc_in ${P}2; PID2=$LAST_PID
hook "$(state same creating $PID1 "$B1")" 2>/dev/null || fail "hook same creating: exit $?"
hook "$(state same creating $PID2 "$B1b")" 2>/dev/null || fail "hook same creating: exit $?"
assert_eq "two records" 2 "$(records)"
assert_eq "two netns" 2 "$(enrolled)"
hook "$(state same stopped 0 "$B1")" 2>/dev/null || fail "hook same stopped: exit $?"
assert_eq "the other engine's container stays" 1 "$(enrolled)"
hook "$(state same stopped 0 "$B1b")" 2>/dev/null || fail "hook same stopped: exit $?"
assert_eq "all withdrawn" 0 "$(enrolled)"

log "a pod: two containers share one netns, torn down one at a time"
Ba=$(bundle pa /run/netns/${P}3) Bb=$(bundle pb /run/netns/${P}3)
proc_in ${P}3; PID3=$LAST_PID
hook "$(state pod-a creating $PID3 "$Ba")" 2>/dev/null || fail "hook pod-a creating: exit $?"
hook "$(state pod-b creating $PID3 "$Bb")" 2>/dev/null || fail "hook pod-b creating: exit $?"
assert_eq "pod: one netns" 1 "$(enrolled)"
hook "$(state pod-a stopped 0 "$Ba")" 2>/dev/null || fail "hook pod-a stopped: exit $?"
assert_eq "pod: still enrolled after the first teardown" 1 "$(enrolled)"
hook "$(state pod-b stopped 0 "$Bb")" 2>/dev/null || fail "hook pod-b stopped: exit $?"
assert_eq "pod: withdrawn after the last" 0 "$(enrolled)"

log "a pod whose other record is unreadable keeps its netns enrolled"
Bua=$(bundle ua /run/netns/${P}4) Bub=$(bundle ub /run/netns/${P}4)
proc_in ${P}4; PID4=$LAST_PID
hook "$(state unr-a creating $PID4 "$Bua")" 2>/dev/null || fail "hook unr-a creating: exit $?"
hook "$(state unr-b creating $PID4 "$Bub")" 2>/dev/null || fail "hook unr-b creating: exit $?"
rec_a=$(ls "$CT_DIR"/unr-a-*.json)
echo 'not json' >"$rec_a"
out=$(hook "$(state unr-b stopped 0 "$Bub")" 2>&1) || fail "hook unr-b stopped: exit $?"
assert_eq "unreadable record: netns kept at the other's teardown" 1 "$(enrolled)"
grep -q "kept netns cookie .*cannot be read" <<<"$out" && log "ok: $out" || fail "teardown's message: $out"
out=$("$OB" gc) || fail "gc: exit $?"
grep -q "^oci-bypass: gc: unreadable record unr-a-[0-9a-f]*: .*not a JSON object" <<<"$out" &&
	log "ok: $(head -1 <<<"$out")" || fail "gc does not report the unreadable record: $out"
grep -q "1 unreadable record(s) left in place" <<<"$out" || fail "gc's summary: $out"
assert_eq "unreadable record: gc leaves it" yes "$([ -e "$rec_a" ] && echo yes || echo no)"
assert_eq "unreadable record: gc keeps the netns" 1 "$(enrolled)"
out=$(hook "$(state unr-a stopped 0 "$Bua")" 2>&1) || fail "hook unr-a stopped: exit $?"
grep -q "teardown: its record is unreadable" <<<"$out" && log "ok: $out" || fail "message: $out"
rm -f "$rec_a"
"$OB" gc >/dev/null || fail "gc: exit $?"
assert_eq "record removed by hand: gc withdraws the netns" 0 "$(enrolled)"

log "teardown after the netns is gone"
ip netns add ${P}x; ip -n ${P}x link set lo up
Bx=$(bundle bx /run/netns/${P}x)
proc_in ${P}x; PIDX=$LAST_PID
hook "$(state gone creating $PIDX "$Bx")" 2>/dev/null || fail "hook gone creating: exit $?"
kill $PIDX; ip netns del ${P}x
hook "$(state gone stopped 0 "$Bx")" 2>/dev/null || fail "hook gone stopped: exit $?"
assert_eq "withdrawn without its netns" 0 "$(enrolled)"
assert_eq "no record" 0 "$(records)"

# What a hook costs is measured by make bench (hook_latency, against a
# bare fork+exec), not timed here: these cycles check what they leave.
log "200 create/teardown cycles"
for i in $(seq 200); do
	hook "$(state cyc-$i creating $PID1 "$B1")" 2>/dev/null || fail "cycle $i create"
	hook "$(state cyc-$i stopped 0 "$B1")" 2>/dev/null || fail "cycle $i teardown"
done
assert_eq "cycles: records left" 0 "$(records)"
assert_eq "cycles: netns left" 0 "$(enrolled)"

log "20 containers created in parallel, from unloaded"
"$OB" unload --wait 5 >/dev/null 2>&1
for i in $(seq $N); do
	Bp=$(bundle par$i /run/netns/${P}$i)
	proc_in ${P}$i; P_i=$LAST_PID
	(hook "$(state par-$i creating $P_i "$Bp")" >"$WORK/par$i.out" 2>&1; echo $? >"$WORK/par$i.rc") &
done
wait_for=0
for i in $(seq $N); do
	for _ in $(seq 200); do [ -s "$WORK/par$i.rc" ] && break; sleep 0.05; done
	[ "$(cat "$WORK/par$i.rc" 2>/dev/null)" = 0 ] || fail "parallel create $i: $(cat "$WORK/par$i.out")"
done
assert_eq "parallel: loaded once" 1 "$(cat "$WORK"/par*.out | grep -c 'loaded the BPF programs')"
assert_eq "parallel: 20 enrolled" $N "$(enrolled)"
for i in $(seq $N); do hook "$(state par-$i stopped 0 "$WORK/par$i")" 2>/dev/null || fail "teardown par-$i: exit $?"; done
assert_eq "parallel: all withdrawn" 0 "$(enrolled)"

log "a hook killed mid-create, then gc"
state killed creating $PID1 "$B1" | OB_TEST_STALL_FD=3 "$OB" hook 3< <(sleep 30) 2>/dev/null &
HPID=$!
for _ in $(seq 100); do [ "$(records)" = 1 ] && break; sleep 0.05; done
kill -9 $HPID 2>/dev/null; wait $HPID 2>/dev/null
assert_eq "record of the killed hook" creating "$("$OB" status --json | jq -r '.containers[0].state')"
"$OB" gc >/dev/null; assert_eq "gc exit" 0 $?
assert_eq "gc: record repaired" 0 "$(records)"
log "gc: a container that died without poststop"
hook "$(state died creating $PID2 "$B1b")" 2>/dev/null || fail "hook died creating: exit $?"
kill $PID2; sleep 0.2
"$OB" gc >/dev/null || fail "gc: exit $?"
assert_eq "gc: dead container's record removed" 0 "$(records)"
assert_eq "gc: its netns withdrawn" 0 "$(enrolled)"

log "fail-open and required"
Bh=$(bundle host host)
out=$(hook "$(state hostnet creating $PID1 "$Bh")" 2>&1); rc=$?
assert_eq "host network: fail open" 0 $rc
grep -q "^oci-bypass: hostnet: not accelerated: the container uses the host network" <<<"$out" && log "ok: $out" || fail "log: $out"
Bhr=$(bundle hostr host '{"io.oci-bypass.mode":"required"}')
out=$(hook "$(state hostreq creating $PID1 "$Bhr")" 2>&1); rc=$?
assert_eq "required: fails closed" 1 $rc
assert_eq "required: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
grep -q "required" <<<"$out" && log "ok: $out" || fail "required message: $out"
# required with a misspelt key (no-port for no-ports): the error must not
# make it fail open
Btypo=$(bundle typo /run/netns/${P}1 '{"io.oci-bypass.no-port":"80","io.oci-bypass.mode":"required"}')
out=$(hook "$(state typo creating $PID1 "$Btypo")" 2>&1); rc=$?
assert_eq "required + a config.json error: fails closed" 1 $rc
assert_eq "required + a config.json error: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
grep -q "required and .*io.oci-bypass.no-port" <<<"$out" && log "ok: $out" || fail "message: $out"
Boff=$(bundle off /run/netns/${P}1 '{"io.oci-bypass.mode":"off"}')
hook "$(state offc creating $PID1 "$Boff")" 2>/dev/null || fail "hook offc creating: exit $?"
assert_eq "mode off: not enrolled" 0 "$(enrolled)"
Btypo=$(bundle typo /run/netns/${P}1 '{"io.oci-bypass.mdoe":"on"}')
out=$(hook "$(state typo creating $PID1 "$Btypo")" 2>&1); rc=$?
assert_eq "annotation typo: fail open" 0 $rc
grep -q "mdoe" <<<"$out" && log "ok: $out" || fail "typo not named: $out"
out=$(printf 'garbage{' | "$OB" hook 2>&1); rc=$?
assert_eq "garbage state: fail open" 0 $rc
out=$(head -c 100000 /dev/zero | tr '\0' ' ' | "$OB" hook 2>&1); rc=$?
assert_eq "oversized state: fail open" 0 $rc
grep -q "larger than" <<<"$out" && log "ok: $out" || fail "oversized: $out"
log "a different build's maps are pinned: fail open; required fails closed"
"$OB" load >/dev/null || die "load"
other_build_loaded || die "bpftool"
rm -f /sys/fs/bpf/oci-bypass/link_sockops # as if that build were half unloaded
out=$(hook "$(state other creating $PID1 "$B1")" 2>&1); rc=$?
assert_eq "other build: fail open" 0 $rc
grep -q "different build" <<<"$out" && log "ok: $out" || fail "message: $out"
assert_eq "other build: no record left" 0 "$(records)"
Breq=$(bundle req /run/netns/${P}1 '{"io.oci-bypass.mode":"required"}')
out=$(hook "$(state req creating $PID1 "$Breq")" 2>&1); rc=$?
assert_eq "other build + required: fails closed" 1 $rc
"$OB" unload --wait 5 >/dev/null 2>&1

log "the hook's confinement"
out=$("$OB_BUILD/tests/sandboxcheck" 2>&1); rc=$?
assert_eq "sandboxcheck exit" 0 $rc
# (t_confine checks the rest of sandboxcheck's lines)
assert_eq "forbidden calls fail with EPERM" \
	"execve: EPERM ptrace: EPERM setuid: EPERM pidfd_send_signal SIGCONT: EPERM" \
	"$(echo $(grep -E '^(execve|ptrace|setuid|pidfd_send_signal)' <<<"$out"))"
finish
