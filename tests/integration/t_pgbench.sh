#!/usr/bin/env bash
# t_pgbench.sh - Debian's PostgreSQL and pgbench without -C, from another
# namespace: pgbench opens its 8 connections at start and keeps them for
# the whole run; their transactions run accelerated (redirected), none
# fails. pgbench first opens a setup connection and closes it, which
# teaches the service (a new one: the tables are made over the Unix
# socket), so the 8 pair at their handshake; should any start on TCP
# (a client first to write), promote (every 200 ms here, as its timer
# would every second) moves it. t_redis shows a pool promoted.
. "$(dirname "$0")/../lib/common.sh"
need_root
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBIN/postgres" ] && [ -x "$PGBIN/pgbench" ] ||
	skip "PostgreSQL is not installed (make deps installs it)"
id postgres >/dev/null 2>&1 || skip "no postgres user (the postgresql package makes it)"
P=obpg
W=$(mktemp -d)
PG= PB=
trap 'kill $PB 2>/dev/null; [ -n "$PG" ] && kill -INT $PG 2>/dev/null; wait; ns_teardown $P 2; rm -rf "$W"' EXIT
chown postgres "$W"
setup_enrolled $P 2 pg-srv pg-cli
need_promotion
A=$(ns_ip4 $P 1)
SECS=8
[ -z "${OBK_GUEST:-}" ] || SECS=30
# as the postgres user, the command itself (setpriv execs it: a signal
# reaches it, and $! is its pid)
pg() { setpriv --reuid postgres --regid postgres --init-groups -- "$@"; }

pg "$PGBIN/initdb" -D "$W/data" -A trust -U postgres >"$W/initdb" 2>&1 || die "initdb: $(tail -n 3 "$W/initdb")"
printf 'host all all 0.0.0.0/0 trust\nhost all all ::/0 trust\n' >>"$W/data/pg_hba.conf"
ip netns exec ${P}1 setpriv --reuid postgres --regid postgres --init-groups -- "$PGBIN/postgres" -D "$W/data" -p 5432 \
	-c listen_addresses="$A" -c unix_socket_directories="$W" -c fsync=off \
	-c max_connections=30 >"$W/pg.log" 2>&1 &
PG=$!
for _ in $(seq 300); do
	pg "$PGBIN/pg_isready" -q -h "$W" -p 5432 && break
	kill -0 $PG 2>/dev/null || break
	sleep 0.1
done
pg "$PGBIN/pg_isready" -q -h "$W" -p 5432 || die "postgres did not start: $(tail -n 5 "$W/pg.log")"
# the tables, over the Unix socket: the TCP service stays untaught
pg "$PGBIN/pgbench" -i -s 2 -h "$W" -p 5432 postgres >"$W/init" 2>&1 || die "pgbench -i: $(tail -n 3 "$W/init")"
assert_eq "the TCP service is new" "" "$(service_state 5432)"

prob0=$(counter pg-srv probation) msgs0=$(counter pg-cli redirected_msgs)
srvmsgs0=$(counter pg-srv redirected_msgs)
ip netns exec ${P}2 setpriv --reuid postgres --regid postgres --init-groups -- "$PGBIN/pgbench" -h "$A" -p 5432 -c 8 -j 2 -T $SECS -S \
	-P 1 postgres >"$W/pb" 2>&1 &
PB=$!
runs=0 put=0
while kill -0 $PB 2>/dev/null; do
	out=$("$OB" promote) || fail "promote: $out"
	n=$(sed -n 's/.* \([0-9]*\) socket(s) put in.*/\1/p' <<<"$out")
	put=$((put + ${n:-0})) runs=$((runs + 1))
	sleep 0.2
done
wait $PB || fail "pgbench: $(tail -n 5 "$W/pb")"
PB=
grep -E "^(number of transactions actually processed|number of failed|tps)" "$W/pb" | while read -r l; do log "$l"; done
grep -q "^number of failed transactions: 0 " "$W/pb" && log "ok: no transaction failed" ||
	fail "failed transactions: $(grep 'failed' "$W/pb")"
assert_eq "the service learned from pgbench's setup connection" accelerated "$(service_state 5432)"
promoted=$("$OB" status --json | jq -r '[.services[] | select(.port == 5432) | .promoted] | first')
log "pgbench's connections: $(($(counter pg-srv probation) - prob0)) on probation, $promoted directions promoted ($runs promote runs put $put sockets in)"
tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$W/pb")
# one query per transaction each way (-S)
log "queries redirected: $(($(counter pg-cli redirected_msgs) - msgs0)) of $tx transactions"
assert_ge "at least 90 % of the queries redirected" $((tx * 9 / 10)) $(($(counter pg-cli redirected_msgs) - msgs0))
assert_ge "and of the answers" $((tx * 9 / 10)) $(($(counter pg-srv redirected_msgs) - srvmsgs0))
finish
