#pragma once
// LogReplayHarness: drives a LogReplayCore<std::string> by hand (see
// session_harness.hpp) with fake peers that answer honestly from the
// reference history. Shared by the unit tests (session_core_test.cpp) and the
// catch-up scenarios (tests/scenarios).

#include <catch2/catch.hpp>

#include "reference_history.hpp"
#include "session_harness.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/log_replay/log_replay_core.hpp>

namespace mosaik::test {

/// A fake peer: what it announces and serves, and whether it answers fetches.
struct LogReplayPeer {
  IndexRange holds;
  std::optional<IndexRange> announces{}; // what it announces when not all it serves (its commit index)
  bool answers_fetches = true;           // false: fetches are parked, unanswered
};

/// Drives a LogReplayCore by hand. Messages the core sends queue up until the
/// test delivers them; each fake peer answers honestly from the reference log
/// unless the test's `intercept` hook answers instead.
class LogReplayHarness : public SessionHarness<LogReplayHarness, sync::LogReplayCore<std::string>,
                                               LogReplayPeer, sync::LogReplayConfig> {
public:
  using Core = sync::LogReplayCore<std::string>;
  using Response = sync::FetchEntriesResponse<std::string>;

  explicit LogReplayHarness(std::uint64_t reference_size, sync::LogReplayConfig cfg = default_config())
      : SessionHarness(reference_size, std::move(cfg)) {}

  static sync::LogReplayConfig default_config() {
    sync::LogReplayConfig config;
    config.batch_size = 10;
    // One request per peer at a time, so each rule (blame, exclusion, timeouts)
    // can be followed request by request; the adaptive window has its own tests
    // (ranged_fetch_test.cpp, scheduler_test.cpp) and runs in the simulations.
    config.max_inflight_per_peer = 1;
    config.hedge_slow_requests = false; // a peer sitting on a request is what many tests stage
    config.fetch_timeout = std::chrono::seconds{2};
    return config;
  }

  std::optional<std::uint64_t> entries_held_bound; // checked after every event when set

  /// Entries for `range` with `command` as every command and the reference terms.
  [[nodiscard]] std::vector<E> fake_entries(IndexRange range, const std::string& command) const {
    std::vector<E> entries;
    for (auto i = range.first(); !range.empty() && i <= range.last(); i = i.next()) {
      entries.push_back(E{ref_term(i.value()), command});
    }
    return entries;
  }

  void create(Cursor target, std::vector<E> entries = {}) {
    core = std::make_unique<Core>(config, local, target, target.index, leader, std::move(entries), now);
    collect();
  }

  void check_invariants() const {
    if (started && !core->outcome()) {
      // A running session always has a timer armed.
      REQUIRE(core->next_deadline().has_value());
      // Nothing past the target is appended before the end.
      REQUIRE(local.last().index <= core->target().index);
    }
    if (entries_held_bound) {
      REQUIRE(core->counters().max_entries_held <= *entries_held_bound);
    }
  }

  static bool parkable(const Outgoing& outgoing) {
    return std::holds_alternative<sync::FetchEntriesRequest>(outgoing.message);
  }

  /// The honest answer of `peer` to `message`, if it answers.
  [[nodiscard]] std::optional<Message> honest_answer(PeerId peer, const Message& message) const {
    const auto it = peers.find(peer);
    if (it == peers.end()) {
      return std::nullopt;
    }
    if (std::holds_alternative<sync::AvailabilityRequest>(message)) {
      return Message{sync::AvailabilityResponse{it->second.announces.value_or(it->second.holds)}};
    }
    if (const auto* fetch = std::get_if<sync::FetchEntriesRequest>(&message)) {
      return Message{honest_fetch(it->second, fetch->range)};
    }
    return std::nullopt;
  }

  [[nodiscard]] Response honest_fetch(const LogReplayPeer& peer, IndexRange requested) const {
    const auto served =
        requested.take_front(config.batch_size).intersect(peer.holds).intersect(reference.available());
    if (served.empty()) {
      return Response{requested, {}};
    }
    return Response{served, ref_entries(served.first().value(), served.last().value())};
  }

  /// Answers parked fetches that are still in flight honestly; drops the others
  /// (and those asked again meanwhile: the queued copy will be answered).
  void release_parked() {
    auto held = std::exchange(parked, {});
    for (auto& outgoing : held) {
      const auto& range = std::get<sync::FetchEntriesRequest>(outgoing.message).range;
      const bool asked_again = std::any_of(queue.begin(), queue.end(), [&](const Outgoing& queued) {
        return queued.peer == outgoing.peer && queued.message == outgoing.message;
      });
      if (!asked_again && core->scheduler().find_inflight(outgoing.peer, range)) {
        feed(outgoing.peer, *honest_answer(outgoing.peer, outgoing.message));
      }
    }
  }

  /// The local log holds exactly the reference's entries 1..=last.
  void require_log_is_reference(std::uint64_t last) const {
    SessionHarness::require_log_is_reference(1, last);
  }
};

} // namespace mosaik::test
