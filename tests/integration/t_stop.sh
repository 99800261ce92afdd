#!/usr/bin/env bash
# t_stop.sh - containers stopped while their accelerated connections flow
# (runc, the hook at createRuntime and poststop). A client container killed
# mid-stream: the other containers' streams, open at that moment, finish
# complete and in order. A server container killed mid-stream: its client
# gets an error, as with stock TCP, instead of hanging. Afterwards nothing
# is left: no record, no enrolment, no sockhash or connection entry.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obst
container_test $P 6 runc jq
policy_set 'allow-trust = true' # the trust annotation needs the host's leave

# ct ID NETNS-INDEX ARGS...: a runc container with the hook (trusted: no
# probation) running `streamcheck ARGS...` as its process.
ct() {
	local id=$P-$1 n=$2
	shift 2
	CT_ARGS=$(printf '%s\n' /bin/streamcheck "$@" | jq -Rsc 'split("\n")[:-1]') \
		CT_ANNOTATIONS='{"io.oci-bypass.trust":"true"}' \
		ct_bundle "$WORK/$id" $id /run/netns/$P$n "$OB" hook || die "bundle $id"
	ct_run runc $id "$WORK/$id" || die "$id did not start"
}
running() { [ "$(ct_status runc $P-$1 2>/dev/null)" = running ]; }

log "a client container killed while another container's streams run"
ct srv 1 server --listen 0.0.0.0 7801 --count 4 --timeout 120
ct victim-srv 2 server --listen 0.0.0.0 7802 --timeout 120
ct_wait_output $P-srv listening 10 || die "server not listening"
ct_wait_output $P-victim-srv listening 10 || die "second server not listening"
# 256 MiB streams: a consumer cannot fall further behind than the bound
# (OB_INGRESS_MAX_BLOCKING, unless tcp_mem lowers it), so these stay
# redirected from end to end.
ct cli 3 client --connect "$(ns_ip4 $P 1)" 7801 --conns 4 --bytes 256m --timeout 120
ct victim 4 client --connect "$(ns_ip4 $P 2)" 7802 --conns 2 --bytes 64g --timeout 120
for _ in $(seq 100); do
	[ "$(counter "$(name12 $P-victim)" redirected_bytes)" -gt $((64 << 20)) ] &&
		[ "$(counter "$(name12 $P-cli)" redirected_bytes)" -gt $((64 << 20)) ] && break
	sleep 0.05
done
assert_gt "the victim's streams are accelerated" $((64 << 20)) "$(counter "$(name12 $P-victim)" redirected_bytes)"
running cli && log "ok: the other client is mid-stream" || fail "the other client finished too early"
ct_kill_rm runc $P-victim || fail "kill the victim"
assert_eq "the victim's enrolment is withdrawn" "" \
	"$("$OB" status --json | jq -r --arg n "$(name12 $P-victim)" '.netns[] | select(.name == $n) | .name')"
ct_wait_output $P-cli 'streamcheck: (ok|FAIL)' 90 || fail "the other client did not finish"
grep -q 'streamcheck: ok mode=stream conns=4' <<<"$(ct_output $P-cli)" &&
	log "ok: $(grep 'streamcheck: ok' <<<"$(ct_output $P-cli)")" ||
	fail "the other client: $(tail -n 3 <<<"$(ct_output $P-cli)")"
ct_wait_output $P-srv 'server (ok|FAIL)' 30 || fail "its server did not finish"
grep -q 'server ok' <<<"$(ct_output $P-srv)" && log "ok: its server verified both streams" ||
	fail "its server: $(tail -n 3 <<<"$(ct_output $P-srv)")"
# (a connection whose client wrote before its server side was established
# runs on TCP from the start: client_first, a matter of timing)
paired=$(counter "$(name12 $P-cli)" paired)
assert_ge "streams paired" 1 "$paired"
assert_ge "those streams were redirected from end to end" $((paired << 28)) "$(counter "$(name12 $P-cli)" redirected_bytes)"
assert_eq "and never moved to TCP" 0 "$(( $(counter "$(name12 $P-cli)" overflows) + $(counter "$(name12 $P-srv)" overflows) ))"

log "a server container killed mid-stream: its client gets an error, not a hang"
ct srv2 5 server --listen 0.0.0.0 7803 --timeout 120
ct_wait_output $P-srv2 listening 10 || die "server 2 not listening"
ct cli2 6 client --connect "$(ns_ip4 $P 5)" 7803 --conns 2 --bytes 64g --timeout 60
for _ in $(seq 100); do
	[ "$(counter "$(name12 $P-cli2)" redirected_bytes)" -gt $((64 << 20)) ] && break
	sleep 0.05
done
assert_gt "the client's streams are accelerated" $((64 << 20)) "$(counter "$(name12 $P-cli2)" redirected_bytes)"
t0=$(date +%s%N)
ct_kill_rm runc $P-srv2 || fail "kill the server"
ct_wait_output $P-cli2 'streamcheck: (FAIL|timeout)' 30 || fail "the client neither failed nor timed out"
out=$(ct_output $P-cli2)
if grep -q 'timeout after' <<<"$out"; then
	fail "the client hung: $(tail -n 2 <<<"$out")"
else
	log "ok: the client failed $(( ($(date +%s%N) - t0) / 1000000 )) ms after: $(grep -m1 -E 'Connection reset|Broken pipe|EOF|ECONN' <<<"$out")"
fi

for c in srv victim-srv cli cli2; do ct_kill_rm runc $P-$c >/dev/null 2>&1; done
assert_eq "no container left in status" 0 "$("$OB" status --json | jq '.containers | length')"
assert_eq "no netns left enrolled" 0 "$("$OB" status --json | jq '.netns | length')"
assert_eq "no record left" 0 "$(ls /run/oci-bypass/containers | wc -l)"
assert_eq "no sockhash entry left" 0 "$(status_field sockhash_entries)"
assert_eq "no connection entry left" 0 "$(status_field conn_entries)"
finish
