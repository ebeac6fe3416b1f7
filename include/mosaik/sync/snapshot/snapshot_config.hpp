#pragma once
// SnapshotConfig: the settings of the snapshot catch-up strategy. It embeds
// the log-replay settings: a member that runs SnapshotSync catches up by log
// replay whenever some peer still holds the start of its gap, and by
// snapshot only when every peer pruned past it.

#include <cstddef>
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include <mosaik/core/time.hpp>
#include <mosaik/sync/log_replay/log_replay_config.hpp>

namespace mosaik::sync {

struct SnapshotConfig {
  LogReplayConfig replay;
  /// Most items one fetch asks for (and one response carries).
  std::uint64_t item_batch = 4096;
  /// Most item bytes in one response, whatever item_batch allows (at least one item is sent).
  std::size_t max_response_bytes = std::size_t{4} << 20;
  /// A provider drops the snapshot it offers after this long without a fetch.
  Duration snapshot_ttl = std::chrono::seconds{60};
  /// The leader takes a snapshot every this many applied entries (0: only
  /// when a lagging member asks). Members prune their log once they hold one.
  std::uint64_t snapshot_interval = 0;
  /// Entries kept below the latest snapshot when pruning: members that lag by
  /// less still catch up by log replay. With 0 snapshots never prune the log.
  std::uint64_t retained_entries = 10'000;
  /// How long a session waits for peers to say what they hold before choosing
  /// between log replay and a snapshot.
  Duration probe_timeout = std::chrono::milliseconds{500};
  /// A session that appends no entry and receives no item for this long
  /// fails (the host retries with a fresh one): what it waits for may be
  /// gone, e.g. pruned by every peer after the session chose replay.
  Duration stall_timeout = std::chrono::seconds{60};

  /// Identifies the strategy and every setting that must agree across the group.
  [[nodiscard]] std::string signature() const {
    return fmt::format("snapshot/1;items={};response_bytes={};{}", item_batch, max_response_bytes,
                       replay.signature());
  }
};

} // namespace mosaik::sync
