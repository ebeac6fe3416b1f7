#pragma once
// SessionDriver: the awaitable edge of a sans-I/O catch-up core. It sends
// the core's messages through the context, sleeps until an event or the
// core's next deadline, and reports the outcome. Every strategy's session is
// one of these around its own core.
//
// The host keeps the session alive until run() completes, routes sync
// messages to receive() and later leader batches to buffer(). cancel() ends
// it cleanly; destroying it with run() suspended leaves no callback behind.

#include <utility>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/this_coro.hpp>

#include <mosaik/core/entry.hpp>
#include <mosaik/core/wakeup.hpp>
#include <mosaik/sync/sync_outcome.hpp>
#include <mosaik/sync/sync_progress.hpp>

namespace mosaik::sync {

template <class Core, class Context>
class SessionDriver {
public:
  using Message = typename Core::Message;

  /// The core is made from `core_args`.
  template <class... CoreArgs>
  explicit SessionDriver(Context& context, CoreArgs&&... core_args)
      : context_(context), wakeup_(context.timers(), context.executor()),
        core_(std::forward<CoreArgs>(core_args)...) {
    bonds_ = context_.watch_bonds([this](const BondEvent& event) {
      core_.on_bond(event, context_.timers().now());
      wakeup_.notify();
    });
  }

  SessionDriver(const SessionDriver&) = delete;
  SessionDriver& operator=(const SessionDriver&) = delete;

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
  void buffer(Cursor position, std::vector<typename Core::entry_type> entries) {
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
  [[nodiscard]] const Core& core() const noexcept { return core_; }

private:
  Context& context_;
  Wakeup wakeup_;
  Core core_;
  Subscription bonds_;
  bool started_ = false;
};

} // namespace mosaik::sync
