#pragma once
// LogReplayCore: every decision of a log-replay catch-up session, as plain
// deterministic logic. It is fed events (a peer bonded or left, a message
// arrived, the leader sent more entries, time passed) and answers with
// messages to send (`take_outbox`), the next time it wants to be woken
// (`next_deadline`) and, at the end, an outcome. It appends to the local log
// directly, in index order, only what it has validated.
//
// The awaitable LogReplaySession drives it; tests drive it by hand.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/core/format.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/storage/log_storage.hpp>
#include <mosaik/sync/bond_event.hpp>
#include <mosaik/sync/fetch_peer.hpp>
#include <mosaik/sync/leader_buffer.hpp>
#include <mosaik/sync/log_replay/config.hpp>
#include <mosaik/sync/log_replay/messages.hpp>
#include <mosaik/sync/log_replay/response_time.hpp>
#include <mosaik/sync/log_replay/scheduler.hpp>
#include <mosaik/sync/sync_outcome.hpp>
#include <mosaik/sync/sync_progress.hpp>

namespace mosaik::sync {

template <class Command>
class LogReplayCore {
public:
  using Message = LogReplayMessage<Command>;
  using entry_type = Entry<Command>;

  struct Outgoing {
    PeerId peer{};
    Message message;
  };

  /// A session that fills `log` up to `target` (the leader's cursor before
  /// `entries`), then appends `entries` and whatever the leader sends later.
  LogReplayCore(const LogReplayConfig& config, LogStorage<Command>& log, Cursor target, Index leader_commit,
                std::optional<PeerId> leader, std::vector<entry_type> entries, TimePoint now)
      : config_(config), log_(log), target_(target), leader_commit_(leader_commit), leader_(leader),
        started_at_(now), retry_backoff_(config.availability_retry_initial),
        scheduler_(
            FetchScheduler::Limits{config.batch_size, config.max_inflight_per_peer, config.fetch_timeout},
            IndexRange{log.last().index.next(), target.index}, leader),
        buffer_(target) {
    const auto local = log_.last();
    total_ = target.index.distance_from(local.index);
    if (target.index <= local.index) {
      finish_behind(std::move(entries));
      return;
    }
    log::info("log-replay: catching up {} entries {} (local {}, target {}, leader {}, leader commit {})",
              total_, scheduler_.gap(), local, target,
              leader ? fmt::format("{}", *leader) : std::string{"unknown"}, leader_commit);
    if (!entries.empty()) {
      on_buffer(target, std::move(entries), now);
    }
  }

  // ---- events --------------------------------------------------------------

  /// The peers bonded when the session starts: each is asked what it holds.
  void start(const std::vector<PeerId>& bonded, TimePoint now) {
    if (outcome_) {
      return; // ended at once (target behind the log): nobody is asked anything
    }
    if (leader_) {
      // Leader last from the first fetch on: give the other peers a moment to
      // announce what they hold before the leader, often the first to answer, takes work.
      leader_hold_until_ = now + config_.availability_retry_initial;
    }
    for (const auto peer : bonded) {
      on_bonded(peer);
    }
    schedule(now);
  }

  void on_bond(const BondEvent& event, TimePoint now) {
    if (outcome_) {
      return; // the session is over: nobody is asked anything any more
    }
    if (event.kind == BondEvent::Kind::bonded) {
      on_bonded(event.peer);
    } else {
      on_terminated(event.peer);
    }
    schedule(now);
  }

  void on_message(PeerId sender, Message message, TimePoint now) {
    last_event_ = now;
    if (outcome_) {
      return;
    }
    if (auto* availability = std::get_if<AvailabilityResponse>(&message)) {
      on_availability(sender, availability->available);
    } else if (auto* response = std::get_if<FetchEntriesResponse<Command>>(&message)) {
      on_entries(sender, std::move(*response), now);
    }
    // Requests are for the provider; the host routes them there.
    schedule(now);
  }

  /// The leader sent `entries` after `position` while the session runs.
  void on_buffer(Cursor position, std::vector<entry_type> entries, TimePoint now) {
    if (outcome_) {
      ++counters_.stale_leader_batches;
      return;
    }
    if (!LeaderBuffer<Command>::terms_follow(position.term, entries)) {
      ++counters_.stale_leader_batches;
      log::warn("log-replay: ignored leader batch after {}: terms go backwards", position);
      return;
    }
    switch (buffer_.accept(position, std::move(entries))) {
    case LeaderBuffer<Command>::Accepted::appended:
      break;
    case LeaderBuffer<Command>::Accepted::retargeted:
      // A hole or a different history after the target: fetch up to `position` from peers.
      retarget(buffer_.target());
      break;
    case LeaderBuffer<Command>::Accepted::stale:
      ++counters_.stale_leader_batches;
      log::warn("log-replay: ignored leader batch after {}: behind the target {}", position, target_);
      return;
    }
    if (buffer_.size() > config_.max_buffered_entries) {
      const auto last = buffer_.last();
      ++counters_.buffer_overflows;
      log::info("log-replay: {} buffered leader entries exceed {}; fetching them from peers up to {}",
                buffer_.size(), config_.max_buffered_entries, last);
      buffer_.drop_to(last);
      retarget(last);
    }
    counters_.max_buffered_entries = std::max<std::uint64_t>(counters_.max_buffered_entries, buffer_.size());
    schedule(now);
  }

  /// Time passed: expire fetches, re-ask for availability when due, reschedule.
  void on_tick(TimePoint now) {
    last_event_ = now;
    if (outcome_) {
      return;
    }
    std::set<PeerId> to_ask; // each peer asked once a tick, however many reasons there are
    const auto expired = scheduler_.expire(now);
    for (const auto& fetch : expired) {
      ++counters_.timeouts;
      auto& peer = peers_[fetch.peer];
      ++peer.progress.timeouts;
      FetchPeer::remember(peer.abandoned, fetch.range);
      peer.response_time.back_off();
      log::warn("log-replay: fetch {} from peer {} timed out; rescheduling it and asking the peer again",
                fetch.range, fetch.peer);
      // Slow or gone: no new work until it answers an availability request.
      scheduler_.forget_availability(fetch.peer);
      if (peer.bonded && !peer.progress.excluded) {
        to_ask.insert(fetch.peer);
      }
    }
    if (!expired.empty()) {
      apply_timeouts();
    }
    if (retry_at_ && *retry_at_ <= now) {
      retry_at_.reset();
      if (needs_availability()) {
        log::debug("log-replay: part of {} is held by no known peer; asking all peers again (backoff {} ms)",
                   scheduler_.gap(),
                   std::chrono::duration_cast<std::chrono::milliseconds>(retry_backoff_).count());
        for (auto& [peer, record] : peers_) {
          if (record.bonded && !record.progress.excluded) {
            to_ask.insert(peer);
          }
        }
        retry_backoff_ = std::min(retry_backoff_ * 2, config_.availability_retry_max);
      }
    }
    for (const auto peer : to_ask) {
      request_availability(peer);
    }
    schedule(now);
  }

  /// Ends the session: it reports `cancelled` and sends nothing more.
  void cancel(std::string reason = "cancelled by the host") {
    if (!outcome_) {
      outcome_ = SyncOutcome{SyncStatus::cancelled, log_.last(), std::move(reason)};
      outbox_.clear();
    }
  }

  // ---- outputs -------------------------------------------------------------

  [[nodiscard]] std::vector<Outgoing> take_outbox() { return std::exchange(outbox_, {}); }

  /// When the session wants on_tick() next: the earliest fetch deadline or availability retry.
  [[nodiscard]] std::optional<TimePoint> next_deadline() const {
    if (outcome_) {
      return std::nullopt;
    }
    auto deadline = scheduler_.next_deadline();
    for (const auto& other : {retry_at_, leader_hold_until_}) {
      if (other && (!deadline || *other < *deadline)) {
        deadline = other;
      }
    }
    return deadline;
  }

  [[nodiscard]] const std::optional<SyncOutcome>& outcome() const noexcept { return outcome_; }
  [[nodiscard]] Cursor target() const noexcept { return target_; }
  [[nodiscard]] const FetchScheduler& scheduler() const noexcept { return scheduler_; }
  [[nodiscard]] const SessionCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] std::size_t chunks_held() const noexcept { return chunks_.size(); }
  [[nodiscard]] std::size_t buffered() const noexcept { return buffer_.size(); }

  [[nodiscard]] SyncProgress progress(TimePoint now) const {
    SyncProgress progress;
    progress.target = target_;
    progress.remaining = outcome_ ? IndexRange{} : scheduler_.gap();
    progress.total = total_;
    progress.done = done_;
    progress.buffered = buffer_.size();
    progress.elapsed = (outcome_ ? finished_at_ : now) - started_at_;
    const auto seconds = std::chrono::duration<double>(progress.elapsed).count();
    progress.entries_per_second = seconds > 0 ? static_cast<double>(done_) / seconds : 0.0;
    for (const auto& [peer, record] : peers_) {
      progress.peers.emplace(peer, record.progress);
    }
    progress.counters = counters_;
    return progress;
  }

private:
  struct Chunk {
    Index last;
    PeerId peer;
    std::vector<entry_type> entries;
  };

  void on_bonded(PeerId peer) {
    auto& record = peers_[peer];
    if (record.bonded) {
      return; // the same peer twice: already asked
    }
    record.bonded = true;
    if (!record.progress.excluded) {
      request_availability(peer);
    }
  }

  void on_terminated(PeerId peer) {
    const auto it = peers_.find(peer);
    if (it == peers_.end() || !it->second.bonded) {
      return;
    }
    it->second.bonded = false;
    const auto released = scheduler_.remove_peer(peer);
    log::debug("log-replay: peer {} left; {} fetches return to the pool", peer, released.size());
  }

  void on_availability(PeerId sender, IndexRange available) {
    const auto it = peers_.find(sender);
    if (it == peers_.end() || !it->second.bonded) {
      ++counters_.unbonded_messages;
      log::debug("log-replay: ignored availability from unbonded peer {}", sender);
      return;
    }
    if (it->second.progress.excluded) {
      return;
    }
    awaiting_availability_.erase(sender);
    log::trace("log-replay: peer {} holds {}", sender, available);
    if (sender == leader_) {
      leader_announced_ = available;
      available = leader_reach(available);
    }
    scheduler_.set_availability(sender, available);
    apply_timeouts();
  }

  /// What the session may fetch from its leader, given what the leader
  /// announced. Providers announce only committed entries, yet the entries
  /// above every provider's commit index, up to the target (the leader's own
  /// cursor), exist only on the leader, which may need this very follower's
  /// acknowledgement to commit them (say three peers, one down, this one
  /// lagging): waiting for a commit would stall for ever. Asking the leader
  /// for them is the same trust as taking them by AppendEntries, and its
  /// answers pass the same checks as any other (terms, the target's term).
  /// The leader is still scheduled last, so the others serve what they hold.
  /// A peer that is no longer leader serves only committed entries: its empty
  /// answer releases the request, which is asked again after it re-announces.
  [[nodiscard]] IndexRange leader_reach(IndexRange announced) const {
    if (!announced.empty()) {
      return IndexRange{announced.first(), std::max(announced.last(), target_.index)};
    }
    const auto gap = scheduler_.gap();
    return gap.empty() ? announced : IndexRange{gap.first(), target_.index};
  }

  void on_entries(PeerId sender, FetchEntriesResponse<Command> response, TimePoint now) {
    const auto it = peers_.find(sender);
    if (it == peers_.end() || !it->second.bonded) {
      ++counters_.unbonded_messages;
      log::debug("log-replay: ignored entries from unbonded peer {}", sender);
      return;
    }
    if (it->second.progress.excluded) {
      ++counters_.bad_responses;
      return;
    }
    const auto range = response.range;
    if (response.entries.empty()) {
      const auto fetch = scheduler_.find_inflight(sender, range);
      if (fetch && fetch->range == range) {
        ++counters_.empty_responses;
        log::debug("log-replay: peer {} holds nothing of {}; asking elsewhere", sender, range);
        scheduler_.release(*fetch);
        scheduler_.forget_availability(sender);
        return;
      }
      reject(sender, range, fmt::format("empty response for {} matches no request in flight", range));
      return;
    }
    if (range.empty() || response.entries.size() != range.size()) {
      reject(sender, range,
             fmt::format("{} entries do not match the range {}", response.entries.size(), range));
      return;
    }
    const auto fetch = scheduler_.find_inflight(sender, range);
    if (!fetch) {
      if (!scheduler_.inflight_overlapping(sender, range).empty()) {
        reject(sender, range, fmt::format("range {} is outside the range requested", range));
      } else if (FetchPeer::contains_any(it->second.abandoned, range)) {
        ++counters_.late_responses;
        log::debug("log-replay: dropped late answer {} from peer {}", range, sender);
      } else if (FetchPeer::contains_any(it->second.accepted, range)) {
        ++counters_.duplicate_responses;
        log::debug("log-replay: dropped a second copy of {} from peer {}", range, sender);
      } else {
        reject(sender, range, fmt::format("unsolicited or duplicate response for {}", range));
      }
      return;
    }
    if (range.first() != fetch->range.first()) {
      // Entries carry no index: a range that starts later than asked cannot
      // be told from the same entries shifted onto other indices. An honest
      // provider answers so only when it pruned since it announced what it
      // holds; so take nothing and ask it again what it holds (no blame).
      ++counters_.empty_responses;
      log::debug("log-replay: peer {} answered {} for {}: not from its start; asking what it holds", sender,
                 range, fetch->range);
      scheduler_.release(*fetch);
      FetchPeer::remember(it->second.abandoned, fetch->range);
      scheduler_.forget_availability(sender);
      return;
    }
    if (!LeaderBuffer<Command>::terms_follow(Term{1}, response.entries)) {
      reject(sender, range, fmt::format("terms of {} go backwards or are zero", range));
      return;
    }
    if (response.entries.back().term > target_.term) {
      disagree(sender, *fetch,
               fmt::format("its entries up to {} reach term {}, beyond the leader's term {} at {}",
                           range.last(), response.entries.back().term, target_.term, target_.index),
               now);
      return;
    }
    if (range.contains(target_.index)) {
      const auto at_target =
          response.entries[static_cast<std::size_t>(target_.index.value() - range.first().value())].term;
      if (at_target != target_.term) {
        disagree(sender, *fetch,
                 fmt::format("its entry {} has term {}, the leader's has term {}", target_.index, at_target,
                             target_.term),
                 now);
        return;
      }
    }
    scheduler_.complete(*fetch, range);
    FetchPeer::remember(it->second.accepted, range);
    it->second.response_time.sample(now - fetch->sent_at);
    it->second.progress.response_time = it->second.response_time.smoothed().value_or(Duration{});
    apply_timeouts();
    retry_backoff_ = config_.availability_retry_initial;
    chunks_.emplace(range.first(), Chunk{range.last(), sender, std::move(response.entries)});
    entries_held_ += range.size();
    counters_.max_chunks_held = std::max<std::uint64_t>(counters_.max_chunks_held, chunks_.size());
    counters_.max_entries_held = std::max<std::uint64_t>(counters_.max_entries_held, entries_held_);
    drain(now);
  }

  /// Drops a bad response, returns the requests it touched to the pool, and
  /// excludes a peer that keeps answering badly.
  void reject(PeerId sender, IndexRange range, const std::string& reason) {
    ++counters_.bad_responses;
    auto& record = peers_[sender];
    ++record.progress.bad_responses;
    log::warn("log-replay: rejected response from peer {}: {}", sender, reason);
    for (const auto& fetch : scheduler_.inflight_overlapping(sender, range)) {
      scheduler_.release(fetch);
      FetchPeer::remember(record.abandoned, fetch.range);
    }
    if (record.progress.bad_responses >= config_.max_bad_responses && !record.progress.excluded) {
      record.progress.excluded = true;
      ++counters_.excluded_peers;
      scheduler_.remove_peer(sender);
      log::warn("log-replay: excluded peer {} after {} bad responses", sender, record.progress.bad_responses);
      // Without the leader, what only it holds (its uncommitted tail) is out of
      // reach for the rest of the session: end it, so that the host retries
      // with a fresh one (the leader may have been faulty only for a while).
      if (usable_peers(peers_) == 0 || sender == leader_) {
        finished_at_ = last_event_;
        outcome_ = SyncOutcome{
            SyncStatus::failed, log_.last(),
            sender == leader_
                ? fmt::format("the leader, peer {}, was excluded for bad responses", sender)
                : fmt::format("every bonded peer was excluded for bad responses (last: peer {})", sender)};
        log::warn("log-replay: catch-up failed: {}", outcome_->reason);
      }
    }
  }

  /// A well-formed answer that contradicts the leader's target cursor: either
  /// the peer lies or the target is stale. Nothing of it is appended and the
  /// peer is not charged with a bad response. Once a majority of the usable
  /// peers contradict the target, the session ends with term_mismatch so
  /// that the caller re-syncs from a fresh cursor.
  void disagree(PeerId sender, const FetchScheduler::Fetch& fetch, const std::string& reason, TimePoint now) {
    scheduler_.release(fetch);
    // Not asked again until it re-announces (on the backoff timer): no tight re-fetch loop.
    scheduler_.forget_availability(sender);
    FetchPeer::remember(peers_[sender].abandoned, fetch.range);
    target_disagreements_.insert(sender);
    ++counters_.target_disagreements;
    log::warn("log-replay: peer {} contradicts the target {}: {}", sender, target_, reason);
    const auto usable = usable_peers(peers_);
    if (target_disagreements_.size() * 2 > usable) {
      finished_at_ = now;
      outcome_ = SyncOutcome{SyncStatus::term_mismatch, log_.last(),
                             fmt::format("{} of {} peers contradict the leader's cursor {}; last: {}",
                                         target_disagreements_.size(), usable, target_, reason)};
      log::warn("log-replay: catch-up failed: {}", outcome_->reason);
    }
  }

  /// Appends every held chunk that continues the log, then checks for the end.
  void drain(TimePoint now) {
    while (!chunks_.empty() && !outcome_) {
      auto it = chunks_.begin();
      const auto next = log_.last().index.next();
      if (it->first != next) {
        break;
      }
      auto chunk = std::move(it->second);
      chunks_.erase(it);
      const IndexRange range{next, chunk.last};
      entries_held_ -= range.size();
      if (chunk.entries.front().term < log_.last().term) {
        // This chunk contradicts what is already appended: the peer that sent it is blamed.
        scheduler_.discard_received(range);
        reject(chunk.peer, range, fmt::format("entry {} has a term below its predecessor's", next));
        continue;
      }
      const auto count = chunk.entries.size();
      log_.append_all(std::move(chunk.entries));
      done_ += count;
      peers_[chunk.peer].progress.entries += count;
      scheduler_.advance(range.last());
      log::debug("log-replay: appended {} from peer {} ({:.1f}% done)", range, chunk.peer,
                 total_ == 0 ? 100.0 : 100.0 * static_cast<double>(done_) / static_cast<double>(total_));
    }
    if (!outcome_ && log_.last().index >= target_.index) {
      finish(now);
    }
  }

  void finish(TimePoint now) {
    finished_at_ = now;
    const auto term = log_.term_at(target_.index);
    if (term != target_.term) {
      outcome_ = SyncOutcome{SyncStatus::term_mismatch, log_.last(),
                             fmt::format("entry {} has term {}, the leader's has term {}", target_.index,
                                         term ? fmt::format("{}", *term) : std::string{"?"}, target_.term)};
      log::warn("log-replay: catch-up failed: {}", outcome_->reason);
      return;
    }
    log_.append_all(buffer_.take());
    outcome_ = SyncOutcome{SyncStatus::completed, log_.last(), {}};
    std::size_t used = 0;
    std::uint64_t leader_entries = 0;
    for (const auto& [peer, record] : peers_) {
      used += record.progress.entries > 0 ? 1 : 0;
      leader_entries += leader_ == peer ? record.progress.entries : 0;
    }
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now - started_at_).count();
    log::info("log-replay: synced {} entries in {} ms from {} peers (leader served {}); log now ends at {}",
              done_, millis, used, leader_entries, log_.last());
  }

  /// The target was at or behind the local log when the session was made.
  void finish_behind(std::vector<entry_type> entries) {
    const auto term = log_.term_at(target_.index);
    if (!term) {
      outcome_ = SyncOutcome{SyncStatus::failed, log_.last(),
                             fmt::format("target {} lies below the first entry the log holds", target_)};
    } else if (*term != target_.term) {
      outcome_ = SyncOutcome{
          SyncStatus::term_mismatch, log_.last(),
          fmt::format("entry {} has term {}, the leader's has term {}", target_.index, *term, target_.term)};
    } else {
      // Nothing to fetch: keep what the log already has, append what follows it.
      auto index = target_.index;
      for (auto& entry : entries) {
        index = index.next();
        if (const auto held = log_.term_at(index)) {
          if (*held != entry.term) {
            outcome_ =
                SyncOutcome{SyncStatus::failed, log_.last(),
                            fmt::format("local entry {} has term {}, the leader's has term {}: truncate the "
                                        "divergent suffix before catching up",
                                        index, *held, entry.term)};
            return;
          }
        } else {
          log_.append(std::move(entry.command), entry.term);
        }
      }
      outcome_ = SyncOutcome{SyncStatus::completed, log_.last(), {}};
    }
  }

  void apply_timeouts() {
    learn_timeouts(peers_, scheduler_, config_.min_fetch_timeout, config_.fetch_timeout);
  }

  void retarget(Cursor position) {
    target_disagreements_.clear();
    total_ += position.index.distance_from(target_.index);
    target_ = position;
    scheduler_.set_gap_end(position.index);
    // The leader's reach follows the target, unless its availability was
    // dropped meanwhile (it re-announces, and is extended then).
    if (leader_ && leader_announced_ && scheduler_.availability(*leader_)) {
      scheduler_.set_availability(*leader_, leader_reach(*leader_announced_));
    }
  }

  void request_availability(PeerId peer) {
    awaiting_availability_.insert(peer);
    ++counters_.availability_requests;
    outbox_.push_back(Outgoing{peer, AvailabilityRequest{}});
  }

  [[nodiscard]] bool needs_availability() const {
    return scheduler_.has_uncovered() || scheduler_.inflight_total() == 0;
  }

  /// Sends the fetches the scheduler plans and keeps a timer armed: a session
  /// never waits without one.
  void schedule(TimePoint now) {
    if (outcome_) {
      return;
    }
    if (leader_hold_until_) {
      const bool others_pending =
          std::any_of(awaiting_availability_.begin(), awaiting_availability_.end(),
                      [this](PeerId peer) { return peer != leader_ && peers_[peer].bonded; });
      if (now >= *leader_hold_until_ || !others_pending) {
        leader_hold_until_.reset();
      }
    }
    scheduler_.hold_leader(leader_hold_until_.has_value());
    for (const auto& fetch : scheduler_.plan(now)) {
      ++counters_.fetch_requests;
      ++peers_[fetch.peer].progress.requests;
      log::trace("log-replay: fetching {} from peer {}", fetch.range, fetch.peer);
      outbox_.push_back(Outgoing{fetch.peer, FetchEntriesRequest{fetch.range}});
    }
    if (!retry_at_ && needs_availability()) {
      retry_at_ = now + retry_backoff_;
    }
  }

  LogReplayConfig config_;
  LogStorage<Command>& log_;
  Cursor target_;
  Index leader_commit_;
  std::optional<PeerId> leader_;
  std::optional<IndexRange> leader_announced_; // the leader's last (commit-bounded) announcement
  TimePoint started_at_;
  TimePoint finished_at_{};
  TimePoint last_event_{}; // when the event being handled happened
  Duration retry_backoff_;
  std::optional<TimePoint> retry_at_;
  std::optional<TimePoint>
      leader_hold_until_;                  // the leader takes no work before this, unless all others answered
  std::set<PeerId> awaiting_availability_; // asked what they hold, no answer yet
  std::set<PeerId> target_disagreements_;  // peers whose entries contradict the target cursor
  FetchScheduler scheduler_;
  std::map<PeerId, FetchPeer> peers_;
  std::map<Index, Chunk> chunks_; // received out of order, keyed by first index
  std::uint64_t entries_held_ = 0;
  LeaderBuffer<Command> buffer_; // leader entries after the target, in order
  std::vector<Outgoing> outbox_;
  std::optional<SyncOutcome> outcome_;
  std::uint64_t total_ = 0;
  std::uint64_t done_ = 0;
  SessionCounters counters_;
};

} // namespace mosaik::sync
