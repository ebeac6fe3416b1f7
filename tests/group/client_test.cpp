// The client API: concurrent executes from every member commit exactly once;
// feed answers before apply; errors come back as values (empty batch, no
// leader, stopped); weak and strong reads; the observers; members of
// different groups never form one.

#include "group_world.hpp"

#include <mosaik/machines/kv_store.hpp>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

namespace mosaik::test {
namespace {

using group::Consistency;
using group::Errc;
using group::Result;

auto counter_value() {
  return [](const Counter& counter) { return counter.value(); };
}

/// REQUIREs that every operation completed, CHECKs that each did with stopped.
template <class... T>
void require_stopped(const Pending<Result<T>>&... operations) {
  int position = 0;
  const auto stopped = [&](const auto& operation) {
    INFO("operation " << ++position << " of " << sizeof...(operations));
    REQUIRE(operation->has_value());
    CHECK(failed_as(**operation, {Errc::stopped}));
  };
  (stopped(operations), ...);
}

} // namespace

TEST_CASE("concurrent executes from the leader and followers commit exactly once", "[group][client]") {
  for (std::uint64_t seed = 601; seed <= 605; ++seed) {
    CounterSim sim{seed};
    INFO("seed " << seed);
    auto& world = sim.world;
    const auto ids = peers(3);
    const auto leader = start_and_elect(sim, ids);

    struct Submitted {
      PeerId member;
      std::int64_t amount;
      Pending<Result<Index>> result;
    };
    std::vector<Submitted> singles;
    struct Batch {
      PeerId member;
      std::vector<Counter::Command> commands;
      Pending<Result<IndexRange>> result;
    };
    std::vector<Batch> batches;
    std::int64_t amount = 1;
    std::int64_t total = 0;
    // All spawned at the same instant: followers forward while the leader appends its own.
    for (int round = 0; round < 20; ++round) {
      for (const auto id : ids) {
        singles.push_back(Submitted{id, amount, spawn(world, world[id].execute(Counter::Command{amount}))});
        total += amount++;
      }
    }
    for (const auto id : ids) {
      auto commands = increments(amount, 4);
      amount += 4;
      for (const auto& command : commands) {
        total += command.amount;
      }
      batches.push_back(Batch{id, commands, spawn(world, world[id].execute_many(commands))});
    }
    REQUIRE(world.run_until(
        [&] {
          return std::all_of(singles.begin(), singles.end(),
                             [](const auto& s) { return s.result->has_value(); }) &&
                 std::all_of(batches.begin(), batches.end(),
                             [](const auto& b) { return b.result->has_value(); });
        },
        30s));

    std::set<Index> indices;
    const auto& log = world[*leader].log();
    for (const auto& submitted : singles) {
      INFO("amount " << submitted.amount << " from member " << submitted.member.value() << ": "
                     << describe(**submitted.result));
      REQUIRE((*submitted.result)->ok());
      const auto index = (*submitted.result)->value();
      CHECK(indices.insert(index).second);
      // The index answered holds this very command, on the leader's log.
      const auto* entry = log.get(index);
      REQUIRE(entry != nullptr);
      REQUIRE(entry->command.user() != nullptr);
      CHECK(entry->command.user()->amount == submitted.amount);
      // Answered once applied on the member that asked.
      CHECK(world[submitted.member].applied() >= index);
    }
    for (const auto& batch : batches) {
      INFO("batch from member " << batch.member.value() << ": " << describe(**batch.result));
      REQUIRE((*batch.result)->ok());
      const auto range = (*batch.result)->value();
      REQUIRE(range.size() == batch.commands.size());
      auto index = range.first();
      for (const auto& command : batch.commands) {
        CHECK(indices.insert(index).second);
        REQUIRE(log.get(index) != nullptr);
        REQUIRE(log.get(index)->command.user() != nullptr);
        CHECK(log.get(index)->command.user()->amount == command.amount);
        index = index.next();
      }
    }
    REQUIRE(converge(world, *indices.rbegin()));
    for (const auto id : ids) {
      INFO("member " << id.value());
      CHECK(world[id].machine().value() == total);
      CHECK(world[id].machine().applied() == singles.size() + 4 * batches.size());
    }
    sim.require_safe();
  }
}

TEST_CASE("a restarted follower's forwarded commands are not mistaken for its earlier ones",
          "[group][client][restart]") {
  for (std::uint64_t seed = 611; seed <= 613; ++seed) {
    CounterSim sim{seed};
    INFO("seed " << seed);
    auto& world = sim.world;
    const auto ids = peers(3);
    const auto leader = start_and_elect(sim, ids);
    const auto follower = except(ids, {*leader}).front();

    // Forwarded to the leader before the crash...
    const auto first = execute_ok(sim, follower, 1);
    world.crash(follower);
    world.simulator().advance(500ms);
    world.restart(follower);
    REQUIRE(converge(world, first));
    // ...and after the restart: another command, which must get its own entry.
    const auto second = expect_ok(world.await(world[follower].execute(Counter::Command{2}), 30s));
    CHECK(second != first);
    const auto* entry = world[*leader].log().get(second);
    REQUIRE(entry != nullptr);
    REQUIRE(entry->command.user() != nullptr);
    CHECK(entry->command.user()->amount == 2);
    REQUIRE(converge(world, second));
    check_values(world, ids, 3);
    sim.require_safe();
  }
}

TEST_CASE("feed answers with the assigned range without waiting for apply", "[group][client][feed]") {
  CounterSim sim{701};
  INFO("seed " << sim.seed);
  auto& world = sim.world;
  const auto ids = peers(3);
  const auto leader = start_and_elect(sim, ids);
  const auto follower = except(ids, {*leader}).front();
  const auto base = execute_ok(sim, *leader, 1);
  REQUIRE(converge(world, base));

  // On the leader: the index comes back at once, before any follower could acknowledge it.
  const auto fed = expect_ok(world.await(world[*leader].feed(Counter::Command{2}), 1s));
  CHECK(fed == world[*leader].last().index);
  CHECK(world[*leader].committed() < fed);
  CHECK(world[*leader].applied() < fed);

  // From a follower: forwarded, answered with the leader's range before it is applied here.
  const auto many = expect_ok(world.await(world[follower].feed_many(increments(10, 5)), 3s));
  CHECK(many.size() == 5);
  CHECK(many.first() == fed.next());
  CHECK(world[follower].applied() < many.last());

  const auto single = expect_ok(world.await(world[follower].feed(Counter::Command{100}), 3s));
  CHECK(single == many.last().next());

  // They do get applied, in that order, everywhere.
  expect_ok(world.await(world[follower].when_applied(single), 5s));
  REQUIRE(converge(world, single));
  check_values(world, ids, 1 + 2 + (10 + 11 + 12 + 13 + 14) + 100);
  const auto& log = world[follower].log();
  for (auto index = many.first(); index <= many.last(); index = index.next()) {
    REQUIRE(log.get(index)->command.user() != nullptr);
    CHECK(log.get(index)->command.user()->amount ==
          10 + static_cast<std::int64_t>(index.distance_from(many.first().prev())) - 1);
  }
  sim.require_safe();
}

TEST_CASE("client errors are values: empty batch, no leader, stopped", "[group][client][errors]") {
  SECTION("an empty batch") {
    CounterSim sim{711};
    INFO("seed " << sim.seed);
    const auto ids = peers(3);
    const auto leader = start_and_elect(sim, ids);
    for (const auto id : ids) {
      INFO("member " << id.value());
      const auto executed = sim.world.await(sim.world[id].execute_many({}), 1s);
      REQUIRE(executed.has_value());
      CHECK(failed_as(*executed, {Errc::empty_batch}));
      const auto fed = sim.world.await(sim.world[id].feed_many({}), 1s);
      REQUIRE(fed.has_value());
      CHECK(failed_as(*fed, {Errc::empty_batch}));
    }
    CHECK(sim.world[*leader].machine().applied() == 0);
    sim.require_safe();
  }

  SECTION("no leader: a member alone whose peers never started") {
    CounterSim sim{712};
    INFO("seed " << sim.seed);
    const auto ids = peers(3);
    sim.world.add(ids[0], counter_options(ids));
    for (const auto id : except(ids, {ids[0]})) {
      sim.world.add(id, counter_options(ids)); // never started
    }
    auto& alone = sim.world.start(ids[0]);
    sim.world.simulator().advance(3s);
    CHECK(!alone.leader().has_value());
    const auto result = sim.world.await(alone.execute(Counter::Command{1}), 60s);
    REQUIRE(result.has_value());
    INFO(describe(*result));
    CHECK(failed_as(*result, {Errc::offline, Errc::timeout}));
    CHECK(alone.machine().value() == 0);
    sim.require_safe();
  }

  SECTION("no leader: the peers of a former leader crashed") {
    CounterSim sim{713};
    INFO("seed " << sim.seed);
    const auto ids = peers(3);
    const auto leader = start_and_elect(sim, ids);
    const auto base = execute_ok(sim, *leader, 1);
    for (const auto id : except(ids, {*leader})) {
      sim.world.crash(id);
    }
    // Check-quorum: it no longer leads, nor knows a leader.
    REQUIRE(sim.world.run_until([&] { return !sim.world[*leader].leader().has_value(); }, 2s));
    const auto result = sim.world.await(sim.world[*leader].execute(Counter::Command{2}), 60s);
    REQUIRE(result.has_value());
    INFO(describe(*result));
    CHECK(failed_as(*result, {Errc::offline, Errc::timeout}));
    CHECK(sim.world[*leader].committed() == base);
    CHECK(sim.world[*leader].machine().value() == 1);
    sim.require_safe();
  }

  SECTION("group.stop(): pending operations complete with stopped") {
    CounterSim sim{714};
    INFO("seed " << sim.seed);
    auto& world = sim.world;
    const auto ids = peers(3);
    const auto leader = start_and_elect(sim, ids);
    const auto base = execute_ok(sim, *leader, 1);
    for (const auto id : except(ids, {*leader})) {
      world.crash(id);
    }
    auto& group = world[*leader];
    REQUIRE(group.is_leader());
    const auto executed = spawn(world, group.execute(Counter::Command{2}));
    const auto batch = spawn(world, group.execute_many(increments(3, 2)));
    const auto committed = spawn(world, group.when_committed(base + 100));
    const auto changed = spawn(world, group.when_leader_changed());
    const auto read = spawn(world, group.read(counter_value(), Consistency::strong));
    world.simulator().advance(50ms); // well within an election timeout: still the leader
    REQUIRE(group.is_leader());
    CHECK(!executed->has_value());
    CHECK(!batch->has_value());
    CHECK(!committed->has_value());
    CHECK(!changed->has_value());
    CHECK(!read->has_value());

    group.stop();
    world.simulator().advance(10ms);
    require_stopped(executed, batch, committed, changed, read);
    // And anything asked afterwards.
    const auto late = world.await(group.execute(Counter::Command{4}), 1s);
    REQUIRE(late.has_value());
    CHECK(failed_as(*late, {Errc::stopped}));
    const auto weak = world.await(group.read(counter_value(), Consistency::weak), 1s);
    REQUIRE(weak.has_value());
    CHECK(failed_as(*weak, {Errc::stopped}));
    sim.require_safe();
  }

  SECTION("destroying the member: pending operations complete with stopped") {
    CounterSim sim{715};
    INFO("seed " << sim.seed);
    auto& world = sim.world;
    const auto ids = peers(3);
    const auto leader = start_and_elect(sim, ids);
    const auto follower = except(ids, {*leader}).front();
    // The follower hears the leader but cannot reach it: its forward hangs.
    sim.network.partition_one_way(follower, *leader);
    auto& group = world[follower];
    const auto forwarded = spawn(world, group.execute(Counter::Command{1}));
    const auto read = spawn(world, group.read(counter_value(), Consistency::strong));
    const auto leads = spawn(world, group.when_leader_is(follower));
    const auto log_reaches = spawn(world, group.when_log_reaches(Index{1000}));
    world.simulator().advance(100ms);
    CHECK(!forwarded->has_value());
    CHECK(!read->has_value());
    CHECK(!leads->has_value());
    CHECK(!log_reaches->has_value());

    world.crash(follower); // destroys its Group
    world.simulator().advance(10ms);
    require_stopped(forwarded, read, leads, log_reaches);
    sim.require_safe();
  }
}

TEST_CASE("reads: weak is local, strong is linearizable, a deposed leader refuses", "[group][client][read]") {
  for (std::uint64_t seed = 721; seed <= 725; ++seed) {
    CounterSim sim{seed};
    INFO("seed " << seed);
    auto& world = sim.world;
    const auto ids = peers(5);
    const auto leader = start_and_elect(sim, ids);
    const auto followers = except(ids, {*leader});
    const auto base = execute_ok(sim, *leader, 5);
    REQUIRE(converge(world, base));

    // Weak: the local state, whatever it is.
    for (const auto id : ids) {
      const auto weak = expect_ok(world.await(world[id].query(Counter::Query{}, Consistency::weak), 1s));
      CHECK(weak == world[id].machine().value());
      CHECK(weak == 5);
    }
    // A follower cut from the leader keeps answering weak reads from its stale state.
    const auto stale = followers.back();
    split(sim.network, {stale}, except(ids, {stale}));

    // Strong: right after an execute on the leader, every follower reads it.
    const auto index = execute_ok(sim, *leader, 7);
    for (const auto id : except(followers, {stale})) {
      INFO("follower " << id.value());
      const auto strong = expect_ok(world.await(world[id].query(Counter::Query{}, Consistency::strong), 5s));
      CHECK(strong == 12);
      CHECK(world[id].applied() >= index);
    }
    const auto weak_stale =
        expect_ok(world.await(world[stale].query(Counter::Query{}, Consistency::weak), 1s));
    CHECK(weak_stale == 5);
    // A strong read through a leader it cannot reach does not answer with stale data.
    const auto strong_stale = world.await(world[stale].query(Counter::Query{}, Consistency::strong), 10s);
    REQUIRE(strong_stale.has_value());
    INFO("strong read on the cut follower: " << describe(*strong_stale));
    CHECK(failed_as(*strong_stale, {Errc::timeout, Errc::offline, Errc::not_leader}));
    sim.network.heal_all();
    REQUIRE(converge(world, index));

    // The leader, isolated with one follower, still believes it leads when asked.
    const auto old = *leader;
    const std::vector<PeerId> minority{old, followers.front()};
    const auto majority = except(ids, minority);
    split(sim.network, minority, majority);
    const auto at_once = spawn(world, world[old].query(Counter::Query{}, Consistency::strong));
    const auto via_follower =
        spawn(world, world[followers.front()].query(Counter::Query{}, Consistency::strong));
    const auto fresh = await_leader_among(world, majority);
    const auto newer = execute_ok(sim, fresh, 100);
    // Now 112 is committed; the old side holds 12.
    REQUIRE(world.run_until([&] { return at_once->has_value() && via_follower->has_value(); }, 10s));
    INFO("old leader: " << describe(**at_once) << "; its follower: " << describe(**via_follower));
    CHECK(failed_as(**at_once, {Errc::timeout, Errc::not_leader, Errc::offline}));
    CHECK(failed_as(**via_follower, {Errc::timeout, Errc::not_leader, Errc::offline}));
    const auto later = world.await(world[old].query(Counter::Query{}, Consistency::strong), 10s);
    REQUIRE(later.has_value());
    INFO("old leader later: " << describe(*later));
    CHECK(failed_as(*later, {Errc::timeout, Errc::not_leader, Errc::offline}));
    CHECK(world[old].machine().value() == 12);

    // Healed: the strong read on the old leader now returns the majority's value.
    sim.network.heal_all();
    REQUIRE(converge(world, newer));
    const auto healed = expect_ok(world.await(world[old].query(Counter::Query{}, Consistency::strong), 5s));
    CHECK(healed == 112);
    sim.require_safe();
  }
}

TEST_CASE("observers: leader elected, leader is, leader changed, committed, log reaches, online",
          "[group][client][observers]") {
  for (std::uint64_t seed = 731; seed <= 735; ++seed) {
    CounterSim sim{seed};
    INFO("seed " << seed);
    auto& world = sim.world;
    const auto ids = peers(3);
    start_all(sim, ids);

    std::map<PeerId, Pending<Result<PeerId>>> elected;
    for (const auto id : ids) {
      elected[id] = spawn(world, world[id].when_leader_elected());
    }
    world.simulator().advance(50ms); // before the bootstrap delay: nobody campaigned yet
    for (const auto id : ids) {
      CHECK(!elected[id]->has_value());
    }
    const auto leader = sim.elect();
    REQUIRE(leader.has_value());
    world.simulator().advance(10ms);
    for (const auto id : ids) {
      INFO("member " << id.value());
      REQUIRE(elected[id]->has_value());
      REQUIRE((*elected[id])->ok());
      CHECK((*elected[id])->value() == *leader);
      CHECK(world[id].is_leader() == (id == *leader));
      CHECK(world[id].leader() == leader);
    }
    CHECK(world.leaders() == std::vector<PeerId>{*leader});

    // when_leader_is: at once for the known leader, never (here) for another.
    const auto followers = except(ids, {*leader});
    const auto is_leader_now = expect_ok(world.await(world[followers[0]].when_leader_is(*leader), 1s));
    CHECK(is_leader_now == *leader);

    // when_committed / when_log_reaches complete only once the index is reached.
    const auto next = world[*leader].last().index.next();
    const auto committed = spawn(world, world[followers[0]].when_committed(next + 2));
    const auto reaches = spawn(world, world[followers[1]].when_log_reaches(next + 2));
    world.simulator().advance(500ms);
    CHECK(!committed->has_value());
    CHECK(!reaches->has_value());
    const auto range = expect_ok(world.await(world[*leader].execute_many(increments(1, 3)), 5s));
    CHECK(range == IndexRange{next, next + 2});
    REQUIRE(world.run_until([&] { return committed->has_value() && reaches->has_value(); }, 2s));
    REQUIRE((*committed)->ok());
    CHECK((*committed)->value() >= next + 2);
    CHECK(world[followers[0]].committed() >= next + 2);
    REQUIRE((*reaches)->ok());
    CHECK((*reaches)->value() >= next + 2);

    // when_leader_changed: the leader crashes, the others elect another.
    std::map<PeerId, Pending<Result<PeerId>>> changed;
    for (const auto id : followers) {
      changed[id] = spawn(world, world[id].when_leader_changed());
    }
    const auto becomes = spawn(world, world[followers[1]].when_leader_is(followers[0]));
    world.simulator().advance(100ms);
    for (const auto id : followers) {
      CHECK(!changed[id]->has_value());
    }
    world.crash(*leader);
    REQUIRE(world.run_until(
        [&] {
          return std::all_of(followers.begin(), followers.end(),
                             [&](PeerId id) { return changed[id]->has_value(); });
        },
        5s));
    world.simulator().advance(1ms); // let the other waiters completed in the same step run
    const auto fresh = leader_among(world, followers);
    REQUIRE(fresh.has_value());
    for (const auto id : followers) {
      INFO("member " << id.value());
      REQUIRE((*changed[id])->ok());
      CHECK((*changed[id])->value() == *fresh);
      CHECK((*changed[id])->value() != *leader);
    }
    if (*fresh == followers[0]) {
      REQUIRE(becomes->has_value());
      REQUIRE((*becomes)->ok());
      CHECK((*becomes)->value() == followers[0]);
    } else {
      CHECK(!becomes->has_value());
    }

    // when_online: the crashed leader restarts and catches up.
    const auto newer = execute_ok(sim, *fresh, 10);
    auto& back = world.restart(*leader);
    CHECK(!back.is_online());
    const auto online = spawn(world, back.when_online());
    const auto follows = spawn(world, back.when_leader_is(*fresh));
    REQUIRE(world.run_until([&] { return online->has_value() && follows->has_value(); }, 5s));
    REQUIRE((*online)->ok());
    CHECK((*online)->value() == *fresh);
    REQUIRE((*follows)->ok());
    CHECK(back.leader() == fresh);
    CHECK(!back.is_leader());
    REQUIRE(converge(world, newer));
    CHECK(back.is_online());
    CHECK(back.machine().value() == 16);
    sim.require_safe();
  }
}

TEST_CASE("group identity: different keys or timings never form one group", "[group][client][identity]") {
  const auto ids = peers(2);
  const auto base = counter_options(ids);
  auto other_key = base;
  other_key.key = "another-counter";
  auto other_heartbeat = base;
  other_heartbeat.config.heartbeat_interval = 60ms;
  auto other_seed = base; // the seed is a member's own business
  other_seed.seed = 12345;

  const auto id_of = [](const CounterWorld::Options& options) {
    CounterSim sim{1};
    sim.world.add(PeerId{1}, options);
    return sim.world.start(PeerId{1}).id();
  };
  CHECK(id_of(base) == id_of(base));
  CHECK(id_of(base) == id_of(other_seed));
  CHECK(id_of(base) != id_of(other_key));
  CHECK(id_of(base) != id_of(other_heartbeat));
  CHECK(id_of(other_key) != id_of(other_heartbeat));

  for (const auto& [name, other] : std::vector<std::pair<std::string, CounterWorld::Options>>{
           {"key", other_key}, {"heartbeat", other_heartbeat}}) {
    INFO("differing in " << name);
    CounterSim sim{741};
    INFO("seed " << sim.seed);
    auto& world = sim.world;
    world.add(ids[0], base);
    world.add(ids[1], other);
    world.start(ids[0]);
    world.start(ids[1]);
    world.simulator().advance(5s);
    CHECK(world[ids[0]].id() != world[ids[1]].id());
    CHECK(world.leaders().empty()); // two voters: no one gets a majority
    CHECK(!world[ids[0]].leader().has_value());
    CHECK(!world[ids[1]].leader().has_value());
    CHECK(world[ids[0]].foreign_messages() > 0);
    CHECK(world[ids[1]].foreign_messages() > 0);
    CHECK(world[ids[0]].core().term() == Term{0}); // pre-votes were never answered
    sim.require_safe();
  }

  SECTION("a stranger among three members does not join their group") {
    CounterSim sim{742};
    INFO("seed " << sim.seed);
    auto& world = sim.world;
    const auto three = peers(3);
    auto stranger = counter_options(three);
    stranger.key = "strangers";
    world.add(three[0], counter_options(three));
    world.add(three[1], counter_options(three));
    world.add(three[2], stranger);
    for (const auto id : three) {
      world.start(id);
    }
    REQUIRE(world.run_until([&] { return world.leader().has_value(); }, 5s));
    const auto leader = *world.leader();
    CHECK(leader != three[2]);
    const auto index = execute_ok(sim, leader, 9);
    world.simulator().advance(2s);
    CHECK(!world[three[2]].leader().has_value());
    CHECK(world[three[2]].applied() == Index{0});
    CHECK(world[three[2]].foreign_messages() > 0);
    for (const auto id : {three[0], three[1]}) {
      CHECK(world[id].foreign_messages() > 0);
      CHECK(world[id].leader() == leader);
      CHECK(world[id].applied() >= index);
      CHECK(world[id].machine().value() == 9);
    }
    sim.require_safe();
  }
}

} // namespace mosaik::test

namespace mosaik::test {

TEST_CASE("key-value reads with long keys and values, strong and weak, on every member",
          "[group][client][read]") {
  // Regression: Group::query once handed a lambda capturing the query to
  // another coroutine by value; GCC 12 freed the capture twice (a crash as
  // soon as the query held a heap-allocated string). Found by mosaik-node.
  constexpr std::uint64_t seed = 741;
  INFO("seed " << seed);
  using KvStore = machines::KvStore;
  sim::Simulator simulator(seed);
  sim::Network network(simulator);
  set_links(network, 1ms, 0);
  testing::GroupWorld<KvStore> world(simulator, network);
  const auto ids = peers(3);
  for (const auto id : ids) {
    testing::GroupWorld<KvStore>::Options options;
    options.key = "test-kv";
    options.config = fast_config(ids);
    world.add(id, options);
    world.start(id);
  }
  REQUIRE(world.run_until([&] { return world.leader().has_value(); }, 10s));
  const auto leader = *world.leader();
  const std::string key(100, 'k');
  const std::string value(1000, 'v');
  REQUIRE(world.await(world[leader].execute(KvStore::put(key, value)), 10s).value().ok());
  for (const auto id : ids) {
    INFO("member " << id.value());
    for (const auto consistency : {Consistency::strong, Consistency::weak}) {
      const auto strong = world.await(world[id].query(KvStore::Query{key}, Consistency::strong), 10s);
      REQUIRE(strong.has_value());
      REQUIRE(strong->ok());
      CHECK(**strong == std::optional<std::string>{value});
      const auto missing = world.await(world[id].query(KvStore::Query{key + "?"}, consistency), 10s);
      REQUIRE(missing.has_value());
      REQUIRE(missing->ok());
      CHECK(!missing->value().has_value());
    }
  }
  world.check_logs();
  INFO(world.violation_report());
  CHECK(world.violations().empty());
}

} // namespace mosaik::test
