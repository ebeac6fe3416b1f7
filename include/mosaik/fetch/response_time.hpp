#pragma once
// ResponseTimeEstimator: how long a peer takes to answer a fetch, estimated
// the way TCP estimates its retransmission timeout (RFC 6298): a smoothed
// time plus four times its variation. A slow but live peer earns a long
// timeout from its own answers; a dead one is given up on after the timeout
// its past answers justify, not after a fixed worst case.

#include <algorithm>
#include <optional>

#include <mosaik/core/time.hpp>

namespace mosaik::fetch {

class ResponseTimeEstimator {
public:
  /// A request was answered `elapsed` after it was sent.
  void sample(Duration elapsed) {
    fastest_ = fastest_ ? std::min(*fastest_, elapsed) : elapsed;
    if (!smoothed_) {
      smoothed_ = elapsed;
      variation_ = elapsed / 2;
    } else {
      const auto error = elapsed > *smoothed_ ? elapsed - *smoothed_ : *smoothed_ - elapsed;
      variation_ = (variation_ * 3 + error) / 4;
      smoothed_ = (*smoothed_ * 7 + elapsed) / 8;
    }
    backoff_ = 0;
  }

  /// A request went unanswered: the next timeout doubles (until an answer).
  void back_off() { backoff_ = std::min(backoff_ + 1, max_backoff); }

  /// The timeout for the next request, within [floor, ceiling]. Before its
  /// first answer a peer gets `prior` (what the other peers' answers suggest);
  /// nullopt when there is neither.
  [[nodiscard]] std::optional<Duration> timeout(Duration floor, Duration ceiling,
                                                std::optional<Duration> prior = std::nullopt) const {
    // Twice the RTO: a fetch answer is larger and more variable than a TCP ack.
    const auto base = smoothed_ ? std::optional<Duration>{2 * (*smoothed_ + 4 * variation_)} : prior;
    if (!base) {
      return std::nullopt;
    }
    return std::clamp(*base * (1 << backoff_), floor, std::max(floor, ceiling));
  }

  [[nodiscard]] std::optional<Duration> smoothed() const noexcept { return smoothed_; }
  /// The fastest answer yet: the link's round trip and transfer with no queue.
  [[nodiscard]] std::optional<Duration> fastest() const noexcept { return fastest_; }

private:
  static constexpr int max_backoff = 6;

  std::optional<Duration> smoothed_;
  std::optional<Duration> fastest_;
  Duration variation_{};
  int backoff_ = 0;
};

} // namespace mosaik::fetch
