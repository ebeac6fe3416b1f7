// The consumer check: a program built against mosaik the way a user would,
// through FetchContent (fetchcontent/) or an installed package (find_package/).
// It catches up an empty follower from three providers in the simulator and
// exits non-zero unless the follower ends with the providers' log.

#include <string>

#include <mosaik/mosaik.hpp>
#include <mosaik/sim/network.hpp>
#include <mosaik/sim/simulator.hpp>
#include <mosaik/testing/sync_cluster.hpp>

struct Notes {
  using Command = std::string;
  void apply(const Command&) {}
  [[nodiscard]] std::string signature() const { return "notes/1"; }
};

int main() {
  using namespace mosaik;
  sim::Simulator simulator{/*seed=*/7};
  sim::Network network{simulator};
  network.set_default_link(sim::LinkConfig{.latency = 10ms, .bandwidth_bytes_per_second = 1e6});
  testing::SyncCluster<Notes> cluster{simulator, network, sync::LogReplayConfig{.batch_size = 100}};

  for (std::uint64_t peer = 1; peer <= 3; ++peer) {
    auto& provider = cluster.add_node(PeerId{peer});
    for (int i = 1; i <= 1000; ++i) {
      provider.local_log().append("note " + std::to_string(i), Term{1});
    }
    provider.set_commit_index(Index{1000});
    provider.set_leader(PeerId{1});
  }
  auto& follower = cluster.add_node(PeerId{4});
  follower.set_leader(PeerId{1});
  follower.start_session(Cursor{Term{1}, Index{1000}}, Index{1000});
  simulator.run();

  const auto& outcome = follower.outcome();
  if (!outcome || !outcome->ok() || follower.local_log().last() != Cursor{Term{1}, Index{1000}} ||
      follower.local_log().get(Index{1000})->command != "note 1000") {
    return 1;
  }
  log::info("consumer: caught up to {} from {} peers", outcome->last,
            follower.session()->progress().peers.size());
  return 0;
}
