#include <mosaik/net/asio_timers.hpp>

#include <chrono>
#include <unordered_map>
#include <utility>

#include <asio/steady_timer.hpp>

namespace mosaik::net {

// Shared with the timers' completion handlers, so a handler that runs after
// the AsioTimers is gone finds the state and sees it was cancelled.
struct AsioTimers::State {
  explicit State(asio::any_io_executor executor) : executor(std::move(executor)) {}
  asio::any_io_executor executor;
  std::unordered_map<TimerId, std::unique_ptr<asio::steady_timer>> timers;
  TimerId next = 1;
};

AsioTimers::AsioTimers(asio::any_io_executor executor)
    : state_(std::make_shared<State>(std::move(executor))) {}

AsioTimers::~AsioTimers() {
  for (auto& [id, timer] : state_->timers) {
    timer->cancel();
  }
  state_->timers.clear();
}

TimePoint AsioTimers::now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
}

TimerService::TimerId AsioTimers::schedule(TimePoint deadline, Callback callback) {
  const auto id = state_->next++;
  auto timer = std::make_unique<asio::steady_timer>(state_->executor, deadline);
  timer->async_wait([weak = std::weak_ptr<State>(state_), id,
                     callback = std::move(callback)](const std::error_code& error) mutable {
    const auto state = weak.lock();
    if (error || !state) {
      return;
    }
    // Cancelled after it fired but before this ran: the entry is gone.
    if (state->timers.erase(id) == 0) {
      return;
    }
    callback();
  });
  state_->timers.emplace(id, std::move(timer));
  return id;
}

void AsioTimers::cancel(TimerId id) {
  const auto it = state_->timers.find(id);
  if (it != state_->timers.end()) {
    it->second->cancel();
    state_->timers.erase(it);
  }
}

std::size_t AsioTimers::pending() const noexcept {
  return state_->timers.size();
}

} // namespace mosaik::net
