#pragma once
// Simulator: a deterministic, single-threaded world with virtual time. It owns
// an io_context (so coroutines and asio::post work as usual) and a queue of
// timed events (the TimerService). The loop drains every ready handler, then
// jumps virtual time to the earliest event and runs it; nothing ever waits on
// a wall clock, so an hour of simulated time costs only the work done in it.
//
// Determinism: same seed + same calls => same sequence of handlers and events,
// hence the same trace_hash(). Time-dependent code must use this TimerService
// (asio's steady_timer on executor() would read the real clock).

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include <asio/any_io_executor.hpp>

#include <mosaik/core/time.hpp>
#include <mosaik/core/timer_service.hpp>
#include <mosaik/sim/random.hpp>

namespace mosaik::sim {

class Simulator final : public TimerService {
public:
  using TraceSink = std::function<void(TimePoint at, std::string_view kind, std::uint64_t a, std::uint64_t b,
                                       std::uint64_t c)>;

  explicit Simulator(std::uint64_t seed);
  ~Simulator() override;
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }
  /// The executor of the owned io_context; handlers posted to it run inside run*().
  [[nodiscard]] asio::any_io_executor executor() const;
  [[nodiscard]] Random& random() noexcept { return random_; }

  // TimerService. Deadlines in the past run at the current time; equal
  // deadlines run in the order they were scheduled.
  [[nodiscard]] TimePoint now() const override { return now_; }
  TimerId schedule(TimePoint deadline, Callback callback) override;
  void cancel(TimerId id) override;
  /// Number of scheduled, not yet run or cancelled, events.
  [[nodiscard]] std::size_t pending_events() const noexcept;

  /// Runs until quiescent: no ready handler and no scheduled event. Virtual
  /// time stays at the last event run. Exceptions from handlers propagate.
  void run();
  /// Runs every event due at or before `limit`, then sets now() to `limit`
  /// (also when it ran dry earlier: the time passed either way). Returns
  /// whether the world is quiescent (no ready handler, no scheduled event).
  bool run_until(TimePoint limit);
  /// Like run_until, but stops as soon as `keep_going` returns false (checked
  /// on entry, after each handler and after each event); now() then stays at
  /// that moment. Returns true iff the predicate stopped it; false means the
  /// limit or quiescence came first (now() is then set to `limit`).
  bool run_while(const std::function<bool()>& keep_going, TimePoint limit);
  /// run_until(now() + duration).
  void advance(Duration duration) { run_until(now_ + duration); }

  /// Mixes (now, kind, a, b, c) into the running trace hash and forwards the
  /// record to the trace sink, if any.
  void trace(std::string_view kind, std::uint64_t a = 0, std::uint64_t b = 0, std::uint64_t c = 0);
  [[nodiscard]] std::uint64_t trace_hash() const noexcept { return trace_hash_; }
  /// Handlers and timed events run so far.
  [[nodiscard]] std::uint64_t events_run() const noexcept { return events_run_; }
  /// Receives every trace record (e.g. to print a full trace); empty to detach.
  void set_trace_sink(TraceSink sink) { trace_sink_ = std::move(sink); }

private:
  enum class Stop { predicate, limit, quiescent };
  Stop loop(const std::function<bool()>* keep_going, TimePoint limit);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint64_t seed_;
  Random random_;
  TimePoint now_{};
  std::uint64_t trace_hash_;
  std::uint64_t events_run_ = 0;
  TraceSink trace_sink_;
};

} // namespace mosaik::sim
