#!/usr/bin/env bash
# t_kaddr.sh - no map that user space can read holds a kernel address
# (issue 11, item 9). The sender's bound reads its peer's psock; the peer
# socket is kept as an untrusted kptr (bpf/bypass.h: OB_HIDDEN_SK), which
# the kernel zeroes in every copy it gives user space. Every pinned map is
# dumped at the two moments such an address would sit there: a connection
# paired but not yet written to (its conn entry), and one that has
# redirected and is still open (its ledger). Any 8-byte word that looks
# like a kernel pointer (0xffff8000_00000000 up to, not including, small
# negative numbers) fails the test.
. "$(dirname "$0")/../lib/common.sh"
need_root
need_datapath
command -v bpftool >/dev/null || skip "bpftool is not installed (make deps installs it)"
P=obka
W=$(mktemp -d)
CPID= SPID=
cleanup() {
	[ -n "$CPID" ] && kill "$CPID" 2>/dev/null
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null
	rm -rf "$W"
	ns_teardown $P 2
}
trap cleanup EXIT
# --trust: the service pairs at its first connection
setup_enrolled $P 2 ka-srv ka-cli -- --trust
A1=$(ns_ip4 $P 1)
GP=$OB_BUILD/tests/guardprobe
[ -x "$GP" ] || die "$GP missing (make tools)"

# scan WHEN: dumps every pinned map, fails on a kernel address in any.
scan() {
	local m n=0 found
	: >"$W/words"
	for m in /sys/fs/bpf/oci-bypass/ob_*; do
		[ -f "$m" ] || continue
		# sk_storage cannot be walked from user space (its key is a
		# socket fd): bpftool says so and prints nothing
		bpftool map dump pinned "$m" -j 2>/dev/null >"$W/dump" || continue
		n=$((n + 1))
		# every byte array in the dump (keys, values, per-CPU values),
		# one per line, then each aligned little-endian 8-byte word
		jq -r '.. | arrays | select(length >= 8 and all(.[]; type == "string" and test("^0x")))
			| map(ltrimstr("0x")) | join(" ")' "$W/dump" |
			awk -v map="${m##*/}" '{
				for (i = 1; i + 7 <= NF; i += 8)
					if ($(i+7) == "ff" && $(i+6) == "ff" && $(i+5) >= "80" &&
					    !($(i+5) == "ff" && $(i+4) == "ff"))
						print map ": " $(i+7) $(i+6) $(i+5) $(i+4) $(i+3) $(i+2) $(i+1) $i
			}' >>"$W/words"
	done
	assert_ge "$1: pinned maps dumped" 8 "$n"
	found=$(sort -u "$W/words" | head -5 | tr '\n' ' ')
	assert_eq "$1: no kernel address in any map" "" "$found"
}

log "a connection paired, nothing written yet"
ip netns exec ${P}1 "$GP" listen "$A1" 0 none >"$W/srv" 2>&1 &
SPID=$!
wait_listening "$W/srv" $SPID
PORT=$(awk '/listening/ {print $2}' "$W/srv")
[ -n "$PORT" ] || die "no port: $(cat "$W/srv")"
hold_conn ${P}2 "$A1" "$PORT" "$W/hold"
CPID=$HOLD_PID
for _ in $(seq 40); do [ "$(status_field conn_entries)" -ge 1 ] 2>/dev/null && break; sleep 0.1; done
assert_eq "the handshake left its conn entry (client not written yet)" 1 "$(status_field conn_entries)"
scan "paired, not written"

log "the same connection redirecting, still open"
touch "$W/hold/write"
for _ in $(seq 50); do [ "$(counter ka-cli redirected_bytes)" -ge 65536 ] 2>/dev/null && break; sleep 0.1; done
assert_ge "it redirected its bytes" 65536 "$(counter ka-cli redirected_bytes)"
assert_eq "its ledger is there" 1 "$(status_field ledger_entries)"
scan "redirecting"
touch "$W/hold/close"
wait $CPID
CPID=
wait $SPID
SPID=
assert_eq "every byte arrived" "read 65536" "$(grep read "$W/srv")"
finish
