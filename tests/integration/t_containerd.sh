#!/usr/bin/env bash
# t_containerd.sh - Debian 12's containerd 1.6 (no CDI hooks) on its own,
# with oci-bypass-runtime as ctr's runc binary (ctr run --runtime
# io.containerd.runc.v2 --runc-binary SHIM). A private containerd (its own
# root, state dir, sockets, opt dir; the CRI plugin off, config.toml
# holding the snippet `install-hooks --containerd` prints) and an OCI
# image archive of the test rootfs brought in with `ctr image import`.
# containerd 1.6 without CRI has no networking of its own (ctr leaves a new
# netns empty; CNI is what CRI or nerdctl add), so the containers join
# network namespaces on a bridge (ns_setup), as --with-ns does for anyone
# running ctr. Checks: a server and a client through the shim are
# accelerated (bytes redirected, data checked by streamcheck); a container
# with plain runc, and one annotated io.oci-bypass.mode=off (which wins
# over its OCI_BYPASS_MODE=on), are not enrolled;
# ctr task kill + task rm withdraw the namespace and leave no record;
# OCI_BYPASS_MODE=required on a host where loading fails does not start,
# and says why.
#
# Host state: namespaces and a bridge from netns.sh (removed at exit);
# containerd's shims keep their sockets in /run/containerd/s whatever the
# root (removed if it was not there before; runc's root and ctr's fifos
# are under the test's directory); the cgroups runc makes
# (/ob12c/ID, removed). No iptables rules, no sysctls.
. "$(dirname "$0")/../lib/common.sh"
need_root
for tool in containerd ctr containerd-shim-runc-v2 runc jq sha256sum; do
	command -v $tool >/dev/null || skip "$tool is not installed (make deps installs containerd)"
done
. "$TESTS_DIR/lib/containers.sh"
ct_rootfs >/dev/null || die "ct_rootfs"

P=ob12c
NS=ob12c # ctr namespace, and the cgroup parent ctr gives its containers
W=$(mktemp -d /tmp/ob12-containerd.XXXXXX)
SHIM=$OB_BUILD/oci-bypass-runtime
CPID=
RUN_CTD_BEFORE=$([ -e /run/containerd ] && echo 1)

CTR_BIN=$(command -v ctr)
ctr() { timeout -k 5 60 "$CTR_BIN" -a "$W/containerd.sock" -n $NS "$@"; }

our_pids() { # containerd, its shims and their containers: they name $W
	local p
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$W" && echo "${p#/proc/}"
	done
}

cleanup() {
	local i s c
	trap - EXIT
	if [ -n "$CPID" ] && kill -0 "$CPID" 2>/dev/null; then
		for c in $(ctr task ls -q 2>/dev/null); do
			ctr task kill -s KILL "$c" >/dev/null 2>&1
			ctr task rm -f "$c" >/dev/null 2>&1
		done
		for c in $(ctr container ls -q 2>/dev/null); do ctr container rm "$c" >/dev/null 2>&1; done
		kill "$CPID" 2>/dev/null
		for i in $(seq 50); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$CPID" 2>/dev/null
	fi
	for i in 1 2 3; do
		for s in $(our_pids); do kill -9 "$s" 2>/dev/null; done
		[ -z "$(our_pids)" ] && break
		sleep 0.5
	done
	awk -v w="$W" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	find /sys/fs/cgroup -maxdepth 3 -type d -name $NS 2>/dev/null | while read -r d; do
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	rm -rf "/run/containerd/runc/$NS" # in case --runc-root was not honoured
	[ -n "$RUN_CTD_BEFORE" ] || rmdir /run/containerd/s /run/containerd/fifo /run/containerd/runc \
		/run/containerd 2>/dev/null
	ns_teardown $P 2>/dev/null
	"$OB" unload --wait 5 >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "install-hooks --containerd: the 1.6 snippet, into our containerd's config.toml"
snippet=$("$OB" install-hooks --containerd --policy "$W/policy.conf") || die "install-hooks --containerd"
grep -qF "BinaryName = \"$SHIM\"" <<<"$snippet" && log "ok: BinaryName is the shim" ||
	fail "snippet: $snippet"
cat >"$W/config.toml" <<EOF
version = 2
root = "$W/root"
state = "$W/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$W/containerd.sock"
[ttrpc]
  address = "$W/containerd.sock.ttrpc"
[debug]
  address = "$W/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$W/opt"
$snippet
EOF
containerd --config "$W/config.toml" --log-level warn >"$W/containerd.log" 2>&1 &
CPID=$!
for _ in $(seq 150); do
	ctr version >/dev/null 2>&1 && break
	kill -0 $CPID 2>/dev/null || break
	sleep 0.2
done
ctr version >/dev/null 2>&1 || { tail -n 20 "$W/containerd.log" >&2; die "containerd did not start"; }
log "containerd $(ctr version | awk '/Server:/ {s=1} s && /Version:/ {print $2; exit}') (it parsed the snippet)"

# An OCI image layout of the rootfs, as a tar archive for `ctr image import`.
img=$W/img
mkdir -p "$img/blobs/sha256"
tar -C "$CT_ROOTFS" --exclude ./.ct-rootfs.lock -cf "$W/layer.tar" . || die "layer tar"
blob() { # FILE MEDIATYPE: stores FILE as a blob, prints its descriptor
	local d s
	d=$(sha256sum "$1" | awk '{print $1}') s=$(stat -c %s "$1")
	cp "$1" "$img/blobs/sha256/$d"
	jq -cn --arg m "$2" --arg d "sha256:$d" --argjson s "$s" '{mediaType: $m, digest: $d, size: $s}'
}
layer=$(blob "$W/layer.tar" application/vnd.oci.image.layer.v1.tar)
jq -cn --arg d "$(jq -r .digest <<<"$layer")" \
	'{architecture: "amd64", os: "linux", config: {Env: ["PATH=/bin"]},
	  rootfs: {type: "layers", diff_ids: [$d]}}' >"$W/config.json"
config=$(blob "$W/config.json" application/vnd.oci.image.config.v1+json)
jq -cn --argjson c "$config" --argjson l "$layer" \
	'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: $c, layers: [$l]}' \
	>"$W/manifest.json"
manifest=$(blob "$W/manifest.json" application/vnd.oci.image.manifest.v1+json)
jq -cn --argjson m "$manifest" \
	'{schemaVersion: 2, manifests: [$m + {annotations: {"org.opencontainers.image.ref.name": "test"}}]}' \
	>"$img/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$img/oci-layout"
tar -C "$img" -cf "$W/image.tar" oci-layout index.json blobs || die "image tar"
out=$(ctr image import --snapshotter native --base-name docker.io/library/ob12img "$W/image.tar" 2>&1) ||
	die "ctr image import: $out"
IMG=docker.io/library/ob12img:test
ctr image ls -q | grep -qx "$IMG" && log "ok: imported $IMG" || die "image not imported: $(ctr image ls -q)"

ns_setup $P 4 >/dev/null || die "ns_setup"
"$OB" unload --wait 5 >/dev/null 2>&1 # the first hook loads it
[ "$(status_field loaded)" = false ] ||
	die "oci-bypass is still loaded after unload (another checkout's build this one cannot unload?): $("$OB" unload 2>&1 | head -n 1)"
SRV_IP=$(ns_ip4 $P 1)
SHIMRUN=(--runtime io.containerd.runc.v2 --runc-binary "$SHIM")
run() { # ID NETNS-INDEX [ctr run options...] -- CMD...
	local id=$1 n=$2
	shift 2
	local -a opts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	# ctr's own errors to $id.out; the container's stdio to $id.log
	ctr run -d --snapshotter native --with-ns network:/run/netns/$P$n --log-uri "file://$W/$id.log" \
		--runc-root "$W/runc" --fifo-dir "$W/fifo" \
		"${opts[@]}" "$IMG" "$id" "$@" >>"$W/$id.out" 2>&1 </dev/null
}
run $P-srv 1 "${SHIMRUN[@]}" -- /bin/streamcheck server --listen 0.0.0.0 7013 --count 20 --timeout 120 ||
	die "server: $(cat "$W/$P-srv.out")"
run $P-cli 2 "${SHIMRUN[@]}" -- sleep 3600 || die "client: $(cat "$W/$P-cli.out")"
run $P-pln 3 -- sleep 3600 || die "container without the shim: $(cat "$W/$P-pln.out")"
# The annotation (ctr can set one) wins over the environment.
run $P-off 4 "${SHIMRUN[@]}" --annotation io.oci-bypass.mode=off --env OCI_BYPASS_MODE=on -- sleep 3600 ||
	die "annotation mode=off: $(cat "$W/$P-off.out")"
for _ in $(seq 100); do grep -q listening "$W/$P-srv.log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$W/$P-srv.log" || die "server not listening: $(tail -n 3 "$W/$P-srv.log")"

containers() { "$OB" status --json | jq -r '[.containers[].id] | sort | join(" ")'; }
bundle() { echo "$W/state/io.containerd.runtime.v2.task/$NS/$1/config.json"; }
ours_in() { jq -r '[.hooks.createRuntime[]?, .hooks.poststop[]? | .args | join(" ")] | join(",")' "$1"; }
assert_eq "status lists the two shim containers" "$P-cli $P-srv" "$(containers)"
assert_eq "the shim added both hooks to the bundle" "oci-bypass hook create,oci-bypass hook teardown" \
	"$(ours_in "$(bundle $P-srv)")"
assert_eq "no hooks in a bundle of plain runc" "" "$(ours_in "$(bundle $P-pln)")"
assert_eq "no hooks with annotation mode=off (over OCI_BYPASS_MODE=on)" "" "$(ours_in "$(bundle $P-off)")"

EX=0
sc() { # CONTAINER CLIENT-ARGS...
	EX=$((EX + 1))
	ctr task exec --fifo-dir "$W/fifo" --exec-id ob12x$EX "$1" /bin/streamcheck client --connect "$SRV_IP" 7013 "${@:2}" 2>&1
}
sc $P-cli --conns 1 --bytes 1024 >/dev/null || fail "warm-up"
for _ in $(seq 100); do [ "$(service_state 7013)" = accelerated ] && break; sleep 0.02; done
before=$(counter $P-cli redirected_bytes)
if out=$(sc $P-cli --conns 2 --bytes 4194304); then log "$(tail -n 1 <<<"$out")"; else fail "client: $out"; fi
assert_ge "bytes redirected from the client container" $((2 * 4194304)) \
	$(($(counter $P-cli redirected_bytes) - before))
for c in pln off; do
	before=$(counter $P-srv redirected_bytes)
	out=$(sc $P-$c --conns 2 --bytes 1048576) || fail "client in $c: $out"
	assert_eq "nothing redirected towards the container '$c'" "$before" "$(counter $P-srv redirected_bytes)"
done

ctr task kill -s KILL $P-cli >/dev/null || fail "ctr task kill"
for _ in $(seq 50); do ctr task ls | grep -q "^$P-cli .*STOPPED" && break; sleep 0.1; done
ctr task rm $P-cli >/dev/null 2>&1 || fail "ctr task rm" # runc delete: poststop
assert_eq "task rm: the client's record and enrolment are gone" "$P-srv" "$(containers)"
assert_eq "task rm: one netns left enrolled" "$P-srv" "$("$OB" status --json | jq -r '[.netns[].name] | join(" ")')"
for c in srv pln off; do
	ctr task kill -s KILL $P-$c >/dev/null 2>&1
	ctr task rm -f $P-$c >/dev/null 2>&1
done
for c in srv cli pln off; do ctr container rm $P-$c >/dev/null 2>&1 || fail "container rm $c"; done
assert_eq "no container left in status" "" "$(containers)"
assert_eq "no netns left enrolled" 0 "$("$OB" status --json | jq '.netns | length')"
assert_eq "no record left" 0 "$(ls /run/oci-bypass/containers 2>/dev/null | wc -l)"

log "required on a host where loading fails (another build's maps are pinned)"
ob_fresh_load
other_build_loaded || die "bpftool"
rm -f /sys/fs/bpf/oci-bypass/link_sockops # as if that build were half unloaded
run $P-req 1 "${SHIMRUN[@]}" --env OCI_BYPASS_MODE=required -- sleep 3600 &&
	fail "a required container started"
out=$(cat "$W/$P-req.out")
grep -q "required and .*different build" <<<"$out" &&
	log "ok: refused: $(grep -o 'oci-bypass: [^"]*required and[^"]*' <<<"$out" | head -n 1)" ||
	fail "the error does not say why: $out"
assert_eq "required: no task" "" "$(ctr task ls -q | grep -x $P-req)"
run $P-open 2 "${SHIMRUN[@]}" -- sleep 3600 || fail "mode on did not fail open: $(cat "$W/$P-open.out")"
assert_eq "mode on: running unaccelerated" RUNNING "$(ctr task ls | awk -v c=$P-open '$1 == c {print $3}')"
assert_eq "no record left" 0 "$(ls /run/oci-bypass/containers 2>/dev/null | wc -l)"
"$OB" unload --wait 5 >/dev/null 2>&1
finish
