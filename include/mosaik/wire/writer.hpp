#pragma once
// Writer: appends an encoding to a byte buffer. Integers are little-endian;
// lengths, counts and most integers are LEB128 varints (small numbers, one byte).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace mosaik::wire {

using Bytes = std::vector<std::byte>;

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

  void append(std::span<const std::byte> bytes) {
    if (!bytes.empty()) {
      const auto at = out_.size();
      out_.resize(at + bytes.size());
      std::memcpy(out_.data() + at, bytes.data(), bytes.size());
    }
  }

  [[nodiscard]] std::size_t size() const noexcept { return out_.size(); }
  [[nodiscard]] Bytes& buffer() noexcept { return out_; }

  /// Encodes with `body`, then puts the varint of the bytes it wrote in front
  /// of them (a length prefix whose width is only known afterwards; one byte
  /// for anything under 128, which is the usual case and costs no move).
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

private:
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
    std::byte buffer[8];
    for (std::size_t i = 0; i < width; ++i) {
      buffer[i] = static_cast<std::byte>(value >> (8 * i));
    }
    append({buffer, width});
  }

  Bytes& out_;
};

} // namespace mosaik::wire
