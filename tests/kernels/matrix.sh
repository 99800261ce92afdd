#!/usr/bin/env bash
# matrix.sh - the kernel matrix (make test-kernels): the integration suite on
# Debian 12's kernels, each booted under qemu (lib.sh), and on the host's
# kernel; prints a table of kernel against test: pass, FAIL, or skip, with
# every skip's reason and every failure's log below it. Exits non-zero if
# any test failed on any kernel.
#
#   OBK_SERIES   kernels to boot (default "6.1 6.12"; "" for the host only)
#   OBK_HOST     0: do not run the suite on the host's kernel (default 1)
#   TESTS        integration tests to run (default: all that depend on the
#                kernel, i.e. all but t_fuzz, t_install and t_guest)
#   OBK_TIMEOUT  seconds per guest (default 3000)
#   OBK_CGROUP   v2 (default: pure cgroup v2, as Debian 12 boots) or hybrid
set -u
cd "$(dirname "$0")/../.."
. tests/kernels/lib.sh
OB_BUILD=${OB_BUILD:-$PWD/build}
export OB_BUILD
OUT=${OBK_RESULTS:-$OB_BUILD/kernels}
mkdir -p "$OUT"
if [ -z "${TESTS:-}" ]; then
	TESTS=$(for t in tests/integration/t_*.sh; do basename "$t" .sh; done |
		grep -vxE 't_fuzz|t_install|t_guest' | tr '\n' ' ')
fi
export TESTS OB_NO_UNIT=1
command -v qemu-system-x86_64 >/dev/null || [ -z "$OBK_SERIES" ] ||
	{ echo "matrix.sh: qemu-system-x86_64 is missing (make deps installs it)" >&2; exit 2; }

cols=()
start_all=$(date +%s)
if [ "${OBK_HOST:-1}" = 1 ]; then
	k="host $(uname -r)"
	obk_log "$k: running the suite"
	bash tests/run.sh >"$OUT/host.log" 2>&1
	cols+=("host")
	echo "$k" >"$OUT/host.name"
fi
for series in $OBK_SERIES; do
	ver=$(obk_fetch "$series") || { echo "matrix.sh: cannot fetch kernel $series" >&2; exit 2; }
	obk_log "$ver: booting under qemu (TCG), running the suite"
	t0=$(date +%s)
	obk_run "$ver" "${OBK_TIMEOUT:-3000}" "$OUT/$series" "${OBK_CGROUP:-v2}" tests/kernels/guest/suite.sh
	rc=$?
	obk_log "$ver: done in $(($(date +%s) - t0)) s (exit $rc)"
	cp "$OUT/$series/log" "$OUT/$series.log" 2>/dev/null || : >"$OUT/$series.log"
	[ $rc = 124 ] && echo "GUEST-TIMEOUT after ${OBK_TIMEOUT:-3000} s" >>"$OUT/$series.log"
	[ $rc = 125 ] && echo "GUEST-DIED (see $OUT/$series/console)" >>"$OUT/$series.log"
	echo "$ver" >"$OUT/$series.name"
	cols+=("$series")
done

# The table: one row per test, one column per kernel.
cell() { # cell COLUMN TEST
	local l
	l=$(grep -E "^(PASS|FAIL|SKIP) integration/$2( |$)" "$OUT/$1.log" | tail -n 1)
	case $l in
	PASS*) echo pass ;;
	FAIL*) echo FAIL ;;
	SKIP*) echo skip ;;
	*) echo "-" ;;
	esac
}
failed=0
{
	printf '%-20s' "test"
	for c in "${cols[@]}"; do printf ' %-22s' "$(cat "$OUT/$c.name")"; done
	echo
	for t in $TESTS; do
		printf '%-20s' "$t"
		for c in "${cols[@]}"; do
			v=$(cell "$c" "$t")
			[ "$v" = FAIL ] || [ "$v" = - ] && failed=1
			printf ' %-22s' "$v"
		done
		echo
	done
	for c in "${cols[@]}"; do
		grep -q '^GUEST-' "$OUT/$c.log" && { failed=1; echo "$(cat "$OUT/$c.name"): $(grep '^GUEST-' "$OUT/$c.log")"; }
		grep -E '^  \[t_[a-z_]+\] SKIP: ' "$OUT/$c.log" | sed "s/^  /$(cat "$OUT/$c.name"): /" | sort -u
	done
} | tee "$OUT/table.txt"
for c in "${cols[@]}"; do
	for t in $TESTS; do
		[ "$(cell "$c" "$t")" = FAIL ] || continue
		echo "---- $(cat "$OUT/$c.name"): $t"
		awk -v t="[$t]" 'index($0, t) && /FAIL/' "$OUT/$c.log" | head -n 20
	done
done
echo "kernel matrix: $(($(date +%s) - start_all)) s; logs in $OUT"
exit $failed
