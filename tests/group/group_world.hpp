#pragma once
// Shared set-up for the group runtime's simulation tests: a world of counter
// members with scaled-down timings, and helpers that read like the scenario.

#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <mosaik/machines/counter.hpp>
#include <mosaik/net/sim/group_world.hpp>

namespace mosaik::test {

using Counter = machines::Counter;
using CounterWorld = sim::GroupWorld<Counter>;
using CounterGroup = CounterWorld::GroupType;

/// Test timings: elections in ~200 ms of simulated time, heartbeats every 50 ms.
inline group::GroupConfig fast_config(std::vector<PeerId> members) {
  group::GroupConfig config;
  for (const auto id : members) {
    config.members.push_back(group::MemberSpec{id});
  }
  config.election_timeout = 200ms;
  config.election_jitter = 100ms;
  config.heartbeat_interval = 50ms;
  config.bootstrap_delay = 100ms;
  config.forward_timeout = 2s;
  config.sync_retry_backoff = 100ms;
  return config;
}

inline CounterWorld::Options counter_options(std::vector<PeerId> members, std::size_t sync_batch = 2000) {
  CounterWorld::Options options;
  options.key = "test-counter";
  options.config = fast_config(std::move(members));
  sync::LogReplayConfig sync_config;
  sync_config.batch_size = sync_batch;
  sync_config.fetch_timeout = 2s;
  sync_config.min_fetch_timeout = 100ms;
  options.strategy = sync::LogReplaySync<group::Replicated<Counter>>{sync_config};
  options.commit_timeout = 20s;
  return options;
}

/// Inc(first..first+count-1).
inline std::vector<Counter::Command> increments(std::int64_t first, std::int64_t count) {
  std::vector<Counter::Command> commands;
  for (std::int64_t i = first; i < first + count; ++i) {
    commands.push_back(Counter::Command{i});
  }
  return commands;
}

/// A world of counter members on a 1 ms network, seeded from Catch's seed
/// section; prints the seed on any failure.
struct CounterSim {
  explicit CounterSim(std::uint64_t seed_value)
      : seed(seed_value), simulator(seed), network(simulator), world(simulator, network) {
    sim::LinkConfig link;
    link.latency = 1ms;
    network.set_default_link(link);
  }
  ~CounterSim() { world.check_logs(); }

  std::uint64_t seed;
  sim::Simulator simulator;
  sim::Network network;
  CounterWorld world;

  /// Runs until a leader is known to every live member, or `limit`.
  std::optional<PeerId> elect(Duration limit = 10s) {
    world.run_until(
        [&] {
          const auto leader = world.leader();
          if (!leader) {
            return false;
          }
          for (const auto& [id, member] : world.members()) {
            if (member->group && member->group->leader() != leader) {
              return false;
            }
          }
          return true;
        },
        limit);
    return world.leader();
  }

  void require_safe() {
    world.check_logs();
    INFO("seed " << seed << "\n" << world.violation_report());
    REQUIRE(world.violations().empty());
  }
};

} // namespace mosaik::test
