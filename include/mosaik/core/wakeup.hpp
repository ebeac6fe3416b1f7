#pragma once
// Wakeup: how a coroutine at the edge of a sans-I/O core sleeps. It waits
// until it is notified (an event fed the core), a deadline passes (the core
// asked for a tick) or the wait is cancelled, whichever comes first. Time
// comes from a TimerService, so the same code runs on virtual time.
//
// A notification that arrives while nobody waits is remembered, so no event
// is lost between two waits. Destroying a Wakeup drops a pending wait without
// resuming it (Asio then destroys the coroutine frames on their executor).

#include <memory>
#include <optional>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <mosaik/core/timer_service.hpp>
#include <mosaik/core/unique_handler.hpp>

namespace mosaik {

class Wakeup {
public:
  enum class Reason { notified, deadline, cancelled };

  Wakeup(TimerService& timers, asio::any_io_executor executor)
      : timers_(timers), executor_(std::move(executor)), alive_(std::make_shared<bool>(true)) {}
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;
  ~Wakeup() { disarm(); }

  /// Wakes the waiter now, or the next wait if none is pending.
  void notify() {
    if (pending_) {
      complete(Reason::notified);
    } else {
      notified_ = true;
    }
  }

  /// Cancels the pending wait (it completes with Reason::cancelled).
  void cancel() {
    if (pending_) {
      complete(Reason::cancelled);
    } else {
      cancelled_ = true;
    }
  }

  /// Waits for a notification, the deadline (none: wait for a notification only) or cancellation.
  asio::awaitable<Reason> wait(std::optional<TimePoint> deadline) {
    if (std::exchange(cancelled_, false)) {
      co_return Reason::cancelled;
    }
    if (std::exchange(notified_, false)) {
      co_return Reason::notified;
    }
    if (deadline && *deadline <= timers_.now()) {
      co_return Reason::deadline;
    }
    co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
        [this, deadline](auto handler) { arm(std::move(handler), deadline); }, asio::use_awaitable);
    co_return reason_;
  }

private:
  template <class Handler>
  void arm(Handler handler, std::optional<TimePoint> deadline) {
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) {
      slot.assign([this](asio::cancellation_type) {
        slot_.reset(); // the slot is emitting: it must not be cleared from inside its own handler
        complete(Reason::cancelled);
      });
      slot_ = slot;
    }
    auto executor = asio::get_associated_executor(handler, executor_);
    // Resume on the handler's executor, and only if this Wakeup still exists.
    pending_ = detail::UniqueHandler{[alive = std::weak_ptr<bool>(alive_), executor = std::move(executor),
                                      handler = std::move(handler)]() mutable {
      asio::post(executor, [alive = std::move(alive), handler = std::move(handler)]() mutable {
        if (!alive.expired()) {
          std::move(handler)();
        }
      });
    }};
    if (deadline) {
      timer_ = timers_.schedule(*deadline, [this] {
        timer_.reset();
        complete(Reason::deadline);
      });
    }
  }

  void complete(Reason reason) {
    if (!pending_) {
      return;
    }
    reason_ = reason;
    clear_timer_and_slot();
    auto handler = std::move(pending_);
    pending_ = detail::UniqueHandler{};
    handler();
  }

  void clear_timer_and_slot() {
    if (timer_) {
      timers_.cancel(*timer_);
      timer_.reset();
    }
    if (slot_) {
      slot_->clear();
      slot_.reset();
    }
  }

  void disarm() {
    clear_timer_and_slot();
    pending_ = detail::UniqueHandler{};
  }

  TimerService& timers_;
  asio::any_io_executor executor_;
  std::shared_ptr<bool> alive_;
  detail::UniqueHandler pending_;
  std::optional<TimerService::TimerId> timer_;
  std::optional<asio::cancellation_slot> slot_;
  Reason reason_ = Reason::notified;
  bool notified_ = false;
  bool cancelled_ = false;
};

} // namespace mosaik
