#!/usr/bin/env bash
# tests/bench/pool.sh - connections kept open, as services keep them: a pool
# of 8 connections to Debian's redis-server (tests/redispool.c: SET, GET,
# INCR, PING, every reply checked; and PING alone), opened before the
# first request, the same pool from Debian's redis-benchmark (-c 8, PING),
# and
# pgbench -S without -C (8 connections kept for the run), each measured
#   stock    between two namespaces that are not enrolled,
#   default  both enrolled: the pool starts on stock TCP (a new service on
#            probation), is learned from its own connections and promoted
#            by `oci-bypass promote` every second (its timer's period),
#   trust    both enrolled with --trust: paired from the first connection,
# side by side, alternating, the median of POOL_REPS rounds; plus the time
# from the pool's first request to its promotion (default).
# Prints a Markdown table on stdout (progress on stderr). Needs root,
# redis-server and PostgreSQL (make deps); oci-bypass is loaded if it is not.
#   OB_BUILD     build directory     POOL_REPS    rounds (default 3)
#   POOL_SECONDS run length (20)     POOL_CONNS   pool size (8)
#   POOL_PIN     CPU for both redis ends (default 1; empty: no pinning)
set -u -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OB_BUILD=${OB_BUILD:-$ROOT/build}
OB=$OB_BUILD/oci-bypass RP=$OB_BUILD/tests/redispool
REPS=${POOL_REPS:-3} SECS=${POOL_SECONDS:-20} CONNS=${POOL_CONNS:-8}
# both ends on one CPU (as make bench runs qperf), unless POOL_PIN is empty
PIN=${POOL_PIN-1}
pin() { if [ -n "$PIN" ]; then taskset -c "$PIN" "$@"; else "$@"; fi; }
say() { printf 'pool: %s\n' "$*" >&2; }
die() { printf 'pool: error: %s\n' "$*" >&2; exit 2; }
. "$ROOT/tests/lib/netns.sh"
[ "$(id -u)" = 0 ] || die "needs root"
command -v redis-server >/dev/null || die "redis-server is not installed (make deps)"
[ -x "$RP" ] || die "$RP missing (make tools)"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
W=$(mktemp -d)
chmod 755 "$W"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	ns_teardown obpl 6 >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
"$OB" status --json 2>/dev/null | jq -e '.loaded' >/dev/null || "$OB" load >/dev/null || die "load"
"$OB" status --json | jq -e '.promotion' >/dev/null || die "this kernel cannot promote (doctor)"
ns_setup obpl 6 >/dev/null || die "netns"
# pairs: 1 <- 2 stock, 3 <- 4 default, 5 <- 6 trust
for i in 3 4; do "$OB" enroll --netns /run/netns/obpl$i --name pl-d$i >/dev/null || die enroll; done
for i in 5 6; do "$OB" enroll --netns /run/netns/obpl$i --name pl-t$i --trust >/dev/null || die enroll; done
srv_ns() { case $1 in stock) echo 1 ;; default) echo 3 ;; trust) echo 5 ;; esac; }
redis_port=7600

# redis_run VARIANT CLIENT [ARGS...]: requests/s of one run of CLIENT,
# pool (tests/redispool.c, a thread per connection, blocking) or bench
# (Debian's redis-benchmark: one thread, epoll, PING); for default also
# the seconds from the first request to every direction promoted (to
# $W/promo_s)
redis_run() {
	local v=$1 client=$2 s c addr port out t0 t1= pid r pr
	shift 2
	s=$(srv_ns "$v") c=$((s + 1)) addr=$(ns_ip4 obpl "$s")
	port=$((redis_port++)) # a new service each run: default starts on probation
	pin ip netns exec obpl$s redis-server --bind "$addr" --port "$port" --save '' --appendonly no \
		--protected-mode no --daemonize no --dir "$W" >"$W/redis.log" 2>&1 &
	r=$!
	PIDS+=($r)
	for _ in $(seq 100); do grep -q "Ready to accept" "$W/redis.log" && break; sleep 0.05; done
	t0=$(date +%s.%N)
	if [ "$client" = pool ]; then
		pin ip netns exec obpl$c "$RP" "$addr" "$port" --conns "$CONNS" --seconds "$SECS" \
			--timeout $((SECS + 60)) "$@" >"$W/rp" 2>&1 &
	else
		# as many requests as stock serves in about SECS seconds
		pin ip netns exec obpl$c timeout $((SECS * 4 + 60)) redis-benchmark -h "$addr" \
			-p "$port" -c "$CONNS" -n $((SECS * 50000)) -t ping_mbulk --csv >"$W/rp" 2>&1 &
	fi
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		if [ "$v" = default ]; then
			"$OB" promote >/dev/null
			pr=$("$OB" status --json | jq -r --argjson p "$port" \
				'[.services[] | select(.port == $p) | .promoted] | first // 0')
			[ -z "$t1" ] && [ "${pr:-0}" -ge $((2 * CONNS)) ] && t1=$(date +%s.%N)
		fi
		sleep 1
	done
	wait $pid || { say "$client ($v): $(tail -n 2 "$W/rp")"; out=; }
	kill $r 2>/dev/null; wait $r 2>/dev/null
	[ -n "$t1" ] && [ "$client" = pool ] &&
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }' >>"$W/promo_s"
	if [ "$client" = pool ]; then
		awk '/^redispool: ok/ { for (i = 1; i <= NF; i++) { split($i, kv, "=");
			if (kv[1] == "requests") r = kv[2]; if (kv[1] == "elapsed_ms") ms = kv[2] }
			printf "%.0f\n", r * 1000 / ms }' "$W/rp"
	else
		awk -F'","' '/^"PING_MBULK"/ { printf "%.0f\n", $2 }' "$W/rp"
	fi
}

# pgbench VARIANT: tps of one run (its setup connection teaches the
# service: default pairs at the handshake, like trust)
pg_up() {
	local v s addr
	[ -x "${PGBIN:-}/postgres" ] || return 1
	id postgres >/dev/null 2>&1 || return 1
	for v in stock default trust; do
		s=$(srv_ns "$v") addr=$(ns_ip4 obpl "$s")
		mkdir -p "$W/pg$s" && chown postgres "$W/pg$s"
		setpriv --reuid postgres --regid postgres --init-groups -- "$PGBIN/initdb" -D "$W/pg$s/data" \
			-A trust -U postgres >/dev/null 2>&1 || return 1
		printf 'host all all 0.0.0.0/0 trust\n' >>"$W/pg$s/data/pg_hba.conf"
		ip netns exec obpl$s setpriv --reuid postgres --regid postgres --init-groups -- \
			"$PGBIN/postgres" -D "$W/pg$s/data" -p 5432 -c listen_addresses="$addr" \
			-c unix_socket_directories="$W/pg$s" -c fsync=off >"$W/pg$s/log" 2>&1 &
		PIDS+=($!)
	done
	for v in stock default trust; do
		s=$(srv_ns "$v")
		for _ in $(seq 100); do
			setpriv --reuid postgres --regid postgres --init-groups -- "$PGBIN/pg_isready" -q \
				-h "$W/pg$s" -p 5432 && break
			sleep 0.1
		done
		setpriv --reuid postgres --regid postgres --init-groups -- "$PGBIN/pgbench" -i -s 2 \
			-h "$W/pg$s" -p 5432 postgres >/dev/null 2>&1 || return 1
	done
}
pg_run() {
	local v=$1 s c
	s=$(srv_ns "$v") c=$((s + 1))
	ip netns exec obpl$c setpriv --reuid postgres --regid postgres --init-groups -- "$PGBIN/pgbench" \
		-h "$(ns_ip4 obpl "$s")" -p 5432 -c "$CONNS" -j 2 -T "$SECS" -S postgres 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | awk '{ printf "%.0f\n", $1 }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }
: >"$W/promo_s"
PG=0
pg_up && PG=1 || say "PostgreSQL not usable here: no pgbench row"
for r in $(seq "$REPS"); do
	for v in stock default trust; do
		say "round $r: redis pool, $v"
		redis_run "$v" pool >>"$W/redis.$v"
		say "round $r: redis pool, PING only, $v"
		redis_run "$v" pool --ping >>"$W/ping.$v"
		say "round $r: redis-benchmark -c $CONNS, PING, $v"
		redis_run "$v" bench >>"$W/bench.$v"
		if [ $PG = 1 ]; then
			say "round $r: pgbench, $v"
			pg_run "$v" >>"$W/pg.$v"
		fi
	done
done
cell() { median <"$1" 2>/dev/null; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2fx", a / b }'; }
rs=$(cell "$W/redis.stock") rd=$(cell "$W/redis.default") rt=$(cell "$W/redis.trust")
echo "| kept connections ($CONNS, ${SECS} s, median of $REPS) | stock | default | trust | default/stock | trust/stock | default/trust |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
echo "| redis pool, SET/GET/INCR/PING, requests/s | $rs | $rd | $rt | $(ratio "$rd" "$rs") | $(ratio "$rt" "$rs") | $(ratio "$rd" "$rt") |"
rs=$(cell "$W/ping.stock") rd=$(cell "$W/ping.default") rt=$(cell "$W/ping.trust")
echo "| redis pool, PING, requests/s | $rs | $rd | $rt | $(ratio "$rd" "$rs") | $(ratio "$rt" "$rs") | $(ratio "$rd" "$rt") |"
rs=$(cell "$W/bench.stock") rd=$(cell "$W/bench.default") rt=$(cell "$W/bench.trust")
echo "| redis-benchmark -c $CONNS -t ping_mbulk (one thread, epoll), requests/s | $rs | $rd | $rt | $(ratio "$rd" "$rs") | $(ratio "$rt" "$rs") | $(ratio "$rd" "$rt") |"
if [ $PG = 1 ]; then
	ps=$(cell "$W/pg.stock") pd=$(cell "$W/pg.default") pt=$(cell "$W/pg.trust")
	echo "| pgbench -S, tps | $ps | $pd | $pt | $(ratio "$pd" "$ps") | $(ratio "$pt" "$ps") | $(ratio "$pd" "$pt") |"
fi
echo
echo "Default: the pool's first request to every direction promoted: $(cell "$W/promo_s") s (median; promote every 1 s, as its timer)."
