#!/usr/bin/env bash
# demo.sh - two real runc containers on a bridge run the same qperf exchange
# twice: once without the hook (stock TCP), once with the oci-bypass hook in
# their config.json. Prints both side by side, shows status, cleans up.
# ENGINE=docker: the same with Debian's Docker (a private dockerd on its
# default bridge network, tests/lib/docker.sh), the containers run with the
# default runtime, then with --runtime oci-bypass (oci-bypass-runtime).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
OB_BUILD=${OB_BUILD:-$PWD/build}
OB="$OB_BUILD/oci-bypass"
DUR=${DEMO_SECONDS:-1}
SIZES=${DEMO_SIZES:-1:64K:*4}
# Both qperf processes on one CPU: on a small VM, cross-CPU wake-ups from idle
# vary by 10x between runs and drown the difference. DEMO_PIN= disables.
PIN=${DEMO_PIN-1}
TS=()
[ -n "$PIN" ] && TS=(/bin/taskset -c "$PIN")
P=obd
ENGINE=${ENGINE:-runc}
case $ENGINE in
runc | docker) ;;
*) echo "demo: ENGINE is runc or docker, not '$ENGINE'" >&2; exit 2 ;;
esac
. tests/lib/netns.sh
. tests/lib/containers.sh
. tests/lib/docker.sh

WORK=$(mktemp -d /tmp/oci-bypass-demo.XXXXXX)
was_loaded=false
[ "$("$OB" status --json 2>/dev/null | jq -r .loaded)" = true ] && was_loaded=true
cleanup() {
	dk_stop >/dev/null 2>&1 || true
	ct_cleanup_all $P >/dev/null 2>&1 || true
	$was_loaded || "$OB" unload --wait 10 >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ct_host_prepare >/dev/null
# A busybox root filesystem with qperf and the libraries it links.
ct_rootfs "$WORK/rootfs" >/dev/null
for f in /usr/bin/qperf $(ldd /usr/bin/qperf | grep -o '/[^ ]*'); do
	mkdir -p "$WORK/rootfs$(dirname "$f")"
	cp -L "$f" "$WORK/rootfs$f"
done
if [ "$ENGINE" = docker ]; then
	mkdir "$WORK/docker"
	printf '{"deprecated-key-path": "%s/docker/key.json"}\n' "$WORK" >"$WORK/docker/daemon.json"
	"$OB" install-hooks --docker --docker-config "$WORK/docker/daemon.json" \
		--policy "$WORK/policy.conf" >/dev/null
	dk_start "$WORK/docker" ${P}br0 10.231.13.1/24 /obdemo-docker
	tar -C "$WORK/rootfs" -c . | docker import - obdemo:qperf >/dev/null
else
	ns_setup $P 2 >/dev/null
	SERVER=$(ns_ip4 $P 1)
fi

# qperf's data connections use one fixed port (-ip), so they form one
# service: the warm-up connection ends the probation that keeps a new
# service on stock TCP until it is known not to half-close (README).
measure() { # MODE(stock|bypass) OUTPUT
	local hook=() s=$P-$1-srv c=$P-$1-cli
	[ "$1" = bypass ] && hook=("$OB" hook)
	CT_ARGS=$(printf '%s\n' "${TS[@]}" /usr/bin/qperf --listen_port 19765 | jq -R . | jq -cs .) \
		ct_bundle "$WORK/$s" $s /run/netns/${P}1 "${hook[@]}" >/dev/null
	ct_bundle "$WORK/$c" $c /run/netns/${P}2 "${hook[@]}" >/dev/null
	ct_run runc $s "$WORK/$s"
	ct_run runc $c "$WORK/$c"
	qperf_table "$2" ct_exec runc $c
}

# qperf_table OUTPUT EXEC...: qperf against $SERVER from the client
# container, run through EXEC (ct_exec runc NAME, docker exec NAME): a
# warm-up as soon as the server listens, then the table into OUTPUT.
qperf_table() {
	local out=$1 i
	shift
	for i in $(seq 50); do
		"$@" "${TS[@]}" /usr/bin/qperf "$SERVER" --listen_port 19765 -ip 19766 -t 1 \
			tcp_lat >/dev/null 2>&1 && break
		[ $i = 50 ] && { echo "demo: qperf server did not answer" >&2; exit 1; }
		sleep 0.1
	done
	"$@" "${TS[@]}" /usr/bin/qperf "$SERVER" --listen_port 19765 -ip 19766 -t "$DUR" \
		-oo msg_size:$SIZES -v tcp_lat tcp_bw | bash examples/qperf_table.sh >"$out"
}

# The same with Docker: --runtime oci-bypass instead of the hook in config.json.
measure_docker() { # MODE(stock|bypass) OUTPUT
	local rt=() s=$P-$1-srv c=$P-$1-cli
	[ "$1" = bypass ] && rt=(--runtime oci-bypass)
	docker run -d "${rt[@]}" --name $s obdemo:qperf "${TS[@]}" /usr/bin/qperf --listen_port 19765 >/dev/null
	docker run -d "${rt[@]}" --name $c obdemo:qperf sleep 3600 >/dev/null
	SERVER=$(docker inspect --format '{{.NetworkSettings.IPAddress}}' $s)
	qperf_table "$2" docker exec $c
}

if [ "$ENGINE" = docker ]; then
	echo "oci-bypass demo: qperf between two Docker $(dockerd --version | awk '{print $3}' | tr -d ,) containers on Docker's bridge network (${DUR}s per point${PIN:+, both on CPU $PIN})"
	echo "  stock TCP: containers with Docker's default runtime (runc) ..."
	measure_docker stock "$WORK/stock"
	docker rm -f $P-stock-srv $P-stock-cli >/dev/null
	echo "  oci-bypass: the same containers with docker run --runtime oci-bypass ..."
	measure_docker bypass "$WORK/bypass"
else
	echo "oci-bypass demo: qperf between two runc containers on a bridge (${DUR}s per point${PIN:+, both on CPU $PIN})"
	echo "  stock TCP: containers without the hook ..."
	measure stock "$WORK/stock"
	ct_kill_rm runc $P-stock-srv >/dev/null; ct_kill_rm runc $P-stock-cli >/dev/null
	echo "  oci-bypass: the same containers with the hook in config.json ..."
	measure bypass "$WORK/bypass"
fi

echo
printf '%9s | %12s %12s %7s | %12s %12s %7s\n' "msg size" "lat stock" "lat bypass" "ratio" \
	"bw stock" "bw bypass" "ratio"
printf '%9s | %12s %12s %7s | %12s %12s %7s\n' "(bytes)" "(us)" "(us)" "" "(MB/s)" "(MB/s)" ""
echo "----------+-------------------------------------+-------------------------------------"
for t in lat bw; do
	join <(awk -v t=$t '$1==t {print $2, $3}' "$WORK/stock" | sort) \
		<(awk -v t=$t '$1==t {print $2, $3}' "$WORK/bypass" | sort) >"$WORK/$t"
done
join "$WORK/lat" "$WORK/bw" | sort -n | awk '{
	printf "%9d | %12.1f %12.1f %6.2fx | %12.1f %12.1f %6.2fx\n", $1, $2, $3, $3/$2, $4, $5, $5/$4
}'
echo
echo "latency ratio < 1 and bandwidth ratio > 1 mean oci-bypass is faster."
echo
"$OB" status
echo
echo "stopping the containers: the hook withdraws their enrolment"
if [ "$ENGINE" = docker ]; then
	docker rm -f $P-bypass-srv $P-bypass-cli >/dev/null
else
	ct_kill_rm runc $P-bypass-srv >/dev/null; ct_kill_rm runc $P-bypass-cli >/dev/null
fi
"$OB" status | head -3
