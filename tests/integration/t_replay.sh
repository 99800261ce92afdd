#!/usr/bin/env bash
# t_replay.sh - the TCP option cannot be forged or replayed (bpf/bypass.h:
# ob_syn_mac(), ob_seal()). A server in a namespace that is not enrolled
# answers an enrolled client's SYN with an option it did not make: first
# the client's own SYN option echoed back, then the option of a genuine
# SYN-ACK from an enrolled server of this host, recorded from an earlier
# connection (tests/bpf/replay.bpf.c, sock_ops on a cgroup of its own).
# Either way the client must stay on stock TCP, every byte must arrive,
# and nothing may be left in the datapath's tables: no connection entry,
# no ledger, no sockhash entry, no service learned, nothing counted as
# paired. Then SYNs made by hand (tests/synprobe.c) towards the enrolled
# server: a probe with an option of our kind it did not make gets a
# SYN-ACK like a plain SYN's, without option space; a genuine client's SYN
# (ISN and option, recorded by the same program, mode 2) replayed from
# another address, as a relay that aligns sequence numbers would, gets the
# same; replayed from the client's own address it gets our option, with
# flags that read differently each time (masked), and in no case does a
# service entry appear or a quota move.
. "$(dirname "$0")/../lib/common.sh"
need_root
command -v bpftool >/dev/null || skip "bpftool is not installed (make deps installs it)"
OBJ=$OB_BUILD/tests/replay.bpf.o
GP=$OB_BUILD/tests/guardprobe
[ -f "$OBJ" ] && [ -x "$GP" ] || die "$OBJ or $GP missing (make tools)"
P=obrp
CGROOT=$(cgroup2_root)
[ -n "$CGROOT" ] || skip "no cgroup2 mount"
CG=$CGROOT/obrp-replayer
PIN=/sys/fs/bpf/obrp-replayer
W=$(mktemp -d)
SPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null
	bpftool cgroup detach "$CG" sock_ops pinned $PIN/rp_sockops 2>/dev/null
	rm -rf $PIN "$W"
	sleep 0.2
	rmdir "$CG" 2>/dev/null
	ns_teardown $P 3
}
trap cleanup EXIT
# 1 the genuine server (--trust: its service pairs at once), 2 the client,
# 3 the replayer, not enrolled.
setup_enrolled $P 3 rp-srv rp-cli -- --trust
rm -rf $PIN
mkdir -p "$CG"
bpftool prog loadall "$OBJ" $PIN pinmaps $PIN/maps || die "bpftool prog loadall"
bpftool cgroup attach "$CG" sock_ops pinned $PIN/rp_sockops multi || die "attach sock_ops"
# in_cg CMD...: CMD inside the replayer's cgroup.
in_cg() { sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$@"; }
u32le() { printf '%02x %02x %02x %02x' $(($1 & 255)) $(($1 >> 8 & 255)) 0 0; }
# first_byte MAP: the first byte of entry 0's value, as a number.
first_byte() {
	local b
	b=$(bpftool map lookup pinned "$PIN/maps/$1" key 0 0 0 0 -j | jq -r '.value[0]')
	[[ $b =~ ^0x[0-9a-f]+$ ]] && echo $((b)) || echo none
}

# serve NETNS [in_cg]: guardprobe listens, one connection; sets PORT.
serve() {
	local ns=$1
	shift
	rm -f "$W/srv" # not an earlier server's line
	"$@" ip netns exec "$ns" "$GP" listen "$(ns_ip4 $P "${ns#$P}")" 0 none >"$W/srv" 2>&1 &
	SPID=$!
	for _ in $(seq 100); do grep -qs listening "$W/srv" && break; sleep 0.05; done
	PORT=$(awk '/listening/ {print $2}' "$W/srv")
	[ -n "$PORT" ] || die "server did not start: $(cat "$W/srv")"
}
# send NETNS_IP PORT: the client (enrolled, in the cgroup) sends 100000 bytes.
send() {
	in_cg ip netns exec ${P}2 "$GP" connect "$1" "$2" none 100000 >/dev/null ||
		fail "client to $1:$2"
	wait $SPID
	SPID=
	assert_eq "every byte arrived at $1" "read 100000" "$(grep read "$W/srv")"
}
tables() {
	"$OB" status --json | jq -c '{conn_entries, ledger_entries, sockhash_entries,
		services: [.services[] | "\(.netns):\(.port):\(.state)"]}'
}

log "a genuine connection to the enrolled server, its SYN-ACK option recorded"
serve ${P}1
send "$(ns_ip4 $P 1)" "$PORT"
assert_gt "it was redirected" 0 "$(counter rp-cli redirected_msgs)"
assert_eq "a genuine option was recorded (kind 254)" 254 "$(first_byte rp_recorded)"
for _ in $(seq 50); do [ "$(status_field ledger_entries)" = 0 ] && break; sleep 0.1; done
before=$(tables)
paired=$(counter rp-cli paired)
log "tables before: $before"

A3=$(ns_ip4 $P 3)
for mode in 0 1; do
	what=$([ $mode = 0 ] && echo "the client's own SYN option echoed" || echo "a recorded genuine SYN-ACK option replayed")
	log "replayer: $what"
	bpftool map update pinned $PIN/maps/rp_mode key 0 0 0 0 value $(u32le $mode) || die "rp_mode"
	sent=$(first_byte rp_sent)
	serve ${P}3 in_cg
	send "$A3" "$PORT"
	assert_gt "the replayer put its option in a SYN-ACK (else this proves nothing)" "$sent" \
		"$(first_byte rp_sent)"
	assert_eq "$what: nothing paired" "$paired" "$(counter rp-cli paired)"
	for _ in $(seq 20); do [ "$(tables)" = "$before" ] && break; sleep 0.1; done
	assert_eq "$what: no entry left, no service learned" "$before" "$(tables)"
done

SP=$OB_BUILD/tests/synprobe
[ -x "$SP" ] || die "$SP missing (make tools)"
A1=$(ns_ip4 $P 1) A2=$(ns_ip4 $P 2)
# probe NETNS SRC PORT SEQ [OPTHEX]: a SYN by hand to the enrolled server
probe() {
	local ns=$1 src=$2
	shift 2
	ip netns exec "$ns" "$SP" "$src" "$A1" "$@" || fail "synprobe from $src: $*"
}
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
svc_used() { "$OB" status --json | jq -r '.netns[] | select(.name == "rp-srv") | .quota.services.used'; }
has_service() { "$OB" status --json | jq -r --argjson p "$1" '[.services[] | select(.port == $p)] | length'; }

log "probes: SYNs with an option of our kind that this host did not make"
serve ${P}1
plain=$(probe ${P}3 "$A3" "$PORT" 1000)
log "a plain SYN: $plain"
for value in 0000000000000000 "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"; do
	out=$(probe ${P}3 "$A3" "$PORT" 1001 "fe0f4f42${value}000000")
	assert_eq "probe $value: no option in the SYN-ACK" no "$(field opt "$out")"
	assert_eq "probe $value: no option space either (the header of a plain SYN's SYN-ACK)" \
		"$(field hdr "$plain")" "$(field hdr "$out")"
done
kill $SPID 2>/dev/null
wait $SPID 2>/dev/null
SPID=

log "a genuine client's SYN, recorded where the server got it"
bpftool map update pinned $PIN/maps/rp_mode key 0 0 0 0 value $(u32le 2) || die "rp_mode"
serve ${P}1 in_cg
send "$A1" "$PORT"
rec=$(bpftool map lookup pinned $PIN/maps/rp_syn key 0 0 0 0 -j | jq -r '.value | map(.[2:]) | join("")')
SEQ=$((16#${rec:6:2}${rec:4:2}${rec:2:2}${rec:0:2}))
OPT=${rec:8:30}
[ "${OPT:0:8}" = fe0f4f42 ] || die "no option recorded: $rec"
log "recorded: ISN $SEQ, option $OPT"
services0=$(svc_used)
serve ${P}1 # a port with no service yet
assert_eq "a new port, no service yet" 0 "$(has_service "$PORT")"

log "replayed from another address (a relay aligning sequence numbers)"
out=$(probe ${P}3 "$A3" "$PORT" $SEQ "$OPT")
assert_eq "relayed: no option in the SYN-ACK" no "$(field opt "$out")"
assert_eq "relayed: no option space" "$(field hdr "$plain")" "$(field hdr "$out")"

log "replayed from the client's own address"
flags=()
for i in 1 2 3 4; do
	out=$(probe ${P}2 "$A2" "$PORT" $SEQ "$OPT")
	assert_eq "replay $i: the SYN's MAC verifies, our option answers" yes "$(field opt "$out")"
	flags+=("$(field flags "$out")")
done
log "the SYN-ACKs' flags bytes: ${flags[*]} (PAIR, unmasked, is 0x01)"
distinct=$(printf '%s\n' "${flags[@]}" | sort -u | wc -l)
[ "$distinct" -gt 1 ] || [ "${flags[0]}" != 0x01 ] && log "ok: the flags do not read as they are" ||
	fail "the flags read in clear: ${flags[*]}"
assert_eq "no service entry from SYNs that never completed" 0 "$(has_service "$PORT")"
assert_eq "the namespace's services quota unmoved" "$services0" "$(svc_used)"
kill $SPID 2>/dev/null
wait $SPID 2>/dev/null
SPID=
finish
