#!/usr/bin/env bash
# Catch-up over loopback with real processes, beside the machine's limits:
# three mosaik-node providers hold a log, a fourth node joins and catches up
# from all of them; in the same run, the same number of bytes goes through
# one plain TCP socket pair (mosaik-bench-tcp-pair: the physical limit) and
# through two mosaik Meshes (mosaik-bench-mesh: the transport alone).
#
#   bench/loopback.sh [--entries N] [--size BYTES] [--bin BUILD_DIR] [--port BASE]
#                     [--sync-batch N] [--sync-inflight N] [--json]
#
#   --entries N     commands in the log (default 1000000)
#   --size BYTES    value bytes of each put (default 90: about 100-byte entries)
#   --bin DIR       the build directory (default build/default)
#   --port BASE     nodes listen on BASE+1..BASE+4 (default 17400)
# Prints a table, or one JSON line with --json. CPU seconds: the joiner's
# during its session, and the providers' over the same interval.
set -euo pipefail

entries=1000000
size=90
build=build/default
base=17400
sync_args=()
json=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --entries) entries=$2; shift ;;
    --size) size=$2; shift ;;
    --bin) build=$2; shift ;;
    --port) base=$2; shift ;;
    --sync-batch | --sync-inflight) sync_args+=("$1" "$2"); shift ;;
    --json) json=1 ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "loopback: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
node=$build/examples/mosaik-node
for binary in "$node" "$build/bench/mosaik-bench-tcp-pair" "$build/bench/mosaik-bench-mesh"; do
  [[ -x $binary ]] || { echo "loopback: $binary not built" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "loopback: needs jq" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
head -c 32 /dev/urandom >"$work/key"
peers=()
for i in 1 2 3 4; do peers+=(--peer "$i@127.0.0.1:$((base + i))"); done
start() {
  "$node" run --id "$1" --listen "127.0.0.1:$((base + $1))" "${peers[@]}" --key-file "$work/key" \
    --members 1,2,3 "${sync_args[@]}" --log-level warn >"$work/node$1.log" 2>&1 &
  pids+=("$!")
}
client() { "$node" client --connect "127.0.0.1:$((base + $1))" --key-file "$work/key" "${@:2}"; }
wait_for() { # wait_for SECONDS COMMAND...: polls every 50 ms
  local until=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < until)) || { echo "loopback: timed out: $*" >&2; tail -5 "$work"/node*.log >&2; exit 1; }
    sleep 0.05
  done
}
has_leader() { [[ $(client 1 status 2>/dev/null | jq -r '.leader // 0') != 0 ]]; }
loaded() { [[ $(client "$1" status 2>/dev/null | jq -r '.commit >= '"$entries"' and .commit == .applied') == true ]]; }
caught_up() { [[ $(client 4 status 2>/dev/null | jq -r '.last_sync.ok // false') == true ]]; }
cpu_of() { client "$1" status | jq -r .cpu_seconds; }

for i in 1 2 3; do start "$i"; done
wait_for 30 has_leader
client 1 bench "$entries" --size "$size" --clients 4 >"$work/load.json"
for i in 1 2 3; do wait_for 120 loaded "$i"; done
cpu_before=0
for i in 1 2 3; do cpu_before=$(jq -n "$cpu_before + $(cpu_of "$i")"); done
start 4
node4_up() { client 4 status >/dev/null 2>&1; }
wait_for 10 node4_up
client 1 add-member 4 >/dev/null
wait_for 120 caught_up
cpu_after=0
for i in 1 2 3; do cpu_after=$(jq -n "$cpu_after + $(cpu_of "$i")"); done
sync=$(client 4 status | jq -c .last_sync)
bytes=$(jq -r .bytes <<<"$sync")
pair=$("$build/bench/mosaik-bench-tcp-pair" --bytes "$bytes" 2>/dev/null)
mesh=$("$build/bench/mosaik-bench-mesh" --bytes "$bytes" 2>/dev/null)
providers_cpu=$(jq -n "$cpu_after - $cpu_before")

if ((json)); then
  jq -nc --argjson sync "$sync" --argjson pair "$pair" --argjson mesh "$mesh" \
    --argjson entries "$entries" --argjson size "$size" --argjson providers_cpu "$providers_cpu" \
    '{entries: $entries, value_bytes: $size, catch_up: $sync, providers_cpu_seconds: $providers_cpu,
      tcp_pair: $pair, mesh: $mesh, fraction_of_tcp_pair: ($sync.mb_per_s / $pair.mb_per_s)}'
else
  jq -nr --argjson sync "$sync" --argjson pair "$pair" --argjson mesh "$mesh" --argjson providers_cpu "$providers_cpu" \
    '"catch-up   \($sync.entries) entries, \($sync.bytes) bytes in \($sync.seconds) s: \($sync.mb_per_s) MB/s; CPU: joiner \($sync.cpu_seconds) s, providers \($providers_cpu) s; per peer \($sync.peers)",
     "tcp pair   \($pair.bytes) bytes in \($pair.seconds) s: \($pair.mb_per_s) MB/s; CPU \($pair.cpu_seconds) s",
     "mesh       \($mesh.bytes) bytes in \($mesh.seconds) s: \($mesh.mb_per_s) MB/s; CPU \($mesh.cpu_seconds) s",
     "catch-up / tcp pair = \($sync.mb_per_s / $pair.mb_per_s * 1000 | round / 1000); mesh / tcp pair = \($mesh.mb_per_s / $pair.mb_per_s * 1000 | round / 1000)"'
fi
