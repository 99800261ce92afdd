#!/usr/bin/env bash
# demo.sh - the same qperf exchange between two network namespaces, measured
# with stock TCP and with oci-bypass, printed side by side; then cleans up.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
OB_BUILD=${OB_BUILD:-$PWD/build}
OB="$OB_BUILD/oci-bypass"
DUR=${DEMO_SECONDS:-1}
SIZES=${DEMO_SIZES:-1:64K:*4}
P=obd
. tests/lib/netns.sh

was_loaded=false
"$OB" status --json 2>/dev/null | grep -q '"loaded": true' && was_loaded=true
QPID=
cleanup() {
	[ -n "$QPID" ] && kill "$QPID" 2>/dev/null
	"$OB" withdraw --netns /run/netns/${P}1 >/dev/null 2>&1 || true
	"$OB" withdraw --netns /run/netns/${P}2 >/dev/null 2>&1 || true
	ns_teardown $P 2
	$was_loaded || "$OB" unload --wait 10 >/dev/null 2>&1 || true
	rm -f "$STOCK" "$ACCEL"
}
STOCK=$(mktemp) ACCEL=$(mktemp)
trap cleanup EXIT

ns_setup $P 2
SERVER=$(ns_ip4 $P 1)
"$OB" load >/dev/null

# qperf's data connections use one fixed port (-ip), so that they form one
# service: its first connection (the warm-up) ends the probation that keeps
# a new service on stock TCP until it is known not to half-close.
measure() { # output-file
	ip netns exec ${P}1 qperf --listen_port 19765 >/dev/null 2>&1 &
	QPID=$!
	sleep 0.3
	ip netns exec ${P}2 timeout 60 qperf "$SERVER" --listen_port 19765 -ip 19766 -t 1 \
		tcp_lat >/dev/null
	ip netns exec ${P}2 timeout 300 qperf "$SERVER" --listen_port 19765 -ip 19766 -t "$DUR" \
		-oo msg_size:$SIZES -v tcp_lat tcp_bw | bash examples/qperf_table.sh >"$1"
	kill "$QPID" 2>/dev/null; wait "$QPID" 2>/dev/null || true
	QPID=
}

echo "oci-bypass demo: qperf between two network namespaces on a bridge (${DUR}s per point)"
echo "  measuring stock TCP ..."
measure "$STOCK"
"$OB" enroll --netns /run/netns/${P}1 --name demo-server >/dev/null
"$OB" enroll --netns /run/netns/${P}2 --name demo-client >/dev/null
echo "  measuring with oci-bypass ..."
measure "$ACCEL"

echo
printf '%9s | %12s %12s %7s | %12s %12s %7s\n' "msg size" "lat stock" "lat bypass" "ratio" \
	"bw stock" "bw bypass" "ratio"
printf '%9s | %12s %12s %7s | %12s %12s %7s\n' "(bytes)" "(us)" "(us)" "" "(MB/s)" "(MB/s)" ""
echo "----------+-------------------------------------+-------------------------------------"
join <(awk '$1=="lat"{print $2, $3}' "$STOCK" | sort) \
     <(awk '$1=="lat"{print $2, $3}' "$ACCEL" | sort) >"$STOCK.lat"
join <(awk '$1=="bw"{print $2, $3}' "$STOCK" | sort) \
     <(awk '$1=="bw"{print $2, $3}' "$ACCEL" | sort) >"$STOCK.bw"
join "$STOCK.lat" "$STOCK.bw" | sort -n | awk '{
	printf "%9d | %12.1f %12.1f %6.2fx | %12.1f %12.1f %6.2fx\n", $1, $2, $3, $3/$2, $4, $5, $5/$4
}'
rm -f "$STOCK.lat" "$STOCK.bw"
echo
echo "latency ratio < 1 and bandwidth ratio > 1 mean oci-bypass is faster."
echo
"$OB" status
