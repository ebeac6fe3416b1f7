// Membership changes through the log, one at a time: a learner joins, catches
// up and is promoted; followers and the leader itself are removed; refused
// changes answer with error values; an observer replicates and serves but
// never leads.

#include "group_world.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace mosaik::test {
namespace {

/// The membership recorded by the entry at `index` of `group`'s log, if it is a change.
std::optional<group::Membership> membership_at(const CounterGroup& group, Index index) {
  const auto* entry = group.log().get(index);
  if (entry == nullptr || entry->command.membership() == nullptr) {
    return std::nullopt;
  }
  return entry->command.membership()->membership;
}

} // namespace

TEST_CASE("membership: a learner joins a loaded group and is promoted once caught up",
          "[group][membership]") {
  const std::uint64_t seed = 301;
  INFO("seed " << seed);
  CounterSim sim{seed};
  const auto ids = peers(3);
  const auto leader = start_and_elect(sim, ids, 500);
  auto& lead = sim.world[*leader];
  IndexRange last_range;
  for (std::int64_t at = 0; at < 5000; at += 1000) {
    last_range = expect_ok(sim.world.await(lead.execute_many(increments(at, 1000))));
  }
  REQUIRE(sim.world.run_until([&] { return members_converged(sim.world, ids); }, 5s));

  const auto learner = PeerId{4};
  sim.world.add(learner, counter_options(ids, 500));
  sim.world.start(learner);
  const auto added = expect_ok(sim.world.await(lead.add_member(learner)));
  CHECK(added.value() > last_range.last().value());

  // Right after the change commits: a member, not a voter, not counted in the quorum.
  const auto& now = lead.core().membership();
  CHECK(now.contains(learner));
  CHECK_FALSE(now.is_voter(learner));
  CHECK(now.voters() == ids);
  CHECK(now.quorum() == 2);
  const auto change = membership_at(lead, added);
  REQUIRE(change.has_value());
  CHECK(change->contains(learner));
  CHECK_FALSE(change->is_voter(learner));
  REQUIRE(lead.core().match_index(learner).has_value());

  REQUIRE(sim.world.run_until([&] { return promoted(sim.world, *leader, learner); }, 30s));
  // The promotion is a later change of its own; everyone commits it.
  std::optional<Index> promoted_at;
  for (auto index = added.next(); index <= lead.last().index; index = index.next()) {
    if (const auto change_here = membership_at(lead, index); change_here && change_here->is_voter(learner)) {
      promoted_at = index;
      break;
    }
  }
  REQUIRE(promoted_at.has_value());
  CHECK(promoted_at->value() > added.value());
  const auto all = with(ids, learner);
  REQUIRE(sim.world.run_until(
      [&] { return lead.committed() >= *promoted_at && members_converged(sim.world, all); }, 10s));
  CHECK(sim.world[learner].machine().value() == increments_sum(0, 5000));
  CHECK(sim.world[learner].core().counters().sync_sessions_completed >= 1);
  CHECK(lead.core().membership().voters().size() == 4);
  CHECK(lead.core().membership().quorum() == 3);

  // The four-voter group commits.
  const auto more = expect_ok(sim.world.await(lead.execute_many(increments(5000, 100))));
  REQUIRE(sim.world.run_until([&] { return members_converged(sim.world, all); }, 5s));
  CHECK(sim.world[learner].committed() >= more.last());
  CHECK(sim.world[learner].machine().value() == increments_sum(0, 5100));
  sim.require_safe();
}

TEST_CASE("membership: removing a follower and then the leader itself", "[group][membership]") {
  for (std::uint64_t seed = 401; seed <= 420; ++seed) {
    INFO("seed " << seed);
    CounterSim sim{seed};
    const auto ids = peers(5);
    const auto leader = start_and_elect(sim, ids);
    expect_ok(sim.world.await(sim.world[*leader].execute_many(increments(0, 1000))));

    // A follower goes.
    const auto follower = *leader == PeerId{1} ? PeerId{2} : PeerId{1};
    const auto removed_at = expect_ok(sim.world.await(sim.world[*leader].remove_member(follower)));
    CHECK_FALSE(sim.world[*leader].core().membership().contains(follower));
    CHECK(sim.world[*leader].core().membership().voters().size() == 4);
    const auto change = membership_at(sim.world[*leader], removed_at);
    REQUIRE(change.has_value());
    CHECK_FALSE(change->contains(follower));

    // The others keep committing.
    const auto rest = except(ids, {follower});
    const auto more = expect_ok(sim.world.await(sim.world[*leader].execute_many(increments(1000, 1000))));
    CHECK(more.first().value() > removed_at.value());
    REQUIRE(sim.world.run_until([&] { return members_converged(sim.world, rest); }, 10s));
    for (const auto id : rest) {
      INFO("peer " << id.value());
      CHECK(sim.world[id].committed() >= more.last());
      CHECK(sim.world[id].machine().value() == increments_sum(0, 2000));
      CHECK_FALSE(sim.world[id].core().membership().contains(follower));
    }

    // Then the leader removes itself: it steps down once the change commits.
    const auto old_leader = *leader;
    std::optional<Index> commit_at_step_down;
    sim.world.on_event([&](PeerId id, const group::GroupEvent& event) {
      if (id == old_leader && event.kind == group::GroupEvent::Kind::role_changed &&
          event.role != group::Role::leader && !commit_at_step_down) {
        commit_at_step_down = event.index;
      }
    });
    const auto self_removed_at = expect_ok(sim.world.await(sim.world[old_leader].remove_member(old_leader)));
    REQUIRE(sim.world.run_until([&] { return commit_at_step_down.has_value(); }, 5s));
    CHECK(commit_at_step_down->value() >= self_removed_at.value());
    CHECK_FALSE(sim.world[old_leader].is_leader());
    CHECK(sim.world[old_leader].core().counters().step_downs >= 1);

    const auto remaining = except(rest, {old_leader});
    const auto next = sim.elect();
    REQUIRE(next.has_value());
    CHECK(*next != old_leader);
    CHECK(*next != follower);
    CHECK(std::find(remaining.begin(), remaining.end(), *next) != remaining.end());
    const auto after = expect_ok(sim.world.await(sim.world[*next].execute_many(increments(2000, 100))));
    CHECK(after.first().value() > self_removed_at.value());
    REQUIRE(sim.world.run_until([&] { return members_converged(sim.world, remaining); }, 10s));
    for (const auto id : remaining) {
      INFO("peer " << id.value());
      const auto& membership = sim.world[id].core().membership();
      CHECK_FALSE(membership.contains(old_leader));
      CHECK_FALSE(membership.contains(follower));
      CHECK(membership.voters().size() == 3);
      CHECK(sim.world[id].machine().value() == increments_sum(0, 2100));
    }
    // Neither removed peer leads again.
    sim.world.simulator().advance(3s);
    for (const auto& [term, id] : sim.world.leaders_by_term()) {
      if (term > sim.world[old_leader].core().term()) {
        CHECK(id != old_leader);
        CHECK(id != follower);
      }
    }
    CHECK(sim.world.leader() == next);
    sim.require_safe();
  }
}

TEST_CASE("membership: refused changes answer with error values", "[group][membership]") {
  const std::uint64_t seed = 501;
  INFO("seed " << seed);
  CounterSim sim{seed};
  const auto ids = peers(3);
  const auto leader = start_and_elect(sim, ids);
  const auto follower = *leader == PeerId{1} ? PeerId{2} : PeerId{1};
  expect_ok(sim.world.await(sim.world[*leader].execute_many(increments(0, 100))));
  // Known to the network, not started (a learner the leader replicates to in vain).
  sim.world.add(PeerId{4}, counter_options(ids));
  sim.world.add(PeerId{5}, counter_options(ids));

  // On a follower that knows the leader.
  REQUIRE(sim.world[follower].leader() == leader);
  CHECK(expect_error(sim.world.await(sim.world[follower].add_member(PeerId{4}))) == group::Errc::not_leader);
  CHECK(expect_error(sim.world.await(sim.world[follower].remove_member(*leader))) == group::Errc::not_leader);

  // Removing a peer that is not a member.
  CHECK(expect_error(sim.world.await(sim.world[*leader].remove_member(PeerId{99}))) ==
        group::Errc::unknown_member);
  CHECK(expect_error(sim.world.await(sim.world[*leader].remove_member(PeerId{4}))) ==
        group::Errc::unknown_member);

  // A second change while the first cannot commit.
  sim.network.isolate(*leader);
  const auto first = spawn(sim.world, sim.world[*leader].add_member(PeerId{4}));
  sim.world.simulator().advance(1ms);
  REQUIRE_FALSE(first->has_value());
  REQUIRE(sim.world[*leader].is_leader());
  CHECK(sim.world[*leader].core().membership().contains(PeerId{4}));
  CHECK(expect_error(sim.world.await(sim.world[*leader].add_member(PeerId{5}))) ==
        group::Errc::change_in_progress);
  CHECK(expect_error(sim.world.await(sim.world[*leader].remove_member(follower))) ==
        group::Errc::change_in_progress);
  CHECK(expect_error(sim.world.await(sim.world[*leader].remove_member(PeerId{4}))) ==
        group::Errc::change_in_progress);

  // Once healed, the first change commits and the next one is taken.
  sim.network.heal_all();
  REQUIRE(sim.world.run_until([&] { return first->has_value(); }, 10s));
  const auto added = expect_ok(*first);
  CHECK(sim.world[*leader].committed() >= added);
  const auto removed = expect_ok(sim.world.await(sim.world[*leader].remove_member(PeerId{4})));
  CHECK(removed.value() > added.value());
  CHECK_FALSE(sim.world[*leader].core().membership().contains(PeerId{4}));
  // Adding a member twice is refused too.
  CHECK(expect_error(sim.world.await(sim.world[*leader].add_member(follower))) == group::Errc::rejected);
  REQUIRE(sim.world.run_until([&] { return members_converged(sim.world, ids); }, 5s));
  sim.require_safe();
}

TEST_CASE("membership: an observer never leads yet replicates and serves catch-up", "[group][membership]") {
  for (std::uint64_t seed = 601; seed <= 620; ++seed) {
    INFO("seed " << seed);
    CounterSim sim{seed};
    const auto observer = PeerId{4};
    const std::vector<group::MemberSpec> specs{
        {PeerId{1}}, {PeerId{2}}, {PeerId{3}}, {observer, group::Preference::observer}};
    const std::vector<PeerId> ids{PeerId{1}, PeerId{2}, PeerId{3}, observer};
    for (const auto id : ids) {
      sim.world.add(id, counter_options_specs(specs, 100));
      sim.world.start(id);
    }
    CHECK_FALSE(sim.world[observer].core().membership().is_voter(observer));

    // Several elections: each round the leader crashes and comes back.
    std::int64_t next = 0;
    for (int round = 0; round < 4; ++round) {
      INFO("round " << round);
      const auto leader = sim.elect();
      REQUIRE(leader.has_value());
      CHECK(*leader != observer);
      expect_ok(sim.world.await(sim.world[*leader].execute_many(increments(next, 500))));
      next += 500;
      sim.world.crash(*leader);
      sim.world.run_until(
          [&] {
            const auto now = sim.world.leader();
            return now && *now != *leader;
          },
          10s);
      const auto successor = sim.world.leader();
      REQUIRE(successor.has_value());
      CHECK(*successor != observer);
      sim.world.restart(*leader);
    }
    const auto leader = sim.elect();
    REQUIRE(leader.has_value());
    REQUIRE(sim.world.run_until([&] { return members_converged(sim.world, ids); }, 10s));
    CHECK(sim.world[observer].machine().value() == increments_sum(0, next));
    CHECK(sim.world.leaders_by_term().size() >= 5);
    for (const auto& [term, id] : sim.world.leaders_by_term()) {
      CHECK(id != observer);
    }
    CHECK(sim.world[observer].core().counters().pre_votes_started == 0);
    CHECK(sim.world[observer].core().counters().elections_started == 0);

    // A joiner catches up from everyone, the observer included.
    const auto served_before = sim.world[observer].provider().counters().entries_served;
    const auto joiner = PeerId{5};
    sim.world.add(joiner, counter_options_specs(specs, 100));
    sim.world.start(joiner);
    expect_ok(sim.world.await(sim.world[*leader].add_member(joiner)));
    const auto all = with(ids, joiner);
    REQUIRE(sim.world.run_until(
        [&] { return promoted(sim.world, *leader, joiner) && members_converged(sim.world, all); }, 30s));
    CHECK(sim.world[joiner].machine().value() == increments_sum(0, next));
    CHECK(sim.world[joiner].core().counters().sync_sessions_completed >= 1);
    CHECK(sim.world[observer].provider().counters().entries_served > served_before);
    // Never promoted: still a non-voting member.
    CHECK(sim.world[*leader].core().membership().contains(observer));
    CHECK_FALSE(sim.world[*leader].core().membership().is_voter(observer));
    for (const auto& [term, id] : sim.world.leaders_by_term()) {
      CHECK(id != observer);
    }
    sim.require_safe();
  }
}

} // namespace mosaik::test
