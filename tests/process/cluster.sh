#!/usr/bin/env bash
# Whole mosaik-node processes on loopback: a 3-member group commits 100,000
# commands; a joiner (node 4) catches up from several peers at once; then a
# second joiner (node 5) is added and the leader is killed (SIGKILL) while
# node 5 is catching up: a new leader must be elected among the survivors,
# node 5 must finish, and nothing committed may be lost.
#
#   bash tests/process/cluster.sh /path/to/mosaik-node
#
# Needs only bash (>= 4.3), coreutils (timeout, sleep, mktemp, head, tail) and
# /dev/urandom; no jq or python3 (the status JSON is read with bash regexes).
# Every wait polls with a deadline. Exit status: 0 ok, 1 failure (the tail of
# every node's log is then printed), 2 bad usage.
#
# Environment (for debugging): CLUSTER_KEEP=DIR copies the logs to DIR at exit;
# CLUSTER_ENTRIES=N changes the size of each of the two loads (default 100000);
# CLUSTER_SYNC_BATCH=N the members' --sync-batch (default 20).
set -euo pipefail

readonly PROG=process.cluster

if [[ $# -ne 1 || ! -x $1 ]]; then
  echo "usage: $0 /path/to/mosaik-node" >&2
  exit 2
fi
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
readonly BIN

readonly ENTRIES=${CLUSTER_ENTRIES:-100000}
readonly HOST=127.0.0.1
readonly ALL_IDS=(1 2 3 4 5)
# Catch-up settings, equal on every member (they are part of the group's
# identity). Small batches, one in flight per peer: node 5's catch-up of 200,000
# entries then lasts long enough (~0.4 s on loopback, against ~0.15 s with the
# defaults) to be seen running and the leader to be killed in the middle of it.
readonly SYNC_ARGS=(--sync-batch "${CLUSTER_SYNC_BATCH:-20}" --sync-inflight 1)
# Limits of the waits, in seconds.
readonly T_LEADER=30 T_BENCH=180 T_CONVERGE=90 T_SYNC_START=30

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
readonly START_US=$REPLY

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

declare -A PID=() PORT=()
ALIVE=()      # ids of the nodes that should be running
AUX_PIDS=()   # background clients
TMP=""
FAILED=0

dump_logs() {
  [[ -n $TMP && -d $TMP ]] || return 0
  local id log
  for id in "${ALL_IDS[@]}"; do
    log=$TMP/node$id.log
    [[ -f $log ]] || continue
    echo "---- node $id (pid ${PID[$id]:-?}): last 40 lines of its log ----"
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
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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

start_node() {
  local id=$1 peers=() p
  for p in "${ALL_IDS[@]}"; do
    peers+=(--peer "$p@$HOST:${PORT[$p]}")
  done
  "$BIN" run --id "$id" --listen "$HOST:${PORT[$id]}" "${peers[@]}" --key-file "$KEY" \
    --members 1,2,3 "${SYNC_ARGS[@]}" >"$TMP/node$id.log" 2>&1 &
  PID[$id]=$!
  ALIVE+=("$id")
  say "started node $id (pid ${PID[$id]}, port ${PORT[$id]})"
}

# Sets S to node ID's status JSON; returns 1 when it does not answer.
status() {
  S=$(timeout 5 "$BIN" client --connect "$HOST:${PORT[$1]}" --key-file "$KEY" --timeout 2 status \
    2>/dev/null) || return 1
  [[ $S == \{* ]]
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

# ---- setup ----------------------------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mosaik-cluster.XXXXXX")
readonly KEY=$TMP/key
head -c 32 /dev/urandom >"$KEY"
[[ $(wc -c <"$KEY") -eq 32 ]] || fail "could not write a 32-byte key file"

port_free() {
  ! (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# Five consecutive free ports below the ephemeral range (so that no outgoing
# connection takes one between the check and the node's bind).
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
  fail "no five free consecutive ports found on $HOST"
}
pick_ports

say "mosaik-node: $BIN"
say "temp dir $TMP, ports ${PORT[1]}-${PORT[5]}, ${ENTRIES} entries per load, catch-up ${SYNC_ARGS[*]}"

# ---- phase 1: three founding members, a leader ------------------------------------

say "phase 1: start nodes 1, 2, 3"
for id in 1 2 3; do start_node "$id"; done
wait_leader 0 0
say "leader is node $LEADER (term $LEADER_TERM)"

# ---- phase 2: 100,000 commands ------------------------------------------------------

say "phase 2: commit $ENTRIES commands"
bench "$ENTRIES" 100
wait_converged "$ENTRIES" "after the first load"
say "nodes ${ALIVE[*]} converged: commit $CONV_COMMIT, keys $CONV_KEYS, digest $CONV_DIGEST"
[[ $CONV_KEYS == "$ENTRIES" ]] || fail "after the first load: $CONV_KEYS keys, expected $ENTRIES"
FIRST_DIGEST=$CONV_DIGEST

# ---- phase 3: a joiner catches up from several peers ---------------------------------

say "phase 3: node 4 joins"
start_node 4
out=$(client_all add-member 4 2>&1) || fail "add-member 4 failed: $out"
say "add-member 4: $out"
wait_converged "$CONV_COMMIT" "node 4's catch-up"
say "node 4 caught up: applied $CONV_COMMIT, digest $CONV_DIGEST"
[[ $CONV_DIGEST == "$FIRST_DIGEST" ]] || fail "the digest changed from $FIRST_DIGEST to $CONV_DIGEST"
check_last_sync 4 2

# ---- phase 4: a second joiner, the leader killed while it catches up -------------------

say "phase 4: commit $ENTRIES more commands (values of 120 bytes)"
bench "$ENTRIES" 120
wait_converged "$((CONV_COMMIT + ENTRIES))" "after the second load"
BEFORE_COMMIT=$CONV_COMMIT BEFORE_DIGEST=$CONV_DIGEST BEFORE_KEYS=$CONV_KEYS
say "nodes ${ALIVE[*]} converged: commit $BEFORE_COMMIT, keys $BEFORE_KEYS, digest $BEFORE_DIGEST"
wait_leader 0 0
OLD_LEADER=$LEADER OLD_TERM=$LEADER_TERM
say "leader is node $OLD_LEADER (term $OLD_TERM)"

start_node 5
# add-member in the background: node 5's catch-up starts before it returns, and
# its answer may be lost with the leader.
client_all add-member 5 >"$TMP/client-add5.out" 2>&1 &
ADD5=$!
AUX_PIDS+=("$ADD5")
deadline=$((SECONDS + T_SYNC_START))
polls=0
while :; do
  if status 5; then
    jget "$S" syncing
    [[ $REPLY == true ]] && break
    jget "$S" sync_sessions
    if ((REPLY > 0)); then
      fail "node 5 finished a catch-up session before it was seen syncing (the catch-up was too fast to" \
        "interrupt; make it slower with smaller --sync-batch)"
    fi
  fi
  polls=$((polls + 1))
  if ((polls % 25 == 0)); then check_alive; fi
  ((SECONDS < deadline)) || fail "node 5 was not seen catching up (\"syncing\": true) within ${T_SYNC_START}s"
  sleep 0.02
done
jget "$S" leader
victim=$REPLY
((victim != 5)) && is_alive_id "$victim" || victim=$OLD_LEADER
jget "$S" last
at=$REPLY
kill -KILL "${PID[$victim]}"
wait "${PID[$victim]}" 2>/dev/null || true
survivors=()
for id in "${ALIVE[@]}"; do [[ $id == "$victim" ]] || survivors+=("$id"); done
ALIVE=("${survivors[@]}")
say "node 5 is catching up (its log at $at of $BEFORE_COMMIT): killed the leader, node $victim (kill -9)"

wait_leader "$victim" "$OLD_TERM"
say "new leader is node $LEADER (term $LEADER_TERM); survivors ${ALIVE[*]}"

# The add-member answer: ok, or lost with the old leader. In the second case
# ask again: node 5 is a member already, or becomes one now.
rc=0
for _ in $(seq 1 100); do kill -0 "$ADD5" 2>/dev/null || break; sleep 0.1; done
kill -0 "$ADD5" 2>/dev/null && fail "add-member 5 did not return within 10s of the new leader's election"
wait "$ADD5" || rc=$?
if ((rc == 0)); then
  say "add-member 5: $(cat "$TMP/client-add5.out")"
else
  say "add-member 5 got no answer from the killed leader ($(tail -n 1 "$TMP/client-add5.out")); asking again"
  out=$(client_all add-member 5 2>&1) || [[ $out == *"already a member"* ]] || fail "add-member 5 failed: $out"
  say "add-member 5 (again): $out"
fi

# Nothing committed is lost and nothing else was written: every survivor,
# node 5 included, holds exactly the state from before the kill (membership
# changes do not touch the store).
wait_converged "$BEFORE_COMMIT" "node 5's catch-up after the leader's death"
say "survivors ${ALIVE[*]} converged: commit $CONV_COMMIT (was $BEFORE_COMMIT before the kill), keys $CONV_KEYS, digest $CONV_DIGEST"
[[ $CONV_DIGEST == "$BEFORE_DIGEST" && $CONV_KEYS == "$BEFORE_KEYS" ]] ||
  fail "the survivors' store differs from the one before the kill: digest $CONV_DIGEST keys $CONV_KEYS," \
    "before: digest $BEFORE_DIGEST keys $BEFORE_KEYS"
jget "${STATUS[5]}" sync_sessions
say "node 5 ran $REPLY catch-up session(s)"
check_last_sync 5 1

# The new leader takes writes, and every survivor applies them.
out=$(client_all put after-kill "leader $LEADER" 2>&1) || fail "put after the leader's death failed: $out"
say "put after-kill through the new leader: $out"
AFTER_PUT=${out#ok }
[[ $AFTER_PUT =~ ^[0-9]+$ ]] || fail "put after-kill: unexpected answer '$out'"
wait_converged "$AFTER_PUT" "the write after the leader's death"
say "survivors ${ALIVE[*]} applied it: commit $CONV_COMMIT, keys $CONV_KEYS, digest $CONV_DIGEST"
((CONV_KEYS == BEFORE_KEYS + 1)) || fail "the survivors hold $CONV_KEYS keys, expected $((BEFORE_KEYS + 1))"

value120=$(printf 'v%.0s' $(seq 1 120))
samples=(k0 k1 "k$((ENTRIES / 2))" "k$((ENTRIES - 1))" "k$((RANDOM % ENTRIES))")
for key in "${samples[@]}"; do
  expect_get "$key" "$value120"
  expect_weak_get 5 "$key" "$value120"
done
expect_get after-kill "leader $LEADER"
expect_weak_get 5 after-kill "leader $LEADER"
say "reads: ${samples[*]} and after-kill hold the last values written, on the group and on node 5"

say "PASS"
