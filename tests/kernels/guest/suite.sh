# suite.sh - run inside a kernel-matrix guest: the integration tests named
# by TESTS (tests/run.sh, without the unit tests), from this checkout; the
# semantics table t_semantics wrote is kept for the matrix.
bash tests/run.sh
rc=$?
[ -e "$OB_BUILD/semantics.md" ] && cp "$OB_BUILD/semantics.md" /mnt/obk/semantics.md
exit $rc
