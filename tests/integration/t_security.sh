#!/usr/bin/env bash
# t_security.sh - a container that forges a connection with TCP_REPAIR
# (rootless containers hold CAP_NET_ADMIN in their own netns), copying the
# sequence numbers of a live one, never enters the sockhash and receives
# none of the bytes the server redirects to the real one; the files and pins oci-bypass creates are root's; and a
# record naming a link outside the pin directory is refused, so teardown
# removes nothing it names.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obz
T=$(mktemp -d)
CPID=
trap 'ns_teardown $P 3; kill $SRV_PID $CPID 2>/dev/null; rm -rf "$T"' EXIT
setup_enrolled $P 2 sec-a sec-b -- --trust
A=$(ns_ip4 $P 1)

# an echo server: the server sends back all the client sends
ip netns exec ${P}1 "$OB_BUILD/tests/churn" server "$A" echo >"$T/echo" 2>&1 &
SRV_PID=$!
wait_listening "$T/echo" $SRV_PID "echo server"
port=$(awk '/listening/ {print $NF}' "$T/echo")
mkfifo $T/fifo
ip netns exec ${P}2 "$OB_BUILD/tests/repair" "$A" "$port" <$T/fifo >$T/out 2>&1 &
RPID=$!
exec 9>$T/fifo
for _ in $(seq 100); do grep -q "forged socket established" $T/out && break; sleep 0.05; done
grep -q "forged socket established" $T/out && log "ok: $(head -1 $T/out)" || fail "forging failed: $(cat $T/out)"
assert_eq "only the real connection's two sockets are in the sockhash" 2 "$(status_field sockhash_entries)"
echo go >&9
exec 9>&-
wait $RPID; rc=$?
log "$(tail -1 $T/out)"
assert_eq "the real socket got its 1 MiB back, the forged one nothing" 0 $rc
assert_ge "the real connection was redirected" 1048576 "$(counter sec-b redirected_bytes)"
assert_ge "and the server's echo too" 1048576 "$(counter sec-a redirected_bytes)"
assert_eq "the forging netns paired only the real socket" 1 "$(counter sec-b paired)"
kill $SRV_PID 2>/dev/null; wait $SRV_PID 2>/dev/null

log "a record whose link leaves the pin directory"
ip netns add ${P}3 || die "ip netns add"
oci_bundle "$T/b3" /run/netns/${P}3
ip netns exec ${P}3 sleep 600 &
CPID=$!
wait_netns $CPID ${P}3
hook "$(oci_state forged creating $CPID "$T/b3")" 2>/dev/null || fail "hook: create forged"
rec=$(ls /run/oci-bypass/containers/forged-*.json 2>/dev/null)
[ -n "$rec" ] || die "no record for the container forged"
target=$T/target # /tmp/ob.../target: four ".." from the pin directory
touch "$target"
jq -c --arg l "/sys/fs/bpf/oci-bypass/../../../..$target" '.link = $l' "$rec" >"$rec.tmp" &&
	mv "$rec.tmp" "$rec" || die "jq"
out=$(hook "$(oci_state forged stopped 0 "$T/b3")" 2>&1)
assert_eq "teardown left the file the forged link names" yes "$([ -e "$target" ] && echo yes || echo no)"
grep -q "record is unreadable.*link is not /sys/fs/bpf/oci-bypass/ct-forged-" <<<"$out" &&
	log "ok: $out" || fail "teardown's message: $out"
assert_eq "the forged record is kept" yes "$([ -e "$rec" ] && echo yes || echo no)"
rm -f "$rec"
kill $CPID

log "files and pins are root-only"
bad=$(find /sys/fs/bpf/oci-bypass /run/oci-bypass \( -perm /022 -o ! -user root \) -print 2>/dev/null | grep -v '^/sys/fs/bpf/oci-bypass$')
assert_eq "nothing group- or world-writable, nothing not root's" "" "$bad"
assert_eq "pin directory mode" 700 "$(stat -c %a /sys/fs/bpf/oci-bypass)"
assert_eq "record directory mode" 700 "$(stat -c %a /run/oci-bypass)"
finish
