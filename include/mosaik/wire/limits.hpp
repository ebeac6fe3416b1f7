#pragma once
// DecodeLimits: the maxima a decoder enforces before it allocates anything.
// A peer cannot make us reserve memory it did not send, nor more than these.

#include <cstddef>
#include <cstdint>

namespace mosaik::wire {

struct DecodeLimits {
  /// A whole message (all fragments of it), header excluded; also bounds
  /// any one string or byte vector in it.
  std::size_t max_frame_bytes = 64u << 20;
  /// Entries in one AppendEntries or FetchEntriesResponse.
  std::size_t max_entries = 1u << 20;
  /// Encoded bytes of one entry's command.
  std::size_t max_entry_bytes = 16u << 20;
  /// Elements of any other vector (each decoded element costs memory: a
  /// bound on what a frame can make us hold).
  std::size_t max_items = 1u << 20;
};

} // namespace mosaik::wire
