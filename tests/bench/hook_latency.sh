#!/usr/bin/env bash
# hook_latency.sh [N] - p50/p99 (milliseconds) of `oci-bypass hook` create and teardown with
# the BPF objects loaded, and of the first create that loads them. Each
# sample is one hook process, timed from exec to exit, as a runtime sees it.
set -u
. "$(dirname "$0")/../lib/common.sh"
need_root
N=${1:-200}
P=obl
W=$(mktemp -d)
trap 'kill $PID 2>/dev/null; ns_teardown $P 1; rm -rf "$W"' EXIT
ns_setup $P 1 >/dev/null || die "netns"
ip netns exec ${P}1 sleep 600 >/dev/null 2>&1 &
PID=$!
wait_netns $PID ${P}1 || die "the container process"
mkdir -p "$W/b"
printf '{"ociVersion":"1.0.2","annotations":{},"linux":{"namespaces":[{"type":"network","path":"/run/netns/%s1"}]}}\n' $P >"$W/b/config.json"
st() { printf '{"ociVersion":"1.0.2-dev","id":"%s","status":"%s","pid":%s,"bundle":"%s/b"}' "$1" "$2" "$3" "$W"; }
# time HOOK-STATE OUT: one hook run, fork to exit, appended to OUT in
# microseconds (EPOCHREALTIME: no subshell or helper process in the timing)
time_hook() {
	printf '%s' "$1" >"$W/state.json"
	local t0=$EPOCHREALTIME
	"$OB" hook <"$W/state.json" 2>/dev/null
	local t1=$EPOCHREALTIME
	echo $(((${t1/./} - ${t0/./}))) >>"$2"
}
pct() { sort -n | awk -v p=$1 '{a[NR]=$1} END {i=int((NR*p+99)/100); if (i<1) i=1; printf "%.2f", a[i]/1000}'; }

"$OB" unload --wait 5 >/dev/null 2>&1
for i in $(seq 10); do
	time_hook "$(st first-$i creating $PID)" "$W/first"
	printf '%s' "$(st first-$i stopped 0)" | "$OB" hook 2>/dev/null
	"$OB" unload --wait 5 >/dev/null 2>&1
done
"$OB" load >/dev/null
for i in $(seq "$N"); do
	time_hook "$(st c-$i creating $PID)" "$W/create"
	time_hook "$(st c-$i stopped 0)" "$W/teardown"
	t0=$EPOCHREALTIME; /bin/true; t1=$EPOCHREALTIME
	echo $(((${t1/./} - ${t0/./}))) >>"$W/true"
done
"$OB" unload --wait 5 >/dev/null 2>&1
printf '%-34s %8s %8s %6s\n' "hook (one process per call)" "p50 ms" "p99 ms" "n"
printf '%-34s %8s %8s %6s\n' "create, BPF objects loaded" "$(pct 50 <"$W/create")" "$(pct 99 <"$W/create")" "$N"
printf '%-34s %8s %8s %6s\n' "teardown" "$(pct 50 <"$W/teardown")" "$(pct 99 <"$W/teardown")" "$N"
printf '%-34s %8s %8s %6s\n' "first create (loads the objects)" "$(pct 50 <"$W/first")" "$(pct 99 <"$W/first")" 10
printf '%-34s %8s %8s %6s\n' "/bin/true (fork+exec floor)" "$(pct 50 <"$W/true")" "$(pct 99 <"$W/true")" "$N"
