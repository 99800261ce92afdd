#!/usr/bin/env bash
# t_invariants.sh - the pairing rules: sockets that carried bytes before
# enrolment stay out, listeners are never inserted, a client that writes
# before the server is ready keeps both directions on TCP, a server that
# writes first is redirected, EPIPE after SHUT_WR, withdraw keeps open
# connections going (invariants 1, 3, 4).
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obv
W=$(mktemp -d)
trap 'ns_teardown $P 2; kill $SRV_PID $OLD 2>/dev/null; rm -rf "$W"' EXIT
OLD=
ns_setup $P 2 || die "netns setup"
ob_fresh_load
A=$(ns_ip4 $P 1)

log "a connection opened before enrolment stays on TCP"
start_server ${P}1 --listen "$A" 0 --mode stream --count 1 --timeout 60
port=$(server_port)
# halfway through its stream, it waits for $W/go: open, bytes carried
ip netns exec ${P}2 "$SC" client --connect "$A" "$port" --mode stream --conns 1 \
	--bytes 8388608 --max-chunk 4096 --pause-file "$W/go" --timeout 60 >"$W/old" 2>&1 &
OLD=$!
wait_paused "$W/old" $OLD
assert_eq "open at enrolment" 1 "$(ip netns exec ${P}2 ss -Htn state established "dst $A:$port" | wc -l)"
"$OB" enroll --netns /run/netns/${P}1 --name inv-a >/dev/null || die "enroll a"
"$OB" enroll --netns /run/netns/${P}2 --name inv-b >/dev/null || die "enroll b"
touch "$W/go"
wait $OLD && log "$(tail -n 1 "$W/old")" || fail "old connection: $(tail -n 2 "$W/old")"
OLD=
rm -f "$W/go"
wait_server
assert_eq "bytes of the old connection redirected" 0 "$(counter inv-a redirected_bytes)"
assert_eq "old connection never paired" 0 "$(counter inv-b paired)"

log "a listener alone is never in the sockhash"
start_server ${P}1 --listen "$A" 0 --mode stream --count 2 --timeout 60
port=$(server_port)
assert_eq "sockhash with only a listener" 0 "$(status_field sockhash_entries)"
warm_up ${P}2 "$A" "$port"
assert_eq "sockhash with only a listener, after a connection" 0 "$(status_field sockhash_entries)"
client ${P}2 --connect "$A" "$port" --mode stream --conns 1 --bytes 1048576 --timeout 60
wait_server
assert_eq "both sockets paired" 2 $(($(counter inv-a paired) + $(counter inv-b paired)))

log "a service on probation: its client never enters the sockhash (the server says so in its SYN-ACK)"
start_server ${P}1 --listen "$A" 0 --mode stream --count 1 --timeout 60
port=$(server_port)
hold_conn ${P}2 "$A" "$port" "$W/hold"
for _ in $(seq 100); do [ -n "$(service_state "$port")" ] && break; sleep 0.1; done
assert_eq "service state while its first connection is open" probation "$(service_state "$port")"
assert_eq "sockhash entries while it is open" 0 "$(status_field sockhash_entries)"
assert_eq "conn entries while it is open (the server took the client's)" 0 "$(status_field conn_entries)"
touch "$W/hold/close"
wait $HOLD_PID
kill $SRV_PID 2>/dev/null; wait $SRV_PID 2>/dev/null

log "client writes before the server socket exists (TCP_DEFER_ACCEPT): TCP both ways"
before_a=$(counter inv-a redirected_bytes) before_b=$(counter inv-b redirected_bytes)
start_server ${P}1 --listen "$A" 0 --mode stream --count 5 --defer-accept --timeout 60
port=$(server_port)
# a service on probation never lets the client into the sockhash: learn it first
warm_up ${P}2 "$A" "$port"
before_a=$(counter inv-a redirected_bytes) before_b=$(counter inv-b redirected_bytes)
ip netns exec ${P}2 "$SC" client --connect "$A" "$port" --mode stream --conns 4 --bytes 2097152 \
	--pause-file "$W/go" --timeout 60 >"$W/cf" 2>&1 &
OLD=$!
wait_paused "$W/cf" $OLD
# while all four are open, halfway
assert_eq "client-first connections counted" 4 "$(counter inv-b client_first)"
assert_eq "their client sockets left the sockhash while open" 0 "$(status_field sockhash_entries)"
touch "$W/go"
wait $OLD && log "$(tail -n 1 "$W/cf")" || fail "client-first connections: $(tail -n 2 "$W/cf")"
OLD=
rm -f "$W/go"
wait_server
assert_eq "no byte redirected by the server" "$before_a" "$(counter inv-a redirected_bytes)"
assert_eq "no byte redirected by the client" "$before_b" "$(counter inv-b redirected_bytes)"
start_server ${P}1 --listen "$A" 0 --mode rr --defer-accept --timeout 120
port=$(server_port) halfclose_port=$(server_port)
client ${P}2 --connect "$A" "$port" --mode rr --halfclose --rounds 100 --conns 2 --timeout 120
kill $SRV_PID 2>/dev/null; wait $SRV_PID 2>/dev/null

log "server speaks first: redirected from its first byte"
before_a=$(counter inv-a redirected_bytes)
start_server ${P}1 --listen "$A" 0 --mode stream --count 5 --server-first --timeout 60
port=$(server_port)
# a service's state is kept by port: one that lands on the half-closing
# service's port just before would start as halfclose (the 6.12 guest did)
if [ "$port" = "$halfclose_port" ]; then
	kill $SRV_PID 2>/dev/null; wait $SRV_PID 2>/dev/null
	start_server ${P}1 --listen "$A" 0 --mode stream --count 5 --server-first --timeout 60
	port=$(server_port)
fi
warm_up ${P}2 "$A" "$port" --mode stream --bytes 1024 --server-first
before_a=$(counter inv-a redirected_bytes)
client ${P}2 --connect "$A" "$port" --mode stream --conns 4 --bytes 1048576 --server-first --timeout 60
wait_server
assert_ge "server-first bytes redirected" $((4 * 1048576)) $(($(counter inv-a redirected_bytes) - before_a))

log "withdraw keeps open connections going, new ones stay on TCP"
start_server ${P}1 --listen "$A" 0 --mode rr --timeout 120
port=$(server_port)
warm_up ${P}2 "$A" "$port" --mode rr --rounds 1
before=$(counter inv-a redirected_msgs)
# 2 connections of 200 rounds, paused before round 100 (the start delay
# lets the server's side pair before the first request)
ip netns exec ${P}2 "$SC" client --connect "$A" "$port" --mode rr --conns 2 --rounds 200 \
	--start-delay 100 --pause-file "$W/go" --timeout 120 >"$W/old" 2>&1 &
OLD=$!
wait_paused "$W/old" $OLD
assert_eq "both connections open and paired at the withdraw" 4 "$(status_field sockhash_entries)"
mid=$(counter inv-a redirected_msgs)
assert_ge "and redirecting: the first 100 responses of each" $((before + 200)) "$mid"
"$OB" withdraw inv-b >/dev/null || fail "withdraw by name"
touch "$W/go"
wait $OLD && log "$(tail -n 1 "$W/old")" || fail "open connection across withdraw: $(tail -n 2 "$W/old")"
OLD=
assert_ge "open connections kept redirecting after the withdraw" $((mid + 200)) "$(counter inv-a redirected_msgs)"
# the same service, learned accelerated: a new connection of a still
# enrolled namespace's client would be redirected; inv-b's is not
assert_eq "the service is accelerated" accelerated "$(service_state "$port")"
before_a=$(counter inv-a redirected_bytes)
client ${P}2 --connect "$A" "$port" --mode rr --conns 1 --rounds 50 --timeout 60
kill $SRV_PID 2>/dev/null; wait $SRV_PID 2>/dev/null
assert_eq "after withdraw: nothing redirected" "$before_a" "$(counter inv-a redirected_bytes)"
assert_eq "after withdraw: netns gone from status" 0 "$("$OB" status --json | jq '[.netns[] | select(.name=="inv-b")] | length')"
finish
