#!/usr/bin/env bash
# t_owner.sh - an enrolment has one owner (issue 21, item 3). The
# administrator enrols a namespace with a name, a port left alone and
# --trust; a container whose process is in that namespace, and which asks
# for another name, joins it: the enrolment keeps its name, port, trust
# and owner, and neither the container's teardown nor gc withdraws it.
# Names are unique: the administrator's enroll with a taken name is
# refused with one line; a container's name that is taken is made unique
# (-2); withdraw NAME refuses a name two records give (left by an older
# build). The administrator's enroll of a namespace a hook enrolled takes
# it over: it outlives the container.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obow
T=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for k in $(ls /run/oci-bypass/containers 2>/dev/null | grep "^$P-"); do
		rm -f "/run/oci-bypass/containers/$k"
	done
	ns_teardown $P 3
	rm -rf "$T"
}
trap cleanup EXIT
ns_setup $P 3 >/dev/null || die "netns setup"
ob_fresh_load
ns_json() { "$OB" status --json | jq -c --arg n "$1" '[.netns[] | select(.name == $n)] | first // {}'; }
enrolled_names() { "$OB" status --json | jq -r '[.netns[].name] | sort | join(" ")'; }
# container ID NETNS-INDEX [NAME]: a process in the netns, and the hook's
# create for it (io.oci-bypass.name=NAME if given)
container() {
	local id=$1 n=$2 ann='{}'
	[ -n "${3:-}" ] && ann="{\"io.oci-bypass.name\":\"$3\"}"
	ip netns exec $P$n sleep 600 >/dev/null 2>&1 &
	PIDS+=($!)
	wait_netns $! $P$n
	oci_bundle "$T/$id" /run/netns/$P$n "$ann"
	hook "$(oci_state "$id" creating $! "$T/$id")" create || fail "$id: create"
	LAST_PID=$!
}
teardown() { hook "$(oci_state "$1" stopped 0 "$T/$1")" teardown || fail "$1: teardown"; }

log "the administrator enrols ${P}1 as blue, port 443 left alone, --trust"
"$OB" enroll --netns /run/netns/${P}1 --name blue --no-port 443 --trust >/dev/null || die "enroll blue"
container $P-joiner 1 joiner
assert_eq "a container joined: the name stays" blue "$(enrolled_names)"
assert_eq "the trust stays" true "$(ns_json blue | jq -r .trust)"
teardown $P-joiner
assert_eq "its teardown does not withdraw the administrator's" blue "$(enrolled_names)"
"$OB" gc >/dev/null 2>&1
assert_eq "nor does gc" blue "$(enrolled_names)"
assert_eq "still trusted" true "$(ns_json blue | jq -r .trust)"

log "names are unique"
out=$("$OB" enroll --netns /run/netns/${P}2 --name blue 2>&1) && fail "a taken name was accepted: $out"
grep -q "the name 'blue' is taken" <<<"$out" && log "ok: refused: $out" || fail "refusal: $out"
assert_eq "one line" 1 "$(wc -l <<<"$out")"
assert_eq "and nothing enrolled" blue "$(enrolled_names)"
container $P-other 2 blue
assert_eq "a container asking for a taken name gets it made unique" "blue blue-2" "$(enrolled_names)"
out=$("$OB" withdraw blue-2) || fail "withdraw blue-2: $out"
assert_eq "withdraw by that name" blue "$(enrolled_names)"
teardown $P-other

log "withdraw NAME refuses a name two records give"
"$OB" enroll --netns /run/netns/${P}3 --name green >/dev/null || die "enroll green"
c3=$("$OB" status --json | jq -r '.netns[] | select(.name == "green") | .cookie')
printf 'blue\ncli\n\n' >/run/oci-bypass/netns/"$c3" # as a build before names were unique could leave
out=$("$OB" withdraw blue 2>&1) && fail "an ambiguous withdraw succeeded: $out"
grep -q "2 enrolled network namespaces are named 'blue'" <<<"$out" && log "ok: refused: $out" ||
	fail "ambiguous withdraw: $out"
assert_eq "both still enrolled" 2 "$("$OB" status --json | jq '.netns | length')"
"$OB" withdraw --netns /run/netns/${P}3 >/dev/null || fail "withdraw --netns"
"$OB" withdraw blue >/dev/null || fail "withdraw blue, now one"
assert_eq "all withdrawn" "" "$(enrolled_names)"

log "the administrator takes over a hook's enrolment"
container $P-first 2 red
assert_eq "the hook enrolled it" red "$(enrolled_names)"
"$OB" enroll --netns /run/netns/${P}2 >/dev/null || fail "enroll over the hook's"
teardown $P-first
assert_eq "it outlives the container" red "$(enrolled_names)"
"$OB" withdraw red >/dev/null || fail "withdraw red"
finish
