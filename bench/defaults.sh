#!/usr/bin/env bash
# Issue 13 part 3: the flagship simulation with no catch-up options at all
# (the library's own batch and adaptive window), over three links and two
# entry sizes, for 1, 2, 4 and 8 providers. Prints one table; the raw JSON
# lines go to bench/results/defaults.jsonl.
#   bench/defaults.sh [build-dir]        (default: build/default)
# Extra arguments for every run can be given in EXTRA (e.g. EXTRA="--inflight 1").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build/default}
sim=$build/examples/mosaik-catchup-sim
out=$here/results/defaults${SUFFIX:-}.jsonl
mkdir -p "$here/results"
: > "$out"
# shellcheck disable=SC2206
extra=(${EXTRA:-})
for link in "20 100" "1 1000" "100 10"; do
  read -r latency mbps <<< "$link"
  for shape in "1000000 100" "20000 4096"; do
    read -r entries bytes <<< "$shape"
    for providers in 1 2 4 8; do
      "$sim" --json --log-level off --latency-ms "$latency" --bandwidth-mbps "$mbps" \
        --entries "$entries" --entry-bytes "$bytes" --providers "$providers" "${extra[@]}" |
        python3 -c "import json,sys; r=json.loads(sys.stdin.read()); r.update(latency_ms=$latency, mbps=$mbps, entries=$entries, entry_bytes=$bytes); print(json.dumps(r))" >> "$out"
    done
  done
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("| link | entries | 1 | 2 | 4 | 8 |")
print("|---|---|---:|---:|---:|---:|")
keys = []
for r in rows:
    k = (r["latency_ms"], r["mbps"], r["entries"], r["entry_bytes"])
    if k not in keys:
        keys.append(k)
for lat, mbps, entries, size in keys:
    effs = {r["providers"]: r["efficiency"] for r in rows
            if (r["latency_ms"], r["mbps"], r["entries"], r["entry_bytes"]) == (lat, mbps, entries, size)}
    ok = all(r["caught_up"] for r in rows)
    print(f"| {lat} ms / {mbps} Mbit/s | {entries:,} x {size} B | " +
          " | ".join(f"{effs[p]:.3f}" for p in (1, 2, 4, 8)) + " |")
print("all caught up:", all(r["caught_up"] for r in rows))
PY
