#!/usr/bin/env bash
# t_confine.sh - the hook's confinement holds (issue 11, item 6). Through
# tests/sandboxcheck, which confines itself with the hook's own ob_confine(): the
# parse child holds no capability (read from /proc, not as it says); the
# privileged part keeps only BPF, PERFMON, NET_ADMIN, SYS_RESOURCE once
# its setns() calls are done; setns other than CLONE_NEWNET, sockets other
# than AF_INET datagram and AF_UNIX, fork and ioctls other than the two
# the hook makes are refused; clone3 gives ENOSYS and threads still work;
# with Landlock, a write outside /run/oci-bypass and /sys/fs/bpf/oci-bypass
# is refused. Then the hook itself: confined, it still accelerates; when a
# confinement step fails (OB_TEST_CONFINE_FAIL), it does not accelerate
# and says why in one line, fails closed under required, and leaves
# teardown to gc.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obcf
T=$(mktemp -d)
CPID=
cleanup() {
	kill $CPID 2>/dev/null
	rm -f /run/oci-bypass/containers/cf-* 2>/dev/null
	ns_teardown $P 1
	rm -rf "$T"
}
trap cleanup EXIT
ns_setup $P 1 >/dev/null || die "netns setup"
ob_fresh_load

log "tests/sandboxcheck: the hook's confinement, checked from inside"
out=$("$OB_BUILD/tests/sandboxcheck" "$T/outside" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/    /'
assert_eq "sandboxcheck exit status" 0 $rc
has() { grep -qxF -- "$1" <<<"$out" && log "ok: $1" || fail "no line '$1'"; }
has $'parse child CapEff:\t0000000000000000'
has $'parse child CapPrm:\t0000000000000000'
has $'parse child Seccomp:\t2'
has "setns CLONE_NEWNET: allowed"
has "setns CLONE_NEWUTS: EPERM"
has "setns 0 (any type): EPERM"
has "socket AF_INET SOCK_DGRAM: allowed"
has "socket AF_PACKET: EPERM"
has "socket AF_NETLINK: EPERM"
has "clone (fork): EPERM"
has "fork: EPERM"
has "clone3 (fork): ENOSYS"
has "pthread_create: allowed"
has "ioctl SIOCGIFCONF: EPERM"
has "mount: EPERM"
grep -q "^privileged part CapEff" <<<"$out" && ! grep -q UNEXPECTED <<<"$out" ||
	fail "a check gave an unexpected result"
if grep -q "^landlock: ABI" <<<"$out"; then
	has "create FILE: EACCES"
	has "create under /run/oci-bypass: allowed"
	assert_eq "the file outside was not created" no "$([ -e "$T/outside" ] && echo yes || echo no)"
else
	log "SKIP (Landlock part only): $(grep '^landlock:' <<<"$out")"
fi

log "the confined hook accelerates"
ip netns exec ${P}1 sleep 600 >/dev/null 2>&1 &
CPID=$!
wait_netns $CPID ${P}1
oci_bundle "$T/b" /run/netns/${P}1
oci_bundle "$T/req" /run/netns/${P}1 '{"io.oci-bypass.mode":"required"}'
oci_bundle "$T/off" /run/netns/${P}1 '{"io.oci-bypass.mode":"off"}'
enrolled() { "$OB" status --json | jq '.netns | length'; }
out=$(hook "$(oci_state cf-ok creating $CPID "$T/b")" 2>&1) || fail "hook create: $out"
grep -q "accelerated: netns cookie" <<<"$out" && log "ok: $out" || fail "create: $out"
assert_eq "enrolled" 1 "$(enrolled)"

log "a failed confinement step: teardown is left to gc"
out=$(OB_TEST_CONFINE_FAIL=seccomp hook "$(oci_state cf-ok stopped 0 "$T/b")" 2>&1)
assert_eq "teardown exit status" 0 $?
grep -q "teardown not done: cannot confine the hook: seccomp" <<<"$out" && log "ok: $out" ||
	fail "teardown: $out"
assert_eq "still enrolled" 1 "$(enrolled)"
out=$(hook "$(oci_state cf-ok stopped 0 "$T/b")" 2>&1) || fail "teardown: $out"
assert_eq "withdrawn by a confined teardown" 0 "$(enrolled)"

# refused WHAT ID BUNDLE RC MESSAGE: a create with confinement failing at
# $step exits RC with one line, MESSAGE naming the step, and enrols nothing.
refused() {
	local out rc
	out=$(OB_TEST_CONFINE_FAIL=$step hook "$(oci_state "$2" creating $CPID "$3")" 2>&1)
	rc=$?
	assert_eq "$1: exit status" "$4" $rc
	assert_eq "$1: one line" 1 "$(wc -l <<<"$out")"
	grep -q "^oci-bypass: $2: $5: .*$step" <<<"$out" && log "ok: $out" || fail "$1: $out"
	assert_eq "$1: not enrolled" 0 "$(enrolled)"
}
for step in caps fork parser landlock seccomp; do
	log "OB_TEST_CONFINE_FAIL=$step"
	refused "$step" cf-$step "$T/b" 0 "not accelerated: cannot confine the hook"
	assert_eq "$step: no record" "" "$(ls /run/oci-bypass/containers 2>/dev/null | grep "^cf-$step")"
	refused "$step, required" cf-r$step "$T/req" 1 \
		"io.oci-bypass.mode=required and cannot confine the hook"

	out=$(OB_TEST_CONFINE_FAIL=$step hook "$(oci_state cf-o$step creating $CPID "$T/off")" 2>&1)
	assert_eq "$step, off: exit status" 0 $?
	grep -q "mode=off: not accelerated" <<<"$out" && log "ok: $out" || fail "$step, off: $out"
done
finish
