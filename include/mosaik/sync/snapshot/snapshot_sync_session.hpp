#pragma once
// SnapshotSyncSession: the lagging follower's side of the snapshot strategy,
// as an Asio awaitable: SnapshotSyncCore's decisions carried out by a
// SessionDriver. The context installs the snapshot it fetches.

#include <utility>
#include <vector>

#include <mosaik/sync/session_driver.hpp>
#include <mosaik/sync/snapshot/snapshot_contexts.hpp>
#include <mosaik/sync/snapshot/snapshot_sync_core.hpp>

namespace mosaik::sync {

template <class Command, class Item>
class SnapshotSyncSession
    : public SessionDriver<SnapshotSyncCore<Command, Item>, SnapshotSessionContext<Command, Item>> {
public:
  using Context = SnapshotSessionContext<Command, Item>;

  SnapshotSyncSession(const SnapshotConfig& config, Context& context, Cursor position, Index leader_commit,
                      std::vector<Entry<Command>> entries, bool replace_suffix = false)
      : SessionDriver<SnapshotSyncCore<Command, Item>, Context>(
            context, config, context.log(), context, position, leader_commit, context.leader(),
            std::move(entries), context.timers().now(), replace_suffix) {}
};

} // namespace mosaik::sync
