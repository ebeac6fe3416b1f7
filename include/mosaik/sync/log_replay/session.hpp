#pragma once
// LogReplaySession: the lagging follower's side of log-replay catch-up, as an
// Asio awaitable. All decisions live in LogReplayCore; this class only
// carries them out: it sends the core's messages through the context,
// sleeps until an event or the core's next deadline, and reports the outcome.
//
// The host keeps the session alive until run() completes, routes sync
// messages to receive() and later leader batches to buffer(). cancel() ends
// it cleanly; destroying it with run() suspended leaves no callback behind.

#include <optional>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/this_coro.hpp>

#include <mosaik/core/state_machine.hpp>
#include <mosaik/core/wakeup.hpp>
#include <mosaik/sync/log_replay/session_core.hpp>
#include <mosaik/sync/sync_session_context.hpp>

namespace mosaik::sync {

template <StateMachine SM>
class LogReplaySession {
public:
  using Command = typename SM::Command;
  using Message = LogReplayMessage<Command>;
  using Context = SyncSessionContext<Command, Message>;

  /// A session that fills the local log up to `position` (the leader's cursor
  /// before `entries`) and then appends `entries`.
  LogReplaySession(const LogReplayConfig& config, Context& context, Cursor position, Index leader_commit,
                   std::vector<Entry<Command>> entries)
      : context_(context), wakeup_(context.timers(), context.executor()),
        core_(config, context.log(), position, leader_commit, context.leader(), std::move(entries),
              context.timers().now()) {
    bonds_ = context_.watch_bonds([this](const BondEvent& event) {
      core_.on_bond(event, context_.timers().now());
      wakeup_.notify();
    });
  }

  LogReplaySession(const LogReplaySession&) = delete;
  LogReplaySession& operator=(const LogReplaySession&) = delete;

  /// Runs the catch-up to its end. Call once.
  asio::awaitable<SyncOutcome> run() {
    if (std::exchange(started_, true)) {
      co_return SyncOutcome{SyncStatus::failed, context_.log().last(), "run() was called twice"};
    }
    // Cancellation is reported as an outcome, never thrown out of a co_await.
    co_await asio::this_coro::throw_if_cancelled(false);
    core_.start(context_.bonded_peers(), context_.timers().now());
    for (;;) {
      for (auto& outgoing : core_.take_outbox()) {
        context_.send_to(outgoing.peer, std::move(outgoing.message));
      }
      if (const auto& outcome = core_.outcome()) {
        bonds_.reset();
        co_return *outcome;
      }
      const auto reason = co_await wakeup_.wait(core_.next_deadline());
      const auto state = co_await asio::this_coro::cancellation_state;
      if (reason == Wakeup::Reason::cancelled || state.cancelled() != asio::cancellation_type::none) {
        core_.cancel("the run() operation was cancelled");
      } else {
        core_.on_tick(context_.timers().now());
      }
    }
  }

  /// A sync message from `sender` (responses to this session's requests).
  void receive(PeerId sender, Message message) {
    core_.on_message(sender, std::move(message), context_.timers().now());
    wakeup_.notify();
  }

  /// Entries the leader sent after `position` while the session runs.
  void buffer(Cursor position, std::vector<Entry<Command>> entries) {
    core_.on_buffer(position, std::move(entries), context_.timers().now());
    wakeup_.notify();
  }

  /// Ends the session: run() completes with SyncStatus::cancelled.
  void cancel() {
    core_.cancel();
    wakeup_.notify();
  }

  [[nodiscard]] SyncProgress progress() const { return core_.progress(context_.timers().now()); }
  [[nodiscard]] bool finished() const { return core_.outcome().has_value(); }
  [[nodiscard]] const LogReplayCore<Command>& core() const noexcept { return core_; }

private:
  Context& context_;
  Wakeup wakeup_;
  LogReplayCore<Command> core_;
  Subscription bonds_;
  bool started_ = false;
};

} // namespace mosaik::sync
