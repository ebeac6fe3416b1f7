// Determinism: a seed replays a whole group run (elections, client commands,
// a crash and restart, a member joining late) event for event, so its trace
// hash is the same; another seed takes another path.

#include "group_world.hpp"

#include <algorithm>

namespace mosaik::test {
namespace {

using group::Errc;
using group::Result;

struct Outcome {
  std::uint64_t trace_hash = 0;
  std::uint64_t events = 0;
  std::int64_t value = 0;
  Index applied;
  std::uint64_t elections = 0;
  std::uint64_t messages = 0;
};

/// Elections, executes from every member, the leader's crash and restart,
/// then a fourth member that joins late and catches up.
Outcome run_scenario(std::uint64_t seed) {
  CounterSim sim{seed};
  INFO("seed " << seed);
  auto& world = sim.world;
  const auto ids = peers(3);
  start_all(sim, ids);
  const auto first = sim.elect();
  REQUIRE(first.has_value());

  std::vector<Pending<Result<Index>>> results;
  std::int64_t amount = 1;
  for (int round = 0; round < 5; ++round) {
    for (const auto id : ids) {
      results.push_back(spawn(world, world[id].execute(Counter::Command{amount++})));
    }
    world.simulator().advance(20ms);
  }
  REQUIRE(world.run_until(
      [&] {
        return std::all_of(results.begin(), results.end(), [](const auto& r) { return r->has_value(); });
      },
      30s));

  // The leader crashes; the others elect another, which commits; the old one comes back.
  world.crash(*first);
  const auto others = except(ids, {*first});
  const auto second = await_leader_among(world, others);
  const auto during = expect_ok(world.await(world[second].execute_many(increments(100, 5)), 10s));
  world.restart(*first);
  REQUIRE(converge(world, during.last()));

  // A late joiner: it starts with the group's list, is added as a learner and catches up.
  const PeerId late{4};
  world.add(late, counter_options(ids));
  world.start(late);
  expect_ok(world.await(world[second].add_member(late), 10s));
  const auto after = expect_ok(world.await(world[second].execute(Counter::Command{1000}), 10s));
  REQUIRE(converge(world, after));
  REQUIRE(world.run_until([&] { return world[second].core().membership().is_voter(late); }, 10s));
  world.simulator().advance(1s);
  CHECK(world[late].machine().value() == world[second].machine().value());
  sim.require_safe();

  Outcome outcome;
  outcome.trace_hash = world.simulator().trace_hash();
  outcome.events = world.simulator().events_run();
  outcome.value = world[second].machine().value();
  outcome.applied = world[second].applied();
  outcome.elections = world.leaders_by_term().size();
  outcome.messages = world.hub().messages_sent();
  return outcome;
}

} // namespace

TEST_CASE("the same seed replays the same run, another seed does not", "[group][determinism]") {
  std::vector<std::uint64_t> hashes;
  for (std::uint64_t seed = 801; seed <= 804; ++seed) {
    INFO("seed " << seed);
    const auto once = run_scenario(seed);
    const auto again = run_scenario(seed);
    CHECK(once.trace_hash == again.trace_hash);
    CHECK(once.events == again.events);
    CHECK(once.messages == again.messages);
    CHECK(once.value == again.value);
    CHECK(once.applied == again.applied);
    CHECK(once.elections == again.elections);
    // Every command applied: 1..15, 100..104 and 1000.
    CHECK(once.value == 120 + 510 + 1000);
    hashes.push_back(once.trace_hash);
  }
  std::sort(hashes.begin(), hashes.end());
  CHECK(std::adjacent_find(hashes.begin(), hashes.end()) == hashes.end());
}

} // namespace mosaik::test
