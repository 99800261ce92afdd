#!/usr/bin/env bash
# t_runtimes.sh - the hook in real containers: runc and crun with the hook in
# config.json, podman with the hooks.d file from install-hooks. Two
# accelerated containers and one without the hook (or annotation) on a
# bridge: traffic between the two takes the shortcut, traffic from the third
# does not, a container in a fresh netns (found through a pidfd) is
# accelerated on loopback, and once the containers are gone nothing of them
# is left (records, enrolments, counters).
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obk
container_test $P 6 runc crun podman jq # oci-bypass unloaded: the first hook loads it

containers() { "$OB" status --json | jq -r '[.containers[].id] | sort | join(" ")'; }

run_runtime() { # RUNTIME FIRST-NETNS-INDEX PORT
	local rt=$1 n=$2 port=$3
	local srv=$P-$rt-srv cli=$P-$rt-cli plain=$P-$rt-pln lo=$P-$rt-lo
	local srv_ip before out
	srv_ip=$(ns_ip4 $P $n)
	log "$rt: server and client with the hook, a third container without"
	CT_ARGS=$(jq -cn --arg p $port '["/bin/streamcheck","server","--listen","0.0.0.0",$p,"--count","5","--timeout","60"]') \
		ct_bundle "$WORK/$srv" $srv /run/netns/$P$n "$OB" hook || return 1
	ct_bundle "$WORK/$cli" $cli /run/netns/$P$((n + 1)) "$OB" hook || return 1
	ct_bundle "$WORK/$plain" $plain /run/netns/$P$((n + 2)) || return 1
	CT_ARGS='["/bin/streamcheck","server","--listen","127.0.0.1","7100","--count","10","--timeout","60"]' \
		ct_bundle "$WORK/$lo" $lo "" "$OB" hook || return 1
	for c in $srv $cli $plain $lo; do ct_run $rt $c "$WORK/$c" || { fail "$rt: $c did not start"; return 1; }; done
	ct_wait_output $srv 'listening' 10 || { fail "$rt: server not listening"; return 1; }
	ct_wait_output $lo 'listening' 10 || { fail "$rt: loopback server not listening"; return 1; }
	assert_eq "$rt: status lists the hooked containers" "$(printf '%s\n' $cli $lo $srv | sort | tr '\n' ' ' | sed 's/ $//')" "$(containers)"

	ct_exec $rt $cli /bin/streamcheck client --connect $srv_ip $port --conns 1 --bytes 1024 >/dev/null ||
		fail "$rt: warm-up"
	for _ in $(seq 100); do [ "$(service_state $port)" = accelerated ] && break; sleep 0.02; done
	before=$(counter "$(name12 $cli)" redirected_bytes)
	if out=$(ct_exec $rt $cli /bin/streamcheck client --connect $srv_ip $port --conns 2 --bytes 4194304 2>&1); then
		log "$rt: $(tail -n 1 <<<"$out")"
	else
		fail "$rt: client: $out"
	fi
	assert_ge "$rt: bytes redirected from the client container" $((2 * 4194304)) \
		$(($(counter "$(name12 $cli)" redirected_bytes) - before))
	before=$(counter "$(name12 $srv)" redirected_bytes)
	ct_exec $rt $plain /bin/streamcheck client --connect $srv_ip $port --conns 2 --bytes 1048576 >/dev/null ||
		fail "$rt: client without the hook"
	assert_eq "$rt: nothing redirected towards the container without the hook" \
		"$before" "$(counter "$(name12 $srv)" redirected_bytes)"

	ct_exec $rt $lo /bin/streamcheck client --connect 127.0.0.1 7100 --conns 1 --bytes 1024 >/dev/null || fail "$rt: lo warm-up"
	for _ in $(seq 100); do [ "$(service_state 7100)" = accelerated ] && break; sleep 0.02; done
	ct_exec $rt $lo /bin/streamcheck client --connect 127.0.0.1 7100 --conns 2 --bytes 1048576 >/dev/null ||
		fail "$rt: loopback client"
	assert_ge "$rt: loopback in a new netns (found by pidfd) redirected" $((2 * 2 * 1048576)) \
		"$(counter "$(name12 $lo)" redirected_bytes)"

	for c in $srv $cli $plain $lo; do ct_kill_rm $rt $c >/dev/null 2>&1; done
	assert_eq "$rt: no container left in status" "" "$(containers)"
	assert_eq "$rt: no netns left enrolled" 0 "$("$OB" status --json | jq '.netns | length')"
	assert_eq "$rt: no record left" 0 "$(ls /run/oci-bypass/containers | wc -l)"
}

run_runtime runc 1 7001
run_runtime crun 4 7002

log "podman: hooks.d from install-hooks, two containers annotated, one not"
H=$WORK/hooks.d
"$OB" install-hooks --dir "$H" --hook-path "$OB" --policy "$WORK/policy.conf" >/dev/null || fail "install-hooks"
jq -e '.version == "1.0.0"' "$H/oci-bypass.json" >/dev/null || fail "hooks.d file: $(cat "$H/oci-bypass.json")"
NET=${P}net
ct_podman_net $NET 10.231.7.0/24 >/dev/null || die "podman network"
A=(--hooks-dir "$H" --annotation io.oci-bypass.mode=on)
# --count 6, one more than it serves: podman runs poststop as soon as the
# server exits, which would withdraw its netns before the last assertion
ct_podman_run $P-psrv $NET "${A[@]}" -- /bin/streamcheck server --listen 0.0.0.0 7003 --count 6 --timeout 60 ||
	die "podman server"
ct_podman_run $P-pcli $NET "${A[@]}" -- sleep 3600 || die "podman client"
ct_podman_run $P-ppln $NET --hooks-dir "$H" -- sleep 3600 || die "podman plain"
ct_podman_wait_output $P-psrv listening 10 || fail "podman server not listening"
SRV_IP=$(ct_podman_ip $P-psrv $NET)
SRV_ID=$(ct_podman_id $P-psrv) CLI_ID=$(ct_podman_id $P-pcli)
assert_eq "podman: status lists the annotated containers" "$(printf '%s\n' $SRV_ID $CLI_ID | sort | tr '\n' ' ' | sed 's/ $//')" "$(containers)"
ct_podman_exec $P-pcli /bin/streamcheck client --connect $SRV_IP 7003 --conns 1 --bytes 1024 >/dev/null || fail "podman warm-up"
for _ in $(seq 100); do [ "$(service_state 7003)" = accelerated ] && break; sleep 0.02; done
if out=$(ct_podman_exec $P-pcli /bin/streamcheck client --connect $SRV_IP 7003 --conns 2 --bytes 4194304 2>&1); then
	log "podman: $(tail -n 1 <<<"$out")"
else
	fail "podman client: $out"
fi
assert_ge "podman: bytes redirected from the client container" $((2 * 4194304)) "$(counter "$(name12 $CLI_ID)" redirected_bytes)"
before=$(counter "$(name12 $SRV_ID)" redirected_bytes)
ct_podman_exec $P-ppln /bin/streamcheck client --connect $SRV_IP 7003 --conns 2 --bytes 1048576 >/dev/null ||
	fail "podman: client without annotation"
assert_eq "podman: nothing redirected towards the container without the annotation" \
	"$before" "$(counter "$(name12 $SRV_ID)" redirected_bytes)"
for c in $P-psrv $P-pcli $P-ppln; do ct_podman_rm $c >/dev/null 2>&1; done
assert_eq "podman: no container left in status" "" "$(containers)"
assert_eq "podman: no netns left enrolled" 0 "$("$OB" status --json | jq '.netns | length')"
assert_eq "podman: no record left" 0 "$(ls /run/oci-bypass/containers | wc -l)"
"$OB" unload --wait 5 >/dev/null 2>&1
finish
