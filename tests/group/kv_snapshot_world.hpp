#pragma once
// Shared set-up for the snapshot catch-up group tests: a simulated KvStore
// group on the snapshot strategy (small snapshot interval and retained
// window, so logs are pruned after a few thousand writes), and helpers that
// read like the scenario.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <mosaik/machines/kv_store.hpp>
#include <mosaik/testing/group_world.hpp>

#include "../support/counter_members.hpp"

namespace mosaik::test {

using Kv = machines::KvStore;
using KvWorld = testing::GroupWorld<Kv, sync::SnapshotSync>;
using KvSnapshotSync = KvWorld::Strategy;

/// Snapshots every 500 entries, 200 entries kept below them, items fetched 100 at a time.
inline sync::SnapshotConfig snapshot_config() {
  sync::SnapshotConfig config;
  config.replay.batch_size = 200;
  config.replay.fetch_timeout = 2s;
  config.replay.min_fetch_timeout = 100ms;
  config.item_batch = 100;
  config.snapshot_interval = 500;
  config.retained_entries = 200;
  config.probe_timeout = 200ms;
  return config;
}

inline KvWorld::Options kv_options(const std::vector<PeerId>& members, std::string key,
                                   sync::SnapshotConfig config = snapshot_config()) {
  KvWorld::Options options;
  options.key = std::move(key);
  options.config = fast_config(members);
  options.strategy = KvSnapshotSync{config};
  options.commit_timeout = 20s;
  return options;
}

/// A KvStore group on the simulator (1 ms links of `bandwidth` bytes/s, 0:
/// unlimited); its members' storage comes from the world's factory (memory
/// unless set_storage is called).
struct KvSim {
  explicit KvSim(std::uint64_t seed_value, double bandwidth = 0, std::string group_key = "test-kv-snapshots")
      : seed(seed_value), key(std::move(group_key)), simulator(seed), network(simulator),
        world(simulator, network) {
    sim::LinkConfig link;
    link.latency = 1ms;
    link.bandwidth_bytes_per_second = bandwidth;
    network.set_default_link(link);
  }

  std::uint64_t seed;
  std::string key;
  sim::Simulator simulator;
  sim::Network network;
  KvWorld world;

  /// Adds every one of `members`, starts `ids` among them and waits for a leader they all know.
  PeerId start(const std::vector<PeerId>& ids, const std::vector<PeerId>& members,
               sync::SnapshotConfig config = snapshot_config()) {
    for (const auto id : members) {
      world.add(id, kv_options(members, key, config)); // the others start later
    }
    for (const auto id : ids) {
      world.start(id);
    }
    INFO("seed " << seed);
    REQUIRE(elect());
    return *world.leader();
  }

  /// Runs until a leader is known to every live member.
  bool elect(Duration limit = 10s) {
    return world.run_until(
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
  }

  /// Puts `count` values over `keys` distinct keys, in batches of 100, through the leader.
  void write(std::uint64_t first, std::uint64_t count, std::uint64_t keys) {
    constexpr std::uint64_t batch = 100;
    for (std::uint64_t done = 0; done < count; done += batch) {
      std::vector<Kv::Command> commands;
      for (std::uint64_t i = done; i < std::min(count, done + batch); ++i) {
        const auto n = first + i;
        commands.push_back(Kv::put(fmt::format("key-{:05}", n % keys), fmt::format("value-{}", n)));
      }
      const auto leader = world.leader();
      INFO("seed " << seed);
      REQUIRE(leader.has_value());
      const auto result = world.await(world[*leader].execute_many(std::move(commands)), 20s);
      REQUIRE(result.has_value());
      REQUIRE(result->ok());
    }
  }

  /// Whether every live member applied the leader's commit and holds its digest.
  bool converged() {
    const auto leader = world.leader();
    if (!leader) {
      return false;
    }
    const auto& reference = world[*leader];
    for (const auto& [id, member] : world.members()) {
      if (member->group && (member->group->applied() < reference.committed() ||
                            member->group->machine().digest() != reference.machine().digest())) {
        return false;
      }
    }
    return world.converged();
  }

  /// Runs until converged(), or `limit`.
  bool converge(Duration limit = 20s) {
    return world.run_until([&] { return converged(); }, limit);
  }

  void require_safe() {
    world.check_logs();
    INFO("seed " << seed << "\n" << world.violation_report());
    REQUIRE(world.violations().empty());
  }
};

/// The peers whose providers served snapshot items.
inline std::vector<PeerId> item_servers(KvWorld& world) {
  std::vector<PeerId> out;
  for (const auto& [id, member] : world.members()) {
    if (member->group && member->group->provider().counters().items_served > 0) {
      out.push_back(id);
    }
  }
  return out;
}

} // namespace mosaik::test
