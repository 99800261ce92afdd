#!/usr/bin/env bash
# t_restart.sh - verdicts outlive a container (issue 19, item 4). A server
# container whose services were learned (one accelerated, one a half-closer
# kept on stock TCP) is stopped: its teardown keeps the verdicts, status
# lists them. Started again (runc: the same id and bundle; podman: podman
# stop, podman start, which gives it a new netns), both verdicts are back
# before any connection, and its client's first connection is redirected.
# Another container on the same ports inherits nothing: its first
# connection stays on stock TCP. forget drops what is kept, by container.
# podman, with an image: what a container of it learned is kept for the
# image as well, and a new container of that image starts with it; a
# container of another image on the same ports inherits nothing.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obr
container_test $P 3 runc podman jq
VD=/var/lib/oci-bypass/verdicts
GOOD=7311 HALF=7312

# kept ID: the kept verdicts of container ID, "port state" sorted, one line.
kept() {
	"$OB" status --json | jq -r --arg id "$1" \
		'[.kept_verdicts[] | select(.id == $id) | .services[] | "\(.port) \(.state)"] | sort | join(", ")'
}
# svc PORT: the state of the service on PORT of the netns named NAME.
svc() {
	"$OB" status --json | jq -r --argjson p "$2" --arg n "$1" \
		'[.services[] | select(.port == $p and .netns == $n) | .state] | first // "none"'
}
server_cmd() { # the two servers of the container, as one JSON argv
	jq -cn --arg g $GOOD --arg h $HALF '["/bin/sh","-c",
		"/bin/streamcheck server --listen 0.0.0.0 \($h) --mode rr --count 100 --timeout 120 & exec /bin/streamcheck server --listen 0.0.0.0 \($g) --server-first --count 100 --timeout 120"]'
}
# learn IP CMD...: the client's first connections (CMD runs a command in
# the client container): three half-closing ones, one that is not.
learn() {
	local ip=$1
	shift
	"$@" /bin/streamcheck client --connect "$ip" $HALF --mode rr --halfclose --rounds 3 --conns 1 \
		--timeout 60 >/dev/null || fail "half-closing client"
	"$@" /bin/streamcheck client --connect "$ip" $GOOD --server-first --conns 1 --bytes 1024 \
		--timeout 60 >/dev/null || fail "warm-up client"
}
# first_conn NAME IP CMD...: the bytes redirected from client NAME (its
# netns's name) by one connection of 1 MiB to the accelerated port. The
# server writes first (--server-first) so that no client writes before
# its server's side is established: such a connection would start on TCP
# (client_first) for reasons that are not the claim here.
first_conn() {
	local name=$1 ip=$2 before
	shift 2
	before=$(counter "$name" redirected_bytes)
	"$@" /bin/streamcheck client --connect "$ip" $GOOD --server-first --conns 1 --bytes 1048576 \
		--timeout 60 >/dev/null || fail "client of $ip"
	echo $(($(counter "$name" redirected_bytes) - before))
}
wait_state() { # NAME PORT STATE
	for _ in $(seq 150); do [ "$(svc "$1" "$2")" = "$3" ] && return 0; sleep 0.02; done
	return 1
}

# ---- runc: the same id and bundle, in the same netns ----
SRV=$P-srv CLI=$P-cli OTHER=$P-other
"$OB" forget $SRV >/dev/null 2>&1
"$OB" forget $OTHER >/dev/null 2>&1
IP=$(ns_ip4 $P 1)
CT_ARGS=$(server_cmd) ct_bundle "$WORK/$SRV" $SRV /run/netns/${P}1 "$OB" hook || die "bundle"
CT_ARGS=$(server_cmd) ct_bundle "$WORK/$OTHER" $OTHER /run/netns/${P}1 "$OB" hook || die "bundle"
ct_bundle "$WORK/$CLI" $CLI /run/netns/${P}2 "$OB" hook || die "bundle"
ct_run runc $CLI "$WORK/$CLI" || die "runc client"
ct_run runc $SRV "$WORK/$SRV" || die "runc server"
ct_wait_output $SRV listening 10 || die "runc server not listening"
learn "$IP" ct_exec runc $CLI
wait_state $SRV $GOOD accelerated || fail "runc: $GOOD not learned: $(svc $SRV $GOOD)"
assert_eq "runc: $HALF learned as a half-closer" halfclose "$(svc $SRV $HALF)"

log "runc: the server stops; its teardown keeps what was learned"
ct_kill_rm runc $SRV >/dev/null || die "runc kill"
assert_eq "runc: kept, listed in status" "$GOOD accelerated, $HALF halfclose" "$(kept $SRV)"
key=$("$OB" status --json | jq -r --arg id $SRV '.kept_verdicts[] | select(.id == $id) | .key')
assert_eq "runc: its file, root's only" "600 0" "$(stat -c '%a %u' "$VD/$key.json")"
assert_eq "runc: its services left with its netns" none "$(svc $SRV $GOOD)"

log "runc: started again, the same id and bundle"
ct_run runc $SRV "$WORK/$SRV" || die "runc server, again"
ct_wait_output $SRV listening 10 || die "runc server not listening again"
assert_eq "runc: $GOOD accelerated before any connection" accelerated "$(svc $SRV $GOOD)"
assert_eq "runc: $HALF still a half-closer" halfclose "$(svc $SRV $HALF)"
assert_ge "runc: the client's first connection redirected" 1048576 \
	"$(first_conn $CLI "$IP" ct_exec runc $CLI)"

log "runc: another container on the same ports inherits nothing"
ct_kill_rm runc $SRV >/dev/null || die "runc kill"
ct_run runc $OTHER "$WORK/$OTHER" || die "runc other server"
ct_wait_output $OTHER listening 10 || die "runc other server not listening"
assert_eq "runc: nothing kept for it" "" "$(kept $OTHER)"
assert_eq "runc: its first connection stays on stock TCP" 0 \
	"$(first_conn $CLI "$IP" ct_exec runc $CLI)"
ct_kill_rm runc $OTHER >/dev/null
assert_eq "runc: what it learned is its own" "$GOOD accelerated" "$(kept $OTHER)"
assert_eq "runc: the first one's kept as they were" "$GOOD accelerated, $HALF halfclose" "$(kept $SRV)"

log "forget"
out=$("$OB" forget $SRV) || fail "forget $SRV: $out"
assert_eq "forget: says what it dropped" "oci-bypass: forgot the verdicts kept for 1 container" "$out"
assert_eq "forget: gone from status" "" "$(kept $SRV)"
assert_eq "forget: the other kept" "$GOOD accelerated" "$(kept $OTHER)"
out=$("$OB" forget $SRV 2>&1) && fail "forget of nothing succeeded: $out"
grep -q "no verdicts are kept for '$SRV'" <<<"$out" && log "ok: forget of nothing: $out" || fail "forget of nothing: $out"
out=$("$OB" forget ../x 2>&1) && fail "forget ../x succeeded"
grep -q "not a container id" <<<"$out" && log "ok: forget ../x refused: $out" || fail "forget ../x: $out"
"$OB" forget $OTHER >/dev/null || fail "forget $OTHER"
ct_kill_rm runc $CLI >/dev/null

# ---- podman: podman stop and start, a new netns each time ----
log "podman: stop and start"
H=$WORK/hooks.d
"$OB" install-hooks --dir "$H" --hook-path "$OB" --policy "$WORK/policy.conf" >/dev/null || die "install-hooks"
NET=${P}net
ct_podman_net $NET 10.231.9.0/24 >/dev/null || die "podman network"
A=(--hooks-dir "$H" --annotation io.oci-bypass.mode=on)
ct_podman_run $P-psrv $NET "${A[@]}" -- "$(server_cmd | jq -r '.[0]')" -c "$(server_cmd | jq -r '.[2]')" ||
	die "podman server"
ct_podman_run $P-pcli $NET "${A[@]}" -- sleep 3600 || die "podman client"
ct_podman_wait_output $P-psrv listening 10 || die "podman server not listening"
SRV_ID=$(ct_podman_id $P-psrv) CLI_ID=$(ct_podman_id $P-pcli)
"$OB" forget "$SRV_ID" >/dev/null 2>&1
IP=$(ct_podman_ip $P-psrv $NET)
learn "$IP" ct_podman_exec $P-pcli
wait_state "$(name12 $SRV_ID)" $GOOD accelerated || fail "podman: $GOOD not learned"
ct_podman stop --time 1 $P-psrv >/dev/null || die "podman stop"
for _ in $(seq 100); do [ -n "$(kept $SRV_ID)" ] && break; sleep 0.05; done
assert_eq "podman: kept at stop" "$GOOD accelerated, $HALF halfclose" "$(kept $SRV_ID)"
# podman reads hooks.d again at each start: with the default directory
# always, with another one only where it is given again
ct_podman --hooks-dir "$H" start $P-psrv >/dev/null || die "podman start"
for _ in $(seq 100); do
	[ "$(ct_podman logs $P-psrv 2>&1 | grep -c listening)" -ge 4 ] && break
	sleep 0.1
done
IP=$(ct_podman_ip $P-psrv $NET)
assert_eq "podman: $GOOD accelerated before any connection" accelerated "$(svc "$(name12 $SRV_ID)" $GOOD)"
assert_eq "podman: $HALF still a half-closer" halfclose "$(svc "$(name12 $SRV_ID)" $HALF)"
assert_ge "podman: the client's first connection redirected" 1048576 \
	"$(first_conn "$(name12 $CLI_ID)" "$IP" ct_podman_exec $P-pcli)"
ct_podman_rm $P-psrv >/dev/null
ct_podman_run $P-psrv $NET "${A[@]}" -- "$(server_cmd | jq -r '.[0]')" -c "$(server_cmd | jq -r '.[2]')" ||
	die "podman server, a new container"
ct_podman_wait_output $P-psrv listening 10 || die "podman new server not listening"
NEW_ID=$(ct_podman_id $P-psrv)
IP=$(ct_podman_ip $P-psrv $NET)
assert_eq "podman: a new container of the same name inherits nothing" 0 \
	"$(first_conn "$(name12 $CLI_ID)" "$IP" ct_podman_exec $P-pcli)"
ct_podman_rm $P-psrv >/dev/null 2>&1

# ---- podman: a new container of the same image ----
log "podman: a new container of the same image inherits its verdicts"
IMG=localhost/$P-img:1 IMG2=localhost/$P-img:2
# two imports of the same files: two images (their configs differ)
for i in $IMG $IMG2; do
	out=$(tar -C "$CT_ROOTFS" -c . | ct_podman import - $i 2>&1) || die "podman import $i: $out"
done
# podman on an overlay root (the kernel matrix's guests) cannot run an
# image from its overlay storage: this part needs a host where it can
if ! out=$(CT_PODMAN_IMAGE=$IMG ct_podman_run $P-probe $NET -- /bin/true 2>&1); then
	log "skip: podman cannot run an image here ($(tail -n 1 <<<"$out")): the image part is not run"
	for c in $P-probe $P-pcli; do ct_podman_rm $c >/dev/null 2>&1; done
	ct_podman rmi $IMG $IMG2 >/dev/null 2>&1
	for id in "$SRV_ID" "$NEW_ID" "$CLI_ID"; do "$OB" forget "$id" >/dev/null 2>&1; done
	ct_podman_net_rm $NET >/dev/null
	"$OB" unload --wait 5 >/dev/null 2>&1
	finish
fi
ct_podman_rm $P-probe >/dev/null 2>&1
IID=img$(ct_podman image inspect $IMG --format '{{.Id}}' | cut -c1-32)
IID2=img$(ct_podman image inspect $IMG2 --format '{{.Id}}' | cut -c1-32)
"$OB" forget "$IID" >/dev/null 2>&1
"$OB" forget "$IID2" >/dev/null 2>&1
isrv() { # NAME IMAGE: a server container of IMAGE
	CT_PODMAN_IMAGE=$2 ct_podman_run $1 $NET "${A[@]}" -- "$(server_cmd | jq -r '.[0]')" \
		-c "$(server_cmd | jq -r '.[2]')" || die "podman server $1 of $2"
	ct_podman_wait_output $1 listening 10 || die "podman server $1 not listening"
}
isrv $P-isrv1 $IMG
ID1=$(ct_podman_id $P-isrv1)
learn "$(ct_podman_ip $P-isrv1 $NET)" ct_podman_exec $P-pcli
wait_state "$(name12 $ID1)" $GOOD accelerated || fail "podman image: $GOOD not learned"
ct_podman stop --time 1 $P-isrv1 >/dev/null || die "podman stop"
for _ in $(seq 100); do [ -n "$(kept "$IID")" ] && break; sleep 0.05; done
assert_eq "podman image: kept for the image too" "$GOOD accelerated, $HALF halfclose" "$(kept "$IID")"
ct_podman_rm $P-isrv1 >/dev/null
isrv $P-isrv2 $IMG
ID2=$(ct_podman_id $P-isrv2)
assert_eq "podman image: a new container of it, $GOOD accelerated before any connection" accelerated \
	"$(svc "$(name12 $ID2)" $GOOD)"
assert_eq "podman image: $HALF a half-closer" halfclose "$(svc "$(name12 $ID2)" $HALF)"
assert_ge "podman image: the client's first connection redirected" 1048576 \
	"$(first_conn "$(name12 $CLI_ID)" "$(ct_podman_ip $P-isrv2 $NET)" ct_podman_exec $P-pcli)"
ct_podman_rm $P-isrv2 >/dev/null
isrv $P-isrv3 $IMG2
ID3=$(ct_podman_id $P-isrv3)
assert_eq "podman image: another image on the same ports inherits nothing" 0 \
	"$(first_conn "$(name12 $CLI_ID)" "$(ct_podman_ip $P-isrv3 $NET)" ct_podman_exec $P-pcli)"
for c in $P-isrv3 $P-pcli; do ct_podman_rm $c >/dev/null 2>&1; done
ct_podman rmi $IMG $IMG2 >/dev/null 2>&1
for id in "$SRV_ID" "$NEW_ID" "$CLI_ID" "$ID1" "$ID2" "$ID3" "$IID" "$IID2"; do
	"$OB" forget "$id" >/dev/null 2>&1
done
ct_podman_net_rm $NET >/dev/null
"$OB" unload --wait 5 >/dev/null 2>&1
finish
