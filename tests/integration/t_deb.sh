#!/usr/bin/env bash
# t_deb.sh - the Debian package (issue 22, item 3): make deb builds it,
# lintian-clean; dpkg -i puts the hook, the shim, podman's hooks.d file,
# the host policy (a conffile), the man page and the timers in place, and
# with nothing else done an annotated podman pair is accelerated. dpkg -r
# while a redirected connection is open mid-stream detaches and unpins
# everything, and that connection completes byte for byte afterwards; the
# containers are then removed as usual. dpkg -P leaves nothing: no pins,
# no cgroup program, no hooks.d file, no unit, no records, no kept
# verdicts, no /etc/oci-bypass.
. "$(dirname "$0")/../lib/common.sh"
need_root
command -v dpkg-buildpackage >/dev/null && command -v lintian >/dev/null ||
	skip "dpkg-buildpackage or lintian is not installed (make deps installs them)"
if dpkg-query -W -f='${Status}' oci-bypass 2>/dev/null | grep -q installed; then
	skip "a package of oci-bypass is installed on this host: the test would replace it"
fi
[ ! -e /etc/containers/oci/hooks.d/oci-bypass.json ] ||
	skip "/etc/containers/oci/hooks.d/oci-bypass.json (make install) would stand in for the package's"
# the package's purge removes every record under /run/oci-bypass
[ -z "$(ls -A /run/oci-bypass/containers 2>/dev/null)" ] ||
	skip "containers are enrolled on this host (/run/oci-bypass/containers): the package's purge would remove their records"
P=obd
container_test $P 1 podman jq
REPO=$(cd "$TESTS_DIR/.." && pwd)
PKG_OB=/usr/bin/oci-bypass
GO=/tmp/$P-go.$$ # inside the containers' root (ct_rootfs), the client's pause file
# ... and the verdicts kept under /var/lib/oci-bypass: saved, put back
SAVED=$(mktemp -d)
[ -d /var/lib/oci-bypass ] && cp -a /var/lib/oci-bypass "$SAVED/"
purge() {
	if dpkg-query -W -f='${Status}' oci-bypass 2>/dev/null | grep -q installed; then
		dpkg -P oci-bypass >/dev/null 2>&1
	fi
	rm -f "$CT_ROOTFS$GO"
	[ -d "$SAVED/oci-bypass" ] && [ ! -e /var/lib/oci-bypass ] && cp -a "$SAVED/oci-bypass" /var/lib/
	rm -rf "$SAVED"
}
trap 'purge; ct_cleanup_all $P >/dev/null 2>&1; rm -rf "$WORK"' EXIT

log "make deb"
out=$(make -s -C "$REPO" OUT="$WORK/out" deb 2>&1) || die "make deb: $(tail -n 20 <<<"$out")"
DEB=$(ls "$WORK"/out/deb/oci-bypass_*_"$(dpkg --print-architecture)".deb 2>/dev/null)
[ -f "$DEB" ] || die "make deb made no package: $out"
log "ok: built and lintian-clean: $(basename "$DEB")"
"$OB" unload --wait 5 >/dev/null 2>&1
clear_foreign_pins

out=$(dpkg -i "$DEB" 2>&1) || die "dpkg -i: $out"
for f in /usr/bin/oci-bypass /usr/bin/oci-bypass-runtime /usr/libexec/oci/hooks.d/oci-bypass \
	/usr/share/containers/oci/hooks.d/oci-bypass.json /etc/oci-bypass/policy.conf \
	/usr/share/man/man8/oci-bypass.8.gz /lib/systemd/system/oci-bypass-promote.timer \
	/lib/systemd/system/oci-bypass-gc.timer; do
	[ -e "$f" ] || fail "installed: no $f"
done
assert_eq "the policy is a conffile" /etc/oci-bypass/policy.conf "$(cat /var/lib/dpkg/info/oci-bypass.conffiles)"
assert_eq "the hooks.d file names the packaged hook" /usr/libexec/oci/hooks.d/oci-bypass \
	"$(jq -r .hook.path /usr/share/containers/oci/hooks.d/oci-bypass.json)"
for t in promote gc; do
	[ -L /etc/systemd/system/timers.target.wants/oci-bypass-$t.timer ] ||
		fail "the $t timer is not enabled"
done

log "an annotated podman pair, with podman's default hooks directories"
NET=${P}net
ct_podman_net $NET 10.231.11.0/24 >/dev/null || die "podman network"
A=(--annotation io.oci-bypass.mode=on)
ct_podman_run $P-srv $NET "${A[@]}" -- /bin/streamcheck server --listen 0.0.0.0 7501 --count 3 --timeout 120 ||
	die "podman server"
ct_podman_run $P-cli $NET "${A[@]}" -- sleep 3600 || die "podman client"
ct_podman_wait_output $P-srv listening 10 || die "server not listening"
IP=$(ct_podman_ip $P-srv $NET) CLI=$(name12 "$(ct_podman_id $P-cli)")
assert_eq "both enrolled by the packaged hook" 2 "$("$PKG_OB" status --json | jq '.containers | length')"
ct_podman_exec $P-cli /bin/streamcheck client --connect "$IP" 7501 --conns 1 --bytes 1024 >/dev/null ||
	fail "warm-up"
for _ in $(seq 150); do [ "$(service_state 7501)" = accelerated ] && break; sleep 0.02; done
ct_podman_exec $P-cli /bin/streamcheck client --connect "$IP" 7501 --conns 1 --bytes 4194304 >/dev/null ||
	fail "client"
assert_ge "redirected" 4194304 "$("$PKG_OB" status --json | jq --arg n "$CLI" '.netns[] | select(.name == $n) | .redirected_bytes')"

log "dpkg -r with a redirected connection open mid-stream"
rm -f "$CT_ROOTFS$GO"
ct_podman_exec $P-cli /bin/streamcheck client --connect "$IP" 7501 --conns 1 --bytes 8388608 \
	--pause-file "$GO" --timeout 120 >"$WORK/held.out" 2>&1 &
HELD=$!
wait_paused "$WORK/held.out" $HELD
before=$("$PKG_OB" status --json | jq --arg n "$CLI" '.netns[] | select(.name == $n) | .redirected_bytes')
assert_ge "the open connection redirects" $((4194304 + 4194304)) "$before"
out=$(dpkg -r oci-bypass 2>&1) || fail "dpkg -r: $out"
log "dpkg -r: $(grep oci-bypass: <<<"$out" | tr '\n' ' ')"
assert_eq "removed: no pins" absent "$([ -e /sys/fs/bpf/oci-bypass ] && echo present || echo absent)"
assert_eq "removed: no hooks.d file" absent \
	"$([ -e /usr/share/containers/oci/hooks.d/oci-bypass.json ] && echo present || echo absent)"
assert_eq "removed: no binary" absent "$([ -e /usr/libexec/oci/hooks.d/oci-bypass ] && echo present || echo absent)"
assert_eq "removed: no sock_ops on the cgroup" "" \
	"$(bpftool -j cgroup tree 2>/dev/null | jq -r '.. | objects | select(.name? == "ob_sockops") | .name' | head -n 1)"
touch "$CT_ROOTFS$GO"
if wait $HELD; then
	log "ok: the open connection completed after removal: $(tail -n 1 "$WORK/held.out")"
else
	fail "the open connection after removal: $(tail -n 3 "$WORK/held.out")"
fi
ct_podman_rm $P-cli >/dev/null || fail "podman rm of the client after removal"
ct_podman_rm $P-srv >/dev/null || fail "podman rm of the server after removal"

dpkg -P oci-bypass >/dev/null 2>&1 || fail "dpkg -P"
for f in /etc/oci-bypass /run/oci-bypass /var/lib/oci-bypass /lib/systemd/system/oci-bypass-gc.timer \
	/etc/systemd/system/timers.target.wants/oci-bypass-promote.timer /usr/bin/oci-bypass; do
	[ ! -e "$f" ] || fail "purged: $f is left"
done
log "ok: purged, nothing left"
ct_podman_net_rm $NET >/dev/null
finish
