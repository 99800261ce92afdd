#!/usr/bin/env bash
# t_fuzz.sh - the libFuzzer harnesses of the state, config.json, hooks.d and
# host policy parsers and of the runtime shim's edit of config.json (with
# the parse child's plan and with any plan), under ASan and UBSan, for a bounded time each
# (FUZZ_SECONDS, default 20), starting from the seed corpus in tests/corpus/.
OB_ANY_KERNEL=1
. "$(dirname "$0")/../lib/common.sh"
bash "$TESTS_DIR/fuzz/run.sh" "${FUZZ_SECONDS:-20}"
