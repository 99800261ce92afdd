#!/usr/bin/env bash
# t_redis.sh - a pool against Debian's redis-server, opened at start-up and
# kept, as application servers keep theirs: all of its connections start on
# stock TCP (the service is new), the service is learned from them while
# they stay open, promote moves them onto the redirect, and from then on
# at least 90 % of the bytes are redirected. Every reply is checked
# (tests/redispool.c: SET, GET, INCR, PING), over IPv4 and IPv6, with
# blocking and with non-blocking sockets.
. "$(dirname "$0")/../lib/common.sh"
need_root
command -v redis-server >/dev/null || skip "redis-server is not installed (make deps installs it)"
RP=$OB_BUILD/tests/redispool
[ -x "$RP" ] || die "$RP missing (make tools)"
P=obrd
W=$(mktemp -d)
RS= CL=
trap 'kill $CL $RS 2>/dev/null; wait 2>/dev/null; ns_teardown $P 2; rm -rf "$W"' EXIT
setup_enrolled $P 2 rd-srv rd-cli
need_promotion
SECS=6
[ -z "${OBK_GUEST:-}" ] || SECS=20

# pool ADDR PORT MODE: redis on ADDR:PORT (a new service), the pool of 8
# connections paused halfway, promote, the second half.
pool() {
	local addr=$1 port=$2 mode=$3 half out srv0 cli0 b_out b_in redir
	ip netns exec ${P}1 redis-server --bind "$addr" --port "$port" --save '' --appendonly no \
		--protected-mode no --daemonize no --dir "$W" >"$W/redis.$port" 2>&1 &
	RS=$!
	wait_line "$W/redis.$port" $RS "Ready to accept connections" 30 "redis-server did not start"
	rm -f "$W/go"
	ip netns exec ${P}2 "$RP" "$addr" "$port" --conns 8 --seconds $SECS --$mode \
		--pause-file "$W/go" --timeout $((SECS + 60)) >"$W/rp" 2>&1 &
	CL=$!
	wait_line "$W/rp" $CL "redispool: paused" 60 "$addr $mode: the pool did not pause"
	half=$(grep "redispool: paused" "$W/rp")
	# the premise: all 8 started on TCP, are open, and taught the service
	assert_eq "$addr $mode: the pool's connections started on TCP (probation)" 8 \
		$(($(counter rd-srv probation) - PROB0))
	assert_eq "$addr $mode: the service learned from the open pool" accelerated "$(service_state "$port")"
	out=$("$OB" promote) || fail "promote: $out"
	log "$out"
	assert_eq "$addr $mode: both sockets of each connection put in" 16 \
		"$(sed -n 's/.* \([0-9]*\) socket(s) put in.*/\1/p' <<<"$out")"
	srv0=$(counter rd-srv redirected_bytes) cli0=$(counter rd-cli redirected_bytes)
	touch "$W/go"
	wait $CL && log "$(tail -n 1 "$W/rp")" || fail "$addr $mode: redispool: $(tail -n 3 "$W/rp")"
	CL=
	kill $RS; wait $RS 2>/dev/null; RS=
	b_out=$(($(sed -n 's/.*ok .* bytes_out=\([0-9]*\) .*/\1/p' "$W/rp") - $(sed -n 's/.* bytes_out=\([0-9]*\) .*/\1/p' <<<"$half")))
	b_in=$(($(sed -n 's/.*ok .* bytes_in=\([0-9]*\) .*/\1/p' "$W/rp") - $(sed -n 's/.* bytes_in=\([0-9]*\)$/\1/p' <<<"$half")))
	redir=$(($(counter rd-srv redirected_bytes) - srv0 + $(counter rd-cli redirected_bytes) - cli0))
	log "$addr $mode: after the promotion $redir of $((b_out + b_in)) bytes redirected; directions switched: $("$OB" status --json | jq -r --argjson p "$port" '[.services[] | select(.port == $p) | .promoted] | first')"
	assert_ge "$addr $mode: at least 90 % of the bytes after the promotion redirected" \
		$(((b_out + b_in) * 9 / 10)) "$redir"
	PROB0=$(counter rd-srv probation)
}
PROB0=$(counter rd-srv probation)
pool "$(ns_ip4 $P 1)" 6379 blocking
pool "$(ns_ip4 $P 1)" 6380 nonblocking
pool "$(ns_ip6 $P 1)" 6381 blocking
finish
