#pragma once
// Reader: reads an encoding from a span of bytes, strictly. Every read is
// bounds-checked; the first failure is remembered, later reads return zeros,
// and the caller checks ok() (or error()) once at the end. load_fixed32/64
// read a fixed-width integer at a known place (a header field), unchecked:
// the caller has checked the size.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include <mosaik/wire/decode_error.hpp>
#include <mosaik/wire/limits.hpp>

namespace mosaik::wire {

namespace detail {
constexpr std::uint64_t load_little_endian(std::span<const std::byte> at, std::size_t width) noexcept {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    value |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(at[i])) << (8 * i);
  }
  return value;
}
} // namespace detail

/// The little-endian integer in the first 4 bytes of `at` (which has at least 4).
constexpr std::uint32_t load_fixed32(std::span<const std::byte> at) noexcept {
  return static_cast<std::uint32_t>(detail::load_little_endian(at.first(4), 4));
}
/// The little-endian integer in the first 8 bytes of `at` (which has at least 8).
constexpr std::uint64_t load_fixed64(std::span<const std::byte> at) noexcept {
  return detail::load_little_endian(at.first(8), 8);
}

class Reader {
public:
  Reader(std::span<const std::byte> bytes, const DecodeLimits& limits) noexcept
      : bytes_(bytes), limits_(&limits) {}

  [[nodiscard]] bool ok() const noexcept { return !error_; }
  [[nodiscard]] std::optional<DecodeError> error() const noexcept { return error_; }
  /// Records the first failure; returns false so decoders can `return r.fail(...)`.
  bool fail(DecodeError error) noexcept {
    if (!error_) {
      error_ = error;
    }
    bytes_ = {};
    return false;
  }

  [[nodiscard]] const DecodeLimits& limits() const noexcept { return *limits_; }
  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size(); }
  [[nodiscard]] bool at_end() const noexcept { return bytes_.empty(); }

  std::uint8_t u8() noexcept {
    if (bytes_.empty()) {
      fail(DecodeError::truncated);
      return 0;
    }
    const auto value = static_cast<std::uint8_t>(bytes_[0]);
    bytes_ = bytes_.subspan(1);
    return value;
  }

  std::uint32_t fixed32() noexcept { return static_cast<std::uint32_t>(fixed(4)); }
  std::uint64_t fixed64() noexcept { return fixed(8); }

  std::uint64_t varint() noexcept {
    std::uint64_t value = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      if (bytes_.empty()) {
        fail(DecodeError::truncated);
        return 0;
      }
      const auto byte = static_cast<std::uint8_t>(bytes_[0]);
      bytes_ = bytes_.subspan(1);
      // The tenth byte may carry only the top bit of a 64-bit value.
      if (shift == 63 && byte > 1) {
        fail(DecodeError::bad_varint);
        return 0;
      }
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        return value;
      }
    }
    fail(DecodeError::bad_varint);
    return 0;
  }

  /// A count that must not exceed `maximum` (reported as `error` when it does).
  std::size_t count(std::size_t maximum, DecodeError error = DecodeError::too_many_items) noexcept {
    const auto value = varint();
    if (value > maximum) {
      fail(error);
      return 0;
    }
    return static_cast<std::size_t>(value);
  }

  /// The next `n` bytes, in place.
  std::span<const std::byte> bytes(std::size_t n) noexcept {
    if (n > bytes_.size()) {
      fail(DecodeError::truncated);
      return {};
    }
    const auto out = bytes_.first(n);
    bytes_ = bytes_.subspan(n);
    return out;
  }

  /// A reader over the next `n` bytes (same limits); this one moves past them.
  Reader sub(std::size_t n) noexcept {
    const auto inner = bytes(n);
    Reader reader{inner, *limits_};
    if (!ok()) {
      reader.fail(*error_);
    }
    return reader;
  }

private:
  std::uint64_t fixed(std::size_t width) noexcept {
    if (width > bytes_.size()) {
      fail(DecodeError::truncated);
      return 0;
    }
    const auto value = detail::load_little_endian(bytes_, width);
    bytes_ = bytes_.subspan(width);
    return value;
  }

  std::span<const std::byte> bytes_;
  const DecodeLimits* limits_;
  std::optional<DecodeError> error_;
};

} // namespace mosaik::wire
