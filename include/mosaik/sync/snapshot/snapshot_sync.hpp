#pragma once
// SnapshotSync: the snapshot catch-up strategy as a StateSync factory, for
// state machines that can snapshot. A member catches up by log replay while
// some peer holds the start of its gap, and by snapshot once every peer
// pruned past it; its provider serves both. Members snapshot when the leader
// replicates a snapshot point (on a lagging member's request, or every
// `snapshot_interval` entries) and prune their log below the latest
// snapshot, keeping `retained_entries`.

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/sync/snapshot/snapshot_config.hpp>
#include <mosaik/sync/snapshot/snapshot_contexts.hpp>
#include <mosaik/sync/snapshot/snapshot_message_codec.hpp>
#include <mosaik/sync/snapshot/snapshot_messages.hpp>
#include <mosaik/sync/snapshot/snapshot_provider.hpp>
#include <mosaik/sync/snapshot/snapshot_sync_session.hpp>
#include <mosaik/sync/snapshot/snapshottable.hpp>
#include <mosaik/sync/state_sync.hpp>
#include <mosaik/sync/strategy_base.hpp>

namespace mosaik::sync {

/// `Machine` is the replicated machine as the strategy sees it (the group
/// runtime passes group::Replicated<SM>): its commands are the log's, its
/// snapshot items the user machine's.
template <class Machine>
class SnapshotSync : public StrategyBase<
                         typename Machine::Command, SnapshotConfig,
                         SnapshotProvider<typename Machine::Command, typename Machine::SnapshotItem>,
                         SnapshotSyncSession<typename Machine::Command, typename Machine::SnapshotItem>,
                         SnapshotSessionContext<typename Machine::Command, typename Machine::SnapshotItem>,
                         SnapshotProviderContext<typename Machine::Command, typename Machine::SnapshotItem>> {
public:
  using Command = typename Machine::Command;
  using Item = typename Machine::SnapshotItem;
  using Message = SnapshotSyncMessage<Command, Item>;

  explicit SnapshotSync(SnapshotConfig config = {}) : SnapshotSync::StrategyBase(std::move(config)) {}

  /// Requests go to the provider, responses to the session.
  [[nodiscard]] static bool is_request(const Message& message) noexcept {
    return std::holds_alternative<AvailabilityRequest>(message) ||
           std::holds_alternative<FetchEntriesRequest>(message) ||
           std::holds_alternative<SnapshotRequest>(message) ||
           std::holds_alternative<SnapshotQuery>(message) ||
           std::holds_alternative<FetchItemsRequest>(message);
  }
};

/// Strategies that catch up by snapshot (the group runtime then takes,
/// offers, persists and installs snapshots).
template <class S>
concept SnapshotStrategy = StateSync<S> && requires(const S& strategy) {
  typename S::Item;
  { strategy.config() } -> std::convertible_to<const SnapshotConfig&>;
};

/// The snapshot item of a strategy that has one (a placeholder otherwise).
template <class Strategy>
struct SnapshotItemOf {
  using type = std::monostate;
};
template <SnapshotStrategy Strategy>
struct SnapshotItemOf<Strategy> {
  using type = typename Strategy::Item;
};

} // namespace mosaik::sync
