#pragma once
// ItemNumber and ItemRange: positions of a snapshot's items (from 1), fetched
// in ranges as entries are, but never mistaken for log indices.

#include <mosaik/core/ordinal.hpp>
#include <mosaik/core/range.hpp>

namespace mosaik {

struct ItemNumberTag {};
using ItemNumber = Ordinal<ItemNumberTag>;
using ItemRange = Range<ItemNumber>;

} // namespace mosaik
