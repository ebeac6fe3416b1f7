#pragma once
// SnapshotSyncCore: every decision of a snapshot-strategy catch-up session,
// as plain deterministic logic (fed events, answering with messages, a
// deadline and at the end an outcome), like LogReplayCore, which it embeds.
//
// It first asks every peer which entries it holds. When some peer still
// holds the start of the gap, the session is a log-replay session. When
// every peer pruned past it, it asks the leader for a snapshot (the leader
// replicates the request, so every member snapshots at the same index and
// offers it), fetches the snapshot's items from every peer that offers the
// same snapshot (scheduled as log replay schedules entries: in parallel, in
// a bounded window, leader last, with learned timeouts: the shared engine,
// fetch::RangedFetch), hands the whole to the host to install, and then
// replays whatever lies between the snapshot and the leader's entries
// buffered meanwhile.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/core/bond_event.hpp>
#include <mosaik/core/format.hpp>
#include <mosaik/core/item_range.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/fetch/ranged_fetch.hpp>
#include <mosaik/storage/log_storage.hpp>
#include <mosaik/sync/leader_buffer.hpp>
#include <mosaik/sync/log_replay/log_replay_core.hpp>
#include <mosaik/sync/session_record.hpp>
#include <mosaik/sync/snapshot/snapshot_config.hpp>
#include <mosaik/sync/snapshot/snapshot_contexts.hpp>
#include <mosaik/sync/snapshot/snapshot_messages.hpp>
#include <mosaik/sync/snapshot/snapshot_offers.hpp>
#include <mosaik/sync/stall_watch.hpp>
#include <mosaik/sync/sync_outcome.hpp>
#include <mosaik/sync/sync_progress.hpp>

namespace mosaik::sync {

template <class Command, class Item>
class SnapshotSyncCore {
public:
  using Message = SnapshotSyncMessage<Command, Item>;
  using entry_type = Entry<Command>;
  using Fetcher = fetch::RangedFetch<ItemNumber, Item>;

  struct Outgoing {
    PeerId peer{};
    Message message;
  };

  enum class Phase : std::uint8_t {
    probing,  ///< asking peers what they hold
    snapshot, ///< fetching a snapshot's items
    replay,   ///< replaying entries (from the start, or after the snapshot)
  };

  SnapshotSyncCore(const SnapshotConfig& config, storage::LogStorage<Command>& log, SnapshotSink<Item>& sink,
                   Cursor target, Index leader_commit, std::optional<PeerId> leader,
                   std::vector<entry_type> entries, TimePoint now, bool replace_suffix = false)
      : config_(config), log_(log), sink_(sink), leader_commit_(leader_commit), leader_(leader), record_(now),
        buffer_(target), items_(config.replay.fetch_policy(config.item_batch, config.max_response_bytes),
                                ItemRange{}, leader, "snapshot-sync", "items"),
        stall_({log.last().index, 0}, now, config.stall_timeout), replace_suffix_(replace_suffix) {
    (void)buffer_.accept_checked(target, std::move(entries), items_.counters());
    if (target.index <= log_.last().index && !replace_suffix_) {
      phase_ = Phase::replay; // nothing to fetch: log replay checks the target and appends the rest
    }
  }

  // ---- events --------------------------------------------------------------

  void start(const std::vector<PeerId>& bonded, TimePoint now) {
    for (const auto peer : bonded) {
      items_.bond(peer);
    }
    if (phase_ == Phase::replay) {
      start_replay(now);
      return;
    }
    if (replace_suffix_) {
      // Replay would append after a suffix no leader checked: only a snapshot above it will do.
      log::info("snapshot-sync: our log's suffix up to {} could not be checked; fetching a snapshot above it",
                log_.last());
      decide(now);
      return;
    }
    log::info("snapshot-sync: catching up from {} to {}; asking {} peers what they hold", log_.last(),
              buffer_.target(), bonded.size());
    probe(now);
  }

  void on_bond(const BondEvent& event, TimePoint now) {
    record_.note(now);
    if (record_.ended()) {
      return;
    }
    const bool bonded = event.kind == BondEvent::Kind::bonded;
    if (!(bonded ? items_.bond(event.peer) : items_.unbond(event.peer))) {
      return; // no change
    }
    if (replaying([&](auto& replay) { replay.on_bond(event, now); })) {
      return;
    }
    if (!bonded) {
      items_.answered(event.peer); // no longer awaited
      offers_.withdraw(event.peer);
    } else if (!items_.is_excluded(event.peer)) {
      if (phase_ == Phase::probing) {
        ask_availability(event.peer);
      } else {
        ask(event.peer, SnapshotQuery{});
      }
    }
    if (phase_ == Phase::probing) {
      decide_when_ready(now);
    }
    schedule(now);
  }

  void on_message(PeerId sender, Message&& message, TimePoint now) {
    record_.note(now);
    if (record_.ended()) {
      return;
    }
    if (replaying([&](auto& replay) {
          if (auto replayed = as_log_replay<Command, Item>(std::move(message))) {
            replay.on_message(sender, std::move(*replayed), now);
          } // else a late snapshot answer: the snapshot is installed already
        })) {
      return;
    }
    if (!items_.from_bonded(sender, "a message")) {
      return;
    }
    if (const auto* availability = std::get_if<AvailabilityResponse>(&message)) {
      if (phase_ == Phase::probing) {
        on_availability(sender, availability->available, now);
      }
    } else if (const auto* offer = std::get_if<SnapshotOffer>(&message)) {
      if (phase_ == Phase::snapshot) {
        on_offer(sender, *offer, now); // while probing, replay may still do: no snapshot is chosen yet
      }
    } else if (auto* items = std::get_if<FetchItemsResponse<Item>>(&message)) {
      on_items(sender, std::move(*items), now);
    }
    schedule(now);
  }

  /// The leader sent `entries` after `position` while the session runs.
  void on_buffer(Cursor position, std::vector<entry_type> entries, TimePoint now) {
    record_.note(now);
    if (record_.ended()) {
      ++items_.counters().stale_leader_batches;
      return;
    }
    if (replaying([&](auto& replay) { replay.on_buffer(position, std::move(entries), now); })) {
      return;
    }
    if (!buffer_.accept_checked(position, std::move(entries), items_.counters())) {
      log::warn("snapshot-sync: ignored leader batch after {} (target {})", position, buffer_.target());
      return;
    }
    // Past the limit the entries are replayed from peers after the snapshot instead.
    (void)buffer_.drop_over(config_.replay.max_buffered_entries, items_.counters());
  }

  /// Time passed: decide after the probe, expire fetches, poll for offers.
  void on_tick(TimePoint now) {
    record_.note(now);
    if (record_.ended() || stalled(now) || replaying([now](auto& replay) { replay.on_tick(now); })) {
      return;
    }
    if (phase_ == Phase::probing) {
      if (now >= probe_deadline_) {
        if (any_availability_) {
          decide(now);
        } else {
          log::debug("snapshot-sync: no peer said what it holds; asking again");
          probe(now);
        }
      }
      return;
    }
    const auto reask = items_.tick(now, [this] { return needs_offers(); });
    for (const auto& fetch : reask.expired) {
      offers_.withdraw(fetch.peer);
    }
    if (reask.retrying && leader_ && items_.is_usable(*leader_)) {
      // Also once one is chosen: when every source dropped it, only a new
      // request makes the group take (and the leader offer) another.
      ask(*leader_, SnapshotRequest{log_.last().index});
    }
    for (const auto peer : reask.peers) {
      ask(peer, SnapshotQuery{});
    }
    schedule(now);
  }

  /// Ends the session: it reports `cancelled` and sends nothing more.
  void cancel(std::string reason = "cancelled by the host") {
    if (record_.ended()) {
      return;
    }
    if (replaying([&](auto& replay) { replay.cancel(std::move(reason)); })) {
      record_.drop_outbox(); // what the replay part queued before is not sent either
      return;
    }
    record_.cancel(log_.last(), std::move(reason));
  }

  // ---- outputs -------------------------------------------------------------

  [[nodiscard]] std::vector<Outgoing> take_outbox() {
    collect_replay();
    return record_.take_outbox();
  }

  [[nodiscard]] std::optional<TimePoint> next_deadline() const {
    if (record_.ended()) {
      return std::nullopt;
    }
    const auto stall = stall_.deadline();
    const auto deadline = replay_                    ? replay_->next_deadline()
                          : phase_ == Phase::probing ? std::optional{probe_deadline_}
                                                     : items_.next_deadline();
    return deadline ? std::min(*deadline, stall) : stall;
  }

  [[nodiscard]] const std::optional<SyncOutcome>& outcome() const noexcept { return record_.outcome(); }
  [[nodiscard]] Phase phase() const noexcept { return phase_; }
  /// The snapshot installed by this session, if it installed one.
  [[nodiscard]] std::optional<Cursor> installed() const noexcept { return installed_; }
  [[nodiscard]] const std::optional<SnapshotInfo>& chosen() const noexcept { return offers_.chosen(); }
  [[nodiscard]] const SessionCounters& counters() const noexcept { return items_.counters(); }
  /// The log-replay part, once it runs.
  [[nodiscard]] const LogReplayCore<Command>* replay() const noexcept {
    return replay_ ? &*replay_ : nullptr;
  }

  [[nodiscard]] SyncProgress progress(TimePoint now) const {
    SyncProgress progress;
    if (replay_) {
      progress = replay_->progress(now);
      progress.counters += items_.counters(); // what the probe and the snapshot phase did too
    } else {
      progress.target = buffer_.target();
      progress.buffered = buffer_.size();
      progress.elapsed = record_.elapsed(now);
      progress.counters = items_.counters();
    }
    if (const auto& chosen = offers_.chosen()) {
      progress.snapshot = SnapshotProgress{chosen->at, chosen->items, items_done_, installed_.has_value()};
    }
    for (const auto& [peer, record] : items_.peers()) {
      progress.peers[peer] += record.progress;
    }
    return progress;
  }

private:
  template <class Body>
  void ask(PeerId peer, Body body) {
    record_.send(Outgoing{peer, Message{std::move(body)}});
  }

  void ask_availability(PeerId peer) {
    items_.ask_availability(peer);
    ask(peer, AvailabilityRequest{});
  }

  /// Once the log-replay part runs, every event is its: true when `step` went to it.
  template <class Step>
  bool replaying(Step&& step) {
    if (!replay_) {
      return false;
    }
    std::forward<Step>(step)(*replay_);
    collect_replay();
    return true;
  }

  // ---- probing ---------------------------------------------------------------

  void probe(TimePoint now) {
    probe_deadline_ = now + config_.probe_timeout;
    for (const auto peer : items_.usable_peer_ids()) {
      ask_availability(peer);
    }
  }

  void on_availability(PeerId sender, IndexRange available, TimePoint now) {
    items_.answered(sender);
    any_availability_ = true;
    log::trace("snapshot-sync: peer {} holds {}", sender, available);
    // A peer that lags further behind has pruned nothing yet holds nothing of
    // the gap; the leader serves its tail up to the target beyond what it
    // announces (LogReplayCore::leader_reach), so it only must not have pruned past it.
    const auto start = log_.last().index.next();
    if (!available.empty() && available.first() <= start &&
        (available.contains(start) || sender == leader_)) {
      covered_ = true; // a peer still holds the start of the gap
    }
    decide_when_ready(now);
  }

  void decide_when_ready(TimePoint now) {
    if (covered_ || (any_availability_ && items_.awaiting().empty())) {
      decide(now);
    }
  }

  void decide(TimePoint now) {
    if (covered_) {
      start_replay(now);
      return;
    }
    phase_ = Phase::snapshot;
    ++items_.counters().snapshot_sessions;
    if (!leader_) {
      fail(now, "every peer pruned past our log and no leader is known to ask for a snapshot");
      return;
    }
    log::info("snapshot-sync: every peer pruned past {}; asking leader {} for a snapshot",
              log_.last().index.next(), *leader_);
    ask(*leader_, SnapshotRequest{log_.last().index});
    for (const auto peer : items_.usable_peer_ids()) {
      if (peer != *leader_) {
        ask(peer, SnapshotQuery{});
      }
    }
    items_.retry_later(now);
  }

  // ---- snapshot ----------------------------------------------------------------

  [[nodiscard]] static ItemRange all_items(const SnapshotInfo& info) {
    return ItemRange::starting_at(ItemNumber{1}, info.items);
  }

  /// Whether the session must look for offers: none chosen yet, or nobody serves the chosen one.
  [[nodiscard]] bool needs_offers() const {
    return !offers_.chosen() ||
           (items_.scheduler().inflight_total() == 0 && items_.scheduler().has_uncovered());
  }

  void on_offer(PeerId sender, const SnapshotOffer& offer, TimePoint now) {
    if (offer.replay && sender == leader_ && !offers_.chosen() && !replace_suffix_) {
      // The leader still holds the start of the gap (what it announced is
      // commit-bounded; its uncommitted tail may need our acknowledgement to
      // commit): replay from it rather than wait for a snapshot that cannot commit.
      log::info("snapshot-sync: leader {} still holds {}; replaying from it", sender,
                log_.last().index.next());
      start_replay(now);
      return;
    }
    if (!offer.snapshot) {
      offers_.withdraw(sender);
      items_.forget_availability(sender);
      return;
    }
    const auto& info = *offer.snapshot;
    offers_.offer(sender, info);
    if (offers_.serves(sender)) {
      items_.set_availability(sender, all_items(info));
      return;
    }
    // The leader's offer decides which snapshot is fetched (others offer the
    // same once they applied the same request); a new one replaces the chosen
    // one only when nobody serves that any more.
    if (sender == leader_ && info.at.index > log_.last().index && needs_offers()) {
      choose(info, now);
    }
  }

  void choose(const SnapshotInfo& info, TimePoint now) {
    offers_.choose(info);
    // Ranges remembered from another snapshot say nothing about this one's answers.
    items_.restart(all_items(info));
    assembled_.clear();
    assembled_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(info.items, 1U << 20)));
    items_done_ = 0;
    std::size_t sources = 0;
    for (const auto peer : offers_.sources()) {
      if (items_.is_usable(peer)) {
        items_.set_availability(peer, all_items(info));
        ++sources;
      }
    }
    items_.learn_timeouts();
    // Leader last: give the others a moment to offer the same snapshot.
    items_.hold_leader_until(now + config_.replay.availability_retry_initial);
    items_.reset_retry_backoff();
    log::info("snapshot-sync: fetching the snapshot at {} ({} items) from {} peers so far", info.at,
              info.items, sources);
    for (const auto peer : items_.usable_peer_ids()) {
      if (peer != leader_ && !offers_.serves(peer)) {
        ask(peer, SnapshotQuery{});
      }
    }
    if (info.items == 0) {
      install(now);
    }
  }

  void on_items(PeerId sender, FetchItemsResponse<Item> response, TimePoint now) {
    const auto& chosen = offers_.chosen();
    if (!chosen || response.at != chosen->at) {
      ++items_.counters().late_responses;
      log::debug("snapshot-sync: dropped items of the snapshot at {} from peer {}: not the one fetched",
                 response.at, sender);
      return;
    }
    const auto range = response.range;
    // Providers serve items from the start of a request (items are never pruned).
    const auto answer = items_.classify(sender, range, response.items.size(), fetch::Shifted::reject);
    if (answer.verdict == fetch::Verdict::empty) {
      offers_.withdraw(sender); // it no longer holds the snapshot
    }
    if (answer.excluded) {
      on_excluded(sender, now);
    }
    if (answer.verdict != fetch::Verdict::matches) {
      return;
    }
    items_.take(*answer.fetch, std::move(response.items), now);
    items_.peer(sender).progress.items += range.size();
    // Assemble in order: the engine's window then bounds what is held out of order.
    while (auto chunk = items_.take_next(ItemNumber{assembled_.size() + 1})) {
      assembled_.insert(assembled_.end(), std::make_move_iterator(chunk->items.begin()),
                        std::make_move_iterator(chunk->items.end()));
      items_.advance(chunk->range.last());
    }
    items_done_ = assembled_.size() + items_.held();
    if (assembled_.size() == chosen->items) {
      install(now);
    }
  }

  void on_excluded(PeerId sender, TimePoint now) {
    offers_.withdraw(sender);
    if (auto reason = items_.stranded_by(sender)) {
      fail(now, std::move(*reason)); // excluded peers are never asked again: end, as log replay does
    }
  }

  void install(TimePoint now) {
    const auto info = *offers_.chosen();
    log::info("snapshot-sync: installing the snapshot at {} ({} items)", info.at, info.items);
    if (auto error = sink_.install_snapshot(info, std::exchange(assembled_, {}))) {
      fail(now, fmt::format("the snapshot at {} was refused: {}", info.at, *error));
      return;
    }
    installed_ = info.at;
    items_.cancel_retry();
    items_.restart(ItemRange{});
    if (buffer_.target().index > info.at.index) {
      start_replay(now); // entries between the snapshot and the leader's come from peers
      return;
    }
    // The snapshot covers the target: keep the buffered entries that follow it.
    if (auto after = buffer_.take_after(info.at)) {
      log_.append_all(std::move(*after));
    } else {
      log::warn("snapshot-sync: buffered leader entries contradict the snapshot at {}; dropped", info.at);
    }
    record_.end(now, SyncOutcome{SyncStatus::completed, log_.last(), {}});
  }

  // ---- replay ------------------------------------------------------------------

  void start_replay(TimePoint now) {
    phase_ = Phase::replay;
    items_.release_leader();
    items_.cancel_retry();
    replay_.emplace(config_.replay, log_, buffer_.target(), leader_commit_, leader_, buffer_.take(), now);
    replay_->start(items_.usable_peer_ids(), now);
    collect_replay();
  }

  void collect_replay() {
    if (!replay_) {
      return;
    }
    for (auto& outgoing : replay_->take_outbox()) {
      record_.send(Outgoing{outgoing.peer, from_log_replay<Command, Item>(std::move(outgoing.message))});
    }
    if (replay_->outcome()) {
      record_.end(record_.last_event(), *replay_->outcome());
    }
  }

  // ---- plumbing ----------------------------------------------------------------

  /// Ends a session that made no progress (no entry appended, no item
  /// received) for the stall timeout: what it waits for may be gone for good
  /// (every peer pruned the entries a replay needs after it chose replay, the
  /// only source was excluded); the host retries with a fresh session, whose
  /// probe sees the peers as they are now.
  bool stalled(TimePoint now) {
    if (!stall_.stalled({log_.last().index, items_done_}, now)) {
      return false;
    }
    if (replay_) {
      replay_->cancel("stalled");
      (void)replay_->take_outbox();
    }
    record_.drop_outbox();
    fail(now, fmt::format("no progress for {} ms (log at {}, {} snapshot items)",
                          std::chrono::duration_cast<std::chrono::milliseconds>(stall_.timeout()).count(),
                          log_.last(), items_done_));
    return true;
  }

  void fail(TimePoint now, std::string reason) {
    log::warn("snapshot-sync: catch-up failed: {}", reason);
    record_.end(now, SyncOutcome{SyncStatus::failed, log_.last(), std::move(reason)});
  }

  /// Sends the item fetches the scheduler plans and keeps a timer armed.
  void schedule(TimePoint now) {
    if (record_.ended() || replay_ || phase_ != Phase::snapshot) {
      return;
    }
    // The leader's hold ends early once another peer offers the chosen snapshot.
    for (const auto& fetch : items_.plan(now, items_.leader_held() && offers_.others_serve(leader_))) {
      ask(fetch.peer, FetchItemsRequest{offers_.chosen()->at, fetch.range});
    }
    if (needs_offers()) {
      items_.retry_later(now);
    }
  }

  SnapshotConfig config_;
  storage::LogStorage<Command>& log_;
  SnapshotSink<Item>& sink_;
  Index leader_commit_;
  std::optional<PeerId> leader_;
  SessionRecord<Outgoing> record_;
  LeaderBuffer<Command> buffer_;
  Phase phase_ = Phase::probing;
  Fetcher items_; // every peer's record, from the probe on; fetches the chosen snapshot's items

  // probing
  TimePoint probe_deadline_{};
  bool any_availability_ = false;
  bool covered_ = false;

  // snapshot
  SnapshotOffers offers_;
  std::vector<Item> assembled_;
  std::uint64_t items_done_ = 0;
  std::optional<Cursor> installed_;

  // replay
  std::optional<LogReplayCore<Command>> replay_;

  StallWatch<std::pair<Index, std::uint64_t>> stall_; // the log's end and the items received
  bool replace_suffix_ = false;
};

} // namespace mosaik::sync
