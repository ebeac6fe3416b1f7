#pragma once
// BondEvent: a change in the set of peers this member is connected to.

#include <mosaik/core/ids.hpp>

namespace mosaik {

struct BondEvent {
  enum class Kind { bonded, terminated };
  PeerId peer{};
  Kind kind = Kind::bonded;
};

} // namespace mosaik
