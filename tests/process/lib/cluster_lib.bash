# shellcheck shell=bash
# shellcheck disable=SC2034 # LEADER, CONV_*, STOP_RC, ...: results for the sourcing script
# Helpers for the whole-process tests (tests/process/*.sh): mosaik-node
# processes on loopback, driven with `mosaik-node client`. Not a test itself
# (ctest runs tests/process/*.sh only): a script sources it,
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/cluster_lib.bash"
#   cluster_args "$@"                 # usage check; sets BIN (exit 2 on bad usage)
#   ALL_IDS=(1 2 3)                   # nodes that may run (each gets a port and a --peer)
#   cluster_setup mosaik-something    # the cleanup trap, TMP, KEY, PORT[id]
#   start_node 1 --data-dir "$TMP/d1" ...
#
# and sets, before calling anything (every helper reads them when called):
#
#   PROG        the name in the messages ("process.cluster")
#   ALL_IDS     the ids of every node that may run (default 1 2 3)
#   MEMBERS     the founding members, --members (default 1,2,3)
#   SYNC_ARGS   extra arguments for every node (array, default none)
#   T_LEADER T_BENCH T_CONVERGE   limits of the waits in seconds (defaults 30 180 90)
#
# State: PID[id] and PORT[id]; ALIVE, the ids that should be running (a node
# in ALIVE that exits makes the next wait fail); AUX_PIDS, background clients
# killed at exit; TMP, the temp dir (removed at exit; CLUSTER_KEEP=DIR copies
# its logs to DIR first); NODE_LOG[id], the log of the node's current run.
#
# Every wait polls with a deadline; a failed check calls fail, which prints
# the live nodes' status and the tail of every log, and exits 1.
#
# Needs only bash (>= 4.3), coreutils and /dev/urandom: the status JSON is
# read with bash regexes, no jq or python3.

: "${PROG:=process.$(basename "$0" .sh)}"
[[ -v ALL_IDS ]] || ALL_IDS=(1 2 3)
: "${MEMBERS:=1,2,3}"
[[ -v SYNC_ARGS ]] || SYNC_ARGS=()
: "${T_LEADER:=30}" "${T_BENCH:=180}" "${T_CONVERGE:=90}"
readonly HOST=127.0.0.1

# ---- usage ----------------------------------------------------------------------

# Checks the script's arguments (one: the mosaik-node binary) and sets BIN to
# its absolute path; exits 2 on bad usage.
cluster_args() {
  if [[ $# -ne 1 || ! -x $1 ]]; then
    echo "usage: $0 /path/to/mosaik-node" >&2
    exit 2
  fi
  BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
  readonly BIN
}

# ---- time and output ------------------------------------------------------------

now_us() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    REPLY=${EPOCHREALTIME/[.,]/}
  else
    REPLY=$(date +%s%N)
    REPLY=${REPLY%???}
  fi
}
now_us
START_US=$REPLY
readonly START_US

# Sets REPLY to the seconds since the start, e.g. "12.34".
elapsed() {
  now_us
  local cs=$(((REPLY - START_US) / 10000))
  printf -v REPLY '%d.%02d' $((cs / 100)) $((cs % 100))
}

# One line of the timeline.
say() {
  elapsed
  printf '[%7ss] %s\n' "$REPLY" "$*"
}

# ---- state and cleanup ----------------------------------------------------------

declare -A PID=() PORT=() NODE_LOG=() STARTS=()
ALIVE=()    # ids of the nodes that should be running
AUX_PIDS=() # background clients
TMP=""
FAILED=0

dump_logs() {
  [[ -n $TMP && -d $TMP ]] || return 0
  local id log
  for id in "${ALL_IDS[@]}"; do
    log=${NODE_LOG[$id]:-$TMP/node$id.log}
    [[ -f $log ]] || continue
    echo "---- node $id (pid ${PID[$id]:-?}): last 40 lines of its log ($(basename "$log")) ----"
    tail -n 40 "$log" || true
  done
  for log in "$TMP"/client-*.out; do
    [[ -f $log ]] || continue
    echo "---- $(basename "$log") ----"
    tail -n 10 "$log" || true
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [[ $rc -eq 130 || $rc -eq 143 ]]; then
    echo "$PROG: interrupted"
  elif [[ $rc -ne 0 && $FAILED -eq 0 ]]; then
    echo "$PROG: FAILED (unexpected exit status $rc)"
    dump_logs
  fi
  local pid
  # Stop what this script started, by pid: clients first, then the nodes
  # (SIGTERM, then SIGKILL for those that do not stop within 3 s).
  for pid in "${AUX_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null
  done
  for pid in "${PID[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  local deadline=$((SECONDS + 3))
  for pid in "${PID[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for pid in "${AUX_PIDS[@]}"; do
    wait "$pid" 2>/dev/null
  done
  if [[ -n ${CLUSTER_KEEP:-} && -n $TMP ]]; then
    mkdir -p "$CLUSTER_KEEP" && cp "$TMP"/*.log "$TMP"/*.out "$CLUSTER_KEEP"/ 2>/dev/null
  fi
  [[ -n $TMP ]] && rm -rf "$TMP"
  exit "$rc"
}

fail() {
  FAILED=1
  say "FAIL: $*"
  echo "$PROG: FAILED: $*"
  local id
  for id in "${ALIVE[@]}"; do
    if status "$id"; then
      echo "status of node $id: $S"
    else
      echo "status of node $id: unreachable"
    fi
  done
  dump_logs
  exit 1
}

# Installs the cleanup trap, creates TMP (mktemp -d PREFIX.XXXXXX under
# TMPDIR) and the group key KEY in it, and picks a port for every node.
cluster_setup() {
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  KEY=$TMP/key
  readonly KEY
  head -c 32 /dev/urandom >"$KEY"
  [[ $(wc -c <"$KEY") -eq 32 ]] || fail "could not write a 32-byte key file"
  pick_ports
}

# ---- ports ----------------------------------------------------------------------

port_free() {
  ! (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# Consecutive free ports (one per id in ALL_IDS: base + id) below the
# ephemeral range, so that no outgoing connection takes one between the check
# and the node's bind.
pick_ports() {
  local low=32768 base id
  if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range || low=32768
  fi
  ((low > 21000)) || low=60000 # unusual range: fall back to the whole 20000-60000
  for _ in $(seq 1 100); do
    base=$((20000 + (RANDOM * 32768 + RANDOM) % (low - 20000 - 10)))
    local all=1
    for id in "${ALL_IDS[@]}"; do
      port_free $((base + id)) || { all=0; break; }
    done
    if ((all)); then
      for id in "${ALL_IDS[@]}"; do PORT[$id]=$((base + id)); done
      return 0
    fi
  done
  fail "no ${#ALL_IDS[@]} free consecutive ports found on $HOST"
}

# ---- reading the status JSON ----------------------------------------------------

# Sets REPLY to the value of the first "KEY": in JSON (a number, a bool, null or
# a string without its quotes). The status is flat except for last_sync, whose
# keys (ok, entries, bytes, seconds, mb_per_s, peers) differ from the top level's.
jget() {
  local re="\"$2\":(\"[^\"]*\"|[^,}]*)"
  [[ $1 =~ $re ]] || { REPLY=""; return 1; }
  REPLY=${BASH_REMATCH[1]}
  REPLY=${REPLY#\"}
  REPLY=${REPLY%\"}
}

# Sets REPLY to the body of last_sync.peers in JSON ("1":10,"2":20), or "".
sync_peers() {
  local re='"peers":\{([^}]*)\}'
  if [[ $1 =~ $re ]]; then REPLY=${BASH_REMATCH[1]}; else REPLY=""; fi
}

# Sets REPLY to the last_sync object in JSON, or "null".
last_sync() {
  local re='"last_sync":(null|\{[^{}]*(\{[^{}]*\})?[^{}]*\})'
  if [[ $1 =~ $re ]]; then REPLY=${BASH_REMATCH[1]}; else REPLY="null"; fi
}

# ---- nodes and clients ----------------------------------------------------------

is_alive_id() {
  local id
  for id in "${ALIVE[@]}"; do [[ $id == "$1" ]] && return 0; done
  return 1
}

# Removes ID from ALIVE (the node may exit from now on without failing the waits).
forget_node() {
  local keep=() id
  for id in "${ALIVE[@]}"; do [[ $id == "$1" ]] || keep+=("$id"); done
  ALIVE=("${keep[@]}")
}

# Fails when a node that should run has exited.
check_alive() {
  local id rc
  for id in "${ALIVE[@]}"; do
    if ! kill -0 "${PID[$id]}" 2>/dev/null; then
      rc=0
      wait "${PID[$id]}" 2>/dev/null || rc=$?
      fail "node $id (pid ${PID[$id]}) exited unexpectedly with status $rc"
    fi
  done
}

# start_node ID [ARG...]: starts node ID (a member of MEMBERS, every node of
# ALL_IDS as a peer, SYNC_ARGS), with the extra ARGs (e.g. --data-dir DIR), in
# the background, and adds it to ALIVE. Its output goes to NODE_LOG[id]:
# TMP/nodeID.log for the first run, TMP/nodeID.runN.log for the Nth.
start_node() {
  local id=$1 peers=() p
  shift
  for p in "${ALL_IDS[@]}"; do
    peers+=(--peer "$p@$HOST:${PORT[$p]}")
  done
  STARTS[$id]=$((${STARTS[$id]:-0} + 1))
  if ((STARTS[$id] == 1)); then
    NODE_LOG[$id]=$TMP/node$id.log
  else
    NODE_LOG[$id]=$TMP/node$id.run${STARTS[$id]}.log
  fi
  "$BIN" run --id "$id" --listen "$HOST:${PORT[$id]}" "${peers[@]}" --key-file "$KEY" \
    --members "$MEMBERS" "${SYNC_ARGS[@]}" "$@" >"${NODE_LOG[$id]}" 2>&1 &
  PID[$id]=$!
  ALIVE+=("$id")
  say "started node $id (pid ${PID[$id]}, port ${PORT[$id]})${*:+ with $*}"
}

# stop_node ID [SIGNAL]: sends SIGNAL (default TERM) to node ID, waits for it to
# exit (SIGKILL after 10 s), removes it from ALIVE and PID. Sets STOP_RC to its
# exit status.
stop_node() {
  local id=$1 sig=${2:-TERM} pid=${PID[$1]} deadline=$((SECONDS + 10))
  forget_node "$id"
  STOP_RC=0
  # stderr off: bash reports a job killed by a signal ("Killed") when it reaps it.
  {
    kill -"$sig" "$pid" || true
    if [[ $sig != KILL && $sig != 9 ]]; then
      while kill -0 "$pid"; do
        if ((SECONDS >= deadline)); then
          say "node $id (pid $pid) did not exit within 10s of SIG$sig: SIGKILL"
          kill -KILL "$pid" || true
          break
        fi
        sleep 0.02
      done
    fi
    wait "$pid" || STOP_RC=$?
  } 2>/dev/null
  unset "PID[$id]"
}

# stop_nodes SIGNAL ID...: sends SIGNAL to every node ID at once, then stops
# them as stop_node does.
stop_nodes() {
  local sig=$1 id
  shift
  {
    for id in "$@"; do kill -"$sig" "${PID[$id]}" || true; done
    for id in "$@"; do stop_node "$id" "$sig"; done
  } 2>/dev/null
}

# wait_exit ID SECONDS: waits for node ID (not in ALIVE) to exit by itself;
# sets STOP_RC to its exit status and returns 0, or returns 1 (still running).
wait_exit() {
  local id=$1 pid=${PID[$1]} deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.02
  done
  STOP_RC=0
  wait "$pid" 2>/dev/null || STOP_RC=$?
  unset "PID[$id]"
}

# Sets S to node ID's status JSON; returns 1 when it does not answer.
status() {
  S=$(timeout 5 "$BIN" client --connect "$HOST:${PORT[$1]}" --key-file "$KEY" --timeout 2 status \
    2>/dev/null) || return 1
  [[ $S == \{* ]]
}

# first_status ID SECONDS: polls node ID until it answers (sets S to that
# first answer); fails when it exits or does not answer in time.
first_status() {
  local id=$1 deadline=$((SECONDS + $2))
  while :; do
    status "$id" && return 0
    check_alive
    ((SECONDS < deadline)) || fail "node $id did not answer a status request within ${2}s"
    sleep 0.02
  done
}

# `mosaik-node client` against every live node (it follows the redirect to the leader).
client_all() {
  local args=() id
  for id in "${ALIVE[@]}"; do args+=(--connect "$HOST:${PORT[$id]}"); done
  "$BIN" client "${args[@]}" --key-file "$KEY" --timeout 5 "$@"
}

# Waits until a live node other than NOT (0: any) is leader in a term above
# ABOVE_TERM and every other live node that knows a leader names it; sets
# LEADER and LEADER_TERM.
wait_leader() {
  local not=$1 above=$2 deadline=$((SECONDS + T_LEADER)) id candidate term agree
  while :; do
    check_alive
    candidate=0 term=0 agree=1
    local -A said=()
    for id in "${ALIVE[@]}"; do
      status "$id" || { agree=0; continue; }
      jget "$S" leader && said[$id]=$REPLY
      jget "$S" role
      if [[ $REPLY == leader ]]; then
        jget "$S" term
        if ((REPLY > term)); then candidate=$id term=$REPLY; fi
      fi
    done
    if ((candidate != 0 && candidate != not && term > above)); then
      for id in "${ALIVE[@]}"; do
        [[ ${said[$id]:-0} == "$candidate" ]] || agree=0
      done
      if ((agree)); then
        LEADER=$candidate LEADER_TERM=$term
        return 0
      fi
    fi
    ((SECONDS < deadline)) || fail "no leader agreed on by nodes ${ALIVE[*]} within ${T_LEADER}s" \
      "(last candidate: ${candidate}, term ${term}; must differ from ${not}, term above ${above})"
    sleep 0.1
  done
}

# Waits until every node in IDS (default: the live ones) has commit == applied ==
# last, all equal and >= MIN_COMMIT, with equal digests and key counts; sets
# CONV_COMMIT, CONV_DIGEST, CONV_KEYS and STATUS[id].
declare -A STATUS=()
wait_converged() {
  local min_commit=$1 what=$2
  shift 2
  local ids=("$@")
  ((${#ids[@]})) || ids=("${ALIVE[@]}")
  local deadline=$((SECONDS + T_CONVERGE)) id ok commit digest keys why
  while :; do
    check_alive
    ok=1 commit="" digest="" keys="" why=""
    for id in "${ids[@]}"; do
      if ! status "$id"; then ok=0 why="node $id does not answer"; break; fi
      STATUS[$id]=$S
      jget "$S" commit; local c=$REPLY
      jget "$S" applied; local a=$REPLY
      jget "$S" last; local l=$REPLY
      jget "$S" digest; local d=$REPLY
      jget "$S" keys; local k=$REPLY
      if ! [[ $c == "$a" && $c == "$l" ]]; then
        ok=0 why="node $id: commit $c, applied $a, last $l"
        break
      fi
      if ((c < min_commit)); then ok=0 why="node $id: commit $c < $min_commit"; break; fi
      if [[ -z $commit ]]; then
        commit=$c digest=$d keys=$k
      elif [[ $c != "$commit" || $d != "$digest" || $k != "$keys" ]]; then
        ok=0 why="node $id: commit $c digest $d keys $k vs commit $commit digest $digest keys $keys"
        break
      fi
    done
    if ((ok)); then
      CONV_COMMIT=$commit CONV_DIGEST=$digest CONV_KEYS=$keys
      return 0
    fi
    ((SECONDS < deadline)) || fail "$what: nodes ${ids[*]} did not converge within ${T_CONVERGE}s ($why)"
    sleep 0.1
  done
}

# Writes N keys k0..k<N-1> with values of SIZE bytes through the leader.
bench() {
  local n=$1 size=$2 out args=() id
  out=$TMP/client-bench-$size.out
  for id in "${ALIVE[@]}"; do args+=(--connect "$HOST:${PORT[$id]}"); done
  if ! timeout "$T_BENCH" "$BIN" client "${args[@]}" --key-file "$KEY" --timeout 5 bench "$n" --size "$size" --batch 1000 --clients 4 >"$out" 2>&1; then
    fail "bench $n --size $size failed: $(tail -n 3 "$out")"
  fi
  jget "$(cat "$out")" commands || true
  [[ $REPLY == "$n" ]] || fail "bench reported $REPLY commands, expected $n: $(cat "$out")"
  jget "$(cat "$out")" seconds
  local secs=$REPLY
  jget "$(cat "$out")" commands_per_s
  say "bench: $n commands of $size bytes committed in ${secs}s ($REPLY commands/s)"
}

# Prints node ID's last catch-up (from STATUS[id]) and checks it: ok, at least
# MIN_PEERS peers that served entries. Sets SYNC_USED (peers that served).
check_last_sync() {
  local id=$1 min_peers=$2 json
  last_sync "${STATUS[$id]}"
  json=$REPLY
  [[ $json != null ]] || fail "node $id caught up without a catch-up session (last_sync is null)"
  jget "$json" ok
  [[ $REPLY == true ]] || fail "node $id: its last catch-up session did not succeed: $json"
  local entries seconds rate
  jget "$json" entries; entries=$REPLY
  jget "$json" seconds; seconds=$REPLY
  jget "$json" mb_per_s; rate=$REPLY
  sync_peers "$json"
  local plist=$REPLY split="" item pid pentries total=0
  SYNC_USED=0
  local items
  IFS=, read -r -a items <<<"$plist"
  for item in "${items[@]}"; do
    [[ $item =~ ^\"([0-9]+)\":([0-9]+)$ ]] || continue
    pid=${BASH_REMATCH[1]} pentries=${BASH_REMATCH[2]}
    total=$((total + pentries))
    if ((pentries > 0)); then
      SYNC_USED=$((SYNC_USED + 1))
      split+="${split:+, }node $pid: $pentries ($((pentries * 100 / (entries > 0 ? entries : 1)))%)"
    fi
  done
  say "node $id catch-up: $entries entries in ${seconds}s (${rate} MB/s), split: ${split:-none}"
  ((SYNC_USED >= min_peers)) ||
    fail "node $id caught up from $SYNC_USED peer(s) with entries > 0, expected at least $min_peers: $json"
}

# Strong get of KEY through the live nodes must print EXPECTED.
expect_get() {
  local key=$1 expected=$2 got
  got=$(client_all get "$key" 2>&1) || fail "get $key failed: $got"
  [[ $got == "$expected" ]] || fail "get $key returned '${got:0:40}...' (${#got} bytes), expected ${#expected} bytes"
}

# Weak (local) get of KEY on node ID must print EXPECTED.
expect_weak_get() {
  local id=$1 key=$2 expected=$3 got
  got=$("$BIN" client --connect "$HOST:${PORT[$id]}" --key-file "$KEY" --timeout 5 get "$key" --weak 2>&1) ||
    fail "weak get $key on node $id failed: $got"
  [[ $got == "$expected" ]] || fail "weak get $key on node $id returned '${got:0:40}' (${#got} bytes)"
}
