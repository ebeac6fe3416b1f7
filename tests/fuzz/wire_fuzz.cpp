// libFuzzer target: the wire decoder. The first byte picks a message kind
// (every consensus and catch-up kind, for the KvStore group with the snapshot
// strategy, which carries all 13 catch-up kinds); the rest is the frame
// body. Whatever the bytes, decoding must not crash, must not allocate beyond
// the limits, and whatever decodes must re-encode and decode to itself.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include <algorithm>
#include <array>

#include <mosaik/group/group_frame_codec.hpp>
#include <mosaik/machines/kv_store.hpp>
#include <mosaik/sync/snapshot/snapshot_message_codec.hpp>
#include <mosaik/sync/snapshot/snapshot_messages.hpp>

namespace {
using Kv = mosaik::machines::KvStore;
using SyncMessage = mosaik::sync::SnapshotSyncMessage<mosaik::group::LogCommand<Kv::Command>, Kv::Record>;
using Codec = mosaik::wire::MessageCodec<Kv::Command, SyncMessage>;
constexpr mosaik::GroupId group{0x5eed};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) {
    return 0;
  }
  namespace wire = mosaik::wire;
  wire::DecodeLimits limits;
  limits.max_frame_bytes = 1 << 20; // small limits: lying counts must fail fast
  limits.max_entries = 1 << 12;
  limits.max_items = 1 << 12;
  const wire::FrameHeader header{static_cast<std::uint32_t>(size - 1), wire::protocol_version, data[0], 0,
                                 group};
  const auto body = std::as_bytes(std::span{data + 1, size - 1});
  auto decoded = Codec::decode(header, body, group, limits);
  if (!decoded) {
    return 0;
  }
  // Canonical: what decodes re-encodes to a frame that decodes to the same message.
  const auto frame = Codec::encode(decoded.value());
  std::array<std::byte, wire::frame_header_bytes> head{};
  std::copy_n(frame.begin(), head.size(), head.begin());
  const auto again_header = wire::decode_header(head, limits);
  if (!again_header) {
    std::abort();
  }
  const auto again =
      Codec::decode(again_header.value(), std::span{frame}.subspan(wire::frame_header_bytes), group, limits);
  if (!again || !(again.value().body == decoded.value().body)) {
    std::abort();
  }
  return 0;
}
