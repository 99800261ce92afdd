#!/usr/bin/env bash
# t_docker.sh - Debian 12's Docker (docker.io 20.10, which applies neither
# hooks.d nor CDI and cannot set annotations) with oci-bypass-runtime
# registered by `install-hooks --docker`. A private dockerd (its own data
# root, exec root, pidfile, socket, bridge; managed containerd under the
# exec root) on Docker's default bridge network: a server and a client run
# with --runtime oci-bypass are accelerated (bytes redirected, data checked
# by streamcheck); a container with the default runtime, and one run with
# -e OCI_BYPASS_MODE=off, are not enrolled; docker stop / rm withdraw the
# namespaces and leave no record; -e OCI_BYPASS_MODE=required on a host
# where loading fails does not start, and says why, while mode on starts.
#
# Host state: dockerd runs with --iptables=false --ip-forward=false
# --ip-masq=false and its default bridge network on a bridge of our own
# (ob12dbr0, 10.231.12.0/24), so it adds no iptables rules, no docker0 and
# changes no sysctl; the test checks that, and its EXIT trap stops the
# daemon and its containerd and shims, unmounts and deletes their state,
# the bridge and the cgroups, and undoes any iptables chain or sysctl that
# changed anyway.
. "$(dirname "$0")/../lib/common.sh"
need_root
for tool in dockerd containerd runc jq iptables-save; do
	command -v $tool >/dev/null || skip "$tool is not installed (make deps installs docker.io)"
done
[ -x /usr/bin/docker ] || command -v docker >/dev/null || skip "no docker client (docker.io)"
. "$TESTS_DIR/lib/containers.sh"
. "$TESTS_DIR/lib/docker.sh"
ct_rootfs >/dev/null || die "ct_rootfs"

P=ob12d
W=$(mktemp -d /tmp/ob12-docker.XXXXXX)
SHIM=$OB_BUILD/oci-bypass-runtime
cleanup() {
	trap - EXIT
	if [ -n "$DK_DIR" ]; then dk_stop; else rm -rf "$W"; fi
	"$OB" unload --wait 5 >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "install-hooks --docker: into an existing daemon.json, keeping its keys"
printf '{\n  "deprecated-key-path": "%s/key.json",\n  "log-level": "warn"\n}\n' "$W" >"$W/daemon.json"
out=$("$OB" install-hooks --docker --docker-config "$W/daemon.json" --policy "$W/policy.conf" 2>&1) || die "install-hooks --docker: $out"
assert_eq "runtime path in daemon.json" "$SHIM" "$(jq -r '.runtimes["oci-bypass"].path' "$W/daemon.json")"
assert_eq "existing keys kept" "$W/key.json warn" "$(jq -r '."deprecated-key-path" + " " + ."log-level"' "$W/daemon.json")"
assert_eq "no default-runtime without --default" null "$(jq -r '."default-runtime"' "$W/daemon.json")"
echo '{"debug": tru' >"$W/bad.json"
out=$("$OB" install-hooks --docker --docker-config "$W/bad.json" --default --policy "$W/policy.conf" 2>&1) &&
	fail "an invalid daemon.json was accepted"
grep -q "not valid JSON" <<<"$out" && log "ok: invalid daemon.json refused: $out" || fail "message: $out"
assert_eq "invalid daemon.json left as it was" '{"debug": tru' "$(cat "$W/bad.json")"
"$OB" install-hooks --docker --docker-config "$W/new/daemon.json" --default --policy "$W/policy.conf" >/dev/null ||
	fail "install-hooks into a new file"
assert_eq "a new daemon.json with --default" "oci-bypass $SHIM" \
	"$(jq -r '."default-runtime" + " " + .runtimes["oci-bypass"].path' "$W/new/daemon.json")"

# A second registration whose runtimeArgs name the real runtime: a wrapper
# that notes each call and runs runc. Docker puts runtimeArgs first; the
# shim must use the path and take the option out (runc would refuse it).
printf '#!/bin/sh\necho "$*" >>%s/wrap.calls\nexec runc "$@"\n' "$W" >"$W/runc-wrap"
chmod 755 "$W/runc-wrap"
jq --arg s "$SHIM" --arg w "$W/runc-wrap" '.runtimes["ob12-rp"] = {path: $s, runtimeArgs: ["--runtime-path", $w]}' \
	"$W/daemon.json" >"$W/daemon.json.new" && mv "$W/daemon.json.new" "$W/daemon.json" || die "jq"

log "dockerd $(dockerd --version | awk '{print $3}' | tr -d ,) on bridge ${P}br0, iptables off"
dk_start "$W" ${P}br0 10.231.12.1/24 /ob12docker || die "dockerd"
docker info --format '{{json .Runtimes}}' | jq -e '.["oci-bypass"].path' >/dev/null &&
	log "ok: dockerd lists runtime oci-bypass" || fail "runtimes: $(docker info --format '{{json .Runtimes}}')"

tar -C "$CT_ROOTFS" --exclude ./.ct-rootfs.lock -c . | docker import - ob12img:test >/dev/null ||
	die "docker import"

# A kernel with AppArmor on (Debian's own, under qemu) makes dockerd load
# its docker-default profile, with apparmor_parser: where that is not
# installed (this suite does not need it), containers run unconfined.
AA=()
if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] &&
	! command -v apparmor_parser >/dev/null; then
	log "AppArmor is on and apparmor_parser is missing: containers run with apparmor=unconfined"
	AA=(--security-opt apparmor=unconfined)
fi
drun() { docker run "${AA[@]}" "$@"; }

ids() { docker inspect --format '{{.Id}}' "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }
containers() { "$OB" status --json | jq -r '[.containers[].id] | sort | join(" ")'; }
bundle() { echo "$W/exec/containerd/daemon/io.containerd.runtime.v2.task/moby/$1/config.json"; }
ours_in() { jq -r '[.hooks.createRuntime[]?, .hooks.poststop[]? | .args | join(" ")] | join(",")' "$1"; }

"$OB" unload --wait 5 >/dev/null 2>&1 # the first hook loads it
[ "$(status_field loaded)" = false ] ||
	die "oci-bypass is still loaded after unload (another checkout's build this one cannot unload?): $("$OB" unload 2>&1 | head -n 1)"
R=(--runtime oci-bypass)
drun -d "${R[@]}" --name $P-srv ob12img:test \
	/bin/streamcheck server --listen 0.0.0.0 7012 --count 20 --timeout 120 >/dev/null || die "server"
drun -d "${R[@]}" --name $P-cli ob12img:test sleep 3600 >/dev/null || die "client"
drun -d --name $P-pln ob12img:test sleep 3600 >/dev/null || die "container without the shim"
drun -d "${R[@]}" -e OCI_BYPASS_MODE=off --name $P-off ob12img:test sleep 3600 >/dev/null ||
	die "container with OCI_BYPASS_MODE=off"
for _ in $(seq 100); do docker logs $P-srv 2>&1 | grep -q listening && break; sleep 0.1; done
docker logs $P-srv 2>&1 | grep -q listening || die "server not listening: $(docker logs $P-srv 2>&1 | tail -n 3)"
SRV=$(ids $P-srv) CLI=$(ids $P-cli) PLN=$(ids $P-pln) OFF=$(ids $P-off)
SRV_IP=$(docker inspect --format '{{.NetworkSettings.IPAddress}}' $P-srv)
log "server $SRV_IP on Docker's network '$(docker inspect --format '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' $P-srv)'"
assert_eq "status lists the two shim containers" "$(printf '%s\n' "$SRV" "$CLI" | sort | tr '\n' ' ' | sed 's/ $//')" "$(containers)"
assert_eq "the shim added both hooks to the bundle" "oci-bypass hook create,oci-bypass hook teardown" \
	"$(ours_in "$(bundle "$SRV")")"
assert_eq "no hooks in a bundle of the default runtime" "" "$(ours_in "$(bundle "$PLN")")"
assert_eq "no hooks with OCI_BYPASS_MODE=off" "" "$(ours_in "$(bundle "$OFF")")"

sc() { docker exec "$1" /bin/streamcheck client --connect "$SRV_IP" 7012 "${@:2}" 2>&1; }
sc $P-cli --conns 1 --bytes 1024 >/dev/null || fail "warm-up"
for _ in $(seq 100); do [ "$(service_state 7012)" = accelerated ] && break; sleep 0.02; done
before=$(counter "$(name12 "$CLI")" redirected_bytes)
if out=$(sc $P-cli --conns 2 --bytes 4194304); then log "$(tail -n 1 <<<"$out")"; else fail "client: $out"; fi
assert_ge "bytes redirected from the client container" $((2 * 4194304)) \
	$(($(counter "$(name12 "$CLI")" redirected_bytes) - before))
for c in pln off; do
	before=$(counter "$(name12 "$SRV")" redirected_bytes)
	out=$(sc $P-$c --conns 2 --bytes 1048576) || fail "client in $c: $out"
	assert_eq "nothing redirected towards the container '$c'" "$before" \
		"$(counter "$(name12 "$SRV")" redirected_bytes)"
done

drun -d --runtime ob12-rp --name $P-rp ob12img:test sleep 3600 >/dev/null ||
	fail "runtimeArgs --runtime-path: did not start"
grep -q "create .*--bundle" "$W/wrap.calls" 2>/dev/null && ! grep -q -- --runtime-path "$W/wrap.calls" &&
	log "ok: runtimeArgs --runtime-path ran the wrapper, without the option" ||
	fail "runtimeArgs --runtime-path: wrapper calls: $(cat "$W/wrap.calls" 2>&1)"
assert_eq "runtimeArgs --runtime-path: enrolled" 1 \
	"$("$OB" status --json | jq --arg id "$(ids $P-rp)" '[.containers[] | select(.id == $id)] | length')"
docker rm -f $P-rp >/dev/null || fail "docker rm $P-rp"

docker stop -t 1 $P-cli >/dev/null || fail "docker stop"
assert_eq "docker stop: the client's record and enrolment are gone" "$SRV" "$(containers)"
assert_eq "docker stop: one netns left enrolled" "$(name12 "$SRV")" \
	"$("$OB" status --json | jq -r '[.netns[].name] | join(" ")')"
docker rm -f $P-srv $P-cli $P-pln $P-off >/dev/null || fail "docker rm"
assert_eq "docker rm: no container left in status" "" "$(containers)"
assert_eq "docker rm: no netns left enrolled" 0 "$("$OB" status --json | jq '.netns | length')"
assert_eq "docker rm: no record left" 0 "$(ls /run/oci-bypass/containers 2>/dev/null | wc -l)"

log "required on a host where loading fails (another build's maps are pinned)"
ob_fresh_load
other_build_loaded || die "bpftool"
rm -f /sys/fs/bpf/oci-bypass/link_sockops # as if that build were half unloaded
out=$(drun -d "${R[@]}" -e OCI_BYPASS_MODE=required --name $P-req ob12img:test sleep 3600 2>&1) &&
	fail "a required container started: $out"
grep -q "required and .*different build" <<<"$out" && log "ok: refused: $(grep -o 'oci-bypass: [^"]*required and[^"]*' <<<"$out" | head -n 1)" ||
	fail "the error does not say why: $out"
assert_eq "required: not running" "" "$(docker ps -q --filter name=$P-req)"
drun -d "${R[@]}" --name $P-open ob12img:test sleep 3600 >/dev/null || fail "mode on did not fail open"
assert_eq "mode on: running unaccelerated" true "$(docker inspect --format '{{.State.Running}}' $P-open 2>&1)"
assert_eq "no record left" 0 "$(ls /run/oci-bypass/containers 2>/dev/null | wc -l)"
docker rm -f $P-req $P-open >/dev/null 2>&1
"$OB" unload --wait 5 >/dev/null 2>&1

dk_snapshot "$W/now"
for f in ipt sysctl links; do
	diff "$W/host-before.$f" "$W/now.$f" >"$W/diff" && log "ok: host $f unchanged while dockerd runs" ||
		fail "dockerd changed the host's $f: $(head -n 5 "$W/diff" | tr '\n' ' ')"
done
finish
