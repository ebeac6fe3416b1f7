#pragma once
// SnapshotProvider: the serving side of snapshot catch-up, run by every
// member. Log-replay requests go to an embedded LogReplayProvider; snapshot
// requests are answered from the one snapshot this member offers (the
// latest it took), which it drops after a TTL without fetches.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <variant>

#include <mosaik/core/command_size.hpp>
#include <mosaik/core/format.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/sync/log_replay/log_replay_provider.hpp>
#include <mosaik/sync/snapshot/snapshot_config.hpp>
#include <mosaik/sync/snapshot/snapshot_contexts.hpp>
#include <mosaik/sync/snapshot/snapshot_messages.hpp>

namespace mosaik::sync {

struct SnapshotProviderCounters {
  std::uint64_t snapshot_requests = 0; ///< members that asked this (leader) for a snapshot
  std::uint64_t queries = 0;
  std::uint64_t item_requests = 0;
  std::uint64_t items_served = 0;
  std::uint64_t empty_answers = 0; ///< fetches for a snapshot not (or no longer) held
  std::uint64_t snapshots_offered = 0;
  std::uint64_t snapshots_expired = 0;
  std::uint64_t ignored_messages = 0; ///< responses, meant for sessions
};

template <class Command, class Item>
class SnapshotProvider {
public:
  using Message = SnapshotSyncMessage<Command, Item>;
  using Context = SnapshotProviderContext<Command, Item>;

  SnapshotProvider(const SnapshotConfig& config, Context& context)
      : config_(config), context_(context), replay_(config.replay, context) {}
  SnapshotProvider(const SnapshotProvider&) = delete;
  SnapshotProvider& operator=(const SnapshotProvider&) = delete;

  /// The response to a session's request, to be sent back to `sender`;
  /// nothing for a response (meant for sessions) or a request that asks for nothing.
  [[nodiscard]] std::optional<Message> answer(PeerId sender, const Message& message) {
    expire(context_.now());
    return std::visit([&](const auto& body) { return on(sender, body); }, message);
  }

  /// Offers `image` from now on (replacing the previous one). Returns the
  /// offer to send at once to the member it was taken for, if any.
  [[nodiscard]] std::optional<Message> offer(SnapshotImage<Item> image, std::optional<PeerId> requester) {
    image_ = std::move(image);
    last_used_ = context_.now();
    ++counters_.snapshots_offered;
    return requester ? std::optional<Message>{SnapshotOffer{image_->info}} : std::nullopt;
  }

  /// Drops the offered snapshot once it went unused for the TTL.
  void expire(TimePoint now) {
    if (image_ && now - last_used_ >= config_.snapshot_ttl) {
      log::info("snapshot provider: dropping the snapshot at {} ({} items): unused for {} ms",
                image_->info.at, image_->info.items,
                std::chrono::duration_cast<std::chrono::milliseconds>(config_.snapshot_ttl).count());
      image_.reset();
      ++counters_.snapshots_expired;
    }
  }

  [[nodiscard]] const std::optional<SnapshotImage<Item>>& offered() const noexcept { return image_; }
  [[nodiscard]] const SnapshotProviderCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] const ProviderCounters& replay_counters() const noexcept { return replay_.counters(); }

private:
  using Answer = std::optional<Message>;

  // Log-replay requests go to the embedded provider; responses are for sessions.
  Answer on(PeerId sender, const AvailabilityRequest& request) { return replayed(sender, request); }
  Answer on(PeerId sender, const FetchEntriesRequest& request) { return replayed(sender, request); }
  template <class Response>
  Answer on(PeerId, const Response&) {
    ++counters_.ignored_messages;
    return std::nullopt;
  }
  Answer replayed(PeerId sender, LogReplayMessage<Command> request) {
    auto response = replay_.answer(sender, request);
    return response ? Answer{from_log_replay<Command, Item>(std::move(*response))} : std::nullopt;
  }
  Answer on(PeerId sender, const SnapshotRequest& request) {
    ++counters_.snapshot_requests;
    const auto held = context_.log().available();
    if ((request.after.is_sentinel() || held.contains(request.after)) &&
        held.contains(request.after.next())) {
      // Our log still holds what the session lacks (uncommitted entries, say,
      // that need its acknowledgement to commit): no snapshot, replay from us.
      return Message{SnapshotOffer{std::nullopt, /*replay=*/true}};
    }
    if (image_ && image_->info.at.index > request.after) {
      last_used_ = context_.now(); // a fresh enough snapshot: no need for another
      return Message{SnapshotOffer{image_->info}};
    }
    context_.request_snapshot(sender); // the offer goes out when the group took it
    return std::nullopt;
  }
  Answer on(PeerId, const SnapshotQuery&) {
    ++counters_.queries;
    return Message{SnapshotOffer{image_ ? std::optional{image_->info} : std::nullopt}};
  }
  Answer on(PeerId sender, const FetchItemsRequest& request) {
    ++counters_.item_requests;
    if (request.range.empty()) {
      return std::nullopt;
    }
    FetchItemsResponse<Item> response{request.at, request.range, {}};
    if (!image_ || image_->info.at != request.at) {
      ++counters_.empty_answers;
      log::debug("snapshot provider: peer {} asked for items {} of the snapshot at {}, which is not held",
                 sender, request.range, request.at);
      return Message{std::move(response)};
    }
    last_used_ = context_.now();
    const auto& items = *image_->items;
    const auto served = request.range.take_front(config_.item_batch)
                            .intersect(ItemRange::starting_at(ItemNumber{1}, items.size()));
    std::size_t bytes = 0;
    for (auto position = served.first(); !served.empty() && position <= served.last();
         position = position.next()) {
      const auto& item = items[static_cast<std::size_t>(position.value() - 1)];
      const auto size = command_size(item);
      if (bytes > 0 && bytes + size > config_.max_response_bytes) {
        break;
      }
      bytes += size;
      response.items.push_back(item);
    }
    if (response.items.empty()) {
      ++counters_.empty_answers;
    } else {
      response.range = ItemRange::starting_at(served.first(), response.items.size());
      counters_.items_served += response.items.size();
    }
    return Message{std::move(response)};
  }

  SnapshotConfig config_;
  Context& context_;
  LogReplayProvider<Command> replay_;
  std::optional<SnapshotImage<Item>> image_;
  TimePoint last_used_{};
  SnapshotProviderCounters counters_;
};

} // namespace mosaik::sync
