#pragma once
// IndexRange: an inclusive range of log indices, [first..=last].

#include <mosaik/core/index.hpp>
#include <mosaik/core/range.hpp>

namespace mosaik {

using IndexRange = Range<Index>;

} // namespace mosaik
