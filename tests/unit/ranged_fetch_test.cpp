// Unit tests of RangedFetch, the fetch engine both catch-up strategies share:
// classification of answers, blame and exclusion, in-order reassembly, the
// leader's hold, timeouts, whose messages are read, when an exclusion
// strands the fetch, asking peers again, and a restart on a new gap. Positions here are
// snapshot items as well as log indices: the engine knows neither.

#include <cstdint>
#include <optional>
#include <set>
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
using Shifted = fetch::Shifted;

TimePoint at(Duration since_epoch) {
  return TimePoint{} + since_epoch;
}

fetch::FetchPolicy policy(std::uint64_t batch = 10, std::uint32_t inflight = 1) {
  return fetch::FetchPolicy{batch, inflight, 5s, 100ms, 3, 250ms, 1s};
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
    const auto answer = engine.classify(P1, fetch.range, fetch.range.size(), Shifted::give_up);
    CHECK(answer.verdict == Verdict::matches);
    REQUIRE(answer.fetch);
    CHECK(answer.fetch->range == fetch.range);
  }
  SECTION("a prefix of it (a response-size cap)") {
    const auto prefix = fetch.range.take_front(3);
    const auto answer = engine.classify(P1, prefix, 3, Shifted::give_up);
    CHECK(answer.verdict == Verdict::matches);
    CHECK(answer.fetch->range == fetch.range);
  }
  SECTION("a suffix of it is shifted: given up on without blame where positions may be pruned") {
    const IndexRange suffix{fetch.range.first() + 2, fetch.range.last()};
    const auto answer = engine.classify(P1, suffix, suffix.size(), Shifted::give_up);
    CHECK(answer.verdict == Verdict::shifted);
    CHECK(answer.fetch->range == fetch.range);
    CHECK(engine.counters().bad_responses == 0);
    CHECK(engine.counters().empty_responses == 1);
    CHECK(engine.scheduler().inflight_overlapping(P1, fetch.range).empty());
    CHECK_FALSE(engine.scheduler().availability(P1)); // asked again what it holds before new work
    // Its answer, should it come after all, is late: no blame.
    CHECK(engine.classify(P1, fetch.range, fetch.range.size(), Shifted::give_up).verdict == Verdict::late);
  }
  SECTION("a suffix of it is blamed where nothing is ever pruned") {
    const IndexRange suffix{fetch.range.first() + 2, fetch.range.last()};
    const auto answer = engine.classify(P1, suffix, suffix.size(), Shifted::reject);
    CHECK(answer.verdict == Verdict::shifted);
    CHECK_FALSE(answer.excluded);
    CHECK(engine.counters().bad_responses == 1);
    CHECK(engine.scheduler().inflight_overlapping(P1, fetch.range).empty());
    return;
  }
  CHECK(engine.counters().bad_responses == 0);
}

TEST_CASE("RangedFetch: malformed and unsolicited answers are blamed", "[ranged_fetch]") {
  auto engine = engine_with({P1, P2});
  const auto fetch = planned_for(engine.plan(at(0s), false), P1);

  SECTION("a count that does not match the range") {
    CHECK(engine.classify(P1, fetch.range, fetch.range.size() - 1, Shifted::give_up).verdict ==
          Verdict::rejected);
  }
  SECTION("an empty range with content") {
    CHECK(engine.classify(P1, IndexRange{}, 1, Shifted::give_up).verdict == Verdict::rejected);
  }
  SECTION("a range reaching beyond the request") {
    const IndexRange longer{fetch.range.first(), fetch.range.last() + 1};
    CHECK(engine.classify(P1, longer, longer.size(), Shifted::give_up).verdict == Verdict::rejected);
  }
  SECTION("a range nobody asked this peer for") {
    CHECK(engine.classify(P1, r(90, 95), 6, Shifted::give_up).verdict == Verdict::rejected);
  }
  SECTION("another peer's request") {
    const auto p2 = engine.scheduler().inflight_overlapping(P2, r(1, 100));
    REQUIRE(p2.size() == 1);
    CHECK(engine.classify(P1, p2[0].range, p2[0].range.size(), Shifted::give_up).verdict ==
          Verdict::rejected);
  }
  SECTION("an empty answer that matches no request") {
    CHECK(engine.classify(P1, r(50, 60), 0, Shifted::give_up).verdict == Verdict::rejected);
  }
  CHECK(engine.counters().bad_responses == 1);
  CHECK(engine.peers().at(P1).progress.bad_responses == 1);
}

TEST_CASE("RangedFetch: a blamed request returns to the pool", "[ranged_fetch]") {
  auto engine = engine_with({P1});
  const auto fetch = planned_for(engine.plan(at(0s), false), P1);
  CHECK(engine.scheduler().inflight_total() == 1);
  CHECK(engine.classify(P1, fetch.range, 1, Shifted::give_up).verdict == Verdict::rejected);
  CHECK(engine.scheduler().inflight_total() == 0);
  // The same range again from the peer is late (it was given up on), not blamed twice.
  CHECK(engine.classify(P1, fetch.range, fetch.range.size(), Shifted::give_up).verdict == Verdict::late);
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
  const auto answer = engine.classify(P1, fetch.range, 0, Shifted::give_up);
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
  CHECK(engine.classify(P1, r(1, 10), 10, Shifted::give_up).verdict == Verdict::duplicate);
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
  CHECK(engine.classify(P1, fetch.range, fetch.range.size(), Shifted::give_up).verdict == Verdict::late);
  CHECK(engine.counters().bad_responses == 0);
}

TEST_CASE("RangedFetch: a peer that leaves returns its requests to the pool", "[ranged_fetch]") {
  auto engine = engine_with({P1, P2}, 20);
  (void)engine.plan(at(0s), false);
  CHECK_FALSE(engine.bond(P1)); // already bonded
  REQUIRE(engine.scheduler().inflight_total() == 2);
  CHECK(engine.unbond(P1));
  CHECK(engine.scheduler().inflight_total() == 1);
  CHECK_FALSE(engine.is_usable(P1));
  CHECK_FALSE(engine.unbond(P1));        // already gone
  CHECK_FALSE(engine.unbond(PeerId{7})); // never bonded: no record is made for it
  CHECK_FALSE(engine.peers().contains(PeerId{7}));
  // Its range went back to the pool: it is asked for again once the peer returns.
  CHECK(engine.bond(P1));
  engine.set_availability(P1, r(1, 20));
  CHECK(planned_for(engine.plan(at(1s), false), P1).range == r(1, 10));
}

TEST_CASE("RangedFetch: only messages from bonded peers that are not excluded are read", "[ranged_fetch]") {
  auto engine = engine_with({P1, P2});
  CHECK(engine.from_bonded(P1, "a message"));
  CHECK(engine.counters().unbonded_messages == 0);

  CHECK_FALSE(engine.from_bonded(PeerId{7}, "a message")); // never bonded
  CHECK_FALSE(engine.peers().contains(PeerId{7}));
  CHECK(engine.unbond(P2));
  CHECK_FALSE(engine.from_bonded(P2, "a message")); // left
  CHECK(engine.counters().unbonded_messages == 2);

  for (int i = 0; i < 3; ++i) {
    engine.reject(P1, r(1, 1), "bad");
  }
  REQUIRE(engine.is_excluded(P1));
  CHECK_FALSE(engine.from_bonded(P1, "a message")); // excluded: dropped, but it is bonded
  CHECK(engine.counters().unbonded_messages == 2);
  CHECK_FALSE(engine.is_excluded(P2));
}

TEST_CASE("RangedFetch: an exclusion strands the fetch without the leader or anybody usable",
          "[ranged_fetch]") {
  auto engine = engine_with({P1, P2, L}, 100, L);
  const auto exclude = [&](PeerId peer) {
    for (int i = 0; i < 3; ++i) {
      engine.reject(peer, r(1, 1), "bad");
    }
    REQUIRE(engine.is_excluded(peer));
  };
  exclude(P1);
  CHECK_FALSE(engine.stranded_by(P1)); // P2 and the leader are left
  CHECK(engine.usable_peer_ids() == std::vector<PeerId>{P2, L});

  SECTION("the leader") {
    exclude(L);
    const auto reason = engine.stranded_by(L);
    REQUIRE(reason);
    CHECK(reason->find("the leader, peer 9") != std::string::npos);
  }
  SECTION("the last usable peer, with the leader gone") {
    CHECK(engine.unbond(L));
    exclude(P2);
    const auto reason = engine.stranded_by(P2);
    REQUIRE(reason);
    CHECK(reason->find("every bonded peer") != std::string::npos);
    CHECK(engine.usable_peer_ids().empty());
  }
}

TEST_CASE("RangedFetch: who was asked what it holds and has not answered", "[ranged_fetch]") {
  Engine engine(policy(), r(1, 100), L, "test", "entries");
  for (const auto peer : {P1, P2, L}) {
    engine.bond(peer);
    engine.ask_availability(peer);
  }
  CHECK(engine.counters().availability_requests == 3);
  CHECK(engine.awaiting().size() == 3);
  CHECK_FALSE(engine.others_answered());
  engine.answered(P1);
  CHECK_FALSE(engine.others_answered());
  CHECK(engine.unbond(P2));        // a peer that left is not waited for, though not answered
  CHECK(engine.others_answered()); // the leader is not waited for either
  CHECK(engine.awaiting() == std::set<PeerId>{P2, L});
  engine.answered(L);
  engine.answered(P2);
  CHECK(engine.awaiting().empty());
}

TEST_CASE("RangedFetch: peers are asked again on a doubling backoff while sources lack", "[ranged_fetch]") {
  // policy(): retries after 250ms, doubling up to 1s.
  auto engine = engine_with({P1, P2}, 100);
  CHECK_FALSE(engine.next_deadline()); // nothing in flight, no retry armed
  engine.retry_later(at(0s));
  engine.retry_later(at(100ms)); // armed already: it keeps its time
  CHECK(engine.next_deadline() == at(250ms));

  CHECK_FALSE(engine.tick(at(249ms), [] { return true; }).retrying);
  auto reask = engine.tick(at(250ms), [] { return true; });
  CHECK(reask.retrying);
  CHECK(reask.peers == std::set<PeerId>{P1, P2});
  CHECK_FALSE(engine.next_deadline()); // disarmed until armed again

  engine.retry_later(at(1s));
  CHECK(engine.next_deadline() == at(1500ms)); // doubled
  CHECK(engine.tick(at(1500ms), [] { return true; }).retrying);
  engine.retry_later(at(2s));
  CHECK(engine.next_deadline() == at(3s)); // doubled again: 1s, the cap
  CHECK(engine.tick(at(3s), [] { return true; }).retrying);
  engine.retry_later(at(4s));
  CHECK(engine.next_deadline() == at(5s)); // capped

  SECTION("a retry that finds sources asks nobody and keeps the backoff") {
    reask = engine.tick(at(5s), [] { return false; });
    CHECK_FALSE(reask.retrying);
    CHECK(reask.peers.empty());
    engine.retry_later(at(6s));
    CHECK(engine.next_deadline() == at(7s));
  }
  SECTION("progress resets the backoff") {
    engine.reset_retry_backoff();
    engine.cancel_retry();
    CHECK_FALSE(engine.next_deadline());
    engine.retry_later(at(6s));
    CHECK(engine.next_deadline() == at(6250ms));
  }
}

TEST_CASE("RangedFetch: a peer whose request expired is asked again what it holds", "[ranged_fetch]") {
  auto engine = engine_with({P1, P2}, 20);
  const auto planned = engine.plan(at(0s), false);
  const auto p2 = planned_for(planned, P2);
  engine.take(p2, payload(p2.range), at(10ms));
  const auto deadline = engine.next_deadline();
  REQUIRE(deadline);
  const auto reask = engine.tick(*deadline, [] { return false; });
  REQUIRE(reask.expired.size() == 1);
  CHECK(reask.expired[0].peer == P1);
  CHECK(reask.peers == std::set<PeerId>{P1});
  CHECK_FALSE(reask.retrying);
}

TEST_CASE("PeerProgress: another phase's counts add up", "[ranged_fetch]") {
  fetch::PeerProgress replay{5, 0, 2, 1, 0, false, 30ms, 200ms};
  const fetch::PeerProgress snapshot{0, 40, 3, 0, 1, true, 10ms, 100ms};
  replay += snapshot;
  CHECK(replay.entries == 5);
  CHECK(replay.items == 40);
  CHECK(replay.requests == 5);
  CHECK(replay.bad_responses == 1);
  CHECK(replay.timeouts == 1);
  CHECK(replay.excluded);
  CHECK(replay.response_time == 30ms); // this phase's
  CHECK(replay.fetch_timeout == 200ms);
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
  CHECK(items.classify(L, item_range(1, 4), 4, Shifted::reject).verdict ==
        Verdict::rejected); // not remembered as taken
  CHECK(items.peers().at(P1).progress.excluded);
  CHECK(items.peers().at(L).progress.bad_responses == 1);
}

// ---- the adaptive window ----------------------------------------------------------------

TEST_CASE("RangedFetch: a peer's window grows while answers do not queue, and shrinks when they do",
          "[ranged_fetch][window]") {
  auto engine = engine_with({P1}, 100'000, std::nullopt, policy(10, 8));
  CHECK(engine.scheduler().window(P1) == 4); // a new peer starts with four
  auto planned = engine.plan(at(0s), false);
  REQUIRE(planned.size() == 4);
  // Answered as fast as ever, with the window in use: one more.
  engine.take(planned[0], payload(planned[0].range), at(50ms));
  CHECK(engine.scheduler().window(P1) == 5);
  CHECK(engine.peers().at(P1).progress.window == 5);
  // Still fast (within 5/4 of the fastest) but the window no longer full: no change.
  engine.take(planned[1], payload(planned[1].range), at(55ms));
  CHECK(engine.scheduler().window(P1) == 5);
  // An answer that took more than twice the fastest: requests only queue; one back.
  engine.take(planned[2], payload(planned[2].range), at(120ms));
  CHECK(engine.scheduler().window(P1) == 4);
  // Never below the starting window on slowness alone.
  engine.take(planned[3], payload(planned[3].range), at(130ms));
  CHECK(engine.scheduler().window(P1) == 4);
  CHECK(engine.counters().max_window == 5);

  // A timeout halves it, once for every request of the peer that expired together.
  planned = engine.plan(at(1s), false);
  REQUIRE(planned.size() == 4);
  (void)engine.expire(at(1s) + 5s);
  CHECK(engine.scheduler().window(P1) == 2);
}

TEST_CASE("RangedFetch: the window stays within max_inflight_per_peer, and 1 turns adaptation off",
          "[ranged_fetch][window]") {
  auto engine = engine_with({P1}, 100'000, std::nullopt, policy(10, 1));
  CHECK(engine.scheduler().window(P1) == 1);
  for (int i = 0; i < 5; ++i) {
    const auto planned = engine.plan(at(std::chrono::seconds{i}), false);
    REQUIRE(planned.size() == 1);
    engine.take(planned[0], payload(planned[0].range), at(std::chrono::seconds{i}) + 10ms);
    CHECK(engine.scheduler().window(P1) == 1);
    const auto chunk = engine.take_next(planned[0].range.first());
    REQUIRE(chunk);
    engine.advance(chunk->range.last());
  }
}

TEST_CASE("RangedFetch: requests ask for what answers carry, and a short gap is shared out",
          "[ranged_fetch][window]") {
  SECTION("a provider that caps its answers in bytes: later requests ask for no more") {
    auto engine = engine_with({P1}, 100'000, std::nullopt, policy(100, 1));
    auto planned = engine.plan(at(0s), false);
    REQUIRE(planned.size() == 1);
    CHECK(planned[0].range.size() == 100);
    const auto prefix = planned[0].range.take_front(60);
    engine.take(planned[0], payload(prefix), at(10ms));
    planned = engine.plan(at(10ms), false);
    REQUIRE(planned.size() == 1);
    CHECK(planned[0].range.first() == Index{61});
    CHECK(planned[0].range.size() == 60);
  }
  SECTION("a gap shorter than the peers' starting windows of batches: every peer gets a share") {
    auto engine = engine_with({P1, P2}, 400, std::nullopt, policy(1000, 8));
    const auto planned = engine.plan(at(0s), false);
    // 400 positions over 2 peers x 4 requests: 50 each, not one request of 400.
    REQUIRE(planned.size() == 8);
    for (const auto& fetch : planned) {
      CHECK(fetch.range.size() == 50);
    }
  }
  SECTION("a request asks a peer for what its link delivers in request_time, never under a tail share") {
    auto settings = policy(1000, 1);
    settings.request_time = 100ms;
    auto engine = engine_with({P1, P2}, 100'000, std::nullopt, settings);
    auto planned = engine.plan(at(0s), false);
    auto p1 = planned_for(planned, P1);
    auto p2 = planned_for(planned, P2);
    CHECK(p1.range.size() == 1000);
    // P1 delivers 1000 positions in 500 ms (0.5 ms each): 200 fit in 100 ms;
    // P2 takes 2 s (2 ms each): 50.
    engine.take(p1, payload(p1.range), at(500ms));
    engine.take(p2, payload(p2.range), at(2s));
    planned = engine.plan(at(2s), false);
    CHECK(planned_for(planned, P1).range.size() == 200);
    CHECK(planned_for(planned, P2).range.size() == 50);
    CHECK(engine.scheduler().request_size(P1) == 200);
    CHECK(engine.scheduler().request_size(PeerId{77}) == 1000); // unknown peer: the batch
  }
  SECTION("request_time zero sizes requests by the batch alone") {
    auto settings = policy(1000, 1);
    settings.request_time = Duration::zero();
    auto engine = engine_with({P1}, 100'000, std::nullopt, settings);
    auto planned = engine.plan(at(0s), false);
    engine.take(planned[0], payload(planned[0].range), at(2s));
    planned = engine.plan(at(2s), false);
    REQUIRE(planned.size() == 1);
    CHECK(planned[0].range.size() == 1000);
  }
}

// ---- hedging ------------------------------------------------------------------------------

namespace {

/// P1 answers in 300 ms, P2 in 10 ms; P1's pace is known once its first answer is in.
struct SlowPeerSetup {
  Engine engine = engine_with({P1, P2}, 100'000, std::nullopt, policy(10, 1));
  Engine::Fetch p1_request{};

  SlowPeerSetup() {
    auto planned = engine.plan(at(0s), false);
    auto p1 = planned_for(planned, P1);
    auto p2 = planned_for(planned, P2);
    engine.take(p2, payload(p2.range), at(10ms));
    engine.take(p1, payload(p1.range), at(300ms));
    planned = engine.plan(at(300ms), false);
    p1_request = planned_for(planned, P1);
  }
};

} // namespace

TEST_CASE("RangedFetch: a much slower peer's request is hedged by a faster one, the loser not blamed",
          "[ranged_fetch][hedge]") {
  SlowPeerSetup setup;
  auto& engine = setup.engine;
  // P2's slot frees at its next answer: the slow request goes to it before new work does.
  const auto p2_request = *engine.scheduler().find_inflight(P2, engine.scheduler().unhedged().back().range);
  engine.take(p2_request, payload(p2_request.range), at(310ms));
  const auto planned = engine.plan(at(310ms), false);
  REQUIRE(planned.size() == 1);
  CHECK(planned[0].peer == P2);
  CHECK(planned[0].range == setup.p1_request.range);
  CHECK(engine.counters().hedged_requests == 1);

  // P2 answers first and wins; P1's copy, when it comes, is late and blameless.
  REQUIRE(engine.classify(P2, planned[0].range, 10, Shifted::give_up).verdict == Verdict::matches);
  engine.take(planned[0], payload(planned[0].range), at(320ms));
  CHECK(engine.scheduler().inflight_count(P1) == 1); // its answer is still on the wire
  CHECK(engine.classify(P1, setup.p1_request.range, 10, Shifted::give_up).verdict == Verdict::late);
  CHECK(engine.scheduler().inflight_count(P1) == 0);
  CHECK(engine.counters().bad_responses == 0);
  CHECK(engine.peers().at(P1).progress.bad_responses == 0);
}

TEST_CASE(
    "RangedFetch: peers of one speed do not hedge each other, but an idle one takes over an overdue request",
    "[ranged_fetch][hedge]") {
  auto engine = engine_with({P1, P2}, 20, std::nullopt, policy(10, 1));
  auto planned = engine.plan(at(0s), false);
  const auto p1 = planned_for(planned, P1);
  const auto p2 = planned_for(planned, P2);
  engine.take(p2, payload(p2.range), at(10ms));
  // P2 is idle with nothing left; P1 has not answered yet: its request is
  // overdue at twice the fastest peer's time (20 ms): until then it is not
  // hedged, and the fetch asks to be woken then, since no answer may come to wake it.
  CHECK(engine.plan(at(10ms), false).empty());
  CHECK(engine.next_deadline() == at(20ms));
  CHECK(engine.plan(at(19ms), false).empty());
  planned = engine.plan(at(20ms), false);
  REQUIRE(planned.size() == 1);
  CHECK(planned[0].peer == P2);
  CHECK(planned[0].range == p1.range);

  SECTION("with hedging off, nothing is asked twice") {
    auto settings = policy(10, 1);
    settings.hedge = false;
    auto plain = engine_with({P1, P2}, 20, std::nullopt, settings);
    auto first = plain.plan(at(0s), false);
    const auto q2 = planned_for(first, P2);
    plain.take(q2, payload(q2.range), at(10ms));
    CHECK(plain.plan(at(1s), false).empty());
    CHECK(plain.counters().hedged_requests == 0);
  }
}

TEST_CASE("RangedFetch: an idle peer takes over a request queued far behind another peer's work",
          "[ranged_fetch][hedge]") {
  // Two peers, four requests of 100 each; nothing is left to assign.
  auto engine = engine_with({P1, P2}, 800, std::nullopt, policy(100, 4));
  auto planned = engine.plan(at(0s), false);
  REQUIRE(planned.size() == 8);
  std::vector<Engine::Fetch> p1;
  std::vector<Engine::Fetch> p2;
  for (const auto& fetch : planned) {
    (fetch.peer == P1 ? p1 : p2).push_back(fetch);
  }
  REQUIRE(p1.size() == 4);
  REQUIRE(p2.size() == 4);
  // P2 delivers 100 positions every 100 ms (1 ms each), P1 every 200 ms (2 ms each).
  engine.take(p2[0], payload(p2[0].range), at(100ms));
  engine.take(p1[0], payload(p1[0].range), at(200ms));
  engine.take(p2[1], payload(p2[1].range), at(200ms));
  engine.take(p2[2], payload(p2[2].range), at(300ms));
  engine.take(p2[3], payload(p2[3].range), at(400ms));
  // At 400 ms P2 has nothing in flight. P1 answers its requests in order:
  // the second at 400 ms, the third at 600, the fourth at 800. P2 would
  // answer one in 100 ms: the third is worth taking over (500 < 600 by a
  // margin), the second is not; the fourth is left, P2 having work again.
  planned = engine.plan(at(400ms), false);
  REQUIRE(planned.size() == 1);
  CHECK(planned[0].peer == P2);
  CHECK(planned[0].range == p1[2].range);
  CHECK(engine.counters().hedged_requests == 1);
  CHECK(engine.scheduler().queued_positions(P2) == 100);
  CHECK(engine.scheduler().queued_through(p1[3]) == 300);
}

// ---- the byte budget -------------------------------------------------------------------------

TEST_CASE("RangedFetch: the window stays within max_buffered_bytes", "[ranged_fetch][window]") {
  // Items of 12 bytes ("entry-NNNNNN"), batches of 10, up to 8 in flight per peer.
  auto settings = policy(10, 8);
  settings.max_buffered_bytes = 600;
  settings.max_response_bytes = 300; // before any answer: 30 bytes a position, so 20 positions
  auto engine = Engine(settings, r(100'000, 199'999), std::nullopt, "test", "entries");
  for (const auto peer : {P1, P2}) {
    engine.bond(peer);
    engine.set_availability(peer, r(100'000, 199'999));
  }
  CHECK(engine.scheduler().window_range().size() == 20);
  auto planned = engine.plan(at(0s), false);
  REQUIRE(planned.size() == 2);
  // Once answers show 12 bytes a position, the window spans 600 / 12 = 50.
  const auto head = planned[0];
  engine.take(planned[1], payload(planned[1].range), at(10ms));
  CHECK(engine.scheduler().window_range().size() == 50);
  // Whatever arrives while the head is missing, what is held stays within the budget.
  auto now = at(10ms);
  for (int round = 0; round < 20; ++round) {
    now += 10ms;
    for (const auto& fetch : engine.plan(now, false)) {
      CHECK(fetch.range.last() < Index{100'000 + 50});
      engine.take(fetch, payload(fetch.range), now);
    }
  }
  CHECK(engine.counters().max_bytes_held <= 600);
  CHECK(engine.counters().max_bytes_held >= 600 - 2 * 10 * 12); // the window filled up behind the head
  engine.take(head, payload(head.range), now);
  CHECK(engine.take_next(Index{100'000}));
}
