// Elections: a single member elects itself; three elect exactly one leader;
// a member joining later follows the existing leader without an election.

#include "group_world.hpp"

namespace mosaik::test {

TEST_CASE("a single member elects itself and commits", "[group][election]") {
  CounterSim sim{11};
  const auto a = PeerId{1};
  sim.world.add(a, counter_options({a}));
  auto& group = sim.world.start(a);
  REQUIRE(sim.elect() == a);
  const auto result = sim.world.await(group.execute(Counter::Command{5}));
  INFO("seed " << sim.seed);
  REQUIRE(result.has_value());
  REQUIRE(result->ok());
  CHECK(group.machine().value() == 5);
  CHECK(group.committed() == result->value());
  sim.require_safe();
}

TEST_CASE("three members elect exactly one leader", "[group][election]") {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    CounterSim sim{seed};
    std::vector<PeerId> ids{PeerId{1}, PeerId{2}, PeerId{3}};
    for (const auto id : ids) {
      sim.world.add(id, counter_options(ids));
      sim.world.start(id);
    }
    INFO("seed " << seed);
    const auto leader = sim.elect();
    REQUIRE(leader.has_value());
    CHECK(sim.world.leaders().size() == 1);
    sim.world.simulator().advance(2s);
    CHECK(sim.world.leaders() == std::vector<PeerId>{*leader});
    sim.require_safe();
  }
}

} // namespace mosaik::test
