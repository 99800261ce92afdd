#!/usr/bin/env bash
# t_identity.sh - which network namespace a path names. enroll --netns
# refuses, quickly and with a one-line reason, a FIFO (it blocked until
# killed), a symlink, a regular file and another kind of namespace.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obid
T=$(mktemp -d)
cleanup() {
	umount "$T/uts" 2>/dev/null
	ns_teardown $P 2
	rm -rf "$T"
}
trap cleanup EXIT
ns_setup $P 2 >/dev/null || die "netns setup"
ob_fresh_load
enrolled() { "$OB" status --json | jq '.netns | length'; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

mkfifo "$T/fifo"
echo x >"$T/file"
ln -s /run/netns/${P}1 "$T/link"
touch "$T/uts"
unshare --uts="$T/uts" true || die "unshare --uts"

log "enroll --netns refuses what is not a network namespace, each with one line, at once"
for c in "fifo:$T/fifo is a FIFO, not a namespace file (on nsfs)" \
	"file:$T/file is a regular file, not a namespace file (on nsfs)" \
	"link:$T/link is a symbolic link: give the namespace file itself (/run/netns/NAME or /proc/PID/ns/net)" \
	"uts:$T/uts is a UTS namespace, not a network namespace" \
	"/proc/self/ns/mnt:/proc/self/ns/mnt is a mount namespace, not a network namespace"; do
	what=${c%%:*} reason=${c#*:}
	case $what in /*) path=$what ;; *) path=$T/$what ;; esac
	start=$(date +%s%N)
	out=$(timeout 10 "$OB" enroll --netns "$path" 2>&1)
	rc=$? ms=$(ms_since "$start")
	assert_eq "enroll $what: exit" 1 $rc
	assert_le "enroll $what: at once (ms)" 2000 "$ms"
	assert_eq "enroll $what: the error" "oci-bypass: enroll: $reason" "$out"
done
assert_eq "enroll: nothing enrolled" 0 "$(enrolled)"

log "the namespace files that are network namespaces are accepted"
ip netns exec ${P}2 sleep 600 >/dev/null 2>&1 &
SPID=$!
for _ in $(seq 100); do
	[ "$(stat -L -c %i /proc/$SPID/ns/net)" = "$(stat -L -c %i /run/netns/${P}2)" ] && break
	sleep 0.05
done
out=$("$OB" enroll --netns /run/netns/${P}1 --name id-one 2>&1) || fail "enroll /run/netns/${P}1: $out"
out=$("$OB" enroll --netns /proc/$SPID/ns/net --name id-two 2>&1) || fail "enroll /proc/$SPID/ns/net: $out"
kill $SPID
assert_eq "both enrolled" "id-one id-two" "$("$OB" status --json | jq -r '[.netns[].name] | sort | join(" ")')"
finish
