#!/bin/bash
# t_runtimes_smoke: real containers under runc, crun and podman carry a TCP
# stream between two network namespaces, and OCI hooks run where expected.
#   runc, crun: two containers in two netns of ns_setup (one bridge); a
#     streamcheck server is the process of container 1, the client runs in
#     container 2 via exec, over IPv4.  A hook (ct_bundle HOOK_CMD) records
#     the state JSON at createRuntime and poststop.
#   podman (crun, then runc; T_PODMAN_RUNTIMES to choose): two containers
#     on an internal podman bridge network, server and client; --hooks-dir
#     with a hooks.d JSON selected by annotation io.test=x: the annotated
#     container ran the hook at createRuntime and poststop, the other not.
# The captured state JSONs are printed, to show how the engines differ.
# No oci-bypass code is exercised: this tests the fixtures in
# tests/lib/containers.sh.  Exit 0 pass, 77 skip, else fail.

. "$(dirname "$0")/../lib/common.sh"
. "$TESTS_DIR/lib/containers.sh"

need_root
for tool in jq ip busybox file flock; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool not installed"
done
[ -x "$SC" ] || skip "$SC missing (make build/tests/streamcheck)"

P=rsmk
PORT=5000
T_START=$(date +%s%N)
WORK=$(mktemp -d /tmp/ob-ct-smoke.XXXXXX) || die "mktemp failed"
STATES=$WORK/states.jsonl
HOOKS_D=$WORK/hooks.d

cleanup() {
	ct_cleanup_all "$P" || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that the EXIT trap runs (run.sh's timeout sends TERM)

RUNTIMES=()
for rt in runc crun; do
	if ct_have "$rt"; then RUNTIMES+=("$rt"); else log "runc/crun part: $rt not installed, not tested"; fi
done
PODMAN_RUNTIMES=()
if ct_have podman; then
	for rt in ${T_PODMAN_RUNTIMES:-crun runc}; do
		ct_have "$rt" && PODMAN_RUNTIMES+=("$rt")
	done
else
	log "podman not installed, not tested"
fi
[ $((${#RUNTIMES[@]} + ${#PODMAN_RUNTIMES[@]})) -gt 0 ] || skip "none of runc, crun, podman is installed"

ct_host_prepare || die "ct_host_prepare failed"
ct_rootfs || die "ct_rootfs failed"
log "rootfs $CT_ROOTFS"
ct_cleanup_all "$P" 2>/dev/null # leftovers of an earlier, killed run
ns_setup "$P" 4 || die "ns_setup failed"

# The hook: appends {"hook_stage", "hook_argc", "state": <stdin>} to $1.
# The runtime gives it no environment, hence the absolute paths.
HOOK=$WORK/hook.sh
cat >"$HOOK" <<'EOF'
#!/bin/sh
state=$(/bin/cat)
[ -n "$state" ] || state=null
echo "{\"hook_stage\":\"${2:--}\",\"hook_argc\":$#,\"state\":$state}" >>"$1"
EOF
chmod 755 "$HOOK"
: >"$STATES"

# states_of ID: the captured records of container ID, one JSON per line.
states_of() { jq -c --arg id "$1" 'select(.state.id == $id)' "$STATES" 2>/dev/null; }

# show_states ENGINE ID: the captured state JSONs in the log.
show_states() {
	local line
	while read -r line; do
		log "$1 hook state: $line"
	done < <(states_of "$2")
}

# check_hook_stages ENGINE ID: exactly one createRuntime record (a pid;
# status "creating" from runc, "created" from crun 1.8) and one poststop
# record (status "stopped") exist for ID.
check_hook_stages() {
	local n_create n_stop
	n_create=$(states_of "$2" | jq -s '[.[] | select((.state.status == "creating" or .state.status == "created")
		and (.state.pid // 0) > 0)] | length')
	n_stop=$(states_of "$2" | jq -s '[.[] | select(.state.status == "stopped")] | length')
	assert_eq "$1: createRuntime hook ran once (status creating/created, with pid)" 1 "${n_create:-0}"
	assert_eq "$1: poststop hook ran once (status stopped)" 1 "${n_stop:-0}"
}

# ------------------------------------------------------------ runc, crun ----
i=0
for rt in "${RUNTIMES[@]}"; do
	t0=$(date +%s%N)
	srv_ns=$((2 * i + 1)) cli_ns=$((2 * i + 2))
	i=$((i + 1))
	srv=$P-$rt-srv cli=$P-$rt-cli
	srv_ip=$(ns_ip4 "$P" "$srv_ns")

	CT_ARGS=$(jq -cn --arg p "$PORT" '["/bin/streamcheck", "server", "--listen", "0.0.0.0", $p, "--count", "1", "--timeout", "20"]') \
		CT_ANNOTATIONS='{"io.test":"x"}' \
		ct_bundle "$WORK/$srv" "$srv" "/run/netns/$(ns_name "$P" "$srv_ns")" "$HOOK" "$STATES" "%STAGE%" ||
		{ fail "$rt: ct_bundle $srv"; continue; }
	ct_bundle "$WORK/$cli" "$cli" "/run/netns/$(ns_name "$P" "$cli_ns")" || { fail "$rt: ct_bundle $cli"; continue; }

	ct_run "$rt" "$srv" "$WORK/$srv" || { fail "$rt: server container did not start"; continue; }
	ct_run "$rt" "$cli" "$WORK/$cli" || { fail "$rt: client container did not start"; continue; }
	ct_wait_output "$srv" 'streamcheck: listening' 10 || { fail "$rt: server not listening"; continue; }
	assert_eq "$rt: client container running" running "$(ct_status "$rt" "$cli")"
	pid=$(ct_pid "$rt" "$cli") && log "$rt: client pid $pid, cgroups: $(tr '\n' ' ' <"/proc/$pid/cgroup" | grep -o '0::[^ ]*\|memory:[^ ]*' | tr '\n' ' ')"
	[ "$(readlink "/proc/$pid/ns/net")" = "$(ip netns exec "$(ns_name "$P" "$cli_ns")" readlink /proc/self/ns/net)" ] &&
		log "ok: $rt: client container is in netns $(ns_name "$P" "$cli_ns")" ||
		fail "$rt: client container is not in netns $(ns_name "$P" "$cli_ns")"

	if out=$(ct_exec "$rt" "$cli" /bin/streamcheck client --connect "$srv_ip" "$PORT" --conns 1 --bytes 1024 --timeout 10 2>&1); then
		log "ok: $rt: client -> $srv_ip:$PORT: $(tail -n 1 <<<"$out")"
	else
		fail "$rt: client -> $srv_ip:$PORT failed: $(tail -n 3 <<<"$out")"
	fi
	# --count 1: the server exits after the connection, its container stops
	if ct_wait_stopped "$rt" "$srv" 10; then
		log "ok: $rt: server container stopped after its connection"
	else
		fail "$rt: server container did not stop"
	fi
	grep -q 'error\|fail' "$WORK/$srv/output.log" && fail "$rt: server output: $(tail -n 3 "$WORK/$srv/output.log")"

	ct_kill_rm "$rt" "$srv" || fail "$rt: ct_kill_rm $srv"
	ct_kill_rm "$rt" "$cli" || fail "$rt: ct_kill_rm $cli"
	ct_kill_rm "$rt" "$cli" || fail "$rt: ct_kill_rm $cli twice (must be idempotent)"
	ct_status "$rt" "$srv" >/dev/null 2>&1 && fail "$rt: $srv still exists after ct_kill_rm"
	check_hook_stages "$rt" "$srv"
	assert_eq "$rt: %STAGE% substituted" "createRuntime poststop" \
		"$(states_of "$srv" | jq -r .hook_stage | sort -u | tr '\n' ' ' | sed 's/ $//')"
	show_states "$rt" "$srv"
	for d in /sys/fs/cgroup/memory /sys/fs/cgroup/unified; do
		[ -d "$d/ob-ct-$srv" ] && fail "$rt: cgroup $d/ob-ct-$srv left behind"
	done
	log "$rt: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
done

# ------------------------------------------------------------------ podman ----
if [ ${#PODMAN_RUNTIMES[@]} -gt 0 ]; then
	mkdir -p "$HOOKS_D"
	# hooks.d 1.0.0 (oci-hooks(5)): one hook, two stages, only for
	# containers annotated io.test=x
	jq -n --arg p "$HOOK" --arg f "$STATES" '{
		version: "1.0.0",
		hook: {path: $p, args: [$p, $f]},
		when: {annotations: {"^io\\.test$": "^x$"}},
		stages: ["createRuntime", "poststop"]
	}' >"$HOOKS_D/ct-smoke.json"
	log "hooks.d: $(jq -c . "$HOOKS_D/ct-smoke.json")"
	net=$P-net
	subnet="10.$(ns_octet "$P").1.0/24"
	ct_podman_net "$net" "$subnet" || die "ct_podman_net failed"
	ct_podman_net "$net" "$subnet" || fail "ct_podman_net not idempotent"
fi
for rt in "${PODMAN_RUNTIMES[@]}"; do
	t0=$(date +%s%N)
	srv=$P-pod-$rt-srv cli=$P-pod-$rt-cli
	ct_podman_run "$srv" "$net" --runtime "$rt" --hooks-dir "$HOOKS_D" --annotation io.test=x -- \
		/bin/streamcheck server --listen 0.0.0.0 "$PORT" --count 1 --timeout 20 ||
		{ fail "podman/$rt: server container did not start"; continue; }
	ct_podman_run "$cli" "$net" --runtime "$rt" --hooks-dir "$HOOKS_D" -- sleep 60 ||
		{ fail "podman/$rt: client container did not start"; continue; }
	srv_id=$(ct_podman_id "$srv") cli_id=$(ct_podman_id "$cli")
	ct_podman_wait_output "$srv" 'streamcheck: listening' 10 || { fail "podman/$rt: server not listening"; continue; }
	srv_ip=$(ct_podman_ip "$srv" "$net") || { fail "podman/$rt: no server address"; continue; }
	pid=$(ct_podman container inspect --format '{{.State.Pid}}' "$cli" 2>/dev/null) &&
		log "podman/$rt: client pid $pid, cgroups: $(tr '\n' ' ' <"/proc/$pid/cgroup" | grep -o '0::[^ ]*\|memory:[^ ]*' | tr '\n' ' ')"
	if out=$(ct_podman_exec "$cli" /bin/streamcheck client --connect "$srv_ip" "$PORT" --conns 1 --bytes 1024 --timeout 10 2>&1); then
		log "ok: podman/$rt: client -> $srv_ip:$PORT: $(tail -n 1 <<<"$out")"
	else
		fail "podman/$rt: client -> $srv_ip:$PORT failed: $(tail -n 3 <<<"$out")"
	fi
	st=$(timeout 15 podman wait "$srv" 2>/dev/null)
	assert_eq "podman/$rt: server exit status" 0 "$st"
	ct_podman_rm "$srv" || fail "podman/$rt: ct_podman_rm $srv"
	ct_podman_rm "$cli" || fail "podman/$rt: ct_podman_rm $cli"
	ct_podman_rm "$cli" || fail "podman/$rt: ct_podman_rm twice (must be idempotent)"
	check_hook_stages "podman/$rt" "$srv_id"
	assert_eq "podman/$rt: no hook for the container without the annotation" "" "$(states_of "$cli_id")"
	show_states "podman/$rt" "$srv_id"
	log "podman/$rt: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
done

ct_cleanup_all "$P" || fail "ct_cleanup_all"
left=$( { runc list -q 2>/dev/null; crun list -q 2>/dev/null; podman ps -a --format '{{.Names}}' 2>/dev/null;
	podman network ls --format '{{.Name}}' 2>/dev/null; ip netns list 2>/dev/null | awk '{print $1}'; } | grep "^$P" )
assert_eq "nothing with prefix $P left" "" "$left"
log "total $(( ($(date +%s%N) - T_START) / 1000000 )) ms"
finish
