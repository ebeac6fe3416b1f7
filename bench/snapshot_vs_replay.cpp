// Catch-up by snapshot vs by log replay, on the simulator: three members hold
// a key-value state of --keys keys written by an --entries-entry history; a
// fourth joins with an empty log and catches up. In `replay` mode the members
// keep their whole log (it is fetched entry by entry); in `snapshot` mode the
// leader snapshots once the history is applied and every member prunes its
// log to the retained window (the joiner fetches the snapshot's items from
// all three, then replays the rest). Prints one JSON line per mode: simulated
// time of the catch-up (links of --mbit Mbit/s, 1 ms latency), bytes moved to
// the joiner, wall time, and what was fetched.
//
//   mosaik-bench-snapshot [--keys N] [--entries N] [--mbit N] [--mode replay|snapshot|both]

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <mosaik/core/log.hpp>
#include <mosaik/machines/kv_store.hpp>
#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/testing/group_world.hpp>

#include "command_line.hpp"
#include "json.hpp"

namespace {

using namespace mosaik;
using namespace std::chrono_literals;
using Kv = machines::KvStore;
using World = testing::GroupWorld<Kv, sync::SnapshotSync>;
using Strategy = World::Strategy;
using LogEntry = World::LogEntry;
using WallClock = std::chrono::steady_clock;

struct Settings {
  std::uint64_t keys = 1'000'000;
  std::uint64_t entries = 10'000'000;
  double mbit = 1000;
  std::string mode = "both";
};

/// The history: puts of 16-byte values over `keys` keys, all in term 1.
std::vector<LogEntry> history(const Settings& settings) {
  std::vector<LogEntry> entries;
  entries.reserve(settings.entries);
  for (std::uint64_t i = 0; i < settings.entries; ++i) {
    // Keys are spread so that every key is written about entries/keys times.
    const auto key = (i * 2654435761ULL) % settings.keys;
    entries.push_back(LogEntry{Term{1}, group::LogCommand<Kv::Command>{
                                            Kv::put(fmt::format("k{:07}", key), fmt::format("v{:015}", i))}});
  }
  return entries;
}

struct Result {
  double simulated_seconds = 0;
  double wall_seconds = 0;
  std::uint64_t bytes = 0;
  std::uint64_t entries_fetched = 0;
  std::uint64_t items_fetched = 0;
  std::size_t peers_used = 0;
  bool converged = false;
};

Result run(const Settings& settings, const std::vector<LogEntry>& entries, bool snapshots) {
  const std::vector<PeerId> ids{PeerId{1}, PeerId{2}, PeerId{3}, PeerId{4}};
  const auto joiner = ids[3];
  sim::Simulator simulator{42};
  sim::Network network{simulator};
  sim::LinkConfig link;
  link.latency = 1ms;
  link.bandwidth_bytes_per_second = settings.mbit * 1e6 / 8;
  network.set_default_link(link);
  World world{simulator, network};
  world.set_storage(
      [&](PeerId id) {
        auto log = std::make_unique<storage::InMemoryLog<group::LogCommand<Kv::Command>>>();
        auto hard = std::make_unique<group::InMemoryHardState>();
        if (id != joiner) {
          log->append_all(std::vector<LogEntry>(entries));
          hard->save(group::HardState{Term{1}, std::nullopt, Index{entries.size()}});
        }
        return World::Storage{std::move(log), std::move(hard), nullptr};
      },
      false);

  sync::SnapshotConfig config;
  config.replay.batch_size = 4000;
  config.replay.max_inflight_per_peer = 2;
  config.item_batch = 4000;
  config.snapshot_interval = snapshots ? settings.entries : 0;
  config.retained_entries = snapshots ? 10'000 : 0;
  World::Options options;
  options.key = "bench-snapshot";
  for (const auto id : ids) {
    options.config.members.push_back(group::MemberSpec{id});
  }
  options.strategy = Strategy{config};
  options.commit_timeout = 600s;
  for (const auto id : ids) {
    world.add(id, options);
  }
  for (const auto id : {ids[0], ids[1], ids[2]}) {
    world.start(id); // applies the whole history from its log
  }
  const auto ready = [&] {
    const auto leader = world.leader();
    if (!leader || world[*leader].committed() <= Index{entries.size()}) {
      return false;
    }
    for (const auto id : {ids[0], ids[1], ids[2]}) {
      if (world[id].applied() < world[*leader].committed() ||
          (snapshots && !world[id].provider().offered().has_value())) {
        return false;
      }
    }
    return true;
  };
  if (!world.run_until(ready, 120s)) {
    fmt::print(stderr, "the group did not get ready\n");
    std::exit(1);
  }

  std::optional<sync::SyncProgress> finished;
  world.on_event([&](PeerId id, const group::GroupEvent& event) {
    if (id == joiner && event.kind == group::GroupEvent::Kind::sync_finished && event.outcome &&
        event.outcome->ok()) {
      finished = event.progress;
    }
  });
  const auto bytes_before = network.stats().bytes_delivered;
  const auto sim_start = simulator.now();
  const auto wall_start = WallClock::now();
  auto& member = world.start(joiner);
  const auto leader = *world.leader();
  const bool done = world.run_until(
      [&] {
        return finished.has_value() && member.applied() >= world[leader].committed() &&
               member.machine().digest() == world[leader].machine().digest();
      },
      3600s);
  Result result;
  result.wall_seconds = std::chrono::duration<double>(WallClock::now() - wall_start).count();
  result.simulated_seconds = std::chrono::duration<double>(simulator.now() - sim_start).count();
  result.bytes = network.stats().bytes_delivered - bytes_before;
  result.converged = done;
  if (finished) {
    for (const auto& [peer, progress] : finished->peers) {
      result.entries_fetched += progress.entries;
      result.items_fetched += progress.items;
      result.peers_used += progress.entries + progress.items > 0 ? 1 : 0;
    }
  }
  if (!world.violations().empty()) {
    fmt::print(stderr, "invariant violations:\n{}", world.violation_report());
    std::exit(1);
  }
  return result;
}

} // namespace

int main(int argc, char** argv) {
  Settings settings;
  CLI::App app{"catch-up by snapshot vs by log replay over simulated links", "mosaik-bench-snapshot"};
  app.add_option("--keys", settings.keys, "keys the history puts")->capture_default_str();
  app.add_option("--entries", settings.entries, "entries in the history")->capture_default_str();
  app.add_option("--mbit", settings.mbit, "link bandwidth, Mbit/s")->capture_default_str();
  app.add_option("--mode", settings.mode, "which catch-up to run")
      ->check(CLI::IsMember({"replay", "snapshot", "both"}))
      ->capture_default_str();
  if (const auto status = mosaik::support::parse(app, argc, argv)) {
    return *status;
  }
  mosaik::log::set_level(mosaik::log::Level::warn);
  const auto entries = history(settings);
  for (const bool snapshots : {false, true}) {
    const auto mode = snapshots ? "snapshot" : "replay";
    if (settings.mode != "both" && settings.mode != mode) {
      continue;
    }
    const auto result = run(settings, entries, snapshots);
    mosaik::support::print_line({{"mode", mode},
                                 {"keys", settings.keys},
                                 {"entries", settings.entries},
                                 {"mbit", settings.mbit},
                                 {"simulated_s", mosaik::support::rounded(result.simulated_seconds, 3)},
                                 {"bytes", result.bytes},
                                 {"wall_s", mosaik::support::rounded(result.wall_seconds, 2)},
                                 {"entries_fetched", result.entries_fetched},
                                 {"items_fetched", result.items_fetched},
                                 {"peers_used", result.peers_used},
                                 {"converged", result.converged}});
    std::fflush(stdout);
  }
  return 0;
}
