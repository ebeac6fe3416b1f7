#!/usr/bin/env bash
# Issue 13 part 7: the request-time cap (LogReplayConfig::request_time) swept
# over shapes around the network-namespace setting (4 x 40 Mbit/s, 1 KiB
# entries) and the defaults matrix's 4 KiB cases, where the end of a
# catch-up decides the figure. One deterministic simulation per cell; the
# raw JSON lines go to bench/results/request-time.jsonl.
#   bench/request_time.sh [build-dir]        (default: build/default)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build/default}
sim=$build/examples/mosaik-catchup-sim
out=$here/results/request-time.jsonl
mkdir -p "$here/results"
: > "$out"
shapes=("0.1 40 50000 1024 2" "0.1 40 50000 1024 3" "0.1 40 50000 1024 4" "0.1 40 20000 4096 4"
  "5 40 50000 1024 4" "20 100 50000 1024 3" "20 100 20000 4096 2" "20 100 20000 4096 4"
  "50 50 20000 4096 3" "100 10 20000 4096 4")
for request_ms in 0 100 200 300; do
  for shape in "${shapes[@]}"; do
    read -r latency mbps entries bytes providers <<< "$shape"
    "$sim" --json --log-level off --latency-ms "$latency" --bandwidth-mbps "$mbps" --entries "$entries" \
      --entry-bytes "$bytes" --providers "$providers" --request-ms "$request_ms" |
      python3 -c "import json,sys; r=json.loads(sys.stdin.read()); r.update(request_ms=$request_ms); print(json.dumps(r))" >> "$out"
  done
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
times = sorted({r["request_ms"] for r in rows})
print("| link | entries | providers | " + " | ".join(f"{t} ms" for t in times) + " |")
print("|---|---|---:|" + "---:|" * len(times))
shapes = []
for r in rows:
    k = (r["latency_ms"], r["bandwidth_mbps"], r["entries"], r["entry_bytes"], r["providers"])
    if k not in shapes:
        shapes.append(k)
for k in shapes:
    cells = {r["request_ms"]: r["efficiency"] for r in rows
             if (r["latency_ms"], r["bandwidth_mbps"], r["entries"], r["entry_bytes"], r["providers"]) == k}
    lat, mbps, entries, size, providers = k
    print(f"| {lat:g} ms / {mbps:g} Mbit/s | {entries:,} x {size} B | {providers} | " +
          " | ".join(f"{cells[t]:.3f}" for t in times) + " |")
PY
