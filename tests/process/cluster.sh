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
# shellcheck source=lib/cluster_lib.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/cluster_lib.bash"
cluster_args "$@"

readonly ENTRIES=${CLUSTER_ENTRIES:-100000}
ALL_IDS=(1 2 3 4 5)
MEMBERS=1,2,3
# Catch-up settings, equal on every member (they are part of the group's
# identity). Small batches, one in flight per peer: node 5's catch-up of 200,000
# entries then lasts long enough (~0.4 s on loopback, against ~0.15 s with the
# defaults) to be seen running and the leader to be killed in the middle of it.
SYNC_ARGS=(--sync-batch "${CLUSTER_SYNC_BATCH:-20}" --sync-inflight 1)
readonly ALL_IDS MEMBERS SYNC_ARGS
# Limits of the waits, in seconds.
readonly T_LEADER=30 T_BENCH=180 T_CONVERGE=90 T_SYNC_START=30

# ---- setup ----------------------------------------------------------------------

cluster_setup mosaik-cluster

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
stop_node "$victim" KILL
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
