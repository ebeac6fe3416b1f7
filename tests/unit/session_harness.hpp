#pragma once
// The strategy-independent part of the harnesses that drive a catch-up
// session core by hand (LogReplayCore, SnapshotSyncCore): a reference log the
// fake peers answer from, a local log, the core's outbox queued until the test
// delivers it, and a clock advanced by the test.
//
// CRTP: `Derived` provides
//   - `honest_answer(PeerId, const Message&)`: a fake peer's honest answer, if any;
//   - `check_invariants()`: checked after every event;
//   - `static bool parkable(const Outgoing&)`: the fetches a peer that does not
//     answer fetches holds back;
// and may hide `on_send(const Outgoing&)` (checks each message the core sends)
// and `on_answer(const Message&)` (sees each honest answer before it is fed).

#include <catch2/catch.hpp>

#include "reference_history.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <mosaik/core/bond_event.hpp>
#include <mosaik/core/entry.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/sync_progress.hpp>

namespace mosaik::test {

template <class Derived, class Core, class Peer, class Config>
class SessionHarness {
public:
  using Outgoing = typename Core::Outgoing;
  using Message = typename Core::Message;
  using E = Entry<std::string>;
  using PeerProgress = sync::PeerProgress;
  /// Decides a peer's answer instead of the honest one: return true when handled.
  using Intercept = std::function<bool(Derived&, const Outgoing&)>;

  SessionHarness(std::uint64_t reference_size, Config cfg) : config(std::move(cfg)) {
    for (std::uint64_t i = 1; i <= reference_size; ++i) {
      reference.append(ref_command(i), ref_term(i));
    }
  }

  Config config;
  storage::InMemoryLog<std::string> reference;
  storage::InMemoryLog<std::string> local;
  std::map<PeerId, Peer> peers;
  std::optional<PeerId> leader;
  TimePoint now{};
  std::unique_ptr<Core> core;
  std::deque<Outgoing> queue;   // sent by the core, not yet delivered
  std::vector<Outgoing> sent;   // everything the core sent, in order
  std::vector<Outgoing> parked; // fetches the peers hold back
  Intercept intercept;
  bool started = false;

  [[nodiscard]] Cursor cursor(std::uint64_t index) const {
    return Cursor{*reference.term_at(Index{index}), Index{index}};
  }

  [[nodiscard]] std::vector<E> ref_entries(std::uint64_t first, std::uint64_t last) const {
    std::vector<E> entries;
    for (auto i = first; i <= last; ++i) {
      entries.push_back(*reference.get(Index{i}));
    }
    return entries;
  }

  void prefill(std::uint64_t last) {
    for (std::uint64_t i = 1; i <= last; ++i) {
      local.append(ref_command(i), ref_term(i));
    }
  }

  void add_peers(std::initializer_list<PeerId> ids, IndexRange holds) {
    for (const auto id : ids) {
      peers[id] = Peer{holds};
    }
  }

  /// Starts the core with every peer bonded.
  void start() {
    std::vector<PeerId> bonded;
    for (const auto& [id, peer] : peers) {
      bonded.push_back(id);
    }
    start(bonded);
  }

  /// Starts the core with `bonded` bonded.
  void start(const std::vector<PeerId>& bonded) {
    core->start(bonded, now);
    started = true;
    collect();
  }

  /// Moves the core's outbox to the queue and checks the invariants.
  void collect() {
    for (auto& outgoing : core->take_outbox()) {
      self().on_send(outgoing);
      sent.push_back(outgoing);
      queue.push_back(std::move(outgoing));
    }
    self().check_invariants();
  }

  void feed(PeerId from, Message message) {
    core->on_message(from, std::move(message), now);
    collect();
  }

  void bond(PeerId peer, BondEvent::Kind kind) {
    core->on_bond(BondEvent{peer, kind}, now);
    collect();
  }

  void buffer(Cursor position, std::vector<E> entries) {
    core->on_buffer(position, std::move(entries), now);
    collect();
  }

  /// Delivers the oldest queued message and feeds the answer back. False when the queue is empty.
  bool deliver_one() {
    if (queue.empty()) {
      return false;
    }
    auto outgoing = std::move(queue.front());
    queue.pop_front();
    if (intercept && intercept(self(), outgoing)) {
      return true;
    }
    const auto it = peers.find(outgoing.peer);
    if (it == peers.end()) {
      return true; // nobody there
    }
    if (Derived::parkable(outgoing) && !it->second.answers_fetches) {
      parked.push_back(std::move(outgoing));
      return true;
    }
    if (auto answer = self().honest_answer(outgoing.peer, outgoing.message)) {
      self().on_answer(*answer);
      feed(outgoing.peer, std::move(*answer));
    }
    return true;
  }

  void deliver_all() {
    for (int i = 0; i < 1'000'000 && !core->outcome() && deliver_one(); ++i) {
    }
    if (core->outcome()) {
      queue.clear();
    }
  }

  /// Advances the clock to the core's next deadline and ticks.
  void tick() {
    const auto deadline = core->next_deadline();
    REQUIRE(deadline.has_value());
    now = std::max(now, *deadline);
    core->on_tick(now);
    collect();
  }

  /// Delivers and ticks until the session ends or `limit` of time passed.
  void run(Duration limit = std::chrono::minutes{10}) {
    const auto end = now + limit;
    while (!core->outcome() && now <= end) {
      deliver_all();
      if (core->outcome()) {
        break;
      }
      tick();
    }
  }

  [[nodiscard]] std::size_t count_sent(std::size_t from,
                                       const std::function<bool(const Outgoing&)>& pred) const {
    return static_cast<std::size_t>(
        std::count_if(sent.begin() + static_cast<std::ptrdiff_t>(from), sent.end(), pred));
  }

  [[nodiscard]] PeerProgress peer_progress(PeerId peer) const {
    const auto progress = core->progress(now);
    const auto it = progress.peers.find(peer);
    return it == progress.peers.end() ? PeerProgress{} : it->second;
  }

  /// The local log holds exactly the reference's entries first..=last (after a base at first - 1).
  void require_log_is_reference(std::uint64_t first, std::uint64_t last) const {
    REQUIRE(local.available() == r(first, last));
    REQUIRE(local.last() == cursor(last));
    for (std::uint64_t i = first; i <= last; ++i) {
      const auto* entry = local.get(Index{i});
      REQUIRE(entry != nullptr);
      INFO("index " << i);
      REQUIRE(entry->command == ref_command(i));
      REQUIRE(entry->term == ref_term(i));
    }
  }

  /// The session ended, successfully.
  void require_ok() const {
    REQUIRE(core->outcome());
    CHECK(core->outcome()->ok());
  }

  // Hooks `Derived` may hide.
  void on_send(const Outgoing& /*outgoing*/) {}
  void on_answer(const Message& /*answer*/) {}

private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

} // namespace mosaik::test
