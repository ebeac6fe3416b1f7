#pragma once
// Small helpers the simulated and the TCP group tests share: member ids,
// fast consensus timings and counter workloads.

#include <cstdint>
#include <vector>

#include <mosaik/core/ids.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/group/group_config.hpp>
#include <mosaik/machines/counter.hpp>

namespace mosaik::test {

/// Peers 1..count.
inline std::vector<PeerId> peers(std::uint64_t count) {
  std::vector<PeerId> out;
  for (std::uint64_t i = 1; i <= count; ++i) {
    out.push_back(PeerId{i});
  }
  return out;
}

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

/// Inc(first..first+count-1).
inline std::vector<machines::Counter::Command> increments(std::int64_t first, std::int64_t count) {
  std::vector<machines::Counter::Command> commands;
  for (std::int64_t i = first; i < first + count; ++i) {
    commands.push_back(machines::Counter::Command{i});
  }
  return commands;
}

/// The counter value Inc(first..first+count-1) adds.
inline std::int64_t increments_sum(std::int64_t first, std::int64_t count) {
  return count <= 0 ? 0 : (first + (first + count - 1)) * count / 2;
}

} // namespace mosaik::test
