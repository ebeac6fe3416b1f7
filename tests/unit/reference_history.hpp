#pragma once
// The history the unit tests replay: terms 1 for 1..=40, 2 for 41..=80,
// 3 for 81..=120, ...; the command at index i is "entry-i".

#include <cstdint>
#include <string>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/index_range.hpp>
#include <mosaik/core/item_range.hpp>

namespace mosaik::test {

inline IndexRange r(std::uint64_t first, std::uint64_t last) {
  return IndexRange{Index{first}, Index{last}};
}
/// Snapshot items [first..=last].
inline ItemRange item_range(std::uint64_t first, std::uint64_t last) {
  return ItemRange{ItemNumber{first}, ItemNumber{last}};
}
inline Term ref_term(std::uint64_t index) {
  return Term{1 + (index - 1) / 40};
}
inline std::string ref_command(std::uint64_t index) {
  return "entry-" + std::to_string(index);
}
inline Cursor ref_cursor(std::uint64_t index) {
  return Cursor{ref_term(index), Index{index}};
}

inline const PeerId P1{1};
inline const PeerId P2{2};
inline const PeerId P3{3};
inline const PeerId P4{4};

} // namespace mosaik::test
