#pragma once
// The four messages of the log-replay strategy (docs/protocol.md): a session
// asks every peer what it holds, then fetches ranges.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <variant>
#include <vector>

#include <mosaik/core/command_size.hpp>
#include <mosaik/core/entry.hpp>
#include <mosaik/core/index_range.hpp>

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
/// request was answered.
template <class Command>
struct FetchEntriesResponse {
  IndexRange range;
  std::vector<Entry<Command>> entries;
  friend bool operator==(const FetchEntriesResponse&, const FetchEntriesResponse&) = default;
};

template <class Command>
using LogReplayMessage = std::variant<AvailabilityRequest, AvailabilityResponse, FetchEntriesRequest,
                                      FetchEntriesResponse<Command>>;

namespace wire {
/// The encoding's sizes as the simulator charges them (the TCP codec,
/// wire/log_replay_messages.hpp, has this shape; it adds an entry count and
/// encodes commands rather than counting their payload bytes): a fixed
/// frame header, ranges as two fixed 8-byte indices, and each entry as a
/// varint command length plus its term as a varint delta from the previous
/// entry's term (terms change rarely, so usually one byte).
inline constexpr std::size_t header_bytes = 16;
inline constexpr std::size_t range_bytes = 16;

[[nodiscard]] constexpr std::size_t varint_bytes(std::uint64_t value) noexcept {
  std::size_t bytes = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++bytes;
  }
  return bytes;
}

/// Framing bytes of one entry after an entry of term `previous`.
[[nodiscard]] constexpr std::size_t entry_framing_bytes(std::size_t command_bytes, Term term,
                                                        Term previous) noexcept {
  return varint_bytes(command_bytes) + varint_bytes(term.value() - std::min(previous, term).value());
}
} // namespace wire

/// Bytes a response occupies on the wire.
template <class Command>
[[nodiscard]] std::size_t wire_size(const FetchEntriesResponse<Command>& response) {
  std::size_t bytes = wire::header_bytes + wire::range_bytes;
  Term previous{0};
  for (const auto& entry : response.entries) {
    const auto size = command_size(entry.command);
    bytes += wire::entry_framing_bytes(size, entry.term, previous) + size;
    previous = entry.term;
  }
  return bytes;
}
[[nodiscard]] constexpr std::size_t wire_size(const AvailabilityRequest&) noexcept {
  return wire::header_bytes;
}
[[nodiscard]] constexpr std::size_t wire_size(const AvailabilityResponse&) noexcept {
  return wire::header_bytes + wire::range_bytes;
}
[[nodiscard]] constexpr std::size_t wire_size(const FetchEntriesRequest&) noexcept {
  return wire::header_bytes + wire::range_bytes;
}

/// Bytes the message occupies on the wire; the simulator charges links with it.
template <class Command>
[[nodiscard]] std::size_t wire_size(const LogReplayMessage<Command>& message) {
  return std::visit([](const auto& alternative) { return wire_size(alternative); }, message);
}

} // namespace mosaik::sync
