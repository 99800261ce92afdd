#!/usr/bin/env bash
# t_comeback.sh - moves that come back (bypass.h, "Moves that come back"):
# a paired connection whose sender was pushed back onto TCP (its reader
# stalled) is not on TCP for good. Both of its sockets leave the
# sockhashes, become promotable, and `oci-bypass promote` brings them
# back onto the redirect at a quiescent moment; every byte is checked in
# order both ways (tests/comeback.c), without a spurious EAGAIN. The same
# connection with a guard seen while it was on TCP (SO_RCVLOWAT) stays
# on TCP for good.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obcb
W=$(mktemp -d)
SRV= CL=
trap 'kill $SRV $CL 2>/dev/null; ns_teardown $P 2; rm -rf "$W"' EXIT
setup_enrolled $P 2 cb-srv cb-cli -- --trust
need_promotion
A=$(ns_ip4 $P 1)
CB=$OB_BUILD/tests/comeback
svc() { "$OB" status --json | jq -r --argjson p "$1" "[.services[] | select(.port == \$p) | .$2] | first // 0"; }
promotable() {
	"$OB" status --json |
		jq -r '[.netns[] | select(.name == "cb-srv" or .name == "cb-cli") | .promotable] | map(tostring) | join(" ")'
}

# run LABEL [CLIENT ARGS...]: one connection, paired at its handshake;
# its client streams 8 MiB while the server stalls 500 ms, then talks
# request/response for 2 s and pauses (promote runs), then 300 rounds
# more. Sets PROMOTABLE (before promote), PUT (sockets promote put back),
# REQ and RESP (messages redirected after it), MISSES (the server's
# redirects that missed), GUARD_MOVES, PORT.
run() {
	local label=$1 paired0 pb0 miss0 gm0 req0 resp0 out
	shift
	rm -f "$W/go"
	ip netns exec ${P}1 "$CB" server "$A" 0 --stall-ms 500 --timeout 120 >"$W/$label.srv" 2>&1 &
	SRV=$!
	wait_listening "$W/$label.srv" $SRV "comeback server"
	PORT=$(awk '/listening/ {print $NF}' "$W/$label.srv")
	paired0=$(counter cb-cli paired) pb0=$(counter cb-cli pushbacks) miss0=$(counter cb-srv misses)
	gm0=$(counter cb-cli guard_moves)
	ip netns exec ${P}2 "$CB" client "$A" "$PORT" --stream $((8 << 20)) --pace-us 5000 \
		--talk-ms 2000 --rounds 300 --pause-file "$W/go" --timeout 120 "$@" >"$W/$label.cl" 2>&1 &
	CL=$!
	wait_paused "$W/$label.cl" $CL
	log "$label: $(cat "$W/$label.cl")"
	# the premises: the connection paired at its handshake, its client
	# was pushed back while the server stalled, and both sockets have left
	assert_eq "$label: paired at the handshake" 1 $(($(counter cb-cli paired) - paired0))
	assert_eq "$label: the client's direction pushed back onto TCP" 1 \
		$(($(counter cb-cli pushbacks) - pb0))
	MISSES=$(($(counter cb-srv misses) - miss0)) GUARD_MOVES=$(($(counter cb-cli guard_moves) - gm0))
	assert_eq "$label: both sockets out of both sockhashes" "0 0" \
		"$(status_field sockhash_entries) $(status_field parking_entries)"
	PROMOTABLE=$(promotable)
	out=$("$OB" promote) || fail "$label: promote: $out"
	log "$label: $out"
	PUT=$(sed -n 's/.* \([0-9]*\) socket(s) put in.*/\1/p' <<<"$out")
	req0=$(counter cb-cli redirected_msgs) resp0=$(counter cb-srv redirected_msgs)
	touch "$W/go"
	wait $CL && log "$label: $(tail -n 1 "$W/$label.cl")" ||
		fail "$label: client: $(tail -n 3 "$W/$label.cl")"
	CL=
	wait $SRV && log "$label: $(tail -n 1 "$W/$label.srv")" ||
		fail "$label: server: $(tail -n 3 "$W/$label.srv")"
	SRV=
	REQ=$(($(counter cb-cli redirected_msgs) - req0)) RESP=$(($(counter cb-srv redirected_msgs) - resp0))
	log "$label: after the pause $REQ requests and $RESP answers redirected, of 300 each"
}

# the end of each run: nothing left behind
clean() {
	for _ in $(seq 50); do [ "$(status_field ledger_entries)" = 0 ] && break; sleep 0.1; done
	assert_eq "$1: no ledger entry left" 0 "$(status_field ledger_entries)"
	assert_eq "$1: nothing left charged" 0 "$(status_field unread_bytes)"
	assert_eq "$1: nothing promotable left" "0 0" "$(promotable)"
}

log "pushed back, then quiet for a moment: back onto the redirect"
run back
assert_eq "back: the server's direction followed at its first answer (a miss)" 1 "$MISSES"
assert_eq "back: both sockets promotable again" "1 1" "$PROMOTABLE"
assert_eq "back: promote put both back" 2 "$PUT"
# the first round each way goes by TCP (invariant 3: the peer must have
# read something since it was put back)
assert_ge "back: the requests came back onto the redirect" 250 "$REQ"
assert_ge "back: and the answers" 250 "$RESP"
assert_eq "back: both directions switched (promoted)" 2 "$(svc "$PORT" promoted)"
clean back

GUARDS=" $(status_field guards | jq -r '.[]' | tr '\n' ' ') "
if [[ $GUARDS == *" rcvlowat "* ]]; then
	log "the same, with SO_RCVLOWAT set while on TCP (a guard): on TCP for good"
	run guard --rcvlowat 2
	assert_eq "guard: the guard moved both directions" 1 "$GUARD_MOVES"
	assert_eq "guard: the service learned it" rcvlowat "$(service_state "$PORT")"
	assert_eq "guard: neither socket promotable" "0 0" "$PROMOTABLE"
	assert_eq "guard: promote put none back" 0 "$PUT"
	assert_eq "guard: nothing redirected after the pause" "0 0" "$REQ $RESP"
	clean guard
else
	log "SKIP (part): the setsockopt guard rcvlowat is not attached here"
fi
finish
