#!/usr/bin/env bash
# t_ledgers.sh - ledger entries have a quota (bypass.h, "Quotas"; issue 21,
# item 2): a namespace whose clients keep many paired connections open
# holds at most its quota of ob_ledger entries (as many as --max-conns);
# its further connections stay on stock TCP, counted as over_quota, every
# byte arrives; another pair of namespaces meanwhile pairs and redirects;
# and every entry is gone once the connections end. An entry also goes,
# its quota with it, once both sockets of its connection have left the
# sockhashes for good while they stay open (a guard moved it).
. "$(dirname "$0")/../lib/common.sh"
need_root
need_datapath
command -v jq >/dev/null || skip "jq is not installed"
command -v python3 >/dev/null || skip "python3 is not installed (make deps installs it)"
P=oble
W=$(mktemp -d)
PIDS=()
S_PID=
trap 'kill ${PIDS[*]} $S_PID $SRV_PID 2>/dev/null; ns_teardown $P 4; rm -rf "$W"' EXIT
# 1 serves 2 (the namespace at its quota), 3 serves 4 (the other pair)
ns_setup $P 4 >/dev/null || die "netns setup"
ob_fresh_load
QUOTA=16 BATCH=10 BATCHES=4
"$OB" enroll --netns /run/netns/${P}1 --name le-s --trust --max-sockets 256 >/dev/null ||
	die "enroll le-s"
"$OB" enroll --netns /run/netns/${P}2 --name le-c --trust --max-conns $QUOTA \
	--max-sockets 256 >/dev/null || die "enroll le-c"
"$OB" enroll --netns /run/netns/${P}3 --name le-v --trust >/dev/null || die "enroll le-v"
"$OB" enroll --netns /run/netns/${P}4 --name le-w --trust >/dev/null || die "enroll le-w"
S=$(ns_ip4 $P 1) V=$(ns_ip4 $P 3)
quota() { "$OB" status --json | jq -r --arg n "$1" --arg q "$2" \
	'.netns[] | select(.name == $n) | .quota[$q] | "\(.used)/\(.limit)"'; }

N=$((BATCH * BATCHES))
log "$N connections from le-c (--max-conns $QUOTA), $BATCH at a time (within its conns quota), all kept open"
start_server ${P}1 --listen "$S" 0 --mode stream --count $N --timeout 300
port=$(server_port)
S_PID=$SRV_PID S_OUT=$SRV_OUT
for b in $(seq $BATCHES); do
	ip netns exec ${P}2 "$SC" client --connect "$S" "$port" --mode stream --conns $BATCH \
		--bytes $((1 << 20)) --pause-file "$W/go.$b" --timeout 300 >"$W/cl.$b" 2>&1 &
	PIDS+=($!)
	wait_paused "$W/cl.$b" $!
done
ledgers=$(quota le-c ledgers)
log "le-c: ledgers $ledgers, paired $(counter le-c paired), over_quota $(counter le-c over_quota)"
assert_eq "le-c's ledger quota, from --max-conns" $QUOTA "${ledgers#*/}"
assert_le "le-c holds no more ledger entries than its quota" $QUOTA "${ledgers%/*}"
assert_le "ledger entries on the host" $QUOTA "$(status_field ledger_entries)"
assert_le "le-c's connections paired" $QUOTA "$(counter le-c paired)"
assert_gt "connections past it kept on TCP, counted as over_quota" 0 "$(counter le-c over_quota)"

log "meanwhile another pair"
r0=$(counter le-w redirected_bytes)
start_server ${P}3 --listen "$V" 0 --mode stream --count 1 --timeout 60
client ${P}4 --connect "$V" "$(server_port)" --mode stream --conns 1 --bytes $((4 << 20)) --timeout 60
wait_server
assert_ge "it paired and redirected" $((r0 + (4 << 20))) "$(counter le-w redirected_bytes)"

log "the connections end"
for b in $(seq $BATCHES); do touch "$W/go.$b"; done
for pid in "${PIDS[@]}"; do
	wait $pid || fail "client: $(tail -n 2 "$W"/cl.* | tail -n 4)"
done
PIDS=()
wait $S_PID || fail "server: $(tail -n 3 "$S_OUT")"
rm -f "$S_OUT"
for _ in $(seq 100); do
	[ "$(status_field ledger_entries)" = 0 ] && break
	sleep 0.1
done
assert_eq "every ledger entry gone" 0 "$(status_field ledger_entries)"
assert_eq "le-c's ledger quota given back" "0/$QUOTA" "$(quota le-c ledgers)"

log "a connection both of whose sockets leave for good while open"
# a byte each way every 20 ms (its ACKs drive the leaving: bypass.h,
# "Leaving"), SO_ZEROCOPY set on the client (a guard: both directions move
# to TCP), the same for 3 s more, then held open until $W/close exists
cat >"$W/pp.py" <<'EOF_PY'
import os, socket, sys, time
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def pingpong(s, secs):
    end = time.time() + secs
    while time.time() < end:
        s.sendall(b'x')
        if s.recv(1) != b'x':
            sys.exit('pingpong: lost a byte')
        time.sleep(0.02)
if mode == 'server':
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port)); l.listen(1)
    print('listening', flush=True)
    c, _ = l.accept()
    while True:
        b = c.recv(1)
        if not b:
            break
        c.sendall(b)
else:
    s = socket.create_connection((addr, port))
    pingpong(s, 0.5)
    s.setsockopt(socket.SOL_SOCKET, 60, 1)  # SO_ZEROCOPY
    pingpong(s, 3)
    print('moved', flush=True)
    while not os.path.exists(sys.argv[4]):
        time.sleep(0.05)
EOF_PY
ip netns exec ${P}1 python3 -u "$W/pp.py" server "$S" 7711 >"$W/pp.srv" 2>&1 &
S_PID=$!
wait_listening "$W/pp.srv" $S_PID "pingpong server"
g0=$(counter le-c guard_moves)
ip netns exec ${P}2 python3 -u "$W/pp.py" client "$S" 7711 "$W/close" >"$W/pp.cl" 2>&1 &
PIDS=($!)
wait_line "$W/pp.cl" ${PIDS[0]} moved 60 "the pingpong client did not finish"
assert_eq "a guard moved it" $((g0 + 1)) "$(counter le-c guard_moves)"
assert_eq "both sockets out of the sockhashes" 0 \
	"$(($(status_field sockhash_entries) + $(status_field parking_entries)))"
assert_eq "its ledger entry gone while it is open" 0 "$(status_field ledger_entries)"
assert_eq "and le-c's quota of them given back" "0/$QUOTA" "$(quota le-c ledgers)"
touch "$W/close"
wait ${PIDS[0]} || fail "pingpong client: $(cat "$W/pp.cl")"
wait $S_PID || fail "pingpong server: $(cat "$W/pp.srv")"
PIDS=() S_PID=
finish
