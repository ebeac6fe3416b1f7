// Faults: a leader partitioned with a minority cannot commit and gives way;
// pre-vote keeps a returning member from deposing a healthy leader;
// check-quorum makes an isolated leader step down; two leaders of different
// terms merge on the majority's log; a lossy, duplicating, reordering network
// applies every acknowledged command exactly once.

#include "group_world.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

namespace mosaik::test {
namespace {

using group::Result;

} // namespace

TEST_CASE("partition of the leader with a minority", "[group][fault][partition]") {
  for (std::uint64_t seed = 101; seed <= 105; ++seed) {
    CounterSim sim{seed};
    INFO("seed " << seed);
    auto& world = sim.world;
    const auto ids = peers(5);
    const auto leader = start_and_elect(sim, ids);
    const auto old = *leader;
    const auto base = execute_ok(sim, old, 1);
    REQUIRE(converge(world, base));

    // The old leader and one follower on one side, the other three on the other.
    const std::vector<PeerId> minority{old, except(ids, {old}).front()};
    const auto majority = except(ids, minority);
    split(sim.network, minority, majority);
    const auto old_term = world[old].core().term();
    const auto old_commit = world[old].committed();

    // The old leader still believes it leads: it takes the commands, it cannot commit them.
    REQUIRE(world[old].is_leader());
    const auto fed = expect_ok(world.await(world[old].feed(Counter::Command{1000}), 1s));
    const auto stuck = spawn(world, world[old].execute(Counter::Command{2000}));

    // The majority elects a leader of a higher term and commits.
    const auto fresh = await_leader_among(world, majority);
    CHECK(world[fresh].core().term() > old_term);
    const auto committed_by_majority = execute_ok(sim, fresh, 10);
    CHECK(committed_by_majority >= fed); // the same indices, other entries
    world.simulator().advance(1s);
    CHECK(world[old].committed() == old_commit);
    CHECK(world[old].applied() == old_commit);
    CHECK(!(stuck->has_value() && (*stuck)->ok()));
    CHECK(world[old].machine().value() == 1);

    sim.network.heal_all();
    REQUIRE(converge(world, committed_by_majority));
    REQUIRE(world.run_until([&] { return stuck->has_value(); }, 30s));
    INFO("the stuck execute: " << ((*stuck)->ok() ? std::string{"ok"} : (*stuck)->error().message()));
    CHECK(failed_as(**stuck, {group::Errc::lost, group::Errc::timeout}));
    CHECK(!world[old].is_leader());
    CHECK(world[old].leader() == fresh);
    CHECK(world[old].core().term() == world[fresh].core().term());
    CHECK(world[old].core().counters().truncated_entries >= 2);
    // The fed entry was replaced by one of the new term.
    CHECK(world[old].log().term_at(fed) == world[fresh].log().term_at(fed));
    CHECK(world[old].log().term_at(fed) != std::optional{old_term});
    for (const auto id : ids) {
      INFO("member " << id.value());
      CHECK(world[id].machine().value() == 11);
      CHECK(world[id].applied() == world[fresh].applied());
      const auto amounts = user_amounts(world[id], world[id].applied());
      CHECK(std::count(amounts.begin(), amounts.end(), 1000) == 0);
      CHECK(std::count(amounts.begin(), amounts.end(), 2000) == 0);
    }
    sim.require_safe();
  }
}

TEST_CASE("pre-vote: a member back from a long isolation does not depose the leader",
          "[group][fault][prevote]") {
  for (std::uint64_t seed = 201; seed <= 205; ++seed) {
    CounterSim sim{seed};
    INFO("seed " << seed);
    auto& world = sim.world;
    const auto ids = peers(5);
    const auto leader = start_and_elect(sim, ids);
    const auto term = world[*leader].core().term();
    const auto loner = except(ids, {*leader}).back();
    const auto elections_before = world.leaders_by_term().size();
    const auto counters_before = world[loner].core().counters(); // it may have campaigned at the start

    sim.network.isolate(loner);
    // Many election timeouts (200 ms + up to 100 ms jitter each).
    world.simulator().advance(6s);
    CHECK(world[loner].core().counters().pre_votes_started >= counters_before.pre_votes_started + 10);
    CHECK(world[loner].core().counters().elections_started == counters_before.elections_started);
    CHECK(world[loner].core().term() == term); // pre-vote never raises the term
    const auto committed = execute_ok(sim, *leader, 7);

    sim.network.heal_all();
    REQUIRE(converge(world, committed));
    world.simulator().advance(2s);
    CHECK(world.leader() == leader);
    CHECK(world.leaders() == std::vector<PeerId>{*leader});
    CHECK(world[*leader].core().term() == term);
    CHECK(world[loner].leader() == leader);
    CHECK(world[loner].core().term() == term);
    CHECK(world.leaders_by_term().size() == elections_before);
    CHECK(world[loner].machine().value() == 7);
    sim.require_safe();
  }
}

TEST_CASE("check-quorum: a leader isolated alone steps down", "[group][fault][checkquorum]") {
  for (std::uint64_t seed = 301; seed <= 305; ++seed) {
    CounterSim sim{seed};
    INFO("seed " << seed);
    auto& world = sim.world;
    const auto ids = peers(3);
    const auto leader = start_and_elect(sim, ids);
    const auto term = world[*leader].core().term();
    const auto& config = world[*leader].core().config();

    sim.network.isolate(*leader);
    const auto isolated_at = world.simulator().now();
    const auto bound = 2 * (config.election_timeout + config.election_jitter);
    REQUIRE(world.run_until([&] { return !world[*leader].is_leader(); }, bound));
    INFO("stepped down after " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                      world.simulator().now() - isolated_at)
                                      .count()
                               << " ms");
    CHECK(world.simulator().now() - isolated_at <= 2 * config.election_timeout);
    CHECK(world[*leader].core().counters().step_downs == 1);
    CHECK(world[*leader].core().term() == term); // stepping down does not need a higher term
    CHECK(!world[*leader].leader().has_value());

    // The other two elect a leader of their own and commit.
    const auto others = except(ids, {*leader});
    const auto fresh = await_leader_among(world, others);
    CHECK(world[fresh].core().term() > term);
    const auto committed = execute_ok(sim, fresh, 3);

    sim.network.heal_all();
    REQUIRE(converge(world, committed));
    CHECK(world[*leader].machine().value() == 3);
    sim.require_safe();
  }
}

TEST_CASE("rivals merge: the minority leader's divergent entries are truncated", "[group][fault][rivals]") {
  for (std::uint64_t seed = 401; seed <= 405; ++seed) {
    CounterSim sim{seed};
    INFO("seed " << seed);
    auto& world = sim.world;
    const auto ids = peers(5);
    const auto leader = start_and_elect(sim, ids);
    const auto old = *leader;
    const auto base = execute_ok(sim, old, 1);
    REQUIRE(converge(world, base));
    const auto old_term = world[old].core().term();

    // The old leader alone keeps accepting commands while it believes it leads.
    sim.network.isolate(old);
    std::vector<Index> minority_indices;
    for (std::int64_t i = 0; i < 5; ++i) {
      minority_indices.push_back(expect_ok(world.await(world[old].feed(Counter::Command{1000 + i}), 1s)));
    }
    CHECK(minority_indices.front() == base.next());

    // The majority elects another leader, which commits other commands at the same indices.
    const auto majority = except(ids, {old});
    const auto rival = await_leader_among(world, majority);
    const auto rival_term = world[rival].core().term();
    CHECK(rival_term > old_term);
    std::vector<Index> majority_indices;
    std::int64_t majority_sum = 1;
    for (std::int64_t i = 0; i < 5; ++i) {
      majority_indices.push_back(execute_ok(sim, rival, 10 + i));
      majority_sum += 10 + i;
    }
    CHECK(std::find_first_of(majority_indices.begin(), majority_indices.end(), minority_indices.begin(),
                             minority_indices.end()) != majority_indices.end());
    // Both led: the record of elections names both.
    CHECK(world.leaders_by_term().at(old_term) == old);
    CHECK(world.leaders_by_term().at(rival_term) == rival);
    CHECK(world[old].log().last().index >= minority_indices.back());

    sim.network.heal_all();
    REQUIRE(converge(world, majority_indices.back()));
    CHECK(world[old].core().counters().truncated_entries >= minority_indices.size());
    CHECK(world[old].leader() == rival);
    for (const auto index : minority_indices) {
      INFO("index " << index.value());
      CHECK(world[old].log().term_at(index) != std::optional{old_term});
      CHECK(world[old].log().term_at(index) == world[rival].log().term_at(index));
    }
    for (const auto id : ids) {
      INFO("member " << id.value());
      CHECK(world[id].machine().value() == majority_sum);
      const auto amounts = user_amounts(world[id], world[id].applied());
      CHECK(std::none_of(amounts.begin(), amounts.end(), [](std::int64_t a) { return a >= 1000; }));
    }
    sim.require_safe();
  }
}

// A follower that acknowledged an entry counted in its commit must keep it:
// here b's heartbeats point past f's log (b's entries to f are lost), so f
// must sync or ask b to probe it, and then a, b, both holding the entry, go away. If f
// dropped the entry, f and the two members that never had it (three of five)
// elect a leader without a committed entry (found by a randomized fault
// campaign, seed 6205 with 10% loss; reproduced here with a send filter).
TEST_CASE("an entry a follower acknowledged survives its catch-up: a committed entry is never lost",
          "[group][fault][acked]") {
  for (std::uint64_t seed = 451; seed <= 452; ++seed) {
    CounterSim sim{seed};
    INFO("seed " << seed);
    auto& world = sim.world;
    const auto ids = peers(5);
    const auto leader = start_and_elect(sim, ids);
    const auto a = *leader;
    const auto others = except(ids, {a});
    const auto b = others[0];
    const auto f = others[1];
    const std::vector<PeerId> behind{others[2], others[3]};
    const auto base = expect_ok(world.await(world[a].execute(Counter::Command{1}), 5s));
    REQUIRE(converge(world, base));

    // X is acknowledged by a, b and f only (a majority of five) and so committed;
    // f never hears that it committed.
    const auto k = world[a].last().index.next();
    split(sim.network, {a}, behind);
    bool drop_f_commit = true; // a -> f: AppendEntries announcing commit >= k
    bool mute_f_votes = false; // f's (pre-)vote requests
    bool starve_f = false;     // b -> anyone: AppendEntries with entries, and every catch-up message
    world.hub().set_send_filter(
        [&](PeerId from, PeerId to, CounterWorld::Message message) -> std::optional<CounterWorld::Message> {
          if (const auto* consensus = std::get_if<0>(&message.body)) {
            if (const auto* append = std::get_if<group::AppendEntries<Counter::Command>>(consensus)) {
              if (drop_f_commit && from == a && to == f && append->commit >= k) {
                return std::nullopt;
              }
              if (starve_f && from == b && !append->entries.empty()) {
                return std::nullopt;
              }
            }
            if (mute_f_votes && from == f && std::holds_alternative<group::VoteRequest>(*consensus)) {
              return std::nullopt;
            }
          } else if (starve_f && from == b) {
            return std::nullopt;
          }
          return message;
        });
    const auto x = expect_ok(world.await(world[a].execute(Counter::Command{100}), 5s));
    REQUIRE(x == k);
    REQUIRE(world.run_until([&] { return world[b].last().index >= k && world[f].last().index >= k; }, 1s));
    CHECK(world[f].committed() < k);

    // a crashes; b (which holds X) wins the next term with f's vote; f is starved of b's entries.
    mute_f_votes = true;
    starve_f = true;
    world.crash(a);
    REQUIRE(world.run_until([&] { return world[b].is_leader(); }, 10s));
    const auto term_b = world[b].core().term();
    // b's heartbeats now point past f's log (b's no-op never reached f): f must
    // not drop X to make room (it asks b to check its log instead).
    REQUIRE(world.run_until([&] { return world[f].leader() == b; }, 2s));
    world.simulator().advance(1s);
    INFO("f truncated " << world[f].core().counters().truncated_entries << " entries; f's last "
                        << world[f].last().index.value() << ", X at " << k.value());
    CHECK(world[f].log().term_at(k).has_value()); // it acknowledged X: it must keep it

    // b goes away too; f and the two that never had X remain: three of five.
    sim.network.isolate(b);
    mute_f_votes = false;
    drop_f_commit = false;
    world.simulator().advance(5s);
    const auto next = leader_among(world, {f, behind[0], behind[1]});
    INFO("leader now: " << (next ? next->value() : 0) << " (b led term " << term_b.value() << ")");
    if (next) {
      CHECK(world[*next].log().term_at(k) == world[b].log().term_at(k)); // leader completeness
    }
    // Everyone back: all agree, and X is applied everywhere.
    sim.network.heal_all();
    world.hub().set_send_filter(nullptr);
    world.restart(a);
    CHECK(converge(world, k, 30s));
    check_values(world, ids, 101);
    sim.require_safe();
  }
}
TEST_CASE("lossy, duplicating, reordering links: acknowledged commands apply exactly once",
          "[group][fault][lossy]") {
  for (std::uint64_t seed = 501; seed <= 505; ++seed) {
    CounterSim sim{seed};
    INFO("seed " << seed);
    auto& world = sim.world;
    sim::LinkConfig lossy;
    lossy.latency = 2ms;
    lossy.jitter = 1ms;
    lossy.loss = 0.05;
    lossy.duplicate = 0.05;
    lossy.reorder = 0.05;
    sim.network.set_default_link(lossy);
    const auto ids = peers(3);
    start_all(sim, ids);
    REQUIRE(sim.elect(20s).has_value());

    // Waves of commands from every member, with distinct amounts.
    std::map<std::int64_t, Pending<Result<Index>>> submitted;
    std::int64_t amount = 1;
    for (int wave = 0; wave < 10; ++wave) {
      for (const auto id : ids) {
        for (int k = 0; k < 3; ++k) {
          submitted[amount] = spawn(world, world[id].execute(Counter::Command{amount}));
          ++amount;
        }
      }
      world.simulator().advance(150ms);
    }
    REQUIRE(world.run_until(
        [&] {
          return std::all_of(submitted.begin(), submitted.end(),
                             [](const auto& item) { return item.second->has_value(); });
        },
        60s));

    // A clean network to let everyone converge.
    sim::LinkConfig clean;
    clean.latency = 1ms;
    sim.network.set_default_link(clean);
    const auto leader = sim.elect();
    REQUIRE(leader.has_value());
    const auto barrier = execute_ok(sim, *leader, 1'000'000);
    REQUIRE(converge(world, barrier));

    std::int64_t ok_sum = 0;
    std::size_t ok_count = 0;
    std::set<Index> ok_indices;
    for (const auto& [value, result] : submitted) {
      if ((*result)->ok()) {
        ok_sum += value;
        ++ok_count;
        CHECK(ok_indices.insert((*result)->value()).second);
      } else {
        INFO("amount " << value << ": " << (*result)->error().message());
        CHECK((*result)->error().code != group::Errc::stopped);
      }
    }
    INFO(ok_count << " of " << submitted.size() << " executes succeeded");
    CHECK(ok_count * 10 >= submitted.size() * 8);
    for (const auto id : ids) {
      INFO("member " << id.value());
      const auto& group = world[id];
      const auto amounts = user_amounts(group, group.applied());
      std::map<std::int64_t, int> seen;
      for (const auto a : amounts) {
        ++seen[a];
      }
      std::int64_t failed_but_applied = 0;
      for (const auto& [value, result] : submitted) {
        INFO("amount " << value);
        if ((*result)->ok()) {
          CHECK(seen[value] == 1);
          // At its index, and nowhere else.
          const auto* entry = group.log().get((*result)->value());
          REQUIRE(entry != nullptr);
          REQUIRE(entry->command.user() != nullptr);
          CHECK(entry->command.user()->amount == value);
        } else {
          CHECK(seen[value] <= 1);
          failed_but_applied += seen[value] == 1 ? value : 0;
        }
      }
      CHECK(seen[1'000'000] == 1);
      CHECK(std::accumulate(amounts.begin(), amounts.end(), std::int64_t{0}) == group.machine().value());
      CHECK(group.machine().value() == ok_sum + failed_but_applied + 1'000'000);
      CHECK(group.machine().applied() == amounts.size());
    }
    sim.require_safe();
  }
}

} // namespace mosaik::test
