#!/usr/bin/env bash
# t_smallstream.sh - small messages streamed back to back move to TCP and
# leave the sockhash (bypass.h: OB_SMALL_*, "Leaving"), without a byte lost
# or reordered in either direction: with redirected bytes still unread on
# the leaving socket (it must keep them), with them read first (it leaves:
# a departure), and the peer, whose next redirect misses, following. A
# blocking socket with a reader thread waiting stays redirected (that
# reader could meet the kernel's spurious EAGAIN on TCP), and small
# request/response traffic is never moved (redirecting is what makes it
# fast). Afterwards no sockhash or parking entry is left. The window in
# which 1024 small messages must come is 1 s here, not 4 ms: under qemu
# (the kernel matrix) a sender is 10 to 30 times slower, and the move, not
# the speed that triggers it, is what this test checks.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obm
SS=$OB_BUILD/tests/smallstream
[ -x "$SS" ] || die "$SS missing (make tools)"
W=$(mktemp -d)
trap 'ns_teardown $P 2; kill $SRV 2>/dev/null; rm -rf "$W"' EXIT
OB_LOAD_ARGS="--small-stream-window 1000" setup_enrolled $P 2 sm-srv sm-cli -- --trust
A=$(ns_ip4 $P 1)
assert_eq "the window reached the datapath's settings" 1000 "$(status_field small_stream_window_ms)"

# run PORT CLIENT-ARGS...: 3 connections, both sides must verify.
run() {
	local port=$1 out
	shift
	ip netns exec ${P}1 "$SS" server "$A" "$port" 3 >"$W/srv" 2>&1 &
	SRV=$!
	wait_listening "$W/srv" $SRV "smallstream server"
	out=$(timeout 120 ip netns exec ${P}2 "$SS" client "$A" "$port" 3 "$@" 2>&1) &&
		log "$(tail -n 1 <<<"$out")" || fail "client $*: $(tail -n 3 <<<"$out")"
	wait $SRV && log "$(tail -n 1 "$W/srv")" || fail "server: $(tail -n 3 "$W/srv")"
}
c() { counter sm-cli "$1"; }

log "small stream, the server's first 64 KiB still unread by the client"
run 7501
assert_eq "each connection moved to TCP" 3 "$(c small_streams)"
assert_eq "the server's redirects then missed, and it followed" 3 "$(counter sm-srv misses)"

log "small stream after reading everything (500000 messages: longer than the 200 ms grace)"
before=$(c departures)
run 7502 --read-first --msgs 500000
assert_eq "each connection moved to TCP" 6 "$(c small_streams)"
assert_eq "and the client sockets left the sockhash" $((before + 3)) "$(c departures)"

log "small stream with a reader thread blocked in recv(): stays redirected"
redir=$(c redirected_msgs)
run 7503 --reader-thread
assert_eq "nothing moved" 6 "$(c small_streams)"
assert_ge "every small message redirected" $((redir + 3 * 20000)) "$(c redirected_msgs)"

log "small request/response (16-byte bodies): stays redirected"
start_server ${P}1 --listen "$A" 7504 --mode rr --count 2 --timeout 60
client ${P}2 --connect "$A" 7504 --mode rr --conns 2 --rounds 5000 --max-chunk 16 --timeout 60
wait_server
assert_eq "nothing moved" 6 "$(c small_streams)"

assert_eq "no sockhash entry left" 0 "$(status_field sockhash_entries)"
assert_eq "no parking entry left" 0 "$(status_field parking_entries)"
assert_eq "no socket counted as redirecting" 0 "$(c sockets)"
finish
