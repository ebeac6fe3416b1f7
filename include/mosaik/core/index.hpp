#pragma once
// Index and Term: the two counters of a replicated log. Strong types so that
// an index is never passed where a term is expected, nor a raw integer where
// either is; arithmetic is limited to what a log needs.

#include <compare>
#include <cstdint>

namespace mosaik {

/// Position of an entry in the log. Entries start at 1; index 0 is the
/// sentinel "before the first entry".
class Index {
public:
  using value_type = std::uint64_t;

  constexpr Index() noexcept = default;
  constexpr explicit Index(value_type value) noexcept : value_(value) {}

  [[nodiscard]] constexpr value_type value() const noexcept { return value_; }
  [[nodiscard]] constexpr Index next() const noexcept { return Index{value_ + 1}; }
  /// The index before this one; the sentinel stays the sentinel.
  [[nodiscard]] constexpr Index prev() const noexcept { return Index{value_ == 0 ? 0 : value_ - 1}; }
  [[nodiscard]] constexpr bool is_sentinel() const noexcept { return value_ == 0; }

  /// Moves forward by a count of entries.
  [[nodiscard]] constexpr Index operator+(value_type count) const noexcept { return Index{value_ + count}; }
  /// Moves back by a count of entries, saturating at the sentinel.
  [[nodiscard]] constexpr Index operator-(value_type count) const noexcept {
    return Index{value_ > count ? value_ - count : 0};
  }
  /// Number of entries from `other` (exclusive) to this (inclusive); 0 when behind.
  [[nodiscard]] constexpr value_type distance_from(Index other) const noexcept {
    return value_ > other.value_ ? value_ - other.value_ : 0;
  }

  friend constexpr auto operator<=>(Index, Index) noexcept = default;

  static constexpr Index sentinel() noexcept { return Index{0}; }
  static constexpr Index max() noexcept { return Index{~value_type{0}}; }

private:
  value_type value_ = 0;
};

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
