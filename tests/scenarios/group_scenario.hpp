#pragma once
// GroupScenario: scenario commands as text (data_driven.hpp) for a
// replication group on the simulator. The group is driven by
// testing::GroupDriver (include/mosaik/testing/group_driver.hpp), the driver
// mosaik-group-sim and mosaik-torture use too; this file only reads the
// commands and prints the group's state in a stable text form. The state
// machine enters through a Traits type (counter_scenario.hpp, kv_scenario.hpp):
//
//   struct Traits {
//     // The options of a member that knows `config` as the group (args: batch=... and such).
//     Options options(const std::vector<PeerId>& config, Command& args);
//     // The commands `propose`/`feed` submit (args: value=5 count=3 ...).
//     std::vector<SM::Command> commands(Command& args);
//     std::string describe(const SM::Command&);  // in print-logs: "+5"
//     std::string state(const SM&);              // in status: "value=6"
//   };
//
// Commands (members are numbers, or `leader` where one member is named: the
// live leader of the highest term; lists are `1,2,3`; durations `500ms`, `2s`):
//
//   world seed=N [latency=1ms]      the simulator, the network, the world (first)
//   add-members 1 2 3 [config=1,2,3] [reluctant=1] [...traits' args]
//                                   members that know `config` (default: themselves) as the group
//   start [1 2]                     start members (default: every one not started)
//   elect [among=1,2] [other-than=1] [within=10s]
//                                   run until a leader is known to every live member of `among`
//   propose 1 value=5 [count=N] [within=30s] [async=name]
//                                   execute through member 1 (committed and applied) and print the
//                                   index; async: spawn it, `result name` prints it later
//   feed 1 value=5 [within=1s]      feed through member 1: the assigned index, not waiting to commit
//   result name [within=30s]        the result of an async proposal (or "pending")
//   add-member 4 [via=1] [within=20s]
//                                   start member 4 (knowing the live voters) and add it as a learner
//   remove-member 2 [via=1]         remove a member through the leader (or `via`)
//   stabilize [at-least=N] [within=30s]
//                                   run until every live member knows one leader, applied the same
//                                   index (at least N) and holds the same state
//   wait promoted=4 | applied=N | leader-among=3,4 | not-leader=1 | caught-up=4 [within=30s]
//                                   run until the condition holds
//   tick 500ms                      let simulated time pass (also: advance)
//   link [from=1 to=2 | of=3] [latency=] [jitter=] [loss=] [duplicate=] [reorder=] [bandwidth=]
//                                   every link from now on (the settings not named are kept); with
//                                   from= and to=: that one direction only; with of=: both
//                                   directions of every link of member 3 (a slow peer);
//                                   `loss 0.1` is short for link loss=0.1
//   partition 1 2 / 3 4 5           cut every link between the two sides
//   drop from=1 to=2                cut one direction of one link
//   isolate 1                       cut every link of member 1
//   heal                            restore every link
//   crash 3 / restart 3             a member goes down (its storage survives) / comes back
//   status [1 2]                    role, term, leader, log, commit, applied, state per member
//   print-logs [1 2] [from=N] [to=N]
//                                   the entries of each member's log: index/tterm:command
//   counters [1 2]                  consensus counters per member
//   leaders-by-term                 every election won so far
//   safety                          check Raft's invariants now (log matching from scratch): "ok"
//                                   or the violations, with the seed
//
// After the last command, finish() checks the invariants once more and
// reports any violation (with the seed).

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mosaik/core/format.hpp>
#include <mosaik/sim/network.hpp>
#include <mosaik/testing/group_driver.hpp>

#include "data_driven.hpp"

namespace mosaik::test::scenario {

template <class SM, template <class> class StrategyFor, class Traits>
class GroupScenario final : public ScenarioDriver {
public:
  using Driver = testing::GroupDriver<SM, StrategyFor>;
  using World = typename Driver::World;
  using GroupType = typename Driver::GroupType;
  using Options = typename Driver::Options;
  using Pending = typename Driver::template Pending<Index>;

  explicit GroupScenario(Traits traits = {}) : traits_(std::move(traits)) {}

  [[nodiscard]] Driver& driver() {
    if (!driver_) {
      throw ScenarioError("no world yet: the scenario starts with `world seed=N`");
    }
    return *driver_;
  }
  [[nodiscard]] World& world() { return driver().world(); }

  [[nodiscard]] std::string context() const override {
    return !driver_ ? std::string{"no world yet"}
                    : fmt::format("seed {} at t={}", driver_->simulator().seed(), now_text());
  }

  std::optional<std::string> finish() override {
    if (!driver_) {
      return std::nullopt;
    }
    auto& world = driver_->world();
    world.check_logs();
    if (world.violations().empty()) {
      return std::nullopt;
    }
    return "Raft invariants violated:\n" + world.violation_report();
  }

  std::string run(Command& command) override {
    const auto& name = command.name();
    if (name == "world") {
      return make_world(command);
    }
    const auto it = commands().find(name);
    if (it == commands().end()) {
      throw ScenarioError(fmt::format("unknown command '{}'", name));
    }
    return (this->*(it->second))(command);
  }

private:
  using Handler = std::string (GroupScenario::*)(Command&);

  static const std::map<std::string, Handler>& commands() {
    static const std::map<std::string, Handler> table{
        {"add-members", &GroupScenario::add_members},
        {"start", &GroupScenario::start},
        {"elect", &GroupScenario::elect},
        {"propose", &GroupScenario::propose},
        {"feed", &GroupScenario::feed},
        {"result", &GroupScenario::result},
        {"add-member", &GroupScenario::add_member},
        {"remove-member", &GroupScenario::remove_member},
        {"stabilize", &GroupScenario::stabilize},
        {"wait", &GroupScenario::wait},
        {"tick", &GroupScenario::tick},
        {"advance", &GroupScenario::tick},
        {"link", &GroupScenario::link},
        {"loss", &GroupScenario::loss},
        {"partition", &GroupScenario::partition},
        {"drop", &GroupScenario::drop},
        {"isolate", &GroupScenario::isolate},
        {"heal", &GroupScenario::heal},
        {"crash", &GroupScenario::crash},
        {"restart", &GroupScenario::restart},
        {"status", &GroupScenario::status},
        {"print-logs", &GroupScenario::print_logs},
        {"counters", &GroupScenario::counters},
        {"leaders-by-term", &GroupScenario::leaders_by_term},
        {"safety", &GroupScenario::safety},
    };
    return table;
  }

  // ---- arguments ---------------------------------------------------------------------

  static Duration duration_or(Command& command, std::string_view key, Duration fallback) {
    const auto value = command.get(key);
    return value ? parse_duration(*value) : fallback;
  }

  /// The members named by the positional words (all members when none, if `all_by_default`).
  std::vector<PeerId> members_named(Command& command, bool all_by_default = true) {
    auto ids = parse_peers(command.positional());
    if (ids.empty() && all_by_default) {
      ids = driver().members();
    }
    for (const auto id : ids) {
      if (!driver().exists(id)) {
        throw ScenarioError(fmt::format("no member {}", id.value()));
      }
    }
    return ids;
  }

  /// The one member named (`leader`: the live leader of the highest term).
  PeerId one_member(Command& command) {
    if (command.flag("leader")) {
      const auto leader = world().leader();
      if (!leader) {
        throw ScenarioError(fmt::format("{}: there is no leader", command.name()));
      }
      return *leader;
    }
    const auto ids = members_named(command, false);
    if (ids.size() != 1) {
      throw ScenarioError(fmt::format("{}: one member expected", command.name()));
    }
    return ids.front();
  }

  GroupType& live(PeerId id) {
    auto* group = driver().group(id);
    if (group == nullptr) {
      throw ScenarioError(fmt::format("member {} is not running", id.value()));
    }
    return *group;
  }

  /// The leader `via=` names, or the live leader of the highest term.
  PeerId via_leader(Command& command) {
    if (const auto via = command.get("via")) {
      return parse_peer(*via);
    }
    const auto leader = world().leader();
    if (!leader) {
      throw ScenarioError("no leader to ask (run `elect` first, or say via=N)");
    }
    return *leader;
  }

  [[nodiscard]] std::string now_text() const { return format_duration(driver_->now().time_since_epoch()); }

  static std::string describe_result(const group::Result<Index>& result) {
    return result.ok() ? fmt::format("index {}", result.value())
                       : fmt::format("error: {}", result.error().message());
  }
  static std::string describe_result(const group::Result<IndexRange>& result) {
    return result.ok() ? fmt::format("indices {}", result.value())
                       : fmt::format("error: {}", result.error().message());
  }

  template <class T>
  std::string await_text(asio::awaitable<group::Result<T>> operation, Duration within) {
    const auto result = driver().await(std::move(operation), within);
    return result ? describe_result(*result) : fmt::format("pending after {}", format_duration(within));
  }
  /// A proposal's answer, once it came within `within`.
  template <class T>
  std::string answer_text(const typename Driver::template Pending<T>& answer, Duration within) {
    driver().run_until([&] { return answer->has_value(); }, within);
    return *answer ? describe_result(**answer) : fmt::format("pending after {}", format_duration(within));
  }

  // ---- set-up --------------------------------------------------------------------------

  std::string make_world(Command& command) {
    if (driver_) {
      throw ScenarioError("the world exists already");
    }
    const auto seed =
        parse_uint(command.require("seed", "seed=N is required (scenarios are deterministic)"), "seed");
    sim::LinkConfig link;
    link.latency = duration_or(command, "latency", 1ms);
    driver_ = std::make_unique<Driver>(seed, link);
    return "ok";
  }

  std::string add_members(Command& command) {
    const auto ids = parse_peers(command.positional());
    if (ids.empty()) {
      throw ScenarioError("add-members: which members?");
    }
    const auto config = command.get("config");
    const auto known = config ? parse_peers({*config}) : ids;
    auto options = traits_.options(known, command);
    if (const auto reluctant = command.get("reluctant")) {
      set_preference(options, parse_peers({*reluctant}), group::Preference::reluctant);
    }
    if (const auto observers = command.get("observer")) {
      set_preference(options, parse_peers({*observers}), group::Preference::observer);
    }
    for (const auto id : ids) {
      driver().add(id, options);
    }
    return "ok";
  }

  static void set_preference(Options& options, const std::vector<PeerId>& ids, group::Preference preference) {
    for (auto& spec : options.config.members) {
      if (std::find(ids.begin(), ids.end(), spec.id) != ids.end()) {
        spec.preference = preference;
      }
    }
  }

  std::string start(Command& command) {
    auto ids = parse_peers(command.positional());
    if (ids.empty()) {
      ids = driver().waiting();
    }
    for (const auto id : ids) {
      if (world().member(id).started) {
        throw ScenarioError(
            fmt::format("member {} has started already (restart it after a crash)", id.value()));
      }
      driver().start(id);
    }
    return "ok";
  }

  // ---- elections and clients ------------------------------------------------------------------

  std::string elect(Command& command) {
    const auto among_text = command.get("among");
    auto side = among_text ? parse_peers({*among_text}) : driver().members();
    if (const auto other_text = command.get("other-than")) {
      std::erase(side, parse_peer(*other_text));
    }
    const auto within = duration_or(command, "within", 10s);
    const auto leader = driver().await_leader(side, within);
    if (!leader) {
      return fmt::format("no leader within {}", format_duration(within));
    }
    return fmt::format("leader {} (term {})", leader->value(), world()[*leader].core().term());
  }

  std::string propose(Command& command) {
    const auto id = one_member(command);
    auto commands = traits_.commands(command);
    const auto within = duration_or(command, "within", 30s);
    live(id);
    if (const auto name = command.get("async")) {
      if (commands.size() != 1) {
        throw ScenarioError("propose async: one command at a time");
      }
      pending_[*name] = driver().propose(id, std::move(commands.front()));
      return "ok";
    }
    if (commands.size() == 1) {
      return answer_text<Index>(driver().propose(id, std::move(commands.front())), within);
    }
    return answer_text<IndexRange>(driver().propose_many(id, std::move(commands)), within);
  }

  std::string feed(Command& command) {
    const auto id = one_member(command);
    auto commands = traits_.commands(command);
    const auto within = duration_or(command, "within", 1s);
    auto& group = live(id);
    if (commands.size() == 1) {
      return await_text(group.feed(std::move(commands.front())), within);
    }
    return await_text(group.feed_many(std::move(commands)), within);
  }

  std::string result(Command& command) {
    const auto names = command.positional();
    if (names.size() != 1 || pending_.count(names.front()) == 0) {
      throw ScenarioError("result: the name of an async proposal expected");
    }
    const auto& out = pending_.at(names.front());
    const auto within = duration_or(command, "within", Duration::zero());
    driver().run_until([&] { return out->has_value(); }, within);
    return out->has_value() ? describe_result(**out) : std::string{"pending"};
  }

  std::string add_member(Command& command) {
    const auto id = one_member_to_add(command);
    const auto via = via_leader(command);
    const auto within = duration_or(command, "within", 20s);
    driver().add(id, traits_.options(live(via).core().membership().voters(), command));
    driver().start(id);
    return await_text(live(via).add_member(id), within);
  }

  PeerId one_member_to_add(Command& command) {
    const auto ids = parse_peers(command.positional());
    if (ids.size() != 1) {
      throw ScenarioError(fmt::format("{}: one member expected", command.name()));
    }
    if (driver().exists(ids.front())) {
      throw ScenarioError(fmt::format("member {} exists already", ids.front().value()));
    }
    return ids.front();
  }

  std::string remove_member(Command& command) {
    const auto id = one_member(command);
    const auto via = via_leader(command);
    const auto within = duration_or(command, "within", 20s);
    return await_text(live(via).remove_member(id), within);
  }

  // ---- running ------------------------------------------------------------------------------

  /// Every live member knows the same leader, applied the same index (at least
  /// `at_least`) and holds the same state.
  bool converged(Index at_least) {
    std::optional<PeerId> leader;
    std::optional<Index> applied;
    std::optional<std::string> state;
    for (const auto& [id, member] : world().members()) {
      const auto* group = member->group.get();
      if (group == nullptr) {
        continue;
      }
      const auto held = traits_.state(group->machine());
      if (!group->leader() || group->applied() < at_least || (leader && *leader != *group->leader()) ||
          (applied && *applied != group->applied()) || (state && *state != held)) {
        return false;
      }
      leader = group->leader();
      applied = group->applied();
      state = held;
    }
    return leader.has_value();
  }

  std::string stabilize(Command& command) {
    const auto at_least_text = command.get("at-least");
    const auto at_least = at_least_text ? Index{parse_uint(*at_least_text, "at-least")} : Index{0};
    const auto within = duration_or(command, "within", 30s);
    if (!driver().run_until([&] { return converged(at_least); }, within)) {
      return fmt::format("not converged within {}", format_duration(within));
    }
    const auto any = driver().live().front();
    return fmt::format("converged: leader {}, applied {}, {}", world()[any].leader()->value(),
                       world()[any].applied(), traits_.state(world()[any].machine()));
  }

  std::string wait(Command& command) {
    const auto within = duration_or(command, "within", 30s);
    std::function<bool()> condition;
    if (const auto promoted = command.get("promoted")) {
      const auto id = parse_peer(*promoted);
      condition = [this, id] {
        const auto leader = world().leader();
        const auto* group = world().group(id);
        return leader && group != nullptr && world()[*leader].core().membership().is_voter(id) &&
               group->core().membership().is_voter(id);
      };
    } else if (const auto applied = command.get("applied")) {
      const auto index = Index{parse_uint(*applied, "applied")};
      condition = [this, index] {
        const auto ids = driver().live();
        return std::all_of(ids.begin(), ids.end(), [&](PeerId id) { return world()[id].applied() >= index; });
      };
    } else if (const auto among = command.get("leader-among")) {
      const auto ids = parse_peers({*among});
      condition = [this, ids] {
        return std::any_of(ids.begin(), ids.end(), [&](PeerId id) {
          const auto* group = world().group(id);
          return group != nullptr && group->is_leader();
        });
      };
    } else if (const auto not_leader = command.get("not-leader")) {
      const auto id = parse_peer(*not_leader);
      condition = [this, id] { return !live(id).is_leader(); };
    } else if (const auto caught_up = command.get("caught-up")) {
      const auto id = parse_peer(*caught_up);
      condition = [this, id] {
        const auto leader = world().leader();
        return leader && driver().caught_up(id, world()[*leader].committed());
      };
    } else {
      throw ScenarioError("wait: promoted=, applied=, leader-among=, not-leader= or caught-up= expected");
    }
    return driver().run_until(condition, within) ? std::string{"ok"}
                                                 : fmt::format("timed out after {}", format_duration(within));
  }

  std::string tick(Command& command) {
    const auto words = command.positional();
    if (words.size() != 1) {
      throw ScenarioError(fmt::format("{}: a duration expected", command.name()));
    }
    driver().advance(parse_duration(words.front()));
    return "ok";
  }

  // ---- the network ----------------------------------------------------------------------------

  std::string link(Command& command) {
    const auto from = command.get("from");
    const auto to = command.get("to");
    const auto of = command.get("of");
    if (from.has_value() != to.has_value() || (from && of)) {
      throw ScenarioError("link: from=N and to=M together, or of=N, or neither");
    }
    auto& network = world().network();
    auto config = from ? network.link(parse_peer(*from), parse_peer(*to)) : network.default_link();
    config.latency = duration_or(command, "latency", config.latency);
    config.jitter = duration_or(command, "jitter", config.jitter);
    const auto fraction = [&](std::string_view key, double& field) {
      if (const auto value = command.get(key)) {
        field = std::stod(*value);
      }
    };
    fraction("loss", config.loss);
    fraction("duplicate", config.duplicate);
    fraction("reorder", config.reorder);
    fraction("bandwidth", config.bandwidth_bytes_per_second);
    if (from) {
      driver().set_link(parse_peer(*from), parse_peer(*to), config);
    } else if (of) {
      driver().set_links_of(parse_peer(*of), config);
    } else {
      network.set_default_link(config);
    }
    return "ok";
  }

  std::string loss(Command& command) {
    const auto words = command.positional();
    if (words.size() != 1) {
      throw ScenarioError("loss: a fraction expected, e.g. loss 0.1");
    }
    auto config = world().network().default_link();
    config.loss = std::stod(words.front());
    world().network().set_default_link(config);
    return "ok";
  }

  std::string partition(Command& command) {
    const auto words = command.positional();
    const auto slash = std::find(words.begin(), words.end(), "/");
    if (slash == words.end()) {
      throw ScenarioError("partition: two sides expected, e.g. partition 1 2 / 3 4 5");
    }
    driver().partition(parse_peers({words.begin(), slash}), parse_peers({std::next(slash), words.end()}));
    return "ok";
  }

  std::string drop(Command& command) {
    const auto from = command.get("from");
    const auto to = command.get("to");
    if (!from || !to) {
      throw ScenarioError("drop: from=N to=M expected");
    }
    world().network().partition_one_way(parse_peer(*from), parse_peer(*to));
    return "ok";
  }

  std::string isolate(Command& command) {
    world().network().isolate(one_member(command));
    return "ok";
  }

  std::string heal(Command& /*command*/) {
    driver().heal();
    return "ok";
  }

  std::string crash(Command& command) {
    const auto id = one_member(command);
    live(id);
    driver().crash(id);
    return "ok";
  }

  std::string restart(Command& command) {
    const auto id = one_member(command);
    if (driver().alive(id)) {
      throw ScenarioError(fmt::format("member {} is running", id.value()));
    }
    driver().restart(id);
    return "ok";
  }

  // ---- printing -------------------------------------------------------------------------------

  std::string status(Command& command) {
    std::string out;
    for (const auto id : members_named(command)) {
      const auto& member = world().member(id);
      if (!member.group) {
        out += fmt::format("{}: {}", id.value(), member.started ? "down" : "not started");
        out += member.log ? fmt::format(" last={}\n", member.log->last()) : std::string{"\n"};
        continue;
      }
      const auto& group = *member.group;
      const auto& membership = group.core().membership();
      const auto leader = group.leader();
      out += fmt::format("{}: {} term={} leader={} last={} commit={} applied={} {}{}\n", id.value(),
                         group::to_string(group.core().role()), group.core().term(),
                         leader ? fmt::format("{}", leader->value()) : std::string{"none"}, group.last(),
                         group.committed(), group.applied(), traits_.state(group.machine()),
                         !membership.contains(id)   ? " (not a member)"
                         : !membership.is_voter(id) ? " (learner)"
                                                    : "");
    }
    return out;
  }

  std::string describe_entry(const typename GroupType::LogEntry& entry) {
    const auto& command = entry.command;
    if (const auto* user = command.user()) {
      return traits_.describe(*user);
    }
    if (const auto* change = command.membership()) {
      std::vector<std::string> members;
      for (const auto& [peer, member] : change->membership.members()) {
        members.push_back(fmt::format("{}{}", peer.value(), member.voter ? "" : "L"));
      }
      return fmt::format("config({})", fmt::join(members, ","));
    }
    if (command.snapshot_point() != nullptr) {
      return "snapshot-point";
    }
    return "noop";
  }

  std::string print_logs(Command& command) {
    const auto from_text = command.get("from");
    const auto to_text = command.get("to");
    std::string out;
    for (const auto id : members_named(command)) {
      const auto& member = world().member(id);
      if (!member.log) {
        out += fmt::format("{}: (storage closed)\n", id.value());
        continue;
      }
      const auto& log = *member.log;
      const auto available = log.available();
      auto first = from_text ? Index{parse_uint(*from_text, "from")} : Index{1};
      auto last = to_text ? Index{parse_uint(*to_text, "to")} : log.last().index;
      out += fmt::format("{}:", id.value());
      if (!available.empty() && available.first() > Index{1}) {
        out += fmt::format(" (pruned up to {})", available.first().prev());
      }
      for (auto index = first; index <= last && !index.is_sentinel(); index = index.next()) {
        if (const auto* entry = log.get(index)) {
          out += fmt::format(" {}/t{}:{}", index, entry->term, describe_entry(*entry));
        }
      }
      out += log.last().index.is_sentinel() ? " (empty)\n" : "\n";
    }
    return out;
  }

  std::string counters(Command& command) {
    std::string out;
    for (const auto id : members_named(command)) {
      const auto* group = world().group(id);
      if (group == nullptr) {
        out += fmt::format("{}: down\n", id.value());
        continue;
      }
      const auto& c = group->core().counters();
      out += fmt::format("{}: pre-votes={} elections={} won={} step-downs={} truncated={} sync-started={} "
                         "sync-completed={} sync-failed={}\n",
                         id.value(), c.pre_votes_started, c.elections_started, c.elections_won, c.step_downs,
                         c.truncated_entries, c.sync_sessions_started, c.sync_sessions_completed,
                         c.sync_sessions_failed);
    }
    return out;
  }

  std::string leaders_by_term(Command& /*command*/) {
    std::string out;
    for (const auto& [term, leader] : world().leaders_by_term()) {
      out += fmt::format("term {}: {}\n", term, leader.value());
    }
    return out.empty() ? std::string{"none"} : out;
  }

  std::string safety(Command& /*command*/) {
    world().check_logs();
    return world().violations().empty() ? std::string{"ok"} : world().violation_report();
  }

  Traits traits_;
  std::unique_ptr<Driver> driver_;
  std::map<std::string, Pending> pending_;
};

} // namespace mosaik::test::scenario
