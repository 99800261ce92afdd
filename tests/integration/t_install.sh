#!/usr/bin/env bash
# t_install.sh - make install with PREFIX and DESTDIR: the binary under
# libexec/oci/hooks.d, a bin/ link, the man page, a hooks.d file that
# names the installed binary and passes the same validation podman needs,
# and the host policy file, all off.
OB_ANY_KERNEL=1
. "$(dirname "$0")/../lib/common.sh"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
make -s -C "$TESTS_DIR/.." install DESTDIR="$D" PREFIX=/usr OUT="$OB_BUILD" SAN="${OB_SAN:-0}" >/dev/null ||
	die "make install failed"
# (before install-hooks --containerd below writes it too)
Pol="$D/etc/oci-bypass/policy.conf"
assert_eq "the host policy, all off" "allow-trust = false|allow-host-network = false|allow-max-unread = 0" \
	"$(grep -v '^#' "$Pol" | grep . | paste -sd '|')"
assert_eq "the host policy's mode" 644 "$(stat -c %a "$Pol")"
[ -x "$D/usr/libexec/oci/hooks.d/oci-bypass" ] && log "ok: binary installed" || fail "binary missing"
[ "$(readlink "$D/usr/bin/oci-bypass")" = ../libexec/oci/hooks.d/oci-bypass ] &&
	log "ok: bin link" || fail "bin link: $(ls -l "$D/usr/bin")"
out=$("$D/usr/bin/oci-bypass" version 2>&1) && grep -q "^oci-bypass " <<<"$out" &&
	log "ok: installed binary runs: $out" || fail "version: $out"
[ "$(readlink "$D/usr/libexec/oci/hooks.d/oci-bypass-runtime")" = oci-bypass ] &&
	[ "$(readlink "$D/usr/bin/oci-bypass-runtime")" = ../libexec/oci/hooks.d/oci-bypass-runtime ] &&
	log "ok: oci-bypass-runtime links" || fail "runtime links: $(ls -l "$D/usr/bin")"
assert_eq "the installed shim registers itself by its own path" /usr/libexec/oci/hooks.d/oci-bypass-runtime \
	"$("$D/usr/bin/oci-bypass" install-hooks --containerd --policy "$D/etc/oci-bypass/policy.conf" |
		awk -F'"' '/BinaryName/ {print $2}' | sed "s|^$D||")"
U="$D/usr/lib/systemd/system"
assert_eq "the promote unit runs the installed binary" "ExecStart=/usr/bin/oci-bypass promote" \
	"$(grep '^ExecStart=' "$U/oci-bypass-promote.service")"
assert_eq "its timer, every second" "OnUnitActiveSec=1s" "$(grep '^OnUnitActiveSec=' "$U/oci-bypass-promote.timer")"
if command -v systemd-analyze >/dev/null; then
	out=$(systemd-analyze verify "$U/oci-bypass-promote.timer" "$U/oci-bypass-promote.service" 2>&1 |
		grep -v "Cannot find unit\|not executable\|No such file\|is not executable\|Command 'man ")
	assert_eq "systemd-analyze verify has nothing to say" "" "$out"
fi
man -l "$D/usr/share/man/man8/oci-bypass.8" 2>/dev/null | grep -q "OCI-BYPASS(8)" &&
	log "ok: man page renders" || fail "man page"
H="$D/etc/containers/oci/hooks.d/oci-bypass.json"
assert_eq "hooks.d names the installed path" /usr/libexec/oci/hooks.d/oci-bypass "$(jq -r .hook.path "$H")"
assert_eq "hooks.d stages" "createRuntime poststop" "$(jq -r '.stages | join(" ")' "$H")"
assert_eq "hooks.d selects by annotation" '^(on|required)$' "$(jq -r '.when.annotations["^io\\.oci-bypass\\.mode$"]' "$H")"
# Every verb documented in --help has a section in the man page.
for v in load unload enroll withdraw enable disable status metrics doctor hook install-hooks gc promote version; do
	man -l "$D/usr/share/man/man8/oci-bypass.8" 2>/dev/null | grep -qw -- "$v" || fail "man page lacks $v"
done
log "ok: every verb in the man page"
finish
