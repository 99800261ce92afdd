# suite.sh - run inside a kernel-matrix guest: the integration tests named
# by TESTS (tests/run.sh, without the unit tests), from this checkout.
bash tests/run.sh
