#pragma once
// What snapshot catch-up needs from its host beyond what log replay needs:
// the session installs a fetched snapshot (into the state machine, the log
// and the consensus state), the provider learns the time (for the TTL) and
// asks the group to take a snapshot (the leader replicates the request so
// that every member snapshots at the same index).

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <mosaik/core/time.hpp>
#include <mosaik/sync/log_replay/log_replay_messages.hpp>
#include <mosaik/sync/snapshot/snapshot_messages.hpp>
#include <mosaik/sync/sync_session_context.hpp>

namespace mosaik::sync {

/// Where a session hands a complete snapshot.
template <class Item>
class SnapshotSink {
public:
  virtual ~SnapshotSink() = default;
  /// Replaces the local state with the snapshot and resets the log to
  /// `info.at`. An error (nothing changed) when the host refuses it, e.g. an
  /// undecodable header.
  virtual std::optional<std::string> install_snapshot(const SnapshotInfo& info, std::vector<Item> items) = 0;
};

template <class Command, class Item>
class SnapshotSessionContext : public SyncSessionContext<Command, SnapshotSyncMessage<Command, Item>>,
                               public SnapshotSink<Item> {};

template <class Command, class Item>
class SnapshotProviderContext : public SyncProviderContext<Command> {
public:
  [[nodiscard]] virtual TimePoint now() const = 0;
  /// Asks the group to take a snapshot and to offer it to `requester` (on
  /// the leader; elsewhere it does nothing).
  virtual void request_snapshot(PeerId requester) = 0;
};

} // namespace mosaik::sync
