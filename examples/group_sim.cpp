// mosaik-group-sim: a whole replication group on the simulator. N members run
// the real Group runtime (RaftCore, catch-up sessions, providers) over
// simulated links with latency and bandwidth, all on virtual time, with a
// replicated counter or key-value store, through one of four scenarios:
//
//   late-join                 N-1 members commit K commands, the N-th joins and
//                             catches up from all the others, then is promoted;
//   leader-crash-during-sync  the leader crashes while the joiner's session
//                             runs; a new leader takes over; the crashed peer
//                             restarts later and converges;
//   partition-heal            the leader and a minority are cut off; the
//                             majority elects a leader and commits; heal;
//   rivals-merge              both sides have a leader; the minority's entries
//                             cannot commit and are truncated after the heal.
//
// It prints a timeline (or one JSON object with --json), then checks that
// every live member applied the same state, that every acknowledged command
// is in the log where it was acknowledged, and GroupWorld's Raft invariants.
// Exit code 0 only if all of that holds. The group is driven by
// testing::GroupDriver, the driver the scenario tests and mosaik-torture use.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mosaik/core/format.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/machines/counter.hpp>
#include <mosaik/machines/kv_store.hpp>
#include <mosaik/testing/group_driver.hpp>

#include "example_support.hpp"

namespace {

using namespace mosaik;
namespace support = mosaik::support;

enum class ScenarioKind { late_join, leader_crash_during_sync, partition_heal, rivals_merge };

constexpr examples::Names<ScenarioKind, 4> kScenarioNames{
    {{ScenarioKind::late_join, "late-join"},
     {ScenarioKind::leader_crash_during_sync, "leader-crash-during-sync"},
     {ScenarioKind::partition_heal, "partition-heal"},
     {ScenarioKind::rivals_merge, "rivals-merge"}}};

constexpr std::string_view to_string(ScenarioKind kind) {
  return examples::name_of(kScenarioNames, kind);
}

struct Options : examples::SimOptions {
  Options()
      : SimOptions(/*inflight*/ mosaik::sync::LogReplayConfig{}.max_inflight_per_peer, /*latency_ms*/ 5) {}

  ScenarioKind scenario = ScenarioKind::late_join;
  std::string machine = "counter";
  std::uint64_t peers = 5;
  std::uint64_t commands = 10'000;
  std::uint64_t batch = 100;
  std::uint64_t sync_batch = 500;
};

/// Parses the command line into `options`; nullopt to go on, or the exit status.
std::optional<int> parse(int argc, char** argv, Options& options) {
  CLI::App app{"mosaik group simulation: a replication group through one scenario", "mosaik-group-sim"};
  std::string scenario{to_string(options.scenario)};
  app.add_option("--scenario", scenario, "what happens to the group")
      ->check(CLI::IsMember(examples::names_of(kScenarioNames)))
      ->capture_default_str();
  app.add_option("--machine", options.machine, "the replicated state machine")
      ->check(CLI::IsMember({"counter", "kv"}))
      ->capture_default_str();
  app.add_option("--peers", options.peers, "members, 3..99")->capture_default_str();
  app.add_option("--commands", options.commands, "client commands")->capture_default_str();
  app.add_option("--batch", options.batch, "commands per client batch")->capture_default_str();
  app.add_option("--sync-batch", options.sync_batch, "entries per catch-up request")->capture_default_str();
  examples::add_sim_options(app, options);
  if (const auto status = support::parse(app, argc, argv)) {
    return status;
  }
  options.scenario = *examples::value_of(kScenarioNames, scenario);
  if (options.peers < 3 || options.peers > 99 || options.commands == 0 || options.batch == 0 ||
      options.sync_batch == 0 || options.inflight == 0 || options.latency_ms < 0 ||
      options.bandwidth_mbps < 0) {
    return support::usage_error(app, "3 <= peers <= 99; commands, batch, sync-batch and inflight must be "
                                     "positive; latency and bandwidth not negative");
  }
  return std::nullopt;
}

using examples::millis;
using examples::percent;

// ---- the machines ------------------------------------------------------------

/// The replicated counter: command `seq` adds `seq`, so the final value says
/// which commands were applied (and a lost or doubled one shows).
struct CounterTraits {
  using SM = machines::Counter;
  static constexpr const char* name = "counter";
  static SM::Command make(std::uint64_t seq) { return SM::Command{static_cast<std::int64_t>(seq)}; }
  static std::string state(const SM& machine) { return fmt::format("{}", machine.value()); }
  static support::Json state_json(const SM& machine) { return machine.value(); }
  static std::string describe(const SM& machine) {
    return fmt::format("value {} ({} commands)", machine.value(), machine.applied());
  }
};

/// The key-value store: puts over 1000 keys, every tenth command an erase, so
/// the digest depends on the order the commands were applied in.
struct KvTraits {
  using SM = machines::KvStore;
  static constexpr const char* name = "kv";
  static SM::Command make(std::uint64_t seq) {
    auto key = fmt::format("key-{:03}", (seq * 7919) % 1000);
    if (seq % 10 == 0) {
      return SM::erase(std::move(key));
    }
    return SM::put(std::move(key), fmt::format("value-{}", seq));
  }
  static std::string state(const SM& machine) { return fmt::format("{:016x}", machine.digest()); }
  static support::Json state_json(const SM& machine) { return state(machine); }
  static std::string describe(const SM& machine) {
    return fmt::format("digest {} ({} keys)", state(machine), machine.size());
  }
};

// ---- the simulation ----------------------------------------------------------

template <class Traits>
class Simulation {
public:
  using SM = typename Traits::SM;
  using Command = typename SM::Command;
  using Driver = testing::GroupDriver<SM>;
  using World = typename Driver::World;

  explicit Simulation(const Options& options) : options_(options), driver_(options.seed, options.link()) {
    world().on_event([this](PeerId id, const group::GroupEvent& event) { on_event(id, event); });
    driver_.on_step([this] { poll(); });
    driver_.stop_when_stuck(kStallSteps, [this] {
      fail("simulated time is stuck at {:.1f} ms: {} handlers ran without it advancing (livelock); the run "
           "is abandoned",
           millis(now()), kStallSteps);
    });
  }

  int run() {
    const auto wall_start = std::chrono::steady_clock::now();
    if (!options_.json) {
      fmt::print("mosaik group simulation: {}, {} peers, {} machine, {} commands in batches of {}, seed {}\n",
                 to_string(options_.scenario), options_.peers, Traits::name, options_.commands,
                 options_.batch, options_.seed);
      fmt::print("links: {} ms latency, {} Mbit/s; election timeout {} ms (+ up to {} ms), heartbeat {} ms; "
                 "catch-up batch {}, {} in flight per peer\n\n",
                 options_.latency_ms, options_.bandwidth_mbps, millis(kElectionTimeout),
                 millis(kElectionJitter), millis(kHeartbeat), options_.sync_batch, options_.inflight);
    }
    const auto scenario = options_.scenario;
    if (scenario == ScenarioKind::late_join || scenario == ScenarioKind::leader_crash_during_sync) {
      late_join(scenario == ScenarioKind::leader_crash_during_sync);
    } else {
      partition(scenario == ScenarioKind::rivals_merge);
    }
    const int code = finish();
    const auto wall = std::chrono::steady_clock::now() - wall_start;
    if (!options_.json) {
      // Wall time goes to stderr: stdout is the same for the same seed.
      std::fprintf(stderr, "wall time: %.0f ms\n", millis(wall));
    }
    return code;
  }

private:
  static constexpr Duration kElectionTimeout = 300ms;
  static constexpr Duration kElectionJitter = 150ms;
  static constexpr Duration kHeartbeat = 75ms;
  static constexpr std::uint64_t kStallSteps = 1'000'000;

  /// The catch-up sessions the timeline saw.
  struct SessionTally {
    std::uint64_t started = 0;
    std::uint64_t completed = 0;
    std::uint64_t failed = 0;
    std::uint64_t fetched = 0;                    ///< entries, from all peers
    std::map<PeerId, std::uint64_t> fetched_from; ///< entries, per serving peer
  };

  struct Pending {
    typename Driver::template Pending<IndexRange> result;
    std::uint64_t count = 0;
  };

  [[nodiscard]] World& world() noexcept { return driver_.world(); }
  [[nodiscard]] Duration now() const noexcept { return driver_.now().time_since_epoch(); }

  // ---- set-up --------------------------------------------------------------

  typename World::Options member_options(const std::vector<PeerId>& members, bool check_quorum) const {
    typename World::Options options;
    options.key = "group-sim";
    for (const auto id : members) {
      options.config.members.push_back(group::MemberSpec{id});
    }
    options.config.election_timeout = kElectionTimeout;
    options.config.election_jitter = kElectionJitter;
    options.config.heartbeat_interval = kHeartbeat;
    options.config.bootstrap_delay = 150ms;
    options.config.forward_timeout = 2s;
    options.config.sync_retry_backoff = 200ms;
    options.config.check_quorum = check_quorum;
    sync::LogReplayConfig sync_config;
    sync_config.batch_size = options_.sync_batch;
    sync_config.max_inflight_per_peer = options_.inflight;
    sync_config.fetch_timeout = 2s;
    sync_config.min_fetch_timeout = 100ms;
    options.strategy = sync::LogReplaySync<group::Replicated<SM>>{sync_config};
    options.commit_timeout = 10s;
    return options;
  }

  static std::vector<PeerId> range_of_peers(std::uint64_t first, std::uint64_t last) {
    std::vector<PeerId> out;
    for (auto p = first; p <= last; ++p) {
      out.push_back(PeerId{p});
    }
    return out;
  }

  void start_all(const std::vector<PeerId>& ids, bool check_quorum) {
    for (const auto id : ids) {
      driver_.add(id, member_options(ids, check_quorum));
      driver_.start(id);
    }
  }

  // ---- timeline --------------------------------------------------------------

  template <class... Args>
  void note(fmt::format_string<Args...> format, Args&&... args) {
    if (!options_.json) {
      fmt::print("[{:9.1f} ms] {}\n", millis(now()), fmt::format(format, std::forward<Args>(args)...));
    }
  }
  template <class... Args>
  void detail(fmt::format_string<Args...> format, Args&&... args) {
    if (!options_.json) {
      fmt::print("               {}\n", fmt::format(format, std::forward<Args>(args)...));
    }
  }
  template <class... Args>
  void fail(fmt::format_string<Args...> format, Args&&... args) {
    if (driver_.stuck() && !failures_.empty()) {
      return; // after a livelock every later step fails for that one reason
    }
    auto text = fmt::format(format, std::forward<Args>(args)...);
    note("FAILURE: {}", text);
    failures_.push_back(std::move(text));
  }

  void on_event(PeerId id, const group::GroupEvent& event) {
    using Kind = group::GroupEvent::Kind;
    switch (event.kind) {
    case Kind::role_changed: {
      const auto before = std::exchange(roles_[id], event.role);
      if (event.role == group::Role::leader) {
        note("peer {} elected leader of term {}", id, event.term);
      } else if (before == group::Role::leader) {
        note("peer {} steps down as leader (now {} in term {})", id, group::to_string(event.role),
             event.term);
      }
      break;
    }
    case Kind::sync_started:
      check_truncation(id); // a session may start by dropping a divergent suffix
      ++sessions_.started;
      note("peer {} opens a catch-up session: log at {}, target {}", id, world().member(id).log->last(),
           event.target);
      break;
    case Kind::sync_finished: {
      const bool ok = event.outcome && event.outcome->ok();
      ok ? ++sessions_.completed : ++sessions_.failed;
      const auto& progress = event.progress;
      std::uint64_t fetched = 0;
      if (progress) {
        for (const auto& [peer, done] : progress->peers) {
          fetched += done.entries;
          sessions_.fetched_from[peer] += done.entries;
        }
      }
      sessions_.fetched += fetched;
      note("peer {} catch-up session {}{}: {} entries fetched in {:.1f} ms, log now at {}", id,
           event.outcome ? sync::to_string(event.outcome->status) : "ended",
           event.outcome && !event.outcome->ok() ? fmt::format(" ({})", event.outcome->reason)
                                                 : std::string{},
           fetched, progress ? millis(progress->elapsed) : 0.0, world().member(id).log->last());
      if (progress && fetched > 0) {
        std::string shares;
        for (const auto& [peer, done] : progress->peers) {
          shares += fmt::format("{}peer {}: {} ({:.1f}%){}", shares.empty() ? "" : ", ", peer, done.entries,
                                percent(done.entries, fetched), event.leader == peer ? " [leader]" : "");
        }
        detail("served by {}", shares);
      }
      break;
    }
    case Kind::leader_changed:
    case Kind::committed:
    case Kind::snapshot_taken:
    case Kind::snapshot_installed:
      break;
    }
  }

  /// Looks for things no event reports: a promotion, truncated entries.
  void poll() {
    if (joiner_ && !promoted_) {
      for (const auto& [id, member] : world().members()) {
        if (member->group && member->group->is_leader() &&
            member->group->core().membership().is_voter(*joiner_)) {
          promoted_ = true;
          note("leader {} promotes peer {} to voter (log at {})", id, *joiner_, member->group->last());
          break;
        }
      }
    }
    for (const auto& [id, member] : world().members()) {
      check_truncation(id);
    }
  }

  void check_truncation(PeerId id) {
    const auto* group = driver_.group(id);
    if (group == nullptr) {
      return;
    }
    const auto truncated = group->core().counters().truncated_entries;
    auto& seen = truncated_seen_[id];
    if (truncated > seen) {
      note("peer {} drops {} divergent uncommitted entries", id, truncated - seen);
      truncated_total_ += truncated - seen;
      seen = truncated;
    }
  }

  // ---- clients -------------------------------------------------------------------

  std::vector<Command> next_commands(std::uint64_t count) {
    std::vector<Command> commands;
    commands.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
      commands.push_back(Traits::make(++next_seq_));
    }
    return commands;
  }

  /// Commits `count` commands through the leader of `side`, in batches, with
  /// execute_many. A batch refused before it was appended (no leader, not the
  /// leader) is retried; any other error fails the run.
  bool commit(std::uint64_t count, const std::vector<PeerId>& side) {
    while (count > 0) {
      const auto size = std::min(count, options_.batch);
      auto commands = next_commands(size);
      bool done = false;
      for (int attempt = 0; !done && attempt < 5; ++attempt) {
        const auto leader = driver_.await_leader(side, 10s);
        if (!leader) {
          fail("no leader among {} within 10 s", fmt::join(side, ","));
          return false;
        }
        const auto answer = driver_.propose_many(*leader, commands);
        driver_.run_until([&] { return answer->has_value(); }, 30s);
        if (!*answer) {
          fail("a batch sent to leader {} did not complete in 30 s of simulated time", *leader);
          return false;
        }
        const auto& result = *answer;
        if (result->ok()) {
          acked_commands_ += size;
          done = true;
          milestone(*leader);
        } else if (result->error().code == group::Errc::offline ||
                   result->error().code == group::Errc::not_leader) {
          note("leader {} refused a batch ({}); retrying", *leader, result->error().message());
        } else {
          fail("a batch sent to leader {} failed: {}", *leader, result->error().message());
          return false;
        }
      }
      if (!done) {
        fail("a batch was refused 5 times");
        return false;
      }
      count -= size;
    }
    return true;
  }

  void milestone(PeerId leader) {
    while (next_milestone_ <= 10 && acked_commands_ * 10 >= next_milestone_ * options_.commands) {
      note("{:3}% of the commands committed: {} of {} (commit index {}, leader {})", next_milestone_ * 10,
           acked_commands_, options_.commands, driver_[leader].committed(), leader);
      ++next_milestone_;
    }
  }

  void crash(PeerId id) {
    served_[id] += driver_[id].provider().counters().entries_served;
    const auto was_leader = driver_[id].is_leader();
    const auto last = driver_[id].last();
    const auto commit = driver_[id].committed();
    driver_.crash(id);
    roles_[id] = group::Role::follower;
    truncated_seen_.erase(id);
    note("peer {} crashes{} (log at {}, commit {})", id, was_leader ? " (the leader)" : "", last, commit);
  }

  void restart(PeerId id) {
    auto& group = driver_.restart(id);
    note("peer {} restarts from its stored log (log at {}, commit {})", id, group.last(), group.committed());
  }

  // ---- scenarios -------------------------------------------------------------------

  /// late-join, and leader-crash-during-sync when `crash_leader`.
  void late_join(bool crash_leader) {
    const auto initial = range_of_peers(1, options_.peers - 1);
    const PeerId joiner{options_.peers};
    joiner_ = joiner;
    start_all(initial, true);
    note("peers {} start ({} voters); peer {} will join later", fmt::join(initial, ","), initial.size(),
         joiner);
    if (!driver_.await_leader(initial, 10s)) {
      fail("no leader elected within 10 s");
      return;
    }
    // With a crash, a tenth of the commands is committed by the next leader,
    // so the restarted peer has something to catch up on.
    const auto later = crash_leader ? options_.commands / 10 : 0;
    if (!commit(options_.commands - later, initial)) {
      return;
    }
    const auto leader = driver_.await_leader(initial, 10s);
    if (!leader) {
      fail("no leader within 10 s after the commands");
      return;
    }

    driver_.add(joiner, member_options(initial, true));
    driver_.start(joiner);
    note("peer {} starts with an empty log; leader {} adds it as a learner", joiner, *leader);
    const auto added = driver_.await(driver_[*leader].add_member(joiner), 20s);
    if (!added || !added->ok()) {
      fail("add_member({}) failed: {}", joiner, added ? added->error().message() : std::string{"no answer"});
      return;
    }
    note("membership change at index {} committed: peer {} is a learner", added->value(), joiner);

    auto everyone = initial;
    everyone.push_back(joiner);
    if (!crash_leader) {
      converge(everyone, 60s);
      return;
    }

    // Crash the leader once the joiner's session fetched 30% of its gap.
    const auto at_30_percent = [&] {
      const auto progress = driver_[joiner].sync_progress();
      return (progress && progress->total > 0 && progress->done * 10 >= progress->total * 3) ||
             sessions_.completed > 0;
    };
    if (!driver_.run_until(at_30_percent, 30s)) {
      fail("the joiner's catch-up session did not get under way within 30 s");
      return;
    }
    if (const auto progress = driver_[joiner].sync_progress()) {
      note("peer {}'s session has fetched {} of {} entries", joiner, progress->done, progress->total);
    } else {
      note("peer {}'s session already ended: the crash comes after it", joiner);
    }
    const auto crashed = driver_.leader_among(initial);
    if (!crashed) {
      fail("no leader to crash");
      return;
    }
    crash(*crashed);
    std::vector<PeerId> survivors;
    for (const auto id : everyone) {
      if (id != *crashed) {
        survivors.push_back(id);
      }
    }
    const auto voters_left = initial.size() - 1;
    const auto quorum = initial.size() / 2 + 1;
    bool restarted = false;
    if (voters_left < quorum) {
      note("{} of {} voters left, {} needed: no leader can be elected until peer {} is back", voters_left,
           initial.size(), quorum, *crashed);
      if (driver_.await_leader(survivors, 2s)) {
        fail("a leader was elected without a quorum");
        return;
      }
      restart(*crashed);
      restarted = true;
      survivors = everyone;
    }
    const auto next = driver_.await_leader(survivors, 10s);
    if (!next) {
      fail("no new leader within 10 s of the crash");
      return;
    }
    const auto target = driver_[*next].committed();
    if (!driver_.run_until([&] { return driver_.caught_up(joiner, target); }, 30s)) {
      fail("the joiner did not catch up within 30 s of the new leader");
      return;
    }
    note("peer {} has caught up: applied {} (log at {})", joiner, driver_[joiner].applied(),
         driver_[joiner].last());
    if (!commit(later, survivors)) {
      return;
    }
    if (!restarted) {
      driver_.advance(500ms);
      restart(*crashed);
    }
    converge(everyone, 60s);
  }

  /// partition-heal, and rivals-merge when `rivals`.
  void partition(bool rivals) {
    const auto everyone = range_of_peers(1, options_.peers);
    // Without check-quorum the deposed leader keeps leading its minority.
    start_all(everyone, !rivals);
    note("peers {} start{}", fmt::join(everyone, ","),
         rivals ? " (check-quorum off: a leader cut off from the majority keeps leading)" : "");
    if (!driver_.await_leader(everyone, 10s)) {
      fail("no leader elected within 10 s");
      return;
    }
    const auto before = options_.commands * 4 / 10;
    const auto during = options_.commands * 4 / 10;
    const auto after = options_.commands - before - during;
    if (!commit(before, everyone)) {
      return;
    }
    const auto leader = driver_.await_leader(everyone, 10s);
    if (!leader) {
      fail("no leader within 10 s after the first commands");
      return;
    }

    std::vector<PeerId> minority{*leader};
    std::vector<PeerId> majority;
    const auto minority_size = (options_.peers - 1) / 2;
    for (const auto id : everyone) {
      if (id == *leader) {
        continue;
      }
      (minority.size() < minority_size ? minority : majority).push_back(id);
    }
    driver_.partition(minority, majority);
    const auto old_term = driver_[*leader].core().term();
    note("partition: {{{}}} (with leader {}) | {{{}}}", fmt::join(minority, ","), *leader,
         fmt::join(majority, ","));

    std::vector<Pending> minority_batches;
    const auto minority_first = driver_[*leader].last().index.next();
    if (rivals) {
      // The old leader still takes commands; they replicate to its side only.
      auto left = std::max(options_.batch, options_.commands / 10);
      while (left > 0) {
        const auto size = std::min(left, options_.batch);
        minority_batches.push_back(Pending{driver_.propose_many(*leader, next_commands(size)), size});
        left -= size;
      }
      driver_.advance(1ms);
      std::uint64_t fed = 0;
      for (const auto& batch : minority_batches) {
        fed += batch.count;
      }
      note("old leader {} (term {}) accepts {} commands at {}..{}; its side cannot commit them", *leader,
           old_term, fed, minority_first, driver_[*leader].last().index);
    }

    const auto next = driver_.await_leader(majority, 10s);
    if (!next) {
      fail("the majority elected no leader within 10 s");
      return;
    }
    if (rivals) {
      if (driver_[*leader].is_leader()) {
        note("two leaders: {} (term {}, minority) and {} (term {}, majority)", *leader,
             driver_[*leader].core().term(), *next, driver_[*next].core().term());
      } else {
        fail("the old leader {} stepped down before the heal; no rivals", *leader);
      }
    } else {
      if (!driver_.run_until(
              [&] {
                return std::none_of(minority.begin(), minority.end(),
                                    [&](PeerId id) { return driver_[id].is_leader(); });
              },
              5s)) {
        fail("the old leader {} did not step down within 5 s", *leader);
        return;
      }
      // The minority cannot commit: with no leader on its side it refuses commands.
      auto refused = driver_.await(driver_[*leader].execute_many(next_commands(1)), 5s);
      if (refused && refused->ok()) {
        fail("the minority committed a command at {}", refused->value());
      } else {
        note("peer {} on the minority refuses a command: {}", *leader,
             refused ? refused->error().message() : std::string{"no answer within 5 s"});
      }
    }
    const auto minority_commit = driver_[*leader].committed();
    if (!commit(during, majority)) {
      return;
    }
    note("before the heal: majority commit {} (leader {}), minority commit {}, minority log at {}",
         driver_[*next].committed(), *next, driver_[*leader].committed(), driver_[*leader].last());
    if (driver_[*leader].committed() != minority_commit) {
      fail("the minority's commit index moved from {} to {} while partitioned", minority_commit,
           driver_[*leader].committed());
    }

    driver_.heal();
    note("heal: every link is back");
    if (!commit(after, everyone)) {
      return;
    }
    converge(everyone, 60s, &minority_batches);
    if (rivals) {
      std::map<std::string, std::uint64_t> outcomes;
      for (const auto& batch : minority_batches) {
        const auto key = !*batch.result          ? std::string{"no answer"}
                         : (*batch.result)->ok() ? std::string{"committed"}
                                                 : std::string{to_string((*batch.result)->error().code)};
        outcomes[key] += batch.count;
        if (*batch.result && (*batch.result)->ok()) {
          fail("a minority batch was reported committed at {}", (*batch.result)->value());
        }
      }
      std::string text;
      for (const auto& [key, count] : outcomes) {
        text += fmt::format("{}{} commands: {}", text.empty() ? "" : "; ", count, key);
      }
      note("the old leader's clients were told: {}", text);
    }
  }

  /// Runs until every live member follows one leader and applied all it committed.
  void converge(const std::vector<PeerId>& everyone, Duration limit,
                const std::vector<Pending>* pending = nullptr) {
    const auto settled = [&] {
      const auto leader = driver_.leader_among(everyone);
      if (!leader) {
        return false;
      }
      const auto& lead = driver_[*leader];
      if (lead.committed() != lead.last().index) {
        return false;
      }
      if (joiner_ && !lead.core().membership().is_voter(*joiner_)) {
        return false;
      }
      for (const auto id : everyone) {
        const auto* group = driver_.group(id);
        if (group == nullptr || group->leader() != leader || group->applied() != lead.committed() ||
            group->core().syncing()) {
          return false;
        }
      }
      if (pending != nullptr) {
        for (const auto& batch : *pending) {
          if (!batch.result->has_value()) {
            return false;
          }
        }
      }
      return true;
    };
    if (driver_.run_until(settled, limit)) {
      const auto leader = *driver_.leader_among(everyone);
      note("converged: every peer follows leader {} (term {}) and applied {}", leader,
           driver_[leader].core().term(), driver_[leader].applied());
      converged_ = true;
    } else {
      fail("the group did not converge within {:.0f} s of simulated time", millis(limit) / 1000);
    }
  }

  // ---- checks and report ----------------------------------------------------------

  int finish() {
    world().check_logs();
    // Every live member: applied index and state.
    struct Row {
      PeerId id;
      std::string role;
      Term term;
      Index commit;
      Index applied;
      Cursor last;
      std::string state;
    };
    std::vector<Row> rows;
    bool same = true;
    std::optional<std::pair<Index, std::string>> reference;
    support::Json state_json; // null until a member has a state
    std::optional<PeerId> leader = world().leader();
    for (const auto& [id, member] : world().members()) {
      if (!member->group) {
        continue;
      }
      const auto& group = *member->group;
      auto state = Traits::state(group.machine());
      if (!reference) {
        reference = std::pair{group.applied(), state};
        state_json = Traits::state_json(group.machine());
      } else if (reference->first != group.applied() || reference->second != state) {
        same = false;
      }
      rows.push_back(Row{id, group::to_string(group.core().role()), group.core().term(), group.committed(),
                         group.applied(), group.last(), std::move(state)});
      served_[id] += group.provider().counters().entries_served;
    }
    const bool consistent = converged_ && same && !rows.empty();

    // Every acknowledged command is in the log at the index it was acknowledged
    // at, and replaying them gives the state the members hold.
    bool durable = leader.has_value();
    std::string durable_detail;
    if (leader) {
      std::vector<std::pair<IndexRange, const std::vector<Command>*>> acked;
      for (const auto& proposal : driver_.proposals()) {
        if (const auto range = proposal.acknowledged()) {
          acked.emplace_back(*range, &proposal.commands);
        }
      }
      std::sort(acked.begin(), acked.end(),
                [](const auto& a, const auto& b) { return a.first.first() < b.first.first(); });
      SM replay;
      for (const auto& [range, commands] : acked) {
        auto index = range.first();
        for (const auto& command : *commands) {
          if (durable && !driver_.holds(*leader, index, command)) {
            durable = false;
            durable_detail = fmt::format("the command acknowledged at {} is not there", index);
          }
          replay.apply(command);
          index = index.next();
        }
      }
      if (durable && Traits::state(replay) != Traits::state(driver_[*leader].machine())) {
        durable = false;
        durable_detail = fmt::format("replaying the acknowledged commands gives {}, the members hold {}",
                                     Traits::state(replay), Traits::state(driver_[*leader].machine()));
      }
    } else {
      durable_detail = "no leader at the end";
    }
    if (!durable) {
      failures_.push_back("acknowledged commands: " + durable_detail);
    }

    const auto& violations = world().violations();
    const auto committed = leader ? driver_[*leader].committed() : Index{};
    const bool ok = consistent && violations.empty() && failures_.empty();

    if (options_.json) {
      std::map<PeerId, std::uint64_t> served;
      for (const auto& [id, member] : world().members()) {
        served[id] = served_[id];
      }
      support::print_line({{"scenario", to_string(options_.scenario)},
                           {"machine", Traits::name},
                           {"peers", options_.peers},
                           {"commands", options_.commands},
                           {"batch", options_.batch},
                           {"seed", options_.seed},
                           {"ok", ok},
                           {"committed", committed.value()},
                           {"acknowledged_commands", acked_commands_},
                           {"consistent", consistent},
                           {"durable", durable},
                           {"state", state_json},
                           {"elections", world().leaders_by_term().size()},
                           {"catchup_sessions",
                            {{"started", sessions_.started},
                             {"completed", sessions_.completed},
                             {"failed", sessions_.failed}}},
                           {"fetched", sessions_.fetched},
                           {"fetched_from", support::counts_json(sessions_.fetched_from)},
                           {"served", support::counts_json(served)},
                           {"truncated_entries", truncated_total_},
                           {"invariant_violations", violations.size()},
                           {"failures", failures_},
                           {"trace_hash", fmt::format("{:016x}", driver_.simulator().trace_hash())},
                           {"simulated_ms", support::rounded(millis(now()), 3)}});
      return ok ? 0 : 1;
    }

    fmt::print("\n  {:<6} {:<10} {:>6} {:>9} {:>9} {:>14} {:>10}  {}\n", "peer", "role", "term", "commit",
               "applied", "log", "served", "state");
    for (const auto& row : rows) {
      fmt::print("  {:<6} {:<10} {:>6} {:>9} {:>9} {:>14} {:>10}  {}\n", fmt::format("{}", row.id), row.role,
                 fmt::format("{}", row.term), fmt::format("{}", row.commit), fmt::format("{}", row.applied),
                 fmt::format("{}", row.last), served_[row.id], row.state);
    }
    for (const auto& [id, member] : world().members()) {
      if (!member->group) {
        fmt::print("  {:<6} {:<10}  (down)\n", fmt::format("{}", id), "crashed");
      }
    }
    fmt::print("\n  state           {}\n",
               leader ? Traits::describe(driver_[*leader].machine()) : std::string{"(no leader)"});
    fmt::print("  consistent      {}\n",
               consistent ? "yes: every live peer applied the same entries and holds the same state"
                          : (same ? "NO: the group did not converge" : "NO: the peers' states differ"));
    fmt::print("  acknowledged    {} commands, {}\n", acked_commands_,
               durable ? "all in the log where acknowledged; replaying them gives the state"
                       : "NOT durable: " + durable_detail);
    fmt::print("  elections       {} (terms with a leader)\n", world().leaders_by_term().size());
    fmt::print(
        "  catch-up        {} session(s) started, {} completed, {} ended otherwise; {} entries fetched\n",
        sessions_.started, sessions_.completed, sessions_.failed, sessions_.fetched);
    if (truncated_total_ > 0) {
      fmt::print("  truncated       {} divergent uncommitted entries\n", truncated_total_);
    }
    fmt::print("  invariants      {}\n",
               violations.empty() ? std::string{"no violation (election safety, log matching, leader "
                                                "completeness, state-machine safety, apply order)"}
                                  : fmt::format("{} VIOLATION(S)", violations.size()));
    if (!violations.empty()) {
      fmt::print("{}", world().violation_report());
    }
    for (const auto& failure : failures_) {
      fmt::print("  failure         {}\n", failure);
    }
    fmt::print("  simulated time  {:.1f} ms\n  trace hash      {:016x}\n  result          {}\n",
               millis(now()), driver_.simulator().trace_hash(), ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
  }

  const Options& options_;
  Driver driver_;

  std::optional<PeerId> joiner_;
  bool promoted_ = false;
  bool converged_ = false;
  std::map<PeerId, group::Role> roles_;
  std::map<PeerId, std::uint64_t> truncated_seen_;
  std::uint64_t truncated_total_ = 0;
  SessionTally sessions_;
  std::map<PeerId, std::uint64_t> served_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t acked_commands_ = 0;
  std::uint64_t next_milestone_ = 1;
  std::vector<std::string> failures_;
};

} // namespace

int main(int argc, char** argv) {
  Options options;
  if (const auto status = parse(argc, argv, options)) {
    return *status;
  }
  log::set_level(examples::level_from(options.log_level));
  if (options.machine == "kv") {
    return Simulation<KvTraits>{options}.run();
  }
  return Simulation<CounterTraits>{options}.run();
}
