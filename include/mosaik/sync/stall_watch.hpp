#pragma once
// StallWatch: notices that a session made no progress for a while. Progress
// is whatever mark the session shows it (the log's end, items received); the
// watch says when the same mark has been shown for the whole timeout, so that
// a session waiting for something gone for good ends instead of waiting on.

#include <mosaik/core/time.hpp>

namespace mosaik::sync {

template <class Mark>
class StallWatch {
public:
  StallWatch(Mark mark, TimePoint now, Duration timeout) : mark_(mark), since_(now), timeout_(timeout) {}

  /// Shows the session's mark at `now`; true once it has not changed for the timeout.
  [[nodiscard]] bool stalled(const Mark& mark, TimePoint now) {
    if (mark != mark_) {
      mark_ = mark;
      since_ = now;
      return false;
    }
    return now - since_ >= timeout_;
  }
  /// When the session stalls unless its mark moves.
  [[nodiscard]] TimePoint deadline() const noexcept { return since_ + timeout_; }
  [[nodiscard]] Duration timeout() const noexcept { return timeout_; }

private:
  Mark mark_;
  TimePoint since_;
  Duration timeout_;
};

} // namespace mosaik::sync
