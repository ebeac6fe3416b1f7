#pragma once
// GroupId derivation: members agree on a group only when they agree on its
// key, the state machine, the catch-up strategy and the consensus timing.
// The id is a 64-bit FNV-1a over those parts, each length-prefixed so that
// ("ab","c") and ("a","bc") differ. It names a group; it is not a secret
// (the transport authenticates with the key itself).

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include <mosaik/core/ids.hpp>

namespace mosaik::group {

[[nodiscard]] constexpr GroupId derive_group_id(std::initializer_list<std::string_view> parts) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  const auto mix = [&hash](unsigned char byte) {
    hash ^= byte;
    hash *= 0x100000001b3ULL;
  };
  for (const auto part : parts) {
    auto length = part.size();
    for (int i = 0; i < 8; ++i, length >>= 8) {
      mix(static_cast<unsigned char>(length & 0xff));
    }
    for (const char c : part) {
      mix(static_cast<unsigned char>(c));
    }
  }
  return GroupId{hash};
}

} // namespace mosaik::group
