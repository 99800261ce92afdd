#!/usr/bin/env bash
# run.sh - builds the libFuzzer harnesses into build/fuzz/ and runs each for SECONDS; exits 1 on a crash.
#
# Usage: tests/fuzz/run.sh [SECONDS]   (default 60; CLANG=clang-14 by default)
# Needs clang's libFuzzer runtime: on Debian 12 the package libclang-rt-14-dev
# (libclang_rt.fuzzer-x86_64.a). Seeds come from tests/corpus/<name>/; what the
# fuzzers learn is kept in build/fuzz/corpus-<name>/, crashes in build/fuzz/crash-*.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-60}
case $secs in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
CLANG=${CLANG:-clang-14}
out=build/fuzz
mkdir -p "$out"

if ! command -v "$CLANG" >/dev/null; then
	echo "SKIP fuzz: $CLANG not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
	exit 77
fi
cflags=(-std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=all -Wall -Wextra -Werror -Wvla -Wno-missing-field-initializers
	-Ioci $(pkg-config --cflags json-c))
libs=$(pkg-config --libs json-c)

printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\n' >"$out/probe.c"
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return (int)(d && n) * 0; }\n' >>"$out/probe.c"
if ! "$CLANG" -fsanitize=fuzzer "$out/probe.c" -o "$out/probe" 2>"$out/probe.log"; then
	echo "SKIP fuzz: $CLANG -fsanitize=fuzzer does not link; install libclang-rt-14-dev" >&2
	sed 's/^/  /' "$out/probe.log" >&2
	exit 77
fi

status=0
for name in state config hooksd_validate policy splice; do
	bin=$out/fuzz_$name
	seeds=tests/corpus/${name%_validate}
	[ "$name" = splice ] && seeds=tests/corpus/config # the shim edits config.json
	work=$out/corpus-$name
	log=$out/fuzz_$name.log
	echo "  CC       $bin"
	# shellcheck disable=SC2086
	if ! "$CLANG" "${cflags[@]}" "tests/fuzz/fuzz_$name.c" oci/*.c -o "$bin" $libs; then
		echo "FAIL fuzz_$name: build" >&2
		status=1
		continue
	fi
	mkdir -p "$work"
	# timeout(1) is a backstop only: libFuzzer stops itself after -max_total_time.
	timeout --kill-after=10 $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 -dict=tests/fuzz/oci.dict \
		-artifact_prefix="$out/crash-$name-" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1)
	slow=$(sed -n "s/^stat::slowest_unit_time_sec: *//p" "$log" | tail -n1)
	if [ $rc -eq 0 ]; then
		echo "PASS fuzz_$name: ${execs:-?} executions in ${secs} s, ${cov:-cov: ?}, slowest input ${slow:-?} s"
	else
		status=1
		echo "FAIL fuzz_$name (exit $rc) after ${execs:-?} executions; see $log" >&2
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*check failed|artifact_prefix|Test unit written)' "$log" \
			| head -n 8 >&2
	fi
done
exit $status
