#!/usr/bin/env bash
# t_full.sh - a full sockhash: new connections stay on stock TCP, are
# counted, and nothing fails (load --max-sockets 4: room for two pairs).
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obfl
W=$(mktemp -d)
trap 'ns_teardown $P 2; kill $SRV_PID 2>/dev/null; "$OB" unload --wait 5 >/dev/null 2>&1; rm -rf "$W"' EXIT
ns_setup $P 2 >/dev/null || die "netns setup"
"$OB" unload --wait 5 >/dev/null 2>&1
"$OB" load --max-sockets 4 >/dev/null || die "load --max-sockets"
# quotas larger than the tables: a namespace's default is a quarter of
# them (one socket here), and this test is about the table itself (with
# six connections at once, a quota of 4 conn entries is reached too, and
# those count as over_quota)
Q=(--max-sockets 64 --max-conns 64)
"$OB" enroll --netns /run/netns/${P}1 --name full-a --trust "${Q[@]}" >/dev/null || die "enroll a"
"$OB" enroll --netns /run/netns/${P}2 --name full-b --trust "${Q[@]}" >/dev/null || die "enroll b"
A=$(ns_ip4 $P 1)
# bounds for a TCG guest: 6.1 under qemu moves these 768 MiB in about a minute
start_server ${P}1 --listen "$A" 0 --mode stream --count 6 --timeout 300
port=$(server_port)
# every stream stops halfway until $W/go exists: the count is read while
# all six are open, whatever the machine's speed
ip netns exec ${P}2 "$SC" client --connect "$A" "$port" --mode stream --conns 6 \
	--bytes 67108864 --max-chunk 4096 --pause-file "$W/go" --timeout 300 >"$W/cl" 2>&1 &
cpid=$!
wait_paused "$W/cl" $cpid
assert_eq "sockhash at its size while six connections stream" 4 "$(status_field sockhash_entries)"
touch "$W/go"
wait $cpid && log "$(tail -n 1 "$W/cl")" || fail "client: $(tail -n 2 "$W/cl")"
wait_server
# Each of the other four connections is counted once: as full, or, when
# its client wrote before the server side was established (and the server
# never got to try the full sockhash), as client_first; which one is timing.
sum() { echo $(($(counter full-a "$1") + $(counter full-b "$1"))); }
log "full $(sum full), client_first $(sum client_first), refused $(sum refused), misses $(sum misses), promoted $(sum promoted)"
assert_eq "connections that stayed on TCP, each counted once" 4 \
	"$(($(sum full) + $(sum client_first) + $(sum refused)))"
assert_eq "none over a quota" 0 "$(sum over_quota)"
assert_eq "two pairs redirected" 4 "$(($(counter full-a paired) + $(counter full-b paired)))"
finish
