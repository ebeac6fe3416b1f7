#!/usr/bin/env bash
# Durable storage across process deaths: a 3-member group of mosaik-node
# processes, each with its own --data-dir (--fsync batch), commits 20,000
# commands; then
#   (a) a follower is killed (kill -9) and started again from its directory:
#       its first status already holds its log and term, and it rejoins
#       without a catch-up session;
#   (b) the leader is killed, a new one is elected and commits 1,000 more
#       commands; the old leader, restarted from its directory, converges;
#   (c) all three are killed at once and started again: a leader is elected in
#       a higher term, nothing committed is lost, and a new write commits;
#   (d) a follower's newest segment gets 100 garbage bytes at its end: the node
#       cuts them at start and converges; then a byte flipped in the middle of
#       a segment that is not the last (and, separately, in the middle of the
#       last one, with valid records after it) makes it refuse to start, with
#       an error naming the file; with the byte restored it starts again.
#
#   bash tests/process/restart.sh /path/to/mosaik-node
#
# Needs bash (>= 4.3) and coreutils (od, dd, stat, ...); see
# lib/cluster_lib.bash. Exit status: 0 ok, 1 failure (the tail of every node's
# log is then printed), 2 bad usage.
#
# Environment (for debugging): CLUSTER_KEEP=DIR copies the logs to DIR at exit;
# RESTART_SIZE=BYTES the value size of the first load (default 3500: 20,000
# such entries fill more than one 64 MiB segment, which (d) needs to damage a
# segment that is not the last one).
set -euo pipefail

readonly PROG=process.restart
# shellcheck source=lib/cluster_lib.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/cluster_lib.bash"
cluster_args "$@"

readonly ENTRIES=20000 MORE=1000 SIZE=${RESTART_SIZE:-3500} MORE_SIZE=120
ALL_IDS=(1 2 3)
MEMBERS=1,2,3
readonly ALL_IDS MEMBERS
# Limits of the waits, in seconds.
readonly T_LEADER=20 T_BENCH=60 T_CONVERGE=30 T_ANSWER=15 T_REFUSE=15

cluster_setup mosaik-restart

data_dir() { REPLY=$TMP/data$1; }

# Starts node ID from its data directory.
start_durable() {
  data_dir "$1"
  start_node "$1" --data-dir "$REPLY" --fsync batch
}

# Sets REPLY to the "opened DIR: ..." line of node ID's current run (from
# "opened" on), or fails.
opened_line() {
  local line
  line=$(grep -m1 -o 'opened .*' "${NODE_LOG[$1]}") || fail "node $1 did not log how it opened its data directory"
  REPLY=$line
}

# Sets SEGS to the names of node ID's segment files, in lexical (= index) order.
segments_of() {
  local file
  SEGS=()
  data_dir "$1"
  for file in "$REPLY"/log/*.seg; do
    [[ -f $file ]] && SEGS+=("$(basename "$file")")
  done
  return 0
}

# A follower among the live nodes (not LEADER).
pick_follower() {
  local id
  for id in "${ALIVE[@]}"; do
    ((id == LEADER)) || { REPLY=$id; return 0; }
  done
  fail "no follower among nodes ${ALIVE[*]}"
}

# Records every live node's commit, last and term from STATUS (after
# wait_converged) in PRE_*; prints them with the converged digest and keys.
declare -A PRE_COMMIT=() PRE_LAST=() PRE_TERM=()
record_state() {
  local id line=""
  for id in "${ALIVE[@]}"; do
    jget "${STATUS[$id]}" commit; PRE_COMMIT[$id]=$REPLY
    jget "${STATUS[$id]}" last; PRE_LAST[$id]=$REPLY
    jget "${STATUS[$id]}" term; PRE_TERM[$id]=$REPLY
    line+="${line:+; }node $id: commit ${PRE_COMMIT[$id]} last ${PRE_LAST[$id]} term ${PRE_TERM[$id]}"
  done
  say "recorded: $line; digest $CONV_DIGEST, keys $CONV_KEYS"
}

# Restarts node ID from its directory (after a kill) and checks its first
# answer: last >= PRE_LAST[id], term >= PRE_TERM[id].
restart_and_check() {
  local id=$1 last term
  start_durable "$id"
  first_status "$id" "$T_ANSWER"
  jget "$S" last; last=$REPLY
  jget "$S" term; term=$REPLY
  say "node $id answers: last $last (was ${PRE_LAST[$id]}), term $term (was ${PRE_TERM[$id]})"
  ((last >= PRE_LAST[$id])) ||
    fail "node $id restarted with last $last, below its last before the kill (${PRE_LAST[$id]}): its log lost entries"
  ((term >= PRE_TERM[$id])) ||
    fail "node $id restarted in term $term, below its term before the kill (${PRE_TERM[$id]}): its hard state was lost"
  opened_line "$id"
  say "node $id: $REPLY"
}

# Flips (XOR 0xff) the byte at OFFSET of FILE.
flip_byte() {
  local file=$1 offset=$2 value
  value=$(od -An -tu1 -j "$offset" -N1 "$file" | tr -d ' ')
  [[ $value =~ ^[0-9]+$ ]] || fail "cannot read byte $offset of $file"
  printf '%b' "\\x$(printf '%02x' $((value ^ 255)))" |
    dd of="$file" bs=1 seek="$offset" count=1 conv=notrunc status=none
}

# Node ID (stopped) is started on a damaged log (DAMAGED, a segment file): it
# must exit with a non-zero status and an error naming the file.
expect_refusal() {
  local id=$1 damaged=$2 what=$3 name
  name=$(basename "$damaged")
  start_durable "$id"
  forget_node "$id" # it is expected to exit
  wait_exit "$id" "$T_REFUSE" ||
    fail "node $id started on a log with $what (it still runs after ${T_REFUSE}s): data damage went unnoticed"
  ((STOP_RC != 0)) || fail "node $id exited with status 0 on a log with $what"
  grep -q -- "$name" "${NODE_LOG[$id]}" ||
    fail "node $id refused to start (status $STOP_RC) but no error names $name: $(tail -n 3 "${NODE_LOG[$id]}")"
  say "node $id refused to start on $what (status $STOP_RC): $(grep -m1 -o -- "[^ ]*$name.*" "${NODE_LOG[$id]}" | cut -c1-240)"
}

say "mosaik-node: $BIN"
say "temp dir $TMP, ports ${PORT[1]}-${PORT[3]}, $ENTRIES entries of $SIZE bytes, then $MORE of $MORE_SIZE bytes"

# ---- a durable group with a load ------------------------------------------------

for id in "${ALL_IDS[@]}"; do start_durable "$id"; done
wait_leader 0 0
say "leader is node $LEADER (term $LEADER_TERM)"
bench "$ENTRIES" "$SIZE"
wait_converged "$ENTRIES" "after the load"
[[ $CONV_KEYS == "$ENTRIES" ]] || fail "after the load: $CONV_KEYS keys, expected $ENTRIES"
record_state
LOAD_DIGEST=$CONV_DIGEST LOAD_KEYS=$CONV_KEYS

# ---- (a) a follower killed and restarted ------------------------------------------

wait_leader 0 0
pick_follower
victim=$REPLY
say "(a) kill -9 follower node $victim (leader: node $LEADER)"
stop_node "$victim" KILL
restart_and_check "$victim"
wait_converged "${PRE_COMMIT[$victim]}" "(a) node $victim's restart"
[[ $CONV_DIGEST == "$LOAD_DIGEST" && $CONV_KEYS == "$LOAD_KEYS" ]] ||
  fail "(a) after node $victim's restart: digest $CONV_DIGEST keys $CONV_KEYS, expected $LOAD_DIGEST $LOAD_KEYS"
jget "${STATUS[$victim]}" sync_sessions
sessions=$REPLY
jget "${STATUS[$victim]}" term
say "(a) nodes ${ALIVE[*]} converged: commit $CONV_COMMIT, digest $CONV_DIGEST; node $victim: term $REPLY, $sessions catch-up session(s)"
((sessions == 0)) ||
  fail "(a) node $victim ran $sessions catch-up session(s) after its restart: it did not resume from its log"

# ---- (b) the leader killed; writes; the old leader restarted -----------------------

wait_leader 0 0
old=$LEADER old_term=$LEADER_TERM
record_state
say "(b) kill -9 the leader, node $old (term $old_term)"
stop_node "$old" KILL
wait_leader "$old" "$old_term"
say "(b) new leader is node $LEADER (term $LEADER_TERM); live ${ALIVE[*]}"
bench "$MORE" "$MORE_SIZE"
wait_converged "$((PRE_COMMIT[$LEADER] + MORE))" "(b) the survivors after $MORE more commands"
SURVIVOR_COMMIT=$CONV_COMMIT SURVIVOR_DIGEST=$CONV_DIGEST
say "(b) survivors ${ALIVE[*]} converged: commit $CONV_COMMIT, digest $CONV_DIGEST"
restart_and_check "$old"
wait_converged "$SURVIVOR_COMMIT" "(b) the old leader's restart"
[[ $CONV_DIGEST == "$SURVIVOR_DIGEST" && $CONV_KEYS == "$LOAD_KEYS" ]] ||
  fail "(b) after the old leader's restart: digest $CONV_DIGEST keys $CONV_KEYS, expected $SURVIVOR_DIGEST $LOAD_KEYS"
jget "${STATUS[$old]}" sync_sessions
say "(b) nodes ${ALIVE[*]} converged: commit $CONV_COMMIT, digest $CONV_DIGEST (node $old: $REPLY catch-up session(s))"
value_more=$(printf 'v%.0s' $(seq 1 "$MORE_SIZE"))
value_load=$(printf 'v%.0s' $(seq 1 "$SIZE"))
expect_weak_get "$old" k0 "$value_more"
expect_weak_get "$old" "k$((MORE - 1))" "$value_more"
expect_weak_get "$old" "k$MORE" "$value_load"
expect_weak_get "$old" "k$((ENTRIES - 1))" "$value_load"

# ---- (c) every node killed at once and restarted -------------------------------------

wait_leader 0 0
record_state
BEFORE_COMMIT=$CONV_COMMIT BEFORE_DIGEST=$CONV_DIGEST BEFORE_KEYS=$CONV_KEYS BEFORE_TERM=$LEADER_TERM
say "(c) kill -9 nodes ${ALIVE[*]} (commit $BEFORE_COMMIT, term $BEFORE_TERM)"
stop_nodes KILL "${ALL_IDS[@]}"
for id in "${ALL_IDS[@]}"; do restart_and_check "$id"; done
wait_leader 0 "$BEFORE_TERM"
say "(c) leader is node $LEADER (term $LEADER_TERM, above $BEFORE_TERM)"
wait_converged "$BEFORE_COMMIT" "(c) after every node's restart"
say "(c) nodes ${ALIVE[*]} converged: commit $CONV_COMMIT (was $BEFORE_COMMIT), keys $CONV_KEYS, digest $CONV_DIGEST"
[[ $CONV_DIGEST == "$BEFORE_DIGEST" && $CONV_KEYS == "$BEFORE_KEYS" ]] ||
  fail "(c) the store after the restart differs from the one before the kill: digest $CONV_DIGEST keys $CONV_KEYS," \
    "before: digest $BEFORE_DIGEST keys $BEFORE_KEYS"
out=$(client_all put after-restart "leader $LEADER" 2>&1) || fail "(c) put after the restart failed: $out"
AFTER_PUT=${out#ok }
[[ $AFTER_PUT =~ ^[0-9]+$ ]] || fail "(c) put after-restart: unexpected answer '$out'"
wait_converged "$AFTER_PUT" "(c) the write after the restart"
((CONV_KEYS == BEFORE_KEYS + 1)) || fail "(c) the nodes hold $CONV_KEYS keys, expected $((BEFORE_KEYS + 1))"
say "(c) put after-restart committed at $AFTER_PUT; nodes ${ALIVE[*]}: commit $CONV_COMMIT, keys $CONV_KEYS, digest $CONV_DIGEST"
expect_get after-restart "leader $LEADER"
expect_get "k$((ENTRIES - 1))" "$value_load"

# ---- (d) a damaged log -------------------------------------------------------------------

wait_leader 0 0
record_state
FINAL_COMMIT=$CONV_COMMIT FINAL_DIGEST=$CONV_DIGEST FINAL_KEYS=$CONV_KEYS
pick_follower
victim=$REPLY
data_dir "$victim"
dir=$REPLY
stop_node "$victim" TERM
((STOP_RC == 0)) || fail "(d) node $victim exited with status $STOP_RC on SIGTERM"
segments_of "$victim"
segs=("${SEGS[@]}")
((${#segs[@]} >= 1)) || fail "(d) node $victim has no segment file in $dir/log"
newest=$dir/log/${segs[-1]}
size_before=$(stat -c %s "$newest")
head -c 100 /dev/urandom >>"$newest"
say "(d1) stopped follower node $victim (${#segs[@]} segment(s)); appended 100 garbage bytes to ${segs[-1]} ($size_before bytes)"
restart_and_check "$victim"
opened_line "$victim"
[[ $REPLY == *"cut a damaged tail of 100 bytes"* ]] ||
  fail "(d1) node $victim did not report cutting the 100-byte garbage tail: $REPLY"
size_after=$(stat -c %s "$newest")
((size_after == size_before)) || fail "(d1) ${segs[-1]} is $size_after bytes after the cut, was $size_before"
wait_converged "$FINAL_COMMIT" "(d1) node $victim after the cut tail"
[[ $CONV_DIGEST == "$FINAL_DIGEST" && $CONV_KEYS == "$FINAL_KEYS" ]] ||
  fail "(d1) digest $CONV_DIGEST keys $CONV_KEYS after the cut tail, expected $FINAL_DIGEST $FINAL_KEYS"
say "(d1) node $victim cut the tail and converged: commit $CONV_COMMIT, digest $CONV_DIGEST"

stop_node "$victim" TERM
segments_of "$victim"
segs=("${SEGS[@]}")
if ((${#segs[@]} > 1)); then
  damaged=$dir/log/${segs[0]}
  offset=$(($(stat -c %s "$damaged") / 2))
  flip_byte "$damaged" "$offset"
  say "(d2) flipped the byte at offset $offset of ${segs[0]}, a segment that is not the last (of ${#segs[@]})"
  expect_refusal "$victim" "$damaged" "a flipped byte in a segment that is not the last"
  flip_byte "$damaged" "$offset"
else
  say "(d2) SKIPPED: node $victim has a single segment (segments are 64 MiB; RESTART_SIZE=$SIZE is too small)," \
    "so there is no segment before the last one to damage"
fi
damaged=$dir/log/${segs[-1]}
offset=$(($(stat -c %s "$damaged") / 2))
flip_byte "$damaged" "$offset"
say "(d3) flipped the byte at offset $offset of ${segs[-1]}, the last segment (valid records follow it)"
expect_refusal "$victim" "$damaged" "a flipped byte in the middle of the last segment"
flip_byte "$damaged" "$offset"
say "(d) restored the flipped byte(s): node $victim must start again"
restart_and_check "$victim"
opened_line "$victim"
[[ $REPLY != *"cut a damaged tail"* ]] || fail "(d) node $victim cut a tail of its repaired log: $REPLY"
wait_converged "$FINAL_COMMIT" "(d) node $victim after the repair"
[[ $CONV_DIGEST == "$FINAL_DIGEST" && $CONV_KEYS == "$FINAL_KEYS" ]] ||
  fail "(d) digest $CONV_DIGEST keys $CONV_KEYS after the repair, expected $FINAL_DIGEST $FINAL_KEYS"
say "(d) nodes ${ALIVE[*]} converged: commit $CONV_COMMIT, digest $CONV_DIGEST"

say "PASS"
