#pragma once
// SnapshotHarness: drives a SnapshotSyncCore<std::string, std::string> by
// hand (see session_harness.hpp): a fake sink that installs snapshots into the
// local log, fake peers that answer honestly from the reference history and
// the snapshots they offer. Shared by the unit tests
// (snapshot_session_test.cpp) and the catch-up scenarios (tests/scenarios).

#include <catch2/catch.hpp>

#include "reference_history.hpp"
#include "session_harness.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/snapshot/snapshot_sync_core.hpp>

namespace mosaik::test {

using sync::AvailabilityRequest;
using sync::AvailabilityResponse;
using sync::FetchEntriesRequest;
using sync::FetchItemsRequest;
using sync::SnapshotOffer;
using sync::SnapshotQuery;
using sync::SnapshotRequest;

/// A snapshot taken at `index` (with the reference term unless told) holding `items` items.
inline SnapshotInfo snapshot_at(std::uint64_t index, std::uint64_t items,
                                std::optional<Term> term = std::nullopt) {
  return SnapshotInfo{
      Cursor{term.value_or(ref_term(index)), Index{index}}, items, {std::byte{7}, std::byte{9}}};
}

/// The item at `position` (from 1) of a snapshot: it names the snapshot, so mixed-up items show.
inline std::string item_of(const SnapshotInfo& info, std::uint64_t position) {
  return "item-" + std::to_string(info.at.index.value()) + "-" + std::to_string(position);
}

inline std::vector<std::string> items_of(const SnapshotInfo& info, ItemRange range) {
  std::vector<std::string> items;
  for (auto i = range.first(); !range.empty() && i <= range.last(); i = i.next()) {
    items.push_back(item_of(info, i.value()));
  }
  return items;
}

inline std::vector<std::string> all_items_of(const SnapshotInfo& info) {
  return items_of(info, ItemRange::starting_at(ItemNumber{1}, info.items));
}

/// Records every install; installs into the local log (resets it to the
/// snapshot's cursor) unless told to refuse.
class FakeSnapshotSink final : public sync::SnapshotSink<std::string> {
public:
  struct Call {
    SnapshotInfo info;
    std::vector<std::string> items;
  };

  explicit FakeSnapshotSink(storage::InMemoryLog<std::string>& log) : log_(log) {}

  std::vector<Call> calls;
  std::optional<std::string> refuse;

  std::optional<std::string> install_snapshot(const SnapshotInfo& info,
                                              std::vector<std::string> items) override {
    calls.push_back(Call{info, std::move(items)});
    if (refuse) {
      return refuse;
    }
    log_.reset_to(info.at);
    return std::nullopt;
  }

private:
  storage::InMemoryLog<std::string>& log_;
};

/// A fake peer: the entries it serves and announces, the snapshot it offers.
struct SnapshotPeer {
  IndexRange holds;
  std::optional<IndexRange> announces{};  // what it announces when not all it serves (its commit index)
  std::optional<SnapshotInfo> snapshot{}; // what it offers and serves items of
  bool answers_fetches = true;            // false: item and entry fetches are parked, unanswered
  bool answers_probes = true;             // false: availability requests go unanswered
};

inline const FetchItemsRequest*
item_fetch(const sync::SnapshotSyncCore<std::string, std::string>::Outgoing& outgoing) {
  return std::get_if<FetchItemsRequest>(&outgoing.message);
}
/// An item fetch to a peer other than `peer` whose range holds `index`.

/// Drives a SnapshotSyncCore by hand. Messages the core sends queue up until
/// the test delivers them; each fake peer answers honestly unless the test's
/// `intercept` hook answers instead.
class SnapshotHarness
    : public SessionHarness<SnapshotHarness, sync::SnapshotSyncCore<std::string, std::string>, SnapshotPeer,
                            sync::SnapshotConfig> {
public:
  using Core = sync::SnapshotSyncCore<std::string, std::string>;
  using Items = sync::FetchItemsResponse<std::string>;
  using Entries = sync::FetchEntriesResponse<std::string>;

  explicit SnapshotHarness(std::uint64_t reference_size = 300, sync::SnapshotConfig cfg = default_config())
      : SessionHarness(reference_size, std::move(cfg)) {}

  static sync::SnapshotConfig default_config() {
    sync::SnapshotConfig config;
    config.item_batch = 10;
    config.replay.batch_size = 10;
    // One request per peer at a time, so each rule (blame, exclusion, timeouts)
    // can be followed request by request; the adaptive window has its own tests
    // (ranged_fetch_test.cpp, scheduler_test.cpp) and runs in the simulations.
    config.replay.max_inflight_per_peer = 1;
    config.replay.hedge_slow_requests = false; // a peer sitting on a request is what many tests stage
    config.replay.fetch_timeout = std::chrono::seconds{2};
    return config;
  }

  FakeSnapshotSink sink{local};
  /// What the leader's group snapshots when asked for a snapshot it does not hold (nothing: no answer).
  std::optional<SnapshotInfo> taken_on_request;
  std::vector<std::pair<PeerId, SnapshotRequest>> snapshot_requests; // as the peers received them
  /// When set: items held out of order never exceed it, nor do fetches reach past the assembled prefix plus
  /// it.
  std::optional<std::uint64_t> window_bound;
  std::map<std::uint64_t, std::uint64_t> delivered; // item ranges answered honestly: first -> last
  std::uint64_t max_held = 0;                       // most items held out of order seen

  /// The usual group: the local log ends at 100; P1, P2 and the leader P3
  /// pruned past it (they hold 151..=300) and offer `offered`.
  void pruned_group(std::optional<SnapshotInfo> offered) {
    prefill(100);
    add_peers({P1, P2, P3}, r(151, 300));
    for (auto& [id, peer] : peers) {
      peer.snapshot = offered;
    }
    leader = P3;
  }

  /// `commit`: the leader's commit index (default: the target's index).
  void create(Cursor target, std::vector<E> entries = {}, std::optional<Index> commit = std::nullopt) {
    core = std::make_unique<Core>(config, local, sink, target, commit.value_or(target.index), leader,
                                  std::move(entries), now);
    collect();
  }

  /// The number of items assembled in order, as far as the honest answers delivered tell.
  [[nodiscard]] std::uint64_t delivered_prefix() const {
    std::uint64_t next = 1;
    for (auto it = delivered.find(next); it != delivered.end(); it = delivered.find(next)) {
      next = it->second + 1;
    }
    return next - 1;
  }

  /// Checks that an item fetch stays within the window.
  void on_send(const Outgoing& outgoing) {
    if (window_bound && !core->installed()) {
      if (const auto* fetch = item_fetch(outgoing)) {
        INFO("fetch of items " << fetch->range.first().value() << ".." << fetch->range.last().value());
        REQUIRE(fetch->range.last().value() <= delivered_prefix() + *window_bound);
      }
    }
  }

  /// Records the item ranges answered honestly.
  void on_answer(const Message& answer) {
    if (const auto* items = std::get_if<Items>(&answer); items && !items->items.empty()) {
      delivered[items->range.first().value()] = items->range.last().value();
    }
  }

  void check_invariants() {
    if (started && !core->outcome()) {
      // A running session always has a timer armed.
      REQUIRE(core->next_deadline().has_value());
    }
    // A snapshot is handed to the sink once at most.
    REQUIRE(sink.calls.size() <= 1);
    if (window_bound && !core->installed()) {
      const auto progress = core->progress(now);
      if (progress.snapshot) {
        const auto held =
            progress.snapshot->received - std::min(progress.snapshot->received, delivered_prefix());
        max_held = std::max(max_held, held);
        REQUIRE(held <= *window_bound);
      }
    }
  }

  static bool parkable(const Outgoing& outgoing) {
    return std::holds_alternative<FetchItemsRequest>(outgoing.message) ||
           std::holds_alternative<FetchEntriesRequest>(outgoing.message);
  }

  /// The honest answer of `peer` to `message`, if it answers.
  [[nodiscard]] std::optional<Message> honest_answer(PeerId id, const Message& message) {
    const auto it = peers.find(id);
    if (it == peers.end()) {
      return std::nullopt;
    }
    auto& peer = it->second;
    if (std::holds_alternative<AvailabilityRequest>(message)) {
      if (!peer.answers_probes) {
        return std::nullopt;
      }
      return Message{AvailabilityResponse{peer.announces.value_or(peer.holds)}};
    }
    if (const auto* fetch = std::get_if<FetchEntriesRequest>(&message)) {
      const auto served = fetch->range.take_front(config.replay.batch_size)
                              .intersect(peer.holds)
                              .intersect(reference.available());
      if (served.empty()) {
        return Message{Entries{fetch->range, {}}};
      }
      return Message{Entries{served, ref_entries(served.first().value(), served.last().value())}};
    }
    if (std::holds_alternative<SnapshotQuery>(message)) {
      return Message{SnapshotOffer{peer.snapshot}};
    }
    if (const auto* request = std::get_if<SnapshotRequest>(&message)) {
      snapshot_requests.emplace_back(id, *request);
      if (peer.snapshot && peer.snapshot->at.index > request->after) {
        return Message{SnapshotOffer{peer.snapshot}};
      }
      if (taken_on_request && leader == id) {
        // The leader replicates the request: every member snapshots at the same point.
        for (auto& [other, state] : peers) {
          state.snapshot = taken_on_request;
        }
        return Message{SnapshotOffer{taken_on_request}};
      }
      return std::nullopt;
    }
    if (const auto* fetch = std::get_if<FetchItemsRequest>(&message)) {
      if (!peer.snapshot || peer.snapshot->at != fetch->at) {
        return Message{Items{fetch->at, fetch->range, {}}};
      }
      const auto served = fetch->range.take_front(config.item_batch)
                              .intersect(ItemRange::starting_at(ItemNumber{1}, peer.snapshot->items));
      if (served.empty()) {
        return Message{Items{fetch->at, fetch->range, {}}};
      }
      return Message{Items{fetch->at, served, items_of(*peer.snapshot, served)}};
    }
    return std::nullopt;
  }

  /// Advances the clock by `by` and ticks.
  void advance(Duration by) {
    now += by;
    core->on_tick(now);
    collect();
  }

  /// Delivers one message at a time until the item transfer started.
  void deliver_until_transfer_started() {
    while (core->progress(now).snapshot.value_or(sync::SnapshotProgress{}).received == 0) {
      REQUIRE(deliver_one());
    }
  }

  /// Delivers one message at a time until the snapshot is installed.
  void deliver_until_installed() {
    while (!core->installed()) {
      REQUIRE(deliver_one());
    }
  }

  /// Queues the parked fetches for delivery.
  void requeue_parked() {
    for (auto& outgoing : std::exchange(parked, {})) {
      queue.push_back(std::move(outgoing));
    }
  }

  /// The item fetches sent so far whose range starts at `first`.
  [[nodiscard]] std::vector<Outgoing> item_fetches_from(std::uint64_t first) const {
    std::vector<Outgoing> found;
    for (const auto& outgoing : sent) {
      if (const auto* fetch = item_fetch(outgoing); fetch && fetch->range.first() == ItemNumber{first}) {
        found.push_back(outgoing);
      }
    }
    return found;
  }

  /// The parked item fetch to `peer` (the first one).
  [[nodiscard]] std::optional<FetchItemsRequest> parked_item_fetch(PeerId peer) const {
    for (const auto& outgoing : parked) {
      if (const auto* fetch = item_fetch(outgoing); fetch && outgoing.peer == peer) {
        return *fetch;
      }
    }
    return std::nullopt;
  }

  /// The one install: `info` with all its items, in order.
  void require_installed(const SnapshotInfo& info) const {
    REQUIRE(sink.calls.size() == 1);
    CHECK(sink.calls[0].info == info);
    CHECK(sink.calls[0].items == all_items_of(info));
    REQUIRE(core->installed().has_value());
    CHECK(*core->installed() == info.at);
  }
};

} // namespace mosaik::test
