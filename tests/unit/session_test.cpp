// Unit tests of LogReplaySession, the awaitable edge of log-replay catch-up,
// on a fake SyncSessionContext: an asio::io_context for the executor, a
// TimerService whose clock the test advances by hand, and peers that serve
// the session through real LogReplayProviders.

#include <catch2/catch.hpp>

#include "reference_history.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/log_replay/log_replay_provider.hpp>
#include <mosaik/sync/log_replay/log_replay_session.hpp>
#include <mosaik/sync/log_replay/log_replay_sync.hpp>

using namespace mosaik;
using namespace mosaik::sync;

namespace {

struct TestMachine {
  using Command = std::string;
  std::vector<std::string> applied;
  void apply(const Command& command) { applied.push_back(command); }
  [[nodiscard]] std::string signature() const { return "test-machine/1"; }
};

using Strategy = LogReplaySync<TestMachine>;
using Session = LogReplaySession<TestMachine>;
using Message = LogReplayMessage<std::string>;

using namespace mosaik::test;

const PeerId self_id{100};

/// A TimerService on a clock the test moves: deadlines wait in a multimap
/// until advance_to() passes them.
class ManualTimers final : public TimerService {
public:
  [[nodiscard]] TimePoint now() const override { return now_; }

  TimerId schedule(TimePoint deadline, Callback callback) override {
    const auto id = ++next_id_;
    timers_.emplace(deadline, Timer{id, std::move(callback)});
    return id;
  }

  void cancel(TimerId id) override {
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
      if (it->second.id == id) {
        timers_.erase(it);
        return;
      }
    }
  }

  [[nodiscard]] std::size_t scheduled() const noexcept { return timers_.size(); }
  [[nodiscard]] std::optional<TimePoint> next_deadline() const {
    return timers_.empty() ? std::nullopt : std::optional<TimePoint>{timers_.begin()->first};
  }

  /// Runs the timers due at or before `until`, in order, with the clock at each deadline.
  void advance_to(TimePoint until) {
    while (!timers_.empty() && timers_.begin()->first <= until) {
      auto node = timers_.extract(timers_.begin());
      now_ = std::max(now_, node.key());
      node.mapped().callback();
    }
    now_ = std::max(now_, until);
  }

private:
  struct Timer {
    TimerId id;
    Callback callback;
  };
  TimePoint now_{};
  TimerId next_id_ = 0;
  std::multimap<TimePoint, Timer> timers_;
};

/// A peer: its own log, committed to the end, served by a real provider.
class PeerNode final : public SyncProviderContext<std::string> {
public:
  PeerNode(PeerId id, std::uint64_t entries, const LogReplayConfig& config,
           std::deque<std::pair<PeerId, Message>>& to_session)
      : id_(id), to_session_(to_session), provider_(config, *this) {
    for (std::uint64_t i = 1; i <= entries; ++i) {
      storage_.append(ref_command(i), ref_term(i));
    }
    commit_ = Index{entries};
  }

  bool mute_fetches = false; // answers availability but sits on fetches

  void receive(PeerId from, const Message& message) {
    if (mute_fetches && std::holds_alternative<FetchEntriesRequest>(message)) {
      return;
    }
    if (auto answer = provider_.answer(from, message)) {
      to_session_.emplace_back(id_, std::move(*answer));
    }
  }

  [[nodiscard]] const storage::LogStorage<std::string>& log() const override { return storage_; }
  [[nodiscard]] Index commit_index() const override { return commit_; }

private:
  PeerId id_;
  std::deque<std::pair<PeerId, Message>>& to_session_;
  storage::InMemoryLog<std::string> storage_;
  Index commit_{};
  LogReplayProvider<std::string> provider_;
};

/// The host of a session: executor, manual timers, bonds, and a network that
/// only moves messages when the test says so.
class FakeSessionContext final : public SyncSessionContext<std::string, Message> {
public:
  explicit FakeSessionContext(asio::io_context& io) : io_(io) {}

  storage::InMemoryLog<std::string> storage;
  ManualTimers clock;
  std::vector<PeerId> bonded;
  std::optional<PeerId> leader_id;
  std::deque<std::pair<PeerId, Message>> to_peers;
  std::size_t messages_sent = 0;

  storage::LogStorage<std::string>& log() override { return storage; }
  [[nodiscard]] std::vector<PeerId> bonded_peers() const override { return bonded; }
  Subscription watch_bonds(std::function<void(const BondEvent&)> on_change) override {
    const auto id = ++next_watch_id_;
    watchers_.emplace(id, std::move(on_change));
    return Subscription{[this, id] { watchers_.erase(id); }};
  }
  [[nodiscard]] std::optional<PeerId> leader() const override { return leader_id; }
  void send_to(PeerId peer, Message message) override {
    ++messages_sent;
    to_peers.emplace_back(peer, std::move(message));
  }
  [[nodiscard]] asio::any_io_executor executor() const override { return io_.get_executor(); }
  TimerService& timers() override { return clock; }

  [[nodiscard]] std::size_t watchers() const noexcept { return watchers_.size(); }

  void bond(PeerId peer) {
    bonded.push_back(peer);
    notify(BondEvent{peer, BondEvent::Kind::bonded});
  }

private:
  void notify(const BondEvent& event) {
    auto watchers = watchers_; // a watcher may unsubscribe
    for (auto& [id, watcher] : watchers) {
      watcher(event);
    }
  }

  asio::io_context& io_;
  std::map<std::uint64_t, std::function<void(const BondEvent&)>> watchers_;
  std::uint64_t next_watch_id_ = 0;
};

/// Everything a session test needs, with the session's completion recorded.
struct World {
  explicit World(std::uint64_t reference_size = 100) : reference_size(reference_size) {
    config.batch_size = 10;
    config.fetch_timeout = std::chrono::seconds{3};
    config.hedge_slow_requests = false; // the timeouts below are the subject
  }

  std::uint64_t reference_size;
  LogReplayConfig config;
  asio::io_context io;
  FakeSessionContext context{io};
  std::deque<std::pair<PeerId, Message>> to_session;
  std::map<PeerId, std::unique_ptr<PeerNode>> nodes;

  std::optional<SyncOutcome> outcome;
  std::exception_ptr error;
  int completions = 0;

  void add_peer(PeerId id, bool bond_now = true) {
    nodes[id] = std::make_unique<PeerNode>(id, reference_size, config, to_session);
    if (bond_now) {
      context.bonded.push_back(id);
    }
  }

  std::unique_ptr<Session> make_session(std::uint64_t target) {
    const Strategy strategy(config);
    return strategy.create_session(context, ref_cursor(target), Index{target}, {});
  }

  auto handler() {
    return [this](std::exception_ptr e, SyncOutcome result) {
      ++completions;
      error = e;
      outcome = std::move(result);
    };
  }

  void poll() {
    io.restart();
    io.poll();
  }

  /// Moves every message one hop: session -> peers, peers -> session.
  bool deliver(Session& session) {
    bool moved = false;
    while (!context.to_peers.empty()) {
      auto [peer, message] = std::move(context.to_peers.front());
      context.to_peers.pop_front();
      moved = true;
      if (const auto it = nodes.find(peer); it != nodes.end()) {
        it->second->receive(self_id, message);
      }
    }
    while (!to_session.empty()) {
      auto [peer, message] = std::move(to_session.front());
      to_session.pop_front();
      moved = true;
      session.receive(peer, std::move(message));
    }
    return moved;
  }

  /// Runs the executor, the network and the clock until the session completes.
  void drive(Session& session, int max_steps = 100000) {
    for (int step = 0; step < max_steps && completions == 0; ++step) {
      poll();
      if (completions > 0) {
        break;
      }
      if (deliver(session)) {
        continue;
      }
      const auto next = context.clock.next_deadline();
      REQUIRE(next.has_value()); // a suspended session always waits with a deadline
      context.clock.advance_to(*next);
    }
  }

  /// Runs the executor and the network (not the clock) until nothing moves.
  void settle(Session& session) {
    for (int step = 0; step < 10000; ++step) {
      poll();
      if (!deliver(session)) {
        poll();
        return;
      }
    }
  }

  void require_log_is_reference(std::uint64_t last) const {
    REQUIRE(context.storage.available() == r(1, last));
    for (std::uint64_t i = 1; i <= last; ++i) {
      INFO("index " << i);
      REQUIRE(context.storage.get(Index{i})->command == ref_command(i));
      REQUIRE(context.storage.get(Index{i})->term == ref_term(i));
    }
  }
};

} // namespace

TEST_CASE("LogReplaySession: run() completes when fed honest responses", "[session]") {
  World world(100);
  world.add_peer(P1);
  world.add_peer(P2);
  world.add_peer(P3, false); // bonds later
  world.context.leader_id = P2;
  auto session = world.make_session(100);
  CHECK(world.context.watchers() == 1);

  asio::co_spawn(world.io, session->run(), world.handler());
  world.poll();
  CHECK(world.completions == 0);
  // An AvailabilityRequest to each bonded peer, and with them the non-leader's
  // starting window of four fetches (speculative start; the leader is held),
  // each a fair share of the short gap: [1..=32] [33..=64] [65..=96] [97..=100].
  CHECK(world.context.messages_sent == 2 + 4);
  CHECK(world.context.clock.scheduled() == 1); // it waits with a deadline

  // A peer bonds mid-run: it is asked what it holds.
  world.context.bond(P3);
  world.poll();
  REQUIRE(world.context.to_peers.size() == 7);
  CHECK(world.context.to_peers.back().first == P3);
  CHECK(std::holds_alternative<AvailabilityRequest>(world.context.to_peers.back().second));

  world.drive(*session);
  REQUIRE(world.completions == 1);
  CHECK_FALSE(world.error);
  REQUIRE(world.outcome);
  CHECK(world.outcome->status == SyncStatus::completed);
  CHECK(world.outcome->last == ref_cursor(100));
  world.require_log_is_reference(100);
  CHECK(session->finished());
  CHECK(session->progress().done == 100);
  // Nothing left behind: no timer, no bond watcher.
  CHECK(world.context.clock.scheduled() == 0);
  CHECK(world.context.watchers() == 0);
  world.poll();
  CHECK(world.completions == 1);
}

TEST_CASE("LogReplaySession: timeouts run on the TimerService's clock", "[session]") {
  World world(60);
  world.add_peer(P1);
  world.add_peer(P2);
  world.nodes.at(P1)->mute_fetches = true; // P1 never answers a fetch
  auto session = world.make_session(60);
  asio::co_spawn(world.io, session->run(), world.handler());
  world.drive(*session);
  REQUIRE(world.completions == 1);
  REQUIRE(world.outcome);
  CHECK(world.outcome->status == SyncStatus::completed);
  world.require_log_is_reference(60);
  CHECK(session->progress().counters.timeouts >= 1);
  CHECK(world.context.clock.now() >= TimePoint{} + world.config.fetch_timeout);
  CHECK(world.context.clock.scheduled() == 0);
}

TEST_CASE("LogReplaySession: cancel() mid-run completes run() with cancelled", "[session]") {
  World world(100);
  world.add_peer(P1);
  world.nodes.at(P1)->mute_fetches = true; // keeps the session running
  auto session = world.make_session(100);
  asio::co_spawn(world.io, session->run(), world.handler());
  world.settle(*session);
  REQUIRE(world.completions == 0);
  CHECK(world.context.clock.scheduled() == 1);

  session->cancel();
  world.poll();
  REQUIRE(world.completions == 1);
  CHECK_FALSE(world.error);
  REQUIRE(world.outcome);
  CHECK(world.outcome->status == SyncStatus::cancelled);
  CHECK(world.context.clock.scheduled() == 0);
  CHECK(world.context.watchers() == 0);
  CHECK(session->finished());
}

TEST_CASE("LogReplaySession: cancelling the awaiting operation completes run() with cancelled", "[session]") {
  World world(100);
  world.add_peer(P1);
  world.nodes.at(P1)->mute_fetches = true;
  auto session = world.make_session(100);
  asio::cancellation_signal signal;
  asio::co_spawn(world.io, session->run(), asio::bind_cancellation_slot(signal.slot(), world.handler()));
  world.settle(*session);
  REQUIRE(world.completions == 0);

  signal.emit(asio::cancellation_type::all);
  world.poll();
  REQUIRE(world.completions == 1);
  CHECK_FALSE(world.error);
  REQUIRE(world.outcome);
  CHECK(world.outcome->status == SyncStatus::cancelled);
  CHECK(world.context.clock.scheduled() == 0);
  CHECK(world.context.watchers() == 0);
}

TEST_CASE("LogReplaySession: destroying the session while run() is suspended leaves nothing behind",
          "[session]") {
  World world(100);
  world.add_peer(P1);
  world.nodes.at(P1)->mute_fetches = true;
  auto session = world.make_session(100);
  asio::co_spawn(world.io, session->run(), world.handler());
  world.settle(*session);
  REQUIRE(world.completions == 0);
  REQUIRE(world.context.clock.scheduled() == 1);

  session.reset();
  CHECK(world.context.clock.scheduled() == 0);
  CHECK(world.context.watchers() == 0);

  // The suspended coroutine is destroyed, not resumed: the io_context runs out
  // of work (it would block on the coroutine's work guard otherwise).
  world.io.restart();
  world.io.run_for(std::chrono::seconds{5});
  CHECK(world.io.stopped());
  CHECK(world.completions == 0);
  // Time passing afterwards wakes nothing.
  world.context.clock.advance_to(TimePoint{} + std::chrono::hours{1});
  world.poll();
  CHECK(world.completions == 0);
}

TEST_CASE("LogReplaySession: run() twice fails the second call", "[session]") {
  World world(100);
  world.add_peer(P1);
  world.nodes.at(P1)->mute_fetches = true;
  auto session = world.make_session(100);

  std::optional<SyncOutcome> second;
  asio::co_spawn(world.io, session->run(), world.handler());
  world.settle(*session);
  asio::co_spawn(world.io, session->run(),
                 [&second](std::exception_ptr, SyncOutcome result) { second = std::move(result); });
  world.poll();
  REQUIRE(second);
  CHECK(second->status == SyncStatus::failed);
  CHECK_FALSE(second->reason.empty());
  CHECK(world.completions == 0); // the first run() goes on

  session->cancel();
  world.poll();
  REQUIRE(world.completions == 1);
  REQUIRE(world.outcome);
  CHECK(world.outcome->status == SyncStatus::cancelled);
}

TEST_CASE("LogReplaySession: nothing to fetch: run() completes at once and sends nothing", "[session]") {
  World world(100);
  for (std::uint64_t i = 1; i <= 50; ++i) {
    world.context.storage.append(ref_command(i), ref_term(i));
  }
  world.add_peer(P1);
  world.add_peer(P2);
  auto session = world.make_session(40);
  CHECK(session->finished());
  asio::co_spawn(world.io, session->run(), world.handler());
  world.poll();
  REQUIRE(world.completions == 1);
  REQUIRE(world.outcome);
  CHECK(world.outcome->status == SyncStatus::completed);
  CHECK(world.outcome->last == ref_cursor(50));
  world.require_log_is_reference(50);
  CHECK(world.context.clock.scheduled() == 0);
  // The session has nothing to ask anybody: run() must not send an
  // AvailabilityRequest per bonded peer before returning.
  CHECK(world.context.messages_sent == 0);
}
