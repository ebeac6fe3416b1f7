// Joining and leadership preferences: a member that starts after the group
// elected a leader follows it without an election; a reluctant member lets
// the others lead when they can.

#include "group_world.hpp"

namespace mosaik::test {

TEST_CASE("a member joining a running group follows its leader without an election",
          "[group][election][join]") {
  for (std::uint64_t seed = 61; seed <= 80; ++seed) {
    CounterSim sim{seed};
    INFO("seed " << seed);
    const std::vector<PeerId> ids{PeerId{1}, PeerId{2}, PeerId{3}};
    for (const auto id : ids) {
      sim.world.add(id, counter_options(ids));
    }
    // Two of three form a majority and elect a leader.
    sim.world.start(ids[0]);
    sim.world.start(ids[1]);
    const auto leader = sim.elect();
    REQUIRE(leader.has_value());
    const auto term = sim.world[*leader].core().term();
    const auto done = sim.world.await(sim.world[*leader].execute(Counter::Command{7}));
    REQUIRE(done.has_value());
    REQUIRE(done->ok());

    // The third starts later: it hears the leader's heartbeats before its own
    // (bootstrap) election timeout and simply follows.
    auto& late = sim.world.start(ids[2]);
    REQUIRE(
        sim.world.run_until([&] { return late.leader() == leader && late.applied() >= done->value(); }, 5s));
    sim.world.simulator().advance(2s);
    CHECK(late.core().counters().pre_votes_started == 0);
    CHECK(late.core().counters().elections_started == 0);
    CHECK(sim.world[*leader].core().term() == term);
    CHECK(sim.world.leaders() == std::vector<PeerId>{*leader});
    CHECK(late.machine().value() == 7);
    sim.require_safe();
  }
}

TEST_CASE("a reluctant member lets the normal members lead", "[group][election][preference]") {
  const std::vector<PeerId> ids{PeerId{1}, PeerId{2}, PeerId{3}};
  const auto reluctant = ids[0];
  auto options = counter_options(ids);
  options.config.members[0].preference = group::Preference::reluctant;
  for (std::uint64_t seed = 81; seed <= 110; ++seed) {
    CounterSim sim{seed};
    INFO("seed " << seed);
    for (const auto id : ids) {
      sim.world.add(id, options);
      sim.world.start(id);
    }
    const auto first = sim.elect();
    REQUIRE(first.has_value());
    CHECK(*first != reluctant);
    CHECK(sim.world[reluctant].core().counters().pre_votes_started == 0);

    // The leader crashes: the remaining normal member (shorter timeout) takes
    // over; the reluctant one only votes.
    sim.world.crash(*first);
    const auto next = sim.elect(20s);
    REQUIRE(next.has_value());
    CHECK(*next != reluctant); // the remaining normal member wins first
    sim.require_safe();
  }
}

} // namespace mosaik::test
