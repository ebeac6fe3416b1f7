#!/usr/bin/env bash
# A real-network catch-up measurement: a small mosaik cluster in Linux network
# namespaces, each provider's link shaped with tc tbf, and a late joiner that
# catches up from all providers at once.
#
#   scripts/netns-cluster.sh [--providers P] [--rate RATE] [--entries N] [--size BYTES]
#                            [--bin DIR] [--json] [--keep-logs DIR]
#
#   --providers P     founding voters, each one a catch-up provider (default 3)
#   --rate RATE       tbf rate of every provider's link, tc syntax: 40mbit, 1gbit,
#                     500kbit, 10mbps (= bytes/s) ... (default 40mbit)
#   --entries N       commands loaded before the joiner starts (default 20000)
#   --size BYTES      value size of each command (default 1024)
#   --bin DIR         directory holding mosaik-node (default build/default/examples)
#   --json            also print one JSON summary line; it is then the only thing
#                     on stdout (the human-readable report goes to stderr)
#   --keep-logs DIR   copy the nodes' logs and the clients' outputs to DIR at exit
#   --sync-batch N    entries per catch-up fetch (every node; default: the library's)
#   --sync-inflight N catch-up fetches in flight per provider (every node; default: the library's)
#   Hidden, for debugging the rig itself:
#   --selftest        no mosaik at all: one tbf-shaped sender namespace pushes data
#                     to a receiver namespace with mosaik-bench-tcp-pair and the
#                     measured rate is compared with --rate (exit 1 if off by more
#                     than -20 %/+5 %)
#   --tcp-pair PATH   mosaik-bench-tcp-pair for --selftest
#                     (default: DIR/../bench/mosaik-bench-tcp-pair)
#   --port PORT       listen port of every node (default 7100)
#   --timeout SEC     limit of every waiting phase (default 300)
#   --log-level LEVEL passed to mosaik-node run
#
# Topology: namespace mosaik-hub holds a bridge; node i lives in namespace
# mosaik-n<i> with address 10.77.0.<i>/24 on eth0, a veth whose other end is a
# port of the bridge. Nothing is created in the host's network namespace and
# 10.77.0.0/24 exists only inside these namespaces. Providers are nodes 1..P,
# the joiner is node P+1. The shaping (root tbf on each provider's eth0, i.e.
# its egress) is applied only after the log is loaded, so loading is not slowed.
#
# Needs root (network namespaces, tc). Run as non-root it prints
#   netns-cluster: needs root (network namespaces); skipping
# and exits 0, so CI can call it unconditionally. Everything it creates
# (namespaces, processes, the temp dir) is removed on success, failure and
# Ctrl-C. Exit status: 0 ok, 1 failure (including a digest mismatch between
# the joiner and node 1), 2 bad usage.
#
# Note on the ideal: it is bytes*8 / (P * rate), with bytes the catch-up's
# payload as the joiner reports it. tbf counts whole frames, so TCP over a
# tbf link carries at most ~95 % of the rate in payload (see --selftest).
set -euo pipefail

readonly PROG=netns-cluster
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly HUB=mosaik-hub
readonly NET=10.77.0

providers=3
rate=40mbit
entries=20000
size=1024
bin_dir=$ROOT/build/default/examples
json=0
keep_logs=""
selftest=0
tcp_pair=""
port=7100
phase_timeout=300
log_level=""
sync_batch=""
sync_inflight=""

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  log "$*"
  exit 1
}

usage() {
  cat <<EOF
usage: scripts/netns-cluster.sh [--providers P] [--rate RATE] [--entries N] [--size BYTES]
                                [--bin DIR] [--json] [--keep-logs DIR] [--sync-batch N] [--sync-inflight N]
Builds a cluster of network namespaces (one mosaik-node each, provider links
shaped with tc tbf), loads a log, starts a late joiner and reports its catch-up
time against the ideal bytes / (P * RATE). Needs root; as non-root it skips
(exit 0). Defaults: --providers 3 --rate 40mbit --entries 20000 --size 1024
--bin build/default/examples.
EOF
}

bad_usage() {
  log "$*"
  usage >&2
  exit 2
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# rate_bits RATE: the rate in bit/s, following tc's units (bit = bits/s,
# bps = bytes/s, k/m/g/t decimal, ki/mi/gi/ti binary; a bare number is bit/s).
rate_bits() {
  local text=${1,,} number unit factor
  [[ $text =~ ^([0-9]+([.][0-9]+)?)([a-z]*)$ ]] || return 1
  number=${BASH_REMATCH[1]}
  unit=${BASH_REMATCH[3]}
  case $unit in
    "" | bit) factor=1 ;;
    kbit) factor=1e3 ;;
    mbit) factor=1e6 ;;
    gbit) factor=1e9 ;;
    tbit) factor=1e12 ;;
    kibit) factor=1024 ;;
    mibit) factor=1048576 ;;
    gibit) factor=1073741824 ;;
    tibit) factor=1099511627776 ;;
    bps) factor=8 ;;
    kbps) factor=8e3 ;;
    mbps) factor=8e6 ;;
    gbps) factor=8e9 ;;
    tbps) factor=8e12 ;;
    kibps) factor=8192 ;;
    mibps) factor=8388608 ;;
    gibps) factor=8589934592 ;;
    tibps) factor=8796093022208 ;;
    *) return 1 ;;
  esac
  awk -v n="$number" -v f="$factor" 'BEGIN { v = n * f; if (v < 1) exit 1; printf "%.0f\n", v }'
}

# calc EXPR [VAR=VALUE]...: floating-point arithmetic through awk.
calc() {
  local expr=$1
  shift
  local assignments=() a
  for a in "$@"; do assignments+=(-v "$a"); done
  awk "${assignments[@]}" "BEGIN { printf \"%.6g\\n\", ($expr) }"
}

now() { date +%s.%N; }

while [[ $# -gt 0 ]]; do
  flag=$1
  case $flag in
    -h | --help)
      usage
      exit 0
      ;;
    --json) json=1 ;;
    --selftest) selftest=1 ;;
    --providers | --rate | --entries | --size | --bin | --keep-logs | --tcp-pair | --port | --timeout | --log-level | --sync-batch | --sync-inflight)
      [[ $# -ge 2 ]] || bad_usage "$flag needs a value"
      value=$2
      shift
      case $flag in
        --providers) providers=$value ;;
        --rate) rate=$value ;;
        --entries) entries=$value ;;
        --size) size=$value ;;
        --bin) bin_dir=$value ;;
        --keep-logs) keep_logs=$value ;;
        --tcp-pair) tcp_pair=$value ;;
        --port) port=$value ;;
        --timeout) phase_timeout=$value ;;
        --log-level) log_level=$value ;;
        --sync-batch) sync_batch=$value ;;
        --sync-inflight) sync_inflight=$value ;;
      esac
      ;;
    *) bad_usage "unknown option '$flag'" ;;
  esac
  shift
done

{ is_uint "$providers" && ((providers >= 1 && providers <= 200)); } ||
  bad_usage "--providers must be 1..200, not '$providers'"
{ is_uint "$entries" && ((entries >= 1)); } || bad_usage "--entries must be a positive integer"
{ is_uint "$size" && ((size >= 1)); } || bad_usage "--size must be a positive integer"
{ is_uint "$port" && ((port >= 1 && port <= 65535)); } || bad_usage "--port must be 1..65535"
{ is_uint "$phase_timeout" && ((phase_timeout >= 1)); } || bad_usage "--timeout must be a positive integer"
rate_bps=$(rate_bits "$rate") || bad_usage "--rate '$rate' is not a tc rate (e.g. 40mbit, 1gbit, 10mbps)"

if [[ $(id -u) -ne 0 ]]; then
  echo "$PROG: needs root (network namespaces); skipping" >&2
  exit 0
fi
# Root in a container without CAP_SYS_ADMIN / CAP_NET_ADMIN cannot make them either.
probe_ns="mosaik-probe-$$"
if ! ip netns add "$probe_ns" 2>/dev/null; then
  echo "$PROG: cannot create network namespaces here (no CAP_SYS_ADMIN?); skipping" >&2
  exit 0
fi
ip netns del "$probe_ns"
for tool in ip tc awk timeout; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (install iproute2/coreutils)"
done

# JSON fields: jq when there is one, python3 otherwise.
if command -v jq >/dev/null 2>&1; then
  json_tool=jq
elif command -v python3 >/dev/null 2>&1; then
  json_tool=python3
else
  die "need jq or python3 to read mosaik-node's JSON"
fi

# json_get JSON PATH: the value at a dotted PATH (e.g. last_sync.bytes), strings
# raw, objects compact; prints nothing for a missing/null value or bad JSON.
json_get() {
  if [[ $json_tool == jq ]]; then
    jq -rc --arg p "$2" 'getpath($p | split(".")) | if . == null then empty else . end' \
      <<<"$1" 2>/dev/null || true
  else
    python3 -c '
import json, sys
try:
    v = json.loads(sys.argv[1])
    for k in sys.argv[2].split("."):
        v = v.get(k) if isinstance(v, dict) else None
except Exception:
    v = None
if v is not None:
    print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
' "$1" "$2" 2>/dev/null || true
  fi
}

# Everything below creates state; cleanup() undoes exactly what was recorded.
created_ns=()
pids=()
fg_pid=""
work=""

alive() {
  [[ -r /proc/$1/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

cleanup() {
  local rc=$?
  set +e
  trap '' INT TERM
  local pid ns i any all=("${pids[@]}")
  [[ -z $fg_pid ]] || all+=("$fg_pid")
  for pid in "${all[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for ((i = 0; i < 30; i++)); do
    any=0
    for pid in "${all[@]}"; do alive "$pid" && any=1; done
    ((any)) || break
    sleep 0.1
  done
  for pid in "${all[@]}"; do
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  # Anything else still running inside our namespaces (a client cut off by
  # Ctrl-C, say) was started by this script too.
  for ns in "${created_ns[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  for ((i = ${#created_ns[@]} - 1; i >= 0; i--)); do
    ip netns del "${created_ns[i]}" 2>/dev/null || log "could not delete namespace ${created_ns[i]}"
  done
  if [[ -n $work && -d $work ]]; then
    if [[ -n $keep_logs ]]; then
      mkdir -p "$keep_logs" && find "$work" -maxdepth 1 -type f \( -name '*.log' -o -name '*.out' \) \
        -exec cp {} "$keep_logs"/ \; && log "logs kept in $keep_logs"
    fi
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

work=${TMPDIR:-/tmp}/mosaik-netns.$$
mkdir -m 700 "$work" || {
  work=""
  die "cannot create a temp dir"
}

# run_to FILE CMD...: runs CMD in the background with stdout in FILE and waits
# for it, so that Ctrl-C/TERM interrupt the wait and reach cleanup() at once.
run_to() {
  local out=$1 rc=0
  shift
  "$@" >"$out" &
  fg_pid=$!
  wait "$fg_pid" || rc=$?
  fg_pid=""
  return "$rc"
}

ns_of() { echo "mosaik-n$1"; }
addr_of() { echo "$NET.$1"; }

# make_topology COUNT: the hub with its bridge and nodes 1..COUNT.
make_topology() {
  local count=$1 i ns
  for ns in "$HUB" $(for ((i = 1; i <= count; i++)); do ns_of "$i"; done); do
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      die "namespace $ns exists already (another run, or a leftover: ip netns del $ns)"
    fi
  done
  created_ns+=("$HUB")
  ip netns add "$HUB"
  ip -n "$HUB" link set lo up
  ip -n "$HUB" link add br0 type bridge
  ip -n "$HUB" link set br0 up
  for ((i = 1; i <= count; i++)); do
    ns=$(ns_of "$i")
    created_ns+=("$ns") # first: a signal between the two must not leak it
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link add eth0 type veth peer name "port$i" netns "$HUB"
    ip -n "$ns" addr add "$(addr_of "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$HUB" link set "port$i" master br0
    ip -n "$HUB" link set "port$i" up
  done
}

# shape I: tbf on node I's egress. burst: 10 ms at the rate, at least 16 kB.
shape() {
  local burst
  burst=$(awk -v r="$rate_bps" 'BEGIN { b = r / 8 / 100; if (b < 16000) b = 16000; printf "%.0f", b }')
  ip netns exec "$(ns_of "$1")" tc qdisc add dev eth0 root tbf rate "$rate" burst "$burst" latency 50ms
}

# --selftest: does a tbf-shaped link give its configured rate? ------------------

if ((selftest)); then
  [[ -n $tcp_pair ]] || tcp_pair=$bin_dir/../bench/mosaik-bench-tcp-pair
  [[ -x $tcp_pair ]] || die "$tcp_pair not found; build the mosaik-bench-tcp-pair target (or pass --tcp-pair)"
  tcp_pair=$(realpath "$tcp_pair")
  make_topology 2

  # transfer NAME BYTES: node 1 sends BYTES to node 2; sets $mbit to the
  # receiver's figure in Mbit/s. (No $(...) here: a subshell would escape cleanup.)
  mbit=""
  transfer() {
    local name=$1 bytes=$2 receiver rc=0 measured
    ip netns exec "$(ns_of 2)" "$tcp_pair" --listen "$(addr_of 2):$port" \
      >"$work/$name-receiver.out" 2>"$work/$name-receiver.log" &
    receiver=$!
    pids+=("$receiver")
    run_to "$work/$name-sender.out" timeout "$phase_timeout" ip netns exec "$(ns_of 1)" \
      "$tcp_pair" --connect "$(addr_of 2):$port" --bytes "$bytes" 2>"$work/$name-sender.log" || rc=$?
    # A failed sender leaves the receiver waiting; cleanup() ends it.
    ((rc == 0)) || die "$name transfer: sender failed: $(cat "$work/$name-sender.log")"
    wait "$receiver" || die "$name transfer: receiver failed: $(cat "$work/$name-receiver.log")"
    measured=$(json_get "$(<"$work/$name-receiver.out")" mb_per_s)
    [[ -n $measured ]] || die "$name transfer: no result from the receiver"
    mbit=$(calc "m * 8" "m=$measured")
  }

  log "unshaped veth, 100 MB ..."
  transfer unshaped 100000000
  unshaped=$mbit
  shape 1
  # About 5 s worth of data at the configured rate, at least 1 MB.
  bytes=$(awk -v r="$rate_bps" 'BEGIN { b = r / 8 * 5; if (b < 1e6) b = 1e6; printf "%.0f", b }')
  log "tbf $rate on the sender's egress, $bytes bytes ..."
  transfer shaped "$bytes"
  shaped=$mbit
  configured=$(calc "r / 1e6" "r=$rate_bps")
  ratio=$(calc "s / c" "s=$shaped" "c=$configured")
  ok=$(awk -v q="$ratio" 'BEGIN { print (q >= 0.80 && q <= 1.05) ? 1 : 0 }')
  verdict=$([[ $ok == 1 ]] && echo PASS || echo FAIL)
  report="selftest: configured $configured Mbit/s ($rate), measured $shaped Mbit/s (ratio $ratio; \
unshaped veth: $unshaped Mbit/s) -> $verdict"
  if ((json)); then
    echo "$report" >&2
    printf '{"selftest":true,"rate":"%s","configured_mbit_per_s":%s,"measured_mbit_per_s":%s,"ratio":%s,"unshaped_mbit_per_s":%s,"pass":%s}\n' \
      "$rate" "$configured" "$shaped" "$ratio" "$unshaped" "$([[ $ok == 1 ]] && echo true || echo false)"
  else
    echo "$report"
  fi
  [[ $ok == 1 ]] || exit 1
  exit 0
fi

# The cluster ------------------------------------------------------------------

node_bin=$bin_dir/mosaik-node
[[ -x $node_bin ]] || die "$node_bin not found; build the mosaik-node target (or pass --bin DIR)"
node_bin=$(realpath "$node_bin")
joiner=$((providers + 1))
members=$(seq -s, 1 "$providers")
key_file=$work/key
head -c 32 /dev/urandom >"$key_file"
chmod 600 "$key_file"
log_args=()
[[ -z $log_level ]] || log_args=(--log-level "$log_level")
[[ -z $sync_batch ]] || log_args+=(--sync-batch "$sync_batch")
[[ -z $sync_inflight ]] || log_args+=(--sync-inflight "$sync_inflight")

provider_connect=()
for ((i = 1; i <= providers; i++)); do provider_connect+=(--connect "$(addr_of "$i"):$port"); done

make_topology "$joiner"

declare -A node_pid=()
start_node() {
  local id=$1 peer_ids=() peers=() j
  if ((id == joiner)); then
    for ((j = 1; j <= providers; j++)); do peer_ids+=("$j"); done
  else
    for ((j = 1; j <= joiner; j++)); do ((j == id)) || peer_ids+=("$j"); done
  fi
  for j in "${peer_ids[@]}"; do peers+=(--peer "$j@$(addr_of "$j"):$port"); done
  mkdir -p "$work/data$id"
  local report_args=()
  ((id == joiner)) && report_args=(--sync-report "$work/report")
  ip netns exec "$(ns_of "$id")" "$node_bin" run --id "$id" --listen "$(addr_of "$id"):$port" \
    "${peers[@]}" --key-file "$key_file" --members "$members" --data-dir "$work/data$id" \
    "${log_args[@]}" "${report_args[@]}" >"$work/node$id.log" 2>&1 &
  node_pid[$id]=$!
  pids+=("$!")
}

check_nodes() {
  local id
  for id in "${!node_pid[@]}"; do
    alive "${node_pid[$id]}" || die "node $id exited; its log ends with:
$(tail -n 20 "$work/node$id.log")"
  done
}

# client NAME NODE CONNECT-ARGS... -- COMMAND...: runs the client in node NODE's
# namespace; its stdout goes to $work/NAME.out, stderr to $work/NAME.log.
client_timeout=20
client() {
  local name=$1 ns
  ns=$(ns_of "$2")
  shift 2
  local connect=()
  while [[ $1 != -- ]]; do
    connect+=("$1")
    shift
  done
  shift
  run_to "$work/$name.out" timeout "$client_timeout" ip netns exec "$ns" \
    "$node_bin" client "${connect[@]}" --key-file "$key_file" "$@" 2>>"$work/$name.log"
}

# status I: node I's status JSON into $status (empty when the call failed).
status=""
status_of() {
  status=""
  if client "status$1" "$1" --connect "$(addr_of "$1"):$port" -- status; then
    status=$(tail -n 1 "$work/status$1.out")
  fi
}

deadline() { echo $((SECONDS + phase_timeout)); }

log "starting providers 1..$providers ($(addr_of 1)..$(addr_of "$providers"), port $port)"
for ((i = 1; i <= providers; i++)); do start_node "$i"; done

log "waiting for a leader"
until_s=$(deadline)
while :; do
  check_nodes
  status_of 1
  leader=$(json_get "$status" leader)
  if is_uint "${leader:-x}" && ((leader > 0)); then break; fi
  ((SECONDS < until_s)) || die "no leader after ${phase_timeout}s; last status: ${status:-none}"
  sleep 0.2
done
log "leader: node $leader"

log "loading $entries commands of $size bytes"
client_timeout=$phase_timeout
client bench 1 "${provider_connect[@]}" -- bench "$entries" --size "$size" ||
  die "bench failed: $(tail -n 5 "$work/bench.log")"
client_timeout=20
bench_result=$(tail -n 1 "$work/bench.out")
log "bench: $bench_result"

log "waiting until every provider has committed and holds the whole log"
until_s=$(deadline)
loaded_commit=0
for ((i = 1; i <= providers; i++)); do
  while :; do
    check_nodes
    status_of "$i"
    commit=$(json_get "$status" commit)
    last=$(json_get "$status" last)
    if is_uint "${commit:-x}" && is_uint "${last:-x}" && ((commit == last && commit >= entries)); then
      ((commit > loaded_commit)) && loaded_commit=$commit
      break
    fi
    ((SECONDS < until_s)) || die "node $i not loaded after ${phase_timeout}s; last status: ${status:-none}"
    sleep 0.2
  done
done
log "loaded: commit $loaded_commit on all providers"

for ((i = 1; i <= providers; i++)); do shape "$i"; done
log "shaped every provider's egress to $rate"

log "starting joiner $joiner ($(addr_of "$joiner"))"
# The joiner writes one JSON line to this FIFO once it has caught up and
# applied (mosaik-node run --sync-report): nothing polls during the catch-up.
rm -f "$work/report" && mkfifo "$work/report"
exec {report_fd}<>"$work/report"
join_start=$(now)
start_node "$joiner"
added=0
for attempt in 1 2 3 4 5; do
  if client add-member 1 "${provider_connect[@]}" -- add-member "$joiner"; then
    added=1
    break
  fi
  log "add-member attempt $attempt failed: $(tail -n 1 "$work/add-member.log" 2>/dev/null)"
  check_nodes
  sleep 1
done
((added)) || die "add-member $joiner failed"
accepted_ns=$(json_get "$(<"$work/add-member.out")" accepted_ns)
is_uint "${accepted_ns:-x}" || die "add-member's answer lacks accepted_ns: $(<"$work/add-member.out")"

log "waiting for the joiner to catch up"
read -r -t "$phase_timeout" -u "$report_fd" sync_report ||
  die "joiner not caught up after ${phase_timeout}s; its log ends with:
$(tail -n 20 "$work/node$joiner.log")"
exec {report_fd}<&-
caught_up=$(now)
target=$loaded_commit
wall=$(calc "b - a" "a=$join_start" "b=$caught_up")
log "comparing digests"
until_s=$((SECONDS + 30))
digest_ok=0
while :; do
  status_of 1
  leader_status=$status
  status_of "$joiner"
  joiner_status=$status
  applied1=$(json_get "$leader_status" applied)
  appliedj=$(json_get "$joiner_status" applied)
  digest1=$(json_get "$leader_status" digest)
  digestj=$(json_get "$joiner_status" digest)
  if [[ -n $applied1 && $applied1 == "$appliedj" && -n $digest1 ]]; then
    [[ $digest1 == "$digestj" ]] && digest_ok=1
    break
  fi
  ((SECONDS < until_s)) || die "node 1 and the joiner never applied the same index (node 1: ${leader_status:-none}; joiner: ${joiner_status:-none})"
  sleep 0.1
done

sync_entries=$(json_get "$sync_report" entries)
sync_bytes=$(json_get "$sync_report" bytes)
started_ns=$(json_get "$sync_report" started_ns)
caught_up_ns=$(json_get "$sync_report" caught_up_ns)
sync_peers=$(json_get "$sync_report" peers)
[[ -n $sync_bytes && -n $started_ns && -n $caught_up_ns ]] || die "the joiner's report lacks bytes or times: $sync_report"
sync_seconds=$(calc "(c - s) / 1e9" "c=$caught_up_ns" "s=$started_ns")
# From the leader accepting the joiner to the joiner caught up (one clock: CLOCK_MONOTONIC).
join_seconds=$(calc "(c - a) / 1e9" "c=$caught_up_ns" "a=$accepted_ns")
ideal=$(calc "b * 8 / (p * r)" "b=$sync_bytes" "p=$providers" "r=$rate_bps")
mbps=$(calc "s > 0 ? b / 1e6 / s : 0" "b=$sync_bytes" "s=$sync_seconds")
ideal_mbps=$(calc "p * r / 8e6" "p=$providers" "r=$rate_bps")
efficiency=$(calc "s > 0 ? i / s : 0" "i=$ideal" "s=$sync_seconds")
wall_efficiency=$(calc "w > 0 ? i / w : 0" "i=$ideal" "w=$wall")
join_over_ideal=$(calc "j - i" "j=$join_seconds" "i=$ideal")
load_rate=$(json_get "$bench_result" commands_per_s)

report="catch-up: $providers providers x $rate, $entries entries x $size B (commit $target)
  synced:     ${sync_entries:-?} entries, $sync_bytes bytes in ${sync_seconds} s (the session), ${wall} s wall (joiner start -> caught up)
  join:       ${join_seconds} s from add-member accepted to caught up: ideal + ${join_over_ideal} s
  throughput: $mbps MB/s; links allow $ideal_mbps MB/s -> ideal $ideal s
  efficiency: $efficiency (sync), $wall_efficiency (wall)
  per peer:   ${sync_peers:-?}
  digest:     $([[ $digest_ok == 1 ]] && echo "match ($digest1)" || echo "MISMATCH (node 1 $digest1, joiner $digestj)")"
if ((json)); then
  echo "$report" >&2
  printf '{"providers":%s,"rate":"%s","rate_bits_per_s":%s,"entries":%s,"size":%s,"load_commands_per_s":%s,"commit":%s,"sync_entries":%s,"bytes":%s,"seconds":%s,"join_seconds":%s,"join_over_ideal_seconds":%s,"wall_seconds":%s,"mb_per_s":%s,"ideal_seconds":%s,"efficiency":%s,"wall_efficiency":%s,"peers":%s,"digest_match":%s}\n' \
    "$providers" "$rate" "$rate_bps" "$entries" "$size" "${load_rate:-null}" "$target" "${sync_entries:-null}" \
    "$sync_bytes" "$sync_seconds" "$join_seconds" "$join_over_ideal" "$wall" "$mbps" "$ideal" "$efficiency" "$wall_efficiency" "${sync_peers:-null}" \
    "$([[ $digest_ok == 1 ]] && echo true || echo false)"
else
  echo "$report"
fi
((digest_ok)) || die "the joiner's digest differs from node 1's"
