#pragma once
// LogReplayCore: every decision of a log-replay catch-up session, as plain
// deterministic logic. It is fed events (a peer bonded or left, a message
// arrived, the leader sent more entries, time passed) and answers with
// messages to send (`take_outbox`), the next time it wants to be woken
// (`next_deadline`) and, at the end, an outcome. It appends to the local log
// directly, in index order, only what it has validated.
//
// Scheduling, per-peer records, answer classification, blame and in-order
// reassembly are the shared engine's (fetch::RangedFetch); this core keeps
// what is particular to log entries: availability answers and the leader's
// reach, the terms an answer must carry, the leader's buffered entries, and
// appending to the log.
//
// The awaitable LogReplaySession drives it; tests drive it by hand.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/core/bond_event.hpp>
#include <mosaik/core/format.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/fetch/ranged_fetch.hpp>
#include <mosaik/storage/log_storage.hpp>
#include <mosaik/sync/leader_buffer.hpp>
#include <mosaik/sync/log_replay/log_replay_config.hpp>
#include <mosaik/sync/log_replay/log_replay_messages.hpp>
#include <mosaik/sync/session_record.hpp>
#include <mosaik/sync/sync_outcome.hpp>
#include <mosaik/sync/sync_progress.hpp>

namespace mosaik::sync {

template <class Command>
class LogReplayCore {
public:
  using Message = LogReplayMessage<Command>;
  using entry_type = Entry<Command>;
  using Fetcher = fetch::RangedFetch<Index, entry_type>;

  struct Outgoing {
    PeerId peer{};
    Message message;
  };

  /// A session that fills `log` up to `target` (the leader's cursor before
  /// `entries`), then appends `entries` and whatever the leader sends later.
  LogReplayCore(const LogReplayConfig& config, storage::LogStorage<Command>& log, Cursor target,
                Index leader_commit, std::optional<PeerId> leader, std::vector<entry_type> entries,
                TimePoint now)
      : config_(config), log_(log), target_(target), leader_commit_(leader_commit), leader_(leader),
        record_(now),
        fetch_(config.fetch_policy(config.batch_size, config.max_response_bytes),
               IndexRange{log.last().index.next(), target.index}, leader, "log-replay", "entries"),
        buffer_(target) {
    const auto local = log_.last();
    total_ = target.index.distance_from(local.index);
    if (target.index <= local.index) {
      record_.end(now, behind(std::move(entries)));
      return;
    }
    log::info("log-replay: catching up {} entries {} (local {}, target {}, leader {}, leader commit {})",
              total_, fetch_.gap(), local, target,
              leader ? fmt::format("{}", *leader) : std::string{"unknown"}, leader_commit);
    if (!entries.empty()) {
      on_buffer(target, std::move(entries), now);
    }
  }

  // ---- events --------------------------------------------------------------

  /// The peers bonded when the session starts: each is asked what it holds.
  void start(const std::vector<PeerId>& bonded, TimePoint now) {
    if (record_.ended()) {
      return; // ended at once (target behind the log): nobody is asked anything
    }
    if (leader_) {
      // Leader last from the first fetch on: give the other peers a moment to
      // announce what they hold before the leader, often the first to answer, takes work.
      fetch_.hold_leader_until(now + config_.availability_retry_initial);
    }
    for (const auto peer : bonded) {
      on_bonded(peer);
    }
    if (config_.speculative_start) {
      speculate();
    }
    schedule(now);
  }

  void on_bond(const BondEvent& event, TimePoint now) {
    if (record_.ended()) {
      return; // the session is over: nobody is asked anything any more
    }
    if (event.kind == BondEvent::Kind::bonded) {
      on_bonded(event.peer);
    } else {
      fetch_.unbond(event.peer);
    }
    schedule(now);
  }

  void on_message(PeerId sender, Message&& message, TimePoint now) {
    record_.note(now);
    if (record_.ended()) {
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
    auto& counters = fetch_.counters();
    if (record_.ended()) {
      ++counters.stale_leader_batches;
      return;
    }
    const auto accepted = buffer_.accept_checked(position, std::move(entries), counters);
    if (!accepted) {
      log::warn("log-replay: ignored leader batch after {}: terms go backwards or behind the target {}",
                position, target_);
      return;
    }
    if (*accepted == LeaderBuffer<Command>::Accepted::retargeted) {
      // A hole or a different history after the target: fetch up to `position` from peers.
      retarget(buffer_.target());
    }
    if (buffer_.drop_over(config_.max_buffered_entries, counters)) {
      log::info("log-replay: more than {} leader entries buffered; fetching them from peers up to {}",
                config_.max_buffered_entries, buffer_.target());
      retarget(buffer_.target());
    }
    schedule(now);
  }

  /// Time passed: expire fetches, re-ask for availability when due, reschedule.
  void on_tick(TimePoint now) {
    record_.note(now);
    if (record_.ended()) {
      return;
    }
    // A peer whose fetch expired takes no new work until it says again what it holds.
    for (const auto peer : fetch_.tick(now, [this] { return needs_availability(); }).peers) {
      request_availability(peer);
    }
    schedule(now);
  }

  /// Ends the session: it reports `cancelled` and sends nothing more.
  void cancel(std::string reason = "cancelled by the host") {
    record_.cancel(log_.last(), std::move(reason));
  }

  // ---- outputs -------------------------------------------------------------

  [[nodiscard]] std::vector<Outgoing> take_outbox() { return record_.take_outbox(); }

  /// When the session wants on_tick() next: the earliest fetch deadline or availability retry.
  [[nodiscard]] std::optional<TimePoint> next_deadline() const {
    return record_.ended() ? std::nullopt : fetch_.next_deadline();
  }

  [[nodiscard]] const std::optional<SyncOutcome>& outcome() const noexcept { return record_.outcome(); }
  [[nodiscard]] Cursor target() const noexcept { return target_; }
  [[nodiscard]] const fetch::FetchScheduler<Index>& scheduler() const noexcept { return fetch_.scheduler(); }
  [[nodiscard]] const SessionCounters& counters() const noexcept { return fetch_.counters(); }
  [[nodiscard]] std::size_t chunks_held() const noexcept { return fetch_.chunks_held(); }
  [[nodiscard]] std::size_t buffered() const noexcept { return buffer_.size(); }

  [[nodiscard]] SyncProgress progress(TimePoint now) const {
    SyncProgress progress;
    progress.target = target_;
    progress.remaining = record_.ended() ? IndexRange{} : fetch_.gap();
    progress.total = total_;
    progress.done = done_;
    progress.buffered = buffer_.size();
    progress.elapsed = record_.elapsed(now);
    const auto seconds = std::chrono::duration<double>(progress.elapsed).count();
    progress.entries_per_second = seconds > 0 ? static_cast<double>(done_) / seconds : 0.0;
    for (const auto& [peer, record] : fetch_.peers()) {
      progress.peers.emplace(peer, record.progress);
    }
    progress.counters = fetch_.counters();
    return progress;
  }

private:
  void on_bonded(PeerId peer) {
    if (!fetch_.bond(peer)) {
      return; // the same peer twice: already asked
    }
    if (!fetch_.peer(peer).progress.excluded) {
      request_availability(peer);
    }
  }

  /// Until a peer says what it holds, it is taken to hold what the leader
  /// committed of the gap (the leader: up to the target, see leader_reach),
  /// so the first window goes out with the availability requests. A peer that
  /// holds less answers a prefix or nothing; its announcement, which it sends
  /// first, replaces the guess.
  void speculate() {
    const auto gap = fetch_.gap();
    const auto committed = IndexRange{gap.first(), std::min(leader_commit_, gap.last())};
    for (const auto peer : fetch_.usable_peer_ids()) {
      if (peer == leader_) {
        fetch_.set_availability(peer, leader_reach(IndexRange{}));
      } else if (!committed.empty()) {
        fetch_.set_availability(peer, committed);
      }
    }
  }

  void on_availability(PeerId sender, IndexRange available) {
    if (!fetch_.from_bonded(sender, "availability")) {
      return;
    }
    fetch_.answered(sender);
    log::trace("log-replay: peer {} holds {}", sender, available);
    if (sender == leader_) {
      leader_announced_ = available;
      available = leader_reach(available);
    }
    fetch_.set_availability(sender, available);
    fetch_.learn_timeouts();
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
    const auto gap = fetch_.gap();
    return gap.empty() ? announced : IndexRange{gap.first(), target_.index};
  }

  void on_entries(PeerId sender, FetchEntriesResponse<Command> response, TimePoint now) {
    if (!fetch_.from_bonded(sender, "entries")) {
      if (fetch_.is_excluded(sender)) {
        ++fetch_.counters().bad_responses; // an excluded peer's answers are bad ones still
      }
      return;
    }
    const auto range = response.range;
    // Entries carry no index: a range that starts later than asked cannot be
    // told from the same entries shifted onto other indices. An honest
    // provider answers so only when it pruned since it announced what it
    // holds; so it is given up on, without blame.
    const auto answer = fetch_.classify(sender, range, response.entries.size(), fetch::Shifted::give_up);
    if (answer.excluded) {
      on_excluded(sender);
    }
    if (answer.verdict != fetch::Verdict::matches) {
      return;
    }
    const auto& fetch = *answer.fetch;
    if (!LeaderBuffer<Command>::terms_follow(Term{1}, response.entries)) {
      reject(sender, range, fmt::format("terms of {} go backwards or are zero", range));
      return;
    }
    if (response.entries.back().term > target_.term) {
      disagree(sender, fetch,
               fmt::format("its entries up to {} reach term {}, beyond the leader's term {} at {}",
                           range.last(), response.entries.back().term, target_.term, target_.index),
               now);
      return;
    }
    if (range.contains(target_.index)) {
      const auto at_target =
          response.entries[static_cast<std::size_t>(target_.index.value() - range.first().value())].term;
      if (at_target != target_.term) {
        disagree(sender, fetch,
                 fmt::format("its entry {} has term {}, the leader's has term {}", target_.index, at_target,
                             target_.term),
                 now);
        return;
      }
    }
    fetch_.take(fetch, std::move(response.entries), now);
    fetch_.reset_retry_backoff();
    drain(now);
  }

  /// Drops a bad response, returns the requests it touched to the pool, and
  /// excludes a peer that keeps answering badly.
  void reject(PeerId sender, IndexRange range, const std::string& reason) {
    if (fetch_.reject(sender, range, reason)) {
      on_excluded(sender);
    }
  }

  /// Without the leader, what only it holds (its uncommitted tail) is out of
  /// reach for the rest of the session: end it, so that the host retries
  /// with a fresh one (the leader may have been faulty only for a while).
  void on_excluded(PeerId sender) {
    if (auto reason = fetch_.stranded_by(sender)) {
      fail(record_.last_event(), SyncStatus::failed, std::move(*reason));
    }
  }

  /// A well-formed answer that contradicts the leader's target cursor: either
  /// the peer lies or the target is stale. Nothing of it is appended and the
  /// peer is not charged with a bad response. Once a majority of the usable
  /// peers contradict the target, the session ends with term_mismatch so
  /// that the caller re-syncs from a fresh cursor.
  void disagree(PeerId sender, const typename Fetcher::Fetch& fetch, const std::string& reason,
                TimePoint now) {
    // Not asked again until it re-announces (on the backoff timer): no tight re-fetch loop.
    fetch_.give_up(fetch);
    target_disagreements_.insert(sender);
    ++fetch_.counters().target_disagreements;
    log::warn("log-replay: peer {} contradicts the target {}: {}", sender, target_, reason);
    const auto usable = fetch_.usable_peers();
    if (target_disagreements_.size() * 2 > usable) {
      fail(now, SyncStatus::term_mismatch,
           fmt::format("{} of {} peers contradict the leader's cursor {}; last: {}",
                       target_disagreements_.size(), usable, target_, reason));
    }
  }

  /// Appends every held chunk that continues the log, then checks for the end.
  void drain(TimePoint now) {
    while (!record_.ended()) {
      auto chunk = fetch_.take_next(log_.last().index.next());
      if (!chunk) {
        break;
      }
      if (chunk->items.front().term < log_.last().term) {
        // This chunk contradicts what is already appended: the peer that sent it is blamed.
        fetch_.discard(chunk->range);
        reject(chunk->peer, chunk->range,
               fmt::format("entry {} has a term below its predecessor's", chunk->range.first()));
        continue;
      }
      const auto count = chunk->items.size();
      log_.append_all(std::move(chunk->items));
      done_ += count;
      fetch_.peer(chunk->peer).progress.entries += count;
      fetch_.advance(chunk->range.last());
      log::debug("log-replay: appended {} from peer {} ({:.1f}% done)", chunk->range, chunk->peer,
                 total_ == 0 ? 100.0 : 100.0 * static_cast<double>(done_) / static_cast<double>(total_));
    }
    if (!record_.ended() && log_.last().index >= target_.index) {
      finish(now);
    }
  }

  void fail(TimePoint now, SyncStatus status, std::string reason) {
    log::warn("log-replay: catch-up failed: {}", reason);
    record_.end(now, SyncOutcome{status, log_.last(), std::move(reason)});
  }

  void finish(TimePoint now) {
    const auto term = log_.term_at(target_.index);
    if (term != target_.term) {
      fail(now, SyncStatus::term_mismatch,
           fmt::format("entry {} has term {}, the leader's has term {}", target_.index,
                       term ? fmt::format("{}", *term) : std::string{"?"}, target_.term));
      return;
    }
    log_.append_all(buffer_.take());
    record_.end(now, SyncOutcome{SyncStatus::completed, log_.last(), {}});
    std::size_t used = 0;
    std::uint64_t leader_entries = 0;
    for (const auto& [peer, record] : fetch_.peers()) {
      used += record.progress.entries > 0 ? 1 : 0;
      leader_entries += leader_ == peer ? record.progress.entries : 0;
    }
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(record_.elapsed(now)).count();
    log::info("log-replay: synced {} entries in {} ms from {} peers (leader served {}); log now ends at {}",
              done_, millis, used, leader_entries, log_.last());
  }

  /// The target was at or behind the local log when the session was made:
  /// nothing to fetch; keep what the log already has, append what follows it.
  [[nodiscard]] SyncOutcome behind(std::vector<entry_type> entries) {
    const auto end = [this](SyncStatus status, std::string reason) {
      return SyncOutcome{status, log_.last(), std::move(reason)};
    };
    const auto term = log_.term_at(target_.index);
    if (!term) {
      return end(SyncStatus::failed,
                 fmt::format("target {} lies below the first entry the log holds", target_));
    }
    if (*term != target_.term) {
      return end(SyncStatus::term_mismatch, fmt::format("entry {} has term {}, the leader's has term {}",
                                                        target_.index, *term, target_.term));
    }
    auto index = target_.index;
    for (auto& entry : entries) {
      index = index.next();
      if (const auto held = log_.term_at(index); !held) {
        log_.append(std::move(entry.command), entry.term);
      } else if (*held != entry.term) {
        return end(SyncStatus::failed,
                   fmt::format("local entry {} has term {}, the leader's has term {}: truncate the divergent "
                               "suffix before catching up",
                               index, *held, entry.term));
      }
    }
    return end(SyncStatus::completed, {});
  }

  void retarget(Cursor position) {
    target_disagreements_.clear();
    total_ += position.index.distance_from(target_.index);
    target_ = position;
    fetch_.set_gap_end(position.index);
    // The leader's reach follows the target, unless its availability was
    // dropped meanwhile (it re-announces, and is extended then).
    if (leader_ && leader_announced_ && fetch_.scheduler().availability(*leader_)) {
      fetch_.set_availability(*leader_, leader_reach(*leader_announced_));
    }
  }

  void request_availability(PeerId peer) {
    fetch_.ask_availability(peer);
    record_.send(Outgoing{peer, AvailabilityRequest{}});
  }

  [[nodiscard]] bool needs_availability() const {
    return fetch_.scheduler().has_uncovered() || fetch_.scheduler().inflight_total() == 0;
  }

  /// Sends the fetches the scheduler plans and keeps a timer armed: a session
  /// never waits without one.
  void schedule(TimePoint now) {
    if (record_.ended()) {
      return;
    }
    // The leader's hold ends early once every other peer said what it holds.
    for (const auto& fetch : fetch_.plan(now, fetch_.leader_held() && fetch_.others_answered())) {
      record_.send(Outgoing{fetch.peer, FetchEntriesRequest{fetch.range}});
    }
    if (needs_availability()) {
      fetch_.retry_later(now);
    }
  }

  LogReplayConfig config_;
  storage::LogStorage<Command>& log_;
  Cursor target_;
  Index leader_commit_;
  std::optional<PeerId> leader_;
  std::optional<IndexRange> leader_announced_; // the leader's last (commit-bounded) announcement
  SessionRecord<Outgoing> record_;
  std::set<PeerId> target_disagreements_; // peers whose entries contradict the target cursor
  Fetcher fetch_;
  LeaderBuffer<Command> buffer_; // leader entries after the target, in order
  std::uint64_t total_ = 0;
  std::uint64_t done_ = 0;
};

} // namespace mosaik::sync
