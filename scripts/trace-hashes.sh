#!/usr/bin/env bash
# Prints the simulators' trace hashes for a fixed set of runs, one line each:
# a refactor keeps them (diff the output of two builds), a behaviour change
# says in its commit why one moved.
#   scripts/trace-hashes.sh [BUILD_DIR]      (default: build/default)
set -euo pipefail
build=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/default"}
catchup="$build/examples/mosaik-catchup-sim"
group="$build/examples/mosaik-group-sim"
torture="$build/tools/mosaik-torture"

hash_of() { grep -o '"trace_hash": *"[0-9a-f]*"' | grep -o '[0-9a-f]\{16\}'; }

run() {
  local name=$1
  shift
  printf '%-64s %s\n' "$name" "$("$@" --json --log-level off | hash_of)"
}
# The torture campaign runs the snapshot strategy (members prune, late joiners
# install snapshots); its hash folds every seed's trace hash.
run_seeds() {
  local name=$1
  shift
  printf '%-64s %s\n' "$name" "$("$@" --storage memory --json | hash_of)"
}

for providers in 1 3 8; do
  run "catchup providers=$providers" "$catchup" --providers "$providers" --entries 20000 --inflight 4 --seed 1
done
run "catchup lossy" "$catchup" --providers 4 --entries 20000 --loss 0.05 --timeout-ms 400 --seed 7
run "catchup leader-only" "$catchup" --providers 3 --entries 20000 --leader-only --seed 3
for scenario in late-join leader-crash-during-sync partition-heal rivals-merge; do
  for machine in counter kv; do
    run "group $scenario $machine" "$group" --scenario "$scenario" --machine "$machine" --commands 2000 --seed 5
  done
done
run_seeds "torture 2000 seeds" "$torture" --seeds 2000
run_seeds "torture late-join,byzantine,loss" "$torture" --seeds 500 --from 3000 --faults late-join,byzantine,loss
