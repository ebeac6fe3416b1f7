#!/usr/bin/env bash
# Sweeps the flagship simulation over the number of providers, with and
# without --leader-only, and plots efficiency and catch-up time (SVG).
#   bench/sweep.sh [build-dir]        (default: build/default)
# Writes bench/results/sweep.jsonl, sweep.tsv and sweep.svg.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build/default}
sim=$build/examples/mosaik-catchup-sim
out=$here/results
mkdir -p "$out"
: "${ENTRIES:=1000000}" "${ENTRY_BYTES:=100}" "${INFLIGHT:=8}" "${LATENCY_MS:=20}" "${BANDWIDTH_MBPS:=100}"
common=(--entries "$ENTRIES" --entry-bytes "$ENTRY_BYTES" --inflight "$INFLIGHT" --latency-ms "$LATENCY_MS"
        --bandwidth-mbps "$BANDWIDTH_MBPS" --json)

: > "$out/sweep.jsonl"
for providers in 1 2 4 8; do
  "$sim" --providers "$providers" "${common[@]}" >> "$out/sweep.jsonl"
  "$sim" --providers "$providers" --leader-only "${common[@]}" >> "$out/sweep.jsonl"
done

python3 - "$out/sweep.jsonl" "$out/sweep.tsv" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
with open(sys.argv[2], "w") as out:
    out.write("providers\tall_eff\tall_ms\tleader_eff\tleader_ms\tideal_ms\twall_ms\n")
    for p in sorted({r["providers"] for r in rows}):
        a = next(r for r in rows if r["providers"] == p and not r["leader_only"])
        l = next(r for r in rows if r["providers"] == p and r["leader_only"])
        out.write(f'{p}\t{a["efficiency"]}\t{a["simulated_ms"]}\t{l["efficiency"]}\t{l["simulated_ms"]}\t{a["ideal_ms"]}\t{a["wall_ms"]}\n')
PY

gnuplot <<GP
set terminal svg size 900,420 dynamic font "sans,12" background rgb "white"
set output "$out/sweep.svg"
set multiplot layout 1,2 title "mosaik catch-up: ${ENTRIES} x ${ENTRY_BYTES} B entries, ${LATENCY_MS} ms / ${BANDWIDTH_MBPS} Mbit/s per provider link, inflight ${INFLIGHT}"
set key bottom left box opaque
set grid
set xlabel "providers"
set logscale x 2
set xrange [0.8:10]
set xtics (1,2,4,8)
set ylabel "efficiency (ideal / simulated time)"
set yrange [0:1.05]
plot "$out/sweep.tsv" using 1:2 with linespoints lw 2 pt 7 ps 0.8 title "all providers", \
     "" using 1:4 with linespoints lw 2 pt 5 ps 0.8 title "--leader-only"
set ylabel "catch-up time (simulated s)"
set key top right box opaque
set autoscale y
set yrange [0:*]
plot "$out/sweep.tsv" using 1:(\$3/1000) with linespoints lw 2 pt 7 ps 0.8 title "all providers", \
     "" using 1:(\$5/1000) with linespoints lw 2 pt 5 ps 0.8 title "--leader-only", \
     "" using 1:(\$6/1000) with lines dt 2 lw 1 title "ideal"
unset multiplot
GP
echo "wrote $out/sweep.jsonl, $out/sweep.tsv, $out/sweep.svg"
column -t "$out/sweep.tsv"
