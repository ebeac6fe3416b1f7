#pragma once
// GroupDriver: one way to drive a replication group on the simulator, shared
// by the scenario tests (tests/scenarios: commands as text), mosaik-group-sim
// (scripted scenarios) and mosaik-torture (a seeded fault campaign), so that
// the three do not each keep a harness of their own. It owns the simulator,
// the network and the GroupWorld (which checks Raft's invariants) and gives
// them the verbs all three use: members started, crashed and restarted; the
// network cut between two sides or set link by link; runs until a condition
// holds, with a livelock watchdog; a leader awaited among some members; client
// commands proposed and their acknowledgements kept, to check at the end that
// none was lost. It prints nothing: each user keeps its own output.
//
// Nothing here draws from the simulator's random source or schedules an event
// that the world's own calls would not: a program that moves onto the driver
// keeps its trace hash.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/sim/network.hpp>
#include <mosaik/sim/simulator.hpp>
#include <mosaik/testing/group_world.hpp>

namespace mosaik::testing {

template <StateMachine SM, template <class> class StrategyFor = sync::LogReplaySync>
class GroupDriver {
public:
  using World = GroupWorld<SM, StrategyFor>;
  using GroupType = typename World::GroupType;
  using Member = typename World::Member;
  using Options = typename World::Options;
  using Command = typename SM::Command;
  /// An operation's answer, once it came.
  template <class T>
  using Pending = std::shared_ptr<std::optional<group::Result<T>>>;

  /// Commands a client submitted through one member, and the group's answer.
  struct Proposal {
    PeerId via;
    std::vector<Command> commands;
    std::variant<Pending<Index>, Pending<IndexRange>> answer;

    [[nodiscard]] bool answered() const {
      return std::visit([](const auto& pending) { return pending->has_value(); }, answer);
    }
    /// Where the group acknowledged the commands (nothing: not, or not yet).
    [[nodiscard]] std::optional<IndexRange> acknowledged() const {
      if (const auto* one = std::get_if<Pending<Index>>(&answer)) {
        return *one && **one && (**one)->ok() ? std::optional{IndexRange::starting_at((**one)->value(), 1)}
                                              : std::nullopt;
      }
      const auto& many = std::get<Pending<IndexRange>>(answer);
      return *many && (*many)->ok() ? std::optional{(*many)->value()} : std::nullopt;
    }
  };

  /// A world seeded with `seed` whose links are `link` until told otherwise.
  explicit GroupDriver(std::uint64_t seed, const sim::LinkConfig& link = {})
      : simulator_(seed), network_(simulator_), world_(simulator_, network_) {
    network_.set_default_link(link);
  }
  GroupDriver(const GroupDriver&) = delete;
  GroupDriver& operator=(const GroupDriver&) = delete;

  [[nodiscard]] World& world() noexcept { return world_; }
  [[nodiscard]] const World& world() const noexcept { return world_; }
  [[nodiscard]] sim::Simulator& simulator() noexcept { return simulator_; }
  [[nodiscard]] sim::Network& network() noexcept { return network_; }
  [[nodiscard]] TimePoint now() const noexcept { return simulator_.now(); }

  // ---- members -----------------------------------------------------------------------

  Member& add(PeerId id, Options options) { return world_.add(id, std::move(options)); }
  GroupType& start(PeerId id) { return world_.start(id); }
  void crash(PeerId id) { world_.crash(id); }
  GroupType& restart(PeerId id) { return world_.restart(id); }

  [[nodiscard]] GroupType* group(PeerId id) { return world_.group(id); }
  [[nodiscard]] GroupType& operator[](PeerId id) { return world_[id]; }
  [[nodiscard]] bool exists(PeerId id) const { return world_.members().contains(id); }
  /// Running now.
  [[nodiscard]] bool alive(PeerId id) const {
    const auto it = world_.members().find(id);
    return it != world_.members().end() && it->second->group != nullptr;
  }
  /// Started once and crashed since (restart() brings it back).
  [[nodiscard]] bool down(PeerId id) const {
    const auto it = world_.members().find(id);
    return it != world_.members().end() && it->second->started && it->second->group == nullptr;
  }

  /// Every member, in order.
  [[nodiscard]] std::vector<PeerId> members() const {
    return members_where([](const Member&) { return true; });
  }
  [[nodiscard]] std::vector<PeerId> live() const {
    return members_where([](const Member& member) { return member.group != nullptr; });
  }
  [[nodiscard]] std::vector<PeerId> crashed() const {
    return members_where([](const Member& member) { return member.started && member.group == nullptr; });
  }
  /// Added and never started (late joiners).
  [[nodiscard]] std::vector<PeerId> waiting() const {
    return members_where([](const Member& member) { return !member.started; });
  }

  // ---- the network ---------------------------------------------------------------------

  /// Cuts both directions of every link between a member of `a` and one of `b`.
  void partition(const std::vector<PeerId>& a, const std::vector<PeerId>& b) {
    for (const auto x : a) {
      for (const auto y : b) {
        network_.partition(x, y);
      }
    }
  }
  /// The link from `from` to `to` (one direction) from now on.
  void set_link(PeerId from, PeerId to, const sim::LinkConfig& link) { network_.set_link(from, to, link); }
  /// Both directions of every link between `peer` and the other members.
  void set_links_of(PeerId peer, const sim::LinkConfig& link) {
    for (const auto other : members()) {
      if (other != peer) {
        network_.set_link_both(peer, other, link);
      }
    }
  }
  /// Every link between two members, one direction after the other, and the default.
  void set_every_link(const sim::LinkConfig& link) {
    network_.set_default_link(link);
    const auto ids = members();
    for (const auto a : ids) {
      for (const auto b : ids) {
        if (a != b) {
          network_.set_link(a, b, link);
        }
      }
    }
  }
  void heal() { network_.heal_all(); }

  // ---- running ---------------------------------------------------------------------------

  /// Called before each look at a run's condition (to notice what no event reports).
  void on_step(std::function<void()> step) { on_step_ = std::move(step); }
  /// A run stops, and so do all later ones, once `steps` handlers in a row ran
  /// without virtual time moving (a livelock); `on_stuck` hears of it once.
  void stop_when_stuck(std::uint64_t steps, std::function<void()> on_stuck) {
    stall_limit_ = steps;
    on_stuck_ = std::move(on_stuck);
  }
  [[nodiscard]] bool stuck() const noexcept { return stuck_; }

  /// Runs until `done()` or `limit` passes; returns done() (false once stuck).
  bool run_until(const std::function<bool()>& done, Duration limit) {
    if (stuck_) {
      return false;
    }
    bool stopped = false;
    const auto finished = world_.run_until(
        [&] {
          if (stall_limit_ != 0 && stalled()) {
            stopped = true;
            return true;
          }
          if (on_step_) {
            on_step_();
          }
          return done();
        },
        limit);
    if (stopped) {
      if (on_stuck_) {
        on_stuck_();
      }
      return false;
    }
    return finished;
  }

  /// Lets `duration` of virtual time pass.
  void advance(Duration duration) {
    run_until([] { return false; }, duration);
  }

  /// Runs `operation` to completion (or `limit`): its result, untracked.
  template <class T>
  std::optional<T> await(asio::awaitable<T> operation, Duration limit) {
    auto out = std::make_shared<std::optional<T>>();
    world_.spawn(std::move(operation), out);
    run_until([&] { return out->has_value(); }, limit);
    return std::move(*out);
  }

  // ---- leaders -----------------------------------------------------------------------------

  /// The leader of the highest term among the live members of `side`.
  [[nodiscard]] std::optional<PeerId> leader_among(const std::vector<PeerId>& side) {
    std::optional<PeerId> best;
    Term best_term{};
    for (const auto id : side) {
      if (auto* group = world_.group(id); group && group->is_leader() && group->core().term() >= best_term) {
        best = id;
        best_term = group->core().term();
      }
    }
    return best;
  }

  /// Runs until one leader of `side` is known to every live member of it.
  std::optional<PeerId> await_leader(const std::vector<PeerId>& side, Duration limit) {
    const auto settled = [&] {
      const auto leader = leader_among(side);
      if (!leader) {
        return false;
      }
      for (const auto id : side) {
        if (auto* group = world_.group(id); group && group->leader() != leader) {
          return false;
        }
      }
      return true;
    };
    return run_until(settled, limit) ? leader_among(side) : std::nullopt;
  }

  /// Live, applied at least `target` and not catching up.
  [[nodiscard]] bool caught_up(PeerId id, Index target) {
    const auto* group = world_.group(id);
    return group != nullptr && group->applied() >= target && !group->core().syncing();
  }

  // ---- clients -------------------------------------------------------------------------------

  /// Submits `command` through `via` (Group::execute) and keeps the proposal.
  Pending<Index> propose(PeerId via, Command command) {
    auto out = std::make_shared<std::optional<group::Result<Index>>>();
    Proposal proposal{via, {command}, out};
    world_.spawn(world_[via].execute(std::move(command)), out);
    proposals_.push_back(std::move(proposal));
    return out;
  }
  /// Submits `commands` through `via` as one batch (Group::execute_many) and keeps the proposal.
  Pending<IndexRange> propose_many(PeerId via, std::vector<Command> commands) {
    auto out = std::make_shared<std::optional<group::Result<IndexRange>>>();
    Proposal proposal{via, commands, out};
    world_.spawn(world_[via].execute_many(std::move(commands)), out);
    proposals_.push_back(std::move(proposal));
    return out;
  }

  /// Every proposal so far, in the order they were made.
  [[nodiscard]] const std::vector<Proposal>& proposals() const noexcept { return proposals_; }
  [[nodiscard]] bool all_answered() const {
    return std::all_of(proposals_.begin(), proposals_.end(),
                       [](const Proposal& proposal) { return proposal.answered(); });
  }
  /// How many commands the group acknowledged.
  [[nodiscard]] std::uint64_t acknowledged_commands() const {
    std::uint64_t count = 0;
    for (const auto& proposal : proposals_) {
      if (proposal.acknowledged()) {
        count += proposal.commands.size();
      }
    }
    return count;
  }

  /// Whether `member`'s log still says what was acknowledged at `index`:
  /// committed there, and `command` at it (unless pruned below a snapshot).
  [[nodiscard]] bool holds(PeerId member, Index index, const Command& command) const {
    const auto& held = world_.members().at(member);
    if (held->group == nullptr || index > held->group->committed()) {
      return false;
    }
    const auto& log = *held->log;
    const auto* entry = log.get(index);
    if (entry == nullptr) { // below the log's base, a snapshot holds it
      return index <= (log.available().empty() ? log.last().index : log.available().first().prev());
    }
    const auto* user = entry->command.user();
    return user != nullptr && *user == command;
  }

private:
  template <class Pred>
  std::vector<PeerId> members_where(Pred pred) const {
    std::vector<PeerId> out;
    for (const auto& [id, member] : world_.members()) {
      if (pred(*member)) {
        out.push_back(id);
      }
    }
    return out;
  }

  /// Counts the handlers run at one virtual time; true once there were stall_limit_ in a row.
  bool stalled() {
    const auto now = simulator_.now();
    if (now != stall_at_) {
      stall_at_ = now;
      stall_steps_ = 0;
      return false;
    }
    stuck_ = ++stall_steps_ >= stall_limit_;
    return stuck_;
  }

  sim::Simulator simulator_;
  sim::Network network_;
  World world_;
  std::vector<Proposal> proposals_;
  std::function<void()> on_step_;
  std::uint64_t stall_limit_ = 0;
  std::function<void()> on_stuck_;
  TimePoint stall_at_{};
  std::uint64_t stall_steps_ = 0;
  bool stuck_ = false;
};

} // namespace mosaik::testing
