#!/usr/bin/env bash
# Installs the dependencies, builds the simulations and runs them: first the
# catch-up simulation (arguments are passed to it; try --help), then one
# replication-group scenario (a late joiner catching up from every peer).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mosaik_install_deps
mosaik_build default --target mosaik-catchup-sim mosaik-group-sim
cd "$MOSAIK_ROOT"
demo="build/default/examples/mosaik-catchup-sim"
group_demo="build/default/examples/mosaik-group-sim"
for program in "$demo" "$group_demo"; do
  if [[ ! -x "$program" ]]; then
    mosaik_log "$program was not built (is examples/CMakeLists.txt there?)"
    exit 1
  fi
done
"$demo" "$@"
echo
"$group_demo" --scenario late-join
