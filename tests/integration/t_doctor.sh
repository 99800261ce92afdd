#!/usr/bin/env bash
# t_doctor.sh - doctor loads the real BPF object without attaching it: it passes on
# this kernel and against its own BTF, FAILs naming the field against a copy of the
# kernel's BTF whose struct sock lacks sk_wq (the layout otherwise exact: the
# verifier still checks reads against the running kernel), FAILs with the
# verifier's own reason against a copy whose sk_rcvbuf lies beyond the real
# struct (the verifier refuses the read), FAILs naming a missing --btf
# file, and leaves nothing behind.
. "$(dirname "$0")/../lib/common.sh"
need_root
[ -e /sys/kernel/btf/vmlinux ] || skip "no kernel BTF (/sys/kernel/btf/vmlinux)"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The kernel's own BTF with sk_wq renamed: its layout exactly, that one field missing.
perl -0777 -pe 's/\0sk_wq\0/\0sk_wX\0/g' /sys/kernel/btf/vmlinux >"$WORK/renamed.btf"
assert_eq "sk_wq renamed in a copy of the kernel's BTF" 1 \
	"$(cmp -l /sys/kernel/btf/vmlinux "$WORK/renamed.btf" | wc -l)"

pins() { find /sys/fs/bpf/oci-bypass -mindepth 1 2>/dev/null | wc -l; }
progs() { bpftool prog show 2>/dev/null | grep -c ob_; }
doctor() { OUT=$("$OB" doctor "$@" 2>&1); RC=$?; FAILS=$(grep '^FAIL' <<<"$OUT"); }
"$OB" unload --wait 5 >/dev/null 2>&1
assert_eq "nothing pinned before" 0 "$(pins)"
PROGS=$(progs)

doctor
assert_eq "doctor exits" 0 $RC
grep -q '^ok .*the BPF object loads on this kernel' <<<"$OUT" &&
	log "ok: $(grep 'the BPF object loads' <<<"$OUT")" || fail "no ok line for the object: $OUT"

# lacks_sk_wq WHAT FILE: doctor --btf FILE fails once, on the object, its reason naming sk_wq.
lacks_sk_wq() {
	doctor --btf "$2"
	assert_eq "$1: doctor --btf exits" 1 $RC
	assert_eq "$1: FAIL lines" 1 "$(grep -c . <<<"$FAILS")"
	grep 'the BPF object loads' <<<"$FAILS" | sed 's/.* -- //' | grep -q sk_wq && log "ok: $FAILS" ||
		fail "$1: no FAIL line for the object naming sk_wq; doctor said:"$'\n'"$OUT"
}
lacks_sk_wq "kernel BTF, sk_wq renamed" "$WORK/renamed.btf"

# The kernel's own BTF with sock.sk_rcvbuf moved beyond the end of the
# real struct: CO-RE relocates the read there, the verifier refuses it.
perl "$TESTS_DIR/lib/btf_move_member.pl" /sys/kernel/btf/vmlinux "$WORK/moved.btf" sock sk_rcvbuf 30000 ||
	die "cannot find sock.sk_rcvbuf in the kernel's BTF"
doctor --btf "$WORK/moved.btf"
assert_eq "verifier-rejected: doctor --btf exits" 1 $RC
assert_eq "verifier-rejected: FAIL lines" 1 "$(grep -c . <<<"$FAILS")"
# the documented one line (docs/kernels.md): the kernel refused the BPF
# programs (ERRNO): the verifier: ITS REASON
grep -qE 'the BPF object loads.* -- the kernel refused the BPF programs \([^)]+\): the verifier: access beyond struct [a-z_]+ at off 30000' <<<"$FAILS" &&
	log "ok: $FAILS" || fail "no one-line verifier reason; doctor said:"$'\n'"$OUT"

doctor --btf /sys/kernel/btf/vmlinux
assert_eq "doctor --btf /sys/kernel/btf/vmlinux exits" 0 $RC

doctor --btf /nonexistent
assert_eq "doctor --btf /nonexistent exits" 1 $RC
grep -qF /nonexistent <<<"$FAILS" && log "ok: $FAILS" || fail "no FAIL line names /nonexistent: $OUT"

assert_eq "nothing pinned after" 0 "$(pins)"
for _ in $(seq 10); do [ "$(progs)" -le "$PROGS" ] && break; sleep 0.5; done
[ "$(progs)" -le "$PROGS" ] && log "ok: no ob_ program left loaded ($(progs))" ||
	fail "ob_ programs: $PROGS before, $(progs) after"
finish
