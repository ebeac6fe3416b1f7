#pragma once
// RangedFetch: the engine both catch-up strategies share. It fetches a gap of
// positions (log entries, snapshot items) from many peers at once and owns
// every rule that does not depend on what is fetched:
//
//  - the scheduler (which peer fetches which range, in a bounded window,
//    leader last) and the leader's hold at the start;
//  - one record per peer: bond, requests in flight, response times and the
//    timeouts learned from them, bad answers, exclusion after
//    `max_bad_responses`; who is asked what it holds and has not answered;
//  - which messages are read at all (from bonded peers not excluded), and
//    when an exclusion leaves the fetch stranded;
//  - asking peers again: after a timeout, and on a backoff while the fetch
//    lacks sources;
//  - the classification of an answer against what was asked (matches, empty,
//    shifted, late, duplicate, or bad) and the blame that follows;
//  - in-order reassembly: taken answers are held as chunks until the ranges
//    before them arrive.
//
// A strategy's session core keeps only what differs: what a position's
// content must satisfy (terms, the target cursor) and what to do with
// content taken in order (append to the log, assemble a snapshot). Plain
// deterministic logic, no I/O: the core turns planned fetches into messages.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mosaik/core/command_size.hpp>
#include <mosaik/core/format.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/fetch/fetch_counters.hpp>
#include <mosaik/fetch/fetch_peer.hpp>
#include <mosaik/fetch/fetch_policy.hpp>
#include <mosaik/fetch/fetch_scheduler.hpp>

namespace mosaik::fetch {

/// How an answer relates to what was asked.
enum class Verdict : std::uint8_t {
  matches,   ///< answers `fetch` from its start: its content is the core's to check, then take()
  shifted,   ///< answers `fetch` but starts later than it asked: given up on or blamed (see Shifted)
  empty,     ///< the peer holds nothing of `fetch` any more: released, its availability forgotten
  late,      ///< answers a request given up on: dropped, no blame
  duplicate, ///< a second copy of an answer already taken (a network duplicate): dropped, no blame
  rejected,  ///< malformed or unsolicited: dropped and blamed; `excluded` if that excluded the peer
};

/// What an answer that starts later than its request says of its peer.
enum class Shifted : std::uint8_t {
  give_up, ///< nothing bad: positions carry no number and the peer may have pruned since it
           ///< announced (log entries): the request is given up, the peer asked again what it holds
  reject,  ///< a bad answer: what is served is never pruned (snapshot items)
};

template <class Position, class Item>
class RangedFetch {
public:
  using Range = mosaik::Range<Position>;
  using Scheduler = FetchScheduler<Position>;
  using Fetch = typename Scheduler::Fetch;
  using Peer = FetchPeer<Position>;
  using Peers = std::map<PeerId, Peer>;

  /// An answer taken, held until every position before it is taken too.
  struct Chunk {
    Range range;
    PeerId peer;
    std::vector<Item> items;
    std::uint64_t bytes = 0; ///< the content's bytes (see content_bytes)
  };

  struct Answer {
    Verdict verdict{};
    std::optional<Fetch> fetch; ///< the request it answers (matches, shifted, empty)
    bool excluded = false;      ///< rejected, and the peer is now excluded
  };

  /// `name` prefixes the log lines ("log-replay", "snapshot-sync"); `unit`
  /// names what a position holds ("entries", "items").
  RangedFetch(FetchPolicy policy, Range gap, std::optional<PeerId> leader, std::string_view name,
              std::string_view unit)
      : policy_(policy), leader_(leader), name_(name), unit_(unit), scheduler_(limits(policy), gap, leader),
        retry_backoff_(policy.retry_initial) {
    cap_window();
  }

  /// Fetches `gap` from now on: requests, held chunks and the ranges
  /// remembered of earlier answers are forgotten; peers, their response times
  /// and their standing (bad answers, exclusion), whom it awaits and the
  /// retry stay.
  void restart(Range gap) {
    scheduler_ = Scheduler(limits(policy_), gap, leader_);
    cap_window();
    for (auto& [peer, record] : peers_) {
      record.accepted.clear();
      record.abandoned.clear();
    }
    chunks_.clear();
    held_ = 0;
    bytes_held_ = 0;
    leader_held_until_.reset();
    hedge_at_.reset();
  }

  // ---- peers -------------------------------------------------------------------

  /// The record of `peer` (made when first named).
  Peer& peer(PeerId peer) { return peers_[peer]; }
  [[nodiscard]] const Peers& peers() const noexcept { return peers_; }
  [[nodiscard]] bool is_usable(PeerId peer) const {
    const auto it = peers_.find(peer);
    return it != peers_.end() && it->second.usable();
  }
  [[nodiscard]] bool is_excluded(PeerId peer) const {
    const auto it = peers_.find(peer);
    return it != peers_.end() && it->second.progress.excluded;
  }
  [[nodiscard]] std::size_t usable_peers() const { return fetch::usable_peers(peers_); }
  /// The usable peers, in id order: whom to ask when every peer is asked.
  [[nodiscard]] std::vector<PeerId> usable_peer_ids() const {
    std::vector<PeerId> ids;
    for (const auto& [peer, record] : peers_) {
      if (record.usable()) {
        ids.push_back(peer);
      }
    }
    return ids;
  }

  /// Whether a message from `sender` is to be read: it comes from a bonded
  /// peer that is not excluded. One from a peer that is not bonded (a stray
  /// or a message that outran the bond) is counted; `what` names it in the log.
  [[nodiscard]] bool from_bonded(PeerId sender, std::string_view what) {
    const auto it = peers_.find(sender);
    if (it == peers_.end() || !it->second.bonded) {
      ++counters_.unbonded_messages;
      log::debug("{}: ignored {} from unbonded peer {}", name_, what, sender);
      return false;
    }
    return !it->second.progress.excluded;
  }

  /// `peer` bonded; false when it already was.
  bool bond(PeerId peer) {
    auto& record = peers_[peer];
    return !std::exchange(record.bonded, true);
  }
  /// `peer` left: its requests return to the pool. False when it was not bonded.
  bool unbond(PeerId peer) {
    const auto it = peers_.find(peer);
    if (it == peers_.end() || !std::exchange(it->second.bonded, false)) {
      return false;
    }
    const auto released = scheduler_.remove_peer(peer);
    log::debug("{}: peer {} left; {} requests return to the pool", name_, peer, released.size());
    return true;
  }

  /// Why the fetch cannot go on now that `excluded` is excluded, if it
  /// cannot: nobody usable is left, or it was the leader, the only source of
  /// what lies above the others' commit index (the host retries afresh).
  [[nodiscard]] std::optional<std::string> stranded_by(PeerId excluded) const {
    if (excluded == leader_) {
      return fmt::format("the leader, peer {}, was excluded for bad responses", excluded);
    }
    if (usable_peers() == 0) {
      return fmt::format("every bonded peer was excluded for bad responses (last: peer {})", excluded);
    }
    return std::nullopt;
  }

  /// `peer` is asked what it holds (counted): awaited until it answers.
  void ask_availability(PeerId peer) {
    awaiting_.insert(peer);
    ++counters_.availability_requests;
  }
  /// `peer` said what it holds, or is no longer waited for.
  void answered(PeerId peer) { awaiting_.erase(peer); }
  /// Peers asked what they hold that have not answered yet.
  [[nodiscard]] const std::set<PeerId>& awaiting() const noexcept { return awaiting_; }
  /// Whether every bonded peer but the leader answered what it holds.
  [[nodiscard]] bool others_answered() const {
    return std::none_of(awaiting_.begin(), awaiting_.end(), [this](PeerId peer) {
      const auto it = peers_.find(peer);
      return peer != leader_ && it != peers_.end() && it->second.bonded;
    });
  }

  void set_availability(PeerId peer, Range available) { scheduler_.set_availability(peer, available); }
  /// The peer takes no new requests until its availability is set again.
  void forget_availability(PeerId peer) { scheduler_.forget_availability(peer); }

  /// Each peer's requests wait as long as its own response times justify. A
  /// peer that has not answered yet gets a generous multiple of the slowest
  /// answering peer's timeout, so a first request lost on the wire does not
  /// hold its range for the whole `fetch_timeout`.
  void learn_timeouts() {
    // How much longer than the slowest answering peer a peer that never answered is waited for.
    constexpr int unanswered_peer_factor = 8;
    const auto floor = policy_.min_fetch_timeout;
    const auto ceiling = policy_.fetch_timeout;
    std::optional<Duration> slowest;
    for (const auto& [peer, record] : peers_) {
      if (const auto timeout = record.response_time.timeout(floor, ceiling)) {
        slowest = std::max(slowest.value_or(Duration{}), *timeout);
      }
    }
    const auto prior = slowest ? std::optional<Duration>{*slowest * unanswered_peer_factor} : std::nullopt;
    for (auto& [peer, record] : peers_) {
      if (const auto timeout = record.response_time.timeout(floor, ceiling, prior)) {
        scheduler_.set_timeout(peer, *timeout);
        record.progress.fetch_timeout = *timeout;
      }
    }
  }

  // ---- requests ------------------------------------------------------------------

  /// The leader takes no requests before `until`, so the others get the work first.
  void hold_leader_until(TimePoint until) { leader_held_until_ = until; }
  void release_leader() { leader_held_until_.reset(); }
  [[nodiscard]] bool leader_held() const noexcept { return leader_held_until_.has_value(); }

  /// New requests for idle peers (counted). The leader's hold ends at its
  /// time, or earlier when `others_ready` says the others need no more time.
  std::vector<Fetch> plan(TimePoint now, bool others_ready) {
    if (leader_held_until_ && (now >= *leader_held_until_ || others_ready)) {
      leader_held_until_.reset();
    }
    scheduler_.hold_leader(leader_held_until_.has_value());
    // Requests of a much slower peer are hedged before new work is handed
    // out, so that the hedge arrives while the others still have work; then
    // peers left idle with nothing to do take over overdue requests.
    auto planned = hedge(now, Hedge::slow_peer);
    auto fresh = scheduler_.plan(now);
    for (const auto& fetch : fresh) {
      ++counters_.fetch_requests;
      ++peers_[fetch.peer].progress.requests;
      log::trace("{}: fetching {} {} from peer {}", name_, unit_, fetch.range, fetch.peer);
    }
    planned.insert(planned.end(), fresh.begin(), fresh.end());
    if (policy_.hedge) {
      const auto late = hedge(now, Hedge::idle_helper);
      planned.insert(planned.end(), late.begin(), late.end());
      plan_hedge_check(now);
    }
    return planned;
  }

  /// Requests past their deadline, given up on: counted, the peer backs off
  /// and takes no new request until its availability is set again.
  std::vector<Fetch> expire(TimePoint now) {
    auto expired = scheduler_.expire(now);
    std::set<PeerId> halved; // once per peer, however many of its requests expired together
    for (const auto& fetch : expired) {
      if (halved.insert(fetch.peer).second) {
        scheduler_.halve(fetch.peer);
        peers_[fetch.peer].progress.window = scheduler_.window(fetch.peer);
      }
      ++counters_.timeouts;
      auto& record = peers_[fetch.peer];
      ++record.progress.timeouts;
      Peer::remember(record.abandoned, fetch.range);
      record.response_time.back_off();
      log::warn("{}: fetch of {} {} from peer {} timed out; rescheduling it", name_, unit_, fetch.range,
                fetch.peer);
      scheduler_.forget_availability(fetch.peer);
    }
    if (!expired.empty()) {
      learn_timeouts();
    }
    return expired;
  }

  /// When the fetch wants to be woken: the earliest deadline, the end of the
  /// leader's hold, the retry, or when a request becomes overdue while peers idle.
  [[nodiscard]] std::optional<TimePoint> next_deadline() const {
    return earliest(earliest(earliest(scheduler_.next_deadline(), leader_held_until_), retry_at_), hedge_at_);
  }

  // ---- asking again --------------------------------------------------------------

  /// Arms the retry, unless armed: every usable peer is asked again what it
  /// holds when it is due (see tick), if the fetch still lacks sources then.
  void retry_later(TimePoint now) {
    if (!retry_at_) {
      retry_at_ = now + retry_backoff_;
    }
  }
  void cancel_retry() { retry_at_.reset(); }
  /// Progress was made: the next retry waits the shortest time again.
  void reset_retry_backoff() { retry_backoff_ = policy_.retry_initial; }

  struct Reask {
    std::vector<Fetch> expired; ///< requests given up on (see expire)
    bool retrying = false;      ///< the retry was due and the fetch still lacks sources
    std::set<PeerId> peers;     ///< whom to ask again what they hold, each once
  };

  /// Time passed: gives up on overdue requests (their peers, if usable, are
  /// asked again what they hold) and, when the retry is due and
  /// `lacking_sources()` still says so, asks every usable peer again and
  /// doubles the backoff.
  template <class LackingSources>
  Reask tick(TimePoint now, LackingSources lacking_sources) {
    Reask reask;
    reask.expired = expire(now);
    for (const auto& fetch : reask.expired) {
      if (is_usable(fetch.peer)) {
        reask.peers.insert(fetch.peer);
      }
    }
    if (retry_at_ && now >= *retry_at_) {
      retry_at_.reset();
      if (lacking_sources()) {
        log::debug("{}: part of {} has no source; asking every peer again (backoff {} ms)", name_, gap(),
                   std::chrono::duration_cast<std::chrono::milliseconds>(retry_backoff_).count());
        reask.retrying = true;
        for (const auto peer : usable_peer_ids()) {
          reask.peers.insert(peer);
        }
        retry_backoff_ = std::min(retry_backoff_ * 2, policy_.retry_max);
      }
    }
    return reask;
  }

  // ---- answers ---------------------------------------------------------------------

  /// Classifies an answer of `count` positions for `range` from `sender` (a
  /// bonded peer, not excluded) and deals with every answer but a matching
  /// one, whose content is the core's to check before it take()s it.
  Answer classify(PeerId sender, Range range, std::size_t count, Shifted shifted) {
    auto& record = peers_[sender];
    if (count == 0) {
      const auto fetch = scheduler_.find_inflight(sender, range);
      if (fetch && fetch->range == range) {
        ++counters_.empty_responses;
        log::debug("{}: peer {} holds nothing of {}; asking elsewhere", name_, sender, range);
        scheduler_.release(*fetch);
        scheduler_.forget_availability(sender);
        return Answer{Verdict::empty, fetch, false};
      }
      return rejected(sender, range,
                      fmt::format("empty response for {} matches no request in flight", range));
    }
    if (range.empty() || count != range.size()) {
      return rejected(sender, range, fmt::format("{} {} do not match the range {}", count, unit_, range));
    }
    const auto fetch = scheduler_.find_inflight(sender, range);
    if (!fetch) {
      if (const auto orphan = scheduler_.take_orphan(sender, range)) {
        // It lost to its hedge: late, no blame.
        ++counters_.late_responses;
        log::debug("{}: dropped {} from peer {}: another peer answered it first", name_, range, sender);
        return Answer{Verdict::late, std::nullopt, false};
      }
      if (!scheduler_.inflight_overlapping(sender, range).empty()) {
        return rejected(sender, range, fmt::format("range {} is outside the range requested", range));
      }
      if (Peer::contains_any(record.abandoned, range)) {
        ++counters_.late_responses;
        log::debug("{}: dropped late answer {} from peer {}", name_, range, sender);
        return Answer{Verdict::late, std::nullopt, false};
      }
      if (Peer::contains_any(record.accepted, range)) {
        ++counters_.duplicate_responses;
        log::debug("{}: dropped a second copy of {} from peer {}", name_, range, sender);
        return Answer{Verdict::duplicate, std::nullopt, false};
      }
      return rejected(sender, range, fmt::format("unsolicited or duplicate response for {}", range));
    }
    if (range.first() != fetch->range.first()) {
      if (shifted == Shifted::reject) {
        const auto excluded =
            reject(sender, range,
                   fmt::format("{} {} do not start where the request {} does", unit_, range, fetch->range));
        return Answer{Verdict::shifted, fetch, excluded};
      }
      ++counters_.empty_responses;
      log::debug("{}: peer {} answered {} for {}: not from its start; asking what it holds", name_, sender,
                 range, fetch->range);
      give_up(*fetch);
      return Answer{Verdict::shifted, fetch, false};
    }
    return Answer{Verdict::matches, fetch, false};
  }

  /// Takes the answer `items` (for a request that matched, their content
  /// checked): held until the positions before them are taken.
  void take(const Fetch& fetch, std::vector<Item> items, TimePoint now) {
    const auto range = Range::starting_at(fetch.range.first(), items.size());
    auto& record = peers_[fetch.peer];
    const bool window_full = scheduler_.inflight_count(fetch.peer) >= scheduler_.window(fetch.peer);
    if (const auto loser = scheduler_.complete(fetch, range)) {
      // A hedged request: the other one is an orphan now (its answer, if it
      // comes, is late and blameless). Its peer took at least this long: what
      // its pace is learned from when none of its answers is ever first.
      auto& slow = peers_[loser->peer];
      const auto waited = now - loser->sent_at;
      if (waited > slow.response_time.smoothed().value_or(Duration{})) {
        slow.response_time.sample(waited);
      }
      if (!slow.pace || waited / static_cast<Duration::rep>(loser->range.size()) > *slow.pace) {
        slow.sample_pace(waited, loser->range.size());
      }
    }
    Peer::remember(record.accepted, range);
    record.response_time.sample(now - fetch.sent_at);
    // Its pace is how fast its link delivers: the time since the link was
    // free for this answer (sent, or the peer's previous answer) per position.
    record.sample_pace(now - std::max(fetch.sent_at, record.last_answer.value_or(fetch.sent_at)),
                       range.size());
    record.last_answer = now;
    if (policy_.request_time > Duration::zero() && *record.pace > Duration::zero()) {
      scheduler_.cap_peer_request(fetch.peer,
                                  static_cast<std::uint64_t>(policy_.request_time / *record.pace));
    }
    adapt_window(fetch.peer, record, now - fetch.sent_at, window_full);
    if (range.size() < fetch.range.size() && range.size() * 2 >= fetch.range.size()) {
      // A prefix of at least half: the provider capped its answer in bytes.
      scheduler_.cap_request_size(range.size());
    }
    record.progress.response_time = record.response_time.smoothed().value_or(Duration{});
    learn_timeouts();
    held_ += range.size();
    std::uint64_t bytes = 0;
    for (const auto& item : items) {
      bytes += content_bytes(item);
    }
    bytes_held_ += bytes;
    taken_bytes_ += bytes;
    taken_positions_ += range.size();
    cap_window();
    chunks_.emplace(range.first(), Chunk{range, fetch.peer, std::move(items), bytes});
    counters_.max_chunks_held = std::max<std::uint64_t>(counters_.max_chunks_held, chunks_.size());
    counters_.max_entries_held = std::max<std::uint64_t>(counters_.max_entries_held, held_);
    counters_.max_bytes_held = std::max<std::uint64_t>(counters_.max_bytes_held, bytes_held_);
  }

  /// Gives `fetch` up without blame (no more of it is expected from its peer,
  /// which takes no new request until its availability is set again).
  void give_up(const Fetch& fetch) {
    scheduler_.release(fetch);
    Peer::remember(peers_[fetch.peer].abandoned, fetch.range);
    scheduler_.forget_availability(fetch.peer);
  }

  /// Blames `sender` for a bad answer about `range`: its requests touching
  /// `range` return to the pool. Returns true when this excluded the peer.
  bool reject(PeerId sender, Range range, const std::string& reason) {
    ++counters_.bad_responses;
    auto& record = peers_[sender];
    ++record.progress.bad_responses;
    log::warn("{}: rejected response from peer {}: {}", name_, sender, reason);
    for (const auto& fetch : scheduler_.inflight_overlapping(sender, range)) {
      scheduler_.release(fetch);
      Peer::remember(record.abandoned, fetch.range);
    }
    if (record.progress.bad_responses < policy_.max_bad_responses || record.progress.excluded) {
      return false;
    }
    record.progress.excluded = true;
    ++counters_.excluded_peers;
    scheduler_.remove_peer(sender);
    log::warn("{}: excluded peer {} after {} bad responses", name_, sender, record.progress.bad_responses);
    return true;
  }

  // ---- reassembly ------------------------------------------------------------------

  /// The held chunk that starts at `next`, handed over; the core then calls
  /// advance() once it used it, or reject()s its sender and discard()s it.
  std::optional<Chunk> take_next(Position next) {
    const auto it = chunks_.begin();
    if (it == chunks_.end() || it->first != next) {
      return std::nullopt;
    }
    auto chunk = std::move(it->second);
    chunks_.erase(it);
    held_ -= chunk.range.size();
    bytes_held_ -= chunk.bytes;
    return chunk;
  }
  /// Positions up to `done` are used: the gap now starts after them.
  void advance(Position done) { scheduler_.advance(done); }
  /// A chunk handed over turned out bad: its range returns to the pool.
  void discard(Range range) { scheduler_.discard_received(range); }
  /// Moves the end of the gap.
  void set_gap_end(Position last) { scheduler_.set_gap_end(last); }

  // ---- observers --------------------------------------------------------------------

  [[nodiscard]] const Scheduler& scheduler() const noexcept { return scheduler_; }
  [[nodiscard]] Range gap() const noexcept { return scheduler_.gap(); }
  [[nodiscard]] std::size_t chunks_held() const noexcept { return chunks_.size(); }
  /// Positions taken but held out of order.
  [[nodiscard]] std::uint64_t held() const noexcept { return held_; }
  [[nodiscard]] SessionCounters& counters() noexcept { return counters_; }
  [[nodiscard]] const SessionCounters& counters() const noexcept { return counters_; }

private:
  static typename Scheduler::Limits limits(const FetchPolicy& policy) {
    return typename Scheduler::Limits{policy.batch_size, policy.max_inflight_per_peer, policy.fetch_timeout};
  }

  enum class Hedge : std::uint8_t { slow_peer, idle_helper };

  /// The bytes an item's content takes: a log entry's command, or a snapshot item.
  [[nodiscard]] static std::uint64_t content_bytes(const Item& item) {
    if constexpr (requires { item.command; }) {
      return command_size(item.command);
    } else {
      return command_size(item);
    }
  }

  /// Keeps the window within max_buffered_bytes at what a position is seen
  /// to take (before any answer: an answer's byte cap spread over a batch).
  void cap_window() {
    const auto per_position =
        taken_positions_ == 0
            ? std::max<std::uint64_t>(1, policy_.max_response_bytes /
                                             std::max<std::uint64_t>(1, policy_.batch_size))
            : std::max<std::uint64_t>(1, (taken_bytes_ + taken_positions_ - 1) / taken_positions_);
    scheduler_.cap_window(policy_.max_buffered_bytes / per_position);
  }

  /// Hedges requests in flight (see worth_hedging), counted.
  std::vector<Fetch> hedge(TimePoint now, Hedge when) {
    if (!policy_.hedge) {
      return {};
    }
    auto hedged = scheduler_.hedge(
        now, [&](const Fetch& request, PeerId helper) { return worth_hedging(request, helper, now, when); });
    for (const auto& fetch : hedged) {
      ++counters_.fetch_requests;
      ++counters_.hedged_requests;
      ++peers_[fetch.peer].progress.requests;
      log::debug("{}: {} {} is slow in coming; asking peer {} too", name_, unit_, fetch.range, fetch.peer);
    }
    return hedged;
  }

  /// Whether `helper`, which has a free slot, should be asked for `request`
  /// too: when the helper would answer it in less than a quarter of the time
  /// the request's own peer takes, at their paces (the helper's after what it
  /// already has in flight); and, once the helper is left idle with nothing
  /// in flight (`idle_helper`), also when the request is overdue (see overdue_at).
  /// Peers of one speed hedge each other's requests only at the end: an
  /// overdue one, or one queued far behind its peer's other work while the
  /// helper has none; a peer many times slower than the others has its
  /// requests taken over, so it cannot hold the last ranges hostage.
  [[nodiscard]] bool worth_hedging(const Fetch& request, PeerId helper, TimePoint now, Hedge when) const {
    // A free slot is not a free link: each peer answers in order, so the
    // helper's answer would come after what it was asked before, and the
    // request's own after what its peer was asked before it.
    const auto queued = scheduler_.queued_positions(helper);
    const auto helper_time = time_for(helper, queued + request.range.size());
    if (!helper_time) {
      return false; // nothing known of the helper yet
    }
    if (const auto own_done = time_for(request.peer, scheduler_.queued_through(request))) {
      const auto own_arrival = busy_from(request) + *own_done;
      if (now + *helper_time * 4 < own_arrival) {
        return true;
      }
      // An idle helper also takes over a request it would answer well before
      // its peer (the tail of a big request would otherwise leave it idle).
      if (when == Hedge::idle_helper && queued == 0 && now + *helper_time * 3 / 2 < own_arrival) {
        return true;
      }
    }
    if (when == Hedge::slow_peer || queued != 0) {
      return false;
    }
    const auto overdue = overdue_at(request);
    return overdue && now >= *overdue;
  }
  /// How long `peer` is expected to take for `positions`, at its pace.
  [[nodiscard]] std::optional<Duration> time_for(PeerId peer, std::uint64_t positions) const {
    const auto it = peers_.find(peer);
    if (it == peers_.end() || !it->second.pace) {
      return std::nullopt;
    }
    return *it->second.pace * static_cast<Duration::rep>(positions);
  }
  /// How long the fastest peer is expected to take for `positions`.
  [[nodiscard]] std::optional<Duration> fastest_time_for(std::uint64_t positions) const {
    std::optional<Duration> fastest;
    for (const auto& [peer, record] : peers_) {
      if (const auto time = time_for(peer, positions)) {
        fastest = std::min(fastest.value_or(*time), *time);
      }
    }
    return fastest;
  }
  /// When `request` is overdue: the time its peer is expected to take plus
  /// the fastest peer's (when a hedge sent at the expected arrival would have
  /// been answered; before its peer ever answered, twice the fastest peer's),
  /// for a full request (the next answer may be one queued before it),
  /// counted from when it was sent or, if later, from the peer's last answer:
  /// a peer still delivering answers is busy, not stuck, and a hedge would
  /// only spend its link on a second copy.
  [[nodiscard]] std::optional<TimePoint> overdue_at(const Fetch& request) const {
    // The peer's next answer may be a full request queued before this one.
    const auto positions =
        std::max<std::uint64_t>(request.range.size(), scheduler_.request_size(request.peer));
    const auto fastest = fastest_time_for(positions);
    if (!fastest) {
      return std::nullopt;
    }
    const auto own = time_for(request.peer, positions);
    return busy_from(request) + (own ? *own + *fastest : *fastest * 2);
  }
  /// Since when `request`'s peer has been working towards it: since it was
  /// sent, or since the peer's last answer, if later.
  [[nodiscard]] TimePoint busy_from(const Fetch& request) const {
    auto from = request.sent_at;
    if (const auto it = peers_.find(request.peer); it != peers_.end() && it->second.last_answer) {
      from = std::max(from, *it->second.last_answer);
    }
    return from;
  }
  /// While peers idle, the fetch is woken when the first request in flight
  /// becomes overdue, so that it can be hedged then (no answer may come to wake it).
  void plan_hedge_check(TimePoint now) {
    hedge_at_.reset();
    if (!scheduler_.has_idle_peer()) {
      return;
    }
    for (const auto& request : scheduler_.unhedged()) {
      if (const auto overdue = overdue_at(request); overdue && *overdue > now) {
        hedge_at_ = earliest(hedge_at_, overdue);
      }
    }
  }

  /// Each peer's window follows what its link delivers, in the manner of TCP
  /// Vegas: while answers come back about as fast as its fastest one (no
  /// queue builds on its link) and its window was in use, one more request
  /// keeps the link busier; once answers take twice as long, requests only
  /// queue, and the window gives one back. A timeout halves it (expire()).
  void adapt_window(PeerId peer, Peer& record, Duration elapsed, bool window_full) {
    const auto fastest = record.response_time.fastest().value_or(elapsed);
    if (window_full && elapsed * 4 <= fastest * 5) {
      scheduler_.widen(peer);
    } else if (elapsed > fastest * 2) {
      scheduler_.narrow(peer, scheduler_.initial_window());
    }
    record.progress.window = scheduler_.window(peer);
    counters_.max_window = std::max<std::uint64_t>(counters_.max_window, record.progress.window);
  }

  Answer rejected(PeerId sender, Range range, const std::string& reason) {
    return Answer{Verdict::rejected, std::nullopt, reject(sender, range, reason)};
  }

  static std::optional<TimePoint> earliest(std::optional<TimePoint> a, std::optional<TimePoint> b) {
    return a && b ? std::min(*a, *b) : a ? a : b;
  }

  FetchPolicy policy_;
  std::optional<TimePoint> hedge_at_; // when a request in flight becomes overdue while peers idle
  std::optional<PeerId> leader_;
  std::string_view name_;
  std::string_view unit_;
  Scheduler scheduler_;
  Peers peers_;
  std::map<Position, Chunk> chunks_; // taken out of order, keyed by first position
  std::uint64_t held_ = 0;
  std::uint64_t bytes_held_ = 0;      // content bytes of chunks_
  std::uint64_t taken_bytes_ = 0;     // content bytes of every answer taken, and
  std::uint64_t taken_positions_ = 0; // their positions: what a position takes
  std::optional<TimePoint> leader_held_until_;
  std::set<PeerId> awaiting_; // asked what they hold, no answer yet
  Duration retry_backoff_;
  std::optional<TimePoint> retry_at_;
  SessionCounters counters_;
};

} // namespace mosaik::fetch
