// Durable snapshot members: a KvStore group catching up by snapshot whose
// members keep their log in a FileLog, their term and vote in a
// FileHardState and their latest snapshot in a FileSnapshotStore, all closed
// at a crash and reopened at the restart. Once the logs are pruned below the
// snapshots, a restarted member must rebuild its state from its snapshot
// file and its pruned log: a follower alone, every member at once, and a
// member that joined late (by snapshot) and then crashed. Every test checks
// Raft's invariants and the replicas' digests, and prints its seed.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <mosaik/group/file_hard_state.hpp>
#include <mosaik/machines/kv_store.hpp>
#include <mosaik/storage/file_log.hpp>
#include <mosaik/storage/snapshot_store.hpp>
#include <mosaik/testing/group_world.hpp>

#include "kv_snapshot_world.hpp"

#include "temp_dir.hpp"

namespace mosaik::test {
namespace {

using KvLog = storage::FileLog<group::LogCommand<Kv::Command>>;
using KvSnapshotStore = storage::FileSnapshotStore<Kv::Record>;

/// The files of member `id` under `root`.
std::filesystem::path member_dir(const std::filesystem::path& root, PeerId id) {
  return root / std::to_string(id.value());
}
std::filesystem::path snapshot_file(const std::filesystem::path& root, PeerId id) {
  return member_dir(root, id) / "snapshot";
}

/// Every member's log, hard state and snapshot under `root`/<id>; small
/// segments so that pruning drops whole files.
KvWorld::StorageFactory file_storage(std::filesystem::path root, storage::FsyncPolicy policy) {
  return [root = std::move(root), policy](PeerId id) {
    const auto dir = member_dir(root, id);
    std::filesystem::create_directories(dir);
    storage::FileLogOptions options;
    options.directory = dir / "log";
    options.fsync = policy;
    options.segment_bytes = 16384;
    auto log = KvLog::open(options);
    auto hard = group::FileHardState::open(dir / "hard-state");
    if (log.index() != 0 || hard.index() != 0) {
      FAIL("cannot open member " << id.value() << "'s storage: "
                                 << (log.index() != 0 ? std::get<1>(log) : std::get<1>(hard)));
    }
    return KvWorld::Storage{std::move(std::get<0>(log)), std::move(std::get<0>(hard)),
                            std::make_unique<KvSnapshotStore>(dir)};
  };
}

/// A KvSim whose members keep their storage in files under a directory of its own.
struct DurableKvSim {
  explicit DurableKvSim(std::uint64_t seed_value, storage::FsyncPolicy policy = storage::FsyncPolicy::never,
                        double bandwidth = 0)
      : dir("mosaik-snapshot-durable"), sim(seed_value, bandwidth, "test-kv-durable-snapshots"),
        seed(seed_value), world(sim.world) {
    world.set_storage(file_storage(dir.path(), policy), /*reopen_on_restart=*/true);
  }

  support::TempDir dir; // outlives the world (declared first): the files close before it is removed
  KvSim sim;
  std::uint64_t seed;
  KvWorld& world;

  PeerId start(const std::vector<PeerId>& ids, const std::vector<PeerId>& members) {
    return sim.start(ids, members);
  }
  bool elect(Duration limit = 10s) { return sim.elect(limit); }
  void write(std::uint64_t first, std::uint64_t count, std::uint64_t keys) { sim.write(first, count, keys); }
  bool converged() { return sim.converged(); }
  bool converge(Duration limit = 20s) { return sim.converge(limit); }
  void require_safe() { sim.require_safe(); }
};

/// The member's state and where its storage stands.
struct MemberState {
  std::uint64_t digest = 0;
  std::size_t size = 0;
  Index applied;
  std::optional<Cursor> snapshot_at;
  IndexRange held;
};
MemberState state_of(KvWorld& world, PeerId id) {
  const auto& group = world[id];
  return MemberState{group.machine().digest(), group.machine().size(), group.applied(), group.snapshot_at(),
                     group.log().available()};
}

/// A member whose log was pruned below its snapshot (with the retained window kept).
void require_pruned(KvWorld& world, PeerId id) {
  const auto& group = world[id];
  INFO("member " << id.value());
  REQUIRE(group.snapshot_at().has_value());
  const auto held = group.log().available();
  REQUIRE_FALSE(held.empty());
  CHECK(held.first().value() > 1);
  CHECK(held.first() <= group.snapshot_at()->index);
  CHECK(group.snapshot_at()->index.value() - held.first().value() + 1 >= snapshot_config().retained_entries);
}

} // namespace

TEST_CASE("a follower restarted from its files restores its snapshot and its pruned log",
          "[group][snapshot][durable]") {
  for (const auto policy : {storage::FsyncPolicy::never, storage::FsyncPolicy::batch}) {
    for (std::uint64_t seed = 901; seed <= 903; ++seed) {
      INFO("seed " << seed << ", fsync " << storage::to_string(policy));
      DurableKvSim sim{seed, policy};
      const auto members = peers(3);
      const auto leader = sim.start(members, members);
      sim.write(0, 3000, 1000);
      REQUIRE(sim.converge());
      for (const auto id : members) {
        require_pruned(sim.world, id);
      }

      const auto follower = leader == members[0] ? members[1] : members[0];
      const auto before = state_of(sim.world, follower);
      REQUIRE(before.snapshot_at.has_value());
      CHECK(before.snapshot_at->index.value() >= 2000);
      CHECK(std::filesystem::exists(snapshot_file(sim.dir.path(), follower)));
      sim.world.crash(follower);
      auto& restarted = sim.world.restart(follower);
      // Straight from its files, before any message: the snapshot, the pruned log from its base on.
      CHECK(restarted.snapshot_at() == before.snapshot_at);
      CHECK(restarted.applied() >= before.snapshot_at->index);
      CHECK(restarted.machine().size() == 1000);
      CHECK(restarted.log().available() == before.held);
      CHECK(restarted.last().index == before.held.last());
      REQUIRE(sim.converge());
      CHECK(sim.world[follower].machine().digest() == sim.world[leader].machine().digest());
      CHECK(sim.world[follower].machine().data() == sim.world[leader].machine().data());

      // It goes on taking part: new writes reach it, its next snapshot replaces the file.
      sim.write(3000, 1000, 1000);
      REQUIRE(sim.converge());
      CHECK(sim.world[follower].snapshot_at()->index > before.snapshot_at->index);
      std::string error;
      const auto stored = KvSnapshotStore{member_dir(sim.dir.path(), follower)}.load(error);
      INFO("error: " << error);
      REQUIRE(stored.has_value());
      CHECK(stored->info.at == *sim.world[follower].snapshot_at());
      CHECK(stored->items->size() == 1000);
      sim.require_safe();
    }
  }
}

TEST_CASE("every member crashed at once comes back from its snapshot and pruned log",
          "[group][snapshot][durable]") {
  for (std::uint64_t seed = 911; seed <= 914; ++seed) {
    INFO("seed " << seed);
    DurableKvSim sim{seed};
    const auto members = peers(3);
    sim.start(members, members);
    sim.write(0, 2800, 900);
    REQUIRE(sim.converge());
    const auto leader = *sim.world.leader();
    const auto reference = state_of(sim.world, leader);
    const auto committed = sim.world[leader].committed();
    std::map<PeerId, MemberState> before;
    for (const auto id : members) {
      require_pruned(sim.world, id);
      before[id] = state_of(sim.world, id);
      CHECK(before[id].digest == reference.digest);
    }

    for (const auto id : members) {
      sim.world.crash(id);
    }
    for (const auto id : members) {
      auto& restarted = sim.world.restart(id);
      INFO("member " << id.value());
      CHECK(restarted.snapshot_at() == before[id].snapshot_at);
      CHECK(restarted.applied() >= before[id].snapshot_at->index);
      CHECK(restarted.log().available() == before[id].held);
    }
    REQUIRE(sim.elect());
    // The new leader's no-op commits on top of what was committed before the crash.
    REQUIRE(sim.world.run_until(
        [&] {
          const auto now_leader = sim.world.leader();
          return now_leader && sim.world[*now_leader].committed() > committed;
        },
        10s));
    REQUIRE(sim.converge());
    // The state before the crash, everywhere, nothing lost, nothing doubled.
    for (const auto id : members) {
      INFO("member " << id.value());
      CHECK(sim.world[id].applied() > committed); // the new leader's no-op on top
      CHECK(sim.world[id].machine().digest() == reference.digest);
      CHECK(sim.world[id].machine().size() == 900);
    }
    // New writes commit and reach everyone.
    sim.write(2800, 700, 900);
    REQUIRE(sim.converge());
    CHECK(sim.world[*sim.world.leader()].machine().query(Kv::Query{"key-00799"}) ==
          std::optional<std::string>{"value-3499"});
    sim.require_safe();
  }
}

TEST_CASE("a member that joined by snapshot restarts from its own snapshot file",
          "[group][snapshot][durable]") {
  for (std::uint64_t seed = 921; seed <= 923; ++seed) {
    INFO("seed " << seed);
    DurableKvSim sim{seed};
    const auto members = peers(4);
    const auto joiner = members[3];
    sim.start({members[0], members[1], members[2]}, members);
    sim.write(0, 3000, 1000);
    REQUIRE(sim.converge());
    for (const auto id : {members[0], members[1], members[2]}) {
      require_pruned(sim.world, id);
    }
    CHECK_FALSE(std::filesystem::exists(snapshot_file(sim.dir.path(), joiner)));

    std::optional<sync::SyncProgress> finished;
    std::optional<Index> installed;
    sim.world.on_event([&](PeerId id, const group::GroupEvent& event) {
      if (id != joiner) {
        return;
      }
      if (event.kind == group::GroupEvent::Kind::sync_finished && event.outcome && event.outcome->ok()) {
        finished = event.progress;
      } else if (event.kind == group::GroupEvent::Kind::snapshot_installed) {
        installed = event.index;
      }
    });
    sim.world.start(joiner);
    REQUIRE(sim.world.run_until([&] { return finished.has_value() && sim.converged(); }, 20s));
    REQUIRE(installed.has_value());
    REQUIRE(finished->snapshot.has_value());
    CHECK(finished->snapshot->installed);
    CHECK(sim.world[joiner].machine().size() == 1000);
    const auto before = state_of(sim.world, joiner);
    REQUIRE(before.snapshot_at.has_value());
    CHECK(before.snapshot_at->index >= *installed);
    REQUIRE(std::filesystem::exists(snapshot_file(sim.dir.path(), joiner)));
    // Its log starts after the snapshot it installed (reset there), not at 1.
    CHECK_FALSE(sim.world[joiner].log().available().contains(Index{1}));
    CHECK(sim.world[joiner].log().term_at(Index{1}) == std::nullopt);

    sim.world.crash(joiner);
    auto& restarted = sim.world.restart(joiner);
    CHECK(restarted.snapshot_at() == before.snapshot_at);
    CHECK(restarted.applied() >= before.snapshot_at->index);
    CHECK(restarted.machine().size() == 1000);
    CHECK(restarted.log().available() == before.held);
    REQUIRE(sim.converge());
    CHECK(sim.world[joiner].machine().digest() == sim.world[*sim.world.leader()].machine().digest());

    // Writes go on; the joiner follows them and snapshots with the others.
    sim.write(3000, 1200, 1000);
    REQUIRE(sim.converge());
    CHECK(sim.world[joiner].snapshot_at() == sim.world[*sim.world.leader()].snapshot_at());
    sim.require_safe();
  }
}

TEST_CASE("a follower down while the others prune restores its snapshot, then installs a newer one",
          "[group][snapshot][durable]") {
  for (std::uint64_t seed = 931; seed <= 933; ++seed) {
    INFO("seed " << seed);
    DurableKvSim sim{seed};
    const auto members = peers(3);
    const auto leader = sim.start(members, members);
    sim.write(0, 1500, 800);
    REQUIRE(sim.converge());
    const auto follower = leader == members[0] ? members[1] : members[0];
    const auto before = state_of(sim.world, follower);
    REQUIRE(before.snapshot_at.has_value());
    sim.world.crash(follower);

    // The others go on far past the follower's log, and prune it away.
    sim.write(1500, 2500, 800);
    REQUIRE(sim.converge());
    const auto survivor = leader == members[2] ? members[1] : members[2];
    REQUIRE(sim.world[survivor].log().available().first() > before.held.last());

    std::optional<Index> installed;
    sim.world.on_event([&](PeerId id, const group::GroupEvent& event) {
      if (id == follower && event.kind == group::GroupEvent::Kind::snapshot_installed) {
        installed = event.index;
      }
    });
    auto& restarted = sim.world.restart(follower);
    CHECK(restarted.snapshot_at() == before.snapshot_at);
    CHECK(restarted.applied() >= before.snapshot_at->index);
    CHECK(restarted.machine().size() == before.size);
    REQUIRE(sim.converge());
    CHECK(installed.has_value());
    CHECK(sim.world[follower].machine().digest() == sim.world[leader].machine().digest());
    // The installed snapshot is what its file holds now: a second restart comes back to it.
    const auto after = state_of(sim.world, follower);
    sim.world.crash(follower);
    auto& again = sim.world.restart(follower);
    CHECK(again.snapshot_at() == after.snapshot_at);
    CHECK(again.applied() >= after.snapshot_at->index);
    CHECK(again.machine().size() == 800);
    REQUIRE(sim.converge());
    sim.require_safe();
  }
}

TEST_CASE("every member crashed mid-write, round after round, keeps every acknowledged write",
          "[group][snapshot][durable]") {
  for (std::uint64_t seed = 941; seed <= 944; ++seed) {
    INFO("seed " << seed);
    DurableKvSim sim{seed};
    std::mt19937_64 rng{seed};
    const auto members = peers(3);
    sim.start(members, members);
    sim.write(0, 2000, 500);
    REQUIRE(sim.converge());
    for (const auto id : members) {
      require_pruned(sim.world, id);
    }

    std::map<std::string, std::string> acknowledged;
    std::size_t acknowledged_rounds = 0;
    for (int round = 0; round < 8; ++round) {
      INFO("round " << round);
      const auto leader = sim.world.leader();
      REQUIRE(leader.has_value());
      std::vector<Kv::Command> commands;
      for (int i = 0; i < 300; ++i) {
        commands.push_back(Kv::put(fmt::format("round-{}-{:03}", round, i), fmt::format("v{}-{}", round, i)));
      }
      const auto batch = commands;
      auto pending = std::make_shared<std::optional<group::Result<IndexRange>>>();
      sim.world.spawn(sim.world[*leader].execute_many(std::move(commands)), pending);
      // Crash everyone after a while: before, during or after the batch commits.
      const auto delay = std::chrono::microseconds{100 + static_cast<std::int64_t>(rng() % 6000)};
      sim.world.run_until([] { return false; }, delay);
      if (pending->has_value() && (*pending)->ok()) {
        ++acknowledged_rounds;
        for (const auto& command : batch) {
          acknowledged[command.key] = command.value;
        }
      }
      for (const auto id : members) {
        sim.world.crash(id);
      }
      std::vector<PeerId> order = members;
      std::shuffle(order.begin(), order.end(), rng);
      for (const auto id : order) {
        auto& restarted = sim.world.restart(id);
        CHECK(restarted.snapshot_at().has_value());
        CHECK(restarted.applied() >= restarted.snapshot_at().value_or(Cursor{}).index);
      }
      REQUIRE(sim.elect());
      REQUIRE(sim.converge());
      // Every acknowledged write is on every member.
      for (const auto id : members) {
        INFO("member " << id.value());
        std::size_t missing = 0;
        for (const auto& [key, value] : acknowledged) {
          if (sim.world[id].machine().query(Kv::Query{key}) != std::optional<std::string>{value}) {
            ++missing;
          }
        }
        CHECK(missing == 0);
      }
    }
    UNSCOPED_INFO(acknowledged_rounds << " of 8 rounds acknowledged before the crash");
    sim.write(5000, 600, 500);
    REQUIRE(sim.converge());
    sim.require_safe();
  }
}

TEST_CASE("a joiner crashed mid-transfer saved nothing half-way and catches up after its restart",
          "[group][snapshot][durable]") {
  for (std::uint64_t seed = 951; seed <= 953; ++seed) {
    INFO("seed " << seed);
    // 2 MB/s links: 4000 records of ~40 bytes take a while to move.
    DurableKvSim sim{seed, storage::FsyncPolicy::never, 2e6};
    const auto members = peers(4);
    const auto joiner = members[3];
    sim.start({members[0], members[1], members[2]}, members);
    sim.write(0, 6000, 4000);
    REQUIRE(sim.converge());
    sim.world.start(joiner);
    REQUIRE(sim.world.run_until(
        [&] {
          const auto progress = sim.world[joiner].sync_progress();
          return progress && progress->snapshot && progress->snapshot->received > 0 &&
                 progress->snapshot->received < progress->snapshot->items / 2;
        },
        10s));
    // Half a snapshot is nothing: no file, an empty state after the restart.
    sim.world.crash(joiner);
    CHECK_FALSE(std::filesystem::exists(snapshot_file(sim.dir.path(), joiner)));
    auto& restarted = sim.world.restart(joiner);
    CHECK_FALSE(restarted.snapshot_at().has_value());
    CHECK(restarted.machine().size() == 0);
    CHECK(restarted.applied() == Index{0});
    REQUIRE(sim.converge(30s));
    CHECK(sim.world[joiner].machine().size() == 4000);
    CHECK(std::filesystem::exists(snapshot_file(sim.dir.path(), joiner)));
    // And from its own files once more.
    const auto before = state_of(sim.world, joiner);
    sim.world.crash(joiner);
    auto& again = sim.world.restart(joiner);
    CHECK(again.snapshot_at() == before.snapshot_at);
    CHECK(again.machine().size() == 4000);
    REQUIRE(sim.converge());
    sim.require_safe();
  }
}

// Regression test for a bug this file found: Group::restore_snapshot
// (include/mosaik/group/group.hpp), when the snapshot file cannot be read
// (damaged) or is gone, logged "starting from the log alone" and went on
// with an empty machine and applied = 0 although its log was pruned (it
// started at 2807, say). apply_committed() then found entry 1 missing at
// every pump and applied nothing, ever; yet the member reported
// is_online(), acknowledged entries and counted in quorums, served its
// empty state to weak reads, and its strong reads timed out. Expected: the
// member either rebuilds its state (drops its pruned log and catches up by
// snapshot from its peers) or refuses to take part (stops); never online
// with a state that is missing committed entries.
TEST_CASE("a member whose snapshot file is damaged or gone does not run on a pruned log without it",
          "[group][snapshot][durable]") {
  for (const bool remove : {false, true}) {
    const std::uint64_t seed = remove ? 962 : 961;
    INFO("seed " << seed << (remove ? ", snapshot file removed" : ", snapshot file damaged"));
    DurableKvSim sim{seed};
    const auto members = peers(3);
    const auto leader = sim.start(members, members);
    sim.write(0, 3000, 1000);
    REQUIRE(sim.converge());
    const auto follower = leader == members[0] ? members[1] : members[0];
    require_pruned(sim.world, follower);
    sim.world.crash(follower);
    const auto path = snapshot_file(sim.dir.path(), follower);
    if (remove) {
      std::filesystem::remove(path);
    } else {
      std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
      file.seekg(20);
      char byte = 0;
      file.read(&byte, 1);
      byte = static_cast<char>(byte ^ 0x40);
      file.seekp(20);
      file.write(&byte, 1);
      REQUIRE(file.good());
    }
    auto& restarted = sim.world.restart(follower);
    INFO("after the restart: applied "
         << restarted.applied().value() << ", commit " << restarted.committed().value() << ", log holds "
         << restarted.log().available().first().value() << ".." << restarted.log().available().last().value()
         << ", " << restarted.machine().size() << " keys");
    // Writes go on (the other two are a quorum).
    sim.write(3000, 300, 1000);
    const auto recovered = [&] {
      return sim.converged() && restarted.machine().digest() == sim.world[leader].machine().digest();
    };
    sim.world.run_until([&] { return recovered() || !restarted.is_online(); }, 20s);
    INFO("20 s later: applied " << restarted.applied().value() << ", commit " << restarted.committed().value()
                                << ", " << restarted.machine().size() << " keys, online "
                                << restarted.is_online());
    // Either it rebuilt the whole state, or it does not pretend to be a live member:
    // Group::start refuses, saying why.
    CHECK((recovered() || !restarted.is_online()));
    CHECK(restarted.stopped());
    CHECK_THAT(restarted.refusal(), Catch::Contains("no snapshot covers the pruned entries"));
    if (restarted.is_online()) {
      CHECK(restarted.machine().size() == 1000);
      CHECK(restarted.applied() >= sim.world[leader].committed());
      // A linearizable read there answers with the committed state.
      const auto read =
          sim.world.await(restarted.query(Kv::Query{"key-00299"}, group::Consistency::strong), 30s);
      REQUIRE(read.has_value());
      INFO("strong read: " << (read->ok() ? std::string{"ok"} : read->error().message()));
      CHECK(read->ok());
      if (read->ok()) {
        CHECK(**read == std::optional<std::string>{"value-3299"});
      }
    }
    sim.require_safe();
  }
}

} // namespace mosaik::test
