#!/usr/bin/env bash
# t_hook_race.sh - the hooks of one pod race each other: 20 containers share
# one network namespace, and in each of 50 rounds a random half of them is
# created or torn down, all hooks at once. After every round the namespace
# is enrolled if and only if a live record names it, and no hook failed
# (a shared fixed temp file name made 11 of 20 parallel creates fail with
# "cannot rename", and a teardown could withdraw the netns under a create).
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obhr
N=20 ROUNDS=${RACE_ROUNDS:-50}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for i in $(seq $N); do
		[ -e "$WORK/live$i" ] && oci_state rc-$i stopped 0 "$WORK/b$i" | "$OB" hook >/dev/null 2>&1
	done
	ns_teardown $P 1
	rm -rf "$WORK"
}
trap cleanup EXIT
ns_setup $P 1 >/dev/null || die "netns setup"
"$OB" unload --wait 5 >/dev/null 2>&1
rm -rf /run/oci-bypass/containers
ob_fresh_load
for i in $(seq $N); do
	oci_bundle "$WORK/b$i" /run/netns/${P}1
	ip netns exec ${P}1 sleep 600 >/dev/null 2>&1 &
	PIDS+=($!)
	wait_netns $! ${P}1
done
records() { ls /run/oci-bypass/containers 2>/dev/null | grep -c '\.json$'; }
enrolled() { "$OB" status --json | jq '.netns | length'; }

bad=0
for round in $(seq "$ROUNDS"); do
	jobs=()
	for i in $(seq $N); do
		[ $((RANDOM % 2)) = 0 ] && continue
		if [ -e "$WORK/live$i" ]; then
			rm -f "$WORK/live$i"
			oci_state rc-$i stopped 0 "$WORK/b$i" | "$OB" hook >"$WORK/out$i" 2>&1 &
		else
			touch "$WORK/live$i"
			oci_state rc-$i creating "${PIDS[$((i - 1))]}" "$WORK/b$i" | "$OB" hook >"$WORK/out$i" 2>&1 &
		fi
		jobs+=($!)
	done
	for j in "${jobs[@]}"; do wait "$j" || { bad=$((bad + 1)); fail "round $round: a hook exited non-zero"; }; done
	if grep -l "not accelerated\|cannot" "$WORK"/out* >/dev/null 2>&1; then
		bad=$((bad + 1))
		fail "round $round: $(grep -h "not accelerated\|cannot" "$WORK"/out* | head -n 2)"
	fi
	rm -f "$WORK"/out*
	live=$(ls "$WORK" | grep -c '^live') recs=$(records) en=$(enrolled)
	[ "$recs" = "$live" ] || { bad=$((bad + 1)); fail "round $round: $live live containers, $recs records"; }
	[ "$en" = "$([ "$live" -gt 0 ] && echo 1 || echo 0)" ] ||
		{ bad=$((bad + 1)); fail "round $round: $live live containers, $en namespaces enrolled"; }
	[ $bad -gt 5 ] && break
done
assert_eq "rounds where the netns was enrolled iff a record named it, and no hook failed" "$ROUNDS" \
	"$((round - bad))"
finish
