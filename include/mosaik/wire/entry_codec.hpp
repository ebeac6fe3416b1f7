#pragma once
// The encoding of a run of log entries, as AppendEntries and
// FetchEntriesResponse carry them: a count, then per entry its term as a
// delta from the previous entry's term (terms change rarely: one byte) and
// its command, length-prefixed, so that each entry is bounded by
// DecodeLimits::max_entry_bytes and a command's decoder cannot read into the
// next entry.

#include <cstdint>
#include <span>
#include <vector>

#include <mosaik/core/entry.hpp>
#include <mosaik/wire/codec.hpp>
#include <mosaik/wire/encoded_entries.hpp>

namespace mosaik::wire {

/// The zigzagged term delta of each entry from the one before (from 0 for the first).
class TermDeltas {
public:
  [[nodiscard]] std::uint64_t next(Term term) noexcept {
    const auto delta = zigzag(static_cast<std::int64_t>(term.value() - previous_));
    previous_ = term.value();
    return delta;
  }

private:
  std::uint64_t previous_ = 0;
};

/// Writes entries one after another in their encoding: the term delta, then
/// the command with its length in front.
class EntryEncoder {
public:
  explicit EntryEncoder(Writer& out) noexcept : out_(out) {}

  template <class Command>
  void add(Term term, const Command& command) {
    out_.varint(deltas_.next(term));
    if constexpr (CheaplyMeasured<Command>) {
      // Known up front: the command is written once, never moved.
      const auto length = measure(command);
      const auto prefix = out_.size();
      out_.varint(length);
      const auto body = out_.size();
      encode(out_, command);
      if (const auto written = out_.size() - body; written != length) [[unlikely]] {
        out_.rewrite_prefix(prefix, body, written); // a custom size that lied: the frame stays well-formed
      }
    } else {
      out_.length_prefixed([&] { encode(out_, command); });
    }
  }
  /// An entry whose command is already encoded (a stored record's payload).
  void add_encoded(Term term, std::span<const std::byte> command) {
    out_.varint(deltas_.next(term));
    out_.varint(command.size());
    out_.append(command);
  }

private:
  Writer& out_;
  TermDeltas deltas_;
};

/// Wraps an entry vector in a message's field list: `fields(..., entries(m.entries))`,
/// or `entries(m.entries, m.encoded)` for a message that may carry them
/// encoded instead (used when it holds any; decoding fills the vector).
template <class Vector, class Encoded = const EncodedEntries>
struct EntriesRef {
  Vector& entries;
  Encoded* encoded = nullptr;

  [[nodiscard]] const EncodedEntries* sent_encoded() const noexcept {
    return encoded != nullptr && encoded->count != 0 ? encoded : nullptr;
  }
};

template <class Vector>
[[nodiscard]] EntriesRef<Vector> entries(Vector& entries) noexcept {
  return {entries};
}
template <class Vector, class Encoded>
[[nodiscard]] EntriesRef<Vector, Encoded> entries(Vector& entries, Encoded& encoded) noexcept {
  return {entries, &encoded};
}

template <class Vector, class Encoded>
void mosaik_encode(Writer& out, const EntriesRef<Vector, Encoded>& ref) {
  if (const auto* encoded = ref.sent_encoded()) {
    out.varint(encoded->count);
    out.append(encoded->bytes());
    return;
  }
  out.varint(ref.entries.size());
  EntryEncoder encoder{out};
  for (const auto& entry : ref.entries) {
    encoder.add(entry.term, entry.command);
  }
}

template <class Vector, class Encoded>
[[nodiscard]] std::size_t mosaik_encoded_size(const EntriesRef<Vector, Encoded>& ref) {
  if (const auto* encoded = ref.sent_encoded()) {
    return varint_size(encoded->count) + encoded->bytes().size();
  }
  auto size = varint_size(ref.entries.size());
  TermDeltas deltas;
  for (const auto& entry : ref.entries) {
    const auto command = measure(entry.command);
    size += varint_size(deltas.next(entry.term)) + varint_size(command) + command;
  }
  return size;
}

template <class Vector, class Encoded>
bool mosaik_decode(Reader& in, EntriesRef<Vector, Encoded>& ref) {
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
    const auto delta = unzigzag(in.varint());
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
