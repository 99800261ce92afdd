# tests/lib/netns.sh: network-namespace fixtures for oci-bypass integration tests (source this file; needs root and iproute2).
# shellcheck shell=bash
#
# Topology made by `ns_setup PREFIX N`:
#
#   host netns:  bridge ${PREFIX}br (up, no address, STP off, no multicast snooping)
#                  |-- veth ${PREFIX}h1 <-> eth0 in netns ${PREFIX}1   10.O.0.1/24  fd00:O::1/64
#                  |-- veth ${PREFIX}h2 <-> eth0 in netns ${PREFIX}2   10.O.0.2/24  fd00:O::2/64
#                  ...
#
# where O (the "octet") is $NS_OCTET if set, else 200..250 derived from PREFIX
# with cksum.  Every address lives only inside the test's own namespaces (the
# bridge has none and the host gets no route), so two tests that happen to get
# the same octet do not interfere: only PREFIX must differ between parallel tests.
#
# PREFIX: 1..6 characters [a-z0-9] that start AND end with a letter (max 6
# keeps ${PREFIX}br and ${PREFIX}h${i} far inside the 15-character limit of
# Linux interface names; ending in a letter keeps names of different prefixes
# apart: prefix "a1" would make namespace "a11", which is also namespace 11 of
# prefix "a").  N: 1..99.
#
# Functions (all return non-zero and print one "netns.sh: ..." line on stderr
# on error; none changes the caller's shell options):
#   ns_setup PREFIX N        tear down leftovers, then build the topology above
#   ns_teardown PREFIX [N]   kill processes left in the namespaces, delete
#                            ${PREFIX}1..N, any other ${PREFIX}<digits> netns,
#                            the host-side veths and the bridge; missing ones
#                            are ignored
#   ns_exec PREFIX i CMD...  ip netns exec ${PREFIX}i CMD...
#   ns_ip4 PREFIX i          print 10.O.0.i
#   ns_ip6 PREFIX i          print fd00:O::i
#   ns_name PREFIX i         print the namespace name ${PREFIX}i
#   ns_octet PREFIX          print O
#
# The host firewall and global sysctls are not touched.  The host-side veths
# and the bridge get disable_ipv6=1 (so the host sends no RS/MLD noise into
# the test LAN); inside the namespaces DAD is switched off, so addresses are
# usable at once.

_ns_err() {
	echo "netns.sh: $*" >&2
}

_ns_check_prefix() {
	if [[ ! ${1-} =~ ^[a-z]([a-z0-9]{0,4}[a-z])?$ ]]; then
		_ns_err "bad prefix '${1-}' (1-6 chars of [a-z0-9], first and last a letter)"
		return 1
	fi
}

_ns_check_index() {
	if [[ ! ${1-} =~ ^[1-9][0-9]?$ ]]; then
		_ns_err "bad namespace index/count '${1-}' (1..99)"
		return 1
	fi
}

ns_octet() {
	local prefix=${1-} sum
	_ns_check_prefix "$prefix" || return 1
	if [[ -n ${NS_OCTET-} ]]; then
		if [[ ! $NS_OCTET =~ ^[0-9]{1,3}$ ]] || ((NS_OCTET > 255)); then
			_ns_err "bad NS_OCTET '$NS_OCTET' (0..255)"
			return 1
		fi
		echo "$((10#$NS_OCTET))"
		return 0
	fi
	sum=$(printf '%s' "$prefix" | cksum) || return 1
	sum=${sum%% *}
	echo "$((200 + sum % 51))"
}

ns_name() {
	_ns_check_prefix "${1-}" || return 1
	_ns_check_index "${2-}" || return 1
	echo "$1$2"
}

ns_ip4() {
	local octet
	_ns_check_index "${2-}" || return 1
	octet=$(ns_octet "${1-}") || return 1
	echo "10.$octet.0.$2"
}

ns_ip6() {
	local octet
	_ns_check_index "${2-}" || return 1
	octet=$(ns_octet "${1-}") || return 1
	echo "fd00:$octet::$2"
}

ns_exec() {
	local ns
	ns=$(ns_name "${1-}" "${2-}") || return 1
	shift 2
	ip netns exec "$ns" "$@"
}

# kill what is still running inside namespace $1 (only ever our test's own namespaces)
_ns_kill_pids() {
	local ns=$1 pids tries
	pids=$(ip netns pids "$ns" 2>/dev/null) || return 0
	[[ -n $pids ]] || return 0
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	for tries in 1 2 3 4 5 6 7 8 9 10; do
		pids=$(ip netns pids "$ns" 2>/dev/null) || return 0
		[[ -n $pids ]] || return 0
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
	: "$tries"
}

ns_teardown() {
	local prefix=${1-} n=${2-0} i ns link
	local -a names=()
	_ns_check_prefix "$prefix" || return 1
	if [[ $n != 0 ]]; then
		_ns_check_index "$n" || return 1
	fi
	for ((i = 1; i <= n; i++)); do
		names+=("$prefix$i")
	done
	# any other ${prefix}<digits> left by an earlier, larger setup
	while read -r ns _; do
		[[ $ns =~ ^${prefix}[0-9]+$ ]] && names+=("$ns")
	done < <(ip netns list 2>/dev/null)
	for ns in "${names[@]}"; do
		[[ -e /run/netns/$ns ]] || continue
		_ns_kill_pids "$ns"
		ip netns del "$ns" 2>/dev/null || true
	done
	# host-side veth ends normally vanish with their namespace; catch stragglers
	while read -r link; do
		if [[ $link =~ ^${prefix}h[0-9]+$ ]]; then
			ip link del "$link" 2>/dev/null || true
		fi
	done < <(ip -o link show type veth 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}')
	ip link del "${prefix}br" 2>/dev/null || true
	return 0
}

_ns_disable_ipv6() {
	local f=/proc/sys/net/ipv6/conf/$1/disable_ipv6
	if [[ -w $f ]]; then
		echo 1 >"$f" || true
	fi
	return 0
}

# wait (bounded) until namespace $1's eth0 is up with carrier, no address is
# tentative, and the host-side port $2 is forwarding on the bridge
_ns_wait_ready() {
	local ns=$1 port=$2 try state tent oper
	for ((try = 0; try < 100; try++)); do
		oper=$(ip netns exec "$ns" cat /sys/class/net/eth0/operstate 2>/dev/null) || oper=
		state=$(cat "/sys/class/net/$port/brport/state" 2>/dev/null) || state=
		tent=$(ip -n "$ns" -6 addr show dev eth0 tentative 2>/dev/null) || tent=
		if [[ $oper == up && $state == 3 && -z $tent ]]; then
			return 0
		fi
		if ip -n "$ns" -6 addr show dev eth0 dadfailed 2>/dev/null | grep -q inet6; then
			_ns_err "$ns: IPv6 duplicate address detection failed"
			return 1
		fi
		sleep 0.1
	done
	_ns_err "$ns: not ready after 10 s (operstate=$oper brport_state=$state tentative='$tent')"
	return 1
}

ns_setup() {
	local prefix=${1-} n=${2-} octet br i ns host
	_ns_check_prefix "$prefix" || return 1
	_ns_check_index "$n" || return 1
	if [[ $EUID -ne 0 ]]; then
		_ns_err "ns_setup needs root"
		return 1
	fi
	octet=$(ns_octet "$prefix") || return 1
	br=${prefix}br
	ns_teardown "$prefix" "$n" || return 1

	if ! ip link add "$br" type bridge stp_state 0 forward_delay 0 mcast_snooping 0; then
		_ns_err "cannot create bridge $br"
		ns_teardown "$prefix" "$n"
		return 1
	fi
	_ns_disable_ipv6 "$br"
	if ! ip link set "$br" up; then
		_ns_err "cannot bring up bridge $br"
		ns_teardown "$prefix" "$n"
		return 1
	fi

	for ((i = 1; i <= n; i++)); do
		ns=$prefix$i
		host=${prefix}h$i
		if ! {
			ip netns add "$ns" &&
			ip -n "$ns" link set lo up &&
			ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
				net.ipv6.conf.default.accept_dad=0 >/dev/null &&
			ip link add "$host" type veth peer name eth0 netns "$ns" &&
			_ns_disable_ipv6 "$host" &&
			ip link set "$host" master "$br" &&
			ip link set "$host" up &&
			ip -n "$ns" addr add "10.$octet.0.$i/24" dev eth0 &&
			ip -n "$ns" addr add "fd00:$octet::$i/64" dev eth0 nodad &&
			ip -n "$ns" link set eth0 up
		}; then
			_ns_err "setting up namespace $ns failed"
			ns_teardown "$prefix" "$n"
			return 1
		fi
	done

	for ((i = 1; i <= n; i++)); do
		if ! _ns_wait_ready "$prefix$i" "${prefix}h$i"; then
			ns_teardown "$prefix" "$n"
			return 1
		fi
	done
	return 0
}
