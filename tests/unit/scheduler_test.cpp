// Unit tests of FetchScheduler, the pure range-assignment logic of the ranged-fetch engine (log-replay
// catch-up: deterministic scenarios, then a property check over random event
// sequences against a simple model.

#include <catch2/catch.hpp>

#include "reference_history.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <mosaik/core/format.hpp>
#include <mosaik/fetch/fetch_scheduler.hpp>

using namespace mosaik;
using FetchScheduler = mosaik::fetch::FetchScheduler<Index>;

namespace {

using Fetch = FetchScheduler::Fetch;

using mosaik::test::r;
TimePoint at(Duration since_epoch) {
  return TimePoint{} + since_epoch;
}

const PeerId A{1};
const PeerId B{2};
const PeerId C{3};
const PeerId L{9}; // the leader in the leader tests

FetchScheduler::Limits limits(std::uint64_t batch, std::uint32_t inflight = 1, Duration timeout = 5s) {
  return FetchScheduler::Limits{batch, inflight, timeout};
}

std::string describe(const std::vector<Fetch>& fetches) {
  std::string text;
  for (const auto& fetch : fetches) {
    text += fmt::format("{}->{} ", fetch.range, fetch.peer);
  }
  return text;
}

const Fetch* find_for(const std::vector<Fetch>& fetches, PeerId peer) {
  const auto it =
      std::find_if(fetches.begin(), fetches.end(), [&](const Fetch& f) { return f.peer == peer; });
  return it == fetches.end() ? nullptr : &*it;
}

} // namespace

TEST_CASE("FetchScheduler: chunks of batch_size go to idle peers", "[scheduler]") {
  FetchScheduler scheduler(limits(10), r(1, 100), std::nullopt);
  CHECK(scheduler.plan(at(0s)).empty()); // nobody known yet

  scheduler.set_availability(A, r(1, 100));
  scheduler.set_availability(B, r(1, 100));
  scheduler.set_availability(C, r(1, 100));
  const auto fetches = scheduler.plan(at(1s));
  INFO(describe(fetches));
  REQUIRE(fetches.size() == 3);
  CHECK(fetches[0].range == r(1, 10));
  CHECK(fetches[1].range == r(11, 20));
  CHECK(fetches[2].range == r(21, 30));
  // One request per peer, each to a different peer.
  CHECK(find_for(fetches, A) != nullptr);
  CHECK(find_for(fetches, B) != nullptr);
  CHECK(find_for(fetches, C) != nullptr);
  for (const auto& fetch : fetches) {
    CHECK(fetch.deadline == at(1s) + 5s);
    CHECK(scheduler.inflight_count(fetch.peer) == 1);
  }
  CHECK(scheduler.inflight_total() == 3);
  // Everybody is busy: nothing more.
  CHECK(scheduler.plan(at(2s)).empty());
}

TEST_CASE("FetchScheduler: the end of the gap bounds the last chunk", "[scheduler]") {
  FetchScheduler scheduler(limits(10), r(1, 25), std::nullopt);
  scheduler.set_availability(A, r(1, 1000));
  scheduler.set_availability(B, r(1, 1000));
  scheduler.set_availability(C, r(1, 1000));
  const auto fetches = scheduler.plan(at(0s));
  INFO(describe(fetches));
  REQUIRE(fetches.size() == 3);
  CHECK(fetches[2].range == r(21, 25));
}

TEST_CASE("FetchScheduler: limits are normalised to at least one", "[scheduler]") {
  FetchScheduler scheduler(limits(0, 0), r(1, 10), std::nullopt);
  CHECK(scheduler.limits().batch_size == 1);
  CHECK(scheduler.limits().max_inflight_per_peer == 1);
  scheduler.set_availability(A, r(1, 10));
  const auto fetches = scheduler.plan(at(0s));
  REQUIRE(fetches.size() == 1);
  CHECK(fetches[0].range == r(1, 1));
}

TEST_CASE("FetchScheduler: the leader gets work last", "[scheduler]") {
  SECTION("a non-leader that covers the range is preferred") {
    FetchScheduler scheduler(limits(10), r(1, 100), L);
    scheduler.set_availability(L, r(1, 100));
    scheduler.set_availability(A, r(1, 100));
    const auto fetches = scheduler.plan(at(0s));
    INFO(describe(fetches));
    REQUIRE(fetches.size() == 2);
    CHECK(fetches[0].peer == A);
    CHECK(fetches[0].range == r(1, 10));
    // The leader gets work only because A is busy.
    CHECK(fetches[1].peer == L);
    CHECK(fetches[1].range == r(11, 20));
  }
  SECTION("with pipelining, the non-leader is filled before the leader gets anything") {
    FetchScheduler scheduler(limits(10, 2), r(1, 100), L);
    scheduler.set_availability(L, r(1, 100));
    scheduler.set_availability(A, r(1, 100));
    const auto fetches = scheduler.plan(at(0s));
    INFO(describe(fetches));
    REQUIRE(fetches.size() == 4);
    CHECK(fetches[0].peer == A);
    CHECK(fetches[1].peer == A);
    CHECK(fetches[2].peer == L);
    CHECK(fetches[3].peer == L);
  }
  SECTION("the leader alone gets work") {
    FetchScheduler scheduler(limits(10), r(1, 100), L);
    scheduler.set_availability(L, r(1, 100));
    const auto fetches = scheduler.plan(at(0s));
    REQUIRE(fetches.size() == 1);
    CHECK(fetches[0].peer == L);
  }
  SECTION("the leader gets the range no non-leader holds") {
    FetchScheduler scheduler(limits(10), r(1, 100), L);
    scheduler.set_availability(L, r(1, 100));
    scheduler.set_availability(A, r(11, 100));
    const auto fetches = scheduler.plan(at(0s));
    INFO(describe(fetches));
    REQUIRE(fetches.size() == 2);
    REQUIRE(find_for(fetches, L) != nullptr);
    CHECK(find_for(fetches, L)->range == r(1, 10));
    REQUIRE(find_for(fetches, A) != nullptr);
    CHECK(find_for(fetches, A)->range == r(11, 20));
  }
  SECTION("a later idle non-leader takes over once the leader's work is done") {
    FetchScheduler scheduler(limits(10), r(1, 100), L);
    scheduler.set_availability(L, r(1, 100));
    scheduler.set_availability(A, r(1, 100));
    auto fetches = scheduler.plan(at(0s));
    REQUIRE(fetches.size() == 2);
    // A answers; A is idle again, the leader is still busy: A gets the next chunk, not the leader.
    scheduler.complete(*find_for(fetches, A), find_for(fetches, A)->range);
    scheduler.advance(Index{10});
    fetches = scheduler.plan(at(1s));
    REQUIRE(fetches.size() == 1);
    CHECK(fetches[0].peer == A);
    CHECK(fetches[0].range == r(21, 30));
  }
}

TEST_CASE("FetchScheduler: a held leader takes no work", "[scheduler]") {
  FetchScheduler scheduler(limits(10), r(1, 100), L);
  scheduler.set_availability(L, r(1, 100));
  scheduler.hold_leader(true);
  CHECK(scheduler.plan(at(0s)).empty());
  CHECK_FALSE(scheduler.has_uncovered()); // the leader still covers the gap
  scheduler.set_availability(A, r(1, 100));
  auto fetches = scheduler.plan(at(0s));
  REQUIRE(fetches.size() == 1); // A only: the window is 2 x 10 but L is held
  CHECK(fetches[0].peer == A);
  scheduler.hold_leader(false);
  fetches = scheduler.plan(at(1s));
  REQUIRE(fetches.size() == 1);
  CHECK(fetches[0].peer == L);
  CHECK(fetches[0].range == r(11, 20));
}

TEST_CASE("FetchScheduler: assignments are clamped to the peer's availability", "[scheduler]") {
  FetchScheduler scheduler(limits(10), r(1, 100), std::nullopt);
  scheduler.set_availability(A, r(1, 5));
  scheduler.set_availability(B, r(6, 100));
  const auto fetches = scheduler.plan(at(0s));
  INFO(describe(fetches));
  REQUIRE(fetches.size() == 2);
  REQUIRE(find_for(fetches, A) != nullptr);
  CHECK(find_for(fetches, A)->range == r(1, 5));
  REQUIRE(find_for(fetches, B) != nullptr);
  CHECK(find_for(fetches, B)->range == r(6, 15));
}

TEST_CASE("FetchScheduler: peers that hold nothing get nothing", "[scheduler]") {
  FetchScheduler scheduler(limits(10), r(1, 100), std::nullopt);
  scheduler.set_availability(A, IndexRange{});
  scheduler.set_availability(B, r(200, 300)); // holds only entries beyond the gap
  CHECK(scheduler.plan(at(0s)).empty());
  CHECK(scheduler.has_uncovered());
  scheduler.set_availability(C, r(1, 100));
  scheduler.forget_availability(C);
  CHECK_FALSE(scheduler.availability(C).has_value());
  CHECK(scheduler.plan(at(0s)).empty());
  CHECK_FALSE(scheduler.availability(PeerId{77}).has_value());
}

TEST_CASE("FetchScheduler: no head-of-line blocking", "[scheduler]") {
  SECTION("the lowest unassigned index is covered only by a busy peer") {
    FetchScheduler scheduler(limits(10), r(1, 100), std::nullopt);
    scheduler.set_availability(A, r(1, 100));
    scheduler.set_availability(B, r(21, 100));
    scheduler.set_availability(C, r(21, 100));
    // Window: 2 rounds x 3 peers x 1 x 10 = [1..=60]. A takes [1..=10]; nobody idle
    // holds 11..=20; [21..=30] and [31..=40] are still assigned.
    const auto fetches = scheduler.plan(at(0s));
    INFO(describe(fetches));
    REQUIRE(fetches.size() == 3);
    CHECK(fetches[0].peer == A);
    CHECK(fetches[0].range == r(1, 10));
    CHECK(fetches[1].range == r(21, 30));
    CHECK(fetches[2].range == r(31, 40));
    CHECK(fetches[1].peer != fetches[2].peer);
    CHECK((fetches[1].peer == B || fetches[1].peer == C));
    CHECK_FALSE(scheduler.has_uncovered()); // 11..=20 is held by A, busy
  }
  SECTION("the lowest unassigned index is covered by nobody") {
    FetchScheduler scheduler(limits(10), r(1, 100), std::nullopt);
    scheduler.set_availability(A, r(11, 100));
    scheduler.set_availability(B, r(11, 100));
    // Window [1..=40]: 1..=10 is held by nobody, A and B take the next two chunks.
    const auto fetches = scheduler.plan(at(0s));
    INFO(describe(fetches));
    REQUIRE(fetches.size() == 2);
    CHECK(fetches[0].range == r(11, 20));
    CHECK(fetches[1].range == r(21, 30));
    CHECK(scheduler.has_uncovered());
  }
  SECTION("a hole in the middle of the window is skipped") {
    FetchScheduler scheduler(limits(10, 2), r(1, 100), std::nullopt);
    scheduler.set_availability(A, r(1, 10));
    scheduler.set_availability(B, r(31, 100));
    // Window [1..=80]: A gets [1..=10], nobody holds 11..=30, B gets [31..=40] and [41..=50].
    const auto fetches = scheduler.plan(at(0s));
    INFO(describe(fetches));
    REQUIRE(fetches.size() == 3);
    CHECK(find_for(fetches, A)->range == r(1, 10));
    CHECK(find_for(fetches, B)->range == r(31, 40));
    CHECK(fetches.back().range == r(41, 50));
    CHECK(scheduler.has_uncovered());
  }
}

TEST_CASE("FetchScheduler: pipelining sends up to max_inflight_per_peer requests to a peer", "[scheduler]") {
  FetchScheduler scheduler(limits(10, 3), r(1, 100), std::nullopt);
  scheduler.set_availability(A, r(1, 100));
  auto fetches = scheduler.plan(at(0s));
  INFO(describe(fetches));
  REQUIRE(fetches.size() == 3);
  CHECK(fetches[0].range == r(1, 10));
  CHECK(fetches[1].range == r(11, 20));
  CHECK(fetches[2].range == r(21, 30));
  CHECK(scheduler.inflight_count(A) == 3);
  CHECK(scheduler.plan(at(0s)).empty());

  // Answers out of order free slots inside the window [1..=60] (two rounds of
  // three requests), until all of it is in flight or held behind the head.
  scheduler.complete(fetches[1], fetches[1].range);
  CHECK(scheduler.inflight_count(A) == 2);
  auto more = scheduler.plan(at(1s));
  REQUIRE(more.size() == 1);
  CHECK(more[0].range == r(31, 40));
  for (const auto& fetch : {fetches[2], more[0]}) {
    scheduler.complete(fetch, fetch.range);
    const auto next = scheduler.plan(at(1s));
    REQUIRE(next.size() == 1);
    scheduler.complete(next[0], next[0].range);
    CHECK(next[0].range.last() <= Index{60});
  }
  CHECK(scheduler.inflight_count(A) == 1); // only the head
  CHECK(scheduler.plan(at(1s)).empty());   // the window is full

  // The head arrives and all are appended: the window slides to [61..=100].
  scheduler.complete(fetches[0], fetches[0].range);
  scheduler.advance(Index{60});
  CHECK(scheduler.gap() == r(61, 100));
  fetches = scheduler.plan(at(2s));
  INFO(describe(fetches));
  REQUIRE(fetches.size() == 3);
  CHECK(fetches[0].range == r(61, 70));
  CHECK(fetches[2].range == r(81, 90));
  CHECK(scheduler.inflight_count(A) == 3);
}

TEST_CASE("FetchScheduler: nothing is assigned beyond the window", "[scheduler]") {
  FetchScheduler scheduler(limits(10, 2), r(1, 1000), std::nullopt);
  scheduler.set_availability(A, r(1, 1000));
  scheduler.set_availability(B, r(1, 1000));
  // Two rounds of every serving peer's window: 2 x (2 + 2) x 10.
  CHECK(scheduler.window_range() == r(1, 80));
  auto fetches = scheduler.plan(at(0s));
  INFO(describe(fetches));
  REQUIRE(fetches.size() == 4);
  const auto head = fetches.front();
  REQUIRE(head.range.first() == Index{1});
  // Everything after the head arrives, and is asked for again while there is room.
  std::vector<Fetch> pending(fetches.begin() + 1, fetches.end());
  while (!pending.empty()) {
    const auto fetch = pending.back();
    pending.pop_back();
    CHECK(fetch.range.last() <= Index{80});
    scheduler.complete(fetch, fetch.range);
    const auto next = scheduler.plan(at(1s));
    pending.insert(pending.end(), next.begin(), next.end());
  }
  CHECK(scheduler.plan(at(1s)).empty());
  CHECK_FALSE(scheduler.has_uncovered());

  // The head arrives: all 80 are appended and the window moves by 80.
  scheduler.complete(head, head.range);
  scheduler.advance(Index{80});
  CHECK(scheduler.window_range() == r(81, 160));
  fetches = scheduler.plan(at(2s));
  INFO(describe(fetches));
  REQUIRE(fetches.size() == 4);
  for (const auto& fetch : fetches) {
    CHECK(fetch.range.first() >= Index{81});
    CHECK(fetch.range.last() <= Index{160});
  }
}

TEST_CASE("FetchScheduler: expire and next_deadline", "[scheduler]") {
  FetchScheduler scheduler(limits(10, 1, 5s), r(1, 100), std::nullopt);
  CHECK_FALSE(scheduler.next_deadline().has_value());
  scheduler.set_availability(A, r(1, 100));
  const auto first = scheduler.plan(at(0s));
  REQUIRE(first.size() == 1);
  CHECK(scheduler.next_deadline() == at(5s));

  scheduler.set_availability(B, r(1, 100));
  const auto second = scheduler.plan(at(1s));
  REQUIRE(second.size() == 1);
  CHECK(second[0].peer == B);
  CHECK(second[0].range == r(11, 20));
  CHECK(scheduler.next_deadline() == at(5s)); // the earliest

  CHECK(scheduler.expire(at(5s) - 1ns).empty());
  CHECK(scheduler.inflight_total() == 2);

  const auto expired = scheduler.expire(at(5s));
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].peer == A);
  CHECK(expired[0].range == r(1, 10));
  CHECK(expired[0].deadline == at(5s));
  CHECK(scheduler.inflight_count(A) == 0);
  CHECK(scheduler.next_deadline() == at(6s));
  CHECK_FALSE(scheduler.find_inflight(A, r(1, 10)).has_value());

  // The expired range is back in the pool.
  const auto again = scheduler.plan(at(5s));
  REQUIRE(again.size() == 1);
  CHECK(again[0].range == r(1, 10));
  CHECK(again[0].deadline == at(10s));

  const auto both = scheduler.expire(at(100s));
  CHECK(both.size() == 2);
  CHECK(scheduler.inflight_total() == 0);
  CHECK_FALSE(scheduler.next_deadline().has_value());
}

TEST_CASE("FetchScheduler: remove_peer releases its requests", "[scheduler]") {
  FetchScheduler scheduler(limits(10), r(1, 100), std::nullopt);
  scheduler.set_availability(A, r(1, 100));
  scheduler.set_availability(B, r(1, 100));
  const auto fetches = scheduler.plan(at(0s));
  REQUIRE(fetches.size() == 2);
  const auto a = *find_for(fetches, A);
  auto b = *find_for(fetches, B);
  CHECK(a.range == r(1, 10));
  // B's answers are held, not yet appended, until the window [1..=40] is full.
  for (int answered = 0; answered < 3; ++answered) {
    scheduler.complete(b, b.range);
    const auto next = scheduler.plan(at(1s));
    if (answered < 2) {
      REQUIRE(next.size() == 1);
      b = next[0];
    } else {
      CHECK(next.empty());
    }
  }

  const auto released = scheduler.remove_peer(A);
  REQUIRE(released.size() == 1);
  CHECK(released[0].peer == A);
  CHECK(released[0].range == r(1, 10));
  CHECK_FALSE(scheduler.availability(A).has_value());
  CHECK(scheduler.inflight_count(A) == 0);
  CHECK(scheduler.remove_peer(A).empty()); // twice: nothing more

  // B gets A's range; B's received range is not fetched again.
  const auto reassigned = scheduler.plan(at(2s));
  INFO(describe(reassigned));
  REQUIRE(reassigned.size() == 1);
  CHECK(reassigned[0].peer == B);
  CHECK(reassigned[0].range == r(1, 10));
  scheduler.complete(reassigned[0], reassigned[0].range);
  scheduler.advance(Index{40});
  const auto next = scheduler.plan(at(3s));
  REQUIRE(next.size() == 1); // B alone now: window [41..=60], one request in flight
  CHECK(next[0].range == r(41, 50));
}

TEST_CASE("FetchScheduler: a partial answer returns the rest to the pool", "[scheduler]") {
  // A gap of one batch: what returns to the pool is not merged with what follows.
  FetchScheduler scheduler(limits(10), r(1, 10), std::nullopt);
  scheduler.set_availability(A, r(1, 100));
  const auto fetches = scheduler.plan(at(0s));
  REQUIRE(fetches.size() == 1);
  REQUIRE(fetches[0].range == r(1, 10));

  SECTION("a prefix (capped by bytes)") {
    scheduler.complete(fetches[0], r(1, 4));
    CHECK(scheduler.inflight_count(A) == 0);
    const auto rest = scheduler.plan(at(1s));
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].range == r(5, 10));
  }
  SECTION("a suffix (the provider pruned a prefix)") {
    scheduler.complete(fetches[0], r(6, 10));
    const auto rest = scheduler.plan(at(1s));
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].range == r(1, 5));
  }
  SECTION("a middle part") {
    scheduler.complete(fetches[0], r(4, 6));
    const auto first = scheduler.plan(at(1s));
    REQUIRE(first.size() == 1);
    CHECK(first[0].range == r(1, 3));
    scheduler.complete(first[0], first[0].range);
    const auto second = scheduler.plan(at(2s));
    REQUIRE(second.size() == 1);
    CHECK(second[0].range == r(7, 10));
  }
  SECTION("a received range that turns out bad returns to the pool") {
    scheduler.complete(fetches[0], fetches[0].range);
    CHECK(scheduler.plan(at(1s)).empty());
    scheduler.discard_received(r(1, 10));
    const auto again = scheduler.plan(at(2s));
    REQUIRE(again.size() == 1);
    CHECK(again[0].range == r(1, 10));
  }
  SECTION("release returns the whole request") {
    scheduler.release(fetches[0]);
    CHECK(scheduler.inflight_count(A) == 0);
    scheduler.release(fetches[0]); // twice: no effect
    CHECK(scheduler.inflight_count(A) == 0);
    const auto again = scheduler.plan(at(2s));
    REQUIRE(again.size() == 1);
    CHECK(again[0].range == r(1, 10));
  }
}

namespace {

/// A gap of 20 in two chunks of 10: A fetches [1..=10] and B [11..=20]; B
/// answers, and is idle with nothing left to assign.
struct HedgeSetup {
  FetchScheduler scheduler{limits(10), r(1, 20), std::nullopt};
  Fetch slow{};

  HedgeSetup() {
    scheduler.set_availability(A, r(1, 20));
    scheduler.set_availability(B, r(1, 20));
    const auto fetches = scheduler.plan(at(0s));
    REQUIRE(fetches.size() == 2);
    slow = *find_for(fetches, A);
    const auto fast = *find_for(fetches, B);
    REQUIRE(slow.range == r(1, 10));
    scheduler.complete(fast, fast.range);
    REQUIRE(scheduler.plan(at(1s)).empty());
  }

  std::vector<Fetch> hedge_all(TimePoint now) {
    return scheduler.hedge(now, [](const Fetch&, PeerId) { return true; });
  }
};

} // namespace

TEST_CASE("FetchScheduler: a hedge asks an idle peer too, and the first answer wins", "[scheduler][hedge]") {
  HedgeSetup setup;
  auto& scheduler = setup.scheduler;
  // The predicate decides: nothing when it says no.
  CHECK(scheduler.hedge(at(1s), [](const Fetch&, PeerId) { return false; }).empty());
  const auto hedges = setup.hedge_all(at(1s));
  REQUIRE(hedges.size() == 1);
  CHECK(hedges[0].peer == B);
  CHECK(hedges[0].range == r(1, 10));
  CHECK(hedges[0].deadline == at(6s));
  CHECK(scheduler.inflight_count(B) == 1);
  CHECK(scheduler.inflight_total() == 2);
  CHECK(setup.hedge_all(at(1s)).empty()); // one hedge a request
  CHECK(scheduler.find_inflight(B, r(1, 10))->peer == B);
  CHECK(scheduler.find_inflight(A, r(1, 10))->peer == A);
  CHECK(scheduler.inflight_overlapping(B, r(5, 5)).size() == 1);

  SECTION("the hedge answers first: the original becomes an orphan whose slot stays taken") {
    const auto loser = scheduler.complete(hedges[0], hedges[0].range);
    REQUIRE(loser);
    CHECK(loser->peer == A);
    CHECK(scheduler.inflight_count(B) == 0);
    CHECK(scheduler.inflight_count(A) == 1); // its answer is still on the wire
    CHECK_FALSE(scheduler.find_inflight(A, r(1, 10)));
    SECTION("its answer comes: late, and its slot is free") {
      CHECK_FALSE(scheduler.take_orphan(B, r(1, 10)));
      const auto orphan = scheduler.take_orphan(A, r(1, 10));
      REQUIRE(orphan);
      CHECK(orphan->range == r(1, 10));
      CHECK(scheduler.inflight_count(A) == 0);
      CHECK_FALSE(scheduler.take_orphan(A, r(1, 10)));
    }
    SECTION("its deadline passes: it timed out, its slot is free, nothing is rescheduled") {
      CHECK(scheduler.next_deadline() == at(5s));
      const auto expired = scheduler.expire(at(5s));
      REQUIRE(expired.size() == 1);
      CHECK(expired[0].peer == A);
      CHECK(scheduler.plan(at(5s)).empty());
      CHECK(scheduler.inflight_count(A) == 0);
      CHECK(scheduler.inflight_total() == 0);
    }
    scheduler.advance(Index{20});
    CHECK(scheduler.gap().empty());
  }
  SECTION("the original answers first: the hedge becomes the orphan") {
    const auto loser = scheduler.complete(setup.slow, setup.slow.range);
    REQUIRE(loser);
    CHECK(loser->peer == B);
    CHECK(scheduler.inflight_count(A) == 0);
    CHECK(scheduler.inflight_count(B) == 1);
    CHECK(scheduler.take_orphan(B, r(1, 10)));
  }
  SECTION("the original is released (a bad answer, a timeout): the hedge carries on alone") {
    scheduler.release(setup.slow);
    CHECK(scheduler.inflight_count(A) == 0);
    CHECK(scheduler.find_inflight(B, r(1, 10)));
    CHECK(scheduler.plan(at(2s)).empty());                       // the range is not assigned again
    CHECK_FALSE(scheduler.complete(hedges[0], hedges[0].range)); // no rival left
  }
  SECTION("the original expires: the hedge carries on alone") {
    const auto expired = scheduler.expire(at(5s));
    REQUIRE(expired.size() == 1);
    CHECK(expired[0].peer == A);
    CHECK(scheduler.find_inflight(B, r(1, 10)));
    CHECK(scheduler.next_deadline() == at(6s));
  }
  SECTION("the hedging peer leaves: the original stays") {
    const auto released = scheduler.remove_peer(B);
    CHECK(released.size() == 1);
    CHECK(scheduler.find_inflight(A, r(1, 10)));
  }
  SECTION("the original's peer leaves: the hedge carries on alone") {
    scheduler.remove_peer(A);
    CHECK(scheduler.find_inflight(B, r(1, 10)));
    CHECK(scheduler.inflight_total() == 1);
  }
  SECTION("the range is appended meanwhile: both requests are forgotten") {
    scheduler.advance(Index{10});
    CHECK(scheduler.inflight_count(A) == 0);
    CHECK(scheduler.inflight_count(B) == 0);
    CHECK(scheduler.inflight_total() == 0);
  }
}

TEST_CASE("FetchScheduler: find_inflight and inflight_overlapping", "[scheduler]") {
  FetchScheduler scheduler(limits(10), r(1, 100), std::nullopt);
  scheduler.set_availability(A, r(1, 100));
  scheduler.set_availability(B, r(1, 100));
  const auto fetches = scheduler.plan(at(0s));
  REQUIRE(fetches.size() == 2);
  REQUIRE(fetches[0].peer == A);

  CHECK(scheduler.find_inflight(A, r(1, 10)).has_value());
  CHECK(scheduler.find_inflight(A, r(1, 10))->range == r(1, 10));
  CHECK(scheduler.find_inflight(A, r(3, 7))->range == r(1, 10));
  CHECK_FALSE(scheduler.find_inflight(A, r(5, 14)).has_value());  // beyond the request
  CHECK_FALSE(scheduler.find_inflight(A, r(11, 20)).has_value()); // B's
  CHECK_FALSE(scheduler.find_inflight(B, r(1, 10)).has_value());
  CHECK_FALSE(scheduler.find_inflight(A, IndexRange{}).has_value());
  CHECK_FALSE(scheduler.find_inflight(A, r(0, 0)).has_value());
  CHECK(scheduler.find_inflight(B, r(11, 20)).has_value());

  CHECK(scheduler.inflight_overlapping(A, r(5, 14)).size() == 1);
  CHECK(scheduler.inflight_overlapping(A, r(11, 14)).empty());
  CHECK(scheduler.inflight_overlapping(B, r(5, 14)).size() == 1);
  CHECK(scheduler.inflight_overlapping(A, r(0, 0)).empty());
  CHECK(scheduler.inflight_overlapping(A, IndexRange{}).empty());
}

TEST_CASE("FetchScheduler: has_uncovered", "[scheduler]") {
  SECTION("nobody known") {
    FetchScheduler scheduler(limits(10), r(1, 100), std::nullopt);
    CHECK(scheduler.has_uncovered());
  }
  SECTION("one peer covers the window") {
    FetchScheduler scheduler(limits(10), r(1, 100), std::nullopt);
    scheduler.set_availability(A, r(1, 100));
    CHECK_FALSE(scheduler.has_uncovered());
  }
  SECTION("two peers together cover the window") {
    FetchScheduler scheduler(limits(10), r(1, 100), std::nullopt);
    scheduler.set_availability(A, r(1, 13));
    scheduler.set_availability(B, r(14, 100));
    CHECK_FALSE(scheduler.has_uncovered());
  }
  SECTION("a hole between two peers") {
    FetchScheduler scheduler(limits(10), r(1, 100), std::nullopt);
    scheduler.set_availability(A, r(1, 12));
    scheduler.set_availability(B, r(14, 100));
    CHECK(scheduler.has_uncovered());
  }
  SECTION("the start of the gap is held by nobody") {
    FetchScheduler scheduler(limits(10), r(1, 100), std::nullopt);
    scheduler.set_availability(A, r(2, 100));
    CHECK(scheduler.has_uncovered());
  }
  SECTION("the uncovered part is assigned or received: covered") {
    FetchScheduler scheduler(limits(10), r(1, 10), std::nullopt);
    scheduler.set_availability(A, r(1, 100));
    const auto fetches = scheduler.plan(at(0s));
    REQUIRE(fetches.size() == 1);
    scheduler.set_availability(A, IndexRange{}); // A now holds nothing, but its fetch is in flight
    CHECK_FALSE(scheduler.has_uncovered());
    scheduler.complete(fetches[0], fetches[0].range);
    CHECK_FALSE(scheduler.has_uncovered());
  }
  SECTION("an empty gap") {
    FetchScheduler scheduler(limits(10), IndexRange{}, std::nullopt);
    CHECK_FALSE(scheduler.has_uncovered());
    CHECK(scheduler.plan(at(0s)).empty());
  }
  SECTION("the gap's end moves beyond what peers hold") {
    FetchScheduler scheduler(limits(10), r(1, 5), std::nullopt);
    scheduler.set_availability(A, r(1, 5));
    CHECK_FALSE(scheduler.has_uncovered());
    scheduler.set_gap_end(Index{8});
    CHECK(scheduler.gap() == r(1, 8));
    CHECK(scheduler.has_uncovered());
  }
}

// ---- property check ---------------------------------------------------------

namespace {

struct ModelItem {
  PeerId peer;
  IndexRange range;
  bool in_flight = true;
  TimePoint deadline{};
};

struct Model {
  IndexRange gap;
  std::map<PeerId, std::optional<IndexRange>> availability; // peers known to the scheduler
  std::vector<ModelItem> items;

  [[nodiscard]] std::uint64_t serving() const {
    return static_cast<std::uint64_t>(
        std::count_if(availability.begin(), availability.end(),
                      [](const auto& item) { return item.second && !item.second->empty(); }));
  }
  [[nodiscard]] std::uint32_t inflight(PeerId peer) const {
    return static_cast<std::uint32_t>(std::count_if(items.begin(), items.end(), [&](const ModelItem& item) {
      return item.in_flight && item.peer == peer;
    }));
  }
  [[nodiscard]] bool occupied(Index index) const {
    return std::any_of(items.begin(), items.end(),
                       [&](const ModelItem& item) { return item.range.contains(index); });
  }
  [[nodiscard]] bool idle(PeerId peer, std::uint32_t max_inflight) const {
    const auto it = availability.find(peer);
    return it != availability.end() && it->second && !it->second->empty() && inflight(peer) < max_inflight;
  }
};

bool same_fetches(std::vector<Fetch> a, std::vector<Fetch> b) {
  auto key = [](const Fetch& f) { return std::tuple{f.range.first(), f.range.last(), f.peer, f.deadline}; };
  auto less = [&](const Fetch& x, const Fetch& y) { return key(x) < key(y); };
  std::sort(a.begin(), a.end(), less);
  std::sort(b.begin(), b.end(), less);
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [&](const Fetch& x, const Fetch& y) { return key(x) == key(y); });
}

} // namespace

TEST_CASE("FetchScheduler: invariants hold over random event sequences", "[scheduler][property]") {
  const std::uint64_t seed = GENERATE(range(std::uint64_t{1}, std::uint64_t{41}));
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  auto uniform = [&](std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
  };

  const std::uint64_t gap_first = uniform(1, 50);
  const std::uint64_t gap_size = uniform(20, 400);
  const auto batch = uniform(1, 15);
  const auto max_inflight = static_cast<std::uint32_t>(uniform(1, 3));
  const Duration timeout = std::chrono::seconds{uniform(1, 10)};
  const auto peer_count = uniform(1, 5);
  std::optional<PeerId> leader;
  if (uniform(0, 1) == 1) {
    leader = PeerId{uniform(1, peer_count)};
  }
  INFO("gap from " << gap_first << " size " << gap_size << ", batch " << batch << ", inflight "
                   << max_inflight << ", peers " << peer_count << ", leader "
                   << (leader ? leader->value() : 0));

  Model model;
  model.gap = IndexRange::starting_at(Index{gap_first}, gap_size);
  bool leader_held = false;
  auto idle = [&](PeerId peer) {
    return model.idle(peer, max_inflight) && !(leader_held && leader && peer == *leader);
  };
  FetchScheduler scheduler(limits(batch, max_inflight, timeout), model.gap, leader);
  TimePoint now{};

  auto random_peer = [&] { return PeerId{uniform(1, peer_count)}; };
  auto random_availability = [&] {
    if (uniform(0, 9) == 0) {
      return IndexRange{};
    }
    const auto hi = model.gap.empty() ? model.gap.first().value() + 50 : model.gap.last().value() + 20;
    auto first = uniform(0, 3) == 0 ? 1 : uniform(1, hi);
    auto last = uniform(0, 2) == 0 ? hi : uniform(first, hi);
    return IndexRange{Index{first}, Index{last}};
  };
  auto pick_item = [&](bool in_flight) -> std::optional<std::size_t> {
    std::vector<std::size_t> candidates;
    for (std::size_t i = 0; i < model.items.size(); ++i) {
      if (model.items[i].in_flight == in_flight) {
        candidates.push_back(i);
      }
    }
    if (candidates.empty()) {
      return std::nullopt;
    }
    return candidates[uniform(0, candidates.size() - 1)];
  };

  auto check_state = [&](const char* after) {
    INFO("after " << after);
    REQUIRE(scheduler.gap() == model.gap);
    std::size_t total = 0;
    std::optional<TimePoint> earliest;
    for (const auto& item : model.items) {
      if (item.in_flight) {
        ++total;
        if (!earliest || item.deadline < *earliest) {
          earliest = item.deadline;
        }
        const auto found = scheduler.find_inflight(item.peer, item.range);
        REQUIRE(found.has_value());
        REQUIRE(found->range == item.range);
      }
    }
    REQUIRE(scheduler.inflight_total() == total);
    REQUIRE(scheduler.next_deadline() == earliest);
    for (std::uint64_t p = 1; p <= peer_count; ++p) {
      REQUIRE(scheduler.inflight_count(PeerId{p}) == model.inflight(PeerId{p}));
      REQUIRE(scheduler.inflight_count(PeerId{p}) <= max_inflight);
    }
    // Window and has_uncovered against a brute-force model.
    const auto window =
        model.gap.take_front(2 * std::max<std::uint64_t>(1, model.serving()) * max_inflight * batch);
    REQUIRE(scheduler.window_range() == window);
    bool uncovered = false;
    for (auto i = window.first(); !window.empty() && i <= window.last() && !uncovered; i = i.next()) {
      if (model.occupied(i)) {
        continue;
      }
      const bool held =
          std::any_of(model.availability.begin(), model.availability.end(),
                      [&](const auto& peer) { return peer.second && peer.second->contains(i); });
      uncovered = !held;
    }
    REQUIRE(scheduler.has_uncovered() == uncovered);
  };

  for (int step = 0; step < 400; ++step) {
    const auto op = uniform(0, 99);
    if (op < 20) {
      const auto peer = random_peer();
      const auto available = random_availability();
      scheduler.set_availability(peer, available);
      model.availability[peer] = available;
      check_state("set_availability");
    } else if (op < 22) {
      leader_held = uniform(0, 1) == 1;
      scheduler.hold_leader(leader_held);
      check_state("hold_leader");
    } else if (op < 25) {
      const auto peer = random_peer();
      scheduler.forget_availability(peer);
      if (auto it = model.availability.find(peer); it != model.availability.end()) {
        it->second.reset();
      }
      check_state("forget_availability");
    } else if (op < 50) {
      now += std::chrono::milliseconds{uniform(0, 500)};
      const auto window = scheduler.window_range();
      const auto planned = scheduler.plan(now);
      INFO("planned " << describe(planned) << " window " << fmt::format("{}", window));
      for (const auto& fetch : planned) {
        INFO("fetch " << fmt::format("{} -> {}", fetch.range, fetch.peer));
        REQUIRE_FALSE(fetch.range.empty());
        REQUIRE(fetch.range.size() <= batch);
        REQUIRE(model.gap.contains(fetch.range));
        REQUIRE(window.contains(fetch.range)); // never beyond gap.first + peers*inflight*batch
        REQUIRE(fetch.deadline == now + timeout);
        REQUIRE_FALSE((leader_held && leader && fetch.peer == *leader));
        const auto& available = model.availability.at(fetch.peer);
        REQUIRE(available.has_value());
        REQUIRE(available->contains(fetch.range));
        // No overlap, ever, with anything in flight or received.
        for (const auto& item : model.items) {
          REQUIRE_FALSE(item.range.overlaps(fetch.range));
        }
        model.items.push_back(ModelItem{fetch.peer, fetch.range, true, fetch.deadline});
        REQUIRE(model.inflight(fetch.peer) <= max_inflight);
      }
      // Leader last: a request went to the leader only if no non-leader that holds its start stayed idle.
      for (const auto& fetch : planned) {
        if (leader && fetch.peer == *leader) {
          for (const auto& [peer, available] : model.availability) {
            if (peer != *leader && idle(peer)) {
              REQUIRE_FALSE(available->contains(fetch.range.first()));
            }
          }
        }
      }
      // Maximal: no unassigned index of the window is held by a peer that is still idle.
      for (auto i = window.first(); !window.empty() && i <= window.last(); i = i.next()) {
        if (model.occupied(i)) {
          continue;
        }
        for (const auto& [peer, available] : model.availability) {
          INFO("index " << i.value() << " peer " << peer.value());
          REQUIRE_FALSE((idle(peer) && available->contains(i)));
        }
      }
      check_state("plan");
    } else if (op < 65) {
      // An answer: the whole request or a part of it.
      if (const auto index = pick_item(true)) {
        const auto item = model.items[*index];
        const auto size = item.range.size();
        const auto skip = uniform(0, 2) == 0 ? uniform(0, size - 1) : 0;
        const auto count = uniform(1, size - skip);
        const auto received = IndexRange::starting_at(item.range.first() + skip, count);
        scheduler.complete(Fetch{item.peer, item.range, item.deadline}, received);
        model.items.erase(model.items.begin() + static_cast<std::ptrdiff_t>(*index));
        model.items.push_back(ModelItem{item.peer, received, false, TimePoint{}});
      }
      check_state("complete");
    } else if (op < 70) {
      if (const auto index = pick_item(true)) {
        const auto item = model.items[*index];
        scheduler.release(Fetch{item.peer, item.range, item.deadline});
        model.items.erase(model.items.begin() + static_cast<std::ptrdiff_t>(*index));
      }
      check_state("release");
    } else if (op < 75) {
      if (const auto index = pick_item(false)) {
        const auto item = model.items[*index];
        scheduler.discard_received(item.range);
        model.items.erase(model.items.begin() + static_cast<std::ptrdiff_t>(*index));
      }
      check_state("discard_received");
    } else if (op < 83) {
      now += std::chrono::milliseconds{uniform(0, 3000)};
      const auto expired = scheduler.expire(now);
      std::vector<Fetch> expected;
      for (auto it = model.items.begin(); it != model.items.end();) {
        if (it->in_flight && it->deadline <= now) {
          expected.push_back(Fetch{it->peer, it->range, it->deadline});
          it = model.items.erase(it);
        } else {
          ++it;
        }
      }
      REQUIRE(same_fetches(expired, expected));
      check_state("expire");
    } else if (op < 87) {
      const auto peer = random_peer();
      const auto released = scheduler.remove_peer(peer);
      std::vector<Fetch> expected;
      for (auto it = model.items.begin(); it != model.items.end();) {
        if (it->in_flight && it->peer == peer) {
          expected.push_back(Fetch{it->peer, it->range, it->deadline});
          it = model.items.erase(it);
        } else {
          ++it;
        }
      }
      model.availability.erase(peer);
      REQUIRE(same_fetches(released, expected));
      check_state("remove_peer");
    } else if (op < 97) {
      // Append what continues the log, as the session does.
      for (bool appended = true; appended;) {
        appended = false;
        for (auto it = model.items.begin(); it != model.items.end(); ++it) {
          if (!it->in_flight && !model.gap.empty() && it->range.first() == model.gap.first()) {
            const auto last = it->range.last();
            scheduler.advance(last);
            model.gap = model.gap.after(last);
            model.items.erase(it);
            appended = true;
            break;
          }
        }
      }
      check_state("advance");
    } else if (!model.gap.empty()) {
      // The session's target moves forward (it never does once the gap is filled).
      const auto end = model.gap.last() + uniform(1, 40);
      scheduler.set_gap_end(end);
      model.gap = IndexRange{model.gap.first(), end};
      check_state("set_gap_end");
    }
  }
}
