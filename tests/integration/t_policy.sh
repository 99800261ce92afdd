#!/usr/bin/env bash
# t_policy.sh - the host policy (issue 11): any image can carry the
# annotations io.oci-bypass.trust and allow-host-network (podman copies an
# image's annotations into config.json), so the hook honours them only
# where /etc/oci-bypass/policy.conf, root's and writable by root alone,
# allows them. Without it, or with an unsafe or invalid one: trust is
# ignored with a log line (the container is accelerated, on probation), a
# host-network container is not enrolled, and under required fails closed.
# install-hooks writes the file, all off, and --allow-* turn keys on. The
# previous policy file is restored at exit.
. "$(dirname "$0")/../lib/common.sh"
need_root
P=obpol
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	[ -z "${SRV_PID:-}" ] || kill "$SRV_PID" 2>/dev/null
	"$OB" gc >/dev/null 2>&1 # records of the processes just killed
	"$OB" unload --wait 5 >/dev/null 2>&1
	ns_teardown $P 2
	rm -rf "$WORK"
}
trap cleanup EXIT
ns_setup $P 2 >/dev/null || die "netns setup"
ob_fresh_load
policy_set # saved, restored at exit; no policy file now

TRUST='{"io.oci-bypass.trust":"true"}'
HOSTNET='{"io.oci-bypass.allow-host-network":"true"}'
HOSTNET_REQ='{"io.oci-bypass.allow-host-network":"true","io.oci-bypass.mode":"required"}'
declare -A PID
for i in 1 2; do
	ip netns exec ${P}$i sleep 600 >/dev/null 2>&1 &
	PID[$i]=$!
	PIDS+=($!)
	wait_netns $! ${P}$i
done
sleep 600 >/dev/null 2>&1 & # the "container process" of a host-network container
PID[host]=$!
PIDS+=($!)

# create ID NS ANNOTATIONS: the hook's create for container ID in netns
# ${P}NS (or NS=host: no netns of its own); its output in OUT, status in RC.
create() {
	local ns=/run/netns/${P}$2
	[ "$2" = host ] && ns=host
	oci_bundle "$WORK/$1" "$ns" "$3" || die "bundle $1"
	OUT=$(hook "$(oci_state "$1" creating "${PID[$2]}" "$WORK/$1")" 2>&1)
	RC=$?
}
teardown() { hook "$(oci_state "$1" stopped 0 "$WORK/$1")" >/dev/null 2>&1 || fail "teardown $1: exit $?"; }
# trust_of NAME: status --json's trust of the netns NAME ("absent" if not enrolled)
trust_of() {
	"$OB" status --json | jq -r --arg n "$1" '[.netns[] | select(.name == $n) | .trust] | if length == 0 then "absent" else .[0] end'
}
has() { grep -qF -- "$2" <<<"$OUT" && log "ok: $1" || fail "$1: no '$2' in: $OUT"; }
lacks() { if grep -qF -- "$2" <<<"$OUT"; then fail "$1: '$2' in: $OUT"; else log "ok: $1"; fi; }
# refused_trust WHAT REASON: create with io.oci-bypass.trust=true is
# accelerated without trust, and its log line gives REASON.
refused_trust() {
	create pol-t 1 "$TRUST"
	assert_eq "$1: accelerated all the same" 0 $RC
	assert_eq "$1: enrolled without trust" false "$(trust_of pol-t)"
	has "$1: the log says trust is ignored" "pol-t: io.oci-bypass.trust=true ignored (services start on probation): "
	has "$1: and why" "$2"
	teardown pol-t
}

# first_connection: one 1 MiB connection from ns 2 to a new service in ns 1.
first_connection() {
	start_server ${P}1 --listen "$(ns_ip4 $P 1)" 0 --count 1 --timeout 30
	client ${P}2 --connect "$(ns_ip4 $P 1)" "$(server_port)" --conns 1 --bytes 1m --start-delay 100 \
		--timeout 30
	wait_server
}

log "no policy file: io.oci-bypass.trust=true is ignored"
refused_trust "no policy" "the host policy allows nothing: cannot open ${OB_POLICY%/*}" # or the file in it

log "the policy allows trust: io.oci-bypass.trust=true is applied"
policy_set 'allow-trust = true'
create pol-a 1 "$TRUST"
assert_eq "allowed: create" 0 $RC
assert_eq "allowed: enrolled with trust" true "$(trust_of pol-a)"
lacks "allowed: nothing ignored" "ignored"
create pol-b 2 "$TRUST"
assert_eq "allowed: the second container" true "$(trust_of pol-b)"
log "trusted: the service's first connection is redirected"
first_connection
assert_ge "trusted: redirected from the first connection" 1048576 "$(counter pol-b redirected_bytes)"
assert_eq "trusted: no probation" 0 "$(($(counter pol-a probation) + $(counter pol-b probation)))"
teardown pol-a
teardown pol-b

log "the policy does not allow trust: the first connection stays on TCP (probation)"
policy_set 'allow-trust = false'
create pol-a 1 "$TRUST"
has "not allowed: why" "$OB_POLICY does not set allow-trust = true"
create pol-b 2 "$TRUST"
assert_eq "not allowed: enrolled without trust" "false false" "$(trust_of pol-a) $(trust_of pol-b)"
first_connection
assert_eq "probation: nothing redirected" 0 "$(counter pol-b redirected_bytes)"
assert_ge "probation: the connection counted as on probation" 1 "$(($(counter pol-a probation) + $(counter pol-b probation)))"
teardown pol-a
teardown pol-b

log "a policy file only root could have written, or nothing"
policy_set 'allow-trust = true' 666
refused_trust "writable by others" "$OB_POLICY is writable by group or others (mode 0666)"
policy_set 'allow-trust = true' 664
refused_trust "writable by its group" "$OB_POLICY is writable by group or others (mode 0664)"
policy_set 'allow-trust = true'
chown 65534 "$OB_POLICY"
refused_trust "owned by another user" "$OB_POLICY is owned by uid 65534, not root"
policy_set 'allow-trust = true'
mv "$OB_POLICY" "$OB_POLICY.real" && ln -s policy.conf.real "$OB_POLICY" || die "symlink"
refused_trust "a symlink" "cannot open $OB_POLICY: Too many levels of symbolic links"
rm -f "$OB_POLICY.real"
policy_set 'allow-trust = true'
chmod 777 "${OB_POLICY%/*}"
refused_trust "in a directory others can write" "${OB_POLICY%/*} is writable by group or others (mode 0777)"
chmod 755 "${OB_POLICY%/*}"
policy_set 'allow-trust = true
allow-host-networks = true'
refused_trust "invalid (a typo)" "$OB_POLICY:2: unknown key 'allow-host-networks'"
policy_set 'allow-trust = yes'
refused_trust "invalid (a value)" "$OB_POLICY:1: allow-trust is 'yes'; expected true or false"

log "io.oci-bypass.allow-host-network=true without the policy's allow-host-network"
policy_set 'allow-trust = true'
create pol-host host "$HOSTNET"
assert_eq "host network, not allowed: fail open" 0 $RC
assert_eq "host network, not allowed: not enrolled" absent "$(trust_of pol-host)"
has "host network, not allowed: why" "pol-host: not accelerated: the container uses the host network and io.oci-bypass.allow-host-network=true is ignored: $OB_POLICY does not set allow-host-network = true"
create pol-hreq host "$HOSTNET_REQ"
assert_eq "host network, not allowed, required: fails closed" 1 $RC
assert_eq "required: one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"
has "required: names the policy" "oci-bypass: pol-hreq: io.oci-bypass.mode=required and the container uses the host network and io.oci-bypass.allow-host-network=true is ignored: $OB_POLICY does not set allow-host-network = true"
policy_set
create pol-host host "$HOSTNET"
has "no policy file: why" "the host policy allows nothing: cannot open $OB_POLICY"
assert_eq "no policy file: not enrolled" 0 "$("$OB" status --json | jq '.netns | length')"

log "the policy allows host network: the host-network container is enrolled"
policy_set 'allow-host-network = true'
create pol-host host "$HOSTNET"
assert_eq "host network, allowed: create" 0 $RC
assert_eq "host network, allowed: enrolled" false "$(trust_of pol-host)"
has "host network, allowed: accelerated" "pol-host: accelerated"
teardown pol-host
assert_eq "host network: withdrawn at teardown" absent "$(trust_of pol-host)"

log "io.oci-bypass.max-unread: up to 256m free, above it the policy's allow-max-unread"
# budget_of NAME: status --json's budget of unread bytes of the netns NAME
budget_of() { "$OB" status --json | jq -r --arg n "$1" '[.netns[] | select(.name == $n) | .unread_budget_bytes] | first // "absent"'; }
DEFAULT_BUDGET=$(status_field netns_unread_budget_bytes)
policy_set
create pol-m 1 '{"io.oci-bypass.max-unread":"64m"}'
assert_eq "64m, no policy: honoured" 67108864 "$(budget_of pol-m)"
lacks "64m: nothing ignored" "ignored"
teardown pol-m
create pol-m 1 '{"io.oci-bypass.max-unread":"1g"}'
assert_eq "1g, no policy: accelerated all the same" 0 $RC
assert_eq "1g, no policy: the namespace default" "$DEFAULT_BUDGET" "$(budget_of pol-m)"
has "1g, no policy: the log says why" "pol-m: io.oci-bypass.max-unread above 256m ignored (the namespace default applies): the host policy allows nothing"
teardown pol-m
policy_set 'allow-max-unread = 512m'
create pol-m 1 '{"io.oci-bypass.max-unread":"1g"}'
assert_eq "1g, policy 512m: the namespace default" "$DEFAULT_BUDGET" "$(budget_of pol-m)"
has "1g, policy 512m: why" "$OB_POLICY allows at most allow-max-unread = 536870912"
teardown pol-m
policy_set 'allow-max-unread = 2g'
create pol-m 1 '{"io.oci-bypass.max-unread":"1g"}'
assert_eq "1g, policy 2g: honoured" 1073741824 "$(budget_of pol-m)"
teardown pol-m

log "install-hooks writes the policy file: all off, then what --allow-* says"
policy_set
out=$("$OB" install-hooks --dir "$WORK/h" 2>&1) || fail "install-hooks: $out"
assert_eq "written: mode and owner" "644 0:0" "$(stat -c '%a %u:%g' "$OB_POLICY")"
assert_eq "written: all off" "allow-trust = false|allow-host-network = false|allow-max-unread = 0" "$(grep -v '^#' "$OB_POLICY" | grep . | paste -sd '|')"
grep -qF "wrote $OB_POLICY (allow-trust = false, allow-host-network = false, allow-max-unread = 0)" <<<"$out" &&
	log "ok: $(head -1 <<<"$out")" || fail "install-hooks output: $out"
refused_trust "install-hooks' default" "$OB_POLICY does not set allow-trust = true"
out=$("$OB" install-hooks --dir "$WORK/h" --allow-trust 2>&1) || fail "install-hooks --allow-trust: $out"
assert_eq "--allow-trust: that key only" "allow-trust = true|allow-host-network = false|allow-max-unread = 0" "$(grep -v '^#' "$OB_POLICY" | grep . | paste -sd '|')"
create pol-a 1 "$TRUST"
assert_eq "--allow-trust: the hook applies trust" true "$(trust_of pol-a)"
teardown pol-a
out=$("$OB" install-hooks --cdi --dir "$WORK/cdi" --allow-host-network 2>&1) || fail "install-hooks --allow-host-network: $out"
assert_eq "--allow-host-network: the other key kept" "allow-trust = true|allow-host-network = true|allow-max-unread = 0" "$(grep -v '^#' "$OB_POLICY" | grep . | paste -sd '|')"
cp -a "$OB_POLICY" "$WORK/before"
out=$("$OB" install-hooks --dir "$WORK/h" 2>&1) || fail "install-hooks again: $out"
cmp -s "$OB_POLICY" "$WORK/before" && log "ok: without --allow-*, an existing file is left alone" || fail "rewritten: $out"
grep -qF "kept $OB_POLICY (allow-trust = true, allow-host-network = true, allow-max-unread = 0)" <<<"$out" && log "ok: $(head -1 <<<"$out")" || fail "output: $out"
printf 'allow-trust = true\nbogus\n' >"$OB_POLICY"
cp -a "$OB_POLICY" "$WORK/before"
out=$("$OB" install-hooks --dir "$WORK/h" --allow-host-network 2>&1)
assert_eq "an invalid file and --allow-*: refused" 1 $?
cmp -s "$OB_POLICY" "$WORK/before" && log "ok: the invalid file is left as it is: $out" || fail "invalid file changed"
grep -qF "$OB_POLICY:2: 'bogus' is not 'key = value'" <<<"$out" && log "ok: the error names file and line" || fail "error: $out"
chmod 666 "$OB_POLICY"
printf 'allow-trust = true\n' >"$OB_POLICY"
out=$("$OB" install-hooks --dir "$WORK/h" 2>&1) || fail "install-hooks, unsafe file: $out"
grep -qF "warning: the hook allows nothing while $OB_POLICY is writable by group or others" <<<"$out" &&
	log "ok: install-hooks warns of a file the hook ignores" || fail "no warning: $out"
finish
