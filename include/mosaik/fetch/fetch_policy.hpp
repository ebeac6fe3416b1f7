#pragma once
// FetchPolicy: the settings a ranged fetch takes from its strategy's
// configuration (sync::LogReplayConfig::fetch_policy makes one).

#include <chrono>
#include <cstddef>
#include <cstdint>

#include <mosaik/core/time.hpp>

namespace mosaik::fetch {

struct FetchPolicy {
  /// Most positions one request asks for.
  std::uint64_t batch_size = 2000;
  std::uint32_t max_inflight_per_peer = 1;
  /// The most a request is waited for (and what a peer that never answered gets).
  Duration fetch_timeout = std::chrono::seconds{25};
  /// The least a request is waited for, however fast a peer answered before.
  Duration min_fetch_timeout = std::chrono::seconds{1};
  /// Bad answers after which a peer is excluded for the rest of the fetch.
  std::uint32_t max_bad_responses = 3;
  /// The backoff of asking every peer again what it holds while the fetch
  /// lacks sources: it starts here and doubles up to `retry_max`.
  Duration retry_initial = std::chrono::milliseconds{250};
  Duration retry_max = std::chrono::seconds{5};
  /// Idle peers take over requests a much slower peer holds (see RangedFetch::worth_hedging).
  bool hedge = true;
  /// The most bytes of content the fetch holds at once: the answers to its
  /// requests in flight and those held out of order. It caps the window of
  /// positions that may be assigned, at the bytes a position is seen to take
  /// (before any answer: `max_response_bytes` a full batch).
  std::size_t max_buffered_bytes = std::size_t{256} << 20;
  /// The most bytes an answer carries (the providers' cap).
  std::size_t max_response_bytes = std::size_t{4} << 20;
  /// A request asks a peer for at most what its link is seen to deliver in
  /// this long (at the peer's learned pace), so that the peers' last answers
  /// arrive close together instead of one slow link finishing a big batch
  /// alone. Zero: requests are sized by the batch alone.
  Duration request_time = std::chrono::milliseconds{100};
};

} // namespace mosaik::fetch
