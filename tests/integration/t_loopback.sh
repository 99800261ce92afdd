#!/usr/bin/env bash
# t_loopback.sh - client and server in the same enrolled netns, over
# 127.0.0.1 and ::1: redirected, complete and in order.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obl
trap 'ns_teardown $P 1; kill $SRV_PID 2>/dev/null' EXIT
setup_enrolled $P 1 lo-a
for addr in 127.0.0.1 ::1; do
	start_server ${P}1 --listen $addr 0 --mode stream --count 5 --timeout 60
	port=$(server_port)
	warm_up ${P}1 $addr "$port"
	before=$(counter lo-a redirected_bytes)
	client ${P}1 --connect $addr "$port" --mode stream --conns 4 --bytes 2097152 --timeout 60
	wait_server
	assert_ge "$addr: redirected bytes (both directions)" $((2 * 4 * 2097152)) $(($(counter lo-a redirected_bytes) - before))
done
assert_eq "tcp-path messages" 0 "$(counter lo-a tcp_msgs)"
finish
