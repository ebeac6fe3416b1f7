#pragma once
// GroupWorld: a replication group on the simulator, for tests, examples and
// fault campaigns. It owns each member's storage (so a crashed member
// restarts with its log and hard state, as with durable storage), creates
// and destroys the Group objects, and checks Raft's safety rules all along:
//
//  - election safety: at most one leader per term;
//  - log matching: two logs holding an entry of the same term at the same
//    index hold the same entries up to it (checked on every commit);
//  - leader completeness: a new leader's log holds every entry committed before;
//  - state-machine safety: no two members apply different entries at one index.
//
// A violation is recorded (with time and detail) and counted; tests assert
// that there are none, and print the seed when there are.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mosaik/core/format.hpp>
#include <mosaik/core/hash.hpp>
#include <mosaik/group/group.hpp>
#include <mosaik/group/group_frame_codec.hpp>
#include <mosaik/sim/network.hpp>
#include <mosaik/sim/simulator.hpp>
#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/testing/group_network.hpp>

namespace mosaik::testing {

template <StateMachine SM, template <class> class StrategyFor = sync::LogReplaySync>
class GroupWorld {
public:
  using GroupType = group::Group<SM, StrategyFor>;
  using Strategy = typename GroupType::Strategy;
  using SnapshotStore = typename GroupType::SnapshotStore;
  using Command = typename SM::Command;
  using LogEntry = typename GroupType::LogEntry;
  using Message = typename GroupType::Message;
  using Options = typename GroupType::Options;

  struct Violation {
    TimePoint at;
    std::string invariant;
    std::string detail;
  };

  using Log = storage::LogStorage<group::LogCommand<Command>>;
  /// A member's log and hard state.
  struct Storage {
    std::unique_ptr<Log> log;
    std::unique_ptr<group::HardStateStorage> hard;
    std::unique_ptr<SnapshotStore> snapshots; // snapshot strategies (in memory when not given)
  };
  /// Makes (or reopens) a member's storage; the default keeps it in memory.
  using StorageFactory = std::function<Storage(PeerId)>;

  /// One member: its storage survives crashes; its Group does not.
  struct Member {
    PeerId id;
    Options options;
    std::unique_ptr<Log> log;
    std::unique_ptr<group::HardStateStorage> hard;
    std::unique_ptr<SnapshotStore> snapshots;
    std::unique_ptr<typename GroupNetwork<Message>::Endpoint> endpoint;
    std::unique_ptr<GroupType> group;
    std::uint64_t restarts = 0;
    /// Started once (a driver tells a crashed member from one not started yet).
    bool started = false;
  };

  GroupWorld(sim::Simulator& simulator, sim::Network& network)
      : simulator_(simulator), network_(network),
        hub_(simulator, network, [](const Message& message) { return wire::frame_size(message); }) {}
  GroupWorld(const GroupWorld&) = delete;
  GroupWorld& operator=(const GroupWorld&) = delete;
  ~GroupWorld() {
    for (auto& [id, member] : members_) {
      member->group.reset();
    }
  }

  /// Members added from now on keep their storage in what `factory` makes.
  /// With `reopen_on_restart`, a crash closes the storage and a restart
  /// opens it again (durable stores then recover from their files).
  void set_storage(StorageFactory factory, bool reopen_on_restart) {
    storage_factory_ = std::move(factory);
    reopen_on_restart_ = reopen_on_restart;
  }

  /// Adds a member (not started). Its seed comes from the simulator unless set.
  Member& add(PeerId id, Options options) {
    if (options.seed == 0) {
      options.seed = simulator_.random().next();
    }
    auto member = std::make_unique<Member>();
    member->id = id;
    member->options = std::move(options);
    open_storage(*member);
    auto& ref = *member;
    members_[id] = std::move(member);
    network_.add_node(id);
    return ref;
  }

  /// Creates and starts the member's Group (again after a crash).
  GroupType& start(PeerId id) {
    auto& member = *members_.at(id);
    member.group.reset();
    member.endpoint = hub_.endpoint(id);
    if (!member.log) {
      open_storage(member);
    }
    if constexpr (GroupType::snapshots) {
      member.group = std::make_unique<GroupType>(*member.endpoint, *member.log, *member.hard,
                                                 *member.snapshots, member.options);
    } else {
      member.group = std::make_unique<GroupType>(*member.endpoint, *member.log, *member.hard, member.options);
    }
    // A member that restored a snapshot applies from after it.
    last_applied_[id] = member.group->applied();
    observe(member);
    member.started = true;
    member.group->start();
    return *member.group;
  }

  /// Takes the member down: its Group is destroyed (volatile state lost),
  /// its storage kept, the network drops its traffic.
  void crash(PeerId id) {
    auto& member = *members_.at(id);
    member.group.reset();
    member.endpoint.reset();
    if (reopen_on_restart_) {
      member.log.reset();
      member.hard.reset();
      member.snapshots.reset();
    }
    last_applied_.erase(id);
    network_.crash(id);
    simulator_.trace("crash", id.value());
  }

  /// Brings a crashed member back with its stored log and hard state.
  GroupType& restart(PeerId id) {
    network_.restart(id);
    ++members_.at(id)->restarts;
    simulator_.trace("restart", id.value());
    return start(id);
  }

  [[nodiscard]] GroupType* group(PeerId id) {
    const auto it = members_.find(id);
    return it == members_.end() ? nullptr : it->second->group.get();
  }
  [[nodiscard]] GroupType& operator[](PeerId id) { return *members_.at(id)->group; }
  [[nodiscard]] Member& member(PeerId id) { return *members_.at(id); }
  [[nodiscard]] const std::map<PeerId, std::unique_ptr<Member>>& members() const noexcept { return members_; }
  [[nodiscard]] sim::Simulator& simulator() noexcept { return simulator_; }
  [[nodiscard]] sim::Network& network() noexcept { return network_; }
  [[nodiscard]] GroupNetwork<Message>& hub() noexcept { return hub_; }

  /// The live members that consider themselves leader (of their term).
  [[nodiscard]] std::vector<PeerId> leaders() const {
    std::vector<PeerId> out;
    for (const auto& [id, member] : members_) {
      if (member->group && member->group->is_leader()) {
        out.push_back(id);
      }
    }
    return out;
  }
  /// The leader of the highest term among live members, if any.
  [[nodiscard]] std::optional<PeerId> leader() const {
    std::optional<PeerId> best;
    Term best_term{};
    for (const auto& [id, member] : members_) {
      if (member->group && member->group->is_leader() && member->group->core().term() >= best_term) {
        best = id;
        best_term = member->group->core().term();
      }
    }
    return best;
  }

  /// Runs until `done()` or `limit` of simulated time passes; returns done().
  bool run_until(const std::function<bool()>& done, Duration limit) {
    simulator_.run_while([&] { return !done(); }, simulator_.now() + limit);
    return done();
  }

  /// Spawns `operation` (an awaitable) on the simulator and stores its result in `out`.
  template <class T>
  void spawn(asio::awaitable<T> operation, std::shared_ptr<std::optional<T>> out) {
    asio::co_spawn(simulator_.executor(), std::move(operation), [out](std::exception_ptr error, T value) {
      if (error) {
        std::rethrow_exception(error);
      }
      *out = std::move(value);
    });
  }
  /// Runs `operation` to completion (or `limit`), returning its result.
  template <class T>
  std::optional<T> await(asio::awaitable<T> operation, Duration limit = 60s) {
    auto out = std::make_shared<std::optional<T>>();
    spawn(std::move(operation), out);
    run_until([&] { return out->has_value(); }, limit);
    return std::move(*out);
  }

  // ---- invariants ------------------------------------------------------------

  [[nodiscard]] const std::vector<Violation>& violations() const noexcept { return violations_; }
  /// Every violation as text (empty when none), with the seed to replay.
  [[nodiscard]] std::string violation_report() const {
    std::string out;
    for (const auto& violation : violations_) {
      out += fmt::format(
          "[seed {} t={}ms] {}: {}\n", simulator_.seed(),
          std::chrono::duration_cast<std::chrono::milliseconds>(violation.at.time_since_epoch()).count(),
          violation.invariant, violation.detail);
    }
    return out;
  }
  /// Elections won, per term (term → leader).
  [[nodiscard]] const std::map<Term, PeerId>& leaders_by_term() const noexcept { return leaders_by_term_; }

  /// Checks log matching across every live pair of members, from scratch
  /// (costly: for the end of a test, not for each step).
  void check_logs() {
    for (auto a = members_.begin(); a != members_.end(); ++a) {
      for (auto b = std::next(a); b != members_.end(); ++b) {
        check_log_matching(*a->second, *b->second);
      }
    }
  }

  /// Whether every live member applied the same commands up to the same index.
  [[nodiscard]] bool converged() const {
    std::optional<Index> applied;
    for (const auto& [id, member] : members_) {
      if (!member->group) {
        continue;
      }
      if (applied && member->group->applied() != *applied) {
        return false;
      }
      applied = member->group->applied();
    }
    return true;
  }

private:
  void observe(Member& member) {
    const auto id = member.id;
    member.group->on_event([this, id](const group::GroupEvent& event) {
      simulator_.trace("group-event", id.value(), static_cast<std::uint64_t>(event.kind), event.term.value());
      if (event.kind == group::GroupEvent::Kind::role_changed && event.role == group::Role::leader) {
        on_elected(id, event.term);
      } else if (event.kind == group::GroupEvent::Kind::committed) {
        on_committed(id, event.index);
      } else if (event.kind == group::GroupEvent::Kind::snapshot_installed) {
        last_applied_[id] = event.index; // the state up to it came whole
      }
      if (event_observer_) {
        event_observer_(id, event);
      }
    });
    member.group->on_apply([this, id](Index index, const LogEntry& entry) { on_applied(id, index, entry); });
  }

public:
  /// Also receive every member's events (timelines).
  void on_event(std::function<void(PeerId, const group::GroupEvent&)> observer) {
    event_observer_ = std::move(observer);
  }

private:
  void violation(std::string invariant, std::string detail) {
    log::error("invariant violated: {}: {}", invariant, detail);
    violations_.push_back(Violation{simulator_.now(), std::move(invariant), std::move(detail)});
  }

  void on_elected(PeerId id, Term term) {
    const auto [it, inserted] = leaders_by_term_.emplace(term, id);
    if (!inserted && it->second != id) {
      violation("election safety", fmt::format("term {} has two leaders: {} and {}", term, it->second, id));
    }
    // Leader completeness: every entry committed so far is in the new leader's log.
    const auto& log = *members_.at(id)->log;
    // Below its log's base, a leader's state comes from a snapshot of committed entries.
    const auto base = log.available().empty() ? log.last().index : log.available().first().prev();
    for (const auto& [index, record] : committed_) {
      if (index <= base) {
        continue;
      }
      const auto term_held = log.term_at(index);
      if (!term_held || *term_held != record.term) {
        violation("leader completeness",
                  fmt::format("leader {} of term {} lacks committed entry {} (t{}); holds {}", id, term,
                              index, record.term,
                              term_held ? fmt::format("t{}", *term_held) : std::string{"nothing"}));
        return;
      }
    }
  }

  struct Record {
    Term term;
    PeerId member; // the first to commit it
  };

  void on_committed(PeerId id, Index commit) {
    // Each index is committed with one term, whoever commits it (state-machine safety at the log level).
    const auto& log = *members_.at(id)->log;
    auto& checked = commit_checked_[id];
    for (auto index = checked.next(); index <= commit; index = index.next()) {
      const auto term = log.term_at(index);
      if (!term) {
        continue; // pruned
      }
      const auto [it, inserted] = committed_.emplace(index, Record{*term, id});
      if (!inserted && it->second.term != *term) {
        violation("state-machine safety",
                  fmt::format("member {} committed t{} at {}; member {} committed t{}", id, *term, index,
                              it->second.member, it->second.term));
        break;
      }
    }
    checked = std::max(checked, commit);
  }

  void on_applied(PeerId id, Index index, const LogEntry& entry) {
    const auto hash = entry_hash(entry);
    const auto previous = last_applied_[id];
    if (index != previous.next()) {
      violation("apply order", fmt::format("member {} applied {} after {}", id, index, previous));
    }
    last_applied_[id] = index;
    const auto [it, inserted] = applied_hashes_.emplace(index, std::pair{id, hash});
    if (!inserted && it->second.second != hash) {
      violation("state-machine safety", fmt::format("members {} and {} applied different entries at {}",
                                                    it->second.first, id, index));
    }
  }

  void check_log_matching(const Member& a, const Member& b) {
    const auto last = std::min(a.log->last().index, b.log->last().index);
    // Find the highest index where both hold the same term; all below must be equal.
    for (auto index = last; !index.is_sentinel(); index = index.prev()) {
      const auto ta = a.log->term_at(index);
      const auto tb = b.log->term_at(index);
      if (ta && tb && *ta == *tb) {
        for (auto i = Index{1}; i <= index; i = i.next()) {
          const auto* ea = a.log->get(i);
          const auto* eb = b.log->get(i);
          if (ea && eb && (ea->term != eb->term || entry_hash(*ea) != entry_hash(*eb))) {
            violation("log matching", fmt::format("members {} and {} agree at {} (t{}) but differ at {}",
                                                  a.id, b.id, index, *ta, i));
            return;
          }
        }
        return;
      }
    }
  }

  /// A hash of an entry's term and the bytes that identify its command.
  static std::uint64_t entry_hash(const LogEntry& entry) {
    std::uint64_t hash = kFnv1aOffset ^ entry.term.value();
    const auto mix = [&hash](const void* data, std::size_t size) {
      hash = fnv1a(std::span{static_cast<const unsigned char*>(data), size}, hash);
    };
    const auto index = entry.command.body.index();
    mix(&index, sizeof index);
    if (const auto* user = entry.command.user()) {
      if constexpr (requires { std::hash<Command>{}(*user); }) {
        const auto h = std::hash<Command>{}(*user);
        mix(&h, sizeof h);
      } else if constexpr (std::is_trivially_copyable_v<Command>) {
        mix(user, sizeof *user);
      } else if constexpr (requires {
                             user->key;
                             user->value;
                           }) {
        mix(user->key.data(), user->key.size());
        mix(user->value.data(), user->value.size());
      }
    }
    return hash;
  }

  sim::Simulator& simulator_;
  sim::Network& network_;
  GroupNetwork<Message> hub_;
  void open_storage(Member& member) {
    if (storage_factory_) {
      auto storage = storage_factory_(member.id);
      member.log = std::move(storage.log);
      member.hard = std::move(storage.hard);
      member.snapshots = std::move(storage.snapshots);
    } else {
      member.log = std::make_unique<storage::InMemoryLog<group::LogCommand<Command>>>();
      member.hard = std::make_unique<group::InMemoryHardState>();
    }
    if (!member.snapshots) {
      member.snapshots = std::make_unique<storage::InMemorySnapshotStore<typename GroupType::SnapshotItem>>();
    }
  }

  StorageFactory storage_factory_;
  bool reopen_on_restart_ = false;
  std::map<PeerId, std::unique_ptr<Member>> members_;
  std::vector<Violation> violations_;
  std::map<Term, PeerId> leaders_by_term_;
  std::map<Index, Record> committed_;
  std::map<Index, std::pair<PeerId, std::uint64_t>> applied_hashes_;
  std::map<PeerId, Index> last_applied_;
  std::map<PeerId, Index> commit_checked_;
  std::function<void(PeerId, const group::GroupEvent&)> event_observer_;
};

} // namespace mosaik::testing
