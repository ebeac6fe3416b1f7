#pragma once
// CatchUpHandoff: what a follower's RaftCore remembers about handing a gap to
// a catch-up session and taking it back (as etcd raft gives a follower's
// replication state to `Progress`): whether a session runs, for which leader
// and term, the retry backoff after a failed one, how far the log is known to
// match the current leader's (the verified suffix), and the probe it asked
// the leader for. Plain state with the rules that read it; RaftCore decides
// when the events happen.

#include <algorithm>
#include <cstdint>
#include <optional>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/index.hpp>
#include <mosaik/core/time.hpp>

namespace mosaik::group {

class CatchUpHandoff {
public:
  enum class State : std::uint8_t {
    idle,       ///< no session: AppendEntries are handled by the core
    running,    ///< a session fills the gap; new leader entries go to its buffer
    cancelling, ///< the session's leader is gone: the host cancels it, its end is awaited
  };

  [[nodiscard]] State state() const noexcept { return state_; }
  [[nodiscard]] bool idle() const noexcept { return state_ == State::idle; }
  [[nodiscard]] bool running() const noexcept { return state_ == State::running; }
  [[nodiscard]] Term term() const noexcept { return term_; }
  [[nodiscard]] PeerId leader() const noexcept { return leader_; }
  [[nodiscard]] Index leader_commit() const noexcept { return leader_commit_; }

  // ---- the session ---------------------------------------------------------------

  /// A session opens for the leader `leader` of `term`, whose commit index is `leader_commit`.
  void open(Term term, PeerId leader, Index leader_commit) {
    state_ = State::running;
    term_ = term;
    leader_ = leader;
    leader_commit_ = leader_commit;
  }

  /// Whether an AppendEntries of `term` from `from` belongs to the running session's leader.
  [[nodiscard]] bool serves(Term term, PeerId from) const noexcept {
    return state_ == State::running && term == term_ && from == leader_;
  }

  /// The running session's leader committed up to `commit`.
  void leader_committed(Index commit) { leader_commit_ = std::max(leader_commit_, commit); }

  /// The host must cancel the running session (its leader changed or went silent).
  void cancel() {
    if (state_ == State::running) {
      state_ = State::cancelling;
    }
  }

  /// The session ended; returns whether it had been cancelled (the leader
  /// changed: no backoff). A failure that was not a cancellation holds the
  /// next session back until `now + backoff`.
  bool finished(bool ok, TimePoint now, Duration backoff) {
    const bool cancelled = state_ == State::cancelling;
    state_ = State::idle;
    if (!ok && !cancelled) {
      retry_at_ = now + backoff;
    }
    return cancelled;
  }

  /// A session whose outcome is still the current leader's: completed for
  /// the same term and leader it was opened for.
  [[nodiscard]] bool still_current(Term term, std::optional<PeerId> leader) const noexcept {
    return term == term_ && leader == leader_;
  }

  // ---- the retry backoff ------------------------------------------------------------

  [[nodiscard]] bool backing_off() const noexcept { return retry_at_.has_value(); }
  [[nodiscard]] std::optional<TimePoint> retry_at() const noexcept { return retry_at_; }
  /// Time passed: once the backoff is over, the next AppendEntries may open a session.
  void tick(TimePoint now) {
    if (retry_at_ && now >= *retry_at_) {
      retry_at_.reset();
    }
  }

  // ---- the verified suffix ---------------------------------------------------------

  /// Our log up to `index` equals the log of the leader of `term` (a matching
  /// AppendEntries, or a session filled it to that leader's cursor).
  void mark_verified(Index index, Term term, Index commit) {
    if (verified_term_ != term) {
      // Only this term's leader vouches: what an earlier leader checked says
      // nothing about the log of a leader that won a later term without it.
      verified_term_ = term;
      verified_ = commit;
    }
    verified_ = std::max(verified_, index);
  }

  /// Whether a log ending at `local` with `commit` committed is known to be a
  /// prefix of the log of the leader of `term`, whose previous cursor is `prev`.
  [[nodiscard]] bool suffix_verified(Cursor local, Index commit, Term term, Cursor prev) const noexcept {
    // Committed entries are everybody's; an entry of the leader's `prev` term can
    // only come from the leader of that term, whose log the current leader's extends.
    return local.index <= commit || local.term == prev.term ||
           (verified_term_ == term && verified_ >= local.index);
  }

  /// Entries from `from` on were dropped: they are verified no more.
  void truncated(Index from) { verified_ = std::min(verified_, from.prev()); }

  // ---- probes ---------------------------------------------------------------------------

  /// We asked the leader of `term` to probe at our last index `last`.
  void asked_probe(Term term, Index last) { probe_asked_ = Cursor{term, last}; }
  /// Whether we already asked the leader of `term` to probe at `last` (and it
  /// answered from beyond it again: it cannot check our suffix).
  [[nodiscard]] bool probe_asked(Term term, Index last) const noexcept {
    return probe_asked_ == Cursor{term, last};
  }
  void forget_probe() { probe_asked_.reset(); }

private:
  State state_ = State::idle;
  Term term_;
  PeerId leader_{};
  Index leader_commit_;
  std::optional<TimePoint> retry_at_;
  Index verified_;                    // our log up to here matches the log of the leader of verified_term_
  Term verified_term_;                // (a campaign or a new term makes it stale: see mark_verified)
  std::optional<Cursor> probe_asked_; // (term, our last index) when we last asked the leader to probe there
};

} // namespace mosaik::group
