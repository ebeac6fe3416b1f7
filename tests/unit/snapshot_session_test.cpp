// Unit tests of SnapshotSyncCore, the sans-I/O logic of a snapshot catch-up
// session, driven by hand: a local InMemoryLog, a fake sink that installs
// snapshots into it (or refuses them), fake peers that answer the core's
// outbox from a reference log and the snapshots they offer, and a clock
// advanced by the test.

#include <catch2/catch.hpp>

#include "reference_history.hpp"
#include "session_harness.hpp"
#include "snapshot_harness.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/snapshot/snapshot_sync_core.hpp>

using namespace mosaik;
using namespace mosaik::sync;
using namespace mosaik::test;

namespace {

using Core = SnapshotSyncCore<std::string, std::string>;
using Message = Core::Message;
using Outgoing = Core::Outgoing;
using Items = FetchItemsResponse<std::string>;
using Entries = FetchEntriesResponse<std::string>;
using E = Entry<std::string>;
using Phase = Core::Phase;
using Harness = SnapshotHarness;
using FakePeer = SnapshotPeer;
using FakeSink = FakeSnapshotSink;

template <class T>
bool is(const Outgoing& outgoing) {
  return std::holds_alternative<T>(outgoing.message);
}
template <class T>
bool is_to(const Outgoing& outgoing, PeerId peer) {
  return outgoing.peer == peer && is<T>(outgoing);
}
bool is_item_fetch_elsewhere(const Outgoing& outgoing, PeerId peer, ItemNumber index) {
  const auto* fetch = item_fetch(outgoing);
  return fetch != nullptr && outgoing.peer != peer && fetch->range.contains(index);
}
/// An entry fetch whose range starts at or below `index`.
bool is_entry_fetch_from_at_most(const Outgoing& outgoing, Index index) {
  const auto* fetch = std::get_if<FetchEntriesRequest>(&outgoing.message);
  return fetch != nullptr && fetch->range.first() <= index;
}

} // namespace

// ---- probing: log replay or snapshot ------------------------------------------------

TEST_CASE("SnapshotSyncCore: a peer holding the start of the gap makes it a log-replay session",
          "[snapshot][snapshot_session]") {
  Harness h;
  h.prefill(100);
  h.add_peers({P1}, r(1, 300));       // still holds 101
  h.add_peers({P2, P3}, r(151, 300)); // pruned past it
  h.leader = P3;
  h.peers[P3].snapshot = snapshot_at(200, 30);
  h.create(h.cursor(250), h.ref_entries(251, 260));
  CHECK(h.core->phase() == Phase::probing);
  h.start();
  CHECK(h.count_sent(0, is<AvailabilityRequest>) == 3);
  CHECK(h.core->counters().availability_requests == 3);
  CHECK(h.core->next_deadline() == h.now + h.config.probe_timeout);

  // P1 answers first: the session decides at once, without waiting for the others.
  const auto probes = h.sent.size();
  std::deque<Outgoing> rest;
  for (auto& outgoing : std::exchange(h.queue, {})) {
    if (outgoing.peer == P1) {
      h.feed(P1, *h.honest_answer(P1, outgoing.message));
    } else {
      rest.push_back(std::move(outgoing));
    }
  }
  h.queue.insert(h.queue.end(), rest.begin(), rest.end());
  CHECK(h.core->phase() == Phase::replay);
  REQUIRE(h.core->replay() != nullptr);
  // The log-replay part asks every peer again (its own availability round).
  CHECK(h.count_sent(probes, is<AvailabilityRequest>) == 3);

  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  CHECK(h.core->outcome()->last == h.cursor(260));
  h.require_log_is_reference(1, 260);
  CHECK(h.sink.calls.empty());
  CHECK_FALSE(h.core->installed());
  CHECK(h.core->counters().snapshot_sessions == 0);
  CHECK(h.count_sent(0, [](const Outgoing& o) {
    return is<SnapshotRequest>(o) || is<SnapshotQuery>(o) || is<FetchItemsRequest>(o);
  }) == 0);
  // Only P1 held 101..=150; the messages went out in the snapshot strategy's variant.
  CHECK(h.count_sent(0, is<FetchEntriesRequest>) > 0);
  CHECK(h.peer_progress(P1).entries > 0);
}

TEST_CASE("SnapshotSyncCore: every peer pruned past the gap: the leader is asked for a snapshot",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 45);
  h.pruned_group(info);
  h.create(h.cursor(250));
  h.start();
  REQUIRE(h.queue.size() == 3);

  // Two answers of three: the session still waits for the third.
  REQUIRE(h.deliver_one());
  REQUIRE(h.deliver_one());
  CHECK(h.core->phase() == Phase::probing);
  CHECK(h.count_sent(0, is<SnapshotRequest>) == 0);
  const auto before = h.sent.size();
  REQUIRE(h.deliver_one());
  CHECK(h.core->phase() == Phase::snapshot);
  CHECK(h.core->counters().snapshot_sessions == 1);

  // The request goes to the leader alone, asking above the local log; the others are queried.
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is<SnapshotRequest>(o); }) == 1);
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<SnapshotRequest>(o, P3); }) == 1);
  for (const auto& outgoing : h.sent) {
    if (const auto* request = std::get_if<SnapshotRequest>(&outgoing.message)) {
      CHECK(request->after == Index{100});
    }
  }
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<SnapshotQuery>(o, P1); }) == 1);
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<SnapshotQuery>(o, P2); }) == 1);
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<SnapshotQuery>(o, P3); }) == 0);
  CHECK_FALSE(h.core->replay());
  CHECK(h.core->next_deadline().has_value());

  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_installed(info);
  h.require_log_is_reference(201, 250);
  // Nothing of the pruned range was ever asked for.
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_entry_fetch_from_at_most(o, Index{200}); }) == 0);
}

TEST_CASE("SnapshotSyncCore: the probe decides at its timeout with the answers it has",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 20);
  h.pruned_group(info);
  h.peers[P1].answers_probes = false; // never says what it holds
  h.create(h.cursor(250));
  h.start();
  h.deliver_all();
  CHECK(h.core->phase() == Phase::probing);
  const auto deadline = h.core->next_deadline();
  REQUIRE(deadline);
  CHECK(*deadline == h.now + h.config.probe_timeout);

  // Just before the deadline nothing happens.
  h.advance(h.config.probe_timeout - std::chrono::milliseconds{1});
  CHECK(h.core->phase() == Phase::probing);
  h.tick();
  CHECK(h.core->phase() == Phase::snapshot);
  CHECK(h.count_sent(0, is<SnapshotRequest>) == 1);
  h.run();
  h.require_ok();
  h.require_installed(info);
}

TEST_CASE("SnapshotSyncCore: a probe nobody answers is sent again", "[snapshot][snapshot_session]") {
  Harness h;
  h.pruned_group(snapshot_at(200, 20));
  for (auto& [id, peer] : h.peers) {
    peer.answers_probes = false;
  }
  h.create(h.cursor(250));
  h.start();
  h.deliver_all();
  const auto before = h.sent.size();
  h.tick();
  CHECK(h.core->phase() == Phase::probing);
  CHECK(h.count_sent(before, is<AvailabilityRequest>) == 3);
  CHECK(h.core->counters().availability_requests == 6);
  CHECK(h.count_sent(0, [](const Outgoing& o) { return !is<AvailabilityRequest>(o); }) == 0);
  // Now they answer: the session goes on.
  for (auto& [id, peer] : h.peers) {
    peer.answers_probes = true;
  }
  h.run();
  h.require_ok();
}

TEST_CASE("SnapshotSyncCore: peers bonding and leaving while the session probes",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 20);
  h.pruned_group(info);
  h.add_peers({P4}, r(151, 300));
  h.peers[P4].snapshot = info;
  h.peers[P1].answers_probes = false;
  h.create(h.cursor(250));
  // P4 is not bonded at the start.
  h.start({P1, P2, P3});
  h.deliver_all();
  CHECK(h.core->phase() == Phase::probing); // P1 has not answered

  // A new peer is asked too (and waited for).
  const auto before = h.sent.size();
  h.bond(P4, BondEvent::Kind::bonded);
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<AvailabilityRequest>(o, P4); }) == 1);
  CHECK(h.core->phase() == Phase::probing);
  h.deliver_all();
  CHECK(h.core->phase() == Phase::probing); // still P1

  // P1 leaves: every peer still bonded answered, so the session decides.
  h.bond(P1, BondEvent::Kind::terminated);
  CHECK(h.core->phase() == Phase::snapshot);
  h.run();
  h.require_ok();
  h.require_installed(info);
  CHECK(h.peer_progress(P1).requests == 0);
}

TEST_CASE("SnapshotSyncCore: every peer pruned and no leader known: the session fails",
          "[snapshot][snapshot_session]") {
  Harness h;
  h.pruned_group(snapshot_at(200, 20));
  h.leader.reset();
  h.create(h.cursor(250));
  h.start();
  h.deliver_all();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::failed);
  CHECK(h.core->outcome()->reason.find("leader") != std::string::npos);
  CHECK(h.core->outcome()->last == h.cursor(100));
  CHECK(h.count_sent(0, [](const Outgoing& o) { return !is<AvailabilityRequest>(o); }) == 0);
  CHECK_FALSE(h.core->next_deadline());
  CHECK(h.sink.calls.empty());
  h.require_log_is_reference(1, 100);
}

TEST_CASE("SnapshotSyncCore: a peer that lags further behind does not make it a log-replay session",
          "[snapshot][snapshot_session]") {
  // P4 holds only 1..=50: it has pruned nothing, yet holds nothing of the gap.
  // Replaying would wait for ever for 101..=150, which only a snapshot replaces.
  Harness h;
  const auto info = snapshot_at(200, 20);
  h.pruned_group(info);
  h.add_peers({P4}, r(1, 50));
  h.create(h.cursor(250));
  h.start();
  h.run();
  h.require_ok();
  CHECK(h.core->counters().snapshot_sessions == 1);
  h.require_installed(info);
  h.require_log_is_reference(201, 250);
  CHECK(h.count_sent(0, is<FetchEntriesRequest>) > 0);
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_entry_fetch_from_at_most(o, Index{200}); }) == 0);
}

TEST_CASE("SnapshotSyncCore: a leader whose announcement ends at the local log still replays its tail",
          "[snapshot][snapshot_session]") {
  // Nothing above 100 is committed (this member's acknowledgement is needed),
  // so every peer announces 1..=100; the leader serves its tail up to the target.
  Harness h;
  h.prefill(100);
  h.add_peers({P1, P2, P3}, r(1, 120));
  for (auto& [id, peer] : h.peers) {
    peer.announces = r(1, 100);
  }
  h.leader = P3;
  h.create(h.cursor(120), {}, Index{100});
  h.start();
  h.deliver_all();
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(1, 120);
  CHECK(h.core->counters().snapshot_sessions == 0);
  CHECK(h.count_sent(0, is<SnapshotRequest>) == 0);
  CHECK(h.peer_progress(P3).entries == 20);
}

TEST_CASE("SnapshotSyncCore: a target at or behind the local log is a replay that ends at once",
          "[snapshot][snapshot_session]") {
  Harness h;
  h.prefill(100);
  h.add_peers({P1, P2, P3}, r(1, 300));
  h.leader = P3;
  h.create(h.cursor(90), h.ref_entries(91, 110));
  CHECK(h.core->phase() == Phase::replay);
  h.start();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  CHECK(h.sent.empty());
  h.require_log_is_reference(1, 110);
}

// ---- choosing a snapshot ---------------------------------------------------------------

TEST_CASE("SnapshotSyncCore: only the leader's offer chooses the snapshot", "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 30);
  const auto other = snapshot_at(190, 30);
  h.pruned_group(info);
  h.peers[P2].snapshot = other; // an older snapshot
  h.create(h.cursor(250));
  h.start();
  // The probe round, then drop whatever the session asked after it.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(h.deliver_one());
  }
  REQUIRE(h.core->phase() == Phase::snapshot);
  h.queue.clear();

  // Offers from the other peers are remembered, not chosen.
  h.feed(P1, SnapshotOffer{info});
  h.feed(P2, SnapshotOffer{other});
  CHECK_FALSE(h.core->chosen());
  CHECK(h.count_sent(0, is<FetchItemsRequest>) == 0);

  // The leader offering a snapshot that does not reach past the local log is ignored.
  h.feed(P3, SnapshotOffer{snapshot_at(100, 30)});
  h.feed(P3, SnapshotOffer{snapshot_at(60, 30)});
  CHECK_FALSE(h.core->chosen());
  h.feed(P3, SnapshotOffer{std::nullopt});
  CHECK_FALSE(h.core->chosen());

  const auto before = h.sent.size();
  h.feed(P3, SnapshotOffer{info});
  REQUIRE(h.core->chosen());
  CHECK(*h.core->chosen() == info);
  // P1 offered the same already: fetching starts at once, P1 first. P2 (another snapshot) is queried.
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<FetchItemsRequest>(o, P1); }) == 1);
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<FetchItemsRequest>(o, P2); }) == 0);
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<SnapshotQuery>(o, P2); }) == 1);
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<SnapshotQuery>(o, P1); }) == 0);
  const auto first = h.item_fetches_from(1);
  REQUIRE(first.size() == 1);
  CHECK(first[0].peer == P1);
  CHECK(item_fetch(first[0])->at == info.at);

  // A later offer of the other snapshot by the leader does not replace one that is being fetched.
  h.feed(P3, SnapshotOffer{snapshot_at(220, 5)});
  CHECK(*h.core->chosen() == info);

  h.run();
  h.require_ok();
  h.require_installed(info);
  CHECK(h.peer_progress(P2).items == 0);
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_to<FetchItemsRequest>(o, P2); }) == 0);
}

TEST_CASE("SnapshotSyncCore: a leader without a fresh snapshot is asked again on a backoff",
          "[snapshot][snapshot_session]") {
  Harness h;
  h.pruned_group(std::nullopt); // nobody holds a snapshot yet
  h.create(h.cursor(250));
  h.start();
  h.deliver_all();
  REQUIRE(h.core->phase() == Phase::snapshot);
  REQUIRE(h.snapshot_requests.size() == 1);

  // The poll asks the leader again and queries everybody, with a doubling backoff.
  std::vector<TimePoint> polls;
  for (int i = 0; i < 4; ++i) {
    const auto before = h.sent.size();
    h.tick();
    if (h.count_sent(before, is<SnapshotRequest>) > 0) {
      polls.push_back(h.now);
      CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<SnapshotRequest>(o, P3); }) == 1);
      CHECK(h.count_sent(before, is<SnapshotQuery>) == 3);
    }
    h.deliver_all();
  }
  REQUIRE(polls.size() >= 3);
  CHECK(polls[2] - polls[1] > polls[1] - polls[0]);

  // The group takes the snapshot: the leader offers it and the session fetches it.
  const auto info = snapshot_at(210, 25);
  h.taken_on_request = info;
  h.run();
  h.require_ok();
  h.require_installed(info);
  h.require_log_is_reference(211, 250);
}

// ---- fetching items ----------------------------------------------------------------------

namespace {

/// The usual group offering `info`, but the others have not taken the snapshot
/// yet: only the leader offers it at first. Returns when the session chose it.
void leader_alone_offers(Harness& h, const SnapshotInfo& info) {
  h.pruned_group(info);
  h.peers[P1].snapshot.reset();
  h.peers[P2].snapshot.reset();
  h.create(h.cursor(250));
  h.start();
  h.deliver_all();
  REQUIRE(h.core->chosen());
}

/// The usual group with the item fetches to `slow` parked: the test answers them itself.
/// Returns when the first fetch to each of them is in flight.
void park_fetches(Harness& h, const SnapshotInfo& info, std::initializer_list<PeerId> slow) {
  h.pruned_group(info);
  for (const auto peer : slow) {
    h.peers[peer].answers_fetches = false;
  }
  h.create(h.cursor(250));
  h.start();
  h.deliver_all();
  REQUIRE(h.core->chosen());
  for (const auto peer : slow) {
    INFO("peer " << peer.value());
    REQUIRE(h.parked_item_fetch(peer));
  }
}

/// The usual group with every item fetch parked.
void park_all_fetches(Harness& h, const SnapshotInfo& info) {
  park_fetches(h, info, {P1, P2, P3});
}

/// Lets every peer answer from now on, answers what is parked, and runs to the end.
void answer_everything(Harness& h) {
  for (auto& [id, peer] : h.peers) {
    peer.answers_fetches = true;
  }
  h.requeue_parked();
  h.run();
}

} // namespace

TEST_CASE("SnapshotSyncCore: the leader gets no item fetch while it alone offers, until its hold ends",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 95);
  leader_alone_offers(h, info);
  CHECK(*h.core->chosen() == info);
  const auto chosen_at = h.now;
  CHECK(h.count_sent(0, is<FetchItemsRequest>) == 0);
  const auto deadline = h.core->next_deadline();
  REQUIRE(deadline);
  CHECK(*deadline <= chosen_at + h.config.replay.availability_retry_initial);

  // P1 takes the snapshot and offers it before the hold ends: the first range is its.
  h.peers[P1].snapshot = info;
  h.peers[P2].snapshot = info;
  h.feed(P1, SnapshotOffer{info});
  const auto first = h.item_fetches_from(1);
  REQUIRE(first.size() == 1);
  CHECK(first[0].peer == P1);
  h.feed(P2, SnapshotOffer{info});
  // One request in flight to each peer at once.
  std::set<PeerId> asked;
  for (const auto& outgoing : h.sent) {
    if (const auto* fetch = item_fetch(outgoing)) {
      asked.insert(outgoing.peer);
      CHECK(fetch->at == info.at);
      CHECK(fetch->range.size() == h.config.item_batch);
    }
  }
  CHECK(asked == std::set<PeerId>{P1, P2, P3});
  CHECK(h.count_sent(0, is<FetchItemsRequest>) == 3);

  h.run();
  h.require_ok();
  h.require_installed(info);
  std::uint64_t total = 0;
  for (const auto peer : {P1, P2, P3}) {
    INFO("peer " << peer.value());
    CHECK(h.peer_progress(peer).items > 0);
    CHECK(h.peer_progress(peer).requests > 0);
    total += h.peer_progress(peer).items;
  }
  CHECK(total == 95);
  const auto progress = h.core->progress(h.now);
  REQUIRE(progress.snapshot);
  CHECK(progress.snapshot->at == info.at);
  CHECK(progress.snapshot->items == 95);
  CHECK(progress.snapshot->received == 95);
  CHECK(progress.snapshot->installed);
}

TEST_CASE("SnapshotSyncCore: with every offer in, items come from all peers at once, the leader's last",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 95);
  h.pruned_group(info);
  // Hold back the leader's answer until the others offered.
  std::optional<Outgoing> request;
  h.intercept = [&request](Harness&, const Outgoing& outgoing) {
    if (is<SnapshotRequest>(outgoing) && !request) {
      request = outgoing;
      return true;
    }
    return false;
  };
  h.create(h.cursor(250));
  h.start();
  h.deliver_all();
  REQUIRE(request);
  CHECK_FALSE(h.core->chosen());
  h.intercept = nullptr;
  const auto before = h.sent.size();
  h.feed(P3, *h.honest_answer(P3, request->message));
  REQUIRE(h.core->chosen());
  std::map<PeerId, ItemRange> fetches;
  for (auto i = before; i < h.sent.size(); ++i) {
    if (const auto* fetch = item_fetch(h.sent[i])) {
      CHECK(fetches.emplace(h.sent[i].peer, fetch->range).second);
    }
  }
  REQUIRE(fetches.size() == 3);
  CHECK(fetches[P1].first() < fetches[P3].first());
  CHECK(fetches[P2].first() < fetches[P3].first());
  CHECK(fetches[P3] == item_range(21, 30));

  h.run();
  h.require_ok();
  h.require_installed(info);
  for (const auto peer : {P1, P2, P3}) {
    INFO("peer " << peer.value());
    CHECK(h.peer_progress(peer).items > 0);
  }
}

TEST_CASE("SnapshotSyncCore: a leader alone serves the whole snapshot once its hold expires",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 35);
  leader_alone_offers(h, info);
  const auto chosen_at = h.now;
  CHECK(h.count_sent(0, is<FetchItemsRequest>) == 0);
  h.tick();
  CHECK(h.now == chosen_at + h.config.replay.availability_retry_initial);
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_to<FetchItemsRequest>(o, P3); }) == 1);
  h.run();
  h.require_ok();
  h.require_installed(info);
  CHECK(h.peer_progress(P3).items == 35);
  CHECK(h.peer_progress(P1).items == 0);
}

TEST_CASE("SnapshotSyncCore: items held out of order stay within the scheduler's window",
          "[snapshot][snapshot_session]") {
  const std::uint32_t inflight = GENERATE(1U, 2U);
  INFO("in flight per peer: " << inflight);
  auto config = Harness::default_config();
  config.replay.max_inflight_per_peer = inflight;
  Harness h(300, config);
  const auto info = snapshot_at(200, 200);
  h.pruned_group(info);
  // P1 is slow: its fetches stay unanswered until they time out.
  h.peers[P1].answers_fetches = false;
  h.window_bound = 2 * 3 * inflight * config.item_batch; // two rounds x peers x inflight x batch
  h.create(h.cursor(250));
  h.start();
  h.run();
  h.require_ok();
  h.require_installed(info);
  // The slow head range made others' items wait, but never more than the window.
  CHECK(h.max_held > 0);
  CHECK(h.max_held <= *h.window_bound);
  CHECK(h.core->progress(h.now).peers[P1].timeouts > 0);
}

// ---- validating answers -------------------------------------------------------------------

TEST_CASE("SnapshotSyncCore: malformed item responses are rejected and the range fetched again",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 45);
  park_all_fetches(h, info);
  const auto fetch = *h.parked_item_fetch(P1);
  const auto range = fetch.range;
  REQUIRE(range.size() == 10);

  SECTION("fewer items than the range") {
    auto items = items_of(info, range);
    items.pop_back();
    h.feed(P1, Items{info.at, range, items});
  }
  SECTION("more items than the range") {
    auto items = items_of(info, range);
    items.push_back("extra");
    h.feed(P1, Items{info.at, range, items});
  }
  SECTION("a range reaching outside the request") {
    const auto shifted = ItemRange{range.first() + 5, range.last() + 5};
    h.feed(P1, Items{info.at, shifted, items_of(info, shifted)});
  }
  SECTION("an empty response for a range not in flight") {
    h.feed(P1, Items{info.at, ItemRange{range.first(), range.last() + 1}, {}});
  }
  SECTION("items with an empty range") {
    h.feed(P1, Items{info.at, ItemRange{}, {"item"}});
  }
  const auto counters = h.core->counters();
  CHECK(counters.bad_responses == 1);
  CHECK(h.peer_progress(P1).bad_responses == 1);
  CHECK(h.peer_progress(P1).items == 0);
  CHECK_FALSE(h.peer_progress(P1).excluded);
  CHECK(counters.late_responses == 0);

  answer_everything(h);
  h.require_ok();
  h.require_installed(info);
}

TEST_CASE("SnapshotSyncCore: unsolicited items are bad, items of another snapshot only late",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 45);
  park_all_fetches(h, info);
  // Nobody was asked for 41..=45 yet (the window spans 30).
  const auto unasked = item_range(41, 45);
  REQUIRE(h.count_sent(0, [&](const Outgoing& o) {
    const auto* fetch = item_fetch(o);
    return fetch != nullptr && fetch->range.overlaps(unasked);
  }) == 0);

  SECTION("unsolicited") {
    h.feed(P1, Items{info.at, unasked, items_of(info, unasked)});
    CHECK(h.core->counters().bad_responses == 1);
    CHECK(h.peer_progress(P1).bad_responses == 1);
    CHECK(h.core->counters().late_responses == 0);
  }
  SECTION("the range asked, of another snapshot") {
    const auto range = h.parked_item_fetch(P1)->range;
    const auto stale = snapshot_at(180, 45);
    h.feed(P1, Items{stale.at, range, items_of(stale, range)});
    CHECK(h.core->counters().late_responses == 1);
    CHECK(h.core->counters().bad_responses == 0);
    CHECK(h.peer_progress(P1).bad_responses == 0);
    // The request it did not answer is still in flight: P1's honest answer is taken later.
    CHECK(h.peer_progress(P1).items == 0);
  }
  SECTION("from a peer that is not bonded") {
    h.feed(P4, Items{info.at, unasked, items_of(info, unasked)});
    CHECK(h.core->counters().unbonded_messages == 1);
    CHECK(h.core->counters().bad_responses == 0);
  }

  answer_everything(h);
  h.require_ok();
  h.require_installed(info);
}

TEST_CASE("SnapshotSyncCore: a duplicate of accepted items is dropped and not the peer's fault",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 45);
  park_all_fetches(h, info);
  const auto range = h.parked_item_fetch(P2)->range;
  const Items answer{info.at, range, items_of(info, range)};
  h.feed(P2, answer);
  CHECK(h.peer_progress(P2).items == range.size());
  h.feed(P2, answer);
  CHECK(h.core->counters().duplicate_responses == 1);
  CHECK(h.core->counters().bad_responses == 0);
  CHECK(h.peer_progress(P2).items == range.size());
  std::erase_if(h.parked, [&](const Outgoing& o) {
    const auto* fetch = item_fetch(o);
    return o.peer == P2 && fetch != nullptr && fetch->range == range;
  });

  answer_everything(h);
  h.require_ok();
  h.require_installed(info);
}

TEST_CASE("SnapshotSyncCore: a peer that dropped the snapshot answers empty, its range goes elsewhere",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 45);
  park_all_fetches(h, info);
  const auto range = h.parked_item_fetch(P1)->range;
  // P1 dropped the snapshot (its TTL ran out): it echoes the range with no items.
  h.peers[P1].snapshot.reset();
  const auto before = h.sent.size();
  h.feed(P1, *h.honest_answer(P1, Message{FetchItemsRequest{info.at, range}}));
  CHECK(h.core->counters().empty_responses == 1);
  CHECK(h.core->counters().bad_responses == 0);
  CHECK(h.peer_progress(P1).bad_responses == 0);
  std::erase_if(h.parked, [](const Outgoing& o) { return o.peer == P1; });

  answer_everything(h);
  h.require_ok();
  h.require_installed(info);
  // The range came from another peer; P1 was not asked for items again.
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<FetchItemsRequest>(o, P1); }) == 0);
  CHECK(h.count_sent(before,
                     [&](const Outgoing& o) { return is_item_fetch_elsewhere(o, P1, range.first()); }) >= 1);
  CHECK(h.peer_progress(P1).items == 0);
}

TEST_CASE("SnapshotSyncCore: a peer is excluded after max_bad_responses", "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 45);
  park_all_fetches(h, info);
  REQUIRE(h.config.replay.max_bad_responses == 3);
  for (std::uint32_t i = 1; i <= 3; ++i) {
    h.feed(P1, Items{info.at, item_range(44, 45), {"bad", "bad"}}); // unsolicited
    CHECK(h.peer_progress(P1).bad_responses == i);
  }
  CHECK(h.peer_progress(P1).excluded);
  CHECK(h.core->counters().excluded_peers == 1);
  const auto excluded_at = h.sent.size();
  // Its later messages are ignored, even honest ones.
  const auto range = h.parked_item_fetch(P1)->range;
  h.feed(P1, Items{info.at, range, items_of(info, range)});
  h.feed(P1, SnapshotOffer{info});
  CHECK(h.peer_progress(P1).items == 0);
  CHECK(h.core->counters().bad_responses == 3);
  std::erase_if(h.parked, [](const Outgoing& o) { return o.peer == P1; });

  answer_everything(h);
  h.require_ok();
  h.require_installed(info);
  CHECK(h.count_sent(excluded_at, [](const Outgoing& o) { return o.peer == P1; }) == 0);
  CHECK(h.peer_progress(P1).items == 0);
  CHECK(h.peer_progress(P2).items + h.peer_progress(P3).items == 45);
}

TEST_CASE("SnapshotSyncCore: when every peer is excluded the session fails", "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 45);
  park_all_fetches(h, info);
  for (const auto peer : {P1, P2, P3}) {
    for (int i = 0; i < 3; ++i) {
      h.feed(peer, Items{info.at, item_range(44, 45), {"bad", "bad"}});
    }
  }
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::failed);
  CHECK(h.core->outcome()->reason.find("excluded") != std::string::npos);
  CHECK(h.core->counters().excluded_peers == 3);
  CHECK(h.sink.calls.empty());
  CHECK_FALSE(h.core->next_deadline());
}

// ---- timeouts and departures ---------------------------------------------------------------

TEST_CASE("SnapshotSyncCore: a timed-out item fetch goes to another peer, its late answer is dropped",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 45);
  park_fetches(h, info, {P1});
  const auto range = h.parked_item_fetch(P1)->range;
  CHECK(h.core->counters().timeouts == 0);

  // Tick until the fetch to P1 expires.
  std::size_t before = 0;
  while (h.core->counters().timeouts == 0) {
    before = h.sent.size();
    h.tick();
    REQUIRE(h.now - TimePoint{} < std::chrono::minutes{1});
  }
  CHECK(h.now - TimePoint{} <= h.config.replay.fetch_timeout + std::chrono::seconds{1});
  CHECK(h.peer_progress(P1).timeouts == 1);
  // P1 is asked whether it still holds the snapshot; its range goes to another peer.
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<SnapshotQuery>(o, P1); }) == 1);
  CHECK(h.count_sent(before,
                     [&](const Outgoing& o) { return is_item_fetch_elsewhere(o, P1, range.first()); }) == 1);
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<FetchItemsRequest>(o, P1); }) == 0);

  // P1's answer comes after all: late, not bad.
  h.feed(P1, Items{info.at, range, items_of(info, range)});
  CHECK(h.core->counters().late_responses == 1);
  CHECK(h.core->counters().bad_responses == 0);
  CHECK(h.peer_progress(P1).items == 0);
  h.parked.clear();
  h.peers[P1].answers_fetches = true;

  h.run();
  h.require_ok();
  h.require_installed(info);
}

TEST_CASE("SnapshotSyncCore: a source whose bond terminates mid-transfer leaves its ranges to the others",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 95);
  park_fetches(h, info, {P1});
  const auto range = h.parked_item_fetch(P1)->range;
  REQUIRE(h.core->progress(h.now).snapshot->received > 0);

  // P1 leaves: its range is asked of another peer at once, without waiting for a timeout.
  const auto before = h.sent.size();
  h.bond(P1, BondEvent::Kind::terminated);
  CHECK(h.count_sent(before,
                     [&](const Outgoing& o) { return is_item_fetch_elsewhere(o, P1, range.first()); }) == 1);
  h.parked.clear();
  // Whatever P1 still sends is ignored.
  h.feed(P1, Items{info.at, range, items_of(info, range)});
  CHECK(h.core->counters().unbonded_messages == 1);
  CHECK(h.core->counters().bad_responses == 0);

  h.run();
  h.require_ok();
  h.require_installed(info);
  CHECK(h.core->counters().timeouts == 0);
  CHECK(h.count_sent(before, [](const Outgoing& o) { return o.peer == P1; }) == 0);
  CHECK(h.peer_progress(P1).items == 0);
}

TEST_CASE("SnapshotSyncCore: a peer bonding mid-transfer is asked for its offer and serves",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 95);
  h.pruned_group(info);
  h.add_peers({P4}, r(151, 300));
  h.peers[P4].snapshot = info;
  h.create(h.cursor(250));
  h.start({P1, P2, P3});
  // Run until the transfer started.
  h.deliver_until_transfer_started();
  const auto before = h.sent.size();
  h.bond(P4, BondEvent::Kind::bonded);
  CHECK(h.count_sent(before, [](const Outgoing& o) { return is_to<SnapshotQuery>(o, P4); }) == 1);
  h.run();
  h.require_ok();
  h.require_installed(info);
  CHECK(h.peer_progress(P4).items > 0);
}

TEST_CASE("SnapshotSyncCore: when every source dropped the chosen snapshot the leader is asked for another",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 45);
  park_all_fetches(h, info);
  // Every member dropped the snapshot: the fetches in flight come back empty, and queries say none.
  for (auto& [id, peer] : h.peers) {
    peer.snapshot.reset();
    peer.answers_fetches = true;
  }
  h.requeue_parked();
  h.deliver_all();
  CHECK(h.core->counters().empty_responses == 3);
  CHECK_FALSE(h.core->outcome());
  const auto requests = h.snapshot_requests.size();
  // The leader's group takes a new snapshot when asked.
  const auto fresh = snapshot_at(220, 30);
  h.taken_on_request = fresh;
  h.run(std::chrono::minutes{1});
  h.require_ok();
  CHECK(h.snapshot_requests.size() > requests);
  REQUIRE(h.core->chosen());
  CHECK(*h.core->chosen() == fresh);
  h.require_installed(fresh);
  h.require_log_is_reference(221, 250);
}

// ---- installing ----------------------------------------------------------------------------

TEST_CASE("SnapshotSyncCore: a snapshot the sink refuses fails the session", "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 25);
  h.pruned_group(info);
  h.sink.refuse = "undecodable header";
  h.create(h.cursor(250), h.ref_entries(251, 255));
  h.start();
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::failed);
  CHECK(h.core->outcome()->reason.find("undecodable header") != std::string::npos);
  CHECK(h.core->outcome()->last == h.cursor(100));
  REQUIRE(h.sink.calls.size() == 1);
  CHECK(h.sink.calls[0].items == all_items_of(info));
  CHECK_FALSE(h.core->installed());
  CHECK(h.core->replay() == nullptr);
  h.require_log_is_reference(1, 100);
  CHECK_FALSE(h.core->next_deadline());
}

TEST_CASE(
    "SnapshotSyncCore: after the install, entries up to the target are replayed and the buffer appended",
    "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 45);
  h.pruned_group(info);
  h.create(h.cursor(250), h.ref_entries(251, 260));
  h.start();
  // Run until the transfer started, then the leader sends more.
  h.deliver_until_transfer_started();
  h.buffer(h.cursor(260), h.ref_entries(261, 265));
  CHECK(h.core->progress(h.now).buffered == 15);
  // Stale batches are ignored.
  h.buffer(h.cursor(150), h.ref_entries(151, 155));
  CHECK(h.core->counters().stale_leader_batches == 1);
  CHECK(h.core->counters().max_buffered_entries == 15);
  CHECK(h.count_sent(0, is<FetchEntriesRequest>) == 0);

  // Deliver up to the install.
  h.deliver_until_installed();
  h.require_installed(info);
  CHECK(h.core->phase() == Phase::replay);
  REQUIRE(h.core->replay() != nullptr);
  CHECK(h.core->replay()->target() == h.cursor(250));
  CHECK(h.local.last() == info.at);
  const auto installed_at = h.sent.size();

  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  CHECK(h.core->outcome()->last == h.cursor(265));
  h.require_log_is_reference(201, 265);
  // The replay fetched only (snapshot, target]: nothing at or below the snapshot, nothing buffered.
  CHECK(h.count_sent(installed_at, is<FetchEntriesRequest>) > 0);
  for (const auto& outgoing : h.sent) {
    if (const auto* fetch = std::get_if<FetchEntriesRequest>(&outgoing.message)) {
      CHECK(r(201, 250).contains(fetch->range));
    }
  }
  CHECK(h.count_sent(installed_at, [](const Outgoing& o) {
    return is<FetchItemsRequest>(o) || is<SnapshotQuery>(o) || is<SnapshotRequest>(o);
  }) == 0);
  // Late snapshot answers are dropped quietly once installed.
  h.feed(P1, SnapshotOffer{info});
  h.feed(P1, Items{info.at, item_range(1, 2), {"x", "y"}});
  CHECK(h.sink.calls.size() == 1);
}

TEST_CASE("SnapshotSyncCore: a buffer that overflows during the transfer is replayed from peers",
          "[snapshot][snapshot_session]") {
  auto config = Harness::default_config();
  config.replay.max_buffered_entries = 8;
  Harness h(300, config);
  const auto info = snapshot_at(200, 25);
  h.pruned_group(info);
  h.create(h.cursor(250), h.ref_entries(251, 255));
  h.start();
  h.deliver_until_transfer_started();
  h.buffer(h.cursor(255), h.ref_entries(256, 265));
  CHECK(h.core->counters().buffer_overflows == 1);
  CHECK(h.core->progress(h.now).buffered == 0);
  CHECK(h.core->progress(h.now).target == h.cursor(265));
  h.run();
  h.require_ok();
  h.require_installed(info);
  h.require_log_is_reference(201, 265);
  CHECK(h.count_sent(0, [](const Outgoing& o) {
    const auto* fetch = std::get_if<FetchEntriesRequest>(&o.message);
    return fetch != nullptr && fetch->range.contains(Index{260});
  }) >= 1);
}

TEST_CASE("SnapshotSyncCore: a snapshot covering the target keeps only the buffered entries after it",
          "[snapshot][snapshot_session]") {
  Harness h;
  /// Runs a session to `target` with the entries first..=last buffered, to the install of `info`.
  const auto install = [&h](const SnapshotInfo& info, std::uint64_t target, std::uint64_t first,
                            std::uint64_t last) {
    h.pruned_group(info);
    h.create(h.cursor(target), h.ref_entries(first, last));
    h.start();
    h.run();
    h.require_ok();
    h.require_installed(info);
  };
  SECTION("buffer reaching past the snapshot") {
    install(snapshot_at(200, 25), 190, 191, 210);
    CHECK(h.core->outcome()->status == SyncStatus::completed);
    CHECK(h.core->outcome()->last == h.cursor(210));
    // 191..=200 are in the snapshot; 201..=210 follow it.
    h.require_log_is_reference(201, 210);
    CHECK(h.core->replay() == nullptr);
  }
  SECTION("target at the snapshot") {
    install(snapshot_at(200, 25), 200, 201, 204);
    h.require_log_is_reference(201, 204);
  }
  SECTION("buffer ending at or before the snapshot") {
    const auto info = snapshot_at(200, 25);
    install(info, 190, 191, 195);
    CHECK(h.local.available().empty());
    CHECK(h.local.last() == info.at);
  }
  SECTION("buffer contradicting the snapshot") {
    const auto info = snapshot_at(200, 25, Term{42});
    install(info, 190, 191, 210);
    CHECK(h.local.available().empty());
    CHECK(h.local.last() == info.at);
  }
  CHECK(h.count_sent(0, is<FetchEntriesRequest>) == 0);
}

TEST_CASE("SnapshotSyncCore: a snapshot of no items is installed at once", "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 0);
  h.pruned_group(info);
  h.create(h.cursor(250));
  h.start();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(h.deliver_one()); // the probe
  }
  REQUIRE(h.core->phase() == Phase::snapshot);
  REQUIRE(h.sink.calls.empty());
  // The leader's offer alone installs it.
  REQUIRE(h.queue.front().peer == P3);
  REQUIRE(h.deliver_one());
  REQUIRE(h.sink.calls.size() == 1);
  CHECK(h.sink.calls[0].info == info);
  CHECK(h.sink.calls[0].items.empty());
  CHECK(h.core->installed() == info.at);
  h.run();
  h.require_ok();
  CHECK(h.count_sent(0, is<FetchItemsRequest>) == 0);
  h.require_log_is_reference(201, 250);
}

// ---- cancel ---------------------------------------------------------------------------------

TEST_CASE("SnapshotSyncCore: cancel ends the session with nothing more to send",
          "[snapshot][snapshot_session]") {
  Harness h;
  const auto info = snapshot_at(200, 45);
  h.pruned_group(info);
  h.create(h.cursor(250));
  h.start();

  SECTION("while probing") {
    // Leave the probe's requests in the outbox: cancel drops them.
    h.core->on_bond(BondEvent{P4, BondEvent::Kind::bonded}, h.now);
    CHECK(h.core->phase() == Phase::probing);
  }
  SECTION("while fetching items") {
    h.deliver_until_transfer_started();
    h.core->on_bond(BondEvent{P4, BondEvent::Kind::bonded}, h.now);
    CHECK(h.core->phase() == Phase::snapshot);
  }
  SECTION("while replaying after the install") {
    h.deliver_until_installed();
    h.core->on_bond(BondEvent{P4, BondEvent::Kind::bonded}, h.now);
    CHECK(h.core->phase() == Phase::replay);
  }
  const auto installs = h.sink.calls.size();
  h.core->cancel("stop");
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::cancelled);
  CHECK(h.core->outcome()->reason == "stop");
  CHECK(h.core->take_outbox().empty());
  CHECK_FALSE(h.core->next_deadline());
  // Nothing more happens, whatever arrives.
  h.core->cancel("again");
  CHECK(h.core->outcome()->reason == "stop");
  h.deliver_all();
  h.core->on_message(P3, SnapshotOffer{info}, h.now);
  h.core->on_message(P1, Items{info.at, item_range(1, 10), items_of(info, item_range(1, 10))}, h.now);
  h.core->on_tick(h.now + std::chrono::minutes{1});
  h.core->on_bond(BondEvent{P1, BondEvent::Kind::terminated}, h.now);
  h.core->on_buffer(h.cursor(250), h.ref_entries(251, 252), h.now);
  CHECK(h.core->take_outbox().empty());
  CHECK(h.core->outcome()->status == SyncStatus::cancelled);
  CHECK(h.sink.calls.size() == installs);
}
