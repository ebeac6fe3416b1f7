#pragma once
// Writer: appends an encoding to a byte buffer. Integers are little-endian;
// lengths, counts and most integers are LEB128 varints (small numbers, one byte).
// store_fixed32/64 write a fixed-width integer in place, for a field known only
// after the bytes it covers (a checksum in a header). Every fixed-width integer
// mosaik writes, on the wire and on disk, goes through them.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace mosaik::wire {

using Bytes = std::vector<std::byte>;

namespace detail {
constexpr void store_little_endian(std::span<std::byte> at, std::uint64_t value, std::size_t width) noexcept {
  for (std::size_t i = 0; i < width; ++i) {
    at[i] = static_cast<std::byte>(value >> (8 * i));
  }
}
} // namespace detail

/// Writes `value` little-endian into the first 4 bytes of `at` (which has at least 4).
constexpr void store_fixed32(std::span<std::byte> at, std::uint32_t value) noexcept {
  detail::store_little_endian(at.first(4), value, 4);
}
/// Writes `value` little-endian into the first 8 bytes of `at` (which has at least 8).
constexpr void store_fixed64(std::span<std::byte> at, std::uint64_t value) noexcept {
  detail::store_little_endian(at.first(8), value, 8);
}

/// Signed integers travel zigzagged: small negative numbers stay small varints.
[[nodiscard]] constexpr std::uint64_t zigzag(std::int64_t value) noexcept {
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}
[[nodiscard]] constexpr std::int64_t unzigzag(std::uint64_t value) noexcept {
  return static_cast<std::int64_t>((value >> 1) ^ (~(value & 1) + 1));
}

/// Bytes of `value` as a varint.
[[nodiscard]] constexpr std::size_t varint_size(std::uint64_t value) noexcept {
  std::size_t bytes = 1;
  for (; value >= 0x80; value >>= 7) {
    ++bytes;
  }
  return bytes;
}

class Writer {
public:
  explicit Writer(Bytes& out) noexcept : out_(out) {}

  void u8(std::uint8_t value) { out_.push_back(static_cast<std::byte>(value)); }

  void fixed32(std::uint32_t value) { fixed(value, 4); }
  void fixed64(std::uint64_t value) { fixed(value, 8); }

  void varint(std::uint64_t value) {
    std::byte buffer[10];
    append({buffer, varint_into(value, buffer)});
  }

  /// Copies `bytes` at the end (no zero-fill first: resize-then-copy wrote every byte twice).
  void append(std::span<const std::byte> bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }

  /// Makes room for `more` bytes at once, when the caller knows the size
  /// (wire::measure): the buffer is allocated once instead of doubling. A
  /// hint beyond any frame (a custom size that lies) is ignored.
  void reserve(std::size_t more) {
    if (more <= max_reserve) {
      out_.reserve(out_.size() + more);
    }
  }

  [[nodiscard]] std::size_t size() const noexcept { return out_.size(); }
  [[nodiscard]] Bytes& buffer() noexcept { return out_; }

  /// Encodes with `body`, then puts the varint of the bytes it wrote in front
  /// of them (a length prefix whose width is only known afterwards; one byte
  /// for anything under 128 costs no move, anything longer moves the body).
  /// When the length is known beforehand (wire::measure), write the varint
  /// and the body instead.
  template <class Body>
  void length_prefixed(Body&& body) {
    const auto start = out_.size();
    out_.push_back(std::byte{0});
    body();
    const auto length = static_cast<std::uint64_t>(out_.size() - start - 1);
    if (length < 0x80) {
      out_[start] = static_cast<std::byte>(length);
      return;
    }
    std::byte prefix[10];
    const auto n = varint_into(length, prefix);
    out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(start) + 1, n - 1, std::byte{0});
    std::memcpy(out_.data() + start, prefix, n);
  }

  /// Makes the varint at [prefix, body) say `length`, moving the body when
  /// the varint's width changes: repairs a length prefix written from a size
  /// that the body did not match (a wrong mosaik_encoded_size).
  void rewrite_prefix(std::size_t prefix, std::size_t body, std::uint64_t length) {
    std::byte buffer[10];
    const auto n = varint_into(length, buffer);
    const auto old = body - prefix;
    const auto at = out_.begin() + static_cast<std::ptrdiff_t>(prefix);
    if (n > old) {
      out_.insert(at, n - old, std::byte{0});
    } else if (n < old) {
      out_.erase(at, at + static_cast<std::ptrdiff_t>(old - n));
    }
    std::memcpy(out_.data() + prefix, buffer, n);
  }

private:
  static constexpr std::size_t max_reserve = std::size_t{64} << 20; // DecodeLimits' largest frame

  static std::size_t varint_into(std::uint64_t value, std::byte (&buffer)[10]) noexcept {
    std::size_t n = 0;
    while (value >= 0x80) {
      buffer[n++] = static_cast<std::byte>((value & 0x7f) | 0x80);
      value >>= 7;
    }
    buffer[n++] = static_cast<std::byte>(value);
    return n;
  }

  void fixed(std::uint64_t value, std::size_t width) {
    const auto at = out_.size();
    out_.resize(at + width);
    detail::store_little_endian(std::span{out_}.subspan(at), value, width);
  }

  Bytes& out_;
};

} // namespace mosaik::wire
