#pragma once
// The messages of snapshot catch-up. The strategy's message type is the
// log-replay messages (first, at the same positions, so a snapshot member
// also catches up by replay) followed by five of its own: the lagging member
// asks the leader for a snapshot, asks peers which snapshot they hold, and
// fetches ranges of its items (ItemNumber positions, from 1; the ranged-fetch
// engine schedules them as it schedules entries).

#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/core/index_range.hpp>
#include <mosaik/core/item_range.hpp>
#include <mosaik/sync/log_replay/log_replay_messages.hpp>
#include <mosaik/sync/snapshot/snapshottable.hpp>

namespace mosaik::sync {

/// Session → leader: have the group take a snapshot above `after` (the
/// session's last index) unless you already hold one.
struct SnapshotRequest {
  Index after;
  friend bool operator==(const SnapshotRequest&, const SnapshotRequest&) = default;
};

/// Session → provider: which snapshot do you hold?
struct SnapshotQuery {
  friend bool operator==(const SnapshotQuery&, const SnapshotQuery&) = default;
};

/// Provider → session: the snapshot I hold (none: nullopt). Sent as the
/// answer to a query, and unasked to the member whose request made the
/// group take it. The leader answers a SnapshotRequest with `replay` set
/// (and no snapshot) when its log still holds what the session lacks.
struct SnapshotOffer {
  std::optional<SnapshotInfo> snapshot;
  bool replay = false;
  friend bool operator==(const SnapshotOffer&, const SnapshotOffer&) = default;
};

/// Session → provider: items `range` of the snapshot taken at `at`.
struct FetchItemsRequest {
  Cursor at;
  ItemRange range;
  friend bool operator==(const FetchItemsRequest&, const FetchItemsRequest&) = default;
};

/// Provider → session: the items of `range`, in order. As with entries, a
/// provider that no longer holds the snapshot echoes the range with no items.
template <class Item>
struct FetchItemsResponse {
  Cursor at;
  ItemRange range;
  std::vector<Item> items;
  friend bool operator==(const FetchItemsResponse&, const FetchItemsResponse&) = default;
};

template <class Command, class Item>
using SnapshotSyncMessage = std::variant<AvailabilityRequest, AvailabilityResponse, FetchEntriesRequest,
                                         FetchEntriesResponse<Command>, SnapshotRequest, SnapshotQuery,
                                         SnapshotOffer, FetchItemsRequest, FetchItemsResponse<Item>>;

/// The log-replay part of a snapshot strategy's message, when it is one.
template <class Command, class Item>
[[nodiscard]] std::optional<LogReplayMessage<Command>>
as_log_replay(SnapshotSyncMessage<Command, Item>&& message) {
  return std::visit(
      [](auto&& alternative) -> std::optional<LogReplayMessage<Command>> {
        using T = std::decay_t<decltype(alternative)>;
        if constexpr (std::is_constructible_v<LogReplayMessage<Command>, T&&> &&
                      !std::is_same_v<T, FetchItemsResponse<Item>>) {
          return LogReplayMessage<Command>{std::move(alternative)};
        } else {
          return std::nullopt;
        }
      },
      std::move(message));
}

/// A log-replay message as a snapshot strategy's message.
template <class Command, class Item>
[[nodiscard]] SnapshotSyncMessage<Command, Item> from_log_replay(LogReplayMessage<Command>&& message) {
  return std::visit(
      [](auto&& alternative) { return SnapshotSyncMessage<Command, Item>{std::move(alternative)}; },
      std::move(message));
}

} // namespace mosaik::sync
