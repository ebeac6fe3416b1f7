#pragma once
// Entry: one command of the replicated log together with the term in which a
// leader created it. The index is implied by the entry's position.

#include <mosaik/core/index.hpp>

namespace mosaik {

template <class Command>
struct Entry {
  Term term{};
  Command command{};

  friend bool operator==(const Entry&, const Entry&) = default;
};

} // namespace mosaik
