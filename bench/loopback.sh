#!/usr/bin/env bash
# Catch-up over loopback with real processes, beside the machine's limits:
# three mosaik-node providers hold a log, a fourth node joins and catches up
# from all of them; in the same run, the same number of bytes goes through
# one plain TCP socket pair (mosaik-bench-tcp-pair: the physical limit) and
# through two mosaik Meshes (mosaik-bench-mesh: the transport alone).
#
#   bench/loopback.sh [--entries N] [--size BYTES] [--cases LIST] [--rounds R]
#                     [--bin BUILD_DIR] [--port BASE] [--sync-batch N]
#                     [--sync-inflight N] [--perf DIR] [--json]
#
#   --entries N     commands in the log (default 1000000)
#   --size BYTES    value bytes of each put (default 90: about 100-byte entries)
#   --cases LIST    several cases, each N x BYTES, comma-separated; "all" is
#                   1000000x90,100000x90,20000x4090,200x1048566 (the value
#                   sizes that make ~100 B, ~4 KiB and ~1 MiB entries)
#   --rounds R      runs of each case (default 1); a fresh cluster each run
#   --bin DIR       the build directory (default build/default)
#   --port BASE     nodes listen on BASE+1..BASE+4 (default 17400)
#   --perf DIR      also profile the joiner and the leader during each join
#                   (perf record, flat, 1999 Hz) into DIR/<case>-<round>-
#                   {joiner,leader}.data; profiling costs time, so take the
#                   figures from runs without it
#
# Nothing polls while the join is measured: the joiner writes one report
# (steady-clock times, CPU, peak RSS) into a FIFO the script blocks on
# (`mosaik-node run --sync-report`), the leader's add-member answer carries
# when it took the change, and CPU times come from /proc. Reported per run:
#   join_s        add-member taken by the leader -> the joiner holds every entry
#   applied_s     add-member taken -> the joiner applied them
#   session_s     the catch-up session alone
#   cpu           joiner (session) and providers (whole join) CPU seconds
#   ratio         catch-up throughput / plain TCP pair throughput (same bytes)
#   join_x_pair   join_s / the TCP pair's time for the same bytes
# Prints one line per run (one JSON line each with --json) and, with several
# rounds, min and median per case.
set -euo pipefail

entries=1000000
size=90
cases=
rounds=1
build=build/default
base=17400
sync_args=()
json=0
perf_dir=
while [[ $# -gt 0 ]]; do
  case $1 in
    --entries) entries=$2; shift ;;
    --size) size=$2; shift ;;
    --cases) cases=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --bin) build=$2; shift ;;
    --port) base=$2; shift ;;
    --sync-batch | --sync-inflight) sync_args+=("$1" "$2"); shift ;;
    --json) json=1 ;;
    --perf) perf_dir=$2; shift ;;
    -h | --help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "loopback: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $cases == all ]] && cases=1000000x90,100000x90,20000x4090,200x1048566
[[ -n $cases ]] || cases="${entries}x${size}"
node=$build/examples/mosaik-node
for binary in "$node" "$build/bench/mosaik-bench-tcp-pair" "$build/bench/mosaik-bench-mesh"; do
  [[ -x $binary ]] || { echo "loopback: $binary not built" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "loopback: needs jq" >&2; exit 1; }

work=$(mktemp -d)
pids=()
stop_nodes() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
trap 'stop_nodes; rm -rf "$work"' EXIT
head -c 32 /dev/urandom >"$work/key"
peers=()
for i in 1 2 3 4; do peers+=(--peer "$i@127.0.0.1:$((base + i))"); done
declare -A pid_of
start() { # start ID [extra args...]
  "$node" run --id "$1" --listen "127.0.0.1:$((base + $1))" "${peers[@]}" --key-file "$work/key" \
    --members 1,2,3 "${sync_args[@]}" --log-level warn "${@:2}" >"$work/node$1.log" 2>&1 &
  pids+=("$!")
  pid_of[$1]=$!
}
client() { "$node" client --connect "127.0.0.1:$((base + $1))" --key-file "$work/key" "${@:2}"; }
wait_for() { # wait_for SECONDS COMMAND...: polls every 50 ms (set-up only, never while measuring)
  local until=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < until)) || { echo "loopback: timed out: $*" >&2; tail -5 "$work"/node*.log >&2; exit 1; }
    sleep 0.05
  done
}
# Sets $leader to the leader node 1 knows; false while it knows none.
leader_known() {
  leader=$(client 1 status 2>/dev/null | jq -r '.leader // 0')
  [[ $leader =~ ^[1-9][0-9]*$ ]] # not while node 1 is starting (no answer) or knows no leader
}
loaded() { [[ $(client "$1" status 2>/dev/null | jq -r '.commit >= '"$2"' and .commit == .applied') == true ]]; }
node4_up() { client 4 status >/dev/null 2>&1; }
# CPU seconds of a process, all its threads, from the scheduler's nanosecond counters.
cpu_of() { cat /proc/"$1"/task/*/schedstat | awk '{ns += $1} END {printf "%.4f", ns / 1e9}'; }
providers_cpu() { echo "$(cpu_of "${pid_of[1]}") + $(cpu_of "${pid_of[2]}") + $(cpu_of "${pid_of[3]}")" | bc -l; }

# one_run ENTRIES SIZE ROUND: one JSON line on stdout
one_run() {
  local n=$1 value=$2 leader fifo="$work/report" profilers=()
  rm -f "$fifo" && mkfifo "$fifo"
  for i in 1 2 3; do start "$i"; done
  wait_for 30 leader_known
  # Big values go in smaller batches: a put batch is one frame.
  local batch=$(( value > 100000 ? 8 : value > 1000 ? 256 : 1000 ))
  client "$leader" bench "$n" --size "$value" --clients 4 --batch "$batch" >"$work/load.json"
  for i in 1 2 3; do wait_for 300 loaded "$i" "$n"; done
  start 4 --sync-report "$fifo"
  wait_for 10 node4_up
  sleep 0.2 # bonds settle: the join starts from a quiet cluster
  local before after added report
  before=$(providers_cpu)
  # The reader is open before the join starts; it blocks until the joiner reports.
  exec {report_fd}<>"$fifo"
  if [[ -n $perf_dir ]]; then
    mkdir -p "$perf_dir"
    for who in joiner leader; do
      local target=${pid_of[4]}
      [[ $who == leader ]] && target=${pid_of[$leader]}
      perf record -q -F 1999 ${MOSAIK_PERF_ARGS:-} -p "$target" -o "$perf_dir/${n}x${value}-$3-$who.data" 2>/dev/null &
      profilers+=("$!")
    done
    sleep 0.3 # perf attaches
  fi
  added=$(client "$leader" add-member 4)
  read -r -t 600 -u "$report_fd" report || { echo "loopback: no report from the joiner" >&2; exit 1; }
  exec {report_fd}<&-
  for profiler in "${profilers[@]}"; do kill -INT "$profiler"; wait "$profiler" || true; done
  after=$(providers_cpu)
  stop_nodes
  local bytes pair mesh
  bytes=$(jq -r .bytes <<<"$report")
  pair=$("$build/bench/mosaik-bench-tcp-pair" --bytes "$bytes" 2>/dev/null)
  mesh=$("$build/bench/mosaik-bench-mesh" --bytes "$bytes" 2>/dev/null)
  jq -nc --argjson r "$report" --argjson added "$added" --argjson pair "$pair" --argjson mesh "$mesh" \
    --argjson entries "$n" --argjson size "$value" --argjson providers_cpu "$(echo "$after - $before" | bc -l)" \
    '
    def round3: . * 1000 | round / 1000;
    (($r.caught_up_ns - $r.started_ns) / 1e9) as $session |
    (($r.caught_up_ns - $added.accepted_ns) / 1e9) as $join |
    {entries: $entries, value_bytes: $size, bytes: $r.bytes, ok: $r.ok,
     join_s: ($join | round3), applied_s: (($r.applied_ns - $added.accepted_ns) / 1e9 | round3),
     before_session_s: (($r.started_ns - $added.accepted_ns) / 1e9 | round3),
     session_s: ($session | round3), mb_per_s: ($r.bytes / 1e6 / $session | round),
     joiner_cpu_s: $r.cpu_seconds, providers_cpu_s: ($providers_cpu | round3),
     joiner_peak_rss_mib: ($r.peak_rss_kib / 1024 | round), peers: $r.peers,
     tcp_pair_s: ($pair.seconds | round3), tcp_pair_mb_per_s: $pair.mb_per_s, mesh_mb_per_s: $mesh.mb_per_s,
     ratio: ($r.bytes / 1e6 / $session / $pair.mb_per_s | round3),
     join_x_pair: ($join / $pair.seconds | . * 10 | round / 10)}'
}

results=()
IFS=, read -ra case_list <<<"$cases"
for spec in "${case_list[@]}"; do
  n=${spec%x*}
  value=${spec#*x}
  for ((round = 1; round <= rounds; round++)); do
    one_run "$n" "$value" "$round" >"$work/run.json" # not in a subshell: it starts and stops the nodes
    line=$(<"$work/run.json")
    results+=("$line")
    if ((json)); then
      echo "$line"
    else
      jq -r '"\(.entries) x \(.value_bytes) B: join \(.join_s) s (session \(.session_s) s, applied at \(.applied_s) s), \(.mb_per_s) MB/s = \(.ratio) of the TCP pair (\(.tcp_pair_mb_per_s) MB/s, \(.tcp_pair_s) s; join = \(.join_x_pair)x); CPU joiner \(.joiner_cpu_s) s, providers \(.providers_cpu_s) s; joiner peak RSS \(.joiner_peak_rss_mib) MiB; peers \(.peers)"' <<<"$line"
    fi
  done
done
if ((rounds > 1)); then
  printf '%s\n' "${results[@]}" | jq -sr '
    group_by(.entries) | .[] |
    def stat(f): (map(f) | sort) as $v | "\($v[0]) / \($v[(($v | length) - 1) / 2 | floor])";
    "summary \(.[0].entries) x \(.[0].value_bytes) B (\(length) rounds, min / median): join \(stat(.join_s)) s, session \(stat(.session_s)) s, ratio \(stat(.ratio)), join/pair \(stat(.join_x_pair)), CPU joiner \(stat(.joiner_cpu_s)) s, providers \(stat(.providers_cpu_s)) s"' >&2
fi
