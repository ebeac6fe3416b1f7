// Cancellation: a client operation awaited with a cancellation slot (as
// asio's awaitable operators and co_spawn with bind_cancellation_slot do)
// completes with Errc::cancelled at once, leaves nothing behind, and the
// group carries on.

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>

#include "group_world.hpp"

namespace mosaik::test {

namespace {
/// Spawns `operation` with a cancellation slot of `signal`.
template <class T>
Pending<T> spawn_cancellable(CounterWorld& world, asio::cancellation_signal& signal,
                             asio::awaitable<T> operation) {
  auto out = std::make_shared<std::optional<T>>();
  asio::co_spawn(world.simulator().executor(), std::move(operation),
                 asio::bind_cancellation_slot(signal.slot(), [out](std::exception_ptr error, T value) {
                   if (error) {
                     std::rethrow_exception(error);
                   }
                   *out = std::move(value);
                 }));
  return out;
}
} // namespace

TEST_CASE("cancelling a waiting client operation completes it with Errc::cancelled",
          "[group][client][cancel]") {
  const std::uint64_t seed = 701;
  CounterSim sim{seed};
  INFO("seed " << seed);
  auto& world = sim.world;
  const auto ids = peers(3);
  const auto elected = start_and_elect(sim, ids);
  REQUIRE(elected.has_value());
  const auto leader = *elected;
  auto& group = world[leader];

  // An observer waiting for an index nobody will reach.
  asio::cancellation_signal never_signal;
  const auto never = spawn_cancellable(world, never_signal, group.when_committed(Index{1'000'000}));
  world.simulator().advance(1s);
  REQUIRE_FALSE(never->has_value());
  never_signal.emit(asio::cancellation_type::terminal);
  REQUIRE(world.run_until([&] { return never->has_value(); }, 1s));
  REQUIRE_FALSE((*never)->ok());
  CHECK((*never)->error().code == group::Errc::cancelled);

  // A forwarded execute whose leader is unreachable: cancelled before its timeout.
  const auto follower = except(ids, {leader})[0];
  sim.network.isolate(leader);
  asio::cancellation_signal execute_signal;
  const auto pending = spawn_cancellable(world, execute_signal, world[follower].execute(Counter::Command{5}));
  world.simulator().advance(100ms);
  REQUIRE_FALSE(pending->has_value());
  execute_signal.emit(asio::cancellation_type::terminal);
  REQUIRE(world.run_until([&] { return pending->has_value(); }, 1s));
  REQUIRE_FALSE((*pending)->ok());
  CHECK((*pending)->error().code == group::Errc::cancelled);

  // Nothing is left behind: the group heals and commits as before.
  sim.network.heal_all();
  const auto next = world.await(world[follower].execute(Counter::Command{7}), 20s);
  REQUIRE(next.has_value());
  REQUIRE(next->ok());
  sim.require_safe();
}

} // namespace mosaik::test
