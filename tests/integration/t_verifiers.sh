#!/usr/bin/env bash
# t_verifiers.sh - the byte verifiers every "complete and in order" claim of
# the suite rests on do catch a wrong byte: streamcheck (both sides, stream
# and request/response), stall, smallstream (both sides), churn, promo
# and comeback (both sides)
# (both sides), each run once clean (it passes) and once with one byte flipped by the sender
# (streamcheck --corrupt-test, the others OB_CORRUPT_AT: tests/corrupt.h),
# where it must fail naming that byte. Stock TCP between two namespaces,
# enrolled nowhere: this tests the tests.
OB_ANY_KERNEL=1
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obvf
W=$(mktemp -d)
SPID=
trap 'kill $SPID 2>/dev/null; ns_teardown $P 2; rm -rf "$W"' EXIT
ns_setup $P 2 >/dev/null || die "netns setup"
A=$(ns_ip4 $P 1)
B=$OB_BUILD/tests
for t in streamcheck stall smallstream churn promo comeback; do [ -x "$B/$t" ] || die "$B/$t missing (make tools)"; done

# bg NAME CMD...: CMD in namespace 1, its output in $W/NAME; SPID
bg() {
	local name=$1
	shift
	ip netns exec ${P}1 "$@" >"$W/$name" 2>&1 &
	SPID=$!
}
# listening NAME: waits for the server's "listening" line (5 s at most)
listening() { wait_listening "$W/$1" "$SPID" "$1"; }
# reaped: the server's exit status (it is bounded by its own timeout)
reaped() { wait "$SPID"; local rc=$?; SPID=; return $rc; }
# expect WHAT RC OUT PATTERN: RC is a failure (- : a server killed once
# done, whose status says nothing) and OUT names the byte (PATTERN)
expect() {
	if [ "$2" != 0 ] && grep -qE -- "$4" <<<"$3"; then
		log "ok: $1: caught: $(grep -m1 -E -- "$4" <<<"$3")"
	else
		fail "$1: the flipped byte went unnoticed (exit $2): $(tail -n 3 <<<"$3")"
	fi
}

log "streamcheck"
for mode in stream rr; do
	args=(--mode $mode --conns 2 --bytes 1048576 --rounds 20 --timeout 60)
	for corrupt in none client server; do
		sflag=() cflag=()
		[ $corrupt = client ] && cflag=(--corrupt-test)
		[ $corrupt = server ] && sflag=(--corrupt-test)
		bg sc "$B/streamcheck" server --listen "$A" 0 --mode $mode --count 2 \
			--timeout 60 "${sflag[@]}"
		listening sc
		port=$(awk '/listening/ {print $NF}' "$W/sc")
		cout=$(ip netns exec ${P}2 "$B/streamcheck" client --connect "$A" "$port" "${args[@]}" \
			"${cflag[@]}" 2>&1)
		crc=$?
		kill $SPID 2>/dev/null
		reaped
		srv=$(cat "$W/sc")
		# the sender flips the byte in the middle: of the stream, or of
		# the request (response) body of the middle round
		case $mode-$corrupt in
		*-none) assert_eq "$mode: clean run passes" 0 "$crc" ;;
		stream-client) expect "stream, flipped by the client: the server" - "$srv" "mismatch at offset 524288 " ;;
		stream-server) expect "stream, flipped by the server: the client" $crc "$cout" "mismatch at offset 524288 " ;;
		rr-client) expect "rr, flipped in a request: the server" - "$srv" "request body mismatch" ;;
		rr-server) expect "rr, flipped in a response: the client" $crc "$cout" "response body mismatch" ;;
		esac
	done
done

log "stall (the server checks what the client queued)"
bg st "$B/stall" server "$A" 7401 1
listening st
ip netns exec ${P}2 "$B/stall" client "$A" 7401 3 >"$W/stc" 2>&1
reaped
assert_eq "stall: clean run passes" 0 $?
grep -q "in order" "$W/st" && log "ok: $(grep 'in order' "$W/st")" || fail "stall: $(cat "$W/st")"
bg st "$B/stall" server "$A" 7402 1
listening st
ip netns exec ${P}2 env OB_CORRUPT_AT=100000 "$B/stall" client "$A" 7402 3 >"$W/stc" 2>&1
reaped
expect "stall: byte 100000 flipped by the client" $? "$(cat "$W/st")" "wrong byte at offset 100000$"

log "smallstream (each side checks the other)"
for corrupt in none client server; do
	senv=() cenv=()
	[ $corrupt = client ] && cenv=(OB_CORRUPT_AT=70000)
	[ $corrupt = server ] && senv=(OB_CORRUPT_AT=70000)
	bg ss env "${senv[@]}" "$B/smallstream" server "$A" 7403 1
	listening ss
	cout=$(ip netns exec ${P}2 env "${cenv[@]}" "$B/smallstream" client "$A" 7403 1 --msgs 2000 2>&1)
	crc=$?
	kill $SPID 2>/dev/null
	reaped
	srv=$(cat "$W/ss")
	case $corrupt in
	none) assert_eq "smallstream: clean run passes" 0 "$crc" ;;
	client) expect "smallstream, flipped by the client: the server" - "$srv" "server: wrong byte at offset 70000$" ;;
	server) expect "smallstream, flipped by the server: the client" $crc "$cout" "client: wrong byte at offset 70000$" ;;
	esac
done

log "promo (both sides check every byte, four traffic patterns)"
bg pr "$B/promo" server "$A" 0 --timeout 30
listening pr
port=$(awk '/listening/ {print $NF}' "$W/pr")
cout=$(ip netns exec ${P}2 "$B/promo" client "$A" "$port" --conns 8 --seconds 1 2>&1)
assert_eq "promo: clean run passes" 0 $?
cout=$(ip netns exec ${P}2 "$B/promo" client "$A" "$port" --conns 8 --seconds 1 --corrupt-test 2>&1)
kill $SPID 2>/dev/null
reaped
expect "promo, flipped by the client: the server" - "$(cat "$W/pr")" "server conn 0 .*wrong byte at offset"
bg pr env OB_CORRUPT_AT=5000 "$B/promo" server "$A" 0 --timeout 30
listening pr
port=$(awk '/listening/ {print $NF}' "$W/pr")
cout=$(ip netns exec ${P}2 "$B/promo" client "$A" "$port" --conns 4 --seconds 1 2>&1)
crc=$?
kill $SPID 2>/dev/null
reaped
expect "promo, flipped by the server: the client" $crc "$cout" "client conn [0-9]+ .*wrong byte at offset 5000 "

log "comeback (each side checks the other: the stream, then requests and answers)"
for corrupt in none client server; do
	senv=() cenv=()
	[ $corrupt = client ] && cenv=(OB_CORRUPT_AT=100000)
	[ $corrupt = server ] && senv=(OB_CORRUPT_AT=1000)
	bg cb env "${senv[@]}" "$B/comeback" server "$A" 0 --stall-ms 0 --timeout 30
	listening cb
	port=$(awk '/listening/ {print $NF}' "$W/cb")
	cout=$(ip netns exec ${P}2 env "${cenv[@]}" "$B/comeback" client "$A" "$port" \
		--stream 1048576 --pace-us 0 --talk-ms 300 --rounds 20 --timeout 30 2>&1)
	crc=$?
	kill $SPID 2>/dev/null
	reaped
	case $corrupt in
	none) assert_eq "comeback: clean run passes" 0 "$crc" ;;
	client) expect "comeback: stream byte 100000 flipped by the client: the server" - \
		"$(cat "$W/cb")" "wrong byte at offset 100000 " ;;
	server) expect "comeback: answer byte 1000 flipped by the server: the client" $crc "$cout" \
		"wrong byte at offset 1000 " ;;
	esac
done

log "churn (the client checks the echo)"
bg ch "$B/churn" server "$A" echo:7404
listening ch
ip netns exec ${P}2 "$B/churn" client "$A" 7404 rr 20 2 >"$W/chc" 2>&1
assert_eq "churn: clean run passes" 0 $?
ip netns exec ${P}2 env OB_CORRUPT_AT=10 "$B/churn" client "$A" 7404 rr 20 2 >"$W/chc" 2>&1
expect "churn: byte 10 flipped by the client" $? "$(cat "$W/chc")" "wrong byte"
kill $SPID 2>/dev/null
reaped
finish
