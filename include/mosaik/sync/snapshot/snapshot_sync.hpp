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

#include <mosaik/sync/snapshot/config.hpp>
#include <mosaik/sync/snapshot/contexts.hpp>
#include <mosaik/sync/snapshot/messages.hpp>
#include <mosaik/sync/snapshot/provider.hpp>
#include <mosaik/sync/snapshot/session.hpp>
#include <mosaik/sync/snapshot/snapshottable.hpp>
#include <mosaik/sync/state_sync.hpp>

namespace mosaik::sync {

/// `Machine` is the replicated machine as the strategy sees it (the group
/// runtime passes group::Replicated<SM>): its commands are the log's, its
/// snapshot items the user machine's.
template <class Machine>
class SnapshotSync {
public:
  using Command = typename Machine::Command;
  using Item = typename Machine::SnapshotItem;
  using Message = SnapshotSyncMessage<Command, Item>;
  using Session = SnapshotSyncSession<Command, Item>;
  using Provider = SnapshotProvider<Command, Item>;
  using SessionContext = SnapshotSessionContext<Command, Item>;
  using ProviderContext = SnapshotProviderContext<Command, Item>;

  explicit SnapshotSync(SnapshotConfig config = {}) : config_(std::move(config)) {}

  [[nodiscard]] std::string signature() const { return config_.signature(); }
  /// Requests go to the provider, responses to the session.
  [[nodiscard]] static bool is_request(const Message& message) noexcept {
    return std::holds_alternative<AvailabilityRequest>(message) ||
           std::holds_alternative<FetchEntriesRequest>(message) ||
           std::holds_alternative<SnapshotRequest>(message) ||
           std::holds_alternative<SnapshotQuery>(message) ||
           std::holds_alternative<FetchItemsRequest>(message);
  }
  [[nodiscard]] const SnapshotConfig& config() const noexcept { return config_; }

  [[nodiscard]] std::unique_ptr<Provider> create_provider(ProviderContext& context) const {
    return std::make_unique<Provider>(config_, context);
  }

  [[nodiscard]] std::unique_ptr<Session> create_session(SessionContext& context, Cursor position,
                                                        Index leader_commit,
                                                        std::vector<Entry<Command>> entries) const {
    return std::make_unique<Session>(config_, context, position, leader_commit, std::move(entries));
  }

private:
  SnapshotConfig config_;
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
