#pragma once
// GroupId derivation: members agree on a group only when they agree on its
// key, the state machine, the catch-up strategy and the consensus timing.
// The id is a 64-bit FNV-1a over those parts, each length-prefixed so that
// ("ab","c") and ("a","bc") differ. It names a group; it is not a secret
// (the transport authenticates with the key itself).

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include <mosaik/core/hash.hpp>
#include <mosaik/core/ids.hpp>

namespace mosaik::group {

[[nodiscard]] constexpr GroupId derive_group_id(std::initializer_list<std::string_view> parts) noexcept {
  std::uint64_t hash = kFnv1aOffset;
  for (const auto part : parts) {
    hash = fnv1a(part, fnv1a_u64(part.size(), hash));
  }
  return GroupId{hash};
}

} // namespace mosaik::group
