// mosaik-torture: a randomized fault-injection campaign on the simulator, in
// the manner of FoundationDB's simulation and TigerBeetle's VOPR. Each seed
// builds a random world — a KvStore group of 3 to 7 peers catching up by log
// replay or by snapshot, in memory or on FileLogs, with some members joining
// late — runs a random client workload under random faults (crashes and
// restarts, symmetric and one-way partitions, loss up to 30%, duplication,
// reordering, latency spikes, a slow peer, late joiners, the leader crashed
// during a catch-up, byzantine providers answering catch-up requests with
// wrong ranges, wrong terms, truncated or miscounted payloads), then stops
// the faults and checks:
//
//   - Raft's safety rules, continuously (GroupWorld: one leader per term, log
//     matching, leader completeness, state-machine safety);
//   - no acknowledged command lost (every acknowledged put is in the final
//     state, and at its index in every log that still holds it);
//   - every catch-up session completes with a log that matches the
//     committed prefix, or fails cleanly; its memory stays within bounds;
//   - liveness: once faults stop, a leader is elected, a barrier commits and
//     every member converges to one state within a bound of simulated time.
//
// A violation prints the seed, the invariant, the last events and the command
// that replays that seed with full trace logging; the exit status is 1. The
// group is driven by testing::GroupDriver, the driver the scenario tests and
// mosaik-group-sim use.
//
//   mosaik-torture [--seeds N] [--from S] [--seed S] [--faults LIST] [--json]
//                  [--storage memory|file|mixed] [--trace] [--quiet]

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mosaik/core/hash.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/group/file_hard_state.hpp>
#include <mosaik/machines/kv_store.hpp>
#include <mosaik/sim/random.hpp>
#include <mosaik/storage/file_log.hpp>
#include <mosaik/storage/snapshot_store.hpp>
#include <mosaik/testing/group_driver.hpp>

#include "command_line.hpp"
#include "json.hpp"
#include "temp_dir.hpp"

namespace {

using namespace mosaik;
using namespace std::chrono_literals;
using Kv = machines::KvStore;
using Driver = testing::GroupDriver<Kv, sync::SnapshotSync>;
using World = Driver::World;
using Strategy = World::Strategy;
using LogCommand = group::LogCommand<Kv::Command>;

// ---- faults -----------------------------------------------------------------------

enum class Fault : std::uint8_t {
  crash,
  partition,
  one_way,
  loss,
  duplicate,
  reorder,
  latency,
  slow_peer,
  late_join,
  leader_crash_in_sync,
  byzantine,
};
constexpr std::array<std::pair<Fault, std::string_view>, 11> kFaults{
    {{Fault::crash, "crash"},
     {Fault::partition, "partition"},
     {Fault::one_way, "one-way"},
     {Fault::loss, "loss"},
     {Fault::duplicate, "duplicate"},
     {Fault::reorder, "reorder"},
     {Fault::latency, "latency"},
     {Fault::slow_peer, "slow-peer"},
     {Fault::late_join, "late-join"},
     {Fault::leader_crash_in_sync, "leader-crash-in-sync"},
     {Fault::byzantine, "byzantine"}}};

std::string_view name_of(Fault fault) {
  for (const auto& [value, name] : kFaults) {
    if (value == fault) {
      return name;
    }
  }
  return "?";
}

enum class StorageKind : std::uint8_t { memory, file, mixed };

struct Settings {
  std::uint64_t from = 1;
  std::uint64_t seeds = 1;
  std::set<Fault> faults;
  StorageKind storage = StorageKind::mixed;
  bool json = false;
  bool trace = false;
  bool quiet = false;
  std::string program = "mosaik-torture";
};

// ---- one seed ------------------------------------------------------------------------

struct Tally {
  std::map<std::string, std::uint64_t> faults;
  std::uint64_t sessions_started = 0;
  std::uint64_t sessions_completed = 0;
  std::uint64_t sessions_failed = 0;
  std::uint64_t snapshot_installs = 0;
  std::uint64_t acknowledged = 0;
  double simulated_seconds = 0;
  /// Every seed's simulator trace hash, folded in seed order: a refactor keeps it.
  std::uint64_t trace_hash = kFnv1aOffset;
};

struct Violation {
  std::string invariant;
  std::string detail;
};

class Run {
public:
  Run(std::uint64_t seed, const Settings& settings, Tally& tally)
      : seed_(seed), settings_(settings), tally_(tally), rng_(seed * kGoldenGamma + 17),
        driver_(seed, initial_link()) {}

  std::optional<Violation> operator()() {
    build();
    for (int step = 0; step < steps_ && !violation_; ++step) {
      inject();
      load();
      driver_.advance(Duration{static_cast<Duration::rep>(rng_.uniform(400) + 50) * 1'000'000});
      check_world();
    }
    if (!violation_) {
      settle();
    }
    tally_.simulated_seconds += std::chrono::duration<double>(driver_.now().time_since_epoch()).count();
    tally_.trace_hash = fnv1a_u64(driver_.simulator().trace_hash(), tally_.trace_hash);
    return violation_;
  }

  [[nodiscard]] const std::deque<std::string>& events() const noexcept { return events_; }

private:
  // ---- the world ---------------------------------------------------------------------

  static sim::LinkConfig initial_link() {
    sim::LinkConfig link;
    link.latency = 2ms;
    link.jitter = 1ms;
    link.bandwidth_bytes_per_second = 50e6;
    return link;
  }

  void build() {
    const auto count = 3 + rng_.uniform(5); // 3..7 peers
    for (std::uint64_t i = 1; i <= count; ++i) {
      ids_.push_back(PeerId{i});
    }
    const bool file = settings_.storage == StorageKind::file ||
                      (settings_.storage == StorageKind::mixed && rng_.uniform(2) == 0);
    sync::SnapshotConfig config;
    config.replay.batch_size = 20 + rng_.uniform(200);
    config.replay.max_inflight_per_peer = static_cast<std::uint32_t>(1 + rng_.uniform(3));
    config.replay.fetch_timeout = 2s;
    config.replay.min_fetch_timeout = 50ms;
    config.replay.max_buffered_entries = 500;
    config.item_batch = 10 + rng_.uniform(100);
    // Half the worlds snapshot and prune (catch-up by snapshot), half replay only.
    const bool snapshots = rng_.uniform(2) == 0;
    config.snapshot_interval = snapshots ? 20 + rng_.uniform(80) : 0;
    config.retained_entries = snapshots ? 5 + rng_.uniform(30) : 0;
    config.snapshot_ttl = 5s;
    config.probe_timeout = 200ms;
    config.stall_timeout = 5s;
    config_ = config;
    note("world: {} peers, {} storage, {}, batch {}, inflight {}", count, file ? "file" : "memory",
         snapshots ? fmt::format("snapshots every {} (retain {})", config.snapshot_interval,
                                 config.retained_entries)
                   : std::string{"log replay only"},
         config.replay.batch_size, config.replay.max_inflight_per_peer);
    if (file) {
      dir_.emplace("mosaik-torture");
      const auto root = dir_->path();
      driver_.world().set_storage(
          [root](PeerId id) {
            const auto dir = root / std::to_string(id.value());
            storage::FileLogOptions options;
            options.directory = dir / "log";
            options.fsync = storage::FsyncPolicy::never; // the process never dies: page cache is enough
            options.segment_bytes = 64 * 1024;
            auto log = storage::FileLog<LogCommand>::open(options);
            auto hard = group::FileHardState::open(dir / "hard-state");
            if (log.index() != 0 || hard.index() != 0) {
              throw std::runtime_error(log.index() != 0 ? std::get<1>(log) : std::get<1>(hard));
            }
            return World::Storage{std::move(std::get<0>(log)), std::move(std::get<0>(hard)),
                                  std::make_unique<storage::FileSnapshotStore<Kv::SnapshotItem>>(dir)};
          },
          true);
    }
    World::Options options;
    options.key = "torture";
    for (const auto id : ids_) {
      options.config.members.push_back(group::MemberSpec{id});
    }
    options.config.election_timeout = 200ms;
    options.config.election_jitter = 100ms;
    options.config.heartbeat_interval = 50ms;
    options.config.bootstrap_delay = 100ms;
    options.config.forward_timeout = 2s;
    options.config.sync_retry_backoff = 100ms;
    options.strategy = Strategy{config};
    options.commit_timeout = 10s;
    // A majority starts at once; the others join late (they catch up).
    const auto majority = ids_.size() / 2 + 1;
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      driver_.add(ids_[i], options);
      if (i < majority || rng_.uniform(2) == 0) {
        driver_.start(ids_[i]);
      }
    }
    driver_.world().on_event([this](PeerId id, const group::GroupEvent& event) { on_event(id, event); });
    driver_.world().hub().set_send_filter([this](PeerId from, PeerId to, World::Message message) {
      return filter(from, to, std::move(message));
    });
  }

  // ---- faults ------------------------------------------------------------------------

  [[nodiscard]] bool enabled(Fault fault) const { return settings_.faults.contains(fault); }

  PeerId any() { return ids_[rng_.uniform(ids_.size())]; }

  void count(Fault fault) { ++tally_.faults[std::string{name_of(fault)}]; }

  void inject() {
    const auto fault = kFaults[rng_.uniform(kFaults.size())].first;
    if (!enabled(fault)) {
      return;
    }
    const auto who = any();
    switch (fault) {
    case Fault::crash:
      if (driver_.alive(who) && driver_.live().size() > 1) {
        crash(who, "crash");
      } else if (driver_.down(who)) {
        restart(who);
      }
      return;
    case Fault::partition: {
      const auto other = any();
      if (other != who) {
        driver_.partition({who}, {other});
        count(fault);
        note("partition {} <-> {}", who, other);
      } else {
        driver_.heal();
        note("heal all");
      }
      return;
    }
    case Fault::one_way: {
      const auto other = any();
      if (other != who) {
        driver_.network().partition_one_way(who, other);
        count(fault);
        note("partition {} -> {}", who, other);
      }
      return;
    }
    case Fault::loss:
    case Fault::duplicate:
    case Fault::reorder: {
      auto link = driver_.network().default_link();
      const auto level = static_cast<double>(rng_.uniform(31)) / 100.0; // up to 30%
      (fault == Fault::loss ? link.loss : fault == Fault::duplicate ? link.duplicate : link.reorder) = level;
      driver_.network().set_default_link(link);
      count(fault);
      note("{} on every link: {:.0f}%", name_of(fault), level * 100);
      return;
    }
    case Fault::latency: {
      auto link = driver_.network().default_link();
      link.latency = Duration{static_cast<Duration::rep>(1 + rng_.uniform(300)) * 1'000'000};
      driver_.network().set_default_link(link);
      count(fault);
      note("latency spike: {} ms",
           std::chrono::duration_cast<std::chrono::milliseconds>(link.latency).count());
      return;
    }
    case Fault::slow_peer: {
      auto link = driver_.network().default_link();
      link.bandwidth_bytes_per_second = 20e3 + static_cast<double>(rng_.uniform(200'000));
      driver_.set_links_of(who, link);
      count(fault);
      note("slow peer {}: {:.0f} kB/s", who, link.bandwidth_bytes_per_second / 1e3);
      return;
    }
    case Fault::late_join:
      if (const auto waiting = driver_.waiting(); !waiting.empty()) {
        const auto id = waiting.front();
        driver_.start(id);
        count(fault);
        note("late join of {}", id);
      }
      return;
    case Fault::leader_crash_in_sync: {
      const auto leader = driver_.world().leader();
      const auto live = driver_.live();
      const bool someone_syncing =
          std::any_of(live.begin(), live.end(), [this](PeerId id) { return driver_[id].core().syncing(); });
      if (leader && someone_syncing && live.size() > 1) {
        crash(*leader, "leader crash during a catch-up");
        count(fault);
      }
      return;
    }
    case Fault::byzantine:
      if (byzantine_.size() + 1 < ids_.size() / 2 + 1) { // keep an honest majority
        byzantine_[who] = static_cast<int>(rng_.uniform(4));
        count(fault);
        note("peer {} turns byzantine (mode {})", who, byzantine_[who]);
      }
      return;
    }
  }

  void crash(PeerId id, std::string_view why) {
    driver_.crash(id);
    count(Fault::crash);
    note("{}: {}", why, id);
  }
  void restart(PeerId id) {
    driver_.restart(id);
    note("restart {}", id);
  }

  /// Byzantine providers answer catch-up requests wrongly, in the ways a
  /// session can tell: ranges that do not match what they carry or lie far
  /// from any request, impossible terms, missing entries. Entries carry no
  /// index or content digest, so a provider that serves well-formed entries
  /// of the right terms with other commands, or the right entries shifted
  /// onto the indices of another of its requests (seed 9570 of an earlier
  /// campaign), is out of scope (see README).
  std::optional<World::Message> filter(PeerId from, PeerId, World::Message message) {
    const auto it = byzantine_.find(from);
    if (it == byzantine_.end() || message.body.index() != 1) {
      return message;
    }
    auto& body = std::get<1>(message.body);
    if (auto* response = std::get_if<sync::FetchEntriesResponse<LogCommand>>(&body);
        response && !response->entries.empty()) {
      switch (it->second) {
      case 0: // a wrong range: one entry more than it carries
        response->range = IndexRange{response->range.first(), response->range.last().next()};
        break;
      case 1: // wrong terms: beyond any leader's, or zero
        response->entries.back().term =
            Term{rng_.uniform(2) == 0 ? std::uint64_t{0} : std::uint64_t{1'000'000}};
        break;
      case 2: // truncated: an entry short of its range
        response->entries.pop_back();
        break;
      default: // garbage: a range far from anything asked
        response->range =
            IndexRange::starting_at(Index{1'000'000 + rng_.uniform(1'000'000)}, response->entries.size());
        break;
      }
    } else if (auto* items = std::get_if<sync::FetchItemsResponse<Kv::SnapshotItem>>(&body);
               items && !items->items.empty()) {
      switch (it->second) {
      case 0:
        items->range = ItemRange{items->range.first(), items->range.last().next()};
        break;
      case 1:
        items->at = Cursor{Term{1'000'000}, items->at.index};
        break;
      case 2:
        items->items.pop_back();
        break;
      default:
        items->range =
            ItemRange::starting_at(ItemNumber{1'000'000 + rng_.uniform(1'000'000)}, items->items.size());
        break;
      }
    }
    return message;
  }

  // ---- the workload -----------------------------------------------------------------

  void load() {
    for (int k = 0, n = static_cast<int>(1 + rng_.uniform(6)); k < n; ++k) {
      const auto at = any();
      if (!driver_.alive(at)) {
        continue;
      }
      const auto key = fmt::format("k{}", next_key_++);
      driver_.propose(at, Kv::put(key, "v" + key));
    }
  }

  // ---- what is checked ----------------------------------------------------------------

  void on_event(PeerId id, const group::GroupEvent& event) {
    using Kind = group::GroupEvent::Kind;
    if (event.kind == Kind::sync_started) {
      ++tally_.sessions_started;
    } else if (event.kind == Kind::snapshot_installed) {
      ++tally_.snapshot_installs;
      note("{} installed a snapshot at {}", id, event.index);
    } else if (event.kind == Kind::sync_finished && event.outcome) {
      (event.outcome->ok() ? tally_.sessions_completed : tally_.sessions_failed) += 1;
      if (event.progress) {
        // The session's memory: out-of-order entries within its window, the leader buffer within its cap.
        const auto& counters = event.progress->counters;
        const auto window = static_cast<std::uint64_t>(ids_.size()) * config_.replay.max_inflight_per_peer *
                            std::max(config_.replay.batch_size, config_.item_batch);
        if (counters.max_entries_held > window) {
          fail("session memory", fmt::format("peer {} held {} entries out of order, its window is {}", id,
                                             counters.max_entries_held, window));
        }
        if (counters.max_buffered_entries > config_.replay.max_buffered_entries + config_.replay.batch_size) {
          fail("session memory",
               fmt::format("peer {} buffered {} leader entries, the cap is {}", id,
                           counters.max_buffered_entries, config_.replay.max_buffered_entries));
        }
      }
      if (!event.outcome->ok()) {
        note("{}'s catch-up ended {}: {}", id, sync::to_string(event.outcome->status), event.outcome->reason);
      }
    }
  }

  void check_world() {
    if (const auto& violations = driver_.world().violations(); !violations.empty() && !violation_) {
      const auto& first = violations.front();
      fail(first.invariant, first.detail);
    }
  }

  void fail(std::string invariant, std::string detail) {
    if (!violation_) {
      note("VIOLATION {}: {}", invariant, detail);
      violation_ = Violation{std::move(invariant), std::move(detail)};
    }
  }

  /// Faults stop; everything must settle within the bound, and nothing acknowledged may be lost.
  void settle() {
    note("faults stop");
    byzantine_.clear();
    driver_.heal();
    sim::LinkConfig clean;
    clean.latency = 1ms;
    driver_.set_every_link(clean);
    for (const auto id : driver_.crashed()) {
      restart(id);
    }
    for (const auto id : driver_.waiting()) {
      driver_.start(id);
    }
    const auto deadline = driver_.now() + liveness_bound_;
    const auto answered = [&] { return driver_.all_answered(); };
    driver_.run_until(answered, deadline - driver_.now());
    if (!answered()) {
      return fail("liveness", "client operations still unanswered after the faults stopped");
    }
    std::optional<PeerId> leader;
    std::optional<group::Result<Index>> barrier;
    // The barrier is no client's command: awaited, not proposed (its acknowledgement is not counted).
    while (driver_.now() < deadline && !(barrier && barrier->ok())) {
      driver_.run_until([&] { return driver_.world().leader().has_value(); }, deadline - driver_.now());
      leader = driver_.world().leader();
      if (!leader) {
        break;
      }
      barrier = driver_.await(driver_[*leader].execute(Kv::put("barrier", "b")), deadline - driver_.now());
      if (!barrier || !barrier->ok()) {
        driver_.advance(
            100ms); // e.g. the leader stepped down at once: let the group move on before asking again
      }
    }
    if (!barrier || !barrier->ok()) {
      return fail("liveness",
                  fmt::format("no barrier committed within {} s of the faults stopping",
                              std::chrono::duration_cast<std::chrono::seconds>(liveness_bound_).count()));
    }
    const auto target = barrier->value();
    const auto converged = [&] {
      std::optional<std::uint64_t> digest;
      for (const auto id : ids_) {
        const auto& group = driver_[id];
        if (group.applied() < target || (digest && group.machine().digest() != *digest)) {
          return false;
        }
        digest = group.machine().digest();
      }
      return true;
    };
    driver_.run_until(converged, std::max(deadline - driver_.now(), Duration{1s}));
    if (!converged()) {
      std::string state;
      for (const auto id : ids_) {
        const auto& group = driver_[id];
        const auto progress = group.sync_progress();
        state += fmt::format(" {}: applied {} last {} syncing {}{};", id, group.applied(), group.last(),
                             group.core().syncing(),
                             progress ? fmt::format(" (session at {}, target {}, {} s)", progress->remaining,
                                                    progress->target,
                                                    std::chrono::duration<double>(progress->elapsed).count())
                                      : std::string{group.core().syncing() ? " (no session)" : ""});
      }
      return fail("liveness", fmt::format("members did not converge on the barrier at {}:{}", target, state));
    }
    driver_.world().check_logs();
    check_world();
    // No acknowledged put lost: in the state of every member, and at its index in every log that holds it.
    for (const auto& proposal : driver_.proposals()) {
      const auto acknowledged = proposal.acknowledged();
      if (!acknowledged) {
        continue;
      }
      ++tally_.acknowledged;
      const auto& put = proposal.commands.front();
      const auto index = acknowledged->first();
      for (const auto id : ids_) {
        if (driver_[id].machine().query(Kv::Query{put.key}) != std::optional<std::string>{put.value}) {
          return fail("acknowledged write lost",
                      fmt::format("put {} acknowledged at {} is not in peer {}'s state", put.key, index, id));
        }
        if (!driver_.holds(id, index, put)) {
          return fail("acknowledged write lost",
                      fmt::format("peer {}'s log holds another command at {}, where put {} was acknowledged",
                                  id, index, put.key));
        }
      }
    }
  }

  template <class... Args>
  void note(fmt::format_string<Args...> format, Args&&... args) {
    events_.push_back(fmt::format("[t={:>7.3f}s] {}",
                                  std::chrono::duration<double>(driver_.now().time_since_epoch()).count(),
                                  fmt::format(format, std::forward<Args>(args)...)));
    if (events_.size() > 40) {
      events_.pop_front();
    }
    if (settings_.trace) {
      log::info("torture: {}", events_.back());
    }
  }

  std::uint64_t seed_;
  const Settings& settings_;
  Tally& tally_;
  sim::Random rng_;
  std::optional<support::TempDir> dir_; // outlives the world (declared first)
  Driver driver_;
  sync::SnapshotConfig config_;
  std::vector<PeerId> ids_;
  std::map<PeerId, int> byzantine_;
  std::uint64_t next_key_ = 0;
  std::deque<std::string> events_;
  std::optional<Violation> violation_;
  int steps_ = 30;
  Duration liveness_bound_ = 120s;
};

// ---- the command line --------------------------------------------------------------------

/// Parses the command line into `settings`; nullopt to go on, or the exit status.
std::optional<int> parse(int argc, char** argv, Settings& settings) {
  std::string fault_names;
  for (const auto& [fault, name] : kFaults) {
    fault_names += fmt::format("{}{}", fault_names.empty() ? "" : ",", name);
  }
  CLI::App app{"mosaik-torture: a randomized fault-injection campaign on the simulator", settings.program};
  app.add_option("--seeds", settings.seeds, "how many seeds to run")->capture_default_str();
  app.add_option("--from", settings.from, "the first seed")->capture_default_str();
  app.add_option_function<std::uint64_t>(
      "--seed",
      [&](std::uint64_t seed) {
        settings.from = seed;
        settings.seeds = 1;
      },
      "run this one seed (the same as --from S --seeds 1)");
  std::string faults = "all";
  app.add_option("--faults", faults, "comma-separated faults to inject, or all: " + fault_names)
      ->capture_default_str();
  std::string storage = "mixed";
  app.add_option("--storage", storage, "where the members keep their logs")
      ->check(CLI::IsMember({"memory", "file", "mixed"}))
      ->capture_default_str();
  app.add_flag("--json", settings.json, "print one JSON summary");
  app.add_flag("--trace", settings.trace, "log everything (to replay one seed)");
  app.add_flag("--quiet", settings.quiet, "print only violations");
  if (const auto status = support::parse(app, argc, argv)) {
    return status;
  }
  settings.storage = storage == "memory" ? StorageKind::memory
                     : storage == "file" ? StorageKind::file
                                         : StorageKind::mixed;
  if (faults != "all") {
    settings.faults.clear();
    std::size_t start = 0;
    while (start <= faults.size()) {
      const auto end = std::min(faults.find(',', start), faults.size());
      const auto name = faults.substr(start, end - start);
      const auto it =
          std::find_if(kFaults.begin(), kFaults.end(), [&](const auto& item) { return item.second == name; });
      if (it == kFaults.end()) {
        return support::usage_error(app, fmt::format("unknown fault '{}' (faults: {})", name, fault_names));
      }
      settings.faults.insert(it->first);
      start = end + 1;
    }
  }
  return std::nullopt;
}

} // namespace

int main(int argc, char** argv) {
  Settings settings;
  settings.program = argv[0];
  for (const auto& [fault, name] : kFaults) {
    settings.faults.insert(fault);
  }
  if (const auto status = parse(argc, argv, settings)) {
    return *status;
  }
  log::set_level(settings.trace ? log::Level::trace : log::Level::off);

  Tally tally;
  std::uint64_t violations = 0;
  const auto started = std::chrono::steady_clock::now();
  for (std::uint64_t seed = settings.from; seed < settings.from + settings.seeds; ++seed) {
    Run run{seed, settings, tally};
    const auto violation = run();
    if (violation) {
      ++violations;
      fmt::print(stderr, "\nVIOLATION seed {}: {}: {}\nlast events:\n", seed, violation->invariant,
                 violation->detail);
      for (const auto& event : run.events()) {
        fmt::print(stderr, "  {}\n", event);
      }
      std::string faults_flag;
      if (settings.faults.size() != kFaults.size()) {
        std::string list;
        for (const auto fault : settings.faults) {
          list += fmt::format("{}{}", list.empty() ? "" : ",", name_of(fault));
        }
        faults_flag = " --faults " + list;
      }
      fmt::print(stderr, "replay: {} --seed {}{}{} --trace\n", settings.program, seed, faults_flag,
                 settings.storage == StorageKind::mixed  ? ""
                 : settings.storage == StorageKind::file ? " --storage file"
                                                         : " --storage memory");
    } else if (!settings.quiet && !settings.json && settings.seeds > 1 &&
               (seed - settings.from + 1) % 100 == 0) {
      fmt::print("{} seeds, {} violations\n", seed - settings.from + 1, violations);
      std::fflush(stdout);
    }
  }
  const auto wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (settings.json) {
    support::print_line({{"seeds", settings.seeds},
                         {"from", settings.from},
                         {"violations", violations},
                         {"faults", support::counts_json(tally.faults)},
                         {"sessions_started", tally.sessions_started},
                         {"sessions_completed", tally.sessions_completed},
                         {"sessions_failed", tally.sessions_failed},
                         {"snapshot_installs", tally.snapshot_installs},
                         {"acknowledged_writes", tally.acknowledged},
                         {"simulated_hours", support::rounded(tally.simulated_seconds / 3600, 3)},
                         {"trace_hash", fmt::format("{:016x}", tally.trace_hash)},
                         {"wall_seconds", support::rounded(wall, 1)}});
  } else if (!settings.quiet) {
    fmt::print("{} seeds from {}: {} violations; {} catch-up sessions ({} completed, {} failed), {} snapshot "
               "installs, {} acknowledged writes checked, {:.2f} simulated hours, {:.1f} s\n",
               settings.seeds, settings.from, violations, tally.sessions_started, tally.sessions_completed,
               tally.sessions_failed, tally.snapshot_installs, tally.acknowledged,
               tally.simulated_seconds / 3600, wall);
  }
  return violations == 0 ? 0 : 1;
}
