#pragma once
// Group: one member of a replication group. It drives a RaftCore with the
// events of a Transport and a TimerService, applies committed commands to the
// state machine in order, exactly once, runs the catch-up strategy's provider
// for the group's whole life and opens a catch-up session whenever the core
// asks for one. The client API is made of awaitables that answer with
// Result<T>; nothing throws.
//
// All of it runs on the transport's executor: no hidden threads. The same
// Group runs on the simulator and over TCP.

#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>

#include <mosaik/core/format.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/core/state_machine.hpp>
#include <mosaik/group/group_id.hpp>
#include <mosaik/group/group_message_codec.hpp> // the log commands' encodings (FileLog, TCP)
#include <mosaik/group/group_sync_contexts.hpp>
#include <mosaik/group/raft_core.hpp>
#include <mosaik/group/snapshot_lifecycle.hpp>
#include <mosaik/group/transport.hpp>
#include <mosaik/group/waiters.hpp>
#include <mosaik/storage/snapshot_store.hpp>
#include <mosaik/sync/log_replay/log_replay_sync.hpp>
#include <mosaik/sync/snapshot/snapshot_sync.hpp>
#include <mosaik/sync/state_sync.hpp>

namespace mosaik::group {

enum class Consistency : std::uint8_t {
  weak,   ///< the local state, possibly stale
  strong, ///< linearizable: the leader confirms its leadership first (read index)
};

/// A state machine that answers typed queries (for Group::query).
template <class SM>
concept Queryable = requires(const SM& machine, const typename SM::Query& query) {
  {machine.query(query)};
};

/// What a member reports to whoever watches it (timelines, tests, metrics).
struct GroupEvent {
  enum class Kind : std::uint8_t {
    role_changed,       ///< role and term
    leader_changed,     ///< leader (nullopt: none known) and term
    sync_started,       ///< target
    sync_finished,      ///< outcome and progress of the session
    committed,          ///< the commit index advanced to `index`
    snapshot_taken,     ///< a snapshot of the state at `index` was saved (and offered)
    snapshot_installed, ///< the state was replaced by a snapshot at `index` (applied jumps there)
  };
  Kind kind{};
  Term term;
  Role role{};
  std::optional<PeerId> leader;
  Index index;
  Cursor target;
  std::optional<sync::SyncOutcome> outcome;
  std::optional<sync::SyncProgress> progress;
};

/// One member running `SM`, catching up with the strategy `StrategyFor`
/// (sync::LogReplaySync or sync::SnapshotSync; the strategy sees the
/// replicated machine, Replicated<SM>, whose commands are the log's).
template <StateMachine SM, template <class> class StrategyFor = sync::LogReplaySync>
requires sync::StateSync<StrategyFor<Replicated<SM>>> &&
    std::same_as<typename StrategyFor<Replicated<SM>>::Command, LogCommand<typename SM::Command>>
class Group {
public:
  using Strategy = StrategyFor<Replicated<SM>>;
  /// Whether this group catches up by snapshot (and so takes, offers,
  /// persists, installs snapshots and prunes its log).
  static constexpr bool snapshots = sync::SnapshotStrategy<Strategy>;
  using SnapshotItem = typename sync::SnapshotItemOf<Strategy>::type;
  using SnapshotStore = storage::SnapshotStore<SnapshotItem>;
  using Command = typename SM::Command;
  using LogEntry = Entry<LogCommand<Command>>;
  using SyncMessage = typename Strategy::Message;
  using Message = GroupMessage<Command, SyncMessage>;
  using TransportType = Transport<Message>;
  using Log = storage::LogStorage<LogCommand<Command>>;
  using Core = RaftCore<Command>;

  struct Options {
    /// Names the group; members with different keys never form one.
    std::string key = "mosaik";
    GroupConfig config;
    Strategy strategy{};
    /// Seeds the election jitter and request ids (0: from std::random_device;
    /// the simulator passes its own, for replay).
    std::uint64_t seed = 0;
    /// How long execute/query wait for their entry to be applied.
    Duration commit_timeout = 30s;
    NetworkId network{1};
  };

  /// A member on `transport`, storing its log and hard state in the given
  /// storages (they outlive the Group; a restarted member passes the same).
  Group(TransportType& transport, Log& log, HardStateStorage& hard, Options options,
        SM machine = SM{}) requires(!snapshots)
      : Group(transport, log, hard, nullptr, std::move(options), std::move(machine)) {}

  /// A member of a group that catches up by snapshot: its latest snapshot is
  /// kept in `snapshots` too (it outlives the Group), and restored on start.
  Group(TransportType& transport, Log& log, HardStateStorage& hard, SnapshotStore& snapshot_store,
        Options options, SM machine = SM{}) requires snapshots
      : Group(transport, log, hard, &snapshot_store, std::move(options), std::move(machine)) {}

private:
  Group(TransportType& transport, Log& log, HardStateStorage& hard, SnapshotStore* snapshot_store,
        Options options, SM machine)
      : transport_(transport), log_(log), hard_(hard), options_(std::move(options)),
        machine_(std::move(machine)), group_id_(id_for(options_, machine_)),
        seed_(options_.seed != 0 ? options_.seed : random_seed()),
        core_(options_.config, transport.self(), log, hard, seed_, transport.timers().now()),
        snapshot_lifecycle_(snapshot_store, machine_, log, core_, options_.key, transport.self()),
        session_context_(*this), provider_context_(*this),
        waiters_(transport.executor(), transport.timers()) {
    // Request ids are remembered by the leader to answer duplicates: a
    // restarted member must not reuse its previous life's ids, so each life
    // starts at a random 32-bit incarnation (mixed with the start time).
    const auto incarnation =
        splitmix64(seed_ ^ static_cast<std::uint64_t>(transport.timers().now().time_since_epoch().count()));
    next_request_ = (incarnation & 0xffffffffULL) << 32;
    provider_ = options_.strategy.create_provider(provider_context_);
    core_.set_snapshot_catch_up(snapshots);
    if constexpr (snapshots) {
      if (const auto restored = snapshot_lifecycle_.restore()) {
        applied_ = *restored;
      }
    }
  }

public:
  /// The id of the group members with these options form: what a transport
  /// must know (to refuse other groups) before the Group exists.
  [[nodiscard]] static GroupId id_for(const Options& options, const SM& machine = SM{}) {
    return derive_group_id(
        {options.key, machine.signature(), options.strategy.signature(), options.config.signature()});
  }

  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
  ~Group() { stop(); }

  /// Starts taking messages and time. Committed entries already in storage
  /// are applied (a restarted member rebuilds its state).
  void start() {
    if (started_) {
      return;
    }
    started_ = true;
    // The state must reach the log's first entry: a pruned log whose snapshot
    // is lost (damaged, removed) cannot rebuild it. Running anyway would
    // serve a state missing committed entries; refusing is the honest end.
    const auto held = log_.available();
    const auto base = held.empty() ? log_.last().index : held.first().prev();
    if (base > applied_) {
      refused_ = fmt::format("its log begins after index {} but its state reaches only index {} (no snapshot "
                             "covers the pruned entries); restore its snapshot, or clear its storage to "
                             "rejoin as a new member",
                             base, applied_);
      log::error("group {}: member {} refuses to start: {}", options_.key, self(), refused_);
      stop();
      return;
    }
    receiving_ =
        transport_.receive([this](PeerId from, Message message) { on_message(from, std::move(message)); });
    bonds_ = transport_.watch_bonds([this](const BondEvent& event) {
      if (!stopped_ && event.kind == BondEvent::Kind::bonded) {
        core_.on_connected(event.peer, now());
        pump();
      }
    });
    log::info("group {}: member {} starting (group id {}, log {}, commit {})", options_.key, self(),
              group_id_, log_.last(), core_.commit());
    pump();
  }

  /// Stops: pending operations complete with Errc::stopped, the session is
  /// cancelled, nothing more is sent.
  void stop() {
    if (stopped_) {
      return;
    }
    stopped_ = true;
    receiving_.reset();
    bonds_.reset();
    if (timer_) {
      transport_.timers().cancel(*timer_);
      timer_.reset();
    }
    if (session_) {
      session_->cancel();
    }
    waiters_.stop();
  }

  // ---- client API ------------------------------------------------------------

  // (Each call below is a plain function that moves its arguments into the
  // coroutine doing the work, as named objects of class type: GCC 12 copies a
  // coroutine's by-value parameter wrongly when the argument is a temporary or
  // a lambda; a KvStore query's string was freed twice.)

  /// Appends `command`; completes with its index once committed and applied here.
  asio::awaitable<Result<Index>> execute(Command command) { return submit_one(std::move(command), true); }
  /// Appends `commands` at consecutive indices; completes once all are applied here.
  asio::awaitable<Result<IndexRange>> execute_many(std::vector<Command> commands) {
    return submit(std::move(commands), true);
  }
  /// Appends `command`; completes with its index as soon as the leader assigned it.
  asio::awaitable<Result<Index>> feed(Command command) { return submit_one(std::move(command), false); }
  asio::awaitable<Result<IndexRange>> feed_many(std::vector<Command> commands) {
    return submit(std::move(commands), false);
  }

  /// Reads the state machine: `reader(const SM&)`, weakly (local) or strongly (linearizable).
  template <class Reader>
  asio::awaitable<Result<std::invoke_result_t<Reader&, const SM&>>> read(Reader reader,
                                                                         Consistency consistency) {
    auto owned = std::make_unique<Reader>(std::move(reader));
    return read_with(std::move(owned), consistency);
  }

  /// The state machine's answer to `query`.
  template <class Q = SM>
  requires Queryable<Q>
  auto query(typename Q::Query query, Consistency consistency) {
    return read([query = std::move(query)](const SM& machine) { return machine.query(query); }, consistency);
  }

  /// Adds `peer` as a learner (promoted to voter once caught up); on the leader only.
  asio::awaitable<Result<Index>> add_member(PeerId peer, Preference preference = Preference::normal) {
    co_return co_await change([&] { return core_.add_member(peer, preference, now()); });
  }
  asio::awaitable<Result<Index>> remove_member(PeerId peer) {
    co_return co_await change([&] { return core_.remove_member(peer, now()); });
  }

  // ---- observers -----------------------------------------------------------

  [[nodiscard]] PeerId self() const { return transport_.self(); }
  [[nodiscard]] GroupId id() const noexcept { return group_id_; }
  [[nodiscard]] bool is_leader() const noexcept { return core_.role() == Role::leader; }
  [[nodiscard]] std::optional<PeerId> leader() const noexcept { return core_.leader(); }
  /// A leader is known and this member is not catching up.
  [[nodiscard]] bool is_online() const noexcept { return !stopped_ && core_.leader() && !core_.syncing(); }
  /// Stopped (by stop(), a storage failure, or a refusal to start).
  [[nodiscard]] bool stopped() const noexcept { return stopped_; }
  /// Why start() refused to run this member (empty when it did not).
  [[nodiscard]] const std::string& refusal() const noexcept { return refused_; }
  [[nodiscard]] Index committed() const noexcept { return core_.commit(); }
  [[nodiscard]] Index applied() const noexcept { return applied_; }
  [[nodiscard]] Cursor last() const { return log_.last(); }
  [[nodiscard]] const SM& machine() const noexcept { return machine_; }
  [[nodiscard]] const Core& core() const noexcept { return core_; }
  [[nodiscard]] const Log& log() const noexcept { return log_; }
  [[nodiscard]] const typename Strategy::Provider& provider() const noexcept { return *provider_; }
  /// Where the latest snapshot this member saved was taken (snapshot strategies).
  [[nodiscard]] std::optional<Cursor> snapshot_at() const noexcept { return snapshot_lifecycle_.at(); }
  /// Messages dropped because they came from another group.
  [[nodiscard]] std::uint64_t foreign_messages() const noexcept { return foreign_messages_; }

  asio::awaitable<Result<PeerId>> when_online() {
    co_return co_await leader_when([this] { return is_online(); });
  }
  asio::awaitable<Result<PeerId>> when_leader_elected() {
    co_return co_await leader_when([this] { return core_.leader().has_value(); });
  }
  /// Completes when the leader differs from the one known now (and one is known).
  asio::awaitable<Result<PeerId>> when_leader_changed() {
    const auto current = core_.leader();
    co_return co_await leader_when([this, current] { return core_.leader() && core_.leader() != current; });
  }
  asio::awaitable<Result<PeerId>> when_leader_is(PeerId peer) {
    co_return co_await leader_when([this, peer] { return core_.leader() == peer; });
  }
  asio::awaitable<Result<Index>> when_log_reaches(Index index) {
    co_return co_await index_when([this, index] { return log_.last().index >= index; },
                                  [this] { return log_.last().index; });
  }
  asio::awaitable<Result<Index>> when_committed(Index index) {
    co_return co_await index_when([this, index] { return core_.commit() >= index; },
                                  [this] { return core_.commit(); });
  }
  asio::awaitable<Result<Index>> when_applied(Index index) {
    co_return co_await index_when([this, index] { return applied_ >= index; }, [this] { return applied_; });
  }

  /// Reports role, leader, commit and catch-up events (one observer).
  void on_event(std::function<void(const GroupEvent&)> observer) { observer_ = std::move(observer); }
  /// Called for every entry applied, in order (the runtime's own entries too).
  void on_apply(std::function<void(Index, const LogEntry&)> observer) {
    apply_observer_ = std::move(observer);
  }
  /// The progress of the running catch-up session, if any.
  [[nodiscard]] std::optional<sync::SyncProgress> sync_progress() const {
    return session_ && !session_done_ ? std::optional{session_->progress()} : std::nullopt;
  }

private:
  // ---- the two sync contexts (group_sync_contexts.hpp) ----------------------------

  template <class, class>
  friend class GroupSessionContext;
  template <class>
  friend class GroupSnapshotSessionContext;
  template <class, class>
  friend class GroupProviderContext;
  template <class>
  friend class GroupSnapshotProviderContext;
  using SessionContext = GroupSessionContextOf<Group>;
  using ProviderContext = GroupProviderContextOf<Group>;

  // ---- waiting -------------------------------------------------------------------

  asio::awaitable<Result<PeerId>> leader_when(std::function<bool()> ready) {
    if (auto error = co_await waiters_.wait(std::move(ready), std::nullopt)) {
      co_return Result<PeerId>{*error};
    }
    co_return Result<PeerId>{core_.leader().value_or(self())};
  }

  asio::awaitable<Result<Index>> index_when(std::function<bool()> ready, std::function<Index()> value) {
    if (auto error = co_await waiters_.wait(std::move(ready), std::nullopt)) {
      co_return Result<Index>{*error};
    }
    co_return Result<Index>{value()};
  }

  // ---- client operations -----------------------------------------------------------

  asio::awaitable<Result<IndexRange>> submit(std::vector<Command> commands, bool wait_applied) {
    if (stopped_) {
      co_return Result<IndexRange>{Errc::stopped};
    }
    if (commands.empty()) {
      co_return Result<IndexRange>{Errc::empty_batch};
    }
    Proposal proposal;
    if (core_.role() == Role::leader) {
      auto result = core_.propose(std::move(commands), now());
      pump();
      if (!result) {
        co_return Result<IndexRange>{result.error()};
      }
      proposal = *result;
    } else {
      const auto leader = core_.leader();
      if (!leader) {
        co_return Result<IndexRange>{Error{Errc::offline, fmt::format("peer {} knows no leader", self())}};
      }
      const auto id = ++next_request_;
      awaiting_forwards_[id];
      send_consensus(*leader, ForwardRequest<Command>{id, std::move(commands)});
      auto error = co_await waiters_.wait([this, id] { return awaiting_forwards_[id].has_value(); },
                                          options_.config.forward_timeout);
      if (error == Errc::stopped) {
        co_return Result<IndexRange>{Errc::stopped}; // the Group may be gone: touch nothing
      }
      auto response = std::move(awaiting_forwards_[id]);
      awaiting_forwards_.erase(id);
      if (error) {
        co_return Result<IndexRange>{Error{*error, fmt::format("forwarding to leader {}", *leader)}};
      }
      if (response->error) {
        co_return Result<IndexRange>{Error{*response->error, fmt::format("leader {} answered", *leader)}};
      }
      proposal = Proposal{response->range, response->term};
    }
    if (!wait_applied) {
      co_return Result<IndexRange>{proposal.range};
    }
    const auto last = proposal.range.last();
    if (auto error =
            co_await waiters_.wait([this, last] { return applied_ >= last; }, options_.commit_timeout)) {
      co_return Result<IndexRange>{*error};
    }
    if (log_.term_at(last) != proposal.term) {
      co_return Result<IndexRange>{
          Error{Errc::lost, fmt::format("index {} holds another term's entry", last)}};
    }
    co_return Result<IndexRange>{proposal.range};
  }

  asio::awaitable<Result<Index>> read_index() {
    if (stopped_) {
      co_return Result<Index>{Errc::stopped};
    }
    const auto id = ++next_request_;
    awaiting_reads_[id];
    if (core_.role() == Role::leader) {
      core_.request_read(id, now());
      pump();
    } else if (const auto leader = core_.leader()) {
      send_consensus(*leader, ReadIndexRequest{id});
    } else {
      awaiting_reads_.erase(id);
      co_return Result<Index>{Error{Errc::offline, fmt::format("peer {} knows no leader", self())}};
    }
    auto error = co_await waiters_.wait([this, id] { return awaiting_reads_[id].has_value(); },
                                        options_.config.forward_timeout);
    if (error == Errc::stopped) {
      co_return Result<Index>{Errc::stopped}; // the Group may be gone: touch nothing
    }
    auto ready = std::move(awaiting_reads_[id]);
    awaiting_reads_.erase(id);
    if (error) {
      co_return Result<Index>{*error};
    }
    if (ready->error) {
      co_return Result<Index>{*ready->error};
    }
    co_return Result<Index>{ready->read_index};
  }

  template <class Change>
  asio::awaitable<Result<Index>> change(Change&& make) {
    if (stopped_) {
      co_return Result<Index>{Errc::stopped};
    }
    auto index = make();
    pump();
    if (!index) {
      co_return index;
    }
    const auto at = *index;
    const auto term = core_.term();
    if (auto error = co_await waiters_.wait([this, at] { return applied_ >= at; }, options_.commit_timeout)) {
      co_return Result<Index>{*error};
    }
    if (log_.term_at(at) != term) {
      co_return Result<Index>{Errc::lost};
    }
    co_return Result<Index>{at};
  }

  // ---- the event loop --------------------------------------------------------------

  void on_message(PeerId from, Message message) {
    if (stopped_) {
      return;
    }
    if (message.group != group_id_) {
      if (foreign_messages_++ % 1000 == 0) {
        log::error("group {}: refusing messages from peer {}: it belongs to group {}, we are {} (key, state "
                   "machine, sync strategy or consensus timing differ); {} refused so far",
                   options_.key, from, message.group, group_id_, foreign_messages_);
      }
      return;
    }
    if (auto* consensus = std::get_if<0>(&message.body)) {
      if (auto* forwarded = std::get_if<ForwardResponse>(consensus)) {
        if (auto it = awaiting_forwards_.find(forwarded->request_id); it != awaiting_forwards_.end()) {
          it->second = *forwarded;
        }
      } else if (auto* read = std::get_if<ReadIndexResponse>(consensus)) {
        if (auto it = awaiting_reads_.find(read->request_id); it != awaiting_reads_.end()) {
          it->second = typename Core::ReadReady{read->request_id, read->read_index, read->error};
        }
      } else {
        core_.step(from, std::move(*consensus), now());
      }
    } else {
      auto& sync_message = std::get<1>(message.body);
      if (Strategy::is_request(sync_message)) {
        if (auto response = provider_->answer(from, sync_message)) {
          send_sync(from, std::move(*response));
        }
      } else if (session_ && !session_done_) {
        session_->receive(from, std::move(sync_message));
      }
    }
    pump();
  }

  void on_timer() {
    timer_.reset();
    if (stopped_) {
      return;
    }
    core_.tick(now());
    pump();
  }

  /// Carries out everything the core decided, applies what committed and re-arms the timer.
  void pump() {
    if (stopped_ || pumping_) {
      return;
    }
    pumping_ = true;
    if constexpr (snapshots) {
      provider_->expire(now());
      snapshot_lifecycle_.propose_periodic(options_.strategy.config().snapshot_interval, applied_, now());
    }
    auto ready = core_.ready();
    // Durable before anything that depends on it leaves: acknowledgements of
    // appended entries, the leader's AppendEntries (so that counting itself
    // in a quorum is honest). One sync per pump: group commit. Votes and
    // terms are saved by the core itself before it queues the message.
    if (ready.must_sync) {
      log_.sync();
    }
    if (log_.failed() || hard_.failed()) {
      log::error("group {}: member {} stops: its storage failed ({}); nothing more is acknowledged",
                 options_.key, self(),
                 log_.failed() ? log_.failure() : std::string{"the hard state could not be saved"});
      pumping_ = false;
      stop();
      return;
    }
    for (auto& outgoing : ready.messages) {
      send_consensus(outgoing.peer, std::move(outgoing.message));
    }
    if (ready.cancel_sync && session_ && !session_done_) {
      session_->cancel();
    }
    if (ready.sync_start) {
      open_session(std::move(*ready.sync_start));
    }
    for (auto& batch : ready.sync_buffers) {
      if (session_ && !session_done_) {
        session_->buffer(batch.position, std::move(batch.entries));
      }
    }
    for (const auto& read : ready.reads) {
      if (auto it = awaiting_reads_.find(read.request_id); it != awaiting_reads_.end()) {
        it->second = read;
      }
    }
    apply_committed();
    report();
    waiters_.release_ready();
    pumping_ = false;
    arm_timer();
  }

  void apply_committed() {
    while (applied_ < core_.commit()) {
      const auto index = applied_.next();
      const auto* entry = log_.get(index);
      if (entry == nullptr) {
        log::error("group {}: member {}: committed entry {} is missing from the log; apply stops at {}",
                   options_.key, self(), index, applied_);
        return;
      }
      if (const auto* command = entry->command.user()) {
        machine_.apply(*command);
      }
      applied_ = index;
      if (apply_observer_) {
        apply_observer_(index, *entry);
      }
      if constexpr (snapshots) {
        if (const auto* point = entry->command.snapshot_point()) {
          take_snapshot(Cursor{entry->term, index}, point->requester);
        }
      }
    }
  }

  void report() {
    const auto event = [this](GroupEvent::Kind kind) {
      return GroupEvent{kind, core_.term(), core_.role(), core_.leader(), core_.commit(), {}, {}, {}};
    };
    if (std::exchange(reported_role_, core_.role()) != core_.role() && observer_) {
      observer_(event(GroupEvent::Kind::role_changed));
    }
    if (std::exchange(reported_leader_, core_.leader()) != core_.leader() && observer_) {
      observer_(event(GroupEvent::Kind::leader_changed));
    }
    if (std::exchange(reported_commit_, core_.commit()) != core_.commit() && observer_) {
      observer_(event(GroupEvent::Kind::committed));
    }
  }

  void arm_timer() {
    const auto deadline = core_.next_deadline();
    if (timer_ && timer_deadline_ == deadline) {
      return;
    }
    if (timer_) {
      transport_.timers().cancel(*timer_);
      timer_.reset();
    }
    if (deadline != TimePoint::max()) {
      timer_deadline_ = deadline;
      timer_ = transport_.timers().schedule(deadline, [this] { on_timer(); });
    }
  }

  void open_session(typename Core::SyncStart start) {
    const auto before = log_.last();
    const auto target = start.position;
    session_done_ = false;
    ++session_generation_;
    session_ = options_.strategy.create_session(session_context_, start.position, start.leader_commit,
                                                std::move(start.entries), start.replace_suffix);
    if (observer_) {
      observer_(GroupEvent{
          GroupEvent::Kind::sync_started, core_.term(), core_.role(), core_.leader(), {}, target, {}, {}});
    }
    asio::co_spawn(
        transport_.executor(), session_->run(),
        [this, alive = std::weak_ptr<bool>(alive_), generation = session_generation_,
         before](std::exception_ptr error, sync::SyncOutcome outcome) {
          if (alive.expired() || generation != session_generation_) {
            return;
          }
          if (error) {
            outcome = sync::SyncOutcome{sync::SyncStatus::failed, log_.last(), "the session threw"};
          }
          session_finished(std::move(outcome), before);
        });
  }

  void session_finished(sync::SyncOutcome outcome, Cursor before) {
    session_done_ = true;
    if (observer_) {
      observer_(GroupEvent{GroupEvent::Kind::sync_finished,
                           core_.term(),
                           core_.role(),
                           core_.leader(),
                           {},
                           {},
                           outcome,
                           session_->progress()});
    }
    if (stopped_) {
      return;
    }
    core_.on_sync_finished(outcome, before, now());
    pump();
  }

  // ---- snapshots (snapshot strategies only; snapshot_lifecycle.hpp) ------------------

  void event(GroupEvent::Kind kind, Index index) {
    if (observer_) {
      observer_(GroupEvent{kind, core_.term(), core_.role(), core_.leader(), index, {}, {}, {}});
    }
  }

  /// A catch-up session fetched a whole snapshot: the state moves to it.
  std::optional<std::string> install_snapshot(const SnapshotInfo& info, std::vector<SnapshotItem> items) {
    if (auto refused = snapshot_lifecycle_.install(info, std::move(items), applied_)) {
      return refused;
    }
    applied_ = info.at.index;
    event(GroupEvent::Kind::snapshot_installed, info.at.index);
    return std::nullopt;
  }

  /// A snapshot point was applied at `at`: every member snapshots here,
  /// offers it (to `requester`, if another member asked) and prunes its log.
  void take_snapshot(Cursor at, PeerId requester) {
    auto image = snapshot_lifecycle_.take(at);
    if (!image) {
      return;
    }
    const auto told = requester != self() ? std::optional{requester} : std::nullopt;
    if (auto offer = provider_->offer(std::move(*image), told)) {
      send_sync(*told, std::move(*offer));
    }
    event(GroupEvent::Kind::snapshot_taken, at.index);
    snapshot_lifecycle_.prune_log(options_.strategy.config().retained_entries, applied_);
  }

  /// A lagging member asked this member (as leader) for a snapshot.
  void request_snapshot(PeerId requester) {
    if (!stopped_) {
      snapshot_lifecycle_.propose_point(requester, now());
    }
  }

  // ---- sending ------------------------------------------------------------------------

  void send_consensus(PeerId peer, ConsensusMessage<Command> message) {
    transport_.send(peer, Message{group_id_, std::move(message)});
  }
  void send_sync(PeerId peer, SyncMessage message) {
    if (!stopped_) {
      transport_.send(peer, Message{group_id_, std::move(message)});
    }
  }

  asio::awaitable<Result<Index>> submit_one(Command command, bool wait_for_apply) {
    std::vector<Command> batch;
    batch.push_back(std::move(command));
    auto result = co_await submit(std::move(batch), wait_for_apply);
    co_return result ? Result<Index>{result->last()} : Result<Index>{result.error()};
  }

  template <class Reader>
  asio::awaitable<Result<std::invoke_result_t<Reader&, const SM&>>> read_with(std::unique_ptr<Reader> reader,
                                                                              Consistency consistency) {
    using R = std::invoke_result_t<Reader&, const SM&>;
    if (auto error = co_await ready_to_read(consistency)) {
      co_return Result<R>{*error};
    }
    co_return Result<R>{(*reader)(machine_)};
  }

  /// Waits until a read at `consistency` may look at the local state: strong
  /// reads wait for the read index to be applied here. An error otherwise.
  asio::awaitable<std::optional<Error>> ready_to_read(Consistency consistency) {
    if (consistency == Consistency::strong) {
      auto index = co_await read_index();
      if (!index) {
        co_return index.error();
      }
      const auto target = *index;
      if (auto error = co_await waiters_.wait([this, target] { return applied_ >= target; },
                                              options_.commit_timeout)) {
        co_return Error{*error, {}};
      }
      co_return std::nullopt;
    }
    if (stopped_) {
      co_return Error{Errc::stopped, {}};
    }
    co_return std::nullopt;
  }

  [[nodiscard]] TimePoint now() const { return transport_.timers().now(); }

  static std::uint64_t random_seed() {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device() ^ 1;
  }

  TransportType& transport_;
  Log& log_;
  HardStateStorage& hard_;
  Options options_;
  SM machine_;
  GroupId group_id_;
  std::uint64_t seed_;
  Core core_;
  SnapshotLifecycle<SM, SnapshotItem> snapshot_lifecycle_;
  SessionContext session_context_;
  ProviderContext provider_context_;
  std::unique_ptr<typename Strategy::Provider> provider_;
  std::unique_ptr<typename Strategy::Session> session_;
  bool session_done_ = true;
  std::uint64_t session_generation_ = 0;

  Index applied_;
  bool started_ = false;
  bool stopped_ = false;
  std::string refused_;
  bool pumping_ = false;
  Subscription receiving_;
  Subscription bonds_; // a leader probes a member as soon as it can be reached
  std::optional<TimerService::TimerId> timer_;
  TimePoint timer_deadline_{};

  std::uint64_t next_request_ = 0;
  std::map<std::uint64_t, std::optional<ForwardResponse>> awaiting_forwards_;
  std::map<std::uint64_t, std::optional<typename Core::ReadReady>> awaiting_reads_;
  std::uint64_t foreign_messages_ = 0;

  std::function<void(const GroupEvent&)> observer_;
  Role reported_role_ = Role::follower;
  std::optional<PeerId> reported_leader_;
  Index reported_commit_;
  std::function<void(Index, const LogEntry&)> apply_observer_;
  Waiters waiters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace mosaik::group
