#!/usr/bin/env bash
# t_shim.sh - what oci-bypass-runtime does to config.json, and where it
# parses it (issue 21, item 6). The shim runs as root, unconfined, as the
# engine's runtime; json-c's parse of config.json (which an image fills:
# process.env) runs in the hook's parse child, as nobody, without
# capabilities, under seccomp, and only decides; the shim writes text of
# its own where a scan of the structure finds its place and keeps every
# other byte. Run here as an engine runs it, with a fake runtime that
# records its arguments: the hooks are added and the rest of the file is
# kept byte for byte; when the parse child cannot be confined
# (OB_TEST_CONFINE_FAIL=parser), nothing is added, the runtime runs with
# the file unchanged, and mode=required still fails closed; mode off is
# left alone; the configs of the fuzz corpus and hostile shapes (escaped
# keys, two "hooks", braces inside strings, deep nesting, a bad stage)
# never crash it: the runtime gets either the file unchanged or valid
# JSON whose last hooks are ours.
. "$(dirname "$0")/../lib/common.sh"
need_root
command -v jq >/dev/null || skip "jq is not installed"
SHIM=$OB_BUILD/oci-bypass-runtime
[ -x "$SHIM" ] || die "no $SHIM"
T=$(mktemp -d /tmp/ob-shim.XXXXXX)
trap 'rm -rf "$T"' EXIT
B=$T/bundle
mkdir -p "$B"
cat >"$T/runc" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$T/calls"
exit 0
EOF
chmod +x "$T/runc"

# shim [ENV=VALUE...]: a create of container c1 on $B; its exit status
shim() { env "$@" "$SHIM" --runtime-path "$T/runc" --log "$T/runc.log" create --bundle "$B" c1; }
ran() { [ -s "$T/calls" ] && grep -q "^--log $T/runc.log create --bundle $B c1$" "$T/calls"; }
ours() { jq -r '[.hooks.createRuntime[-1].args[2], .hooks.poststop[-1].args[2]] | join(" ")' "$B/config.json"; }

log "the hooks added, every other byte kept"
doc='{ "ociVersion" : "1.0.2", "process":{"env":["PATH=/bin","X=}{\"hooks\":["]},
  "linux":{"resources":{"memory":{"limit":18446744073709551615}}} ,"hooks" : { "prestart":[] } }'
printf '%s\n' "$doc" >"$B/config.json"
: >"$T/calls"
shim
assert_eq "exit status" 0 $?
ran && log "ok: the runtime ran with the engine's arguments" || fail "runtime calls: $(cat "$T/calls")"
assert_eq "our hooks last in createRuntime and poststop" "create teardown" "$(ours)"
jq -e '.linux.resources.memory.limit' "$B/config.json" >/dev/null || fail "limit lost"
grep -qF '18446744073709551615' "$B/config.json" && grep -qF '"X=}{\"hooks\":["' "$B/config.json" &&
	log "ok: the big number and the string with braces kept as they were" ||
	fail "changed: $(cat "$B/config.json")"
# the original, less what was inserted, is the same text
stripped=$(sed -e 's/{"path":"[^"]*","args":\["oci-bypass","hook","create"\],"timeout":10}//' \
	-e 's/"createRuntime":\[\],//' -e 's/,{"path":"[^"]*","args":\["oci-bypass","hook","teardown"\],"timeout":10}//' \
	-e 's/"poststop":\[{"path":"[^"]*","args":\["oci-bypass","hook","teardown"\],"timeout":10}\],//' \
	"$B/config.json")
[ "$stripped" = "$doc" ] && log "ok: every other byte kept" ||
	fail "not kept: $(diff <(printf '%s\n' "$doc") <(printf '%s\n' "$stripped"))"
cp "$B/config.json" "$T/once"
shim
assert_eq "a second create adds nothing" "" "$(cmp "$T/once" "$B/config.json" 2>&1)"

log "OB_TEST_CONFINE_FAIL=parser: nothing added, the runtime runs, required fails closed"
oci_bundle "$B" /run/netns/none
cp "$B/config.json" "$T/orig"
: >"$T/calls"
out=$(shim OB_TEST_CONFINE_FAIL=parser 2>&1)
assert_eq "exit status" 0 $?
assert_eq "config.json unchanged" "" "$(cmp "$T/orig" "$B/config.json" 2>&1)"
ran && log "ok: the runtime ran" || fail "the runtime did not run: $(cat "$T/calls")"
grep -q "not accelerated: cannot confine the parse of config.json: the parse child: .*parser" \
	"$T/runc.log" && log "ok: $(tail -n 1 "$T/runc.log")" || fail "log: $(cat "$T/runc.log") $out"
oci_bundle "$B" /run/netns/none '{"io.oci-bypass.mode":"required"}'
cp "$B/config.json" "$T/orig"
: >"$T/calls"
shim OB_TEST_CONFINE_FAIL=parser 2>/dev/null
assert_eq "required: exit status" 1 $?
[ -s "$T/calls" ] && fail "required: the runtime ran" || log "ok: required: the runtime did not run"
assert_eq "required: config.json unchanged" "" "$(cmp "$T/orig" "$B/config.json" 2>&1)"
grep -q "io.oci-bypass.mode=required and cannot confine the parse of config.json" "$T/runc.log" &&
	log "ok: $(tail -n 1 "$T/runc.log")" || fail "required: log: $(cat "$T/runc.log")"
: >"$T/calls"
printf '{"process":{"env":["OCI_BYPASS_MODE=required"]}}' >"$B/config.json"
shim OB_TEST_CONFINE_FAIL=parser 2>/dev/null
assert_eq "OCI_BYPASS_MODE=required: exit status" 1 $?

log "mode off: left alone"
oci_bundle "$B" /run/netns/none '{"io.oci-bypass.mode":"off"}'
cp "$B/config.json" "$T/orig"
shim
assert_eq "exit status" 0 $?
assert_eq "config.json unchanged" "" "$(cmp "$T/orig" "$B/config.json" 2>&1)"

log "hostile configs: the corpus and shapes the scan must read as runc does"
n=0
check() { # NAME: config.json in place; the shim must not crash, the runtime gets it whole
	local rc
	cp "$B/config.json" "$T/orig"
	: >"$T/calls"
	shim 2>/dev/null
	rc=$?
	[ $rc -le 1 ] || fail "$1: exit status $rc"
	if ! cmp -s "$T/orig" "$B/config.json"; then
		[ "$(ours 2>/dev/null)" = "create teardown" ] || fail "$1: changed, but not into ours: $(head -c 300 "$B/config.json")"
	fi
	n=$((n + 1))
}
for f in "$TESTS_DIR"/corpus/config/*; do
	cp "$f" "$B/config.json"
	check "corpus $(basename "$f")"
done
printf '{"ho\\u006fks":{"createRuntime":[{"path":"/bin/x"}]},"annotations":{}}' >"$B/config.json"
check "escaped key"
assert_eq "escaped key: the container's hook kept, ours after it" "/bin/x create" \
	"$(jq -r '[.hooks.createRuntime[0].path, .hooks.createRuntime[1].args[2]] | join(" ")' "$B/config.json")"
printf '{"hooks":{"createRuntime":[]},"hooks":{"poststop":[]},"annotations":{}}' >"$B/config.json"
check "two hooks"
assert_eq "two hooks: ours in the last" "create teardown" "$(ours)"
printf '{"hooks":{"poststop":{}},"annotations":{}}' >"$B/config.json"
cp "$B/config.json" "$T/bad"
check "a stage of the wrong type"
assert_eq "a stage of the wrong type: unchanged" "" "$(cmp "$T/bad" "$B/config.json" 2>&1)"
printf '{"a":%s1%s,"annotations":{}}' "$(printf '[%.0s' $(seq 40))" "$(printf ']%.0s' $(seq 40))" >"$B/config.json"
cp "$B/config.json" "$T/deep"
check "40 levels deep"
assert_eq "40 levels deep: unchanged" "" "$(cmp "$T/deep" "$B/config.json" 2>&1)"
head -c 300000 /dev/urandom | base64 -w0 | sed 's/.*/{"process":{"env":["X=&"]},"annotations":{}}/' >"$B/config.json"
check "a 400 KB env string"
log "ok: $n configs, no crash"
finish
