#!/usr/bin/env bash
# Snapshot catch-up across processes: three durable mosaik-node processes
# (--snapshot-interval 5000 --retain 1000) commit 30,000 commands, so each
# snapshots and prunes its log; then
#   (a) a fourth node joins with an empty data directory: every peer pruned
#       past its log, so it fetches a snapshot from at least two of them,
#       installs it and converges (digest, keys);
#   (b) the fourth node is killed (kill -9) and restarted from its directory:
#       it restores its snapshot file and converges without a new snapshot.
#
#   bash tests/process/snapshot.sh /path/to/mosaik-node
#
# Exit status: 0 ok, 1 failure (the tail of every node's log is printed), 2 bad usage.
set -euo pipefail

readonly PROG=process.snapshot
# shellcheck source=lib/cluster_lib.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/cluster_lib.bash"
cluster_args "$@"

readonly ENTRIES=30000 SIZE=100
ALL_IDS=(1 2 3 4)
MEMBERS=1,2,3,4
SYNC_ARGS=(--snapshot-interval 5000 --retain 1000 --sync-batch 500)
readonly ALL_IDS MEMBERS SYNC_ARGS
readonly T_LEADER=20 T_BENCH=60 T_CONVERGE=30 T_ANSWER=15

cluster_setup mosaik-snapshot

start_durable() {
  start_node "$1" --data-dir "$TMP/data$1" --fsync batch
}

say "mosaik-node: $BIN"
say "temp dir $TMP, $ENTRIES entries of $SIZE bytes, ${SYNC_ARGS[*]}"

for id in 1 2 3; do start_durable "$id"; done
wait_leader 0 0
say "leader is node $LEADER (term $LEADER_TERM)"
bench "$ENTRIES" "$SIZE"
wait_converged "$ENTRIES" "after the load" 1 2 3
LOAD_DIGEST=$CONV_DIGEST LOAD_KEYS=$CONV_KEYS LOAD_COMMIT=$CONV_COMMIT
for id in 1 2 3; do
  [[ -s $TMP/data$id/snapshot ]] || fail "node $id has no snapshot file after $ENTRIES commands"
done
say "nodes 1-3 converged: commit $LOAD_COMMIT, digest $LOAD_DIGEST, keys $LOAD_KEYS; each holds a snapshot"

# ---- (a) a new node catches up by snapshot ------------------------------------------

start_durable 4
wait_converged "$LOAD_COMMIT" "(a) node 4's catch-up"
[[ $CONV_DIGEST == "$LOAD_DIGEST" && $CONV_KEYS == "$LOAD_KEYS" ]] ||
  fail "(a) node 4 converged to digest $CONV_DIGEST keys $CONV_KEYS, expected $LOAD_DIGEST $LOAD_KEYS"
line=$(grep -m1 -o 'catch-up fetched the snapshot at .*' "${NODE_LOG[4]}") ||
  fail "(a) node 4 converged without fetching a snapshot"
say "(a) node 4: $line"
[[ $line == *installed* && $line != *"not installed"* ]] || fail "(a) node 4 did not install its snapshot: $line"
used=$(grep -m1 -o 'catch-up complete.*peers used: .*' "${NODE_LOG[4]}" | sed 's/.*peers used: //') ||
  fail "(a) node 4 logged no complete catch-up"
count=$(tr ',' '\n' <<<"$used" | grep -c ':')
say "(a) node 4's catch-up used $count peers: $used"
((count >= 2)) || fail "(a) node 4 fetched the snapshot from $count peer(s), expected at least 2"

# ---- (b) the new node restarts from its own snapshot ---------------------------------

stop_node 4 KILL
start_durable 4
wait_converged "$LOAD_COMMIT" "(b) node 4's restart"
[[ $CONV_DIGEST == "$LOAD_DIGEST" ]] || fail "(b) node 4 converged to digest $CONV_DIGEST, expected $LOAD_DIGEST"
line=$(grep -m1 -o 'restored its snapshot at .*' "${NODE_LOG[4]}") ||
  fail "(b) node 4 did not restore its snapshot on restart"
say "(b) node 4: $line"
if grep -q 'catch-up fetched the snapshot' "${NODE_LOG[4]}"; then
  fail "(b) node 4 fetched a snapshot again after its restart"
fi
say "ok"
