#pragma once
// Identities: PeerId names a member, GroupId a replication group, NetworkId
// the network the group lives in. Distinct types so they never mix.

#include <compare>
#include <cstdint>
#include <functional>

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
    auto x = id.value();
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<std::size_t>(x ^ (x >> 31));
  }
};
