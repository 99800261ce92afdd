#!/usr/bin/env bash
# tests/bench/bpfcost.sh - what oci-bypass's datapath costs beside the bare
# mechanism (issue 20). Two namespace pairs on one bridge:
#   ours  obbc1 <- obbc2, enrolled: oci-bypass's programs;
#   bare  obbc3 <- obbc4, not enrolled, their processes in a cgroup of their
#         own where tests/bench/bare.bpf.c is attached (sock_ops puts each
#         socket in a sockhash, sk_msg redirects to the peer: nothing else;
#         the product never loads it).
# 1. qperf tcp_lat and tcp_bw at every size from 1 B to 64 KiB, ours and
#    bare alternating, the median of COST_REPS rounds, with the ratios.
# 2. With kernel.bpf_stats_enabled: runs and ns per run of each program, ours
#    and the reference's, over one qperf run of tcp_lat and of tcp_bw at
#    64 B, 4 KiB and 64 KiB, with the messages qperf sent (so runs and ns
#    per message), and over a churn of connections (connect, 64 B each way,
#    close; tests/churn.c), per connection.
# 3. What traffic that is not enrolled pays (only where this script may
#    unload and load oci-bypass: it loaded it, or COST_RELOAD=1): qperf
#    between obbc5 <- obbc6, not enrolled, and on the host's loopback, with
#    oci-bypass loaded and unloaded, alternating, the median of the rounds.
# Both ends run on one CPU (COST_PIN, as make bench runs qperf). Prints
# Markdown on stdout (progress on stderr). Needs root, qperf, bpftool and a
# cgroup2 mount; loads oci-bypass if it is not loaded.
#   OB_BUILD   build directory (its tests/bare.bpf.o and tests/churn too)
#   COST_REPS  rounds (default 3)     COST_SECONDS qperf -t (default 1)
#   COST_PIN   CPU for both ends (default 1; empty: no pinning)
#   COST_CHURN connections of the churn (default 2000)
#   COST_RELOAD 1: part 3 even if oci-bypass was loaded before (it is
#              loaded again with default settings afterwards)
set -u -o pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OB_BUILD=${OB_BUILD:-$ROOT/build}
OB=$OB_BUILD/oci-bypass BARE=$OB_BUILD/tests/bare.bpf.o CHURN=$OB_BUILD/tests/churn
REPS=${COST_REPS:-3} SECS=${COST_SECONDS:-1} PIN=${COST_PIN-1} NCHURN=${COST_CHURN:-2000}
NP=obbc CTL=19865 DATA=19866 CHURN_PORT=19867
SIZES="1 4 16 64 256 1024 4096 16384 65536"
say() { printf 'bpfcost: %s\n' "$*" >&2; }
die() { printf 'bpfcost: error: %s\n' "$*" >&2; exit 2; }
pin() { if [ -n "$PIN" ]; then taskset -c "$PIN" "$@"; else "$@"; fi; }
[[ $REPS =~ ^[1-9][0-9]?$ ]] || die "COST_REPS must be 1..99"
[[ $SECS =~ ^[1-9][0-9]?$ ]] || die "COST_SECONDS must be 1..99"
[[ $NCHURN =~ ^[1-9][0-9]*$ ]] || die "COST_CHURN must be a number"
[ "$(id -u)" = 0 ] || die "needs root"
for t in qperf bpftool jq taskset; do command -v $t >/dev/null || die "$t is not installed (make deps)"; done
[ -f "$BARE" ] && [ -x "$CHURN" ] || die "$BARE or $CHURN missing (make tools)"
. "$ROOT/tests/lib/netns.sh"
CGROOT=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
[ -n "$CGROOT" ] || die "no cgroup2 mount"
CG=$CGROOT/ob-bare PINS=/sys/fs/bpf/ob-bare
W=$(mktemp -d)
PIDS=()
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$OB" withdraw ${NP}1 >/dev/null 2>&1
	"$OB" withdraw ${NP}2 >/dev/null 2>&1
	bpftool cgroup detach "$CG" sock_ops pinned $PINS/bare_sockops 2>/dev/null
	rm -rf $PINS
	rmdir "$CG" 2>/dev/null
	ns_teardown $NP 6 >/dev/null 2>&1
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RELOAD=${COST_RELOAD:-0}
if ! "$OB" status --json 2>/dev/null | jq -e '.loaded' >/dev/null; then
	"$OB" load >/dev/null || die "load"
	RELOAD=1 # ours to unload and load again (part 3)
fi
ns_setup $NP 6 >/dev/null || die "netns"
"$OB" enroll --netns /run/netns/${NP}1 --name ${NP}1 >/dev/null || die "enroll"
"$OB" enroll --netns /run/netns/${NP}2 --name ${NP}2 >/dev/null || die "enroll"
rm -rf $PINS
mkdir -p "$CG" || die "cgroup $CG"
bpftool prog loadall "$BARE" $PINS pinmaps $PINS/maps || die "bpftool prog loadall $BARE"
bpftool prog attach pinned $PINS/bare_msg msg_verdict pinned $PINS/maps/bare_hash || die "attach bare_msg"
bpftool cgroup attach "$CG" sock_ops pinned $PINS/bare_sockops multi || die "attach bare_sockops"

# in_ns VARIANT SIDE CMD...: CMD in the variant's server (s) or client (c)
# namespace, on the pinned CPU; bare's in its cgroup (entered before exec)
in_ns() {
	local v=$1 side=$2 n
	shift 2
	case $v:$side in ours:s) n=1 ;; ours:c) n=2 ;; bare:s) n=3 ;; bare:c) n=4 ;; esac
	if [ "$v" = bare ]; then
		# the cgroup first: inside `ip netns exec`, /sys is the netns's
		# own, without cgroups
		sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" \
			ip netns exec $NP$n ${PIN:+taskset -c "$PIN"} "$@"
	else
		ip netns exec $NP$n ${PIN:+taskset -c "$PIN"} "$@"
	fi
}
server_ip() { if [ "$1" = ours ]; then ns_ip4 $NP 1; else ns_ip4 $NP 3; fi; }
for v in ours bare; do
	in_ns $v s qperf --listen_port $CTL >/dev/null 2>&1 &
	PIDS+=($!)
	in_ns $v s "$CHURN" server "$(server_ip $v)" echo:$CHURN_PORT >"$W/churn-$v.log" 2>&1 &
	PIDS+=($!)
done
# the first connection of ours ends its service's probation (and shows the
# servers answer)
for v in ours bare; do
	for i in $(seq 50); do
		in_ns $v c timeout 20 qperf "$(server_ip $v)" --listen_port $CTL -ip $DATA -t 1 tcp_lat \
			>/dev/null 2>&1 && break
		sleep 0.2
		[ "$i" = 50 ] && die "$v: the qperf server does not answer"
	done
	in_ns $v c "$CHURN" client "$(server_ip $v)" $CHURN_PORT rr 1 1 >/dev/null ||
		die "$v: the churn server does not answer"
done
for i in $(seq 100); do
	[ "$("$OB" status --json | jq -r --argjson p $DATA '[.services[] | select(.port == $p) | .state] | first')" = accelerated ] && break
	sleep 0.05
done
redirected() { "$OB" status --json | jq --arg n ${NP}2 '.netns[] | select(.name == $n) | .redirected_msgs'; }

# ---- 1. ours against the bare reference, every size ----
for r in $(seq "$REPS"); do
	for v in ours bare; do
		say "round $r/$REPS: $v (qperf, 9 sizes x tcp_lat, tcp_bw)"
		before=$(redirected)
		in_ns $v c timeout 300 qperf "$(server_ip $v)" --listen_port $CTL -ip $DATA -t "$SECS" \
			-oo msg_size:1:64K:*4 -v tcp_lat tcp_bw >"$W/q-$v-$r.txt" 2>&1 ||
			die "$v round $r: qperf failed: $(tail -n 2 "$W/q-$v-$r.txt")"
		bash "$ROOT/examples/qperf_table.sh" <"$W/q-$v-$r.txt" | awk -v v=$v '{print v, $1, $2, $3}' >>"$W/samples"
		[ "$v" = bare ] || [ "$(redirected)" -gt "$before" ] || die "ours round $r: nothing redirected"
	done
done
# median FILE KEY...: the median of the last field of FILE's lines whose
# first fields are KEY... (one per round)
median() {
	local f=$1
	shift
	awk -v k="$*" 'BEGIN {n = split(k, key, " ")}
		{ for (i = 1; i <= n; i++) if ($i != key[i]) next; print $NF }' "$f" |
		sort -g | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]}'
}
med() { median "$W/samples" "$@"; } # VARIANT TEST SIZE
human() { if (($1 >= 1024)); then echo "$(($1 / 1024)) KiB"; else echo "$1 B"; fi; }
echo "### Ours against the bare mechanism, every size"
echo
echo "qperf between two namespaces on a bridge, $SECS s per point, the median of $REPS"
if [ -n "$PIN" ]; then where="both ends on CPU $PIN"; else where="no pinning"; fi
echo "rounds, $where. bare: tests/bench/bare.bpf.c (sock_ops"
echo "inserts, sk_msg redirects, nothing else) on a pair of its own."
echo
echo "| size | lat ours (us) | lat bare (us) | ours/bare | bw ours (MB/s) | bw bare (MB/s) | ours/bare |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for s in $SIZES; do
	lo=$(med ours lat $s) lb=$(med bare lat $s) bo=$(med ours bw $s) bb=$(med bare bw $s)
	awk -v h="$(human $s)" -v lo="$lo" -v lb="$lb" -v bo="$bo" -v bb="$bb" 'BEGIN {
		printf "| %s | %.2f | %.2f | %.2fx | %.0f | %.0f | %.2fx |\n", h, lo, lb, (lb > 0 ? lo / lb : 0),
			bo, bb, (bb > 0 ? bo / bb : 0) }'
done
echo

# ---- 2. what each program costs ----
sysctl -qw kernel.bpf_stats_enabled=1 || die "kernel.bpf_stats_enabled cannot be set"
# snap FILE: runs and ns of every program of ours and of the reference,
# summed by name
snap() {
	bpftool -j prog show 2>/dev/null | jq -r '.[] | select((.name // "") | test("^(ob_|bare_)")) |
		[.name, (.run_cnt // 0), (.run_time_ns // 0)] | @tsv' |
		awk '{c[$1] += $2; t[$1] += $3} END {for (n in c) print n, c[n], t[n]}' | sort >"$1"
}
# delta A B WHAT UNITS UNIT: a row per program that ran between snapshots A
# and B: WHAT, program, runs, ns per run, runs and ns per UNIT
delta() {
	join -a 2 -e 0 -o 0,1.2,1.3,2.2,2.3 "$1" "$2" | awk -v w="$3" -v u="$4" '{
		runs = $4 - $2; ns = $5 - $3
		if (runs > 0)
			printf "| %s | %s | %d | %.0f | %.2f | %.0f |\n", w, $1, runs, ns / runs, runs / u, ns / u
	}'
}
msgs() { # qperf -vv output: the messages both ends sent
	awk '/send_msgs/ {gsub(",", "", $3); n += $3} END {print n + 0}' "$1"
}
echo "### What each program costs"
echo
echo "kernel.bpf_stats_enabled: runs and run time of each program (summed over"
echo "its instances) during one qperf run of $SECS s per row, per message that"
echo "qperf sent (both directions for tcp_lat), and during a churn of $NCHURN"
echo "connections (connect, 64 B each way, close), per connection."
echo
echo "| run | program | runs | ns per run | runs per msg/conn | ns per msg/conn |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for v in ours bare; do
	for t in tcp_lat tcp_bw; do
		for s in 64 4096 65536; do
			snap "$W/a"
			in_ns $v c timeout 60 qperf "$(server_ip $v)" --listen_port $CTL -ip $DATA -t "$SECS" -m $s -vv $t \
				>"$W/c.txt" 2>&1 || die "$v $t $s: qperf failed"
			snap "$W/b"
			n=$(msgs "$W/c.txt")
			[ "$n" -gt 0 ] || die "$v $t $s: qperf reported no messages"
			delta "$W/a" "$W/b" "$v $t $(human $s)" "$n"
		done
	done
	snap "$W/a"
	in_ns $v c "$CHURN" client "$(server_ip $v)" $CHURN_PORT rr "$NCHURN" 1 64 >"$W/churn.txt" 2>&1 ||
		die "$v: churn failed: $(tail -n 1 "$W/churn.txt")"
	snap "$W/b"
	delta "$W/a" "$W/b" "$v churn" "$NCHURN"
done
echo

# ---- 3. what traffic that is not enrolled pays ----
[ "$RELOAD" = 1 ] || { say "part 3 skipped: oci-bypass was loaded before (COST_RELOAD=1 to run it)"; exit 0; }
# in_plain PLACE CMD...: PLACE 5/6 (namespace obbc5/obbc6) or host, pinned
in_plain() {
	local where=$1
	shift
	if [ "$where" = host ]; then pin "$@"; else ip netns exec $NP$where ${PIN:+taskset -c "$PIN"} "$@"; fi
}
PLAIN_CTL=19868 PLAIN_DATA=19869
in_plain 5 qperf --listen_port $PLAIN_CTL >/dev/null 2>&1 &
PIDS+=($!)
in_plain host qperf --listen_port $PLAIN_CTL >/dev/null 2>&1 &
PIDS+=($!)
plain_run() { # STATE ROUND: one qperf per path, test and size
	local path peer t s
	for path in netns host; do
		if [ $path = netns ]; then peer=$(ns_ip4 $NP 5) cli=6; else peer=127.0.0.1 cli=host; fi
		for t in tcp_lat tcp_bw; do
			for s in 64 4096 65536; do
				in_plain $cli timeout 60 qperf "$peer" --listen_port $PLAIN_CTL -ip $PLAIN_DATA -t "$SECS" \
					-m $s -v $t >"$W/p.txt" 2>&1 || die "not enrolled, $1: $path $t $s: qperf failed"
				bash "$ROOT/examples/qperf_table.sh" <"$W/p.txt" |
					awk -v st="$1" -v p=$path -v t=$t -v s=$s '{print st, p, t, s, $3}' >>"$W/plain"
			done
		done
	done
}
sleep 0.3
for r in $(seq "$REPS"); do
	say "round $r/$REPS: not enrolled, oci-bypass loaded then unloaded"
	"$OB" status --json | jq -e '.loaded' >/dev/null || "$OB" load >/dev/null || die "load"
	plain_run loaded
	"$OB" unload --wait 10 >/dev/null || die "unload"
	plain_run unloaded
done
"$OB" load >/dev/null || die "load again"
pmed() { median "$W/plain" "$@"; } # STATE PATH TEST SIZE
echo "### What traffic that is not enrolled pays"
echo
echo "qperf between two namespaces that are not enrolled (on the same bridge)"
echo "and on the host's loopback, $SECS s per point, with oci-bypass loaded and"
echo "not, alternating, the median of $REPS rounds, $where. Loaded/unloaded:"
echo "at most 1.00x is best for latency, at least 1.00x for bandwidth."
echo
echo "| path | test | size | loaded | unloaded | loaded/unloaded |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for path in netns host; do
	for t in tcp_lat tcp_bw; do
		for s in 64 4096 65536; do
			a=$(pmed loaded $path $t $s) b=$(pmed unloaded $path $t $s)
			if [ $t = tcp_lat ]; then u=us f=%.2f; else u=MB/s f=%.0f; fi
			awk -v p=$path -v t=$t -v h="$(human $s)" -v a="$a" -v b="$b" -v u=$u -v f=$f 'BEGIN {
				printf "| %s | %s | %s | " f " %s | " f " %s | %.3fx |\n", p, t, h, a, u, b, u, (b > 0 ? a / b : 0) }'
		done
	done
done
echo
