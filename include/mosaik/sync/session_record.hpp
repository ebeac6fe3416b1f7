#pragma once
// SessionRecord: what every catch-up session core keeps alike, whatever it
// fetches: the messages it queued for the host, when it started and ended,
// and its outcome once it ended. The first end counts; a cancelled session
// sends nothing it had queued.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/sync/sync_outcome.hpp>

namespace mosaik::sync {

template <class Outgoing>
class SessionRecord {
public:
  explicit SessionRecord(TimePoint started) noexcept
      : started_at_(started), finished_at_(started), last_event_(started) {}

  [[nodiscard]] bool ended() const noexcept { return outcome_.has_value(); }
  [[nodiscard]] const std::optional<SyncOutcome>& outcome() const noexcept { return outcome_; }
  [[nodiscard]] TimePoint started_at() const noexcept { return started_at_; }
  /// When the event being handled happened (for an end decided deep inside it).
  [[nodiscard]] TimePoint last_event() const noexcept { return last_event_; }
  void note(TimePoint now) noexcept { last_event_ = now; }
  /// How long the session ran: until now while it runs, until its end after.
  [[nodiscard]] Duration elapsed(TimePoint now) const noexcept {
    return (outcome_ ? finished_at_ : now) - started_at_;
  }

  void send(Outgoing outgoing) { outbox_.push_back(std::move(outgoing)); }
  [[nodiscard]] std::vector<Outgoing> take_outbox() { return std::exchange(outbox_, {}); }
  /// Forgets what was queued and not yet taken.
  void drop_outbox() noexcept { outbox_.clear(); }

  /// Ends the session at `now`; a session that already ended keeps its outcome.
  void end(TimePoint now, SyncOutcome outcome) {
    if (!outcome_) {
      finished_at_ = now;
      outcome_ = std::move(outcome);
    }
  }
  /// Ends it as cancelled by the host (at its last event): nothing queued is sent.
  void cancel(Cursor log_end, std::string reason) {
    if (!outcome_) {
      end(last_event_, SyncOutcome{SyncStatus::cancelled, log_end, std::move(reason)});
      outbox_.clear();
    }
  }

private:
  TimePoint started_at_;
  TimePoint finished_at_;
  TimePoint last_event_;
  std::vector<Outgoing> outbox_;
  std::optional<SyncOutcome> outcome_;
};

} // namespace mosaik::sync
