#!/usr/bin/env bash
# t_kernel.sh - doctor, load and the hook agree on this kernel: where doctor
# fails, load refuses in one line naming the same thing, the hook starts the
# container on stock TCP with that reason logged (or fails closed under
# `required`), and nothing is pinned; where doctor passes, load works. And
# a refusal here is a kernel limit, never our bug: it fails where the
# kernel refused our object with every feature it needs present, and on a
# kernel README lists as tested.
# Runs on every kernel of the matrix (make test-kernels).
OB_ANY_KERNEL=1
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obkn
WORK=$(mktemp -d)
cleanup() {
	[ -n "${CPID:-}" ] && kill "$CPID" 2>/dev/null
	"$OB" unload --wait 5 >/dev/null 2>&1
	ns_teardown $P 1
	rm -rf "$WORK"
}
trap cleanup EXIT
"$OB" unload --wait 5 >/dev/null 2>&1
ns_setup $P 1 >/dev/null || die "netns setup"
ip netns exec ${P}1 sleep 600 >/dev/null 2>&1 &
CPID=$!
wait_netns $CPID ${P}1
oci_bundle "$WORK/open" /run/netns/${P}1
oci_bundle "$WORK/req" /run/netns/${P}1 '{"io.oci-bypass.mode":"required"}'

doc=$("$OB" doctor 2>&1)
drc=$?
fails=$(grep -E '^FAIL' <<<"$doc")
log "kernel $(uname -r): doctor exit $drc"
[ -n "$fails" ] && log "doctor: $fails"
assert_eq "doctor's exit status matches its FAIL lines" "$([ -n "$fails" ] && echo 1 || echo 0)" "$drc"
datapath_state
case $DP_STATE in
refused) fail "the kernel refused our BPF object with every feature it needs present (our bug): $DP_WHY" ;;
lacks) kernel_claimed && fail "kernel $(uname -r) is listed as tested, but it lacks: $DP_WHY" ||
	log "ok: a kernel limit, on a kernel not listed as tested" ;;
esac

out=$("$OB" load 2>&1)
lrc=$?
if [ "$drc" = 0 ]; then
	assert_eq "doctor passes, so load works" 0 "$lrc"
	assert_eq "loaded" true "$(status_field loaded)"
	"$OB" unload --wait 5 >/dev/null || fail "unload"
	finish
fi

assert_eq "doctor fails, so load fails" 1 "$lrc"
assert_eq "load says why in one line" 1 "$(printf '%s\n' "$out" | wc -l)"
log "load: $out"
# The first FAIL of doctor and load's line name the same thing: a run of
# six words of doctor's line is found in load's (of its reason, where it
# is the object's own line).
first=$(head -n 1 <<<"$fails" | sed -E 's/^FAIL +//')
case $first in
*"the BPF object loads"*" -- "*) first=${first#* -- } ;;
*) first=$(sed -E 's/ \(Linux [0-9.]+.*$//; s/ --.*$//' <<<"$first") ;;
esac
key=$(awk '{print $1, $2, $3, $4, $5, $6}' <<<"$first")
grep -qF -- "$key" <<<"$out" && log "ok: load names doctor's '$key'" ||
	fail "load does not name doctor's first failure '$key': $out"
assert_eq "nothing pinned after a refused load" 0 \
	"$(find /sys/fs/bpf/oci-bypass -mindepth 1 2>/dev/null | wc -l)"

out=$(oci_state ${P}open creating $CPID "$WORK/open" | "$OB" hook 2>&1)
assert_eq "hook fails open" 0 $?
grep -q "not accelerated: .*$key" <<<"$out" && log "ok: hook logs it" || fail "hook message: $out"
out=$(oci_state ${P}req creating $CPID "$WORK/req" | "$OB" hook 2>&1)
assert_eq "required fails closed" 1 $?
grep -qF -- "$key" <<<"$out" && log "ok: required says it" || fail "required message: $out"
assert_eq "no record" 0 "$(ls /run/oci-bypass/containers 2>/dev/null | wc -l)"
finish
