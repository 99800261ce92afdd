#!/usr/bin/env bash
# t_guest.sh - the guest smoke of make test: Debian 12's kernels (6.1 and
# 6.12, tests/kernels/lib.sh) booted under qemu with this checkout, each
# running t_kernel (doctor, load and the hook agree) and t_families (load,
# accelerated connections over IPv4, IPv6 and v4-mapped checked byte for
# byte, status, unload). Both kernels are ones README lists as tested: the
# datapath must load there, so a refusal (a CO-RE or verifier failure, or
# a feature missing) fails, with doctor's and the test's own lines. The
# whole matrix is make test-kernels.
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
	grep -q '\[t_kernel\] kernel .*: doctor exit 0$' "$WORK/$series/log" &&
		log "ok: $ver: doctor passes" ||
		fail "$ver: doctor does not pass on a kernel README lists as tested: $(grep -E '\[t_kernel\] (doctor|kernel)' "$WORK/$series/log" | head -n 5)"
	grep -q '^PASS integration/t_families' <<<"$res" && log "ok: $ver: accelerated, byte for byte" ||
		fail "$ver: t_families: $(grep -E '^(PASS|FAIL|SKIP) integration/t_families' <<<"$res") $(grep -E '\[t_families\] (FAIL|SKIP)' "$WORK/$series/log" | head -n 5)"
done
finish
