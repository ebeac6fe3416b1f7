#pragma once
// Waiters: the waits of a group member's client API. A wait is a coroutine
// that resumes once a condition on the member's state holds (an entry
// applied, a leader known, a forwarded call answered), its timeout passes,
// the awaiting operation is cancelled through its cancellation slot, or the
// member stops. The Group re-checks the conditions after every step.
//
// Not a template: the Asio machinery (initiation, cancellation slots,
// posting) is compiled once, in src/group/waiters.cpp, not in every user
// translation unit that instantiates a Group.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>

#include <mosaik/core/time.hpp>
#include <mosaik/core/timer_service.hpp>
#include <mosaik/core/unique_handler.hpp>
#include <mosaik/group/result.hpp>

namespace mosaik::group {

class Waiters {
public:
  /// Waits resume on `executor`; their timeouts are alarms of `timers`.
  Waiters(asio::any_io_executor executor, TimerService& timers);
  Waiters(const Waiters&) = delete;
  Waiters& operator=(const Waiters&) = delete;

  /// Waits until `ready()` holds (nullopt), the timeout passes (Errc::timeout),
  /// the awaiting operation is cancelled through its cancellation slot
  /// (Errc::cancelled) or the waiters stop (Errc::stopped).
  asio::awaitable<std::optional<Errc>> wait(std::function<bool()> ready, std::optional<Duration> timeout);
  /// Resumes every wait whose condition holds now.
  void release_ready();
  /// Resumes every wait with Errc::stopped; later waits end at once with it.
  void stop();

private:
  struct Waiter {
    std::function<bool()> ready;
    detail::UniqueHandler resume;
    std::optional<Errc>* result; // in the waiting coroutine's frame
    std::optional<TimerService::TimerId> timer;
    asio::cancellation_slot slot; // the awaiting operation's, while connected
  };

  void finish(Waiter& waiter, std::optional<Errc> result);

  asio::any_io_executor executor_;
  TimerService& timers_;
  bool stopped_ = false;
  std::map<std::uint64_t, Waiter> waiters_;
  std::uint64_t next_id_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace mosaik::group
