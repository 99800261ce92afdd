#!/usr/bin/env bash
# t_guest.sh - the guest smoke of make test: Debian 12's kernels (6.1 and
# 6.12, tests/kernels/lib.sh) booted under qemu with this checkout, each
# running t_kernel (doctor, load and the hook agree) and t_families (load,
# accelerated connections over IPv4, IPv6 and v4-mapped checked byte for
# byte, status, unload). Where doctor says the datapath cannot load,
# t_families must skip and say why. The whole matrix is make test-kernels.
OB_ANY_KERNEL=1
. "$(dirname "$0")/../lib/common.sh"
need_root
[ -z "${OBK_GUEST:-}" ] || skip "already inside a kernel-matrix guest"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is missing (make deps installs it)"
. "$TESTS_DIR/kernels/lib.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

for series in 6.1 6.12; do
	ver=$(obk_fetch "$series") || skip "cannot fetch Debian's $series kernel (apt-get download)"
	t0=$(date +%s)
	TESTS="t_kernel t_families" OB_NO_UNIT=1 obk_run "$ver" 900 "$WORK/$series" v2 \
		"$TESTS_DIR/kernels/guest/suite.sh"
	rc=$?
	log "$ver: guest exit $rc in $(($(date +%s) - t0)) s"
	res=$(grep -E '^(PASS|FAIL|SKIP) |passed, ' "$WORK/$series/log" 2>/dev/null)
	[ -n "$res" ] || { fail "$ver: no result; console: $(tail -n 5 "$WORK/$series/console")"; continue; }
	grep -q '^PASS integration/t_kernel' <<<"$res" && log "ok: $ver: t_kernel passes" ||
		fail "$ver: t_kernel: $(grep -E '\[t_kernel\].*FAIL' "$WORK/$series/log" | head -n 5)"
	if grep -qF '[t_kernel] kernel' "$WORK/$series/log" && ! grep -q 'doctor exit 0' "$WORK/$series/log"; then
		grep -q '^SKIP integration/t_families' <<<"$res" &&
			grep -q 'SKIP: oci-bypass cannot load on this kernel' "$WORK/$series/log" &&
			log "ok: $ver: refused, and t_families says why" ||
			fail "$ver: refused by doctor, but t_families: $(grep -E 't_families' <<<"$res")"
	else
		grep -q '^PASS integration/t_families' <<<"$res" && log "ok: $ver: accelerated, byte for byte" ||
			fail "$ver: t_families: $(grep -E '\[t_families\].*FAIL' "$WORK/$series/log" | head -n 5)"
	fi
done
finish
