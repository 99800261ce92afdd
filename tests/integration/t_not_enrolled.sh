#!/usr/bin/env bash
# t_not_enrolled.sh - enrolled <-> non-enrolled keeps stock TCP: the socket
# never enters the sockhash, nothing is counted (invariant 1).
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obn
W=$(mktemp -d)
trap 'ns_teardown $P 3; kill $SRV_PID 2>/dev/null; rm -rf "$W"' EXIT
ns_setup $P 3 || die "netns setup"
ob_fresh_load
"$OB" enroll --netns /run/netns/${P}1 --name ne-a >/dev/null || die "enroll"

# Both directions of the relation: enrolled server / plain client, and back.
for dir in "1 3" "3 1"; do
	set -- $dir
	start_server ${P}$1 --listen "$(ns_ip4 $P $1)" 0 --mode stream --count 2 --timeout 60
	port=$(server_port)
	# Long-lived connections: the sockhash checked while both are open,
	# mid-stream (each stops halfway until $W/go exists).
	rm -f "$W/go"
	ip netns exec ${P}$2 "$SC" client --connect "$(ns_ip4 $P $1)" "$port" --mode stream \
		--conns 2 --bytes 4194304 --max-chunk 1024 --pause-file "$W/go" --timeout 60 \
		>"$W/cl" 2>&1 &
	cpid=$!
	wait_paused "$W/cl" $cpid
	assert_eq "server ns$1 <- client ns$2: sockhash while open" 0 "$(status_field sockhash_entries)"
	touch "$W/go"
	wait $cpid || fail "client ns$2 failed: $(tail -n 2 "$W/cl")"
	wait_server
done
# Request/response with half-close through stock TCP: no spurious EAGAIN.
start_server ${P}1 --listen "$(ns_ip4 $P 1)" 0 --mode rr --timeout 120
port=$(server_port)
client ${P}3 --connect "$(ns_ip4 $P 1)" "$port" --mode rr --halfclose --rounds 100 --conns 2 --timeout 120
kill $SRV_PID 2>/dev/null; wait $SRV_PID 2>/dev/null
assert_eq "redirected bytes" 0 "$(counter ne-a redirected_bytes)"
assert_eq "tcp-path messages (sk_msg never ran)" 0 "$(counter ne-a tcp_msgs)"
assert_eq "sockets paired" 0 "$(counter ne-a paired)"
finish
