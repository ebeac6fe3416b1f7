// Unit tests of CatchUpHandoff, the follower's record of handing a gap to a
// catch-up session: the session's life, the retry backoff, the verified
// suffix and the probe it asked for.

#include <catch2/catch.hpp>

#include <mosaik/group/catch_up_handoff.hpp>

using namespace mosaik;
using namespace mosaik::group;
using namespace std::chrono_literals;

namespace {
constexpr TimePoint t0{};
constexpr PeerId L1{1};
constexpr PeerId L2{2};
} // namespace

TEST_CASE("CatchUpHandoff: a session runs for one leader of one term", "[unit][handoff]") {
  CatchUpHandoff handoff;
  CHECK(handoff.idle());
  handoff.open(Term{3}, L1, Index{40});
  CHECK(handoff.running());
  CHECK(handoff.serves(Term{3}, L1));
  CHECK_FALSE(handoff.serves(Term{4}, L1));
  CHECK_FALSE(handoff.serves(Term{3}, L2));
  handoff.leader_committed(Index{30}); // never backwards
  CHECK(handoff.leader_commit() == Index{40});
  handoff.leader_committed(Index{55});
  CHECK(handoff.leader_commit() == Index{55});

  SECTION("completed: no backoff, still current for the same leader only") {
    CHECK_FALSE(handoff.finished(true, t0, 100ms));
    CHECK(handoff.idle());
    CHECK_FALSE(handoff.backing_off());
    CHECK(handoff.still_current(Term{3}, L1));
    CHECK_FALSE(handoff.still_current(Term{3}, std::nullopt));
    CHECK_FALSE(handoff.still_current(Term{4}, L1));
  }
  SECTION("failed: the next session waits for the backoff") {
    CHECK_FALSE(handoff.finished(false, t0 + 1s, 100ms));
    CHECK(handoff.backing_off());
    CHECK(handoff.retry_at() == t0 + 1100ms);
    handoff.tick(t0 + 1099ms);
    CHECK(handoff.backing_off());
    handoff.tick(t0 + 1100ms);
    CHECK_FALSE(handoff.backing_off());
  }
  SECTION("cancelled by us (the leader changed): it ends without a backoff") {
    handoff.cancel();
    CHECK(handoff.state() == CatchUpHandoff::State::cancelling);
    CHECK_FALSE(handoff.serves(Term{3}, L1));
    CHECK_FALSE(handoff.idle()); // no election until the session has ended
    CHECK(handoff.finished(false, t0, 100ms));
    CHECK(handoff.idle());
    CHECK_FALSE(handoff.backing_off());
  }
  SECTION("cancel is only for a running session") {
    CHECK_FALSE(handoff.finished(true, t0, 100ms));
    handoff.cancel();
    CHECK(handoff.idle());
  }
}

TEST_CASE("CatchUpHandoff: the verified suffix is vouched for by one term's leader", "[unit][handoff]") {
  CatchUpHandoff handoff;
  const Cursor local{Term{2}, Index{20}};
  const Cursor leader_prev{Term{5}, Index{30}};
  // Nothing verified: a suffix above the commit index of another term than the leader's is unknown.
  CHECK_FALSE(handoff.suffix_verified(local, Index{10}, Term{5}, leader_prev));
  // Committed entries are everybody's; an entry of the leader's previous term is the leader's.
  CHECK(handoff.suffix_verified(local, Index{20}, Term{5}, leader_prev));
  CHECK(handoff.suffix_verified(local, Index{10}, Term{5}, Cursor{Term{2}, Index{30}}));

  handoff.mark_verified(Index{20}, Term{5}, Index{10});
  CHECK(handoff.suffix_verified(local, Index{10}, Term{5}, leader_prev));
  // A later term's leader did not vouch for it.
  CHECK_FALSE(handoff.suffix_verified(local, Index{10}, Term{6}, leader_prev));
  // Verified up to 20; dropping 15.. verifies only up to 14.
  handoff.truncated(Index{15});
  CHECK_FALSE(handoff.suffix_verified(local, Index{10}, Term{5}, leader_prev));
  CHECK(handoff.suffix_verified(Cursor{Term{2}, Index{14}}, Index{10}, Term{5}, leader_prev));

  SECTION("a new term starts from its commit index") {
    handoff.mark_verified(Index{12}, Term{6}, Index{11});
    CHECK(handoff.suffix_verified(Cursor{Term{2}, Index{12}}, Index{10}, Term{6}, leader_prev));
    CHECK_FALSE(handoff.suffix_verified(Cursor{Term{2}, Index{14}}, Index{10}, Term{6}, leader_prev));
  }
}

TEST_CASE("CatchUpHandoff: a probe is remembered per term and last index", "[unit][handoff]") {
  CatchUpHandoff handoff;
  CHECK_FALSE(handoff.probe_asked(Term{2}, Index{9}));
  handoff.asked_probe(Term{2}, Index{9});
  CHECK(handoff.probe_asked(Term{2}, Index{9}));
  CHECK_FALSE(handoff.probe_asked(Term{3}, Index{9}));
  CHECK_FALSE(handoff.probe_asked(Term{2}, Index{8}));
  handoff.forget_probe();
  CHECK_FALSE(handoff.probe_asked(Term{2}, Index{9}));
}
