#!/usr/bin/env bash
# t_environment.sh - a host that lacks something: kernel BTF (a kernel
# feature the programs need), cgroup v2, bpffs. Each is made to be missing in
# a private mount namespace (unshare -m), so the host is untouched. Each gets
# one clear line from load, a FAIL line from doctor, and from the hook a
# container that starts on stock TCP (exit 0, the reason logged, nothing
# enrolled, recorded or pinned) unless it is `required`, which fails closed.
. "$(dirname "$0")/../lib/common.sh"
need_root
command -v unshare >/dev/null && command -v setpriv >/dev/null || skip "unshare/setpriv (util-linux) missing"
P=obenv
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	ns_teardown $P 1
	rm -rf "$WORK"
}
trap cleanup EXIT
ns_setup $P 1 >/dev/null || die "netns setup"
# where cgroup v2 lives: /sys/fs/cgroup (Debian 12) or below it (hybrid)
CG2=$(cgroup2_root)
[ -n "$CG2" ] || skip "no cgroup v2 mounted"
ip netns exec ${P}1 sleep 600 >/dev/null 2>&1 &
CPID=$!
PIDS+=($CPID)
wait_netns $CPID ${P}1
oci_bundle "$WORK/open" /run/netns/${P}1
oci_bundle "$WORK/req" /run/netns/${P}1 '{"io.oci-bypass.mode":"required"}'

# masked SETUP CMD...: CMD in a private mount namespace prepared by SETUP,
# run through $WRAP if SETUP sets it.
masked() {
	local setup=$1
	shift
	unshare -m --propagation private sh -c "WRAP=; $setup && exec \$WRAP \"\$@\"" sh "$@"
}
pins() { find /sys/fs/bpf/oci-bypass -mindepth 1 2>/dev/null | wc -l; }

# missing WHAT SETUP REGEX [HOOK-REGEX]: load, doctor and the hook with
# SETUP in effect; their messages match REGEX (the hook's HOOK-REGEX).
missing() {
	local what=$1 setup=$2 re=$3 hre=${4:-$3} out rc
	"$OB" unload --wait 5 >/dev/null 2>&1
	rm -rf /run/oci-bypass/containers

	out=$(masked "$setup" "$OB" load 2>&1); rc=$?
	assert_eq "$what: load fails" 1 $rc
	assert_eq "$what: load says it in one line" 1 "$(printf '%s\n' "$out" | wc -l)"
	grep -Eq "$re" <<<"$out" && log "ok: $out" || fail "$what: load message: $out"
	out=$(masked "$setup" "$OB" doctor 2>&1); rc=$?
	assert_eq "$what: doctor fails" 1 $rc
	grep -E "^FAIL" <<<"$out" | grep -Eq "$re" && log "ok: $(grep -E '^FAIL' <<<"$out" | tr '\n' ' ')" ||
		fail "$what: doctor does not name it: $out"

	out=$(oci_state ${P}open creating $CPID "$WORK/open" | masked "$setup" "$OB" hook 2>&1); rc=$?
	assert_eq "$what: hook fails open" 0 $rc
	grep -q "^oci-bypass: ${P}open: not accelerated: " <<<"$out" && grep -Eq "$hre" <<<"$out" &&
		log "ok: $out" || fail "$what: hook message: $out"
	out=$(oci_state ${P}req creating $CPID "$WORK/req" | masked "$setup" "$OB" hook 2>&1); rc=$?
	assert_eq "$what: required fails closed" 1 $rc
	assert_eq "$what: required says it in one line" 1 "$(printf '%s\n' "$out" | wc -l)"
	grep -Eq "$hre" <<<"$out" && log "ok: $out" || fail "$what: required message: $out"

	assert_eq "$what: nothing pinned" 0 "$(pins)"
	assert_eq "$what: no record" 0 "$(ls /run/oci-bypass/containers 2>/dev/null | wc -l)"
	sockops_on_cg2
	assert_eq "$what: nothing attached to the cgroup" "" "$ATTACHED"
}

# sockops_on_cg2: ATTACHED is our sock_ops program's line in what bpftool
# lists as attached to the cgroup2 root, where load attaches it; a bpftool
# that cannot list that cgroup fails the test (it would list nothing, always).
sockops_on_cg2() {
	local out
	ATTACHED=
	out=$(bpftool cgroup show "$CG2" 2>&1) || { fail "bpftool cgroup show $CG2: $out"; return; }
	ATTACHED=$(grep ob_sockops <<<"$out")
}

# The check above must be able to see the program: after a plain load it
# lists ob_sockops on the cgroup2 root, and after unload it does not.
"$OB" unload --wait 5 >/dev/null 2>&1
"$OB" load >/dev/null || die "load"
sockops_on_cg2
assert_eq "a plain load: ob_sockops attached to $CG2 once" 1 "$(grep -c . <<<"$ATTACHED")"
"$OB" unload --wait 5 >/dev/null || fail "unload"
sockops_on_cg2
assert_eq "after unload: nothing attached to $CG2" "" "$ATTACHED"

log "a kernel without BTF (CO-RE reads in sock_ops need it)"
missing "no BTF" "mount -t tmpfs -o ro none /sys/kernel/btf" "CONFIG_DEBUG_INFO_BTF"

log "no cgroup v2 mounted"
missing "no cgroup v2" "umount -l $CG2" "cgroup v2"

log "bpffs not mounted: load mounts it"
out=$(masked "umount /sys/fs/bpf" sh -c "! findmnt -t bpf /sys/fs/bpf && '$OB' load &&
	findmnt -n -t bpf -o TARGET /sys/fs/bpf && '$OB' status --json && '$OB' unload --wait 2" 2>&1)
rc=$?
assert_eq "load without bpffs" 0 $rc
grep -qx "/sys/fs/bpf" <<<"$out" && log "ok: load mounted bpffs" || fail "bpffs not mounted: $out"
grep -q '"loaded": *true' <<<"$out" && log "ok: loaded after mounting bpffs" || fail "not loaded: $out"

# Without CAP_SYS_ADMIN the hook cannot enter the container's netns either,
# but it mounts bpffs first, before it confines itself (Landlock, which
# must be given the pin directory, forbids mount later): that is the
# reason it gives.
log "bpffs not mounted and not mountable (no CAP_SYS_ADMIN)"
missing "bpffs not mountable" \
	"umount /sys/fs/bpf && WRAP='setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin'" \
	"bpffs (is not )?mounted"
finish
