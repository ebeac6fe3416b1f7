#include <mosaik/group/waiters.hpp>

#include <utility>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

namespace mosaik::group {

Waiters::Waiters(asio::any_io_executor executor, TimerService& timers)
    : executor_(std::move(executor)), timers_(timers) {}

asio::awaitable<std::optional<Errc>> Waiters::wait(std::function<bool()> ready,
                                                   std::optional<Duration> timeout) {
  if (stopped_) {
    co_return Errc::stopped;
  }
  if (ready()) {
    co_return std::nullopt;
  }
  // The outcome lives in this frame; the initiation captures only trivially
  // destructible values (GCC 12 may destroy a co_await operand's lambda
  // captures twice: a shared_ptr captured there was released early).
  std::optional<Errc> result;
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      [this, &ready, timeout, out = &result](auto handler) {
        const auto id = ++next_id_;
        auto executor = asio::get_associated_executor(handler, executor_);
        auto slot = asio::get_associated_cancellation_slot(handler);
        Waiter waiter{std::move(ready),
                      detail::UniqueHandler{[executor, handler = std::move(handler)]() mutable {
                        asio::post(executor, std::move(handler));
                      }},
                      out,
                      std::nullopt,
                      {}};
        if (timeout) {
          waiter.timer = timers_.schedule(timers_.now() + *timeout, [this, id] {
            if (auto it = waiters_.find(id); it != waiters_.end()) {
              auto done = std::move(it->second);
              waiters_.erase(it);
              done.timer.reset();
              finish(done, Errc::timeout);
            }
          });
        }
        if (slot.is_connected()) {
          waiter.slot = slot;
          slot.assign([this, id, alive = std::weak_ptr<bool>(alive_)](asio::cancellation_type) {
            // Complete outside the emitting slot's call, on our executor.
            asio::post(executor_, [this, id, alive] {
              if (alive.expired()) {
                return;
              }
              if (auto it = waiters_.find(id); it != waiters_.end()) {
                auto done = std::move(it->second);
                waiters_.erase(it);
                finish(done, Errc::cancelled);
              }
            });
          });
        }
        waiters_.emplace(id, std::move(waiter));
      },
      asio::use_awaitable);
  co_return result;
}

void Waiters::release_ready() {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.ready()) {
      auto done = std::move(it->second);
      it = waiters_.erase(it);
      finish(done, std::nullopt);
    } else {
      ++it;
    }
  }
}

void Waiters::stop() {
  stopped_ = true;
  for (auto& [id, waiter] : std::exchange(waiters_, {})) {
    finish(waiter, Errc::stopped);
  }
}

void Waiters::finish(Waiter& waiter, std::optional<Errc> result) {
  if (waiter.timer) {
    timers_.cancel(*waiter.timer);
  }
  if (waiter.slot.is_connected()) {
    waiter.slot.clear();
  }
  *waiter.result = result;
  if (waiter.resume) {
    waiter.resume();
  }
}

} // namespace mosaik::group
