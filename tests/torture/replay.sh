#!/usr/bin/env bash
# A seed replays bit for bit: two runs of the same seeds with full trace
# logging print the same lines (wall-clock times aside).
#   bash tests/torture/replay.sh /path/to/mosaik-torture
set -euo pipefail
bin=$1
# The summary line ends with the wall time the run took: not part of the replay.
run() { "$bin" --seed "$1" --trace 2>&1 | sed -E 's/^\[[0-9:.]+\] //; s/, [0-9.]+ s$//'; }
for seed in 7 1844; do
  first=$(run "$seed" | md5sum)
  second=$(run "$seed" | md5sum)
  lines=$(run "$seed" | wc -l)
  if [[ $first != "$second" ]]; then
    echo "seed $seed: two runs differ" >&2
    exit 1
  fi
  echo "seed $seed: $lines trace lines, identical in two runs"
done
