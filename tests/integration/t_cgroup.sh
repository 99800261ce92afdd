#!/usr/bin/env bash
# t_cgroup.sh - sock_ops loaded on a narrow cgroup (load --cgroup): a
# container whose cgroup lies outside it gets the program on its own cgroup
# for its lifetime (a pinned link per container, shown in status, removed at
# teardown), and the setsockopt guard with it (a second pin); its traffic is
# accelerated and its socket options guarded. gc enrols a live container's
# withdrawn netns again and removes a link no record names; unload removes
# every container's link, and gc after a load places them again.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obg
CG=$(cgroup2_root)
[ -n "$CG" ] || skip "no cgroup2 mount"
W=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.2
	rmdir "$CG/obg-narrow" "$CG/obg-ct1" "$CG/obg-ct2" "$CG/obg-ct3" 2>/dev/null
	ns_teardown $P 2
	rm -rf "$W"
}
trap cleanup EXIT
ns_setup $P 2 >/dev/null || die "netns setup"
mkdir -p "$CG/obg-narrow" "$CG/obg-ct1" "$CG/obg-ct2" "$CG/obg-ct3"
"$OB" unload --wait 5 >/dev/null 2>&1
clear_foreign_pins
rm -f /sys/fs/bpf/oci-bypass/ct-cg[0-9]-* # left by a run of a build whose unload kept them
"$OB" load --cgroup "$CG/obg-narrow" >/dev/null || die "load --cgroup"
assert_eq "attached to the narrow cgroup" "$CG/obg-narrow" "$(status_field cgroup)"

# ct N CMD...: a "container process" in netns N (1 for N > 2) and cgroup obg-ctN. It
# waits a moment so that it is in its cgroup before it opens any socket
# (/sys inside `ip netns exec` is the netns's own, without cgroups).
ct() {
	local n=$1 ns=$1; shift
	[ $ns -le 2 ] || ns=1
	ip netns exec ${P}$ns sh -c 'sleep 0.2; exec "$@"' sh "$@" &
	LAST_PID=$!
	PIDS+=($LAST_PID)
	echo $LAST_PID >"$CG/obg-ct$n/cgroup.procs"
	wait_netns $LAST_PID ${P}$ns
}
st() { oci_state "$1" "$2" "$3" "$W/$1"; }
for n in 1 2; do oci_bundle "$W/cg$n" /run/netns/$P$n; done
oci_bundle "$W/cg3" /run/netns/${P}1
pins() { ls /sys/fs/bpf/oci-bypass 2>/dev/null | grep -c '^ct-'; }
gpins() { ls /sys/fs/bpf/oci-bypass 2>/dev/null | grep -c '^ctg-'; }
enrolled() { "$OB" status --json | jq '.netns | length'; }
# traffic PORT: 4 MiB from container 2 to a server in container 1 (after the
# warm-up connection a service needs); must be redirected.
traffic() {
	local before
	before=$(counter cg2 redirected_bytes)
	ct 1 "$SC" server --listen "$A" "$1" --count 2 --timeout 60
	SRV=$LAST_PID
	sleep 0.5
	ct 2 "$SC" client --connect "$A" "$1" --conns 1 --bytes 1024 --timeout 30
	wait $LAST_PID || fail "warm-up"
	sleep 0.1
	ct 2 "$SC" client --connect "$A" "$1" --conns 1 --bytes 4194304 --timeout 30
	wait $LAST_PID || fail "client"
	wait $SRV || fail "server"
	assert_ge "port $1: redirected through the per-container links" 4194304 \
		$(($(counter cg2 redirected_bytes) - before))
}

A=$(ns_ip4 $P 1)
ct 1 sleep 600
C1=$LAST_PID
ct 2 sleep 600
C2=$LAST_PID
hook "$(st cg1 created $C1)" 2>/dev/null || fail "hook: create cg1"
hook "$(st cg2 created $C2)" 2>/dev/null || fail "hook: create cg2"
assert_eq "two containers, each with its own link" "container cgroup container cgroup" \
	"$("$OB" status --json | jq -r '[.containers[].sock_ops] | join(" ")')"
assert_eq "two link pins" 2 "$(pins)"
assert_eq "two guard pins" 2 "$(gpins)"
traffic 7400

log "the setsockopt guard reaches a container outside the load's cgroup"
GP=$OB_BUILD/tests/guardprobe
ct 1 sh -c "exec $GP listen $A 7402 rcvlowat >$W/gp 2>&1"
GSRV=$LAST_PID
for _ in $(seq 100); do grep -q listening "$W/gp" && break; sleep 0.05; done
assert_eq "a listener there sets SO_RCVLOWAT: its service learns it" rcvlowat \
	"$(service_state 7402)"
ct 2 "$GP" connect "$A" 7402 none 1000
wait $LAST_PID || fail "connect to the guarded listener"
wait $GSRV || fail "guarded listener: $(cat "$W/gp")"

log "gc enrols a live container's withdrawn netns again"
"$OB" withdraw cg1 >/dev/null || fail "withdraw cg1"
assert_eq "cg1 withdrawn" 1 "$(enrolled)"
out=$("$OB" gc) || fail "gc: exit $?"
assert_eq "gc repaired one" "oci-bypass: gc: 1 item(s) repaired" "$out"
assert_eq "cg1 enrolled again, under its name" "cg1 cg2" \
	"$("$OB" status --json | jq -r '[.netns[].name] | sort | join(" ")')"

log "gc removes a link whose container record is gone"
ct 3 sleep 600
hook "$(st cg3 created $LAST_PID)" 2>/dev/null || fail "hook: create cg3"
assert_eq "three link pins" 3 "$(pins)"
rm -f /run/oci-bypass/containers/cg3-*.json
out=$("$OB" gc) || fail "gc: exit $?"
assert_eq "gc repaired one" "oci-bypass: gc: 1 item(s) repaired" "$out"
assert_eq "cg3's link pin removed" "" "$(ls /sys/fs/bpf/oci-bypass | grep '^ct-cg3-')"
assert_eq "cg3's guard pin removed" "" "$(ls /sys/fs/bpf/oci-bypass | grep '^ctg-cg3-')"
assert_eq "the live containers' pins stay" 2 "$(pins)"

log "unload removes every container's link; after a load, gc places them again"
"$OB" unload --wait 5 >/dev/null || fail "unload"
assert_eq "no link pin left after unload" 0 "$(pins)"
assert_eq "no guard pin left after unload (no socket redirects)" 0 "$(gpins)"
"$OB" load --cgroup "$CG/obg-narrow" >/dev/null || die "load --cgroup"
out=$("$OB" gc) || fail "gc: exit $?"
assert_eq "gc repaired both" "oci-bypass: gc: 2 item(s) repaired" "$out"
assert_eq "both enrolled again" 2 "$(enrolled)"
assert_eq "both links placed again" 2 "$(pins)"
assert_eq "both guards placed again" 2 "$(gpins)"
traffic 7401
hook "$(st cg1 stopped 0)" 2>/dev/null || fail "hook: teardown cg1"
hook "$(st cg2 stopped 0)" 2>/dev/null || fail "hook: teardown cg2"
assert_eq "link pins removed at teardown" 0 "$(pins)"
assert_eq "guard pins removed at teardown" 0 "$(gpins)"
assert_eq "no container left" 0 "$("$OB" status --json | jq '.containers | length')"
"$OB" unload --wait 5 >/dev/null 2>&1
finish
