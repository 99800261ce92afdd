# tests/lib/docker.sh: a private dockerd (Debian's docker.io 20.10) for
# t_docker and `make demo ENGINE=docker`.
# shellcheck shell=bash
#
#   dk_start DIR BRIDGE CIDR CGROUP_PARENT
#                 dockerd with everything under DIR (mktemp -d, must exist and
#                 hold DIR/daemon.json): data root, exec root (its managed
#                 containerd too), pidfile, socket. Docker's default bridge
#                 network runs on BRIDGE (created here with CIDR, e.g.
#                 10.231.12.1/24), and --iptables, --ip-forward, --ip-masq are
#                 off, so the host's firewall and sysctls stay as they are.
#                 Sets DK_PID; waits (bounded) until it answers.
#   docker ARGS   Debian's client (20.10) against it, bounded by DK_TIMEOUT
#   dk_stop       removes every container, stops dockerd, its containerd and
#                 shims (every process whose command line names DIR),
#                 unmounts what is under DIR, deletes BRIDGE, the cgroups
#                 under CGROUP_PARENT, /run/containerd/s if dockerd made it,
#                 and DIR; undoes DOCKER iptables chains, a FORWARD policy or
#                 sysctls that changed anyway. Safe to call twice.
#   dk_snapshot F writes F.ipt, F.sysctl, F.links: what dockerd could change

DK_TIMEOUT=${DK_TIMEOUT:-120}
DK_DIR=
DK_PID=
DK_BRIDGE=
DK_CG=
DK_RUN_CTD_BEFORE=

docker() {
	local bin=/usr/bin/docker # Debian's client, even if a newer one is first in PATH
	[[ -x $bin ]] || bin=$(command -v docker)
	timeout -k 5 "$DK_TIMEOUT" "$bin" -H "unix://$DK_DIR/docker.sock" "$@"
}

dk_snapshot() {
	local s
	{
		iptables-save 2>/dev/null | grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]//'
		ip6tables-save 2>/dev/null | grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]//'
	} >"$1.ipt" || true # (set -e and pipefail safe, as in the demo)
	for s in net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.bridge.bridge-nf-call-iptables \
		net.bridge.bridge-nf-call-ip6tables; do
		echo "$s=$(sysctl -n $s 2>/dev/null)"
	done >"$1.sysctl"
	# Docker's own bridges (docker0, br-ID of user networks); other links come and go
	ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^(docker0|br-)' | sort >"$1.links" || true
}

# Processes of ours: anything whose command line names DK_DIR (dockerd, its
# containerd, containerd-shim-runc-v2, container processes).
_dk_pids() {
	local p
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$DK_DIR" && echo "${p#/proc/}"
	done
}

dk_start() {
	DK_DIR=$1 DK_BRIDGE=$2 DK_CG=$4
	local cidr=$3
	[[ -n $DK_DIR && -d $DK_DIR && -r $DK_DIR/daemon.json ]] || { echo "docker.sh: dk_start: no $DK_DIR/daemon.json" >&2; return 1; }
	DK_RUN_CTD_BEFORE=$([[ -e /run/containerd ]] && echo 1 || true) # set -e safe: the demo
	dk_snapshot "$DK_DIR/host-before"
	ip link add "$DK_BRIDGE" type bridge && ip addr add "$cidr" dev "$DK_BRIDGE" &&
		ip link set "$DK_BRIDGE" up || { echo "docker.sh: cannot make bridge $DK_BRIDGE" >&2; return 1; }
	dockerd --config-file "$DK_DIR/daemon.json" --data-root "$DK_DIR/root" --exec-root "$DK_DIR/exec" \
		--pidfile "$DK_DIR/docker.pid" -H "unix://$DK_DIR/docker.sock" --bridge "$DK_BRIDGE" \
		--iptables=false --ip-forward=false --ip-masq=false --storage-driver vfs \
		--cgroup-parent "$DK_CG" >"$DK_DIR/dockerd.log" 2>&1 &
	DK_PID=$!
	for _ in $(seq 150); do
		docker version >/dev/null 2>&1 && return 0
		kill -0 "$DK_PID" 2>/dev/null || break
		sleep 0.2
	done
	echo "docker.sh: dockerd did not start; $DK_DIR/dockerd.log:" >&2
	tail -n 15 "$DK_DIR/dockerd.log" | sed 's/^/    | /' >&2
	return 1
}

dk_stop() {
	local i s t r pol
	[[ -n $DK_DIR && -d $DK_DIR ]] || return 0
	if [[ -n $DK_PID ]] && kill -0 "$DK_PID" 2>/dev/null; then
		# shellcheck disable=SC2046 # one word per id
		docker rm -f $(docker ps -aq 2>/dev/null) >/dev/null 2>&1
		kill "$DK_PID" 2>/dev/null
		for i in $(seq 100); do kill -0 "$DK_PID" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$DK_PID" 2>/dev/null
	fi
	for i in 1 2 3; do
		for s in $(_dk_pids); do kill -9 "$s" 2>/dev/null; done
		[[ -z $(_dk_pids) ]] && break
		sleep 0.5
	done
	# Mounts under DK_DIR (vfs makes none; netns files and shm do), deepest first.
	awk -v w="$DK_DIR" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	[[ -n $DK_BRIDGE ]] && ip link del "$DK_BRIDGE" 2>/dev/null
	# containerd's shims put their sockets there whatever the root.
	[[ -n $DK_RUN_CTD_BEFORE ]] || rmdir /run/containerd/s /run/containerd 2>/dev/null
	# The cgroups runc made for our containers: deepest first, empty by now.
	[[ -n $DK_CG ]] && find /sys/fs/cgroup -maxdepth 3 -type d -name "${DK_CG#/}" 2>/dev/null |
		while read -r d; do find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
	# Anything dockerd changed despite the options: undo it.
	if [[ -e $DK_DIR/host-before.sysctl ]]; then
		dk_snapshot "$DK_DIR/host-after"
		if ! cmp -s "$DK_DIR/host-before.sysctl" "$DK_DIR/host-after.sysctl"; then
			while IFS== read -r s v; do [[ -n $v ]] && sysctl -qw "$s=$v"; done <"$DK_DIR/host-before.sysctl"
		fi
		for t in filter nat; do
			for s in $(iptables -t $t -S 2>/dev/null | awk '/^-N DOCKER/ {print $2}'); do
				grep -q -- "-N $s\$" "$DK_DIR/host-before.ipt" && continue
				iptables -t $t -S | grep -- "-j $s\( \|\$\)" | sed 's/^-A/-D/' |
					while read -r r; do eval "iptables -t $t $r"; done
				iptables -t $t -F "$s"
				iptables -t $t -X "$s"
			done
		done
		pol=$(awk '/^:FORWARD/ {print $2; exit}' "$DK_DIR/host-before.ipt")
		[[ -n $pol ]] && iptables -P FORWARD "$pol" 2>/dev/null
		grep -qx docker0 "$DK_DIR/host-before.links" || ip link del docker0 2>/dev/null
	fi
	rm -rf "$DK_DIR"
	DK_DIR= DK_PID=
}
