#!/usr/bin/env bash
# run.sh - runs every test: cmocka unit tests, then integration tests on
# real network namespaces. Prints one line per test and a closing
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

filter=${TESTS:-}
for t in tests/integration/t_*.sh; do
	name=$(basename "$t" .sh)
	if [ -n "$filter" ] && ! [[ " $filter " == *" $name "* ]]; then continue; fi
	run_one "integration/$name" timeout --kill-after=10 600 bash "$t"
done

# Leave the machine as we found it.
"$OB_BUILD/oci-bypass" unload --wait 5 >/dev/null 2>&1

[ -z "$failed_names" ] || echo "failed:$failed_names"
echo "$pass passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
