#!/usr/bin/env bash
# t_families.sh - two enrolled netns on a bridge, IPv4, IPv6 and v4-mapped:
# every byte arrives, in order, and took the shortcut (invariants 2, 6).
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obf
trap 'ns_teardown $P 3; kill $SRV_PID 2>/dev/null' EXIT
ns_setup $P 3 || die "netns setup"
ob_fresh_load
"$OB" enroll --netns /run/netns/${P}1 --name fam-a >/dev/null || die "enroll a"
"$OB" enroll --netns /run/netns/${P}2 --name fam-b >/dev/null || die "enroll b"

BYTES=2097152 CONNS=4
run_case() { # label listen-addr connect-addr
	local before_a before_b after_a after_b
	before_a=$(counter fam-a redirected_bytes)
	before_b=$(counter fam-b redirected_bytes)
	start_server ${P}1 --listen "$2" 0 --mode stream --count $((CONNS + 1)) --timeout 60
	local port
	port=$(server_port)
	warm_up ${P}2 "$3" "$port"
	before_a=$(counter fam-a redirected_bytes)
	before_b=$(counter fam-b redirected_bytes)
	client ${P}2 --connect "$3" "$port" --mode stream --conns $CONNS --bytes $BYTES --timeout 60
	wait_server
	after_a=$(counter fam-a redirected_bytes)
	after_b=$(counter fam-b redirected_bytes)
	# Each side sent BYTES per connection plus a small header (client).
	assert_ge "$1: bytes redirected from server netns" $((BYTES * CONNS)) $((after_a - before_a))
	assert_ge "$1: bytes redirected from client netns" $((BYTES * CONNS)) $((after_b - before_b))
}

run_case ipv4 "$(ns_ip4 $P 1)" "$(ns_ip4 $P 1)"
run_case ipv6 "$(ns_ip6 $P 1)" "$(ns_ip6 $P 1)"
run_case v4-mapped :: "$(ns_ip4 $P 1)"

assert_eq "no TCP-path messages between paired sockets" 0 $(($(counter fam-a tcp_msgs) + $(counter fam-b tcp_msgs)))
assert_eq "no redirect misses" 0 $(($(counter fam-a misses) + $(counter fam-b misses)))
sleep 0.2
assert_eq "sockhash empty once connections closed" 0 "$(status_field sockhash_entries)"
assert_eq "conn table empty once connections closed" 0 "$(status_field conn_entries)"
assert_eq "live socket gauge back to 0" 0 $(($(counter fam-a sockets) + $(counter fam-b sockets)))
finish
