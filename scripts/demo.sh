#!/usr/bin/env bash
# Installs the dependencies, builds the catch-up simulation and runs it.
# Arguments are passed to the simulation (try --help).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mosaik_install_deps
mosaik_build default --target mosaik-catchup-sim
cd "$MOSAIK_ROOT"
demo="build/default/examples/mosaik-catchup-sim"
if [[ ! -x "$demo" ]]; then
  mosaik_log "$demo was not built (is examples/CMakeLists.txt there?)"
  exit 1
fi
exec "$demo" "$@"
