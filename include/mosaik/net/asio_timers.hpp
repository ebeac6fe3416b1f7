#pragma once
// AsioTimers: the TimerService of real time, on an executor: steady_clock for
// now(), one asio::steady_timer per scheduled call. Callbacks run on the
// executor, never inline from schedule() or cancel(), as TimerService demands.
// Not thread-safe: use it from its executor (a single-threaded io_context or a strand).

#include <memory>

#include <asio/any_io_executor.hpp>

#include <mosaik/core/timer_service.hpp>

namespace mosaik::net {

class AsioTimers final : public TimerService {
public:
  explicit AsioTimers(asio::any_io_executor executor);
  ~AsioTimers() override;
  AsioTimers(const AsioTimers&) = delete;
  AsioTimers& operator=(const AsioTimers&) = delete;

  [[nodiscard]] TimePoint now() const override;
  TimerId schedule(TimePoint deadline, Callback callback) override;
  void cancel(TimerId id) override;
  /// Scheduled calls not yet run or cancelled.
  [[nodiscard]] std::size_t pending() const noexcept;

private:
  struct State;
  std::shared_ptr<State> state_;
};

} // namespace mosaik::net
