#pragma once
// Frames: what a stream transport carries. Each message travels in a frame
// of a fixed 16-byte header and a body:
//
//   u32 body length | u8 version | u8 kind | u8 flags | u8 reserved (0) | u64 group id
//
// (little-endian). The group id lets a member refuse another group's traffic
// before decoding it; `flags` marks fragments of a long message, between
// which a transport may send short ones.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <mosaik/core/ids.hpp>
#include <mosaik/wire/decode_error.hpp>
#include <mosaik/wire/limits.hpp>

namespace mosaik::wire {

inline constexpr std::uint8_t protocol_version = 1;
inline constexpr std::size_t frame_header_bytes = 16;

/// Message kinds. Consensus and catch-up kinds are their variant index plus
/// a base; the rest are the transport's own.
namespace kind {
inline constexpr std::uint8_t consensus_base = 1; ///< 1..31
inline constexpr std::uint8_t sync_base = 32;     ///< 32..63
inline constexpr std::uint8_t hello = 64;
inline constexpr std::uint8_t proof = 65;
inline constexpr std::uint8_t client_request = 80;
inline constexpr std::uint8_t client_response = 81;
} // namespace kind

namespace flag {
/// More fragments of this message follow.
inline constexpr std::uint8_t more = 1;
/// This frame is a fragment of a longer message (every fragment, the last
/// too). Frames without it may arrive between two fragments: a connection
/// carries at most one fragmented message at a time.
inline constexpr std::uint8_t fragment = 2;
inline constexpr std::uint8_t all = more | fragment;
} // namespace flag

struct FrameHeader {
  std::uint32_t length = 0;
  std::uint8_t version = protocol_version;
  std::uint8_t kind = 0;
  std::uint8_t flags = 0;
  GroupId group;

  friend bool operator==(const FrameHeader&, const FrameHeader&) = default;
};

using HeaderBytes = std::array<std::byte, frame_header_bytes>;

[[nodiscard]] constexpr HeaderBytes encode_header(const FrameHeader& header) noexcept {
  HeaderBytes out{};
  for (std::size_t i = 0; i < 4; ++i) {
    out[i] = static_cast<std::byte>(header.length >> (8 * i));
  }
  out[4] = static_cast<std::byte>(header.version);
  out[5] = static_cast<std::byte>(header.kind);
  out[6] = static_cast<std::byte>(header.flags);
  out[7] = std::byte{0};
  for (std::size_t i = 0; i < 8; ++i) {
    out[8 + i] = static_cast<std::byte>(header.group.value() >> (8 * i));
  }
  return out;
}

/// Parses and checks a header: version, reserved bits, and a length within
/// `limits.max_frame_bytes` (checked before any body byte is read or stored).
[[nodiscard]] inline Decoded<FrameHeader> decode_header(std::span<const std::byte, frame_header_bytes> in,
                                                        const DecodeLimits& limits) noexcept {
  FrameHeader header;
  for (std::size_t i = 0; i < 4; ++i) {
    header.length |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(in[i])) << (8 * i);
  }
  header.version = static_cast<std::uint8_t>(in[4]);
  header.kind = static_cast<std::uint8_t>(in[5]);
  header.flags = static_cast<std::uint8_t>(in[6]);
  std::uint64_t group = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    group |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in[8 + i])) << (8 * i);
  }
  header.group = GroupId{group};
  if (header.version != protocol_version) {
    return DecodeError::wrong_version;
  }
  if (in[7] != std::byte{0} || (header.flags & ~flag::all) != 0) {
    return DecodeError::bad_value;
  }
  if (header.length > limits.max_frame_bytes) {
    return DecodeError::oversized;
  }
  return header;
}

} // namespace mosaik::wire
