// Durable members: a group whose members keep their log in a FileLog and
// their term and vote in a FileHardState survives crashes that close and
// reopen those files (recovery included); a member whose storage fails
// stops instead of acknowledging what it could not store.

#include "../support/forwarding_log.hpp"
#include "group_world.hpp"

#include <filesystem>

#include <mosaik/group/file_hard_state.hpp>
#include <mosaik/storage/file_log.hpp>

#include "temp_dir.hpp"

namespace mosaik::test {
namespace {

using Log = CounterWorld::Log;
using LogCommand = group::LogCommand<Counter::Command>;

/// Every member's files under `root`/<id>; small segments so they roll.
CounterWorld::StorageFactory file_storage(std::filesystem::path root, storage::FsyncPolicy policy) {
  return [root = std::move(root), policy](PeerId id) {
    const auto dir = root / std::to_string(id.value());
    std::filesystem::create_directories(dir);
    storage::FileLogOptions options;
    options.directory = dir / "log";
    options.fsync = policy;
    options.segment_bytes = 4096;
    auto log = storage::FileLog<group::LogCommand<Counter::Command>>::open(options);
    auto hard = group::FileHardState::open(dir / "hard-state");
    if (log.index() != 0 || hard.index() != 0) {
      FAIL("cannot open member " << id.value() << "'s storage: "
                                 << (log.index() != 0 ? std::get<1>(log) : std::get<1>(hard)));
    }
    return CounterWorld::Storage{std::move(std::get<0>(log)), std::move(std::get<0>(hard)), nullptr};
  };
}

/// An in-memory log whose sync() fails once told to.
class FailingLog final : public ForwardingLog<storage::InMemoryLog<LogCommand>> {
public:
  void sync() override {
    if (fail_next_sync) {
      failed_ = true;
    }
  }
  [[nodiscard]] bool failed() const noexcept override { return failed_; }
  [[nodiscard]] std::string failure() const override { return "injected: the disk is gone"; }
  bool fail_next_sync = false;

private:
  bool failed_ = false;
};

} // namespace

TEST_CASE("durable members resume from their files: log, term and vote survive crashes", "[group][durable]") {
  for (const auto policy : {storage::FsyncPolicy::batch, storage::FsyncPolicy::always}) {
    for (std::uint64_t seed = 801; seed <= 803; ++seed) {
      INFO("seed " << seed << ", fsync " << storage::to_string(policy));
      support::TempDir dir{"mosaik-durable"};
      CounterSim sim{seed};
      auto& world = sim.world;
      world.set_storage(file_storage(dir.path(), policy), true);
      const auto ids = peers(3);
      const auto leader = start_and_elect(sim, ids);
      std::int64_t total = 0;
      for (int i = 1; i <= 40; ++i) {
        execute_ok(sim, *leader, i);
        total += i;
      }
      REQUIRE(converge(world));

      // A follower's files carry its whole log and its term across a crash.
      const auto follower = except(ids, {*leader}).front();
      const auto last = world[follower].last();
      const auto term = world[follower].core().term();
      world.crash(follower);
      auto& restarted = world.restart(follower);
      CHECK(restarted.last() == last);
      CHECK(restarted.core().term() == term);
      CHECK(restarted.machine().value() == total); // rebuilt from the committed entries it holds

      // The leader too; a new one is elected; the old one comes back and follows.
      world.crash(*leader);
      const auto next = sim.elect_other(*leader);
      REQUIRE(next.has_value());
      execute_ok(sim, *next, 1000);
      total += 1000;
      world.restart(*leader);
      REQUIRE(converge(world));
      CHECK(world[*leader].machine().value() == total);

      // Everyone at once: the whole state comes back from disk.
      const auto before = world[*next].committed();
      for (const auto id : ids) {
        world.crash(id);
      }
      for (const auto id : ids) {
        world.restart(id);
      }
      REQUIRE(sim.elect().has_value());
      REQUIRE(converge(world, before));
      for (const auto id : ids) {
        CHECK(world[id].machine().value() == total);
      }
      sim.require_safe();
    }
  }
}

TEST_CASE("a member whose storage fails stops, the others carry on", "[group][durable]") {
  constexpr std::uint64_t seed = 811;
  INFO("seed " << seed);
  CounterSim sim{seed};
  auto& world = sim.world;
  std::map<PeerId, FailingLog*> logs;
  world.set_storage(
      [&](PeerId id) {
        auto log = std::make_unique<FailingLog>();
        logs[id] = log.get();
        return CounterWorld::Storage{std::move(log), std::make_unique<group::InMemoryHardState>(), nullptr};
      },
      false);
  const auto ids = peers(3);
  const auto leader = start_and_elect(sim, ids);
  execute_ok(sim, *leader, 5);
  REQUIRE(converge(world));

  // The leader's disk goes: at its next write (the log must be synced before
  // the entry is replicated) it stops, acknowledges nothing, sends nothing more.
  logs.at(*leader)->fail_next_sync = true;
  const auto leader_last = world[*leader].last();
  world.run_until([] { return false; }, 2s);
  CHECK(world[*leader].is_online()); // heartbeats write nothing: nothing to sync yet
  const auto doomed = spawn(world, world[*leader].execute(Counter::Command{100}));
  // Stopping answers the pending command with `stopped`; the answer is
  // posted, so it arrives a step after the member goes offline.
  world.run_until([&] { return !world[*leader].is_online() && doomed->has_value(); }, 5s);
  CHECK_FALSE(world[*leader].is_online());
  CHECK(world[*leader].stopped());
  REQUIRE(doomed->has_value());
  CHECK(expect_error(*doomed) == group::Errc::stopped);
  const auto next = sim.elect_other(*leader);
  REQUIRE(next.has_value());
  execute_ok(sim, *next, 7);
  const auto survivors = except(ids, {*leader});
  REQUIRE(world.run_until([&] { return members_converged(world, survivors); }, 10s));
  CHECK(world[*next].machine().value() == 12);
  // The stopped member took nothing after it failed (the command it appended
  // before the failed sync was never sent, never acknowledged, never applied).
  CHECK(world[*leader].last().index == leader_last.index.next());
  CHECK(world[*next].machine().value() == 12);
  sim.require_safe();
}

} // namespace mosaik::test
