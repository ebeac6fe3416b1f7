// The compile-time probe: a one-file user program that runs three Counter
// members on the simulator (bench/compile_time.sh times its compilation).
#include <mosaik/group/group.hpp>
#include <mosaik/machines/counter.hpp>
#include <mosaik/sim/network.hpp>
#include <mosaik/sim/simulator.hpp>
#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/testing/group_network.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

using namespace mosaik;
using Counter = machines::Counter;
using CounterGroup = group::Group<Counter>;

int main() {
  sim::Simulator simulator{1};
  sim::Network network{simulator};
  testing::GroupNetwork<CounterGroup::Message> wire{simulator, network,
                                                    [](const auto&) { return std::size_t{64}; }};
  CounterGroup::Options options;
  options.config.members = {{PeerId{1}}, {PeerId{2}}, {PeerId{3}}};
  std::vector<std::unique_ptr<group::InMemoryHardState>> hards;
  std::vector<std::unique_ptr<storage::InMemoryLog<group::LogCommand<Counter::Command>>>> logs;
  std::vector<std::unique_ptr<testing::GroupNetwork<CounterGroup::Message>::Endpoint>> endpoints;
  std::vector<std::unique_ptr<CounterGroup>> groups;
  for (std::uint64_t id = 1; id <= 3; ++id) {
    endpoints.push_back(wire.endpoint(PeerId{id}));
    logs.push_back(std::make_unique<storage::InMemoryLog<group::LogCommand<Counter::Command>>>());
    hards.push_back(std::make_unique<group::InMemoryHardState>());
    options.seed = id;
    groups.push_back(std::make_unique<CounterGroup>(*endpoints.back(), *logs.back(), *hards.back(), options));
    groups.back()->start();
  }
  bool done = false;
  asio::co_spawn(
      simulator.executor(),
      [&]() -> asio::awaitable<void> {
        auto leader = co_await groups[0]->when_leader_elected();
        auto result = co_await groups[0]->execute(Counter::Command{+1});
        done = static_cast<bool>(leader) && static_cast<bool>(result);
      },
      asio::detached);
  simulator.advance(std::chrono::seconds(30));
  return done ? 0 : 1;
}
