// Unit tests of LogReplayCore, the sans-I/O logic of a log-replay catch-up
// session, driven by hand: a local InMemoryLog, fake peers that answer the
// core's outbox from a reference log, and a clock advanced by the test.

#include <catch2/catch.hpp>

#include "log_replay_harness.hpp"
#include "reference_history.hpp"
#include "session_harness.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/core/format.hpp>
#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/log_replay/log_replay_core.hpp>

using namespace mosaik;
using namespace mosaik::sync;

namespace {

using Core = LogReplayCore<std::string>;
using Message = LogReplayMessage<std::string>;
using Response = FetchEntriesResponse<std::string>;
using Outgoing = Core::Outgoing;
using E = Entry<std::string>;

using namespace mosaik::test;

using FakePeer = LogReplayPeer;
using Harness = LogReplayHarness;

/// SessionCounters::target_disagreements where the library has it (it is being added), else 0.
template <class Counters>
std::uint64_t target_disagreements(const Counters& counters) {
  if constexpr (requires { counters.target_disagreements; }) {
    return counters.target_disagreements;
  } else {
    return 0;
  }
}

bool is_fetch_to(const Outgoing& outgoing, PeerId peer) {
  return outgoing.peer == peer && std::holds_alternative<FetchEntriesRequest>(outgoing.message);
}
bool is_availability_request_to(const Outgoing& outgoing, PeerId peer) {
  return outgoing.peer == peer && std::holds_alternative<AvailabilityRequest>(outgoing.message);
}
bool is_fetch_covering(const Outgoing& outgoing, Index index) {
  const auto* fetch = std::get_if<FetchEntriesRequest>(&outgoing.message);
  return fetch != nullptr && fetch->range.contains(index);
}
/// A fetch to `peer` that asks for anything after `last`.
bool is_fetch_beyond(const Outgoing& outgoing, PeerId peer, Index last) {
  const auto* fetch = std::get_if<FetchEntriesRequest>(&outgoing.message);
  return outgoing.peer == peer && fetch != nullptr && fetch->range.last() > last;
}
/// What the scheduler may fetch from `peer` (empty when unknown).
IndexRange scheduled_availability(const Harness& h, PeerId peer) {
  return h.core->scheduler().availability(peer).value_or(IndexRange{});
}

} // namespace

// ---- the happy path -------------------------------------------------------------

TEST_CASE("LogReplayCore: completes, and the log equals the reference", "[session_core]") {
  const bool with_leader = GENERATE(false, true);
  INFO("leader known: " << with_leader);
  Harness h(250);
  h.add_peers({P1, P2, P3}, r(1, 250));
  if (with_leader) {
    h.leader = P3;
  }
  h.create(h.cursor(200), h.ref_entries(201, 210));
  CHECK(h.core->buffered() == 10);
  h.start();
  CHECK(h.count_sent(0, [](const Outgoing& o) {
    return std::holds_alternative<AvailabilityRequest>(o.message);
  }) == 3);

  // Part of the way, the leader sends more entries: they are held for the end.
  for (int i = 0; i < 12; ++i) {
    h.deliver_one();
  }
  REQUIRE_FALSE(h.core->outcome());
  h.buffer(h.cursor(210), h.ref_entries(211, 230));
  h.buffer(h.cursor(230), h.ref_entries(231, 250));
  CHECK(h.core->buffered() == 50);
  CHECK(h.local.last().index < Index{200});

  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  CHECK(h.core->outcome()->ok());
  CHECK(h.core->outcome()->last == h.cursor(250));
  h.require_log_is_reference(250);

  const auto progress = h.core->progress(h.now);
  CHECK(progress.done == 200);
  CHECK(progress.total == 200);
  CHECK(progress.remaining.empty());
  CHECK(progress.target == h.cursor(200));
  std::uint64_t from_peers = 0;
  for (const auto& [peer, record] : progress.peers) {
    from_peers += record.entries;
    CHECK(record.bad_responses == 0);
  }
  CHECK(from_peers == 200);
  CHECK(progress.counters.bad_responses == 0);
  CHECK(progress.counters.timeouts == 0);
  CHECK(progress.counters.empty_responses == 0);
  CHECK_FALSE(h.core->next_deadline().has_value());
  CHECK(h.core->take_outbox().empty());
}

TEST_CASE("LogReplayCore: partial answers are accepted and the rest is fetched again", "[session_core]") {
  Harness h(100);
  h.add_peers({P1, P2}, r(1, 100));
  SECTION("prefixes (capped by bytes)") {
    h.intercept = [](Harness& harness, const Outgoing& outgoing) {
      const auto* fetch = std::get_if<FetchEntriesRequest>(&outgoing.message);
      if (fetch == nullptr) {
        return false;
      }
      const auto served = fetch->range.take_front(3);
      harness.feed(outgoing.peer,
                   Response{served, harness.ref_entries(served.first().value(), served.last().value())});
      return true;
    };
  }
  SECTION("suffixes (a prefix pruned since the announcement) are not taken: asked again") {
    // Entries carry no index: a later start is indistinguishable from a shift.
    auto answered = std::make_shared<std::set<std::pair<std::uint64_t, std::uint64_t>>>();
    h.intercept = [answered](Harness& harness, const Outgoing& outgoing) {
      const auto* fetch = std::get_if<FetchEntriesRequest>(&outgoing.message);
      if (fetch == nullptr || fetch->range.size() < 2 ||
          !answered->insert({fetch->range.first().value(), fetch->range.last().value()}).second) {
        return false;
      }
      const auto served = fetch->range.after(fetch->range.first());
      harness.feed(outgoing.peer,
                   Response{served, harness.ref_entries(served.first().value(), served.last().value())});
      return true;
    };
  }
  h.create(h.cursor(100));
  h.start();
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(100);
  CHECK(h.core->counters().bad_responses == 0);
}

TEST_CASE("LogReplayCore: a target at or behind the local log ends at once", "[session_core]") {
  Harness h(100);
  h.prefill(50);
  h.add_peers({P1}, r(1, 100));

  SECTION("matching term, the leader's entries are already held") {
    h.create(h.cursor(40), h.ref_entries(41, 45));
    REQUIRE(h.core->outcome());
    CHECK(h.core->outcome()->status == SyncStatus::completed);
    CHECK(h.core->outcome()->last == h.cursor(50));
    h.require_log_is_reference(50);
  }
  SECTION("matching term at the last entry: the leader's entries are appended") {
    h.create(h.cursor(50), h.ref_entries(51, 55));
    REQUIRE(h.core->outcome());
    CHECK(h.core->outcome()->status == SyncStatus::completed);
    CHECK(h.core->outcome()->last == h.cursor(55));
    h.require_log_is_reference(55);
  }
  SECTION("matching term, the leader's entries overlap the end of the log") {
    h.create(h.cursor(45), h.ref_entries(46, 60));
    REQUIRE(h.core->outcome());
    CHECK(h.core->outcome()->status == SyncStatus::completed);
    h.require_log_is_reference(60);
  }
  SECTION("another term at the target") {
    h.create(Cursor{Term{9}, Index{40}}, h.ref_entries(41, 45));
    REQUIRE(h.core->outcome());
    CHECK(h.core->outcome()->status == SyncStatus::term_mismatch);
    h.require_log_is_reference(50);
  }
  SECTION("the leader's entries contradict the local log") {
    auto entries = h.ref_entries(41, 45);
    entries[2].term = Term{7};
    h.create(h.cursor(40), std::move(entries));
    REQUIRE(h.core->outcome());
    CHECK(h.core->outcome()->status == SyncStatus::failed);
    h.require_log_is_reference(50);
  }
  SECTION("the target lies in the pruned prefix") {
    h.local.prune_prefix(Index{30});
    h.create(h.cursor(20));
    REQUIRE(h.core->outcome());
    CHECK(h.core->outcome()->status == SyncStatus::failed);
  }
  CHECK(h.sent.empty());
  CHECK_FALSE(h.core->next_deadline().has_value());
}

TEST_CASE("LogReplayCore: no message is sent once the session has ended", "[session_core]") {
  Harness h(100);
  h.add_peers({P1, P2}, r(1, 100));
  SECTION("ended at once: start() asks nobody") {
    h.prefill(50);
    h.create(h.cursor(40));
    REQUIRE(h.core->outcome());
    h.start();
    CHECK(h.sent.empty());
  }
  SECTION("cancelled: a peer that bonds afterwards is not asked") {
    h.create(h.cursor(100));
    h.start();
    h.core->cancel();
    h.queue.clear();
    const auto mark = h.sent.size();
    h.bond(P4, BondEvent::Kind::bonded);
    CHECK(h.sent.size() == mark);
  }
  SECTION("completed: a peer that bonds afterwards is not asked") {
    h.create(h.cursor(100));
    h.start();
    h.run();
    REQUIRE(h.core->outcome());
    REQUIRE(h.core->outcome()->status == SyncStatus::completed);
    const auto mark = h.sent.size();
    h.bond(P4, BondEvent::Kind::bonded);
    CHECK(h.sent.size() == mark);
  }
}

TEST_CASE("LogReplayCore: the leader gets no fetch before the other peers announced what they hold",
          "[session_core]") {
  Harness h(100);
  h.leader = P1;
  h.config.speculative_start = false; // the rule holds with guesses too (see "speculative start")
  SECTION("the leader answers first: it waits for the others") {
    h.add_peers({P1, P2}, r(1, 100));
    h.create(h.cursor(100));
    h.start();
    REQUIRE(h.queue.size() == 2);
    REQUIRE(h.queue.front().peer == P1);
    h.deliver_one(); // the leader's availability
    CHECK(h.count_sent(0, [](const Outgoing& o) {
      return std::holds_alternative<FetchEntriesRequest>(o.message);
    }) == 0);
    const auto mark = h.sent.size();
    h.deliver_one(); // P2's
    const auto fetches = h.count_sent(
        mark, [](const Outgoing& o) { return std::holds_alternative<FetchEntriesRequest>(o.message); });
    CHECK(fetches == 2);
    REQUIRE(h.sent.size() > mark);
    CHECK(is_fetch_to(h.sent[mark], P2)); // the non-leader first, with the head of the gap
    CHECK(is_fetch_covering(h.sent[mark], Index{1}));
  }
  SECTION("another peer never answers: the leader gets work once the hold expires") {
    h.add_peers({P1}, r(1, 100)); // P2 is bonded but silent
    h.create(h.cursor(100));
    h.core->start({P1, P2}, h.now);
    h.started = true;
    h.collect();
    h.deliver_all();
    CHECK(h.count_sent(0, [](const Outgoing& o) {
      return std::holds_alternative<FetchEntriesRequest>(o.message);
    }) == 0);
    REQUIRE(h.core->next_deadline().has_value());
    CHECK(*h.core->next_deadline() <= h.now + h.config.availability_retry_initial);
    h.tick();
    CHECK(h.count_sent(0, [](const Outgoing& o) { return is_fetch_to(o, P1); }) >= 1);
  }
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(100);
}

// ---- bad responses ---------------------------------------------------------------

namespace {

/// Three peers hold everything; P1 sits on its first fetch while P2 and P3
/// answer theirs, so the session holds chunks out of order behind P1's.
struct BadResponseSetup {
  Harness h{100};
  IndexRange p1_range;

  BadResponseSetup(std::uint64_t prefill, std::uint64_t target) {
    h.config.max_bad_responses = 3;
    h.prefill(prefill);
    h.add_peers({P1, P2, P3}, r(1, 100));
    h.peers[P1].answers_fetches = false;
    h.create(h.cursor(target));
    h.start();
    h.deliver_all();
    REQUIRE(h.parked.size() == 1);
    REQUIRE(h.parked[0].peer == P1);
    p1_range = std::get<FetchEntriesRequest>(h.parked[0].message).range;
    REQUIRE(p1_range.first() == Index{prefill + 1});
    h.peers[P1].answers_fetches = true;
  }
};

} // namespace

TEST_CASE("LogReplayCore: every kind of bad response is dropped, counted and rescheduled", "[session_core]") {
  BadResponseSetup setup(0, 100);
  auto& h = setup.h;
  REQUIRE(setup.p1_range == r(1, 10));
  const auto chunks_before = h.core->chunks_held();
  // P2's and P3's answers, waiting behind P1's, up to the window's end: two
  // rounds of three peers' one-request windows of 10 ([1..=60]).
  REQUIRE(chunks_before == 5);
  REQUIRE(h.local.last().index == Index{0});

  PeerId culprit = P1;
  bool releases_p1_request = true; // the bad answer overlaps P1's request, which returns to the pool
  bool contradicts_target = false; // well formed, but against the leader's cursor: not charged as bad
  Response bad;

  SECTION("unsolicited: a peer answers a request made to another") {
    culprit = P2;
    releases_p1_request = false;
    bad = Response{r(1, 10), h.fake_entries(r(1, 10), "evil")};
  }
  SECTION("unsolicited: a range nobody asked for") {
    releases_p1_request = false;
    bad = Response{r(61, 70), h.fake_entries(r(61, 70), "evil")};
  }
  SECTION("outside the requested range") {
    bad = Response{r(5, 14), h.fake_entries(r(5, 14), "evil")};
  }
  SECTION("more entries than the range") {
    bad = Response{r(1, 10), h.fake_entries(r(1, 11), "evil")};
  }
  SECTION("fewer entries than the range") {
    bad = Response{r(1, 10), h.fake_entries(r(1, 9), "evil")};
  }
  SECTION("entries with an empty range") {
    releases_p1_request = false;
    bad = Response{IndexRange{}, h.fake_entries(r(1, 3), "evil")};
  }
  SECTION("an empty range and no entries") {
    releases_p1_request = false;
    bad = Response{IndexRange{}, {}};
  }
  SECTION("the reference's empty answer, 0..=0 with no entries") {
    releases_p1_request = false;
    bad = Response{r(0, 0), {}};
  }
  SECTION("0..=0 with one entry") {
    releases_p1_request = false;
    bad = Response{r(0, 0), h.fake_entries(r(1, 1), "evil")};
  }
  SECTION("no entries for a range other than the request") {
    bad = Response{r(1, 5), {}};
  }
  SECTION("terms going backwards") {
    bad = Response{r(1, 10), h.fake_entries(r(1, 10), "evil")};
    for (std::size_t i = 4; i < 7; ++i) {
      bad.entries[i].term = Term{2};
    }
  }
  SECTION("a zero term") {
    bad = Response{r(1, 10), h.fake_entries(r(1, 10), "evil")};
    bad.entries[3].term = Term{0};
  }
  SECTION("all zero terms") {
    bad = Response{r(1, 10), h.fake_entries(r(1, 10), "evil")};
    for (auto& entry : bad.entries) {
      entry.term = Term{0};
    }
  }
  CAPTURE(fmt::format("{}", bad.range), bad.entries.size());

  const auto mark = h.sent.size();
  h.feed(culprit, Message{bad});

  const std::uint64_t expected_bad = contradicts_target ? 0 : 1;
  CHECK(h.core->counters().bad_responses == expected_bad);
  CHECK(h.core->counters().target_disagreements == 1 - expected_bad);
  CHECK(h.peer_progress(culprit).bad_responses == expected_bad);
  CHECK_FALSE(h.peer_progress(culprit).excluded);
  CHECK(h.local.last().index == Index{0}); // nothing appended
  CHECK(h.core->chunks_held() == chunks_before);
  if (releases_p1_request) {
    // The range is asked again right away (of the least recently used idle peer: P1 again).
    CHECK(h.count_sent(mark, [](const Outgoing& o) { return is_fetch_covering(o, Index{1}); }) == 1);
  } else {
    CHECK(h.core->scheduler().find_inflight(P1, r(1, 10)).has_value());
  }

  h.release_parked();
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(100); // nothing of the bad answer
  CHECK(h.core->counters().bad_responses == expected_bad);
}

TEST_CASE("LogReplayCore: a duplicate of an accepted answer is dropped, counted, and not the peer's fault",
          "[session_core]") {
  // Networks duplicate messages: a second copy must not push an honest peer towards exclusion.
  BadResponseSetup setup(0, 100);
  auto& h = setup.h;
  const auto answer = *h.honest_answer(P1, h.parked[0].message);
  h.parked.clear();

  SECTION("while the first copy waits to be appended") {
    const auto* p2_fetch =
        &*std::find_if(h.sent.begin(), h.sent.end(), [](const Outgoing& o) { return is_fetch_to(o, P2); });
    const auto p2_answer = *h.honest_answer(P2, p2_fetch->message);
    h.feed(P2, p2_answer); // P2's answer again
    CHECK(h.core->counters().duplicate_responses == 1);
    CHECK(h.peer_progress(P2).bad_responses == 0);
    CHECK(h.core->chunks_held() == 5);
    h.feed(P1, answer);
  }
  SECTION("after the first copy was appended") {
    h.feed(P1, answer);
    const auto appended = h.local.last().index;
    REQUIRE(appended == Index{60}); // P1's head and the window held behind it
    h.feed(P1, answer);
    CHECK(h.core->counters().duplicate_responses == 1);
    CHECK(h.peer_progress(P1).bad_responses == 0);
    CHECK(h.local.last().index == appended);
  }
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(100);
  CHECK(h.core->counters().bad_responses == 0);
  CHECK(h.core->counters().duplicate_responses == 1);
}

TEST_CASE("LogReplayCore: one answer contradicting the target is dropped, counted and rescheduled",
          "[session_core]") {
  // Well-formed answers whose terms contradict the leader's cursor. One such
  // answer among three peers is a bad answer (the others agree with the
  // leader): it must be dropped, counted, never appended, and its range asked again.
  std::unique_ptr<BadResponseSetup> setup;
  Response bad;
  Index first;
  std::uint64_t target = 0;
  SECTION("a term above the target's") {
    target = 100; // t3/i100
    setup = std::make_unique<BadResponseSetup>(0, target);
    first = Index{1};
    bad = Response{r(1, 10), setup->h.fake_entries(r(1, 10), "evil")};
    bad.entries.back().term = Term{4};
  }
  SECTION("a wrong term at the target index") {
    // Local 1..=40 (term 1); target t2/i50. Term 1 everywhere: non-decreasing,
    // not above the target's term, but wrong at the target.
    target = 50;
    setup = std::make_unique<BadResponseSetup>(40, target);
    first = Index{41};
    bad = Response{r(41, 50), setup->h.fake_entries(r(41, 50), "evil")};
    for (auto& entry : bad.entries) {
      entry.term = Term{1};
    }
  }
  auto& h = setup->h;
  REQUIRE(setup->p1_range == bad.range);
  const auto appended = h.local.last();
  const auto mark = h.sent.size();
  h.feed(P1, Message{bad});

  REQUIRE_FALSE(h.core->outcome()); // one peer of three: not a term mismatch
  CHECK(h.local.last() == appended);
  CHECK(h.count_sent(mark, [first](const Outgoing& o) { return is_fetch_covering(o, first); }) == 1);
  // Counted where a host can see it: as a bad response, or as a contradiction
  // of the target (such an answer may be honest: the target may be stale).
  CHECK(h.core->counters().bad_responses + target_disagreements(h.core->counters()) == 1);
  CHECK(h.peer_progress(P1).bad_responses <= 1);
  CHECK_FALSE(h.peer_progress(P1).excluded);

  h.parked.clear();
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(target);
}

TEST_CASE("LogReplayCore: a peer is excluded after max_bad_responses", "[session_core]") {
  Harness h(200);
  h.config.max_bad_responses = 3;
  h.add_peers({P1, P2, P3}, r(1, 200));
  std::uint64_t bad_sent = 0;
  h.intercept = [&bad_sent](Harness& harness, const Outgoing& outgoing) {
    const auto* fetch = std::get_if<FetchEntriesRequest>(&outgoing.message);
    if (outgoing.peer != P1 || fetch == nullptr) {
      return false;
    }
    // One entry too many: always malformed.
    ++bad_sent;
    harness.feed(
        P1, Response{fetch->range,
                     harness.fake_entries(
                         IndexRange::starting_at(fetch->range.first(), fetch->range.size() + 1), "evil")});
    return true;
  };
  h.create(h.cursor(200));
  h.start();
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(200);

  CHECK(bad_sent == 3);
  CHECK(h.peer_progress(P1).excluded);
  CHECK(h.peer_progress(P1).bad_responses == 3);
  CHECK(h.peer_progress(P1).entries == 0);
  CHECK(h.core->counters().excluded_peers == 1);
  CHECK(h.core->counters().bad_responses == 3);
  // After the third bad answer, P1 is asked nothing more.
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_fetch_to(o, P1); }) == 3);
  CHECK_FALSE(h.peer_progress(P2).excluded);
  CHECK_FALSE(h.peer_progress(P3).excluded);
}

TEST_CASE("LogReplayCore: an honest empty answer is counted and not repeated at once", "[session_core]") {
  BadResponseSetup setup(0, 100);
  auto& h = setup.h;
  h.parked.clear();
  h.peers[P1].holds = IndexRange{}; // P1 pruned everything meanwhile
  const auto mark = h.sent.size();
  h.feed(P1, Response{r(1, 10), {}});

  CHECK(h.core->counters().empty_responses == 1);
  CHECK(h.core->counters().bad_responses == 0);
  CHECK(h.peer_progress(P1).bad_responses == 0);
  CHECK_FALSE(h.core->scheduler().availability(P1).has_value());
  // Not asked of P1 again; the idle peers that hold it get it.
  CHECK(h.count_sent(mark, [](const Outgoing& o) { return is_fetch_to(o, P1); }) == 0);
  CHECK(h.count_sent(mark, [](const Outgoing& o) { return is_fetch_covering(o, Index{1}); }) == 1);

  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(100);
  CHECK(h.core->counters().empty_responses == 1);
}

// ---- timeouts and peers coming and going ------------------------------------------------

TEST_CASE("LogReplayCore: a timed-out fetch goes to another peer and its late answer is dropped",
          "[session_core]") {
  BadResponseSetup setup(0, 100);
  auto& h = setup.h;
  h.parked.clear();
  h.peers[P1].answers_fetches = false;

  std::size_t mark = h.sent.size();
  for (int i = 0; i < 10 && h.core->counters().timeouts == 0; ++i) {
    mark = h.sent.size();
    h.tick();
  }
  REQUIRE(h.core->counters().timeouts == 1);
  CHECK(h.now >= TimePoint{} + h.config.fetch_timeout);
  CHECK(h.peer_progress(P1).timeouts == 1);
  CHECK_FALSE(h.core->scheduler().find_inflight(P1, r(1, 10)).has_value());
  // P1 is asked what it holds, and the range goes to an idle peer at once.
  CHECK(h.count_sent(mark, [](const Outgoing& o) { return is_availability_request_to(o, P1); }) == 1);
  CHECK(h.count_sent(mark,
                     [](const Outgoing& o) { return is_fetch_covering(o, Index{1}) && o.peer != P1; }) == 1);

  // P1's answer arrives late, before the new one: dropped, not counted as bad.
  h.feed(P1, Response{r(1, 10), h.fake_entries(r(1, 10), "late")});
  CHECK(h.core->counters().late_responses == 1);
  CHECK(h.core->counters().bad_responses == 0);
  CHECK(h.local.last().index == Index{0});

  h.peers[P1].answers_fetches = true;
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(100);
  CHECK(h.core->counters().late_responses == 1);
}

TEST_CASE("LogReplayCore: peers leaving and arriving mid-session", "[session_core]") {
  BadResponseSetup setup(0, 100);
  auto& h = setup.h;
  h.parked.clear();

  // P1 leaves with [1..=10] in flight: it is asked of another peer at once.
  auto mark = h.sent.size();
  h.bond(P1, BondEvent::Kind::terminated);
  CHECK(h.count_sent(mark, [](const Outgoing& o) { return is_fetch_covering(o, Index{1}); }) == 1);
  CHECK(h.count_sent(mark, [](const Outgoing& o) { return o.peer == P1; }) == 0);
  CHECK_FALSE(h.core->scheduler().availability(P1).has_value());

  // Its answer arrives after it left: ignored, not appended.
  h.feed(P1, Response{r(1, 10), h.fake_entries(r(1, 10), "gone")});
  CHECK(h.core->counters().unbonded_messages == 1);
  CHECK(h.core->counters().bad_responses == 0);
  CHECK(h.local.last().index == Index{0});
  h.peers.erase(P1);

  // A new peer bonds: it is asked what it holds, once.
  h.peers[P4] = FakePeer{r(1, 100)};
  mark = h.sent.size();
  h.bond(P4, BondEvent::Kind::bonded);
  CHECK(h.count_sent(mark, [](const Outgoing& o) { return is_availability_request_to(o, P4); }) == 1);
  CHECK(h.sent.size() == mark + 1);

  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(100);
}

TEST_CASE("LogReplayCore: a peer bonded twice is asked once", "[session_core]") {
  Harness h(100);
  h.add_peers({P1, P2}, r(1, 100));
  h.create(h.cursor(100));
  h.core->start({P1, P1, P2}, h.now);
  h.started = true;
  h.collect();
  h.bond(P1, BondEvent::Kind::bonded);
  h.bond(P2, BondEvent::Kind::bonded);
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_availability_request_to(o, P1); }) == 1);
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_availability_request_to(o, P2); }) == 1);

  // After its bond terminated, bonding again asks again.
  h.bond(P1, BondEvent::Kind::terminated);
  h.bond(P1, BondEvent::Kind::bonded);
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_availability_request_to(o, P1); }) == 2);

  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(100);
}

TEST_CASE("LogReplayCore: messages from unknown peers are ignored", "[session_core]") {
  Harness h(100);
  h.add_peers({P1}, r(1, 100));
  h.create(h.cursor(100));
  h.start();
  h.feed(P4, AvailabilityResponse{r(1, 100)});
  h.feed(P4, Response{r(1, 10), h.fake_entries(r(1, 10), "stranger")});
  CHECK(h.core->counters().unbonded_messages == 2);
  CHECK(h.count_sent(0, [](const Outgoing& o) { return o.peer == P4; }) == 0);
  h.run();
  REQUIRE(h.core->outcome());
  h.require_log_is_reference(100);
}

// ---- the target's term -------------------------------------------------------------

TEST_CASE("LogReplayCore: all peers hold another term at the target: term mismatch", "[session_core]") {
  // The reference has term 3 at index 100. The leader's cursor says otherwise,
  // e.g. a stale leader whose uncommitted entry was replaced. Every peer is
  // honest and consistent, so the session must end with term_mismatch
  // (never completed, and not run forever).
  const std::uint64_t target_term = GENERATE(2, 4);
  INFO("target term " << target_term << ", the peers' term at the target is 3");
  Harness h(100);
  h.add_peers({P1, P2, P3}, r(1, 100));
  h.create(Cursor{Term{target_term}, Index{100}});
  h.start();
  h.run(std::chrono::minutes{30});
  INFO("bad responses " << h.core->counters().bad_responses << ", excluded peers "
                        << h.core->counters().excluded_peers << ", local log ends at "
                        << fmt::format("{}", h.local.last()));
  REQUIRE(h.core->outcome().has_value());
  CHECK(h.core->outcome()->status == SyncStatus::term_mismatch);
  CHECK_FALSE(h.core->outcome()->ok());
}

// ---- memory bounds -----------------------------------------------------------------

TEST_CASE("LogReplayCore: a slow head chunk bounds what is held out of order", "[session_core]") {
  LogReplayConfig config = Harness::default_config();
  config.max_inflight_per_peer = 2;
  Harness h(300, config);
  h.add_peers({P1, P2, P3}, r(1, 300));
  const std::uint64_t bound = 2 * 3 * 2 * 10; // two rounds x peers x inflight x batch
  h.entries_held_bound = bound;
  // Whoever is asked for index 1 sits on it.
  h.intercept = [](Harness& harness, const Outgoing& outgoing) {
    if (is_fetch_covering(outgoing, Index{1})) {
      harness.parked.push_back(outgoing);
      return true;
    }
    return false;
  };
  h.create(h.cursor(300));
  h.start();
  h.deliver_all();
  REQUIRE(h.parked.size() == 1);
  CHECK(h.local.last().index == Index{0});
  CHECK(h.core->chunks_held() >= 1);
  CHECK(h.core->chunks_held() <= 2 * 3 * 2 - 1);
  CHECK(h.core->counters().max_entries_held <= bound - 10);
  CHECK(h.core->counters().max_chunks_held <= 2 * 3 * 2 - 1);
  // No fetch went beyond the window while the head was missing.
  for (const auto& outgoing : h.sent) {
    if (const auto* fetch = std::get_if<FetchEntriesRequest>(&outgoing.message)) {
      CHECK(fetch->range.last() <= Index{bound});
    }
  }

  h.intercept = nullptr;
  h.release_parked();
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(300);
  CHECK(h.core->counters().max_entries_held <= bound);
}

TEST_CASE("LogReplayCore: a leader buffer past max_buffered_entries moves the target", "[session_core]") {
  LogReplayConfig config = Harness::default_config();
  config.max_buffered_entries = 20;
  Harness h(200, config);
  h.add_peers({P1, P2, P3}, r(1, 200));
  h.leader = P3;
  h.create(h.cursor(100), h.ref_entries(101, 110));
  h.start();
  for (int i = 0; i < 10; ++i) {
    h.deliver_one();
  }
  REQUIRE_FALSE(h.core->outcome());
  CHECK(h.core->buffered() == 10);

  h.buffer(h.cursor(110), h.ref_entries(111, 125)); // 25 > 20
  CHECK(h.core->counters().buffer_overflows == 1);
  CHECK(h.core->target() == h.cursor(125));
  CHECK(h.core->buffered() == 0);

  h.buffer(h.cursor(125), h.ref_entries(126, 130));
  CHECK(h.core->buffered() == 5);
  CHECK(h.core->target() == h.cursor(125));

  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  CHECK(h.core->outcome()->last == h.cursor(130));
  h.require_log_is_reference(130); // nothing lost
  CHECK(h.core->counters().max_buffered_entries <= 20);
  CHECK(h.core->progress(h.now).total == 125);
}

TEST_CASE("LogReplayCore: leader batches that do not continue the buffer", "[session_core]") {
  Harness h(200);
  h.add_peers({P1, P2}, r(1, 200));
  h.create(h.cursor(100), h.ref_entries(101, 110));
  h.start();

  SECTION("behind the target: ignored") {
    h.buffer(h.cursor(50), h.ref_entries(51, 60));
    CHECK(h.core->counters().stale_leader_batches == 1);
    CHECK(h.core->buffered() == 10);
    CHECK(h.core->target() == h.cursor(100));
  }
  SECTION("terms going backwards: ignored") {
    auto entries = h.ref_entries(111, 115);
    entries[3].term = Term{1};
    h.buffer(h.cursor(110), std::move(entries));
    CHECK(h.core->counters().stale_leader_batches == 1);
    CHECK(h.core->buffered() == 10);
  }
  SECTION("re-sent from inside the buffer: the newer entries win") {
    h.buffer(h.cursor(105), h.ref_entries(106, 120));
    CHECK(h.core->buffered() == 20);
  }
  SECTION("after a hole: the target moves to the batch's position") {
    h.buffer(h.cursor(150), h.ref_entries(151, 160));
    CHECK(h.core->target() == h.cursor(150));
    CHECK(h.core->buffered() == 10);
  }
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(h.local.last().index.value());
  CHECK(h.local.last().index >= Index{110});
}

// ---- no stall ------------------------------------------------------------------------

TEST_CASE("LogReplayCore: part of the gap held by nobody arms a retry with a growing backoff",
          "[session_core]") {
  Harness h(100);
  h.add_peers({P1, P2}, r(1, 50)); // committed only up to 50 so far
  h.create(h.cursor(100));
  const auto started = h.now;
  h.start();
  h.deliver_all();
  REQUIRE_FALSE(h.core->outcome());
  CHECK(h.local.last().index == Index{50});
  REQUIRE(h.core->next_deadline().has_value());
  CHECK(h.core->scheduler().has_uncovered());

  std::vector<TimePoint> retries;
  for (int i = 0; i < 8; ++i) {
    const auto deadline = *h.core->next_deadline();
    const auto mark = h.sent.size();
    h.tick();
    CHECK(h.now == deadline);
    // At each retry both peers are asked again.
    CHECK(h.count_sent(mark, [](const Outgoing& o) { return is_availability_request_to(o, P1); }) == 1);
    CHECK(h.count_sent(mark, [](const Outgoing& o) { return is_availability_request_to(o, P2); }) == 1);
    retries.push_back(h.now);
    h.deliver_all();
    REQUIRE(h.core->next_deadline().has_value());
  }
  CHECK(retries[0] - started == h.config.availability_retry_initial);
  Duration previous = retries[0] - started;
  for (std::size_t i = 1; i < retries.size(); ++i) {
    const auto interval = retries[i] - retries[i - 1];
    INFO("retry " << i);
    CHECK(interval <= h.config.availability_retry_max);
    CHECK((interval > previous || interval == h.config.availability_retry_max));
    previous = interval;
  }
  CHECK(retries[1] - retries[0] > retries[0] - started);

  // The peers commit more: the next retry finds it and the session completes.
  h.peers[P1].holds = r(1, 100);
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(100);
}

TEST_CASE("LogReplayCore: the tail above every provider's commit index is fetched from the leader",
          "[session_core][leader_tail]") {
  // Every peer committed only up to 50; the leader P3 holds the rest,
  // uncommitted, and may need this very follower to commit it (three peers,
  // one lagging, one down): waiting for a commit would stall for ever.
  const bool leader_announces_nothing = GENERATE(false, true);
  INFO("the leader announces " << (leader_announces_nothing ? "nothing" : "1..=50"));
  Harness h(100);
  h.add_peers({P1, P2}, r(1, 50));
  h.peers[P3] = FakePeer{r(1, 100), leader_announces_nothing ? IndexRange{} : r(1, 50)};
  h.leader = P3;
  h.create(h.cursor(100));
  h.start();
  for (int i = 0; i < 3; ++i) {
    h.deliver_one(); // the three availability answers
  }
  CHECK(scheduled_availability(h, P1) == r(1, 50));
  CHECK(scheduled_availability(h, P2) == r(1, 50));
  CHECK(scheduled_availability(h, P3) == r(1, 100)); // extended to the target
  CHECK_FALSE(h.core->scheduler().has_uncovered());

  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(100);
  CHECK(h.peer_progress(P3).entries >= 50);
  CHECK(h.peer_progress(P1).entries + h.peer_progress(P2).entries + h.peer_progress(P3).entries == 100);
  // Nobody but the leader was asked beyond what it announced, and nobody was asked twice.
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_fetch_beyond(o, P1, Index{50}); }) == 0);
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_fetch_beyond(o, P2, Index{50}); }) == 0);
  CHECK(h.count_sent(0, [](const Outgoing& o) {
    return std::holds_alternative<AvailabilityRequest>(o.message);
  }) == 3);
  CHECK(h.core->counters().empty_responses == 0);
  CHECK(h.core->counters().bad_responses == 0);
}

TEST_CASE("LogReplayCore: the leader's reach follows a target that moves up", "[session_core][leader_tail]") {
  LogReplayConfig config = Harness::default_config();
  config.max_buffered_entries = 20;
  Harness h(200, config);
  h.add_peers({P1, P2}, r(1, 50));
  h.peers[P3] = FakePeer{r(1, 200), r(1, 50)};
  h.leader = P3;
  h.create(h.cursor(100), h.ref_entries(101, 110));
  h.start();
  for (int i = 0; i < 3; ++i) {
    h.deliver_one(); // the three availability answers
  }
  REQUIRE_FALSE(h.core->outcome());
  REQUIRE(scheduled_availability(h, P3) == r(1, 100));

  h.buffer(h.cursor(110), h.ref_entries(111, 125)); // 25 buffered > 20: the target moves to 125
  REQUIRE(h.core->target() == h.cursor(125));
  CHECK(scheduled_availability(h, P3) == r(1, 125));
  CHECK(scheduled_availability(h, P1) == r(1, 50));
  CHECK_FALSE(h.core->scheduler().has_uncovered());

  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  CHECK(h.core->outcome()->last == h.cursor(125));
  h.require_log_is_reference(125);
  CHECK(h.peer_progress(P3).entries >= 75);
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_fetch_beyond(o, P3, Index{125}); }) == 0);
  CHECK(h.core->counters().empty_responses == 0);
}

TEST_CASE("LogReplayCore: only the leader is asked beyond what it announced", "[session_core][leader_tail]") {
  Harness h(100);
  // P1 and P2 could serve everything but committed only up to 50.
  h.peers[P1] = FakePeer{r(1, 100), r(1, 50)};
  h.peers[P2] = FakePeer{r(1, 100), r(1, 50)};
  h.leader = P3; // down for now: not bonded
  h.create(h.cursor(100));
  h.start();
  h.deliver_all();
  REQUIRE_FALSE(h.core->outcome());
  CHECK(h.local.last().index == Index{50});
  CHECK(scheduled_availability(h, P1) == r(1, 50));
  CHECK(scheduled_availability(h, P2) == r(1, 50));
  CHECK(h.core->scheduler().has_uncovered());
  for (int i = 0; i < 3; ++i) {
    h.tick();
    h.deliver_all();
    REQUIRE_FALSE(h.core->outcome());
    CHECK(scheduled_availability(h, P1) == r(1, 50));
  }
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_fetch_covering(o, Index{51}); }) == 0);

  // The leader comes back, with the same commit index: it serves the tail.
  h.peers[P3] = FakePeer{r(1, 100), r(1, 50)};
  h.bond(P3, BondEvent::Kind::bonded);
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(100);
  CHECK(h.peer_progress(P3).entries == 50);
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_fetch_beyond(o, P1, Index{50}); }) == 0);
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_fetch_beyond(o, P2, Index{50}); }) == 0);
}

TEST_CASE("LogReplayCore: a leader that answers the tail empty is asked again after a backoff",
          "[session_core][leader_tail]") {
  // P3 is no longer leader (or serves only what it committed): it answers
  // nothing of the tail. The request returns to the pool and P3 is asked what
  // it holds again on the retry timer, never in a loop, never counted as bad.
  Harness h(100);
  h.add_peers({P1, P2, P3}, r(1, 50));
  h.leader = P3;
  h.create(h.cursor(100));
  h.start();
  h.deliver_all();
  REQUIRE_FALSE(h.core->outcome());
  CHECK(h.local.last().index == Index{50});
  CHECK(h.core->counters().empty_responses == 1);
  CHECK_FALSE(h.core->scheduler().availability(P3).has_value()); // not asked again before it re-announces
  CHECK(h.core->scheduler().inflight_total() == 0);
  REQUIRE(h.core->next_deadline().has_value());

  for (int i = 0; i < 5; ++i) {
    const auto before = h.core->counters().empty_responses;
    const auto mark = h.sent.size();
    h.tick();
    h.deliver_all();
    REQUIRE_FALSE(h.core->outcome());
    REQUIRE(h.core->next_deadline().has_value());
    CHECK(h.core->counters().empty_responses <= before + 1);
    CHECK(h.count_sent(mark, [](const Outgoing& o) { return is_fetch_to(o, P3); }) <= 1);
  }
  CHECK(h.core->counters().empty_responses >= 2);
  CHECK(h.core->counters().bad_responses == 0);
  CHECK(h.peer_progress(P3).bad_responses == 0);
  CHECK_FALSE(h.peer_progress(P3).excluded);
  CHECK(h.local.last().index == Index{50});

  // It serves the tail again (leader once more): the next retry finds it.
  h.peers[P3] = FakePeer{r(1, 100), r(1, 50)};
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(100);
  CHECK(h.peer_progress(P3).entries >= 50);
}

TEST_CASE("LogReplayCore: with no peer at all, a retry stays armed", "[session_core]") {
  Harness h(100);
  h.create(h.cursor(100));
  h.start();
  REQUIRE(h.core->next_deadline().has_value());
  for (int i = 0; i < 5; ++i) {
    h.tick();
    REQUIRE(h.core->next_deadline().has_value());
    CHECK(*h.core->next_deadline() > h.now);
  }
  h.add_peers({P1}, r(1, 100));
  h.bond(P1, BondEvent::Kind::bonded);
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::completed);
  h.require_log_is_reference(100);
}

// ---- cancel --------------------------------------------------------------------------

TEST_CASE("LogReplayCore: cancel ends the session with nothing more to send", "[session_core]") {
  BadResponseSetup setup(0, 100);
  auto& h = setup.h;
  // A message whose consequences (new fetches) are still in the outbox.
  h.core->on_message(P1, *h.honest_answer(P1, h.parked[0].message), h.now);
  const auto appended = h.local.last();
  h.core->cancel();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->status == SyncStatus::cancelled);
  CHECK(h.core->outcome()->last == appended);
  CHECK(h.core->take_outbox().empty());
  CHECK_FALSE(h.core->next_deadline().has_value());

  // Later events change nothing and send nothing.
  h.now += std::chrono::minutes{1};
  h.core->on_tick(h.now);
  h.core->on_message(P2, Response{r(31, 40), h.ref_entries(31, 40)}, h.now);
  h.core->on_buffer(h.cursor(100), h.ref_entries(1, 0), h.now);
  h.core->cancel("again");
  CHECK(h.core->take_outbox().empty());
  CHECK(h.core->outcome()->status == SyncStatus::cancelled);
  CHECK(h.core->outcome()->reason != "again");
  CHECK(h.local.last() == appended);
}

TEST_CASE("LogReplayCore: a cancelled session's elapsed time stops at its last event", "[session_core]") {
  BadResponseSetup setup(0, 100);
  auto& h = setup.h;
  const auto started = h.now;
  h.now += std::chrono::seconds{5};
  h.core->on_tick(h.now);
  h.core->cancel();
  REQUIRE(h.core->outcome());
  CHECK(h.core->progress(h.now).elapsed == h.now - started);
  // Reported later, it has not grown.
  CHECK(h.core->progress(h.now + std::chrono::minutes{1}).elapsed == std::chrono::seconds{5});
}

// ---- speculative start ------------------------------------------------------------------

TEST_CASE("LogReplayCore: the first fetches go out with the availability requests",
          "[session_core][speculative]") {
  Harness h(300);
  h.add_peers({P1, P2, P3}, r(1, 300));
  h.leader = P3;
  SECTION("on: every peer but the held leader gets work at once") {
    h.create(h.cursor(300));
    h.start();
    CHECK(h.count_sent(0, [](const Outgoing& o) {
      return std::holds_alternative<AvailabilityRequest>(o.message);
    }) == 3);
    CHECK(h.count_sent(0, [](const Outgoing& o) { return is_fetch_to(o, P1); }) == 1);
    CHECK(h.count_sent(0, [](const Outgoing& o) { return is_fetch_to(o, P2); }) == 1);
    CHECK(h.count_sent(0, [](const Outgoing& o) { return is_fetch_to(o, P3); }) == 0); // leader last
    // Each peer's announcement reaches us before its answer (one link, in order).
    h.run();
    REQUIRE(h.core->outcome());
    CHECK(h.core->outcome()->ok());
    h.require_log_is_reference(300);
    CHECK(h.core->counters().bad_responses == 0);
    CHECK(h.core->counters().empty_responses == 0);
  }
  SECTION("off: nothing is fetched before a peer said what it holds") {
    h.config.speculative_start = false;
    h.create(h.cursor(300));
    h.start();
    CHECK(h.count_sent(0, [](const Outgoing& o) {
      return std::holds_alternative<FetchEntriesRequest>(o.message);
    }) == 0);
    h.run();
    REQUIRE(h.core->outcome());
    CHECK(h.core->outcome()->ok());
  }
}

TEST_CASE("LogReplayCore: a wrong guess costs an empty answer, no blame", "[session_core][speculative]") {
  Harness h(300);
  h.add_peers({P1, P2}, r(1, 300));
  h.add_peers({P3}, r(1, 300));
  h.peers[P1].holds = IndexRange{}; // lags: holds nothing of the gap
  h.leader = P3;
  h.create(h.cursor(300));
  h.start();
  CHECK(h.count_sent(0, [](const Outgoing& o) { return is_fetch_to(o, P1); }) == 1); // the guess
  h.run();
  REQUIRE(h.core->outcome());
  CHECK(h.core->outcome()->ok());
  h.require_log_is_reference(300);
  CHECK(h.core->counters().bad_responses == 0);
  CHECK(h.core->counters().empty_responses >= 1);
  CHECK(h.core->progress(h.now).peers.at(P1).entries == 0);
}
