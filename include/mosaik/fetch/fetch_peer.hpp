#pragma once
// FetchPeer: what a ranged fetch remembers of one peer it fetches from (its
// bond, progress, response times, and the recent requests it gave up on or
// took, so a late or duplicated answer is not blamed on the peer).

#include <algorithm>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>

#include <mosaik/core/ids.hpp>
#include <mosaik/core/range.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/fetch/fetch_counters.hpp>
#include <mosaik/fetch/response_time.hpp>

namespace mosaik::fetch {

template <class Position>
struct FetchPeer {
  using Range = mosaik::Range<Position>;
  static constexpr std::size_t max_remembered_ranges = 16;

  bool bonded = false;
  PeerProgress progress;
  std::deque<Range> abandoned; // requests given up on (timed out, released): a later answer is late, not bad
  std::deque<Range> accepted;  // answers taken: a network duplicate of one is not the peer's fault
  ResponseTimeEstimator response_time;
  /// Smoothed time its link takes per position (see RangedFetch::take):
  /// compares peers whose requests differ in size (hedging).
  std::optional<Duration> pace;
  std::optional<TimePoint> last_answer; ///< when its last answer was taken

  void sample_pace(Duration elapsed, std::uint64_t positions) {
    const auto per_position = elapsed / static_cast<Duration::rep>(std::max<std::uint64_t>(1, positions));
    pace = pace ? (*pace * 7 + per_position) / 8 : per_position;
  }

  [[nodiscard]] bool usable() const noexcept { return bonded && !progress.excluded; }

  static void remember(std::deque<Range>& recent, Range range) {
    recent.push_back(range);
    if (recent.size() > max_remembered_ranges) {
      recent.pop_front();
    }
  }
  [[nodiscard]] static bool contains_any(const std::deque<Range>& recent, Range range) {
    return std::any_of(recent.begin(), recent.end(), [&](const Range& held) { return held.contains(range); });
  }
};

/// Peers that are bonded and not excluded.
template <class Position>
[[nodiscard]] std::size_t usable_peers(const std::map<PeerId, FetchPeer<Position>>& peers) {
  return static_cast<std::size_t>(
      std::count_if(peers.begin(), peers.end(), [](const auto& item) { return item.second.usable(); }));
}

} // namespace mosaik::fetch
