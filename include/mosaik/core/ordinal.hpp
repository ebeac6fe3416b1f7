#pragma once
// Ordinal: a 1-based position in a sequence fetched or stored in order (a
// log's entries, a snapshot's items). One template, a distinct type per
// sequence, so a snapshot item's number is never passed where a log index
// is expected; arithmetic is limited to what a sequence needs.

#include <compare>
#include <cstdint>

namespace mosaik {

template <class Tag>
class Ordinal {
public:
  using value_type = std::uint64_t;

  constexpr Ordinal() noexcept = default;
  constexpr explicit Ordinal(value_type value) noexcept : value_(value) {}

  [[nodiscard]] constexpr value_type value() const noexcept { return value_; }
  [[nodiscard]] constexpr Ordinal next() const noexcept { return Ordinal{value_ + 1}; }
  /// The position before this one; the sentinel stays the sentinel.
  [[nodiscard]] constexpr Ordinal prev() const noexcept { return Ordinal{value_ == 0 ? 0 : value_ - 1}; }
  [[nodiscard]] constexpr bool is_sentinel() const noexcept { return value_ == 0; }

  /// Moves forward by a count of positions.
  [[nodiscard]] constexpr Ordinal operator+(value_type count) const noexcept {
    return Ordinal{value_ + count};
  }
  /// Moves back by a count of positions, saturating at the sentinel.
  [[nodiscard]] constexpr Ordinal operator-(value_type count) const noexcept {
    return Ordinal{value_ > count ? value_ - count : 0};
  }
  /// Number of positions from `other` (exclusive) to this (inclusive); 0 when behind.
  [[nodiscard]] constexpr value_type distance_from(Ordinal other) const noexcept {
    return value_ > other.value_ ? value_ - other.value_ : 0;
  }

  friend constexpr auto operator<=>(Ordinal, Ordinal) noexcept = default;

  /// Position 0, "before the first".
  static constexpr Ordinal sentinel() noexcept { return Ordinal{0}; }
  static constexpr Ordinal max() noexcept { return Ordinal{~value_type{0}}; }

private:
  value_type value_ = 0;
};

} // namespace mosaik
