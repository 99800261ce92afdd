#!/usr/bin/env bash
# t_guards.sh - the guards (bpf/bypass.h, enum ob_svc_state): a service
# whose connections use what a redirect cannot give is kept on stock TCP,
# with the reason as its state, whatever probation or --trust said; a
# connection already redirected that starts using it moves to TCP, both
# ways, before the option takes effect. Seen at each place a guard must
# look: the listening socket, a socket before connect(), a connected one
# on probation and one already redirected. MSG_WAITALL and splice need
# fentry programs: where this kernel refuses them (status says which
# guards are attached), those two cases say so and are skipped.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obgd
SEM="$OB_BUILD/tests/semantics"
GP="$OB_BUILD/tests/guardprobe"
[ -x "$GP" ] || die "$GP missing (make tools)"
W=$(mktemp -d)
SPID=
trap 'ns_teardown $P 2; kill $SPID 2>/dev/null; rm -rf "$W"' EXIT
setup_enrolled $P 2 gd-srv gd-cli
A=$(ns_ip4 $P 1)
GUARDS=" $(status_field guards | jq -r '.[]' | tr '\n' ' ') "
log "guards attached:$GUARDS"
for g in rcvlowat zerocopy ktls; do
	[[ $GUARDS == *" $g "* ]] || fail "the setsockopt guard $g is not attached"
done

# svc_state PORT: the state of the server namespace's service on PORT.
svc_state() {
	"$OB" status --json | jq -r --argjson p "$1" \
		'[.services[] | select(.port == $p) | .state] | if length == 0 then "none" else .[0] end'
}
start_sem() {
	rm -f "$W/sem"
	ip netns exec ${P}1 "$SEM" server --listen "$A" 0 --timeout 60 >"$W/sem" 2>&1 &
	SPID=$!
	for _ in $(seq 100); do grep -q listening "$W/sem" && break; sleep 0.05; done
	SPORT=$(awk '/listening/ {print $NF}' "$W/sem")
	[ -n "$SPORT" ] || die "semantics server did not start: $(cat "$W/sem")"
}
stop_sem() { kill $SPID 2>/dev/null; wait $SPID 2>/dev/null; SPID=; }
sem() { ip netns exec ${P}2 "$SEM" client --connect "$A" "$SPORT" --only "$1" | cut -f2; }

# 1. A service used with the option. A first "__ping" connection passes
# the service's probation; once its service shows accelerated, the check's
# own connection is redirected (asserted) and uses the option. The guard
# moves it to TCP (the setsockopt guards act before the option does; for
# MSG_WAITALL and splice the read at hand was a redirected one, and may
# be short), and the service learns it: its next connection stays on stock
# TCP, with the answer stock TCP gives.
# STOCK_ANSWER "": whatever the first run answered.
probation_case() { # CHECK STATE STOCK_ANSWER
	local before first want=$3 moves ping
	start_sem
	assert_eq "$1: a new service is on probation" none "$(svc_state "$SPORT")"
	sem __ping >/dev/null
	for _ in $(seq 100); do [ "$(svc_state "$SPORT")" = accelerated ] && break; sleep 0.05; done
	assert_eq "$1: accelerated after one connection" accelerated "$(svc_state "$SPORT")"
	# what a run's own ping pairs, to tell the check's connection apart
	before=$(counter gd-srv paired)
	sem __ping >/dev/null
	ping=$(( $(counter gd-srv paired) - before ))
	assert_eq "$1: the ping's connection paired" 1 "$ping"
	moves=$(( $(counter gd-cli guard_moves) + $(counter gd-srv guard_moves) ))
	before=$(counter gd-srv paired)
	first=$(sem "$1")
	[ -n "$want" ] || want=$first
	log "$1: first run, paired: $first"
	assert_eq "$1: the check's own connection paired too" $((before + 2)) "$(counter gd-srv paired)"
	assert_gt "$1: the redirected connection moved (guard_moves)" "$moves" \
		"$(( $(counter gd-cli guard_moves) + $(counter gd-srv guard_moves) ))"
	assert_eq "$1: the service learned it" "$2" "$(svc_state "$SPORT")"
	before=$(counter gd-cli redirected_msgs)
	assert_eq "$1: next connection as stock" "$want" "$(sem "$1")"
	assert_eq "$1: next connection not redirected" "$before" "$(counter gd-cli redirected_msgs)"
	stop_sem
}
probation_case so_rcvlowat rcvlowat not-readable
probation_case msg_zerocopy zerocopy completion
probation_case ktls ktls "" # ulp-ok, or ENOENT where the kernel has no TLS
if [[ $GUARDS == *" waitall "* ]]; then
	probation_case msg_waitall waitall 3000
else
	log "skip: MSG_WAITALL guard: this kernel refuses fentry programs (doctor warns)"
fi
if [[ $GUARDS == *" splice "* ]]; then
	probation_case splice_from_socket splice 4096
else
	log "skip: splice guard: this kernel refuses fentry programs (doctor warns)"
fi

# 2. A healthy service is accelerated after probation (the control: the
# guards do not keep everything on TCP).
start_sem
sem blocking_read >/dev/null
before=$(counter gd-cli redirected_msgs)
assert_eq "control: blocking_read after probation" ok "$(sem blocking_read)"
assert_gt "control: its second connection redirected" "$before" "$(counter gd-cli redirected_msgs)"
assert_eq "control: its service is accelerated" accelerated "$(svc_state "$SPORT")"
stop_sem

# 3. The listening socket: SO_RCVLOWAT set on it (its accepted sockets
# inherit it) is learned at once, before any connection.
rm -f "$W/gp"
ip netns exec ${P}1 "$GP" listen "$A" 0 rcvlowat >"$W/gp" 2>&1 &
SPID=$!
for _ in $(seq 100); do grep -q listening "$W/gp" && break; sleep 0.05; done
port=$(awk '/listening/ {print $2}' "$W/gp")
[ -n "$port" ] || die "guardprobe listen: $(cat "$W/gp")"
assert_eq "listener with SO_RCVLOWAT: learned before any connection" rcvlowat "$(svc_state "$port")"
ip netns exec ${P}2 "$GP" connect "$A" "$port" none 100000 >/dev/null || fail "connect to it"
wait $SPID
SPID=
assert_eq "listener: every byte arrived" "read 100000" "$(grep read "$W/gp")"

# 4. Under --trust (no probation): a socket that sets SO_ZEROCOPY before
# connect() is not paired, and its service learns it; one that sets
# SO_RCVLOWAT once connected moves the redirected connection to TCP.
"$OB" withdraw gd-srv >/dev/null && "$OB" withdraw gd-cli >/dev/null || die "withdraw"
"$OB" enroll --netns /run/netns/${P}1 --name gd-srv --trust >/dev/null || die "enroll"
"$OB" enroll --netns /run/netns/${P}2 --name gd-cli --trust >/dev/null || die "enroll"
rm -f "$W/gp" # not the earlier server's line
ip netns exec ${P}1 "$GP" listen "$A" 0 none >"$W/gp" 2>&1 &
SPID=$!
for _ in $(seq 100); do grep -q listening "$W/gp" && break; sleep 0.05; done
port=$(awk '/listening/ {print $2}' "$W/gp")
guarded=$(counter gd-cli guarded)
ip netns exec ${P}2 "$GP" connect "$A" "$port" zerocopy 100000 >/dev/null || fail "connect with SO_ZEROCOPY"
wait $SPID
SPID=
assert_eq "SO_ZEROCOPY before connect: every byte arrived" "read 100000" "$(grep read "$W/gp")"
assert_eq "SO_ZEROCOPY before connect: not paired" 0 "$(counter gd-cli redirected_msgs)"
assert_gt "SO_ZEROCOPY before connect: counted as guarded" "$guarded" "$(counter gd-cli guarded)"
assert_eq "SO_ZEROCOPY before connect: the service learned it" zerocopy "$(svc_state "$port")"

start_sem
moves=$(( $(counter gd-cli guard_moves) + $(counter gd-srv guard_moves) ))
assert_eq "--trust: a connected socket sets SO_RCVLOWAT: as stock" not-readable "$(sem so_rcvlowat)"
assert_gt "--trust: that connection moved to TCP (guard_moves)" "$moves" \
	"$(( $(counter gd-cli guard_moves) + $(counter gd-srv guard_moves) ))"
assert_eq "--trust: its service learned it" rcvlowat "$(svc_state "$SPORT")"
stop_sem

# 5. Nothing is left behind once every socket has closed.
for _ in $(seq 50); do [ "$(status_field ledger_entries)" = 0 ] && break; sleep 0.1; done
assert_eq "no ledger entry left" 0 "$(status_field ledger_entries)"
assert_eq "no unread bytes left" 0 "$(status_field unread_bytes)"
finish
