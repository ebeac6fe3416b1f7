#pragma once
// Cursor: an entry's identity in a Raft log, its term and index together.
// Two logs that hold the same cursor hold the same prefix (log matching).

#include <mosaik/core/index.hpp>

namespace mosaik {

struct Cursor {
  Term term{};
  Index index{};

  friend constexpr bool operator==(const Cursor&, const Cursor&) noexcept = default;

  /// The cursor before the first entry of every log.
  static constexpr Cursor sentinel() noexcept { return Cursor{}; }
};

} // namespace mosaik
