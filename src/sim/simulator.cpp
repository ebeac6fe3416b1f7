#include <mosaik/sim/simulator.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <mosaik/core/hash.hpp>

namespace mosaik::sim {

namespace {

/// Order-sensitive absorb: rotating before xor makes (a, b) differ from (b, a);
/// the golden-ratio constant keeps a zero state from absorbing zeros forever.
constexpr std::uint64_t absorb(std::uint64_t hash, std::uint64_t word) noexcept {
  return mix64(((hash << 23) | (hash >> 41)) ^ word) + kGoldenGamma;
}

} // namespace

struct Simulator::Impl {
  using Key = std::pair<TimePoint, TimerId>; // (deadline, insertion sequence)
  std::map<Key, Callback> queue;
  std::unordered_map<TimerId, TimePoint> deadlines;
  TimerId next_id = 1;
  bool running = false;
  bool shutting_down = false;

  // Optional so ~Simulator can destroy it while everything else is alive:
  // the handlers it destroys may still call into the simulator.
  std::optional<asio::io_context> io{std::in_place, 1};
  // Keeps io from stopping when it runs out of work, so poll_one() never
  // needs a restart().
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{io->get_executor()};
};

Simulator::Simulator(std::uint64_t seed)
    : impl_(std::make_unique<Impl>()), seed_(seed), random_(seed), trace_hash_(kFnv1aOffset) {}

Simulator::~Simulator() {
  // Destroy pending callbacks while the io_context is alive: they may own asio
  // handlers (e.g. a suspended coroutine) whose destruction posts to it.
  // Destroying one may schedule another, hence the loop.
  while (!impl_->queue.empty()) {
    auto queue = std::move(impl_->queue);
    impl_->queue.clear();
    impl_->deadlines.clear();
  }
  impl_->shutting_down = true; // schedule()/cancel() from handler destructors are now no-ops
  impl_->work.reset();
  impl_->io.reset();
}

asio::any_io_executor Simulator::executor() const {
  return impl_->io->get_executor();
}

TimerService::TimerId Simulator::schedule(TimePoint deadline, Callback callback) {
  if (impl_->shutting_down || !callback) {
    return 0;
  }
  deadline = std::max(deadline, now_); // the past runs now, after what is already due now
  const auto id = impl_->next_id++;
  impl_->queue.emplace(Impl::Key{deadline, id}, std::move(callback));
  impl_->deadlines.emplace(id, deadline);
  return id;
}

void Simulator::cancel(TimerId id) {
  if (impl_->shutting_down) {
    return;
  }
  const auto found = impl_->deadlines.find(id);
  if (found == impl_->deadlines.end()) {
    return;
  }
  auto node = impl_->queue.extract(Impl::Key{found->second, id});
  impl_->deadlines.erase(found);
  // `node` dies here, after the bookkeeping, so a destructor that re-enters
  // schedule()/cancel() sees a consistent queue.
}

std::size_t Simulator::pending_events() const noexcept {
  return impl_->queue.size();
}

void Simulator::run() {
  loop(nullptr, TimePoint::max());
}

bool Simulator::run_until(TimePoint limit) {
  return loop(nullptr, limit) == Stop::quiescent;
}

bool Simulator::run_while(const std::function<bool()>& keep_going, TimePoint limit) {
  return loop(&keep_going, limit) == Stop::predicate;
}

Simulator::Stop Simulator::loop(const std::function<bool()>* keep_going, TimePoint limit) {
  if (impl_->running) {
    throw std::logic_error("mosaik::sim::Simulator: run*() called from inside a handler");
  }
  impl_->running = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{impl_->running};

  const auto stopped = [&] { return keep_going != nullptr && *keep_going && !(*keep_going)(); };
  const auto reach_limit = [&] {
    if (limit != TimePoint::max() && limit > now_) {
      now_ = limit;
    }
  };

  if (stopped()) {
    return Stop::predicate;
  }
  for (;;) {
    // One handler at a time so the predicate sees every step.
    while (impl_->io->poll_one() > 0) {
      ++events_run_;
      if (stopped()) {
        return Stop::predicate;
      }
    }
    if (impl_->queue.empty()) {
      reach_limit();
      return Stop::quiescent;
    }
    const auto earliest = impl_->queue.begin();
    if (earliest->first.first > limit) {
      reach_limit();
      return Stop::limit;
    }
    auto node = impl_->queue.extract(earliest);
    impl_->deadlines.erase(node.key().second);
    now_ = node.key().first;
    ++events_run_;
    node.mapped()();
    if (stopped()) {
      return Stop::predicate;
    }
  }
}

void Simulator::trace(std::string_view kind, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  const auto kind_hash = fnv1a(kind);
  auto hash = trace_hash_;
  hash = absorb(hash, static_cast<std::uint64_t>(now_.time_since_epoch().count()));
  hash = absorb(hash, kind_hash);
  hash = absorb(hash, a);
  hash = absorb(hash, b);
  hash = absorb(hash, c);
  trace_hash_ = hash;
  if (trace_sink_) {
    trace_sink_(now_, kind, a, b, c);
  }
}

} // namespace mosaik::sim
