#pragma once
// What a ranged fetch counts, per peer and for the whole session; a
// session's progress (sync::SyncProgress) reports them.

#include <algorithm>
#include <cstdint>

#include <mosaik/core/time.hpp>

namespace mosaik::fetch {

/// What one peer did for a session.
struct PeerProgress {
  std::uint64_t entries = 0;       ///< entries accepted from this peer
  std::uint64_t items = 0;         ///< snapshot items accepted from this peer
  std::uint64_t requests = 0;      ///< fetch requests sent to it
  std::uint64_t bad_responses = 0; ///< responses rejected as malformed or unsolicited
  std::uint64_t timeouts = 0;      ///< fetches it left unanswered past the timeout
  bool excluded = false;           ///< too many bad responses: no longer asked
  Duration response_time{};        ///< smoothed time to answer a fetch (0: no answer yet)
  Duration fetch_timeout{};        ///< the timeout learned for it (0: the configured maximum)
  std::uint32_t window = 0;        ///< requests it may have in flight now (adapts; 0: none answered yet)

  /// Adds another phase's counts (the response time and timeout stay this phase's).
  PeerProgress& operator+=(const PeerProgress& other) {
    entries += other.entries;
    items += other.items;
    requests += other.requests;
    bad_responses += other.bad_responses;
    timeouts += other.timeouts;
    excluded = excluded || other.excluded;
    return *this;
  }
};

/// Why responses were rejected or requests abandoned, for the whole session.
struct SessionCounters {
  std::uint64_t availability_requests = 0;
  std::uint64_t fetch_requests = 0;
  std::uint64_t bad_responses = 0;        ///< unsolicited, duplicate, out of range, miscounted, bad terms
  std::uint64_t empty_responses = 0;      ///< a peer held nothing of a request
  std::uint64_t target_disagreements = 0; ///< answers contradicting the leader's target cursor
  std::uint64_t late_responses = 0;       ///< answers to requests that had already timed out
  std::uint64_t duplicate_responses = 0;  ///< second copies of answers already taken (network duplicates)
  std::uint64_t timeouts = 0;
  std::uint64_t excluded_peers = 0;
  std::uint64_t unbonded_messages = 0; ///< messages from peers that are not bonded
  std::uint64_t buffer_overflows = 0;  ///< leader buffer dropped, target moved forward
  std::uint64_t stale_leader_batches = 0;
  std::uint64_t max_chunks_held = 0;  ///< high-water mark of out-of-order chunks held
  std::uint64_t max_entries_held = 0; ///< high-water mark of out-of-order entries held
  std::uint64_t max_buffered_entries = 0;
  std::uint64_t max_window = 0;        ///< the widest any peer's in-flight window grew
  std::uint64_t max_bytes_held = 0;    ///< high-water mark of content bytes held out of order
  std::uint64_t hedged_requests = 0;   ///< second requests for a range a slow peer held
  std::uint64_t snapshot_sessions = 0; ///< the gap lay below every peer's log: a snapshot was fetched

  /// Adds another phase's counts (high-water marks take the larger).
  SessionCounters& operator+=(const SessionCounters& other) {
    availability_requests += other.availability_requests;
    fetch_requests += other.fetch_requests;
    bad_responses += other.bad_responses;
    empty_responses += other.empty_responses;
    target_disagreements += other.target_disagreements;
    late_responses += other.late_responses;
    duplicate_responses += other.duplicate_responses;
    timeouts += other.timeouts;
    excluded_peers += other.excluded_peers;
    unbonded_messages += other.unbonded_messages;
    buffer_overflows += other.buffer_overflows;
    stale_leader_batches += other.stale_leader_batches;
    max_chunks_held = std::max(max_chunks_held, other.max_chunks_held);
    max_entries_held = std::max(max_entries_held, other.max_entries_held);
    max_buffered_entries = std::max(max_buffered_entries, other.max_buffered_entries);
    max_window = std::max(max_window, other.max_window);
    max_bytes_held = std::max(max_bytes_held, other.max_bytes_held);
    hedged_requests += other.hedged_requests;
    snapshot_sessions += other.snapshot_sessions;
    return *this;
  }
};

} // namespace mosaik::fetch
