#pragma once
// A small catch-up world for simulation tests: N providers holding the same
// committed log (peer 1 is the leader) and one empty follower, on the
// simulated network. Tests shape links and faults, run, and check the
// follower's log against the reference entry by entry.

#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <mosaik/testing/sync_cluster.hpp>

namespace mosaik::test {

struct BlobMachine {
  using Command = std::string;
  void apply(const Command&) {}
  [[nodiscard]] std::string signature() const { return "blob/1"; }
};

struct CatchUpWorld {
  using Cluster = testing::SyncCluster<BlobMachine>;

  CatchUpWorld(std::uint64_t seed, std::uint64_t providers, std::uint64_t entries,
               sync::LogReplayConfig config, sim::LinkConfig link = sim::LinkConfig{})
      : simulator(seed), network(simulator), cluster(simulator, network, config), leader(1),
        follower(providers + 1) {
    network.set_default_link(link);
    for (std::uint64_t i = 1; i <= entries; ++i) {
      // Terms grow now and then, as after elections.
      reference.push_back(Entry<std::string>{Term{1 + i / 97}, "cmd-" + std::to_string(i)});
    }
    for (std::uint64_t p = 1; p <= providers; ++p) {
      auto& node = cluster.add_node(PeerId{p});
      for (const auto& entry : reference) {
        node.local_log().append(entry.command, entry.term);
      }
      node.set_commit_index(Index{entries});
      node.set_leader(leader);
    }
    cluster.add_node(follower).set_leader(leader);
  }

  Cluster::Node& lagging() { return cluster.node(follower); }
  [[nodiscard]] Cursor target() const { return Cursor{reference.back().term, Index{reference.size()}}; }

  void start(std::vector<Entry<std::string>> buffered = {}) {
    lagging().start_session(target(), target().index, std::move(buffered));
  }

  /// Runs until the session ends or `limit` of simulated time passes.
  bool run(Duration limit = std::chrono::hours{1}) {
    const auto deadline = simulator.now() + limit;
    simulator.run_while([&] { return !lagging().outcome().has_value(); }, deadline);
    return lagging().outcome().has_value();
  }

  /// Runs to the end and requires success with the reference log (plus `extra`).
  void require_caught_up(const std::vector<Entry<std::string>>& extra = {}) {
    REQUIRE(run());
    REQUIRE(lagging().outcome()->ok());
    CHECK(log_matches(extra));
  }

  /// Whether the follower's log holds exactly the reference (plus `extra` after it).
  [[nodiscard]] bool log_matches(const std::vector<Entry<std::string>>& extra = {}) {
    const auto& log = lagging().local_log();
    if (log.last().index != Index{reference.size() + extra.size()}) {
      return false;
    }
    for (std::uint64_t i = 1; i <= reference.size() + extra.size(); ++i) {
      const auto* entry = log.get(Index{i});
      const auto& expected = i <= reference.size() ? reference[i - 1] : extra[i - reference.size() - 1];
      if (entry == nullptr || !(*entry == expected)) {
        return false;
      }
    }
    return true;
  }

  std::uint64_t served_by(PeerId peer) {
    const auto progress = lagging().session()->progress();
    const auto it = progress.peers.find(peer);
    return it == progress.peers.end() ? 0 : it->second.entries;
  }

  sim::Simulator simulator;
  sim::Network network;
  Cluster cluster;
  PeerId leader;
  PeerId follower;
  std::vector<Entry<std::string>> reference;
};

} // namespace mosaik::test
