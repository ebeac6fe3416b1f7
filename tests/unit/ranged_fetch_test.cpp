// Unit tests of RangedFetch, the fetch engine both catch-up strategies share:
// classification of answers, blame and exclusion, in-order reassembly, the
// leader's hold, timeouts, and a restart on a new gap. Positions here are
// snapshot items as well as log indices: the engine knows neither.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <mosaik/core/format.hpp>
#include <mosaik/core/item_range.hpp>
#include <mosaik/fetch/ranged_fetch.hpp>

#include "reference_history.hpp"

using namespace mosaik;
using namespace std::chrono_literals;
using mosaik::test::item_range;
using mosaik::test::r;

namespace {

constexpr PeerId P1{1};
constexpr PeerId P2{2};
constexpr PeerId L{9}; // the leader

using Engine = fetch::RangedFetch<Index, std::string>;
using Verdict = fetch::Verdict;

TimePoint at(Duration since_epoch) {
  return TimePoint{} + since_epoch;
}

fetch::FetchPolicy policy(std::uint64_t batch = 10, std::uint32_t inflight = 1) {
  return fetch::FetchPolicy{batch, inflight, 5s, 100ms, 3};
}

std::vector<std::string> payload(IndexRange range) {
  std::vector<std::string> out;
  for (auto i = range.first(); !range.empty() && i <= range.last(); i = i.next()) {
    out.push_back("entry-" + std::to_string(i.value()));
  }
  return out;
}

/// An engine over [1..=gap_last] with `peers` bonded, each holding all of it.
Engine engine_with(std::vector<PeerId> peers, std::uint64_t gap_last = 100,
                   std::optional<PeerId> leader = std::nullopt, fetch::FetchPolicy settings = policy()) {
  Engine engine(settings, r(1, gap_last), leader, "test", "entries");
  for (const auto peer : peers) {
    engine.bond(peer);
    engine.set_availability(peer, r(1, gap_last));
  }
  return engine;
}

/// The request planned for `peer` (exactly one expected).
Engine::Fetch planned_for(const std::vector<Engine::Fetch>& planned, PeerId peer) {
  std::optional<Engine::Fetch> found;
  for (const auto& fetch : planned) {
    if (fetch.peer == peer) {
      REQUIRE_FALSE(found);
      found = fetch;
    }
  }
  REQUIRE(found);
  return *found;
}

} // namespace

TEST_CASE("RangedFetch: an answer from the start of a request matches it", "[ranged_fetch]") {
  auto engine = engine_with({P1, P2});
  const auto planned = engine.plan(at(0s), false);
  REQUIRE(planned.size() == 2);
  CHECK(engine.counters().fetch_requests == 2);
  const auto fetch = planned_for(planned, P1);

  SECTION("the whole range") {
    const auto answer = engine.classify(P1, fetch.range, fetch.range.size());
    CHECK(answer.verdict == Verdict::matches);
    REQUIRE(answer.fetch);
    CHECK(answer.fetch->range == fetch.range);
  }
  SECTION("a prefix of it (a response-size cap)") {
    const auto prefix = fetch.range.take_front(3);
    const auto answer = engine.classify(P1, prefix, 3);
    CHECK(answer.verdict == Verdict::matches);
    CHECK(answer.fetch->range == fetch.range);
  }
  SECTION("a suffix of it is shifted: the core decides") {
    const IndexRange suffix{fetch.range.first() + 2, fetch.range.last()};
    const auto answer = engine.classify(P1, suffix, suffix.size());
    CHECK(answer.verdict == Verdict::shifted);
    CHECK(answer.fetch->range == fetch.range);
    CHECK(engine.counters().bad_responses == 0);
  }
  CHECK(engine.counters().bad_responses == 0);
}

TEST_CASE("RangedFetch: malformed and unsolicited answers are blamed", "[ranged_fetch]") {
  auto engine = engine_with({P1, P2});
  const auto fetch = planned_for(engine.plan(at(0s), false), P1);

  SECTION("a count that does not match the range") {
    CHECK(engine.classify(P1, fetch.range, fetch.range.size() - 1).verdict == Verdict::rejected);
  }
  SECTION("an empty range with content") {
    CHECK(engine.classify(P1, IndexRange{}, 1).verdict == Verdict::rejected);
  }
  SECTION("a range reaching beyond the request") {
    const IndexRange longer{fetch.range.first(), fetch.range.last() + 1};
    CHECK(engine.classify(P1, longer, longer.size()).verdict == Verdict::rejected);
  }
  SECTION("a range nobody asked this peer for") {
    CHECK(engine.classify(P1, r(90, 95), 6).verdict == Verdict::rejected);
  }
  SECTION("another peer's request") {
    const auto p2 = engine.scheduler().inflight_overlapping(P2, r(1, 100));
    REQUIRE(p2.size() == 1);
    CHECK(engine.classify(P1, p2[0].range, p2[0].range.size()).verdict == Verdict::rejected);
  }
  SECTION("an empty answer that matches no request") {
    CHECK(engine.classify(P1, r(50, 60), 0).verdict == Verdict::rejected);
  }
  CHECK(engine.counters().bad_responses == 1);
  CHECK(engine.peers().at(P1).progress.bad_responses == 1);
}

TEST_CASE("RangedFetch: a blamed request returns to the pool", "[ranged_fetch]") {
  auto engine = engine_with({P1});
  const auto fetch = planned_for(engine.plan(at(0s), false), P1);
  CHECK(engine.scheduler().inflight_total() == 1);
  CHECK(engine.classify(P1, fetch.range, 1).verdict == Verdict::rejected);
  CHECK(engine.scheduler().inflight_total() == 0);
  // The same range again from the peer is late (it was given up on), not blamed twice.
  CHECK(engine.classify(P1, fetch.range, fetch.range.size()).verdict == Verdict::late);
  CHECK(engine.counters().bad_responses == 1);
  CHECK(engine.counters().late_responses == 1);
}

TEST_CASE("RangedFetch: a peer is excluded after max_bad_responses, once", "[ranged_fetch]") {
  auto engine = engine_with({P1, P2});
  (void)engine.plan(at(0s), false);
  CHECK_FALSE(engine.reject(P1, r(90, 90), "one"));
  CHECK_FALSE(engine.reject(P1, r(90, 90), "two"));
  CHECK(engine.usable_peers() == 2);
  CHECK(engine.reject(P1, r(90, 90), "three"));
  CHECK(engine.peers().at(P1).progress.excluded);
  CHECK(engine.usable_peers() == 1);
  CHECK(engine.counters().excluded_peers == 1);
  CHECK_FALSE(engine.reject(P1, r(90, 90), "four")); // already excluded
  CHECK(engine.counters().excluded_peers == 1);
  // Its requests went back to the pool, and it gets no new ones.
  CHECK(engine.scheduler().inflight_overlapping(P1, r(1, 100)).empty());
  for (const auto& fetch : engine.plan(at(1s), false)) {
    CHECK(fetch.peer != P1);
  }
}

TEST_CASE("RangedFetch: an empty answer releases the request without blame", "[ranged_fetch]") {
  auto engine = engine_with({P1, P2}, 20);
  const auto planned = engine.plan(at(0s), false);
  const auto fetch = planned_for(planned, P1);
  const auto other = planned_for(planned, P2);
  const auto answer = engine.classify(P1, fetch.range, 0);
  CHECK(answer.verdict == Verdict::empty);
  CHECK(engine.counters().empty_responses == 1);
  CHECK(engine.counters().bad_responses == 0);
  // Its availability is forgotten: the range goes elsewhere, not back to it.
  CHECK_FALSE(engine.scheduler().availability(P1));
  engine.take(other, payload(other.range), at(10ms));
  const auto next = engine.plan(at(10ms), false);
  REQUIRE(next.size() == 1);
  CHECK(next[0].peer == P2);
  CHECK(next[0].range == fetch.range);
}

TEST_CASE("RangedFetch: taken answers are handed over in order", "[ranged_fetch]") {
  auto engine = engine_with({P1, P2}, 20);
  const auto planned = engine.plan(at(0s), false);
  const auto first = planned_for(planned, P1);
  const auto second = planned_for(planned, P2);
  REQUIRE(first.range == r(1, 10));
  REQUIRE(second.range == r(11, 20));

  // The second range arrives first: it is held, nothing is handed over.
  engine.take(second, payload(second.range), at(10ms));
  CHECK(engine.held() == 10);
  CHECK(engine.chunks_held() == 1);
  CHECK_FALSE(engine.take_next(Index{1}));
  CHECK(engine.counters().max_entries_held == 10);

  engine.take(first, payload(first.range), at(20ms));
  CHECK(engine.counters().max_entries_held == 20);
  CHECK(engine.counters().max_chunks_held == 2);
  auto chunk = engine.take_next(Index{1});
  REQUIRE(chunk);
  CHECK(chunk->range == r(1, 10));
  CHECK(chunk->peer == P1);
  CHECK(chunk->items == payload(r(1, 10)));
  engine.advance(chunk->range.last());
  chunk = engine.take_next(Index{11});
  REQUIRE(chunk);
  CHECK(chunk->peer == P2);
  engine.advance(chunk->range.last());
  CHECK(engine.held() == 0);
  CHECK(engine.gap().empty());
  // A second copy of a taken answer is a duplicate, not the peer's fault.
  CHECK(engine.classify(P1, r(1, 10), 10).verdict == Verdict::duplicate);
  CHECK(engine.counters().duplicate_responses == 1);
}

TEST_CASE("RangedFetch: a chunk found bad after it was taken is fetched again", "[ranged_fetch]") {
  auto engine = engine_with({P1, P2}, 10);
  const auto fetch = planned_for(engine.plan(at(0s), false), P1);
  engine.take(fetch, payload(fetch.range), at(10ms));
  auto chunk = engine.take_next(Index{1});
  REQUIRE(chunk);
  engine.discard(chunk->range);
  engine.reject(chunk->peer, chunk->range, "its content is wrong");
  const auto again = engine.plan(at(20ms), false);
  REQUIRE(again.size() == 1);
  CHECK(again[0].range == r(1, 10));
}

TEST_CASE("RangedFetch: the leader is asked last", "[ranged_fetch]") {
  auto engine = engine_with({P1, L}, 100, L);
  engine.hold_leader_until(at(250ms));
  CHECK(engine.next_deadline() == at(250ms));

  auto planned = engine.plan(at(0s), false);
  REQUIRE(planned.size() == 1);
  CHECK(planned[0].peer == P1);
  CHECK(engine.leader_held());

  SECTION("until its hold expires") {
    planned = engine.plan(at(250ms), false);
    REQUIRE(planned.size() == 1);
    CHECK(planned[0].peer == L);
  }
  SECTION("or the others need no more time") {
    planned = engine.plan(at(10ms), true);
    REQUIRE(planned.size() == 1);
    CHECK(planned[0].peer == L);
  }
  CHECK_FALSE(engine.leader_held());
}

TEST_CASE("RangedFetch: an expired request is given up on, and the peer backs off", "[ranged_fetch]") {
  auto engine = engine_with({P1, P2});
  const auto planned = engine.plan(at(0s), false);
  const auto fetch = planned_for(planned, P1);
  // P2 answers quickly: its learned timeout bounds what P1, which never answered, is waited for.
  const auto p2 = planned_for(planned, P2);
  engine.take(p2, payload(p2.range), at(20ms));
  const auto learned = engine.peers().at(P2).progress.fetch_timeout;
  CHECK(learned >= 100ms);
  CHECK(learned < 5s);

  const auto deadline = engine.next_deadline();
  REQUIRE(deadline);
  CHECK(*deadline < at(5s));
  CHECK(engine.expire(*deadline - 1ms).empty());
  const auto expired = engine.expire(*deadline);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].range == fetch.range);
  CHECK(engine.counters().timeouts == 1);
  CHECK(engine.peers().at(P1).progress.timeouts == 1);
  CHECK_FALSE(engine.scheduler().availability(P1));
  // A late answer to it is dropped without blame.
  CHECK(engine.classify(P1, fetch.range, fetch.range.size()).verdict == Verdict::late);
  CHECK(engine.counters().bad_responses == 0);
}

TEST_CASE("RangedFetch: a peer that leaves returns its requests to the pool", "[ranged_fetch]") {
  auto engine = engine_with({P1, P2}, 20);
  (void)engine.plan(at(0s), false);
  CHECK_FALSE(engine.bond(P1)); // already bonded
  const auto released = engine.unbond(P1);
  REQUIRE(released.size() == 1);
  CHECK(released[0].range == r(1, 10));
  CHECK_FALSE(engine.is_usable(P1));
  CHECK(engine.bond(P1));
}

TEST_CASE("RangedFetch: snapshot items are fetched alike, and a restart forgets the old gap",
          "[ranged_fetch]") {
  fetch::RangedFetch<ItemNumber, int> items(policy(4), ItemRange{}, L, "test", "items");
  items.bond(P1);
  items.bond(L);
  CHECK(items.plan(at(0s), false).empty()); // nothing to fetch yet

  items.restart(item_range(1, 8));
  items.set_availability(P1, item_range(1, 8));
  items.set_availability(L, item_range(1, 8));
  items.hold_leader_until(at(1s));
  const auto first = items.plan(at(0s), false);
  REQUIRE(first.size() == 1);
  CHECK(first[0].peer == P1);
  CHECK(first[0].range == item_range(1, 4));
  items.take(first[0], {1, 2, 3, 4}, at(5ms));
  CHECK(items.take_next(ItemNumber{1})->items == std::vector<int>{1, 2, 3, 4});
  items.advance(ItemNumber{4});
  CHECK_FALSE(items.reject(P1, item_range(7, 7), "bad"));
  CHECK_FALSE(items.reject(P1, item_range(7, 7), "bad"));
  CHECK(items.reject(P1, item_range(7, 7), "bad")); // the third excludes it

  // Another snapshot: the remembered answers go, the peers' standing stays.
  items.restart(item_range(1, 3));
  CHECK(items.gap() == item_range(1, 3));
  CHECK_FALSE(items.leader_held());
  CHECK(items.classify(L, item_range(1, 4), 4).verdict == Verdict::rejected); // not remembered as taken
  CHECK(items.peers().at(P1).progress.excluded);
  CHECK(items.peers().at(L).progress.bad_responses == 1);
}
