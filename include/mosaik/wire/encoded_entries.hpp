#pragma once
// EncodedEntries: log entries already in their wire encoding (see
// entry_codec.hpp: what follows the count). A provider writes them straight
// from its log (storage::encode_range), and its answer carries
// them into the frame as they are, without a decoded copy of each entry.
// Only a sending side ever holds them: decoding always yields entries.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>

#include <mosaik/wire/writer.hpp>

namespace mosaik::wire {

struct EncodedEntries {
  std::uint64_t count = 0;
  /// Shared and immutable once written: a message moves or copies cheaply.
  std::shared_ptr<const Bytes> encoding;

  [[nodiscard]] std::span<const std::byte> bytes() const noexcept {
    return encoding ? std::span<const std::byte>{*encoding} : std::span<const std::byte>{};
  }
  friend bool operator==(const EncodedEntries& a, const EncodedEntries& b) noexcept {
    const auto x = a.bytes();
    const auto y = b.bytes();
    return a.count == b.count && std::equal(x.begin(), x.end(), y.begin(), y.end());
  }
};

} // namespace mosaik::wire
