#!/usr/bin/env bash
# Installs the dependencies, builds the default preset and runs every test.
# MOSAIK_SANITIZE=1 additionally builds and tests the asan preset
# (AddressSanitizer + UndefinedBehaviorSanitizer).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mosaik_install_deps
mosaik_build default
cd "$MOSAIK_ROOT"
mosaik_log "testing preset 'default'"
ctest --preset default --output-on-failure -j2 --timeout 600

if [[ "${MOSAIK_SANITIZE:-0}" == 1 ]]; then
  mosaik_build asan
  mosaik_log "testing preset 'asan'"
  ctest --preset asan --output-on-failure -j2 --timeout 600
fi
mosaik_log "all tests passed"
