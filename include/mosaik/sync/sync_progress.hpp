#pragma once
// SyncProgress: what a host can observe of a running catch-up session.

#include <cstdint>
#include <map>
#include <optional>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/index_range.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/fetch/fetch_counters.hpp>

namespace mosaik::sync {

using fetch::PeerProgress;
using fetch::SessionCounters;

/// A snapshot a session fetches (snapshot catch-up only).
struct SnapshotProgress {
  Cursor at{};                ///< where it was taken
  std::uint64_t items = 0;    ///< items it holds
  std::uint64_t received = 0; ///< items received so far
  bool installed = false;
};

struct SyncProgress {
  Cursor target{};            ///< the cursor the session fills up to
  IndexRange remaining{};     ///< the part of the gap not yet in the log
  std::uint64_t total = 0;    ///< entries the session has to fetch (grows when the target moves)
  std::uint64_t done = 0;     ///< entries fetched and appended
  std::uint64_t buffered = 0; ///< leader entries held for the end
  Duration elapsed{};
  double entries_per_second = 0.0;
  std::map<PeerId, PeerProgress> peers;
  SessionCounters counters;
  std::optional<SnapshotProgress> snapshot;
};

} // namespace mosaik::sync
