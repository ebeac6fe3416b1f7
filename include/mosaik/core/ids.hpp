#pragma once
// Identities: PeerId names a member, GroupId a replication group, NetworkId
// the network the group lives in. Distinct types so they never mix.

#include <compare>
#include <cstdint>
#include <functional>

#include <mosaik/core/hash.hpp>

namespace mosaik {

template <class Tag>
class Id {
public:
  using value_type = std::uint64_t;

  constexpr Id() noexcept = default;
  constexpr explicit Id(value_type value) noexcept : value_(value) {}

  [[nodiscard]] constexpr value_type value() const noexcept { return value_; }
  friend constexpr auto operator<=>(Id, Id) noexcept = default;

private:
  value_type value_ = 0;
};

struct PeerIdTag {};
struct GroupIdTag {};
struct NetworkIdTag {};

using PeerId = Id<PeerIdTag>;
using GroupId = Id<GroupIdTag>;
using NetworkId = Id<NetworkIdTag>;

} // namespace mosaik

template <class Tag>
struct std::hash<mosaik::Id<Tag>> {
  std::size_t operator()(mosaik::Id<Tag> id) const noexcept {
    // splitmix64 finaliser: ids from small counters still spread well.
    return static_cast<std::size_t>(mosaik::splitmix64_mix(id.value()));
  }
};
