#pragma once
// Range: an inclusive range of positions of one sequence, [first..=last]
// (IndexRange for log entries, ItemRange for snapshot items). An empty range
// is representable (first > last) so that "nothing" needs no optional.

#include <algorithm>
#include <cstdint>

namespace mosaik {

template <class Position>
class Range {
public:
  using position_type = Position;

  /// The empty range.
  constexpr Range() noexcept = default;
  constexpr Range(Position first, Position last) noexcept : first_(first), last_(last) {}

  /// `count` positions starting at `first`.
  static constexpr Range starting_at(Position first, std::uint64_t count) noexcept {
    return count == 0 ? Range{} : Range{first, first + (count - 1)};
  }
  static constexpr Range empty_range() noexcept { return Range{}; }

  [[nodiscard]] constexpr Position first() const noexcept { return first_; }
  [[nodiscard]] constexpr Position last() const noexcept { return last_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return first_ > last_; }
  [[nodiscard]] constexpr std::uint64_t size() const noexcept {
    return empty() ? 0 : last_.value() - first_.value() + 1;
  }
  [[nodiscard]] constexpr bool contains(Position position) const noexcept {
    return first_ <= position && position <= last_;
  }
  [[nodiscard]] constexpr bool contains(const Range& other) const noexcept {
    return other.empty() || (!empty() && first_ <= other.first_ && other.last_ <= last_);
  }
  [[nodiscard]] constexpr bool overlaps(const Range& other) const noexcept {
    return !intersect(other).empty();
  }
  [[nodiscard]] constexpr Range intersect(const Range& other) const noexcept {
    if (empty() || other.empty()) {
      return {};
    }
    return Range{std::max(first_, other.first_), std::min(last_, other.last_)};
  }
  /// The first `count` positions of this range (or all of it).
  [[nodiscard]] constexpr Range take_front(std::uint64_t count) const noexcept {
    if (empty() || count == 0) {
      return {};
    }
    return count >= size() ? *this : Range{first_, first_ + (count - 1)};
  }
  /// What is left of this range after `prefix_end` (inclusive).
  [[nodiscard]] constexpr Range after(Position prefix_end) const noexcept {
    return prefix_end >= last_ ? Range{} : Range{std::max(first_, prefix_end.next()), last_};
  }

  friend constexpr bool operator==(const Range& a, const Range& b) noexcept {
    return (a.empty() && b.empty()) || (a.first_ == b.first_ && a.last_ == b.last_);
  }

private:
  // Default: [1..=0], empty.
  Position first_{1};
  Position last_{0};
};

} // namespace mosaik
