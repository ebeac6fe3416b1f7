#pragma once
// IndexRange: an inclusive range of log indices, [first..=last]. An empty
// range is representable (first > last) so that "nothing" needs no optional.

#include <algorithm>
#include <cstdint>

#include <mosaik/core/index.hpp>

namespace mosaik {

class IndexRange {
public:
  /// The empty range.
  constexpr IndexRange() noexcept = default;
  constexpr IndexRange(Index first, Index last) noexcept : first_(first), last_(last) {}

  /// `count` entries starting at `first`.
  static constexpr IndexRange starting_at(Index first, std::uint64_t count) noexcept {
    return count == 0 ? IndexRange{} : IndexRange{first, first + (count - 1)};
  }
  static constexpr IndexRange empty_range() noexcept { return IndexRange{}; }

  [[nodiscard]] constexpr Index first() const noexcept { return first_; }
  [[nodiscard]] constexpr Index last() const noexcept { return last_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return first_ > last_; }
  [[nodiscard]] constexpr std::uint64_t size() const noexcept {
    return empty() ? 0 : last_.value() - first_.value() + 1;
  }
  [[nodiscard]] constexpr bool contains(Index index) const noexcept {
    return first_ <= index && index <= last_;
  }
  [[nodiscard]] constexpr bool contains(const IndexRange& other) const noexcept {
    return other.empty() || (!empty() && first_ <= other.first_ && other.last_ <= last_);
  }
  [[nodiscard]] constexpr bool overlaps(const IndexRange& other) const noexcept {
    return !intersect(other).empty();
  }
  [[nodiscard]] constexpr IndexRange intersect(const IndexRange& other) const noexcept {
    if (empty() || other.empty()) {
      return {};
    }
    return IndexRange{std::max(first_, other.first_), std::min(last_, other.last_)};
  }
  /// The first `count` entries of this range (or all of it).
  [[nodiscard]] constexpr IndexRange take_front(std::uint64_t count) const noexcept {
    if (empty() || count == 0) {
      return {};
    }
    return count >= size() ? *this : IndexRange{first_, first_ + (count - 1)};
  }
  /// What is left of this range after `prefix_end` (inclusive).
  [[nodiscard]] constexpr IndexRange after(Index prefix_end) const noexcept {
    return prefix_end >= last_ ? IndexRange{} : IndexRange{std::max(first_, prefix_end.next()), last_};
  }

  friend constexpr bool operator==(const IndexRange& a, const IndexRange& b) noexcept {
    return (a.empty() && b.empty()) || (a.first_ == b.first_ && a.last_ == b.last_);
  }

private:
  // Default: [1..=0], empty.
  Index first_{1};
  Index last_{0};
};

} // namespace mosaik
