#pragma once
// Shared set-up for the group runtime's simulation tests: a world of counter
// members with scaled-down timings, and helpers that read like the scenario.

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <mosaik/machines/counter.hpp>
#include <mosaik/testing/group_world.hpp>

#include "../support/counter_members.hpp"
#include "../support/counter_world.hpp"

namespace mosaik::test {

// ---- the simulation ---------------------------------------------------------------------

/// A world of counter members on a 1 ms network, seeded from Catch's seed
/// section; prints the seed on any failure.
struct CounterSim {
  explicit CounterSim(std::uint64_t seed_value)
      : seed(seed_value), simulator(seed), network(simulator), world(simulator, network) {
    set_links(network, 1ms, 0);
  }
  ~CounterSim() { world.check_logs(); }

  std::uint64_t seed;
  sim::Simulator simulator;
  sim::Network network;
  CounterWorld world;

  /// Runs until a leader is known to every live member, or `limit`.
  std::optional<PeerId> elect(Duration limit = 10s) { return elect_excluding(std::nullopt, limit); }

  /// Runs until a leader other than `not_this` is known to every other live
  /// member, or `limit`; returns it.
  std::optional<PeerId> elect_other(PeerId not_this, Duration limit = 10s) {
    return elect_excluding(not_this, limit);
  }

  void require_safe() {
    world.check_logs();
    INFO("seed " << seed << "\n" << world.violation_report());
    REQUIRE(world.violations().empty());
  }

private:
  std::optional<PeerId> elect_excluding(std::optional<PeerId> excluded, Duration limit) {
    world.run_until(
        [&] {
          const auto leader = world.leader();
          if (!leader || leader == excluded) {
            return false;
          }
          for (const auto& [id, member] : world.members()) {
            if (member->group && id != excluded && member->group->leader() != leader) {
              return false;
            }
          }
          return true;
        },
        limit);
    const auto leader = world.leader();
    return leader && leader != excluded ? leader : std::nullopt;
  }
};

/// Adds and starts every member of `ids`, each configured with counter_options(ids, sync_batch).
inline void start_all(CounterSim& sim, const std::vector<PeerId>& ids, std::size_t sync_batch = 2000) {
  for (const auto id : ids) {
    sim.world.add(id, counter_options(ids, sync_batch));
    sim.world.start(id);
  }
}

/// start_all, then elect(): REQUIREs that they elect a leader, which it returns.
inline std::optional<PeerId> start_and_elect(CounterSim& sim, const std::vector<PeerId>& ids,
                                             std::size_t sync_batch = 2000) {
  start_all(sim, ids, sync_batch);
  auto leader = sim.elect();
  REQUIRE(leader.has_value());
  return leader;
}

/// The result of an operation spawned on the simulator (empty until it completes).
template <class T>
using Pending = std::shared_ptr<std::optional<T>>;

template <class T>
Pending<T> spawn(CounterWorld& world, asio::awaitable<T> operation) {
  auto out = std::make_shared<std::optional<T>>();
  world.spawn(std::move(operation), out);
  return out;
}

// ---- results ------------------------------------------------------------------------------

template <class T>
std::string describe(const group::Result<T>& result) {
  return result.ok() ? std::string{"ok"} : result.error().message();
}

/// Whether `result` is an error with one of `codes`.
template <class T>
bool failed_as(const group::Result<T>& result, std::initializer_list<group::Errc> codes) {
  return !result.ok() && std::find(codes.begin(), codes.end(), result.error().code) != codes.end();
}

/// The value of a completed operation (REQUIREs that it completed and succeeded).
template <class T>
T expect_ok(const std::optional<group::Result<T>>& result) {
  REQUIRE(result.has_value());
  INFO(describe(*result));
  REQUIRE(result->ok());
  return result->value();
}

/// The error code of a completed operation (REQUIREs that it completed and failed).
template <class T>
group::Errc expect_error(const std::optional<group::Result<T>>& result) {
  REQUIRE(result.has_value());
  REQUIRE_FALSE(result->ok());
  return result->error().code;
}

/// Executes `amount` on `member` and requires it to succeed; returns its index.
inline Index execute_ok(CounterSim& sim, PeerId member, std::int64_t amount) {
  INFO("seed " << sim.seed << ", execute of " << amount << " on member " << member.value());
  return expect_ok(sim.world.await(sim.world[member].execute(Counter::Command{amount}), 30s));
}

// ---- the members' state ---------------------------------------------------------------------

/// The leader of the highest term among `among` (live members only).
inline std::optional<PeerId> leader_among(CounterWorld& world, const std::vector<PeerId>& among) {
  std::optional<PeerId> best;
  for (const auto id : among) {
    const auto* group = world.group(id);
    if (group != nullptr && group->is_leader() &&
        (!best || group->core().term() > world[*best].core().term())) {
      best = id;
    }
  }
  return best;
}

/// Runs until a member of `among` leads (REQUIREd within `limit`); returns
/// the leader of the highest term among them.
inline PeerId await_leader_among(CounterWorld& world, const std::vector<PeerId>& among, Duration limit = 5s) {
  REQUIRE(world.run_until([&] { return leader_among(world, among).has_value(); }, limit));
  return *leader_among(world, among);
}

/// The amounts of the user commands a member holds at indices 1..=upto, in order.
inline std::vector<std::int64_t> user_amounts(const CounterGroup& group, Index upto) {
  std::vector<std::int64_t> out;
  for (auto index = Index{1}; index <= upto; index = index.next()) {
    if (const auto* entry = group.log().get(index)) {
      if (const auto* command = entry->command.user()) {
        out.push_back(command->amount);
      }
    }
  }
  return out;
}

/// CHECKs that every member of `ids` holds the counter value `value`.
inline void check_values(CounterWorld& world, const std::vector<PeerId>& ids, std::int64_t value) {
  for (const auto id : ids) {
    INFO("member " << id.value());
    CHECK(world[id].machine().value() == value);
  }
}

/// Whether `member` is a voter both to `leader` and to itself.
inline bool promoted(CounterWorld& world, PeerId leader, PeerId member) {
  return world[leader].core().membership().is_voter(member) &&
         world[member].core().membership().is_voter(member);
}

/// Whether the given members are all live, agree on the commit index, have
/// applied it and hold the same counter value.
inline bool members_converged(CounterWorld& world, const std::vector<PeerId>& ids) {
  const CounterGroup* first = nullptr;
  for (const auto id : ids) {
    const auto* group = world.group(id);
    if (group == nullptr || group->applied() != group->committed()) {
      return false;
    }
    if (first != nullptr &&
        (group->committed() != first->committed() || group->machine().value() != first->machine().value())) {
      return false;
    }
    first = first == nullptr ? group : first;
  }
  return true;
}

/// Runs until every live member knows the same leader, applied the same index
/// (at least `at_least`) and holds the same counter value; returns whether it did.
inline bool converge(CounterWorld& world, Index at_least = Index{0}, Duration limit = 30s) {
  return world.run_until(
      [&] {
        std::optional<PeerId> leader;
        std::optional<Index> applied;
        std::optional<std::int64_t> value;
        for (const auto& [id, member] : world.members()) {
          const auto* group = member->group.get();
          if (group == nullptr) {
            continue;
          }
          if (!group->leader() || group->applied() < at_least || (leader && *leader != *group->leader()) ||
              (applied && *applied != group->applied()) || (value && *value != group->machine().value())) {
            return false;
          }
          leader = group->leader();
          applied = group->applied();
          value = group->machine().value();
        }
        return leader.has_value();
      },
      limit);
}

} // namespace mosaik::test
