#pragma once
// TimerService: the clock and the alarms a sans-I/O core needs. A real
// transport implements it with steady_clock and asio timers; the simulator
// implements it with virtual time. Callbacks run on the owner's executor,
// never inline from schedule() or cancel().

#include <cstdint>
#include <functional>

#include <mosaik/core/time.hpp>

namespace mosaik {

class TimerService {
public:
  using Callback = std::function<void()>;
  using TimerId = std::uint64_t;

  virtual ~TimerService() = default;

  [[nodiscard]] virtual TimePoint now() const = 0;
  /// Calls `callback` once, at `deadline` or as soon after it as possible.
  virtual TimerId schedule(TimePoint deadline, Callback callback) = 0;
  /// Cancels a scheduled call: its callback is destroyed uninvoked. Unknown
  /// or already-run ids are ignored.
  virtual void cancel(TimerId id) = 0;
};

} // namespace mosaik
