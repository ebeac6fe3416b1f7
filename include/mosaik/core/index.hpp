#pragma once
// Index and Term: the two counters of a replicated log. Strong types so that
// an index is never passed where a term is expected, nor a raw integer where
// either is; arithmetic is limited to what a log needs.

#include <compare>
#include <cstdint>

#include <mosaik/core/ordinal.hpp>

namespace mosaik {

struct IndexTag {};
/// Position of an entry in the log. Entries start at 1; index 0 is the
/// sentinel "before the first entry".
using Index = Ordinal<IndexTag>;

/// A leader's term. Terms only grow; term 0 belongs to the sentinel entry.
class Term {
public:
  using value_type = std::uint64_t;

  constexpr Term() noexcept = default;
  constexpr explicit Term(value_type value) noexcept : value_(value) {}

  [[nodiscard]] constexpr value_type value() const noexcept { return value_; }
  [[nodiscard]] constexpr Term next() const noexcept { return Term{value_ + 1}; }

  friend constexpr auto operator<=>(Term, Term) noexcept = default;

private:
  value_type value_ = 0;
};

} // namespace mosaik
