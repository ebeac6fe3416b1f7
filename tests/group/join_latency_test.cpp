// No idle join: a member added to a running group hears from the leader at
// once, not at the leader's next heartbeat, and its first catch-up fetches
// leave as soon as it hears. Default timings (500 ms heartbeats) on 20 ms links, so
// that waiting for a heartbeat would show.

#include "group_world.hpp"

#include <optional>
#include <variant>

namespace mosaik::test {
namespace {

using Message = CounterWorld::Message;

/// When things first happen on the wire, in simulated time.
struct FirstSends {
  std::optional<TimePoint> append_to_joiner; // the leader's first AppendEntries to the joiner
  std::optional<TimePoint> joiner_sync;      // the joiner's first catch-up message
  std::optional<TimePoint> joiner_fetch;     // the joiner's first FetchEntriesRequest
};

} // namespace

TEST_CASE("no idle join: the leader sends to a new member at once, its fetches start a round trip later",
          "[group][membership][join]") {
  constexpr auto one_way = 20ms;
  for (std::uint64_t seed = 501; seed <= 510; ++seed) {
    INFO("seed " << seed);
    CounterSim sim{seed};
    set_links(sim.network, one_way, 0);
    const auto ids = peers(3);
    auto options = counter_options(ids);
    options.config.heartbeat_interval = 500ms; // the library's default: a join must not wait for it
    options.config.election_timeout = 2s;
    for (const auto id : ids) {
      sim.world.add(id, options);
      sim.world.start(id);
    }
    const auto leader = sim.elect(20s);
    REQUIRE(leader);
    auto& lead = sim.world[*leader];
    expect_ok(sim.world.await(lead.execute_many(increments(0, 3000))));

    const auto joiner = PeerId{4};
    sim.world.add(joiner, options);
    sim.world.start(joiner);
    sim.simulator.advance(100ms); // the joiner is up and bonded; the leader's heartbeat is not due

    FirstSends first;
    sim.world.hub().set_send_filter([&](PeerId from, PeerId to, Message message) -> std::optional<Message> {
      const auto now = sim.simulator.now();
      if (const auto* consensus = std::get_if<0>(&message.body)) {
        if (from == *leader && to == joiner &&
            std::holds_alternative<group::AppendEntries<Counter::Command>>(*consensus) &&
            !first.append_to_joiner) {
          first.append_to_joiner = now;
        }
      } else if (from == joiner) {
        const auto& body = std::get<1>(message.body);
        first.joiner_sync = first.joiner_sync.value_or(now);
        if (std::holds_alternative<sync::FetchEntriesRequest>(body) && !first.joiner_fetch) {
          first.joiner_fetch = now;
        }
      }
      return message;
    });
    const auto accepted = sim.simulator.now();
    expect_ok(sim.world.await(lead.add_member(joiner)));
    REQUIRE(sim.world.run_until([&] { return first.joiner_fetch.has_value(); }, 5s));
    sim.world.hub().set_send_filter(nullptr);

    // The leader sends at the change itself; the joiner's session opens on
    // that message and its first fetches leave with its availability
    // requests (speculative start): one round trip plus processing at most,
    // never a heartbeat.
    REQUIRE(first.append_to_joiner);
    REQUIRE(first.joiner_sync);
    CHECK(*first.append_to_joiner - accepted < 1ms);
    CHECK(*first.joiner_sync - accepted < one_way + 5ms);
    CHECK(*first.joiner_fetch - accepted < one_way + 5ms);
    CHECK(*first.joiner_fetch - accepted < 2 * one_way);

    REQUIRE(sim.world.run_until([&] { return promoted(sim.world, *leader, joiner); }, 30s));
    CHECK(sim.world[joiner].machine().value() == increments_sum(0, 3000));
    sim.require_safe();
  }
}

} // namespace mosaik::test
