#!/usr/bin/env bash
# t_faults.sh - faults while traffic flows: a reader that stops reading (the
# sender blocks after a bounded backlog, nothing is lost or reordered: the
# direction moves to TCP, which keeps the order); the same with a blocking
# sender whose reader thread waits in recv() meanwhile (the bound is
# OB_INGRESS_MAX_BLOCKING, the service is learned as "overflow" and its next
# connection starts on TCP, where that reader is safe; or, where the
# namespace's share of the host's budget is below that bound, as in a
# small guest, it moves for its budget first and no service learns it); and
# the bpffs pins removed under open connections (zero bytes lost, the host
# stays usable, a new load works).
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obq
W=$(mktemp -d)
trap 'ns_teardown $P 2; kill $SRV_PID 2>/dev/null; rm -rf "$W"' EXIT
setup_enrolled $P 2 flt-a flt-b -- --trust
A=$(ns_ip4 $P 1)
STALL="$OB_BUILD/tests/stall"

# The bounds (bypass.h, OB_INGRESS_*): 64 and 256 MiB, or an eighth and a
# half of tcp_mem's hard limit where smaller (a 4 GiB guest).
read -r _ _ limit </proc/sys/net/ipv4/tcp_mem
page=$(getconf PAGESIZE)
want=$((64 << 20)) want_b=$((256 << 20))
[ $((limit * page / 8)) -lt $want ] && want=$((limit * page / 8))
[ $((limit * page / 2)) -lt $want_b ] && want_b=$((limit * page / 2))
BOUND=$(status_field unread_bound_bytes) BOUND_B=$(status_field unread_bound_blocking_bytes)
assert_eq "the non-blocking bound, from tcp_mem" $want "$BOUND"
assert_eq "the blocking bound, from tcp_mem" $want_b "$BOUND_B"

log "a reader that stops reading for 3 s"
ip netns exec ${P}1 "$STALL" server "$A" 7301 3 >"$W/srv" 2>&1 &
SRV_PID=$!
wait_listening "$W/srv" $SRV_PID "stall server"
out=$(ip netns exec ${P}2 "$STALL" client "$A" 7301 2); rc=$?
wait $SRV_PID
log "$(echo $out)"
assert_eq "the sender's non-blocking writes end in EAGAIN, blocking ones wait" 0 $rc
queued=$(sed -n 's/.*client queued \([0-9]*\) bytes.*/\1/p' <<<"$out")
total=$(sed -n 's/.*client total \([0-9]*\) bytes.*/\1/p' <<<"$out")
assert_gt "bytes queued before the sender blocked" 0 "$queued"
# the bound redirected (the writes are non-blocking), then stock TCP's own
# buffers.
[ "$queued" -le $((BOUND + (16 << 20))) ] && log "ok: backlog bounded ($queued <= $BOUND + 16 MiB)" ||
	fail "unbounded backlog: $queued bytes"
assert_eq "every byte read, in order, once the reader resumed" "$total" \
	"$(sed -n 's/.*server read \([0-9]*\) bytes in order.*/\1/p' "$W/srv")"
# by its bound, or by push-back where the sender is slow enough that the
# stall window ends first (qemu's TCG)
assert_eq "the direction moved to TCP once" 1 \
	$(($(counter flt-b overflows) + $(counter flt-b pushbacks)))
assert_eq "a non-blocking sender teaches the service nothing" accelerated "$(service_state 7301)"

# duplex SECONDS BYTES: one connection of a blocking duplex client to a
# server that stalls SECONDS; logs the outcome, fails on a lost byte.
duplex() {
	local out
	ip netns exec ${P}1 "$STALL" duplex-server "$A" 7302 "$1" "$2" >"$W/srv" 2>&1 &
	SRV_PID=$!
	wait_listening "$W/srv" $SRV_PID "stall duplex server"
	out=$(ip netns exec ${P}2 "$STALL" duplex-client "$A" 7302 "$2") || fail "duplex client: $out"
	wait $SRV_PID || fail "duplex server: $(cat "$W/srv")"
	log "$(echo $out $(cat "$W/srv"))"
	EAGAINS=$(sed -n 's/.*reader saw \([0-9]*\) spurious.*/\1/p' <<<"$out")
}
# What comes first: the blocking bound, or flt-b's budget, its share of the
# host's (two namespaces enrolled: half of it), which in a small guest is
# below the bound (bypass.h, "Budgets"; t_budgets tests that move).
SHARE=$(counter flt-b unread_budget_share_bytes)
log "a blocking sender with a reader thread, its peer stalled for 3 s (320 MiB); bound $BOUND_B, flt-b's budget $SHARE"
before=$(counter flt-b overflows) b0=$(counter flt-b over_budget)
duplex 3 $((320 << 20))
log "kernel: the reader thread saw $EAGAINS spurious EAGAIN after the move (tcp_bpf_recvmsg)"
if [ "$SHARE" -ge "$BOUND_B" ]; then  # at equal, the bound is looked at first
	assert_eq "the direction moved to TCP past the blocking bound" $((before + 1)) \
		"$(counter flt-b overflows)"
	assert_eq "the service is learned as overflow" overflow "$(service_state 7302)"
	log "the next connection of that service"
	redir=$(counter flt-b redirected_bytes)
	duplex 1 $((64 << 20))
	assert_eq "it starts on TCP: nothing redirected" "$redir" "$(counter flt-b redirected_bytes)"
	assert_eq "its reader saw no spurious EAGAIN" 0 "$EAGAINS"
else
	assert_eq "the direction moved to TCP for flt-b's budget, first" $((b0 + 1)) \
		"$(counter flt-b over_budget)"
	assert_eq "not for the bound" "$before" "$(counter flt-b overflows)"
	assert_eq "a budget move teaches the service nothing" accelerated "$(service_state 7302)"
fi

log "bpffs pins removed while 8 connections stream"
# At most the blocking bound per stream, and the 16 directions together
# within the host's budget: no direction can then fall so far behind that
# it moves to TCP, where its blocking reader thread could meet the
# kernel's EAGAIN (tested above); here only the pin removal is tested.
HOST_BUDGET=$(status_field unread_budget_bytes)
bytes=$((BOUND_B < (256 << 20) ? BOUND_B : (256 << 20)))
[ $((HOST_BUDGET / 16)) -lt $bytes ] && bytes=$((HOST_BUDGET / 16))
start_server ${P}1 --listen "$A" 0 --mode stream --count 8 --timeout 60
port=$(server_port)
# every stream stops halfway until $W/go exists: the pins go while all of
# them are open and paired, whatever the machine's speed
ip netns exec ${P}2 "$SC" client --connect "$A" "$port" --mode stream --conns 8 \
	--bytes $bytes --pause-file "$W/go" --timeout 120 >"$W/cl" 2>&1 &
cpid=$!
wait_paused "$W/cl" $cpid
assert_gt "sockets redirecting" 0 "$(status_field sockhash_entries)"
rm -rf /sys/fs/bpf/oci-bypass
touch "$W/go"
wait $cpid && log "$(tail -n 1 "$W/cl")" || fail "client across pin removal: $(tail -n 2 "$W/cl")"
wait_server
assert_eq "status after pin removal" false "$(status_field loaded)"
"$OB" load >/dev/null && log "ok: load after pin removal" || fail "load after pin removal"
"$OB" enroll --netns /run/netns/${P}1 --name flt-a >/dev/null || fail "enroll flt-a"
"$OB" enroll --netns /run/netns/${P}2 --name flt-b >/dev/null || fail "enroll flt-b"
start_server ${P}1 --listen "$A" 0 --mode stream --count 2 --timeout 60
port=$(server_port)
warm_up ${P}2 "$A" "$port"
client ${P}2 --connect "$A" "$port" --mode stream --conns 1 --bytes 4194304 --timeout 60
wait_server
assert_ge "redirected again after reload" 4194304 "$(counter flt-b redirected_bytes)"
finish
