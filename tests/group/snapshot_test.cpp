// Snapshot catch-up in a running group: members snapshot at replicated
// snapshot points and prune their logs; a member whose gap lies below every
// peer's log fetches a snapshot from several peers, installs it, and replays
// the rest. Every test checks Raft's invariants and the replicas' digests.

#include "kv_snapshot_world.hpp"

namespace mosaik::test {

TEST_CASE("a member joining after the log was pruned catches up by snapshot from several peers",
          "[group][snapshot]") {
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    KvSim sim{seed};
    INFO("seed " << seed);
    const auto members = peers(4);
    sim.start({members[0], members[1], members[2]}, members);
    sim.write(0, 3000, 1000);
    // Everyone snapshotted at the same points and pruned below them.
    for (const auto id : {members[0], members[1], members[2]}) {
      const auto& group = sim.world[id];
      REQUIRE(group.snapshot_at().has_value());
      CHECK(group.snapshot_at()->index.value() >= 2000);
      CHECK(group.log().available().first().value() > 1);
    }
    std::optional<sync::SyncProgress> finished;
    sim.world.on_event([&](PeerId id, const group::GroupEvent& event) {
      if (id == members[3] && event.kind == group::GroupEvent::Kind::sync_finished && event.outcome &&
          event.outcome->ok()) {
        finished = event.progress;
      }
    });
    sim.world.start(members[3]);
    REQUIRE(sim.world.run_until([&] { return finished.has_value() && sim.converged(); }, 20s));
    REQUIRE(finished->snapshot.has_value());
    CHECK(finished->snapshot->installed);
    CHECK(finished->snapshot->items == 1000);
    CHECK(sim.world[members[3]].machine().size() == 1000);
    CHECK(item_servers(sim.world).size() >= 2);
    CHECK(sim.world[members[3]].snapshot_at().has_value());
    // Writes go on and reach the new member by replication.
    sim.write(3000, 300, 1000);
    REQUIRE(sim.world.run_until([&] { return sim.converged(); }, 10s));
    sim.require_safe();
  }
}

TEST_CASE("a lagging member's request makes the group take a snapshot at one replicated index",
          "[group][snapshot]") {
  auto config = snapshot_config();
  config.snapshot_ttl = 1s; // the periodic snapshots expire before the member joins
  for (std::uint64_t seed = 11; seed <= 13; ++seed) {
    KvSim sim{seed};
    INFO("seed " << seed);
    const auto members = peers(4);
    sim.start({members[0], members[1], members[2]}, members, config);
    sim.write(0, 2000, 500);
    sim.world.simulator().advance(3s);
    std::vector<Index> taken;
    for (const auto id : {members[0], members[1], members[2]}) {
      REQUIRE_FALSE(sim.world[id].provider().offered().has_value());
      taken.push_back(sim.world[id].snapshot_at()->index);
    }
    sim.world.start(members[3]);
    REQUIRE(sim.world.run_until([&] { return sim.converged(); }, 20s));
    // A new snapshot point was replicated: every member snapshotted at it.
    std::optional<Cursor> point;
    for (std::size_t i = 0; i < 3; ++i) {
      const auto at = sim.world[members[i]].snapshot_at();
      REQUIRE(at.has_value());
      CHECK(at->index > taken[i]);
      if (point) {
        CHECK(*at == *point);
      }
      point = at;
    }
    CHECK(sim.world[members[3]].snapshot_at() == point);
    const auto leader = *sim.world.leader();
    CHECK(sim.world[leader].provider().counters().snapshot_requests >= 1);
    CHECK(item_servers(sim.world).size() >= 2);
    sim.require_safe();
  }
}

TEST_CASE("a snapshot source that crashes mid-transfer leaves the rest to the others", "[group][snapshot]") {
  for (std::uint64_t seed = 21; seed <= 23; ++seed) {
    // 2 MB/s links: 4000 records of ~40 bytes take a while to move.
    KvSim sim{seed, 2e6};
    INFO("seed " << seed);
    const auto members = peers(5);
    const auto leader = sim.start({members[0], members[1], members[2], members[3]}, members);
    sim.write(0, 6000, 4000);
    sim.world.start(members[4]);
    auto& joiner = sim.world[members[4]];
    // Wait until the joiner received part of the snapshot, then crash a source that is not the leader.
    REQUIRE(sim.world.run_until(
        [&] {
          const auto progress = joiner.sync_progress();
          return progress && progress->snapshot && progress->snapshot->received > 0 &&
                 progress->snapshot->received < progress->snapshot->items / 2;
        },
        10s));
    std::optional<PeerId> victim;
    for (const auto id : item_servers(sim.world)) {
      if (id != leader && id != members[4]) {
        victim = id;
      }
    }
    REQUIRE(victim.has_value());
    sim.world.crash(*victim);
    REQUIRE(sim.world.run_until(
        [&] {
          const auto leader_now = sim.world.leader();
          return leader_now && joiner.applied() >= sim.world[*leader_now].committed() &&
                 joiner.machine().digest() == sim.world[*leader_now].machine().digest();
        },
        30s));
    CHECK(joiner.machine().size() == 4000);
    // The crashed source comes back and catches up too.
    sim.world.restart(*victim);
    REQUIRE(sim.world.run_until([&] { return sim.converged(); }, 20s));
    sim.require_safe();
  }
}

TEST_CASE("entries the leader sends during a snapshot fetch are applied after the install",
          "[group][snapshot]") {
  for (std::uint64_t seed = 31; seed <= 33; ++seed) {
    KvSim sim{seed, 2e6};
    INFO("seed " << seed);
    const auto members = peers(4);
    const auto leader = sim.start({members[0], members[1], members[2]}, members);
    sim.write(0, 3000, 2000);
    std::optional<sync::SyncProgress> finished;
    sim.world.on_event([&](PeerId id, const group::GroupEvent& event) {
      if (id == members[3] && event.kind == group::GroupEvent::Kind::sync_finished && event.outcome &&
          event.outcome->ok()) {
        finished = event.progress;
      }
    });
    sim.world.start(members[3]);
    auto& joiner = sim.world[members[3]];
    REQUIRE(sim.world.run_until(
        [&] {
          const auto progress = joiner.sync_progress();
          return progress && progress->snapshot && progress->snapshot->received > 0;
        },
        10s));
    // Writes while the snapshot moves: the leader sends them to the joiner, which buffers them.
    std::vector<Kv::Command> commands;
    for (int i = 0; i < 50; ++i) {
      commands.push_back(Kv::put(fmt::format("late-{}", i), "v"));
    }
    auto pending = std::make_shared<std::optional<group::Result<IndexRange>>>();
    sim.world.spawn(sim.world[leader].execute_many(std::move(commands)), pending);
    REQUIRE(sim.world.run_until([&] { return pending->has_value() && finished.has_value(); }, 20s));
    REQUIRE((*pending)->ok());
    CHECK(finished->snapshot.has_value());
    CHECK(finished->counters.max_buffered_entries > 0);
    REQUIRE(sim.world.run_until([&] { return sim.converged(); }, 10s));
    CHECK(joiner.machine().query(Kv::Query{"late-49"}) == std::optional<std::string>{"v"});
    sim.require_safe();
  }
}

TEST_CASE("a restarted member whose log was pruned restores its state from its snapshot",
          "[group][snapshot]") {
  KvSim sim{41};
  const auto members = peers(3);
  sim.start(members, members);
  sim.write(0, 2000, 700);
  const auto follower = sim.world.leader() == members[0] ? members[1] : members[0];
  const auto at = sim.world[follower].snapshot_at();
  REQUIRE(at.has_value());
  REQUIRE(sim.world[follower].log().available().first().value() > 1);
  sim.world.crash(follower);
  auto& restarted = sim.world.restart(follower);
  CHECK(restarted.applied() >= at->index);
  CHECK(restarted.machine().size() == 700);
  REQUIRE(sim.world.run_until([&] { return sim.converged(); }, 10s));
  sim.require_safe();
}

} // namespace mosaik::test
