#pragma once
// The encoding of a run of log entries, as AppendEntries and
// FetchEntriesResponse carry them: a count, then per entry its term as a
// delta from the previous entry's term (terms change rarely: one byte) and
// its command, length-prefixed, so that each entry is bounded by
// DecodeLimits::max_entry_bytes and a command's decoder cannot read into the
// next entry.

#include <cstdint>
#include <vector>

#include <mosaik/core/entry.hpp>
#include <mosaik/wire/codec.hpp>

namespace mosaik::wire {

/// Wraps an entry vector in a message's field list: `fields(..., entries(m.entries))`.
template <class Vector>
struct EntriesRef {
  Vector& entries;
};

template <class Vector>
[[nodiscard]] EntriesRef<Vector> entries(Vector& entries) noexcept {
  return {entries};
}

template <class Vector>
void mosaik_encode(Writer& out, const EntriesRef<Vector>& ref) {
  out.varint(ref.entries.size());
  std::uint64_t previous = 0;
  for (const auto& entry : ref.entries) {
    const auto term = entry.term.value();
    const auto delta = static_cast<std::int64_t>(term - previous);
    out.varint((static_cast<std::uint64_t>(delta) << 1) ^ static_cast<std::uint64_t>(delta >> 63));
    previous = term;
    out.length_prefixed([&] { encode(out, entry.command); });
  }
}

template <class Vector>
bool mosaik_decode(Reader& in, EntriesRef<Vector>& ref) {
  auto& out = ref.entries;
  const auto count = in.count(in.limits().max_entries, DecodeError::too_many_entries);
  // Each entry takes at least two bytes (term delta, command length).
  if (count > in.remaining() / 2) {
    return in.fail(DecodeError::truncated);
  }
  out.clear();
  out.reserve(count);
  std::uint64_t previous = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const auto zigzag = in.varint();
    const auto delta = static_cast<std::int64_t>((zigzag >> 1) ^ (~(zigzag & 1) + 1));
    const auto length = in.count(in.limits().max_entry_bytes, DecodeError::entry_too_large);
    auto command = in.sub(length);
    if (!in.ok()) {
      return false;
    }
    auto& entry = out.emplace_back();
    previous += static_cast<std::uint64_t>(delta);
    entry.term = Term{previous};
    if (!decode(command, entry.command)) {
      return in.fail(command.error().value_or(DecodeError::bad_value));
    }
    if (!command.at_end()) {
      return in.fail(DecodeError::trailing_bytes);
    }
  }
  return in.ok();
}

} // namespace mosaik::wire
