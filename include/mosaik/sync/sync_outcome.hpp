#pragma once
// SyncOutcome: how a catch-up session ended, as a value (no exceptions).

#include <string>

#include <mosaik/core/cursor.hpp>

namespace mosaik::sync {

enum class SyncStatus {
  completed,     ///< the gap is filled, the target verified, buffered entries appended
  term_mismatch, ///< the entry at the target index has another term: the caller must re-sync
  cancelled,     ///< cancel() was called, or the awaiting operation was cancelled
  failed,        ///< the session could not run (see reason)
};

[[nodiscard]] constexpr const char* to_string(SyncStatus status) noexcept {
  switch (status) {
  case SyncStatus::completed:
    return "completed";
  case SyncStatus::term_mismatch:
    return "term mismatch";
  case SyncStatus::cancelled:
    return "cancelled";
  case SyncStatus::failed:
    return "failed";
  }
  return "unknown";
}

struct SyncOutcome {
  SyncStatus status = SyncStatus::failed;
  /// The last cursor of the local log when the session ended.
  Cursor last{};
  /// Why, when the status is not `completed`.
  std::string reason;

  [[nodiscard]] bool ok() const noexcept { return status == SyncStatus::completed; }
};

} // namespace mosaik::sync
