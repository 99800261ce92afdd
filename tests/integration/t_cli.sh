#!/usr/bin/env bash
# t_cli.sh - the command line: idempotent load, a different build refused,
# enrol/withdraw errors, status/metrics output, doctor, --help everywhere.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obc
trap 'ns_teardown $P 1' EXIT
ns_setup $P 1 || die "netns setup"
"$OB" unload --wait 5 >/dev/null 2>&1

# expect_err EXIT-CODE PATTERN CMD...: one line on stderr, that exit code.
expect_err() {
	local code=$1 pat=$2; shift 2
	local err rc
	err=$("$OB" "$@" 2>&1 >/dev/null); rc=$?
	if [ "$rc" != "$code" ]; then fail "'$*': exit $rc, expected $code ($err)"; return; fi
	if [ "$(printf '%s\n' "$err" | wc -l)" != 1 ]; then fail "'$*': stderr is not one line: $err"; return; fi
	if ! grep -q -- "$pat" <<<"$err"; then fail "'$*': '$err' lacks '$pat'"; return; fi
	log "ok: $* -> $err"
}

assert_eq "status when not loaded" false "$(status_field loaded)"
expect_err 1 "not loaded" enroll --netns /run/netns/${P}1
expect_err 1 "not loaded" enable
expect_err 1 "cannot open cgroup" load --cgroup /nonexistent
out=$("$OB" load) || die "load"
log "$out"
out=$("$OB" load) || fail "second load failed"
grep -q "already loaded" <<<"$out" && log "ok: second load is a no-op" || fail "second load: $out"
assert_eq "loaded" true "$(status_field loaded)"
assert_eq "enabled" true "$(status_field enabled)"
assert_eq "attached to the cgroup2 root" "$(cgroup2_root)" "$(status_field cgroup)"

expect_err 2 "unknown verb" frob
expect_err 2 "unknown option" load --bogus
expect_err 2 "needs a value" load --cgroup
expect_err 2 "required" enroll
expect_err 2 "--name" enroll --netns /run/netns/${P}1 --name ../../etc
expect_err 2 "port" enroll --netns /run/netns/${P}1 --no-port 70000
expect_err 1 "cannot open" enroll --netns /nonexistent
expect_err 1 "not a network namespace" enroll --netns /proc/self/ns/uts
expect_err 1 "host's network namespace" enroll --netns /proc/self/ns/net
expect_err 1 "no enrolled network namespace" withdraw nosuch

"$OB" enroll --netns /run/netns/${P}1 >/dev/null || fail "enroll"
assert_eq "default name from /run/netns" 1 "$("$OB" status --json | jq "[.netns[] | select(.name==\"${P}1\")] | length")"
out=$("$OB" enroll --netns /run/netns/${P}1) || fail "enroll twice"
grep -q "already enrolled" <<<"$out" && log "ok: enrol twice is harmless" || fail "enroll twice: $out"
"$OB" enroll --netns /proc/self/ns/net --allow-host --name host >/dev/null || fail "--allow-host"
"$OB" withdraw host >/dev/null || fail "withdraw host"
assert_eq "one netns listed" 1 "$("$OB" status --json | jq '.netns | length')"
"$OB" status | grep -q "${P}1" && log "ok: text status names the netns" || fail "text status"

m=$("$OB" metrics)
grep -q "^oci_bypass_loaded 1$" <<<"$m" && log "ok: metrics loaded gauge" || fail "metrics: $m"
grep -q "^oci_bypass_redirected_bytes_total{netns=\"${P}1\",cookie=\"[0-9]*\"} 0$" <<<"$m" \
	&& log "ok: metrics per-netns sample" || fail "metrics sample missing"
bad=$(grep -v '^#' <<<"$m" | grep -Ev '^[a-z_]+(\{[^}]*\})? -?[0-9]+$')
assert_eq "every metrics line well-formed" "" "$bad"

"$OB" disable >/dev/null
assert_eq "disable exits 0" 0 $?
assert_eq "disabled" false "$(status_field enabled)"
"$OB" enable >/dev/null
assert_eq "enable exits 0" 0 $?
assert_eq "enabled again" true "$(status_field enabled)"

"$OB" doctor >/dev/null; assert_eq "doctor passes on this machine" 0 "$?"

for v in load unload enroll withdraw enable disable status metrics doctor promote version; do
	out=$("$OB" $v --help 2>&1) && grep -q "oci-bypass $v" <<<"$out" || fail "$v --help: $out"
done
log "ok: --help for every verb"
"$OB" --help | grep -q "Verbs:" || fail "--help"

# A different build loaded: refuse, keep it, say what to do.
other_build_loaded || die "bpftool"
expect_err 1 "different build" load
assert_eq "other build kept loaded" true "$(status_field loaded)"
"$OB" unload --wait 5 >/dev/null || fail "unload of the other build"
assert_eq "unloaded" false "$(status_field loaded)"
[ -e /sys/fs/bpf/oci-bypass ] && fail "pin dir left" || log "ok: pin dir removed"
[ -e /run/oci-bypass/netns ] && [ -n "$(ls /run/oci-bypass/netns)" ] && fail "records left" || log "ok: no records left"
out=$("$OB" unload) && grep -q "not loaded" <<<"$out" || fail "unload when not loaded: $out"
finish
