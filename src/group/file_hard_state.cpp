#include <mosaik/group/file_hard_state.hpp>

#include <array>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include <mosaik/core/log.hpp>
#include <mosaik/storage/atomic_file.hpp>
#include <mosaik/storage/crc32c.hpp>

namespace mosaik::group {
namespace {

// magic | u32 version | u64 term | u8 voted | u64 voted_for | u64 commit | u32 crc32c of all before
constexpr std::array<char, 8> magic{'M', 'O', 'S', 'A', 'I', 'K', 'H', 'S'};
constexpr std::uint32_t version = 1;
constexpr std::size_t encoded_bytes = 8 + 4 + 8 + 1 + 8 + 8 + 4;

void put(std::byte* out, std::uint64_t value, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) {
    out[i] = static_cast<std::byte>(value >> (8 * i));
  }
}
std::uint64_t get(const std::byte* in, std::size_t width) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    value |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in[i])) << (8 * i);
  }
  return value;
}

std::array<std::byte, encoded_bytes> encode(const HardState& state) {
  std::array<std::byte, encoded_bytes> out{};
  std::memcpy(out.data(), magic.data(), magic.size());
  put(out.data() + 8, version, 4);
  put(out.data() + 12, state.term.value(), 8);
  put(out.data() + 20, state.voted_for ? 1 : 0, 1);
  put(out.data() + 21, state.voted_for ? state.voted_for->value() : 0, 8);
  put(out.data() + 29, state.commit.value(), 8);
  put(out.data() + 37, storage::crc32c(std::span{out.data(), 37}), 4);
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
  const auto* in = bytes->data();
  if (bytes->size() != encoded_bytes || std::memcmp(in, magic.data(), magic.size()) != 0) {
    return fmt::format("hard state {}: not a mosaik hard-state file ({} bytes)", store->path_.string(),
                       bytes->size());
  }
  if (get(in + 37, 4) != storage::crc32c(std::span{in, 37})) {
    return fmt::format("hard state {}: checksum mismatch (corrupt file); refusing to start",
                       store->path_.string());
  }
  if (get(in + 8, 4) != version || get(in + 20, 1) > 1) {
    return fmt::format("hard state {}: unsupported version {} or bad vote flag", store->path_.string(),
                       get(in + 8, 4));
  }
  store->state_.term = Term{get(in + 12, 8)};
  if (get(in + 20, 1) == 1) {
    store->state_.voted_for = PeerId{get(in + 21, 8)};
  }
  store->state_.commit = Index{get(in + 29, 8)};
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
