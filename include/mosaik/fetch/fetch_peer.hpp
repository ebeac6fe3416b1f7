#pragma once
// FetchPeer: what a catch-up session remembers of one peer it fetches from
// (its bond, progress, response times, and the recent requests it gave up on
// or took, so a late or duplicated answer is not blamed on the peer), and
// the timeout rule shared by the strategies.

#include <algorithm>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>

#include <mosaik/core/ids.hpp>
#include <mosaik/core/index_range.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/sync/log_replay/response_time.hpp>
#include <mosaik/sync/log_replay/scheduler.hpp>
#include <mosaik/sync/sync_progress.hpp>

namespace mosaik::sync {

struct FetchPeer {
  static constexpr std::size_t max_remembered_ranges = 16;

  bool bonded = false;
  PeerProgress progress;
  std::deque<IndexRange>
      abandoned; // requests given up on (timed out, released): a later answer is late, not bad
  std::deque<IndexRange> accepted; // answers taken: a network duplicate of one is not the peer's fault
  ResponseTimeEstimator response_time;

  [[nodiscard]] bool usable() const noexcept { return bonded && !progress.excluded; }

  static void remember(std::deque<IndexRange>& recent, IndexRange range) {
    recent.push_back(range);
    if (recent.size() > max_remembered_ranges) {
      recent.pop_front();
    }
  }
  [[nodiscard]] static bool contains_any(const std::deque<IndexRange>& recent, IndexRange range) {
    return std::any_of(recent.begin(), recent.end(),
                       [&](const IndexRange& held) { return held.contains(range); });
  }
};

/// Peers that are bonded and not excluded.
[[nodiscard]] inline std::size_t usable_peers(const std::map<PeerId, FetchPeer>& peers) {
  return static_cast<std::size_t>(
      std::count_if(peers.begin(), peers.end(), [](const auto& item) { return item.second.usable(); }));
}

/// Each peer's fetches wait as long as its own response times justify. A
/// peer that has not answered yet gets a generous multiple of the slowest
/// answering peer's timeout, so a first request lost on the wire does not
/// hold its range for the whole `ceiling`.
inline void learn_timeouts(std::map<PeerId, FetchPeer>& peers, FetchScheduler& scheduler, Duration floor,
                           Duration ceiling) {
  // How much longer than the slowest answering peer a peer that never answered is waited for.
  constexpr int unanswered_peer_factor = 8;
  std::optional<Duration> slowest;
  for (const auto& [peer, record] : peers) {
    if (const auto timeout = record.response_time.timeout(floor, ceiling)) {
      slowest = std::max(slowest.value_or(Duration{}), *timeout);
    }
  }
  const auto prior = slowest ? std::optional<Duration>{*slowest * unanswered_peer_factor} : std::nullopt;
  for (auto& [peer, record] : peers) {
    if (const auto timeout = record.response_time.timeout(floor, ceiling, prior)) {
      scheduler.set_timeout(peer, *timeout);
      record.progress.fetch_timeout = *timeout;
    }
  }
}

} // namespace mosaik::sync
