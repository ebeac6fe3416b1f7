#pragma once
// FsyncPolicy: when a durable log forces its appends to stable storage.

#include <cstdint>
#include <optional>
#include <string_view>

namespace mosaik::storage {

enum class FsyncPolicy : std::uint8_t {
  /// Every append is durable when it returns (one fdatasync per append or append_all).
  always,
  /// Group commit: appends are written through a buffer and become durable
  /// together at the next sync() (one fdatasync for many appends).
  batch,
  /// Nothing is ever forced to disk; sync() only hands the bytes to the OS.
  /// For tests and benchmarks: a power loss may lose acknowledged entries.
  never,
};

[[nodiscard]] constexpr std::string_view to_string(FsyncPolicy policy) noexcept {
  switch (policy) {
  case FsyncPolicy::always:
    return "always";
  case FsyncPolicy::batch:
    return "batch";
  case FsyncPolicy::never:
    return "never";
  }
  return "unknown";
}

/// "always", "batch" or "never"; nullopt for anything else.
[[nodiscard]] constexpr std::optional<FsyncPolicy> parse_fsync_policy(std::string_view text) noexcept {
  for (const auto policy : {FsyncPolicy::always, FsyncPolicy::batch, FsyncPolicy::never}) {
    if (text == to_string(policy)) {
      return policy;
    }
  }
  return std::nullopt;
}

} // namespace mosaik::storage
