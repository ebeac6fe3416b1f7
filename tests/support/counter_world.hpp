#pragma once
// A world of counter members on the simulator, without a test framework:
// member options with scaled-down timings, and the network set-ups the
// scenarios name. Shared by the Catch2 group tests (tests/group/group_world.hpp)
// and the scenario drivers (tests/scenarios), which programs may reuse.

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include <mosaik/machines/counter.hpp>
#include <mosaik/testing/group_world.hpp>

#include "counter_members.hpp"

namespace mosaik::test {

using Counter = machines::Counter;
using CounterWorld = testing::GroupWorld<Counter>;
using CounterGroup = CounterWorld::GroupType;

// ---- members and their options ---------------------------------------------------

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

/// counter_options with an explicit member list (preferences: observers, reluctant members).
inline CounterWorld::Options counter_options_specs(std::vector<group::MemberSpec> members,
                                                   std::size_t sync_batch = 2000) {
  auto options = counter_options({}, sync_batch);
  options.config.members = std::move(members);
  return options;
}

/// `all` without `removed`.
inline std::vector<PeerId> except(const std::vector<PeerId>& all, const std::vector<PeerId>& removed) {
  std::vector<PeerId> out;
  for (const auto id : all) {
    if (std::find(removed.begin(), removed.end(), id) == removed.end()) {
      out.push_back(id);
    }
  }
  return out;
}

/// `ids` and then `added`.
inline std::vector<PeerId> with(std::vector<PeerId> ids, PeerId added) {
  ids.push_back(added);
  return ids;
}

// ---- the network ----------------------------------------------------------------------

/// Every link: this latency and bandwidth (bytes per second, 0: unlimited).
inline void set_links(sim::Network& network, Duration latency, double bandwidth_bytes_per_second) {
  sim::LinkConfig link;
  link.latency = latency;
  link.bandwidth_bytes_per_second = bandwidth_bytes_per_second;
  network.set_default_link(link);
}

/// Cuts both directions of every link between a member of `a` and one of `b`.
inline void split(sim::Network& network, const std::vector<PeerId>& a, const std::vector<PeerId>& b) {
  for (const auto x : a) {
    for (const auto y : b) {
      network.partition(x, y);
    }
  }
}

} // namespace mosaik::test
