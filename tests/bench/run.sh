#!/usr/bin/env bash
# tests/bench/run.sh - the benchmark suite (`sudo make bench`): qperf tcp_lat
# and tcp_bw, stock TCP vs oci-bypass, 1 B .. 64 KiB, in two setups:
#   netns   four network namespaces on one bridge (tests/lib/netns.sh):
#           obbn1 <- obbn2 enrolled (bypass), obbn3 <- obbn4 not (stock)
#   podman  four podman containers on podman's DEFAULT network (netavark
#           bridge with its NAT/forward rules): two annotated
#           io.oci-bypass.mode=on with the hooks.d file (bypass), two not
# plus the AF_UNIX socketpair ceiling (tests/bench/unixpair.c), the BPF map
# memory, a scale curve (tests/bench/connscale.c: 1/16/256/4096 connections
# doing 4 KiB request/response at once, aggregate throughput and p50/p99
# round latency, netns), `podman run` start time with and without the hook,
# and, when this run loaded oci-bypass itself: a sockhash too small for the
# 4096 connections (load --max-sockets) and the hook's own cost
# (tests/bench/hook_latency.sh).
#
# Stock and bypass runs alternate (round r: stock, bypass for each setup,
# then AF_UNIX); every cell is the median of BENCH_REPS rounds.  Both qperf
# processes (and unixpair, connscale) run on one CPU unless BENCH_PIN= is
# empty: on a small VM, cross-CPU wake-ups from idle vary tenfold between runs.
#
# Environment:
#   OB_BUILD        build directory (default: this tree's build/)
#   BENCH_REPS      rounds (default 3)            BENCH_SECONDS qperf -t (default 1)
#   BENCH_PIN       CPU for both ends (default 1; empty: no pinning)
#   BENCH_SETUPS    "netns podman" (default both)
#   BENCH_SCALE     1 (default) / 0: the scale curve, sockhash-full run
#   BENCH_SCALE_CONNS "1 16 256 4096"  BENCH_SCALE_SECONDS 2 (per run)
#   BENCH_PODMAN_RUNS 15 (podman run start time samples per variant)
#   BENCH_POOL      1 (default) / 0: kept connections (tests/bench/pool.sh: redis
#                   pool and pgbench, stock/default/trust)  BENCH_POOL_SECONDS 10
#   BENCH_COST      1 (default) / 0: BPF costs against the bare mechanism
#                   (tests/bench/bpfcost.sh: every size, and each program's
#                   ns per run from kernel.bpf_stats_enabled)
#   BENCH_BUDGET    seconds (default 1080): later rounds/extras are skipped past it
#   BENCH_MAX_LOAD  wait (at most 120 s) for the 1-min load to drop below it (default 2)
# Output: the Markdown tables on stdout (progress on stderr), and under
# $OB_BUILD/bench/: results.md, results.csv, latency.png, throughput.png,
# raw/ (qperf -v outputs, parsed lines, unixpair and connscale outputs).
# Exit status: 0 every measurement was taken (targets met or not), 1 some
# could not be taken (or a bypass run was not redirected), 2 usage/setup.
set -u -o pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OB_BUILD=${OB_BUILD:-$ROOT/build}
export OB_BUILD
OB=$OB_BUILD/oci-bypass
OUT=$OB_BUILD/bench
RAW=$OUT/raw
REPS=${BENCH_REPS:-3}
SECS=${BENCH_SECONDS:-1}
PIN=${BENCH_PIN-1}
SETUPS=${BENCH_SETUPS:-netns podman}
SCALE=${BENCH_SCALE:-1}
SCALE_CONNS=${BENCH_SCALE_CONNS:-1 16 256 4096}
SCALE_SECS=${BENCH_SCALE_SECONDS:-2}
POOL=${BENCH_POOL:-1}
COST=${BENCH_COST:-1}
POOL_SECS=${BENCH_POOL_SECONDS:-10}
SCALE_SIZE=4096
PODMAN_RUNS=${BENCH_PODMAN_RUNS:-15}
BUDGET=${BENCH_BUDGET:-1080}
MAX_LOAD=${BENCH_MAX_LOAD:-2}
SIZES="1 4 16 64 256 1024 4096 16384 65536"
BIG_SIZES="1024 4096 16384 65536"
QSIZES='1:64K:*4'
NSIZES=9
CTL_PORT=19765 DATA_PORT=19766 SCALE_PORT=19800
NP=obbn    # netns prefix (tests/lib/netns.sh)
CP=obbp    # podman container prefix
T_START=$SECONDS

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 2; }

[[ $REPS =~ ^[1-9][0-9]?$ ]] || die "BENCH_REPS must be 1..99, got '$REPS'"
[[ $SECS =~ ^[1-9][0-9]?$ ]] || die "BENCH_SECONDS must be 1..99, got '$SECS'"
[[ -z $PIN || $PIN =~ ^[0-9]+$ ]] || die "BENCH_PIN must be a CPU number or empty, got '$PIN'"
[[ -n $PIN ]] && ((PIN >= $(nproc --all))) && die "BENCH_PIN=$PIN but this machine has $(nproc --all) CPUs"
[[ $BUDGET =~ ^[0-9]+$ ]] || die "BENCH_BUDGET must be seconds, got '$BUDGET'"
[[ $POOL == [01] ]] || die "BENCH_POOL must be 0 or 1, got '$POOL'"
[[ $COST == [01] ]] || die "BENCH_COST must be 0 or 1, got '$COST'"
[[ $POOL_SECS =~ ^[1-9][0-9]?$ ]] || die "BENCH_POOL_SECONDS must be 1..99, got '$POOL_SECS'"
[[ $SCALE_SECS =~ ^[1-9][0-9]?$ ]] || die "BENCH_SCALE_SECONDS must be 1..99, got '$SCALE_SECS'"
[[ $PODMAN_RUNS =~ ^[0-9]+$ ]] && ((PODMAN_RUNS <= 100)) || die "BENCH_PODMAN_RUNS must be 0..100, got '$PODMAN_RUNS'"
for s in $SETUPS; do [[ $s == netns || $s == podman ]] || die "BENCH_SETUPS: unknown setup '$s' (netns podman)"; done
for n in $SCALE_CONNS; do [[ $n =~ ^[1-9][0-9]*$ ]] && ((n <= 8192)) || die "BENCH_SCALE_CONNS: 1..8192, got '$n'"; done
[[ $(id -u) == 0 ]] || die "needs root: sudo make bench"
[[ -x $OB ]] || die "$OB missing: make all"
for t in qperf jq gcc ip taskset timeout; do
	command -v $t >/dev/null 2>&1 || die "$t is not installed (sudo make deps)"
done

. "$ROOT/tests/lib/netns.sh"
. "$ROOT/tests/lib/containers.sh"

TS=()
[[ -n $PIN ]] && TS=(taskset -c "$PIN")
PIN_TEXT=${PIN:+both ends pinned to CPU $PIN}
PIN_TEXT=${PIN_TEXT:-no CPU pinning (BENCH_PIN empty)}
QTO=$((NSIZES * 2 * (SECS + 3) + 30)) # bound of one qperf sweep
export CT_EXEC_TIMEOUT=$QTO

# ------------------------------------------------------------ cleanup ----

WORK=$(mktemp -d /tmp/oci-bypass-bench.XXXXXX) || die "mktemp"
# Unload at the end only if we loaded it (it was not loaded at the start, or
# something else unloaded it during the run and we loaded it again).
we_loaded=false
ENROLLED=()   # netns names we enrolled by hand
BG_PIDS=()    # background processes we started
cleanup() {
	local p n
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	ct_cleanup_all $CP >/dev/null 2>&1 # podman rm runs the poststop hooks: withdraws them
	for n in "${ENROLLED[@]}"; do "$OB" withdraw "$n" >/dev/null 2>&1; done
	ns_teardown $NP >/dev/null 2>&1
	for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if $we_loaded; then
		"$OB" unload --wait 10 >/dev/null 2>&1 || say "warning: 'oci-bypass unload' did not finish (sockets left?)"
	fi
	# nothing of a container may still be mounted below WORK (the rootfs)
	if ! findmnt -rn -o TARGET | grep -q "^$WORK"; then
		rm -rf --one-file-system "$WORK"
	else
		say "warning: $WORK still has mounts, left in place"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ helpers ----

FAILED=()  # measurements that could not be taken
NOTES=()   # things the reader of the results should know
fail_note() { FAILED+=("$*"); say "FAILED: $*"; }
note() { NOTES+=("$*"); say "note: $*"; }
over_budget() { (($(elapsed) > BUDGET)); }
elapsed() { echo $((SECONDS - T_START)); }
load1() { cut -d' ' -f1 /proc/loadavg; }

status_json() { "$OB" status --json 2>/dev/null; }
is_loaded() { status_json | jq -e '.loaded == true' >/dev/null 2>&1; }
ensure_loaded() {
	is_loaded && return 0
	"$OB" load >/dev/null || { fail_note "oci-bypass load failed"; return 1; }
	we_loaded=true
}
# cookie of an enrolled netns by name / of a container's netns by id
ns_cookie() { status_json | jq -r --arg n "$1" '[.netns[]? | select(.name == $n) | .cookie] | first // empty'; }
ct_cookie() { status_json | jq -r --arg i "$1" '[.containers[]? | select(.id == $i) | .cookie] | first // empty'; }
svc_state() { # COOKIE PORT
	status_json | jq -r --argjson c "$1" --argjson p "$2" \
		'[.services[]? | select(.cookie == $c and .port == $p) | .state] | first // empty'
}
redir_msgs() { # COOKIE
	status_json | jq -r --argjson c "$1" '[.netns[]? | select(.cookie == $c) | .redirected_msgs] | first // 0'
}
# enrolled_ok CLIENT_COOKIE SERVER_COOKIE PORT: both still enrolled, the
# server's service on PORT accelerated (another process may have run
# `oci-bypass unload` / a fresh load meanwhile: the integration tests do)
enrolled_ok() {
	[[ -n ${1-} && -n ${2-} ]] || return 1
	status_json | jq -e --argjson c "$1" --argjson s "$2" --argjson p "$3" '.loaded == true
		and any(.netns[]?; .cookie == $c) and any(.netns[]?; .cookie == $s)
		and any(.services[]?; .cookie == $s and .port == $p and .state == "accelerated")' >/dev/null 2>&1
}
wait_accelerated() { # COOKIE PORT WHAT
	local i st
	for ((i = 0; i < 100; i++)); do
		st=$(svc_state "$1" "$2")
		[[ $st == accelerated ]] && return 0
		sleep 0.05
	done
	fail_note "$3: service port $2 is '${st:-unknown}', not accelerated, after its warm-up connection"
	return 1
}
human() { # bytes -> 1, 4, ..., 1K, 64K
	local s=$1
	if ((s >= 1024 && s % 1024 == 0)); then echo "$((s / 1024))K"; else echo "$s"; fi
}
# check a parsed qperf sweep: every size of both tests, numeric
sweep_ok() {
	[[ $(awk '($1 == "lat" || $1 == "bw") && $3 + 0 > 0' "$1" | wc -l) -eq $((2 * NSIZES)) ]]
}

# ---------------------------------------------------------- preflight ----

mkdir -p "$OUT" || die "cannot create $OUT"
rm -rf "$RAW" "$OUT"/results.md "$OUT"/results.csv "$OUT"/latency.png "$OUT"/throughput.png "$OUT"/plot
mkdir -p "$RAW" "$OUT/plot"
SAMPLES=$RAW/samples.txt # setup variant round test size value
: >"$SAMPLES"

if ! command -v gnuplot >/dev/null 2>&1; then
	say "gnuplot missing: apt-get install -y gnuplot-nox"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null 2>&1; } ||
		say "warning: could not install gnuplot-nox; no plots"
fi

for ((i = 0; i < 24; i++)); do # bounded: at most 120 s
	awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l > m) }' || break
	((i == 0)) && say "load average $(load1) > $MAX_LOAD: waiting (at most 120 s) for other jobs"
	sleep 5
done
LOAD_START=$(load1)
awk -v l="$LOAD_START" -v m="$MAX_LOAD" 'BEGIN { exit !(l > m) }' &&
	note "the machine was busy: load average $LOAD_START at the start (> $MAX_LOAD); expect noise"

for t in unixpair connscale; do
	say "building $t"
	gcc -std=gnu11 -O2 -Wall -Wextra -Werror -static -o "$OUT/$t" "$ROOT/tests/bench/$t.c" ||
		die "building tests/bench/$t.c failed"
done
LOADED_BEFORE=false
is_loaded && LOADED_BEFORE=true

ct_host_prepare >/dev/null || die "ct_host_prepare failed"
ensure_loaded || die "oci-bypass load failed"
BUILD_ID=$(status_json | jq -r '.build_id // "?"')

# ------------------------------------------------------------- setups ----

declare -A UP CLI_COOKIE SRV_COOKIE SRV_IP QSRV
REUPS=0 # re-setups after a lost enrolment (bounded)

# (re)start the qperf server in netns ${NP}$1; it must start listening after
# the enrolment (older listening sockets stay stock)
netns_qperf_server() {
	local i=$1
	if [[ -n ${QSRV[$i]-} ]]; then
		kill "${QSRV[$i]}" 2>/dev/null
		wait "${QSRV[$i]}" 2>/dev/null
	fi
	ip netns exec $NP$i "${TS[@]}" qperf --listen_port $CTL_PORT >>"$RAW/qperf-server-netns-$i.log" 2>&1 &
	QSRV[$i]=$!
	BG_PIDS+=($!)
}

# netns_up VARIANT: bypass = obbn1 (server) and obbn2 (client) enrolled;
# stock = obbn3 (server), obbn4 (client), never enrolled
netns_up() {
	local i
	if [[ $1 == bypass ]]; then
		ensure_loaded || return 1
		for i in 1 2; do
			[[ -n $(ns_cookie $NP$i) ]] && continue
			"$OB" enroll --netns /run/netns/$NP$i >/dev/null || { fail_note "netns: enroll $NP$i failed"; return 1; }
			[[ " ${ENROLLED[*]} " == *" $NP$i "* ]] || ENROLLED+=("$NP$i")
		done
		SRV_COOKIE[netns]=$(ns_cookie ${NP}1) CLI_COOKIE[netns]=$(ns_cookie ${NP}2)
		[[ -n ${SRV_COOKIE[netns]} && -n ${CLI_COOKIE[netns]} ]] ||
			{ fail_note "netns: enrolled namespaces not in status"; return 1; }
		SRV_IP[netns:bypass]=$(ns_ip4 $NP 1)
		netns_qperf_server 1
		warm_up netns bypass || return 1
		wait_accelerated "${SRV_COOKIE[netns]}" $DATA_PORT "netns" || return 1
	else
		SRV_IP[netns:stock]=$(ns_ip4 $NP 3)
		netns_qperf_server 3
		warm_up netns stock || return 1
	fi
}

setup_netns() {
	ns_setup $NP 4 >/dev/null || { fail_note "netns: ns_setup failed"; return 1; }
	netns_up bypass && netns_up stock && UP[netns]=1
}

PODMAN_HOOKS=$WORK/hooks.d
# podman_up VARIANT: (re)create $CP-VARIANT-srv and -cli on podman's default
# network; every container gets --hooks-dir (so the host's own hooks.d is
# not used), only the bypass ones the annotation that selects the hook
podman_up() {
	local v=$1 n ann=()
	ct_podman_rm $CP-$v-srv >/dev/null 2>&1
	ct_podman_rm $CP-$v-cli >/dev/null 2>&1
	if [[ $v == bypass ]]; then
		ann=(--annotation io.oci-bypass.mode=on)
		is_loaded || we_loaded=true # the hook of the first container loads it
	fi
	ct_podman_run $CP-$v-srv default --hooks-dir "$PODMAN_HOOKS" "${ann[@]}" -- \
		"${TS[@]}" /usr/bin/qperf --listen_port "$CTL_PORT" ||
		{ fail_note "podman: starting $CP-$v-srv on the default network failed"; return 1; }
	ct_podman_run $CP-$v-cli default --hooks-dir "$PODMAN_HOOKS" "${ann[@]}" -- sleep 3600 ||
		{ fail_note "podman: starting $CP-$v-cli failed"; return 1; }
	SRV_IP[podman:$v]=$(ct_podman container inspect $CP-$v-srv 2>/dev/null |
		jq -r '[.[0].NetworkSettings.Networks[]?.IPAddress | select(. != "")] | first // empty')
	[[ -n ${SRV_IP[podman:$v]} ]] || { fail_note "podman: $CP-$v-srv has no IP address"; return 1; }
	if [[ $v == bypass ]]; then
		n=$(ct_podman_id $CP-bypass-srv) && SRV_COOKIE[podman]=$(ct_cookie "$n")
		n=$(ct_podman_id $CP-bypass-cli) && CLI_COOKIE[podman]=$(ct_cookie "$n")
		[[ -n ${SRV_COOKIE[podman]} && -n ${CLI_COOKIE[podman]} ]] ||
			{ fail_note "podman: the annotated containers are not enrolled (hook did not run?)"; return 1; }
	else
		[[ -z $(ct_cookie "$(ct_podman_id $CP-stock-srv)") ]] ||
			{ fail_note "podman: the stock server container is enrolled"; return 1; }
	fi
	warm_up podman "$v" || return 1
	if [[ $v == bypass ]]; then
		wait_accelerated "${SRV_COOKIE[podman]}" $DATA_PORT "podman" || return 1
	fi
}

setup_podman() {
	local f q
	ct_have podman || { fail_note "podman: not installed (sudo make deps)"; return 1; }
	# busybox rootfs (ct_rootfs) + qperf and the libraries it links, as examples/demo.sh
	ct_rootfs "$WORK/rootfs" >/dev/null || { fail_note "podman: ct_rootfs failed"; return 1; }
	q=$(command -v qperf)
	for f in "$q" $(ldd "$q" | grep -o '/[^ ]*'); do
		mkdir -p "$WORK/rootfs$(dirname "$f")" && cp -L "$f" "$WORK/rootfs$f" ||
			{ fail_note "podman: copying $f into the rootfs failed"; return 1; }
	done
	"$OB" install-hooks --dir "$PODMAN_HOOKS" --hook-path "$OB" --policy "$WORK/policy.conf" >/dev/null ||
		{ fail_note "podman: oci-bypass install-hooks failed"; return 1; }
	podman_up bypass && podman_up stock || return 1
	PODMAN_NET=$(ct_podman container inspect $CP-stock-srv 2>/dev/null |
		jq -r '.[0].NetworkSettings.Networks | keys | join(",")')
	UP[podman]=1
}

# ensure_bypass SETUP: before a bypass run, check the enrolment is still
# there; if another process unloaded oci-bypass meanwhile, set the bypass
# pair up again (at most 3 times per benchmark run)
ensure_bypass() {
	enrolled_ok "${CLI_COOKIE[$1]-}" "${SRV_COOKIE[$1]-}" $DATA_PORT && return 0
	if ((REUPS >= 3)); then
		fail_note "$1: the bypass enrolment was lost again (oci-bypass unloaded by another process?); giving up"
		return 1
	fi
	REUPS=$((REUPS + 1))
	note "$1: the bypass enrolment was lost (build now $(status_json | jq -r '.build_id // "not loaded"'); oci-bypass unloaded/reloaded by another process?); set up again"
	"${1}_up" bypass
}

# client_run SETUP VARIANT CMD...: CMD in the client namespace / container
client_run() {
	local setup=$1 v=$2
	shift 2
	if [[ $setup == netns ]]; then
		local ns=${NP}2
		[[ $v == stock ]] && ns=${NP}4
		ip netns exec $ns timeout -k 5 $QTO "$@"
	else
		ct_podman_exec $CP-$v-cli "$@"
	fi
}

# warm_up SETUP VARIANT: one short qperf run as soon as the server answers;
# it ends the probation of the data port's service (README, Limitations)
warm_up() {
	local i ip=${SRV_IP[$1:$2]}
	for ((i = 1; i <= 50; i++)); do
		client_run "$1" "$2" "${TS[@]}" qperf "$ip" --listen_port $CTL_PORT -ip $DATA_PORT -t 1 \
			tcp_lat >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail_note "$1 $2: qperf server $ip:$CTL_PORT did not answer the warm-up"
	return 1
}

# sweep SETUP VARIANT ROUND: one qperf run over every size, tcp_lat + tcp_bw;
# a bypass run that redirected nothing is set up again and repeated once
sweep() {
	local setup=$1 v=$2 r=$3 raw=$RAW/qperf-$1-$2-r$3 ip before=0 after=0 try
	for try in 1 2; do
		if [[ $v == bypass ]]; then
			ensure_bypass "$setup" || return 1
			before=$(redir_msgs "${CLI_COOKIE[$setup]}")
		fi
		ip=${SRV_IP[$setup:$v]}
		say "round $r/$REPS: $setup $v (qperf, $NSIZES sizes x 2 tests x ${SECS}s) [$(elapsed)s]"
		if ! client_run "$setup" "$v" "${TS[@]}" qperf "$ip" --listen_port $CTL_PORT -ip $DATA_PORT -t "$SECS" \
			-oo msg_size:$QSIZES -v tcp_lat tcp_bw >"$raw.txt" 2>"$raw.err"; then
			fail_note "$setup $v round $r: qperf failed: $(tail -n 2 "$raw.err" "$raw.txt" 2>/dev/null | tr '\n' ' ')"
			return 1
		fi
		bash "$ROOT/examples/qperf_table.sh" <"$raw.txt" >"$raw.dat"
		if ! sweep_ok "$raw.dat"; then
			fail_note "$setup $v round $r: qperf output incomplete ($raw.txt)"
			return 1
		fi
		[[ $v == bypass ]] || break
		after=$(redir_msgs "${CLI_COOKIE[$setup]}")
		if ((after > before)) && enrolled_ok "${CLI_COOKIE[$setup]}" "${SRV_COOKIE[$setup]}" $DATA_PORT; then
			echo "$setup round $r: redirected_msgs +$((after - before))" >>"$RAW/redirected.txt"
			break
		fi
		if ((try == 2)); then
			fail_note "$setup bypass round $r: not redirected (oci-bypass unloaded or withdrawn during the run?)"
			return 1
		fi
		note "$setup bypass round $r: the enrolment was lost during the run; repeated"
		mv -f "$raw.txt" "$raw.lost.txt"
	done
	awk -v s="$setup" -v v="$v" -v r="$r" '{ print s, v, r, $1, $2, $3 }' "$raw.dat" >>"$SAMPLES"
}

unix_sweep() { # ROUND
	local raw=$RAW/unixpair-r$1
	say "round $1/$REPS: AF_UNIX socketpair (unixpair) [$(elapsed)s]"
	if ! timeout -k 5 $QTO "$OUT/unixpair" ${PIN:+-c "$PIN"} -t "$SECS" both $SIZES >"$raw.dat" 2>"$raw.err" ||
		! sweep_ok "$raw.dat"; then
		fail_note "AF_UNIX round $1: unixpair failed: $(tail -n 2 "$raw.err" | tr '\n' ' ')"
		return 1
	fi
	awk -v r="$1" '{ print "unix", "unix", r, $1, $2, $3 }' "$raw.dat" >>"$SAMPLES"
	# the same stream with a writer that may run 256 MiB ahead of its
	# reader, as a redirecting sender can: what back-pressure is worth
	if timeout -k 5 $QTO "$OUT/unixpair" ${PIN:+-c "$PIN"} -t "$SECS" -s 268435456 bw $BIG_SIZES \
		>"$raw-sndbuf.dat" 2>>"$raw.err"; then
		awk -v r="$1" '{ print "unixbig", "unix", r, $1, $2, $3 }' "$raw-sndbuf.dat" >>"$SAMPLES"
	else
		fail_note "AF_UNIX round $1: unixpair -s failed: $(tail -n 1 "$raw.err")"
	fi
}

# ----------------------------------------------------------- measure ----

for s in $SETUPS; do
	say "setting up $s"
	case $s in
	netns) setup_netns ;;
	podman) setup_podman ;;
	esac
done
say "setups up: ${!UP[*]} [$(elapsed)s]"

ROUNDS_DONE=0
for ((r = 1; r <= REPS; r++)); do
	if ((r > 1)) && over_budget; then
		fail_note "time budget BENCH_BUDGET=${BUDGET}s reached: only $ROUNDS_DONE of $REPS rounds"
		break
	fi
	for s in $SETUPS; do
		[[ -n ${UP[$s]-} ]] || continue
		sweep "$s" stock "$r"
		sweep "$s" bypass "$r"
	done
	unix_sweep "$r"
	ROUNDS_DONE=$r
done

LOAD_END=$(load1)

# BPF map memory of the pinned maps (while the benchmark's enrolments exist)
MAPS=$RAW/bpf-maps.txt
: >"$MAPS"
for f in /sys/fs/bpf/oci-bypass/*; do
	[[ -e $f ]] || continue
	bpftool -j map show pinned "$f" 2>/dev/null |
		jq -r 'select(.name != null) | [.name, .type, .max_entries, .bytes_key, .bytes_value, (.bytes_memlock // 0)] | @tsv' >>"$MAPS"
done
[[ -s $MAPS ]] || say "warning: no pinned maps readable with bpftool"

# podman run start time, with the hook (annotated) and without, alternating
PODMAN_DONE=0
podman_time() { # VARIANT I: one `podman run --rm ... /bin/true`, wall ms appended
	local ann=() ul t0 t1
	[[ $1 == hook ]] && ann=(--annotation io.oci-bypass.mode=on)
	read -r -a ul <<<"$(_ct_podman_ulimits)" # as ct_podman_run: what this host needs
	t0=$EPOCHREALTIME
	ct_podman --runtime "$CT_PODMAN_RUNTIME" --hooks-dir "$PODMAN_HOOKS" run --rm --name $CP-start-$2 \
		"${ul[@]}" "${ann[@]}" --rootfs "$WORK/rootfs" /bin/true >/dev/null 2>>"$RAW/podman-run.err" || return 1
	t1=$EPOCHREALTIME
	echo "podman $1 1 start 1 $(((${t1/./} - ${t0/./}) / 1000))" >>"$SAMPLES"
}
if [[ -n ${UP[podman]-} ]] && ((PODMAN_RUNS > 0)); then
	if over_budget; then
		fail_note "time budget reached: podman run start time skipped"
	else
		say "podman run start time, $PODMAN_RUNS x (hook, no hook) [$(elapsed)s]"
		podman_time nohook 0 >/dev/null 2>&1 # first run warms podman's caches
		for ((i = 1; i <= PODMAN_RUNS; i++)); do
			podman_time hook "h$i" && podman_time nohook "n$i" ||
				{ fail_note "podman run start time: podman run failed ($RAW/podman-run.err)"; break; }
			PODMAN_DONE=$i
		done
	fi
fi

# scale curve: N connections doing request/response at once (netns)
SCALE_DONE=0
scale_run() { # VARIANT N ROUND
	local v=$1 n=$2 r=$3 ns=${NP}2 ip raw=$RAW/scale-$1-$2-r$3.txt before=0 after
	ip=$(ns_ip4 $NP 1)
	[[ $v == stock ]] && ns=${NP}4 ip=$(ns_ip4 $NP 3)
	[[ $v == bypass ]] && before=$(redir_msgs "${CLI_COOKIE[netns]}")
	if ! ip netns exec $ns timeout -k 5 150 "${TS[@]}" "$OUT/connscale" client "$ip" $SCALE_PORT --conns "$n" \
		--size $SCALE_SIZE --seconds "$SCALE_SECS" >"$raw" 2>&1; then
		fail_note "scale $v $n conns round $r: connscale failed: $(tail -n 1 "$raw")"
		return 1
	fi
	if [[ $v == bypass ]]; then
		after=$(redir_msgs "${CLI_COOKIE[netns]}")
		((after > before)) || { fail_note "scale bypass $n conns round $r: nothing was redirected"; return 1; }
	fi
	awk -v v="$v" -v r="$r" -v n="$n" '/^connscale: ok / {
		for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		printf "scale %s %s scale %s %s\nscale %s %s p50 %s %s\nscale %s %s p99 %s %s\n",
			v, r, n, f["mbps"], v, r, n, f["p50_us"], v, r, n, f["p99_us"]
	}' "$raw" >>"$SAMPLES"
}
# start_scale_servers NETNS-INDEX...: connscale servers on $SCALE_PORT
start_scale_servers() {
	local i j ok=1
	for i in "$@"; do
		ip netns exec $NP$i "${TS[@]}" "$OUT/connscale" server "$(ns_ip4 $NP $i)" $SCALE_PORT \
			--timeout 900 >"$RAW/scale-server-$i.log" 2>&1 &
		BG_PIDS+=($!)
	done
	for i in "$@"; do
		# 20 s: right after a reload and 4096 closing connections the
		# server took longer than 5 s to listen (it then did)
		for ((j = 0; j < 400; j++)); do
			grep -qs listening "$RAW/scale-server-$i.log" && break
			sleep 0.05
		done
		grep -qs listening "$RAW/scale-server-$i.log" || { fail_note "scale: connscale server in $NP$i did not start"; ok=0; }
	done
	((ok))
}
# warm_scale CLIENT-NETNS-INDEX...: one short run ends the port's probation
warm_scale() {
	local i
	for i in "$@"; do
		ip netns exec $NP$i timeout -k 5 60 "$OUT/connscale" client "$(ns_ip4 $NP $((i - 1)))" $SCALE_PORT \
			--conns 1 --size 64 --seconds 1 >/dev/null 2>&1 || { fail_note "scale: warm-up from $NP$i failed"; return 1; }
	done
}
if [[ $SCALE == 1 && -n ${UP[netns]-} ]]; then
	if over_budget; then
		fail_note "time budget reached: scale curve skipped"
	else
		ok=1
		ensure_bypass netns || ok=0
		((ok)) && { start_scale_servers 1 3 || ok=0; }
		((ok)) && { warm_scale 2 4 || ok=0; }
		((ok)) && { wait_accelerated "${SRV_COOKIE[netns]}" $SCALE_PORT "scale" || ok=0; }
		if ((ok)); then
			for ((r = 1; r <= REPS; r++)); do
				if ((r > 1)) && over_budget; then
					fail_note "time budget reached: scale curve has $SCALE_DONE of $REPS rounds"
					break
				fi
				say "round $r/$REPS: scale curve (connscale, $SCALE_CONNS conns) [$(elapsed)s]"
				for n in $SCALE_CONNS; do
					scale_run stock "$n" "$r"
					scale_run bypass "$n" "$r"
				done
				SCALE_DONE=$r
			done
		fi
	fi
fi

# A sockhash too small for the largest scale run, and the hook's own cost:
# both unload and load oci-bypass, so only when this run loaded it.
FULL_LINE="" FULL_MAX=0 FULL_CONNS=0
HOOK_TABLE=$RAW/hook-latency.txt
: >"$HOOK_TABLE"
own_objects() {
	! $LOADED_BEFORE && $we_loaded
}
if [[ $SCALE == 1 && -n ${UP[netns]-} ]] && ((SCALE_DONE > 0)); then
	FULL_CONNS=${SCALE_CONNS##* }
	FULL_MAX=$FULL_CONNS # sockets: room for half of the connections
	if ! own_objects; then
		note "sockhash-full run skipped: oci-bypass was loaded before this benchmark (it needs its own load --max-sockets)"
	elif over_budget; then
		fail_note "time budget reached: sockhash-full run skipped"
	else
		say "sockhash full: load --max-sockets $FULL_MAX, $FULL_CONNS connections [$(elapsed)s]"
		ct_cleanup_all $CP >/dev/null 2>&1 # the podman containers' enrolments go with them
		for n in "${ENROLLED[@]}"; do "$OB" withdraw "$n" >/dev/null 2>&1; done
		ENROLLED=()
		# the scale servers must be gone, their port free, before the
		# sockhash-full run starts its own server on it
		for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
		for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
		BG_PIDS=()
		if "$OB" unload --wait 10 >/dev/null 2>&1 && "$OB" load --max-sockets "$FULL_MAX" >/dev/null &&
			"$OB" enroll --netns /run/netns/${NP}1 --name ${NP}1 --max-sockets "$FULL_MAX" \
				--max-conns "$FULL_MAX" >/dev/null &&
			"$OB" enroll --netns /run/netns/${NP}2 --name ${NP}2 --max-sockets "$FULL_MAX" \
				--max-conns "$FULL_MAX" >/dev/null; then
			ENROLLED=(${NP}1 ${NP}2)
			SRV_COOKIE[netns]=$(ns_cookie ${NP}1) CLI_COOKIE[netns]=$(ns_cookie ${NP}2)
			if start_scale_servers 1 && warm_scale 2 &&
				wait_accelerated "${SRV_COOKIE[netns]}" $SCALE_PORT "sockhash full"; then
				raw=$RAW/scale-full.txt
				if ip netns exec ${NP}2 timeout -k 5 150 "${TS[@]}" "$OUT/connscale" client "$(ns_ip4 $NP 1)" \
					$SCALE_PORT --conns "$FULL_CONNS" --size $SCALE_SIZE --seconds "$SCALE_SECS" >"$raw" 2>&1; then
					FULL_LINE=$(status_json | jq -r --arg c "${NP}2" --arg s "${NP}1" \
						'[.netns[] | select(.name == $c)][0] as $c | [.netns[] | select(.name == $s)][0] as $s |
						 "\($c.paired) \($c.full + $s.full) \($c.client_first + $s.client_first)"')
					FULL_LINE+=" $(awk '/^connscale: ok / { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
						print f["mbps"], f["p50_us"], f["p99_us"] }' "$raw")"
				else
					fail_note "sockhash full: connscale failed: $(tail -n 1 "$raw")"
				fi
			fi
		else
			fail_note "sockhash full: reload with --max-sockets $FULL_MAX failed"
		fi
		for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
		for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
		BG_PIDS=()
		for n in "${ENROLLED[@]}"; do "$OB" withdraw "$n" >/dev/null 2>&1; done
		ENROLLED=()
	fi
fi
COST_TABLE=$RAW/bpfcost.md
if [[ $COST == 1 ]] && ! over_budget; then
	say "BPF costs against the bare mechanism (tests/bench/bpfcost.sh) [$(elapsed)s]"
	reload=0
	own_objects && reload=1 # part 3 unloads and loads oci-bypass
	OB_BUILD=$OB_BUILD COST_SECONDS=$SECS COST_REPS=$REPS COST_PIN=$PIN COST_RELOAD=$reload \
		timeout -k 5 900 bash "$ROOT/tests/bench/bpfcost.sh" >"$COST_TABLE" 2>"$RAW/bpfcost.err" ||
		{ fail_note "BPF costs: bpfcost.sh failed ($RAW/bpfcost.err)"; : >"$COST_TABLE"; }
fi
POOL_TABLE=$RAW/pool.md
if [[ $POOL == 1 ]] && ! over_budget; then
	say "kept connections (tests/bench/pool.sh, ${POOL_SECS} s runs) [$(elapsed)s]"
	OB_BUILD=$OB_BUILD POOL_SECONDS=$POOL_SECS POOL_REPS=$REPS POOL_PIN=$PIN \
		timeout -k 5 900 bash "$ROOT/tests/bench/pool.sh" >"$POOL_TABLE" 2>"$RAW/pool.err" ||
		{ fail_note "kept connections: pool.sh failed ($RAW/pool.err)"; : >"$POOL_TABLE"; }
fi
if own_objects && ! over_budget; then
	say "hook cost (tests/bench/hook_latency.sh 300) [$(elapsed)s]"
	"$OB" unload --wait 10 >/dev/null 2>&1
	sleep 3 # let the scale runs' sockets and servers go first
	OB_BUILD=$OB_BUILD timeout -k 5 300 bash "$ROOT/tests/bench/hook_latency.sh" 300 >"$HOOK_TABLE" 2>"$RAW/hook-latency.err" ||
		{ fail_note "hook cost: hook_latency.sh failed ($RAW/hook-latency.err)"; : >"$HOOK_TABLE"; }
elif ! own_objects; then
	note "hook cost skipped: oci-bypass was loaded before this benchmark (hook_latency.sh unloads and loads it)"
fi

# ------------------------------------------------------------- report ----

# medians: setup variant test size median samples
MED=$RAW/medians.txt
sort -k1,1 -k2,2 -k4,4 -k5,5n -k6,6g "$SAMPLES" | awk '
function flush() {
	if (n == 0) return
	m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	print key, m, n
	n = 0
}
{ k = $1 " " $2 " " $4 " " $5; if (k != key) { flush(); key = k }; a[++n] = $6 }
END { flush() }' >"$MED"

med() { awk -v k="$1 $2 $3 $4" '$1 " " $2 " " $3 " " $4 == k { print $5; exit }' "$MED"; }

{
	echo "setup,metric,size,variant,median,unit,samples"
	awk 'BEGIN {
		name["lat"] = "tcp_lat"; unit["lat"] = "us"; name["bw"] = "tcp_bw"; unit["bw"] = "MB/s"
		name["scale"] = "scale_bw"; unit["scale"] = "MB/s"; name["p50"] = "scale_p50"; unit["p50"] = "us"
		name["p99"] = "scale_p99"; unit["p99"] = "us"; name["start"] = "podman_run"; unit["start"] = "ms"
	} {
		setup = ($1 == "unix") ? "af_unix" : ($1 == "unixbig") ? "af_unix_256m_sndbuf" : ($1 == "scale") ? "netns" : $1
		printf "%s,%s,%s,%s,%s,%s,%s\n", setup, name[$3], $4, $2, $5, unit[$3], $6
	}' "$MED" | sort -t, -k1,1 -k2,2 -k4,4r -k3,3n
} >"$OUT/results.csv"

fmt() { # value -> 1 decimal (3 significant digits below 10)
	awk -v v="$1" 'BEGIN { if (v == "") print "-"; else if (v < 10) printf "%.2f\n", v; else printf "%.1f\n", v }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2fx\n", a / b }'; }

# targets: per setup, from the medians of this run
declare -A TGT
eval_targets() { # SETUP
	local s=$1
	TGT[$s]=$(awk -v s="$s" '
	function hs(x) { return (x >= 1024 && x % 1024 == 0) ? (x / 1024) "K" : x }
	$1 == s && $2 == "stock" { st[$3, $4] = $5 }
	$1 == s && $2 == "bypass" { by[$3, $4] = $5; sz[$4] = 1 }
	$1 == "unix" { un[$3, $4] = $5 }
	function upd(i, v, x, low) {
		if (!(i in w) || (low ? v < w[i] : v > w[i])) { w[i] = v; ws[i] = x }
	}
	END {
		for (x in sz) {
			y = x + 0
			if ((("lat", x) in by) && (("lat", x) in un) && un["lat", x] > 0) upd(1, by["lat", x] / un["lat", x], y, 0)
			if ((("lat", x) in by) && (("lat", x) in st) && st["lat", x] > 0) upd(2, by["lat", x] / st["lat", x], y, 0)
			if ((("bw", x) in by) && (("bw", x) in st) && st["bw", x] > 0) upd(3, by["bw", x] / st["bw", x], y, 1)
			if (y >= 1024 && y <= 16384 && (("bw", x) in by) && (("bw", x) in st) && st["bw", x] > 0) upd(4, by["bw", x] / st["bw", x], y, 1)
			if (y >= 1024 && (("bw", x) in by) && (("bw", x) in un) && un["bw", x] > 0) upd(5, by["bw", x] / un["bw", x], y, 1)
		}
		lim[1] = 1.05; lim[2] = 0.7; lim[3] = 1.0; lim[4] = 3.0; lim[5] = 0.9
		lo[1] = 0; lo[2] = 0; lo[3] = 1; lo[4] = 1; lo[5] = 1
		for (i = 1; i <= 5; i++) {
			if (!(i in w)) { printf "n/a|"; continue }
			ok = lo[i] ? (w[i] >= lim[i]) : (w[i] <= lim[i])
			printf "%s (worst %.2f at %s)|", ok ? "met" : "**missed**", w[i], hs(ws[i])
		}
	}' "$MED")
}

setup_title() {
	case $1 in
	netns) echo "netns: two enrolled network namespaces on a bridge vs two not enrolled (same bridge)" ;;
	podman) echo "podman: containers on podman's default network (${PODMAN_NET:-podman}, netavark NAT rules), annotated io.oci-bypass.mode=on vs not" ;;
	esac
}

report() {
	local s x v
	echo "# oci-bypass benchmark"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), oci-bypass build $BUILD_ID."
	echo "qperf tcp_lat (one-way latency, us) and tcp_bw (MB/s, 10^6 bytes), ${SECS}s per point; median of $ROUNDS_DONE rounds,"
	echo "stock and bypass runs alternating; $PIN_TEXT (qperf client and server, unixpair, connscale)."
	echo "Stock = namespaces/containers not enrolled while oci-bypass is loaded. AF_UNIX = unixpair (socketpair, same patterns, same pinning)."
	echo "ratio = bypass / stock; bypass/unix = bypass / AF_UNIX. Load average: $LOAD_START at start, $LOAD_END after the qperf rounds. Wall time $(elapsed)s."
	echo "net.bridge.bridge-nf-call-iptables = $(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo 'n/a (no br_netfilter)') (1: bridged stock traffic also passes iptables, incl. netavark's rules)."
	for s in $SETUPS; do
		[[ -n ${UP[$s]-} ]] || { echo; echo "## $s: not measured (setup failed, see stderr)"; continue; }
		echo
		echo "## $(setup_title "$s")"
		echo
		echo "| size | lat stock (us) | lat bypass (us) | ratio | lat AF_UNIX (us) | bypass/unix | bw stock (MB/s) | bw bypass (MB/s) | ratio | bw AF_UNIX (MB/s) | bypass/unix |"
		echo "|-----:|------:|------:|------:|------:|------:|------:|------:|------:|------:|------:|"
		for x in $SIZES; do
			local ls lb lu bs bb bu
			ls=$(med "$s" stock lat "$x") lb=$(med "$s" bypass lat "$x") lu=$(med unix unix lat "$x")
			bs=$(med "$s" stock bw "$x") bb=$(med "$s" bypass bw "$x") bu=$(med unix unix bw "$x")
			echo "| $(human "$x") | $(fmt "$ls") | $(fmt "$lb") | $(ratio "$lb" "$ls") | $(fmt "$lu") | $(ratio "$lb" "$lu") | $(fmt "$bs") | $(fmt "$bb") | $(ratio "$bb" "$bs") | $(fmt "$bu") | $(ratio "$bb" "$bu") |"
		done
		eval_targets "$s"
	done
	echo
	echo "## Targets (this run, from the medians above)"
	echo
	local hdr="| target |" sep="|---|"
	for s in $SETUPS; do [[ -n ${UP[$s]-} ]] && hdr+=" $s |" && sep+="---|"; done
	echo "$hdr"
	echo "$sep"
	local names=("tcp_lat bypass <= 1.05 x AF_UNIX, every size (worst = max bypass/unix)"
		"tcp_lat bypass <= 0.7 x stock, every size (worst = max bypass/stock)"
		"tcp_bw bypass/stock >= 1.0, every size (worst = min)"
		"tcp_bw bypass/stock >= 3, 1K..16K (worst = min)"
		"tcp_bw bypass >= 0.9 x AF_UNIX, 1K and up (worst = min bypass/unix)")
	for i in 0 1 2 3 4; do
		local line="| ${names[$i]} |"
		for s in $SETUPS; do
			[[ -n ${UP[$s]-} ]] || continue
			line+=" $(cut -d'|' -f$((i + 1)) <<<"${TGT[$s]}") |"
		done
		echo "$line"
	done
	if [[ -n $(med unixbig unix bw 65536) ]]; then
		echo
		echo "## Why bypass stays below AF_UNIX from 1 KiB: no back-pressure"
		echo
		echo "A redirected message is queued on the reader without regard to its buffer, so the writer runs ahead (up to the"
		echo "64/256 MiB bound) and the reader copies cache-cold data. AF_UNIX blocks its writer at a ~200 KiB send buffer; with"
		echo "SO_SNDBUFFORCE 256 MiB (unixpair -s) its writer runs ahead too, and it falls to the bypass's level. MB/s, median of $ROUNDS_DONE."
		echo
		echo "| size | AF_UNIX | AF_UNIX, 256 MiB send buffer | bypass, netns | bypass, podman |"
		echo "|-----:|------:|------:|------:|------:|"
		for x in $BIG_SIZES; do
			echo "| $(human "$x") | $(fmt "$(med unix unix bw "$x")") | $(fmt "$(med unixbig unix bw "$x")") | $(fmt "$(med netns bypass bw "$x")") | $(fmt "$(med podman bypass bw "$x")") |"
		done
	fi
	if ((SCALE_DONE > 0)); then
		echo
		echo "## Scale: N connections doing request/response at once, netns (tests/bench/connscale.c)"
		echo
		echo "Each connection sends $SCALE_SIZE bytes and waits for $SCALE_SIZE back, over and over, for ${SCALE_SECS}s, all N driven by one epoll loop"
		echo "per side; MB/s = request + response bytes / s; latency = one round, write start to last byte read; median of $SCALE_DONE rounds; $PIN_TEXT."
		echo
		echo "| conns | stock (MB/s) | bypass (MB/s) | ratio | p50 stock (us) | p50 bypass (us) | p99 stock (us) | p99 bypass (us) |"
		echo "|------:|------:|------:|------:|------:|------:|------:|------:|"
		for x in $SCALE_CONNS; do
			local a b
			a=$(med scale stock scale "$x") b=$(med scale bypass scale "$x")
			echo "| $x | $(fmt "$a") | $(fmt "$b") | $(ratio "$b" "$a") | $(fmt "$(med scale stock p50 "$x")") | $(fmt "$(med scale bypass p50 "$x")") | $(fmt "$(med scale stock p99 "$x")") | $(fmt "$(med scale bypass p99 "$x")") |"
		done
	fi
	if [[ -n $FULL_LINE ]]; then
		local f=($FULL_LINE)
		echo
		echo "## Sockhash full: load --max-sockets $FULL_MAX, $FULL_CONNS connections at once (one run)"
		echo
		echo "Room for $((FULL_MAX / 2)) of the $FULL_CONNS connections: the others stay on stock TCP, are counted, and nothing fails (every round of every connection completed)."
		echo
		echo "| paired (client sockets) | counted full | counted client_first | MB/s | p50 (us) | p99 (us) |"
		echo "|------:|------:|------:|------:|------:|------:|"
		echo "| ${f[0]} | ${f[1]} | ${f[2]} | $(fmt "${f[3]-}") | $(fmt "${f[4]-}") | $(fmt "${f[5]-}") |"
	fi
	if ((PODMAN_DONE > 0)); then
		echo
		echo "## podman run start time (podman run --rm --rootfs ... /bin/true on the default network, wall ms, $PODMAN_DONE runs each, alternating)"
		echo
		echo "| | median (ms) | max (ms) |"
		echo "|---|---:|---:|"
		local a b
		a=$(med podman nohook start 1) b=$(med podman hook start 1)
		echo "| without the hook | $(fmt "$a") | $(awk '$1 == "podman" && $2 == "nohook" { if ($6 > m) m = $6 } END { print m + 0 }' "$SAMPLES") |"
		echo "| with the hook (annotated) | $(fmt "$b") | $(awk '$1 == "podman" && $2 == "hook" { if ($6 > m) m = $6 } END { print m + 0 }' "$SAMPLES") |"
		echo "| ratio | $(ratio "$b" "$a") | |"
	fi
	if [[ -s ${COST_TABLE:-} ]]; then
		echo
		echo "## BPF costs (tests/bench/bpfcost.sh: ours against the bare mechanism)"
		echo
		cat "$COST_TABLE"
	fi
	if [[ -s ${POOL_TABLE:-} ]]; then
		echo
		echo "## Kept connections (tests/bench/pool.sh: a pool opened before its service is learned)"
		echo
		cat "$POOL_TABLE"
	fi
	if [[ -s $HOOK_TABLE ]]; then
		echo
		echo "## Hook cost (tests/bench/hook_latency.sh: one hook process per call, fork to exit)"
		echo
		echo '```'
		cat "$HOOK_TABLE"
		echo '```'
	fi
	if [[ -s $MAPS ]]; then
		echo
		echo "## BPF map memory (pinned maps under /sys/fs/bpf/oci-bypass, bpftool bytes_memlock)"
		echo
		echo "| map | type | max_entries | key+value bytes | memlock (KiB) |"
		echo "|---|---|---:|---:|---:|"
		awk -F'\t' '{ printf "| %s | %s | %s | %s+%s | %.1f |\n", $1, $2, $3, $4, $5, $6 / 1024; t += $6 }
			END { printf "| **total** | | | | **%.1f** (%.2f MiB) |\n", t / 1024, t / 1048576 }' "$MAPS"
	fi
	if ((ROUNDS_DONE > 1)); then
		echo
		echo "## Noise: spread of each cell across the $ROUNDS_DONE rounds (max / min)"
		echo
		echo "| setup | variant | median spread | worst spread (cell) |"
		echo "|---|---|---:|---:|"
		awk '$4 == "lat" || $4 == "bw"' "$SAMPLES" | sort -k1,1 -k2,2 -k4,4 -k5,5n -k6,6g | awk '
		function hs(x) { return (x >= 1024 && x % 1024 == 0) ? (x / 1024) "K" : x }
		function flush() {
			if (n > 1 && lo > 0) { g = g2; sp[g, ++c[g]] = hi / lo; if (hi / lo > w[g]) { w[g] = hi / lo; wc[g] = cell } }
			n = 0
		}
		{ k = $1 " " $2 " " $4 " " $5
		  if (k != key) { flush(); key = k; g2 = $1 " " $2; cell = $4 " " hs($5); lo = $6; hi = $6 }
		  if ($6 < lo) lo = $6; if ($6 > hi) hi = $6; n++ }
		END {
			flush()
			for (g in c) {
				m = c[g]
				for (i = 1; i <= m; i++) a[i] = sp[g, i]
				for (i = 2; i <= m; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
				med = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
				split(g, gg, " ")
				printf "| %s | %s | %.2fx | %.2fx (%s) |\n", (gg[1] == "unix" ? "AF_UNIX" : gg[1]), gg[2], med, w[g], wc[g]
			}
		}' | sort
	fi
	if ((${#NOTES[@]} > 0)); then
		echo
		echo "## Notes"
		echo
		printf -- '- %s\n' "${NOTES[@]}"
	fi
	if ((${#FAILED[@]} > 0)); then
		echo
		echo "## Measurements that could not be taken"
		echo
		printf -- '- %s\n' "${FAILED[@]}"
	fi
}
report >"$OUT/results.md"

# plots
plot() {
	local s v t f
	for s in $SETUPS unix; do
		for v in stock bypass unix; do
			for t in lat bw; do
				f=$OUT/plot/$s-$v-$t.dat
				awk -v s="$s" -v v="$v" -v t="$t" '$1 == s && $2 == v && $3 == t { print $4, $5 }' "$MED" | sort -n >"$f"
				[[ -s $f ]] || rm -f "$f"
			done
		done
	done
	command -v gnuplot >/dev/null 2>&1 || return 1
	local term="pngcairo size 1000,600 font ',10'"
	gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1 || term="png size 1000,600"
	for t in lat bw; do
		local series=() spec
		for s in $SETUPS; do
			[[ -n ${UP[$s]-} ]] || continue
			[[ -s $OUT/plot/$s-stock-$t.dat ]] && series+=("'$OUT/plot/$s-stock-$t.dat' with linespoints lw 2 dt 2 title '$s stock'")
			[[ -s $OUT/plot/$s-bypass-$t.dat ]] && series+=("'$OUT/plot/$s-bypass-$t.dat' with linespoints lw 2 title '$s oci-bypass'")
		done
		[[ -s $OUT/plot/unix-unix-$t.dat ]] && series+=("'$OUT/plot/unix-unix-$t.dat' with linespoints lw 2 lc rgb 'black' title 'AF_UNIX socketpair'")
		((${#series[@]} > 0)) || continue
		spec=$(IFS=,; echo "${series[*]}")
		local name=latency ylabel="one-way latency (us), qperf tcp_lat" extra="set yrange [0:*]" key="top left"
		if [[ $t == bw ]]; then
			name=throughput ylabel="throughput (MB/s), qperf tcp_bw" extra="set logscale y 10" key="top left"
		fi
		gnuplot <<EOF || return 1
set terminal $term
set termoption noenhanced
set output '$OUT/$name.png'
set title "oci-bypass vs stock TCP ($t, median of $ROUNDS_DONE, ${PIN_TEXT//\'/})"
set xlabel 'message size (bytes)'
set ylabel '$ylabel'
set logscale x 2
set xrange [0.7:95000]
set xtics ("1" 1, "4" 4, "16" 16, "64" 64, "256" 256, "1K" 1024, "4K" 4096, "16K" 16384, "64K" 65536)
$extra
set key $key
set grid
plot $spec
EOF
	done
}
plot || say "warning: plots not written (gnuplot missing or failed)"

cat "$OUT/results.md"
say "done in $(elapsed)s: $OUT/results.md results.csv latency.png throughput.png raw/"
if ((${#FAILED[@]} > 0)); then
	say "${#FAILED[@]} measurement(s) could not be taken (listed at the end of results.md)"
	exit 1
fi
exit 0
