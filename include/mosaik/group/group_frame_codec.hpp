#pragma once
// MessageCodec: a group's messages as frames. A frame's kind names the
// message (consensus kinds from 1, catch-up kinds from 32: the variant index
// plus a base), its header carries the group id; the body is the message's
// encoding. Decoding checks the group, the kind, the body (strictly, within
// the limits) and that nothing is left over.

#include <algorithm>
#include <cstdint>
#include <span>
#include <type_traits>
#include <variant>

#include <mosaik/group/group_message_codec.hpp>
#include <mosaik/group/group_messages.hpp>
#include <mosaik/wire/codec.hpp>
#include <mosaik/wire/frame.hpp>

namespace mosaik::wire {

/// Bytes of the frame that carries the alternative `message` holds (the
/// header names the alternative, the body is its encoding): what a transport
/// puts on the wire for it, and what the simulator charges a link.
template <class... Alternatives>
[[nodiscard]] std::size_t frame_size(const std::variant<Alternatives...>& message) {
  return frame_header_bytes +
         std::visit([](const auto& alternative) { return encoded_size(alternative); }, message);
}

/// Bytes of the frame MessageCodec::encode makes of `message`.
template <class Command, class SyncMessage>
[[nodiscard]] std::size_t frame_size(const group::GroupMessage<Command, SyncMessage>& message) {
  return std::visit([](const auto& body) { return frame_size(body); }, message.body);
}

template <class Command, class SyncMessage>
class MessageCodec {
public:
  using Message = group::GroupMessage<Command, SyncMessage>;
  using Consensus = group::ConsensusMessage<Command>;

  static_assert(std::variant_size_v<Consensus> < kind::sync_base - kind::consensus_base);
  static_assert(std::variant_size_v<SyncMessage> <= kind::hello - kind::sync_base,
                "a catch-up strategy has at most 32 message kinds");

  [[nodiscard]] static std::uint8_t kind_of(const Message& message) noexcept {
    if (const auto* consensus = std::get_if<0>(&message.body)) {
      return static_cast<std::uint8_t>(kind::consensus_base + consensus->index());
    }
    return static_cast<std::uint8_t>(kind::sync_base + std::get<1>(message.body).index());
  }

  /// The whole frame, header and body, in one buffer.
  [[nodiscard]] static Bytes encode(const Message& message) {
    Bytes out;
    encode_into(message, out);
    return out;
  }

  /// The whole frame into `out` (emptied first; its capacity is reused).
  static void encode_into(const Message& message, Bytes& out) {
    out.assign(frame_header_bytes, std::byte{0});
    Writer writer{out};
    std::visit(
        [&writer](const auto& body) {
          std::visit(
              [&writer](const auto& alternative) {
                // One allocation of the exact size: no doubling, no copies of a growing frame.
                if constexpr (CheaplyMeasured<std::remove_cvref_t<decltype(alternative)>>) {
                  writer.reserve(measure(alternative));
                }
                wire::encode(writer, alternative);
              },
              body);
        },
        message.body);
    const auto header = encode_header(FrameHeader{static_cast<std::uint32_t>(out.size() - frame_header_bytes),
                                                  protocol_version, kind_of(message), 0, message.group});
    std::copy(header.begin(), header.end(), out.begin());
  }

  /// Decodes a frame's body (the header already parsed and checked).
  [[nodiscard]] static Decoded<Message> decode(const FrameHeader& header, std::span<const std::byte> body,
                                               GroupId expected, const DecodeLimits& limits) {
    if (header.group != expected) {
      return DecodeError::wrong_group;
    }
    if (body.size() > limits.max_frame_bytes) {
      return DecodeError::oversized;
    }
    Reader reader{body, limits};
    Message message{header.group, {}};
    bool ok = false;
    if (header.kind >= kind::consensus_base && header.kind < kind::sync_base) {
      const std::size_t index = header.kind - kind::consensus_base;
      if (index >= std::variant_size_v<Consensus>) {
        return DecodeError::unknown_kind;
      }
      ok = detail::decode_alternative(reader, message.body.template emplace<0>(), index,
                                      std::make_index_sequence<std::variant_size_v<Consensus>>{});
    } else if (header.kind >= kind::sync_base && header.kind < kind::hello) {
      const std::size_t index = header.kind - kind::sync_base;
      if (index >= std::variant_size_v<SyncMessage>) {
        return DecodeError::unknown_kind;
      }
      ok = detail::decode_alternative(reader, message.body.template emplace<1>(), index,
                                      std::make_index_sequence<std::variant_size_v<SyncMessage>>{});
    } else {
      return DecodeError::unknown_kind;
    }
    if (!ok) {
      return reader.error().value_or(DecodeError::bad_value);
    }
    if (!reader.at_end()) {
      return DecodeError::trailing_bytes;
    }
    return message;
  }
};

} // namespace mosaik::wire
