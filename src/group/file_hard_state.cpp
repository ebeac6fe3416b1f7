#include <mosaik/group/file_hard_state.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

#include <fmt/format.h>

#include <mosaik/core/log.hpp>
#include <mosaik/storage/atomic_file.hpp>
#include <mosaik/storage/crc32c.hpp>
#include <mosaik/wire/reader.hpp>
#include <mosaik/wire/writer.hpp>

namespace mosaik::group {
namespace {

// magic | u32 version | u64 term | u8 voted | u64 voted_for | u64 commit | u32 crc32c of all before
constexpr std::array<char, 8> magic{'M', 'O', 'S', 'A', 'I', 'K', 'H', 'S'};
constexpr std::uint32_t version = 1;
constexpr std::size_t encoded_bytes = 8 + 4 + 8 + 1 + 8 + 8 + 4;

wire::Bytes encode(const HardState& state) {
  wire::Bytes out;
  out.reserve(encoded_bytes);
  wire::Writer writer{out};
  writer.append(std::as_bytes(std::span{magic}));
  writer.fixed32(version);
  writer.fixed64(state.term.value());
  writer.u8(state.voted_for ? 1 : 0);
  writer.fixed64(state.voted_for ? state.voted_for->value() : 0);
  writer.fixed64(state.commit.value());
  writer.fixed32(storage::crc32c(out));
  return out;
}

} // namespace

std::variant<std::unique_ptr<FileHardState>, std::string> FileHardState::open(std::filesystem::path path) {
  auto store = std::unique_ptr<FileHardState>(new FileHardState(std::move(path)));
  std::error_code exists_error;
  if (!std::filesystem::exists(store->path_, exists_error)) {
    if (exists_error) {
      return fmt::format("hard state {}: {}", store->path_.string(), exists_error.message());
    }
    return store; // a fresh member
  }
  std::string error;
  const auto bytes = storage::read_file(store->path_, error);
  if (!bytes) {
    return fmt::format("hard state: {}", error);
  }
  const std::span<const std::byte> in{*bytes};
  if (in.size() != encoded_bytes ||
      !std::ranges::equal(in.first(magic.size()), std::as_bytes(std::span{magic}))) {
    return fmt::format("hard state {}: not a mosaik hard-state file ({} bytes)", store->path_.string(),
                       in.size());
  }
  const auto body = in.first(encoded_bytes - 4);
  if (wire::load_fixed32(in.last(4)) != storage::crc32c(body)) {
    return fmt::format("hard state {}: checksum mismatch (corrupt file); refusing to start",
                       store->path_.string());
  }
  const wire::DecodeLimits limits; // fixed-width fields only: no limit applies
  wire::Reader reader{body.subspan(magic.size()), limits};
  const auto file_version = reader.fixed32();
  const auto term = reader.fixed64();
  const auto voted = reader.u8();
  const auto voted_for = reader.fixed64();
  const auto commit = reader.fixed64();
  if (file_version != version || voted > 1) {
    return fmt::format("hard state {}: unsupported version {} or bad vote flag", store->path_.string(),
                       file_version);
  }
  store->state_.term = Term{term};
  if (voted == 1) {
    store->state_.voted_for = PeerId{voted_for};
  }
  store->state_.commit = Index{commit};
  return store;
}

void FileHardState::save(const HardState& state) {
  if (failed()) {
    return;
  }
  const auto bytes = encode(state);
  if (auto error = storage::write_atomically(path_, bytes)) {
    error_ = std::move(*error);
    log::error("hard state {}: {}; this member can no longer store its term and vote", path_.string(),
               error_);
    return;
  }
  state_ = state;
}

} // namespace mosaik::group
