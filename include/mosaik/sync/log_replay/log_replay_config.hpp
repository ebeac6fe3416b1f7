#pragma once
// LogReplayConfig: the settings of the log-replay catch-up strategy. The
// ones that shape the protocol (what a provider answers, how long a session
// waits) enter the strategy's signature and must be equal on all members.

#include <cstddef>
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include <mosaik/core/time.hpp>
#include <mosaik/fetch/fetch_policy.hpp>

namespace mosaik::sync {

struct LogReplayConfig {
  /// Most entries one fetch request asks for (and one response carries).
  std::uint64_t batch_size = 2000;
  /// How long a fetch may stay unanswered before its range is given to another
  /// peer: the most a peer is ever waited for. Once a peer has answered, its
  /// own timeout is learned from its response times (never below min_fetch_timeout).
  Duration fetch_timeout = std::chrono::seconds{25};
  Duration min_fetch_timeout = std::chrono::seconds{1};
  /// The most fetch requests in flight to one peer at once. Each peer's own
  /// window adapts below it to what its link delivers (it starts at four,
  /// grows while answers come back without queueing, shrinks when they slow
  /// down or time out), so links of any bandwidth-delay product are kept
  /// busy without tuning. 1 turns the adaptation off.
  std::uint32_t max_inflight_per_peer = 8;
  /// Most command bytes in one response, whatever batch_size allows (at least one entry is sent).
  std::size_t max_response_bytes = std::size_t{4} << 20;
  /// The most bytes of fetched entries the session holds at once (the
  /// answers to its requests in flight and those held out of order, counted
  /// as command bytes): the adaptive windows never ask for more. (The leader's
  /// entries that arrive meanwhile are bounded by max_buffered_entries.)
  std::size_t max_buffered_bytes = std::size_t{256} << 20;
  /// Leader entries the session holds while catching up; past it the session
  /// drops them and moves its target forward to fetch them from peers instead.
  std::size_t max_buffered_entries = 100'000;
  /// Backoff of availability re-requests while part of the gap is held by no known peer.
  Duration availability_retry_initial = std::chrono::milliseconds{250};
  Duration availability_retry_max = std::chrono::seconds{5};
  /// Bad responses after which a peer is excluded for the rest of the session.
  std::uint32_t max_bad_responses = 3;
  /// The first fetches go out with the availability requests, to the peers
  /// most likely to hold the start of the gap (what the leader committed of
  /// it; the leader: up to the target), so that data flows after one round
  /// trip, not two. A wrong guess costs an empty answer, no blame. Only the
  /// catching-up member reads it: members need not agree on it.
  bool speculative_start = true;
  /// When peers sit idle with nothing left to fetch, a range that a much
  /// slower peer holds is asked of an idle peer too; the first answer wins,
  /// the other is dropped without blame. Only the catching-up member reads it.
  bool hedge_slow_requests = true;
  /// A request asks a peer for at most what its link is seen to deliver in
  /// this long, so the peers' last answers arrive close together (a slow
  /// link does not finish a big batch alone). Zero: batch_size alone.
  /// Only the catching-up member reads it.
  Duration request_time = std::chrono::milliseconds{100};

  /// The fetch engine's settings, with `batch` positions a request and
  /// answers of at most `response_bytes` (entries here, a snapshot's items in
  /// SnapshotSync).
  [[nodiscard]] fetch::FetchPolicy fetch_policy(std::uint64_t batch, std::size_t response_bytes) const {
    return fetch::FetchPolicy{batch,
                              max_inflight_per_peer,
                              fetch_timeout,
                              min_fetch_timeout,
                              max_bad_responses,
                              availability_retry_initial,
                              availability_retry_max,
                              hedge_slow_requests,
                              max_buffered_bytes,
                              response_bytes,
                              request_time};
  }

  /// Identifies the strategy and every setting that must agree across the group.
  [[nodiscard]] std::string signature() const {
    return fmt::format("log-replay/1;batch={};timeout_ms={};inflight={};response_bytes={}", batch_size,
                       std::chrono::duration_cast<std::chrono::milliseconds>(fetch_timeout).count(),
                       max_inflight_per_peer, max_response_bytes);
  }
};

} // namespace mosaik::sync
