#!/usr/bin/env bash
# t_budgets.sh - budgets that isolate (bypass.h, "Budgets"; issue 21, item
# 1): a namespace that pins all it can through blocking senders whose
# reader threads wait in recv() (readers at risk, which push-back leaves
# be) holds no more than its share of the host's budget, even enrolled
# with --max-unread 1024g; its own directions move to TCP, and no verdict
# comes of it; another pair of namespaces meanwhile pairs, redirects and
# moves nothing; every byte of the pinning connections arrives in order
# once their servers read.
. "$(dirname "$0")/../lib/common.sh"
need_root
need_datapath
command -v jq >/dev/null || skip "jq is not installed"
P=obbu
STALL="$OB_BUILD/tests/stall"
T=$(mktemp -d)
N=8
PIDS=() SRV_PID=
trap 'touch "$T/go"; kill ${PIDS[*]} $SRV_PID 2>/dev/null; ns_teardown $P 4; rm -rf "$T"' EXIT
# 1, 2: the pinning namespace (bud-a, the clients) and its servers' (bud-s);
# 3, 4: the other pair (bud-v serves bud-w)
setup_enrolled $P 4 bud-s bud-a bud-v bud-w -- --trust
"$OB" withdraw bud-a >/dev/null && "$OB" enroll --netns /run/netns/${P}2 --name bud-a --trust \
	--max-unread 1024g >/dev/null || die "enroll bud-a --max-unread 1024g"
S=$(ns_ip4 $P 1) V=$(ns_ip4 $P 3)

start_server ${P}3 --listen "$V" 0 --mode stream --count 4 --timeout 120
VPORT=$(server_port)
H=$(status_field unread_budget_bytes) BOUND_B=$(status_field unread_bound_blocking_bytes)
# each connection below its own bound, all of them past the host's budget
BYTES=$((H / 6 < BOUND_B - (1 << 20) ? H / 6 : BOUND_B - (1 << 20)))
BYTES=$((BYTES / 65536 * 65536))
log "host budget $H, blocking bound $BOUND_B: $N blocking senders with waiting readers, $BYTES bytes each, towards servers that read nothing"
for i in $(seq $N); do
	OB_STALL_UNTIL=$T/go ip netns exec ${P}1 "$STALL" duplex-server "$S" $((7600 + i)) 120 \
		$BYTES >"$T/srv$i" 2>&1 &
	PIDS+=($!)
	wait_listening "$T/srv$i" $! "duplex server $i"
done
for i in $(seq $N); do
	ip netns exec ${P}2 "$STALL" duplex-client "$S" $((7600 + i)) $BYTES >"$T/cl$i" 2>&1 &
	PIDS+=($!)
done
# until what bud-a leaves unread stops growing (its senders are blocked)
last=-1
for _ in $(seq 240); do
	sleep 0.5
	u=$(counter bud-a unread_bytes)
	[ "$u" -gt 0 ] && [ "$u" = "$last" ] && break
	last=$u
done
A_UNREAD=$(counter bud-a unread_bytes) A_BUDGET=$(counter bud-a unread_budget_share_bytes)
SHARING=$(status_field unread_budget_sharing)
log "bud-a holds $A_UNREAD unread bytes; its budget $A_BUDGET; $SHARING namespaces share the host's $H"
assert_eq "namespaces sharing the host's budget: the four enrolled" 4 "$SHARING"
[[ $SHARING =~ ^[1-9][0-9]*$ ]] &&
	assert_eq "bud-a's budget: its share, not its own 1024g" $((H / SHARING)) "$A_BUDGET"
assert_le "bud-a within its budget" "$A_BUDGET" "$A_UNREAD"
assert_le "bud-a within half the host's budget" $((H / 2)) "$A_UNREAD"
assert_le "the host within its budget" "$H" "$(status_field unread_bytes)"
assert_gt "bud-a's own directions moved for its budget" 0 "$(counter bud-a over_budget)"
learned=0
for i in $(seq $N); do
	[ "$(service_state $((7600 + i)))" = overflow ] && learned=$((learned + 1))
done
assert_eq "services of bud-s that learned a budget move as overflow" 0 $learned

log "meanwhile the other pair"
moves() { echo $(($(counter bud-w over_budget) + $(counter bud-w overflows) + $(counter bud-w pushbacks) + $(counter bud-v over_budget))); }
m0=$(moves) f0=$(counter bud-w refused)
# a connection whose client wrote before its server's side was established
# starts on TCP (client_first: under emulation, now and then): another
for try in 1 2 3; do
	r0=$(counter bud-w redirected_bytes) c0=$(counter bud-w client_first)
	client ${P}4 --connect "$V" "$VPORT" --mode stream --conns 1 --bytes $((8 << 20)) --timeout 60
	[ "$(counter bud-w client_first)" = "$c0" ] && break
	log "connection $try started client-first: another"
done
assert_ge "its new connection paired and redirected" $((r0 + (8 << 20))) \
	"$(counter bud-w redirected_bytes)"
assert_eq "nothing of it moved to TCP" "$m0" "$(moves)"
assert_eq "no pairing of it refused" "$f0" "$(counter bud-w refused)"
assert_eq "its service" accelerated "$(service_state "$VPORT")"
kill $SRV_PID 2>/dev/null
wait $SRV_PID 2>/dev/null
rm -f "$SRV_OUT"

log "the servers read"
touch "$T/go"
eagain=0
for i in $(seq $N); do
	wait ${PIDS[$((i - 1))]} || fail "duplex server $i: $(cat "$T/srv$i")"
	wait ${PIDS[$((N + i - 1))]} || fail "duplex client $i: $(cat "$T/cl$i")"
	grep -q "server read $BYTES bytes in order" "$T/srv$i" ||
		fail "server $i: $(cat "$T/srv$i")"
	e=$(sed -n 's/.*reader saw \([0-9]*\) spurious.*/\1/p' "$T/cl$i")
	eagain=$((eagain + ${e:-0}))
done
PIDS=() SRV_PID=
log "ok: every byte of the $N connections read in order"
# kernel behaviour, not ours: a reader of a connection that moved may meet
# the spurious EAGAIN (bypass.h, enum ob_svc_state); stall retries it
log "kernel: the $N reader threads saw $eagain spurious EAGAIN in all"
for _ in $(seq 100); do
	[ "$(status_field unread_bytes)" = 0 ] && break
	sleep 0.1
done
assert_eq "every charge back once the connections ended" 0 "$(status_field unread_bytes)"
finish
