#pragma once
// The four messages of the log-replay strategy (docs/protocol.md): a session
// asks every peer what it holds, then fetches ranges.

#include <cstddef>
#include <variant>
#include <vector>

#include <mosaik/core/entry.hpp>
#include <mosaik/core/index_range.hpp>
#include <mosaik/wire/encoded_entries.hpp>

namespace mosaik::sync {

/// Session → provider: which entries can you serve?
struct AvailabilityRequest {
  friend bool operator==(const AvailabilityRequest&, const AvailabilityRequest&) = default;
};

/// Provider → session: I can serve this inclusive range (empty: nothing).
struct AvailabilityResponse {
  IndexRange available;
  friend bool operator==(const AvailabilityResponse&, const AvailabilityResponse&) = default;
};

/// Session → provider: send me these entries.
struct FetchEntriesRequest {
  IndexRange range;
  friend bool operator==(const FetchEntriesRequest&, const FetchEntriesRequest&) = default;
};

/// Provider → session: the entries of `range`, in order. `range` is what was
/// really returned (a prefix of the request when capped, later when the
/// provider pruned a prefix). A provider that holds nothing of the request
/// echoes the requested range with no entries, so the session knows which
/// request was answered. A provider whose transport puts messages on a wire
/// fills `encoded` instead of `entries` (the same bytes on the wire, without
/// a copy of each entry); a received response always has `entries`.
template <class Command>
struct FetchEntriesResponse {
  IndexRange range;
  std::vector<Entry<Command>> entries;
  wire::EncodedEntries encoded{};
  friend bool operator==(const FetchEntriesResponse&, const FetchEntriesResponse&) = default;
};

template <class Command>
using LogReplayMessage = std::variant<AvailabilityRequest, AvailabilityResponse, FetchEntriesRequest,
                                      FetchEntriesResponse<Command>>;

} // namespace mosaik::sync
