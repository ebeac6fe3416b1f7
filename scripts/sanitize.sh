#!/usr/bin/env bash
# The sanitizer runs CI makes: the unit and simulation tests under
# AddressSanitizer + UndefinedBehaviorSanitizer (preset `asan`), and the TCP
# transport tests under ThreadSanitizer (preset `tsan`). The group-runtime
# simulations and the process tests are left to `MOSAIK_SANITIZE=1
# scripts/test.sh` (the whole suite under ASan), which does not fit CI's time.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mosaik_install_deps
cd "$MOSAIK_ROOT"
mosaik_build asan --target mosaik-unit-tests mosaik-sim-tests
mosaik_log "unit and simulation tests under ASan + UBSan"
ctest --preset asan --output-on-failure -j2 --timeout 600 -R '^(unit|sim)\.'
mosaik_build tsan --target mosaik-net-tests
mosaik_log "TCP transport tests under TSan"
TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1} ctest --preset tsan --output-on-failure -j2 --timeout 600 -R '^net\.'
mosaik_log "sanitizer runs passed"
