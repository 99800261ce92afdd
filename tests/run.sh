#!/usr/bin/env bash
# run.sh - runs every test: cmocka unit tests, then integration tests on
# real network namespaces, then (OB_ASAN_BUILD) some of them again against
# the ASan + UBSan build. Prints one line per test and a closing
# "N passed, N failed, N skipped" line; exits non-zero if any failed.
set -u
cd "$(dirname "$0")/.."
OB_BUILD=${OB_BUILD:-$PWD/build}
export OB_BUILD
pass=0 failed=0 skipped=0 failed_names=""

# The host for the whole run (tests/lib/common.sh: ob_take_host): tests of
# another checkout, whose BPF objects may have other map layouts, must not
# run between ours.
OB_ANY_KERNEL=1
. tests/lib/common.sh
unset OB_ANY_KERNEL

run_one() {
	local name=$1; shift
	local start rc
	start=$(date +%s)
	"$@"
	rc=$?
	case $rc in
	0) pass=$((pass + 1)); echo "PASS $name ($(($(date +%s) - start)) s)" ;;
	77) skipped=$((skipped + 1)); echo "SKIP $name" ;;
	*) failed=$((failed + 1)); failed_names="$failed_names $name"; echo "FAIL $name (exit $rc)" ;;
	esac
}

# OB_NO_UNIT=1: integration tests only (the kernel matrix's guests).
[ -n "${OB_NO_UNIT:-}" ] || for t in "$OB_BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_one "unit/$(basename "$t")" "$t"
done

# Every integration test loads this build's objects, and some call load
# themselves: pins another build left (a killed run of another checkout)
# are cleared once here, before the first.
clear_foreign_pins

# The tests' containers leave kept verdicts (lifecycle.c) at their
# teardown: those made during this run go at its end, others stay.
VERDICTS=/var/lib/oci-bypass/verdicts
KEPT_BEFORE=$(ls "$VERDICTS" 2>/dev/null)

filter=${TESTS:-}
for t in tests/integration/t_*.sh; do
	name=$(basename "$t" .sh)
	if [ -n "$filter" ] && ! [[ " $filter " == *" $name "* ]]; then continue; fi
	run_one "integration/$name" timeout --kill-after=10 600 bash "$t"
done

# The same tests against the ASan + UBSan build of the binary (make SAN=1):
# OB_ASAN_BUILD is its build directory, OB_ASAN_TESTS the tests to run
# there (those that exercise the binary most, not the long traffic ones).
# Any sanitizer report fails the test: the process stops at the first one
# (halt_on_error, -fno-sanitize-recover) with exit code 86, and ASan's
# reports also go to files (log_path) that a test must not leave behind,
# so that one from a command whose exit status or stderr the test ignores
# still fails it. UBSan's go to stderr only: with ASan in the same binary
# gcc's libubsan ignores log_path. abort_on_error stays 0: abort() needs
# tgkill(), which the hook's seccomp filter denies.
run_asan() {
	local name=$1 t=$2 logs rc
	logs=$(mktemp -d /tmp/ob-san.XXXXXX)
	chmod 755 "$logs"
	ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:exitcode=86:detect_leaks=1:log_path=$logs/asan" \
		UBSAN_OPTIONS="halt_on_error=1:abort_on_error=0:exitcode=86:print_stacktrace=1:log_path=$logs/ubsan" \
		OB_BUILD=$OB_ASAN_BUILD OB_SAN=1 timeout --kill-after=10 600 bash "$t"
	rc=$?
	if [ -n "$(ls -A "$logs")" ]; then
		echo "  [$name] FAIL: sanitizer reports:" >&2
		head -n 40 "$logs"/* >&2
		[ "$rc" -ne 0 ] || rc=1
	fi
	rm -rf "$logs"
	return "$rc"
}
if [ -n "${OB_ASAN_BUILD:-}" ]; then
	for name in ${OB_ASAN_TESTS:-}; do
		t=tests/integration/$name.sh
		[ -f "$t" ] || { run_one "integration/asan/$name" false; continue; }
		if [ -n "$filter" ] && ! [[ " $filter " == *" $name "* ]]; then continue; fi
		run_one "integration/asan/$name" run_asan "$name" "$t"
	done
	"$OB_ASAN_BUILD/oci-bypass" unload --wait 5 >/dev/null 2>&1
fi

# Leave the machine as we found it.
"$OB_BUILD/oci-bypass" unload --wait 5 >/dev/null 2>&1
for f in $(ls "$VERDICTS" 2>/dev/null); do
	grep -qxF -- "$f" <<<"$KEPT_BEFORE" || rm -f -- "$VERDICTS/$f"
done

[ -z "$failed_names" ] || echo "failed:$failed_names"
echo "$pass passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
