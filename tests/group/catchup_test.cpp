// Catch-up of lagging members through the group runtime: joiners fetch the
// log from every peer in parallel (the leader last), sessions survive the
// crash of their leader or of a provider, and a follower whose acknowledgement
// the leader needs to commit catches up with the leader's uncommitted tail.

#include "group_world.hpp"

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace mosaik::test {
namespace {

/// Runs Inc(first..first+count-1) on `peer` in batches of `batch`; returns the ranges.
std::vector<IndexRange> load(CounterSim& sim, PeerId peer, std::int64_t first, std::int64_t count,
                             std::int64_t batch) {
  std::vector<IndexRange> ranges;
  for (std::int64_t at = first; at < first + count; at += batch) {
    const auto n = std::min(batch, first + count - at);
    const auto range = expect_ok(sim.world.await(sim.world[peer].execute_many(increments(at, n))));
    REQUIRE(range.size() == static_cast<std::uint64_t>(n));
    if (!ranges.empty()) {
      REQUIRE(range.first().value() > ranges.back().last().value());
    }
    ranges.push_back(range);
  }
  return ranges;
}

/// Every index strictly between `a` and `b` holds no user command in `group`'s log.
void require_no_user_entries_between(const CounterGroup& group, IndexRange a, IndexRange b) {
  for (auto index = a.last().next(); index < b.first(); index = index.next()) {
    const auto* entry = group.log().get(index);
    INFO("index " << index.value());
    REQUIRE(entry != nullptr);
    CHECK(entry->command.user() == nullptr);
  }
}

} // namespace

TEST_CASE("catch-up: a counter group grows from one member to three through catch-up sessions",
          "[group][catchup]") {
  const auto batch = GENERATE(as<std::size_t>{}, 7, 20, 100, 1000);
  const std::uint64_t seed = 7000 + batch;
  INFO("seed " << seed << ", sync batch " << batch);
  CounterSim sim{seed};
  const auto p1 = PeerId{1};
  const auto p2 = PeerId{2};
  const auto p3 = PeerId{3};

  sim.world.add(p1, counter_options({p1}, batch));
  auto& g1 = sim.world.start(p1);
  REQUIRE(sim.elect() == p1);

  const auto first = expect_ok(sim.world.await(g1.execute_many(increments(0, 200))));
  CHECK(first.size() == 200);
  CHECK(first.last().value() == first.first().value() + 199);
  CHECK(g1.machine().value() == increments_sum(0, 200));
  CHECK(g1.machine().value() == 19900);

  // Peer 2 knows the group ({1}) but is not in it: it only follows once added.
  sim.world.add(p2, counter_options({p1}, batch));
  auto& g2 = sim.world.start(p2);
  const auto added2 = expect_ok(sim.world.await(g1.add_member(p2)));
  CHECK(added2.value() > first.last().value());
  CHECK(g1.core().membership().contains(p2));
  REQUIRE(sim.world.run_until(
      [&] {
        return g1.core().membership().is_voter(p2) && g2.core().membership().is_voter(p2) &&
               members_converged(sim.world, {p1, p2});
      },
      30s));
  CHECK(g2.committed() == g1.committed());
  CHECK(g2.machine().value() == 19900);
  CHECK(g2.core().counters().sync_sessions_completed >= 1);
  CHECK(g1.provider().counters().entries_served > 0);

  // Peer 2 is a follower: its commands are forwarded to the leader.
  REQUIRE_FALSE(g2.is_leader());
  // The same 200 increments again (the 19900 + 19900 = 39800).
  const auto second = expect_ok(sim.world.await(g2.execute_many(increments(0, 200))));
  CHECK(second.size() == 200);
  CHECK(second.last().value() == second.first().value() + 199);
  CHECK(second.first().value() > first.last().value());
  CHECK(second.first().value() > added2.value());
  require_no_user_entries_between(g1, first, second);
  CHECK(g2.machine().value() == 39800);

  // Peer 3 joins the two.
  sim.world.add(p3, counter_options({p1, p2}, batch));
  auto& g3 = sim.world.start(p3);
  const auto leader = sim.world.leader();
  REQUIRE(leader.has_value());
  const auto added3 = expect_ok(sim.world.await(sim.world[*leader].add_member(p3)));
  CHECK(added3.value() > second.last().value());
  REQUIRE(sim.world.run_until(
      [&] {
        for (const auto id : {p1, p2, p3}) {
          if (!sim.world[id].core().membership().is_voter(p3)) {
            return false;
          }
        }
        return members_converged(sim.world, {p1, p2, p3});
      },
      30s));
  const std::int64_t expected = 39800;
  for (const auto id : {p1, p2, p3}) {
    INFO("peer " << id.value());
    CHECK(sim.world[id].committed() == g1.committed());
    CHECK(sim.world[id].machine().value() == expected);
  }
  CHECK(g3.core().counters().sync_sessions_completed >= 1);
  sim.require_safe();
}

TEST_CASE("catch-up: five peers and 100000 commands and a late joiner", "[group][catchup]") {
  const std::uint64_t seed = 5;
  INFO("seed " << seed);
  CounterSim sim{seed};
  set_links(sim.network, 5ms, 10e6); // 10 MB/s per directed link
  const auto ids = peers(4);
  const auto joiner = PeerId{5};
  const auto leader = start_and_elect(sim, ids);

  constexpr std::int64_t commands = 100'000;
  const auto ranges = load(sim, *leader, 0, commands, 1000);
  REQUIRE(ranges.size() == 100);
  REQUIRE(sim.world.leader() == leader);
  REQUIRE(sim.world.run_until([&] { return members_converged(sim.world, ids); }, 10s));
  for (const auto id : ids) {
    CHECK(sim.world[id].machine().value() == increments_sum(0, commands));
  }

  std::map<PeerId, std::uint64_t> served_before;
  for (const auto id : ids) {
    served_before[id] = sim.world[id].provider().counters().entries_served;
  }
  std::optional<sync::SyncProgress> session;
  sim.world.on_event([&](PeerId id, const group::GroupEvent& event) {
    if (id == joiner && event.kind == group::GroupEvent::Kind::sync_finished && event.outcome &&
        event.outcome->ok() && event.progress && (!session || event.progress->done > session->done)) {
      session = event.progress;
    }
  });

  sim.world.add(joiner, counter_options(ids));
  sim.world.start(joiner);
  const auto added = expect_ok(sim.world.await(sim.world[*leader].add_member(joiner)));
  CHECK(added.value() > ranges.back().last().value());
  const auto all = with(ids, joiner);
  REQUIRE(sim.world.run_until(
      [&] { return promoted(sim.world, *leader, joiner) && members_converged(sim.world, all); }, 60s));
  CHECK(sim.world[joiner].machine().value() == increments_sum(0, commands));
  CHECK(sim.world[joiner].core().counters().sync_sessions_completed >= 1);
  REQUIRE(session.has_value());
  CHECK(session->done >= static_cast<std::uint64_t>(commands));

  std::map<PeerId, std::uint64_t> served;
  std::size_t serving = 0;
  for (const auto id : ids) {
    served[id] = sim.world[id].provider().counters().entries_served - served_before[id];
    serving += served[id] > 0 ? 1 : 0;
    UNSCOPED_INFO("peer " << id.value() << (id == *leader ? " (leader)" : "") << " served " << served[id]
                          << " entries; the session took " << session->peers[id].entries << " from it");
  }
  CHECK(serving >= 3);
  // The leader is asked last: it serves no more than any other serving peer
  // ("the least", as in tests/sim's four-provider test). With equal links it
  // still takes one chunk in four: 24,000 entries against 24,001..26,000.
  for (const auto id : ids) {
    if (id != *leader && served[id] > 0) {
      INFO("leader " << leader->value() << " vs peer " << id.value());
      CHECK(served[*leader] <= served[id]);
    }
  }
  sim.require_safe();
}

namespace {

/// A loaded group of `voters` members (batch `sync_batch`, 5 ms / 10 MB/s links)
/// with `commands` committed; returns the leader.
PeerId loaded_group(CounterSim& sim, const std::vector<PeerId>& voters, std::int64_t commands,
                    std::size_t sync_batch) {
  set_links(sim.network, 5ms, 10e6);
  const auto leader = start_and_elect(sim, voters, sync_batch);
  load(sim, *leader, 0, commands, 1000);
  REQUIRE(sim.world.run_until([&] { return members_converged(sim.world, voters); }, 10s));
  return *leader;
}

/// Adds `joiner` (started with the voters' list) through `leader` and runs until
/// its catch-up session has appended a third of its gap and still has more to fetch.
void join_until_mid_session(CounterSim& sim, const std::vector<PeerId>& voters, PeerId leader, PeerId joiner,
                            std::size_t sync_batch,
                            const std::function<bool(const sync::SyncProgress&)>& also) {
  sim.world.add(joiner, counter_options(voters, sync_batch));
  sim.world.start(joiner);
  const auto added = spawn(sim.world, sim.world[leader].add_member(joiner));
  REQUIRE(sim.world.run_until(
      [&] {
        const auto progress = sim.world[joiner].sync_progress();
        return progress && progress->done * 3 >= progress->total && !progress->remaining.empty() &&
               also(*progress);
      },
      10s));
  expect_ok(*added);
}

/// Runs until `leader` promoted `joiner` and the `live` members converged; then
/// each of them committed at least every index of `at_least` and holds `value`.
void require_joined(CounterSim& sim, PeerId leader, PeerId joiner, const std::vector<PeerId>& live,
                    std::initializer_list<Index> at_least, std::int64_t value) {
  REQUIRE(sim.world.run_until(
      [&] { return promoted(sim.world, leader, joiner) && members_converged(sim.world, live); }, 30s));
  for (const auto id : live) {
    INFO("peer " << id.value());
    for (const auto index : at_least) {
      CHECK(sim.world[id].committed() >= index);
    }
    CHECK(sim.world[id].machine().value() == value);
  }
}

} // namespace

TEST_CASE("catch-up: the leader crashes during a joiner's catch-up", "[group][catchup]") {
  for (std::uint64_t seed = 21; seed <= 40; ++seed) {
    // Three voters for odd seeds, five for even ones.
    const std::uint64_t size = seed % 2 == 1 ? 3 : 5;
    INFO("seed " << seed << ", " << size << " voters");
    CounterSim sim{seed};
    const auto voters = peers(size);
    const auto joiner = PeerId{size + 1};
    constexpr std::int64_t commands = 20'000;
    const auto leader = loaded_group(sim, voters, commands, 100);
    join_until_mid_session(sim, voters, leader, joiner, 100, [](const sync::SyncProgress&) { return true; });

    // The group keeps taking commands while the joiner catches up (they reach
    // its session as leader batches).
    std::int64_t executed = commands;
    for (int i = 0; i < 2; ++i) {
      expect_ok(sim.world.await(sim.world[leader].execute_many(increments(executed, 500))));
      executed += 500;
    }
    const auto commit_before = sim.world[leader].committed();
    const auto value_before = sim.world[leader].machine().value();
    REQUIRE(value_before == increments_sum(0, executed));
    const auto progress = sim.world[joiner].sync_progress();
    REQUIRE(progress.has_value()); // the session runs at the crash
    CHECK(progress->remaining.size() > 0);
    sim.world.crash(leader);

    const auto next = sim.elect_other(leader);
    REQUIRE(next.has_value());
    CHECK(*next != joiner);
    // The group takes commands again, the joiner among its members.
    IndexRange more;
    for (int i = 0; i < 4; ++i) {
      more = expect_ok(sim.world.await(sim.world[*next].execute_many(increments(executed, 500))));
      CHECK(more.first().value() > commit_before.value());
      executed += 500;
    }
    const auto expected = increments_sum(0, executed);
    require_joined(sim, *next, joiner, with(except(voters, {leader}), joiner), {commit_before, more.last()},
                   expected);
    const auto& counters = sim.world[joiner].core().counters();
    CHECK(counters.sync_sessions_completed >= 1);
    UNSCOPED_INFO("joiner sessions: started " << counters.sync_sessions_started << ", completed "
                                              << counters.sync_sessions_completed << ", failed "
                                              << counters.sync_sessions_failed);

    // The old leader comes back and converges too: nothing committed was lost.
    sim.world.restart(leader);
    const auto all = with(voters, joiner);
    REQUIRE(sim.world.run_until([&] { return members_converged(sim.world, all); }, 30s));
    CHECK(sim.world[leader].machine().value() == expected);
    sim.require_safe();
  }
}

TEST_CASE("catch-up: a provider crashes during a joiner's catch-up", "[group][catchup]") {
  for (std::uint64_t seed = 31; seed <= 50; ++seed) {
    INFO("seed " << seed);
    CounterSim sim{seed};
    const auto voters = peers(3);
    const auto joiner = PeerId{4};
    constexpr std::int64_t commands = 20'000;
    const auto leader = loaded_group(sim, voters, commands, 100);
    const auto provider = leader == PeerId{1} ? PeerId{2} : PeerId{1};
    // Crash the provider once it has served the session and while it has a fetch in flight.
    join_until_mid_session(sim, voters, leader, joiner, 100, [&](const sync::SyncProgress& progress) {
      const auto it = progress.peers.find(provider);
      return it != progress.peers.end() && it->second.entries > 0 &&
             it->second.requests * 100 > it->second.entries;
    });
    const auto commit_before = sim.world[leader].committed();
    sim.world.crash(provider);
    REQUIRE(sim.world[joiner].sync_progress().has_value());

    REQUIRE(sim.world.run_until(
        [&] { return !sim.world[joiner].core().syncing() && !sim.world[joiner].sync_progress(); }, 30s));
    const auto& counters = sim.world[joiner].core().counters();
    CHECK(counters.sync_sessions_completed >= 1);
    CHECK(counters.sync_sessions_failed == 0);
    CHECK(sim.world.leader() == leader);

    const auto more = expect_ok(sim.world.await(sim.world[leader].execute_many(increments(commands, 1000))));
    require_joined(sim, leader, joiner, with(except(voters, {provider}), joiner),
                   {commit_before, more.last()}, increments_sum(0, commands + 1000));
    sim.world.restart(provider);
    const auto all = with(voters, joiner);
    REQUIRE(sim.world.run_until([&] { return members_converged(sim.world, all); }, 30s));
    sim.require_safe();
  }
}

TEST_CASE("catch-up: a lagging follower the leader needs fetches the leader's uncommitted tail",
          "[group][catchup]") {
  for (std::uint64_t seed = 41; seed <= 60; ++seed) {
    INFO("seed " << seed);
    CounterSim sim{seed};
    const auto ids = peers(3);
    const auto leader = start_and_elect(sim, ids, 500);
    const auto followers = except(ids, {*leader});
    const auto down = followers[0];
    const auto lagging = followers[1];

    load(sim, *leader, 0, 1000, 1000);
    // The lagging follower misses 5,000 entries the other two commit.
    sim.network.isolate(lagging);
    load(sim, *leader, 1000, 5000, 1000);
    const auto committed = sim.world[*leader].committed();
    REQUIRE(sim.world.run_until([&] { return sim.world[down].committed() == committed; }, 5s));

    std::optional<Cursor> target;
    std::optional<Index> leader_commit_at_start;
    sim.world.on_event([&](PeerId id, const group::GroupEvent& event) {
      if (id == lagging && event.kind == group::GroupEvent::Kind::sync_started && !target) {
        target = event.target;
        leader_commit_at_start = sim.world[*leader].committed();
      }
    });

    // One follower down: the leader needs the lagging one to commit anything new.
    sim.world.crash(down);
    const auto pending = spawn(sim.world, sim.world[*leader].execute_many(increments(6000, 3000)));
    sim.world.simulator().advance(100ms);
    REQUIRE_FALSE(pending->has_value());
    CHECK(sim.world[*leader].committed() == committed);
    sim.network.heal_all();

    REQUIRE(sim.world.run_until([&] { return pending->has_value(); }, 10s));
    const auto range = expect_ok(*pending);
    CHECK(range.size() == 3000);
    REQUIRE(target.has_value());
    REQUIRE(leader_commit_at_start.has_value());
    // The session's target lay above the commit index: that part only the leader held.
    CHECK(target->index > *leader_commit_at_start);
    CHECK(sim.world.leader() == leader);
    CHECK(sim.world[*leader].committed() >= range.last());
    REQUIRE(sim.world.run_until([&] { return members_converged(sim.world, {*leader, lagging}); }, 5s));
    CHECK(sim.world[lagging].committed() >= range.last());
    CHECK(sim.world[lagging].machine().value() == increments_sum(0, 9000));
    CHECK(sim.world[lagging].core().counters().sync_sessions_completed >= 1);

    // And it keeps committing.
    const auto after = expect_ok(sim.world.await(sim.world[*leader].execute_many(increments(9000, 100))));
    CHECK(after.first().value() > range.last().value());

    sim.world.restart(down);
    REQUIRE(sim.world.run_until([&] { return members_converged(sim.world, ids); }, 30s));
    CHECK(sim.world[down].machine().value() == increments_sum(0, 9100));
    sim.require_safe();
  }
}

} // namespace mosaik::test
