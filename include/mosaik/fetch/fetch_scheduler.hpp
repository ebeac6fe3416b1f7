#pragma once
// FetchScheduler: decides which peer fetches which range of the gap (log
// entries, snapshot items: any sequence of Ordinal positions). Plain,
// deterministic logic over ranges and peers; it holds nothing fetched and does
// no I/O (RangedFetch feeds it events and carries out its assignments).
//
// The gap is split into ranges that are in flight (asked of one peer),
// received (held by the session, waiting to be appended) and unassigned.
// Assignments go to idle peers that hold the range, non-leaders first and the
// leader last, never two requests for one index, and only inside a window
// above the gap's start, which bounds what a session holds out of order.
// How many requests a peer may have in flight is its own window, which the
// fetch widens and narrows (see RangedFetch::adapt_window) between one and
// max_inflight_per_peer.
//
// The one exception to "never two requests for one index" is a hedge: a
// request may also be asked of a peer with a free slot that would answer it
// much sooner, or once it is overdue (RangedFetch decides which).
// The first answer wins; the other request becomes an orphan: its range is
// no longer its own, but its peer's slot stays taken until its answer comes
// (late, without blame) or its deadline passes, so a slow peer does not pile
// up a queue of answers nobody waits for.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include <mosaik/core/ids.hpp>
#include <mosaik/core/range.hpp>
#include <mosaik/core/time.hpp>

namespace mosaik::fetch {

template <class Position>
class FetchScheduler {
public:
  using Range = mosaik::Range<Position>;

  struct Limits {
    std::uint64_t batch_size = 2000;
    std::uint32_t max_inflight_per_peer = 1; ///< the most a peer's window grows to
    Duration fetch_timeout = std::chrono::seconds{25};
  };

  /// One request in flight: `range` asked of `peer` at `sent_at`, unanswered until `deadline`.
  struct Fetch {
    PeerId peer{};
    Range range{};
    TimePoint deadline{};
    TimePoint sent_at{};
  };

  FetchScheduler(Limits limits, Range gap, std::optional<PeerId> leader)
      : limits_(normalised(limits)), gap_(gap), leader_(leader) {}

  [[nodiscard]] Range gap() const noexcept { return gap_; }
  [[nodiscard]] const Limits& limits() const noexcept { return limits_; }

  // ---- peers -------------------------------------------------------------

  /// Records what `peer` can serve. An empty range means nothing.
  void set_availability(PeerId peer, Range available) { peers_[peer].availability = available; }
  /// The peer takes no new assignments until it announces availability again.
  void forget_availability(PeerId peer) {
    if (auto it = peers_.find(peer); it != peers_.end()) {
      it->second.availability.reset();
    }
  }
  [[nodiscard]] std::optional<Range> availability(PeerId peer) const {
    const auto it = peers_.find(peer);
    return it == peers_.end() ? std::nullopt : it->second.availability;
  }
  /// The peer is gone: its availability is forgotten and its requests return
  /// to the pool (or are left to their hedges).
  std::vector<Fetch> remove_peer(PeerId peer) {
    std::vector<Fetch> released;
    for (const auto& table : {&hedges_, &occupied_}) {
      for (const auto& [first, occupied] : *table) {
        if (occupied.in_flight && occupied.peer == peer) {
          released.push_back(fetch_of(first, occupied));
        }
      }
    }
    for (const auto& fetch : released) {
      release(fetch);
    }
    std::erase_if(orphans_, [&](const Fetch& orphan) { return orphan.peer == peer; });
    peers_.erase(peer);
    return released;
  }
  /// The timeout of requests to `peer` (learned from response times). Requests
  /// already in flight to it are held to it too, never given longer.
  void set_timeout(PeerId peer, Duration timeout) {
    peers_[peer].timeout = timeout;
    for (const auto& table : {&occupied_, &hedges_}) {
      for (auto& [first, occupied] : *table) {
        if (occupied.in_flight && occupied.peer == peer) {
          occupied.deadline = std::min(occupied.deadline, occupied.sent_at + timeout);
        }
      }
    }
  }

  /// While held, the leader takes no new work (other peers have not answered yet).
  void hold_leader(bool held) noexcept { leader_held_ = held; }

  [[nodiscard]] std::uint32_t inflight_count(PeerId peer) const {
    const auto it = peers_.find(peer);
    return it == peers_.end() ? 0 : it->second.inflight;
  }

  /// Requests `peer` may have in flight now. A new peer starts with four, or
  /// the limit when lower.
  [[nodiscard]] std::uint32_t window(PeerId peer) const {
    const auto it = peers_.find(peer);
    return it == peers_.end() ? initial_window() : window_of(it->second);
  }
  /// One request more for `peer`, up to the limit.
  void widen(PeerId peer) {
    auto& state = peers_[peer];
    state.window = std::min(window_of(state) + 1, limits_.max_inflight_per_peer);
  }
  /// One request less for `peer`, down to `floor`.
  void narrow(PeerId peer, std::uint32_t floor) {
    auto& state = peers_[peer];
    state.window = std::max({window_of(state) - std::min(window_of(state), 1U), floor, 1U});
  }
  /// Answers carry at most `count` positions (a provider caps its answers in
  /// bytes): requests ask for no more, so no remainder goes back to the pool
  /// to be asked again.
  void cap_request_size(std::uint64_t count) {
    answer_cap_ = std::max<std::uint64_t>(1, std::min(answer_cap_, count));
  }

  /// Positions one new request asks for: the batch size, what an answer
  /// carries, and, for a short gap or near the end, a fair share of what is
  /// left (every serving peer gets a starting window of it), so that no peer
  /// is left with a long queue while the others idle.
  [[nodiscard]] std::uint64_t request_size() const {
    const auto peers = std::max<std::uint64_t>(1, serving_peers());
    const auto parts = peers * std::max<std::uint64_t>(2, initial_window());
    const auto share = (gap_.size() + parts - 1) / parts;
    return std::max<std::uint64_t>(1,
                                   std::min({limits_.batch_size, answer_cap_, std::max(share, min_share)}));
  }

  /// Requests to `peer` ask for at most `count` positions (what its link
  /// delivers in a while, see FetchPolicy::request_time), never fewer than a
  /// tail share.
  void cap_peer_request(PeerId peer, std::uint64_t count) {
    peers_[peer].request_cap = std::max(count, min_share);
  }
  /// Positions asked of `peer` and not yet answered (its hedges and
  /// orphaned requests included): the work queued on its link.
  [[nodiscard]] std::uint64_t queued_positions(PeerId peer) const {
    return queued_positions_if(peer, [](TimePoint, Position) { return true; });
  }
  /// Positions that `request`'s peer answers before `request` is answered,
  /// its own included: what it was asked no later (a peer answers in order).
  [[nodiscard]] std::uint64_t queued_through(const Fetch& request) const {
    return queued_positions_if(request.peer, [&request](TimePoint sent_at, Position first) {
      return std::pair{sent_at, first} <= std::pair{request.sent_at, request.range.first()};
    });
  }
  /// Positions one new request to `peer` asks for.
  [[nodiscard]] std::uint64_t request_size(PeerId peer) const {
    const auto it = peers_.find(peer);
    return it == peers_.end() ? request_size() : std::min(request_size(), it->second.request_cap);
  }

  /// The window spans at most `positions` (what the byte budget allows), at least one.
  void cap_window(std::uint64_t positions) { window_cap_ = std::max<std::uint64_t>(1, positions); }

  /// Half the requests for `peer` (a request timed out), at least one.
  void halve(PeerId peer) {
    auto& state = peers_[peer];
    state.window = std::max(window_of(state) / 2, 1U);
  }
  [[nodiscard]] std::uint32_t initial_window() const noexcept {
    return std::min<std::uint32_t>(4, limits_.max_inflight_per_peer);
  }

  // ---- assignments -------------------------------------------------------

  /// Assigns unassigned ranges of the window to idle peers and returns the new requests.
  std::vector<Fetch> plan(TimePoint now) {
    std::vector<Fetch> planned;
    const auto window = window_range();
    const auto batch = request_size();
    auto pos = window.first();
    auto next_occupied = occupied_.lower_bound(Position{0});
    // Skip occupied ranges that end before the window starts (none should).
    while (!window.empty() && pos <= window.last()) {
      // Move past occupied ranges covering `pos`.
      while (next_occupied != occupied_.end() && next_occupied->second.last < pos) {
        ++next_occupied;
      }
      if (next_occupied != occupied_.end() && next_occupied->first <= pos) {
        pos = next_occupied->second.last.next();
        continue;
      }
      // [pos, segment_last] is unassigned.
      const auto segment_last = next_occupied == occupied_.end()
                                    ? window.last()
                                    : std::min(window.last(), next_occupied->first.prev());
      const auto peer = pick_peer(pos);
      if (!peer) {
        // Head-of-line: nobody idle holds `pos`; jump to the next index some idle peer holds.
        const auto next = next_covered(pos, segment_last);
        if (!next) {
          pos = segment_last.next();
          if (!has_spare_capacity()) {
            break;
          }
          continue;
        }
        pos = *next;
        continue;
      }
      auto& state = peers_[*peer];
      const auto size = std::min(batch, state.request_cap);
      const auto last = std::min({segment_last, pos + (size - 1), state.availability->last()});
      const Fetch fetch{*peer, Range{pos, last}, now + state.timeout.value_or(limits_.fetch_timeout), now};
      occupied_.emplace(pos, Occupied{last, true, *peer, fetch.deadline, now});
      ++state.inflight;
      state.last_assigned = ++assignment_sequence_;
      planned.push_back(fetch);
      pos = last.next();
      if (!has_spare_capacity()) {
        break;
      }
    }
    return planned;
  }

  /// Finds the request in flight to `peer` that contains `range` (non-empty).
  [[nodiscard]] std::optional<Fetch> find_inflight(PeerId peer, Range range) const {
    if (range.empty()) {
      return std::nullopt;
    }
    auto it = occupied_.upper_bound(range.first());
    if (it == occupied_.begin()) {
      return std::nullopt;
    }
    --it;
    const Range held{it->first, it->second.last};
    if (!it->second.in_flight || !held.contains(range)) {
      return std::nullopt;
    }
    if (it->second.peer == peer) {
      return fetch_of(it->first, it->second);
    }
    if (const auto hedge = hedges_.find(it->first); hedge != hedges_.end() && hedge->second.peer == peer) {
      return fetch_of(hedge->first, hedge->second);
    }
    return std::nullopt;
  }

  /// The requests in flight to `peer` that overlap `range`.
  [[nodiscard]] std::vector<Fetch> inflight_overlapping(PeerId peer, Range range) const {
    std::vector<Fetch> found;
    for (const auto& table : {&occupied_, &hedges_}) {
      for (const auto& [first, occupied] : *table) {
        if (occupied.in_flight && occupied.peer == peer && range.overlaps(Range{first, occupied.last})) {
          found.push_back(fetch_of(first, occupied));
        }
      }
    }
    return found;
  }

  /// The request `fetch` is over (answered badly, timed out): its range
  /// returns to the pool, or stays with its hedge, which carries on alone.
  void release(const Fetch& fetch) {
    const auto first = fetch.range.first();
    const auto hedge = hedges_.find(first);
    if (hedge != hedges_.end() && hedge->second.peer == fetch.peer) {
      hedges_.erase(hedge);
      free_slot(fetch.peer);
      return;
    }
    const auto it = occupied_.find(first);
    if (it == occupied_.end() || !it->second.in_flight || it->second.peer != fetch.peer) {
      return;
    }
    free_slot(fetch.peer);
    if (hedge != hedges_.end()) {
      it->second = hedge->second;
      hedges_.erase(hedge);
    } else {
      occupied_.erase(it);
    }
  }

  /// `fetch` was answered with `received` (a part of it): that part is now
  /// held by the session; the rest of the request returns to the pool. When
  /// the request was hedged, the other of the two lost: it becomes an orphan
  /// and is returned.
  std::optional<Fetch> complete(const Fetch& fetch, Range received) {
    const auto rival = rival_of(fetch);
    if (rival) {
      orphans_.push_back(*rival);
      hedges_.erase(fetch.range.first());
      occupied_.erase(fetch.range.first());
      free_slot(fetch.peer);
    } else {
      release(fetch);
    }
    const auto part = received.intersect(fetch.range).intersect(gap_);
    if (!part.empty()) {
      occupied_.emplace(part.first(), Occupied{part.last(), false, fetch.peer, TimePoint{}, TimePoint{}});
    }
    return rival;
  }

  /// Whether some peer could take a request now.
  [[nodiscard]] bool has_idle_peer() const { return has_spare_capacity(); }
  /// The requests in flight that have no hedge.
  [[nodiscard]] std::vector<Fetch> unhedged() const {
    std::vector<Fetch> found;
    for (const auto& [first, occupied] : occupied_) {
      if (occupied.in_flight && !hedges_.contains(first)) {
        found.push_back(fetch_of(first, occupied));
      }
    }
    return found;
  }

  /// The orphan of `peer` that `range` answers, if any: it is over, and its
  /// peer's slot is free again.
  std::optional<Fetch> take_orphan(PeerId peer, Range range) {
    const auto it = std::find_if(orphans_.begin(), orphans_.end(), [&](const Fetch& orphan) {
      return orphan.peer == peer && orphan.range.contains(range);
    });
    if (it == orphans_.end()) {
      return std::nullopt;
    }
    const auto orphan = *it;
    orphans_.erase(it);
    free_slot(peer);
    return orphan;
  }

  /// Asks a second peer for requests in flight that `worth_hedging(request,
  /// peer)` says that peer should take over: lowest first, one hedge a
  /// request, to peers with a free slot that hold the range (ranked as in plan()).
  template <class WorthHedging>
  std::vector<Fetch> hedge(TimePoint now, WorthHedging worth_hedging) {
    std::vector<Fetch> hedged;
    for (const auto& [first, occupied] : occupied_) {
      if (!has_spare_capacity()) {
        break;
      }
      if (!occupied.in_flight || hedges_.contains(first)) {
        continue;
      }
      const auto request = fetch_of(first, occupied);
      std::optional<PeerId> best;
      for (const auto& [peer, state] : peers_) {
        if (peer == occupied.peer || !idle(peer, state) || !state.availability->contains(request.range) ||
            (best && rank(*best, peers_.at(*best)) < rank(peer, state)) || !worth_hedging(request, peer)) {
          continue;
        }
        best = peer;
      }
      if (!best) {
        continue;
      }
      auto& state = peers_[*best];
      const Fetch fetch{*best, request.range, now + state.timeout.value_or(limits_.fetch_timeout), now};
      hedges_.emplace(first, Occupied{occupied.last, true, *best, fetch.deadline, now});
      ++state.inflight;
      state.last_assigned = ++assignment_sequence_;
      hedged.push_back(fetch);
    }
    return hedged;
  }

  /// A received range turned out bad before it was appended: back to the pool.
  void discard_received(Range received) {
    const auto it = occupied_.find(received.first());
    if (it != occupied_.end() && !it->second.in_flight) {
      occupied_.erase(it);
    }
  }

  /// Entries up to `appended` are in the log: the gap now starts after it.
  void advance(Position appended) {
    gap_ = gap_.after(appended);
    while (!occupied_.empty() && occupied_.begin()->second.last <= appended) {
      const auto first = occupied_.begin();
      if (first->second.in_flight) {
        // A request for entries already appended: forget it; a late answer is dropped.
        free_slot(first->second.peer);
        if (const auto hedge = hedges_.find(first->first); hedge != hedges_.end()) {
          free_slot(hedge->second.peer);
          hedges_.erase(hedge);
        }
      }
      occupied_.erase(first);
    }
  }

  /// Moves the end of the gap (the session's target moved).
  void set_gap_end(Position last) { gap_ = Range{gap_.first(), last}; }

  /// Requests whose deadline passed (orphans included); they are removed and returned.
  std::vector<Fetch> expire(TimePoint now) {
    std::vector<Fetch> expired;
    for (const auto& table : {&occupied_, &hedges_}) {
      for (const auto& [first, occupied] : *table) {
        if (occupied.in_flight && occupied.deadline <= now) {
          expired.push_back(fetch_of(first, occupied));
        }
      }
    }
    for (const auto& fetch : expired) {
      release(fetch);
    }
    // An orphan past its deadline timed out too (its peer is as late as with
    // any request), but its range is no longer its own: its slot is freed only.
    std::erase_if(orphans_, [&](const Fetch& orphan) {
      if (orphan.deadline > now) {
        return false;
      }
      free_slot(orphan.peer);
      expired.push_back(orphan);
      return true;
    });
    return expired;
  }

  [[nodiscard]] std::optional<TimePoint> next_deadline() const {
    std::optional<TimePoint> earliest;
    for (const auto& table : {&occupied_, &hedges_}) {
      for (const auto& [first, occupied] : *table) {
        if (occupied.in_flight && (!earliest || occupied.deadline < *earliest)) {
          earliest = occupied.deadline;
        }
      }
    }
    for (const auto& orphan : orphans_) {
      earliest = std::min(earliest.value_or(orphan.deadline), orphan.deadline);
    }
    return earliest;
  }

  /// Whether some unassigned index of the window is held by no known peer:
  /// the session must ask for availability again (on a backoff).
  [[nodiscard]] bool has_uncovered() const {
    const auto window = window_range();
    auto pos = window.first();
    for (auto it = occupied_.begin(); !window.empty() && pos <= window.last();) {
      if (it != occupied_.end() && it->second.last < pos) {
        ++it;
        continue;
      }
      if (it != occupied_.end() && it->first <= pos) {
        pos = it->second.last.next();
        continue;
      }
      const auto segment_last =
          it == occupied_.end() ? window.last() : std::min(window.last(), it->first.prev());
      // Walk the segment through the union of all availability.
      while (pos <= segment_last) {
        std::optional<Position> reach;
        for (const auto& [peer, state] : peers_) {
          if (state.availability && state.availability->contains(pos)) {
            reach = std::max(reach.value_or(pos), state.availability->last());
          }
        }
        if (!reach) {
          return true;
        }
        pos = reach->next();
      }
    }
    return false;
  }

  [[nodiscard]] std::size_t inflight_total() const {
    return hedges_.size() + orphans_.size() +
           static_cast<std::size_t>(std::count_if(occupied_.begin(), occupied_.end(),
                                                  [](const auto& item) { return item.second.in_flight; }));
  }

  /// The part of the gap that may be assigned now: twice the serving peers'
  /// windows × batch positions from the gap's start (room for one window
  /// held out of order behind a slow request), within the byte budget
  /// (cap_window), which bounds out-of-order chunks.
  [[nodiscard]] Range window_range() const {
    std::uint64_t requests = 0;
    for (const auto& [peer, state] : peers_) {
      if (state.availability && !state.availability->empty()) {
        requests += window_of(state);
      }
    }
    const auto span = 2 * (requests == 0 ? initial_window() : requests) * limits_.batch_size;
    return gap_.take_front(std::min(span, window_cap_));
  }

private:
  struct PeerState {
    std::optional<Range> availability;
    std::uint32_t inflight = 0;
    std::uint64_t last_assigned = 0;
    std::optional<Duration> timeout;            // this peer's own fetch timeout, when learned
    std::uint32_t window = 0;                   // requests it may have in flight (0: not adapted yet)
    std::uint64_t request_cap = max_batch_size; // the most positions a request to it asks for
  };
  struct Occupied {
    Position last;
    bool in_flight = false; // false: received, held by the session
    PeerId peer{};
    TimePoint deadline{};
    TimePoint sent_at{};
  };

  /// Positions of `peer`'s requests in flight (hedges and orphans
  /// included) that `counted(sent_at, first)` selects.
  template <class Counted>
  [[nodiscard]] std::uint64_t queued_positions_if(PeerId peer, Counted counted) const {
    std::uint64_t positions = 0;
    for (const auto& table : {&occupied_, &hedges_}) {
      for (const auto& [first, occupied] : *table) {
        if (occupied.in_flight && occupied.peer == peer && counted(occupied.sent_at, first)) {
          positions += Range{first, occupied.last}.size();
        }
      }
    }
    for (const auto& orphan : orphans_) {
      if (orphan.peer == peer && counted(orphan.sent_at, orphan.range.first())) {
        positions += orphan.range.size();
      }
    }
    return positions;
  }

  static Fetch fetch_of(Position first, const Occupied& occupied) {
    return Fetch{occupied.peer, Range{first, occupied.last}, occupied.deadline, occupied.sent_at};
  }

  // A fair share never splits the tail into requests smaller than this.
  static constexpr std::uint64_t min_share = 32;
  // Beyond these, index arithmetic (window = peers x in-flight x batch) could overflow.
  static constexpr std::uint64_t max_batch_size = std::uint64_t{1} << 32;
  static constexpr std::uint32_t max_inflight = 1024;

  static Limits normalised(Limits limits) {
    limits.batch_size = std::clamp<std::uint64_t>(limits.batch_size, 1, max_batch_size);
    limits.max_inflight_per_peer = std::clamp<std::uint32_t>(limits.max_inflight_per_peer, 1, max_inflight);
    return limits;
  }

  [[nodiscard]] std::uint32_t window_of(const PeerState& state) const noexcept {
    return state.window == 0 ? initial_window() : state.window;
  }

  [[nodiscard]] bool idle(PeerId peer, const PeerState& state) const {
    return state.availability && !state.availability->empty() && state.inflight < window_of(state) &&
           !(leader_held_ && leader_ == peer);
  }

  [[nodiscard]] bool has_spare_capacity() const {
    return std::any_of(peers_.begin(), peers_.end(),
                       [this](const auto& item) { return idle(item.first, item.second); });
  }

  [[nodiscard]] std::uint64_t serving_peers() const {
    return static_cast<std::uint64_t>(std::count_if(peers_.begin(), peers_.end(), [](const auto& item) {
      return item.second.availability && !item.second.availability->empty();
    }));
  }

  /// The idle peer to fetch `pos` from: non-leaders before the leader, then
  /// the least loaded for its window (the share of its window in flight, so
  /// a peer whose link carries more gets more), then the longest since its
  /// last assignment.
  [[nodiscard]] std::optional<PeerId> pick_peer(Position pos) const {
    std::optional<PeerId> best;
    for (const auto& [peer, state] : peers_) {
      if (!idle(peer, state) || !state.availability->contains(pos)) {
        continue;
      }
      if (!best || rank(peer, state) < rank(*best, peers_.at(*best))) {
        best = peer;
      }
    }
    return best;
  }

  [[nodiscard]] std::tuple<bool, std::uint64_t, std::uint64_t> rank(PeerId peer,
                                                                    const PeerState& state) const {
    const auto load = static_cast<std::uint64_t>(state.inflight) * 1024 / window_of(state);
    return std::tuple{leader_ == peer, load, state.last_assigned};
  }

  /// The other request of a hedged pair `fetch` belongs to, if any.
  [[nodiscard]] std::optional<Fetch> rival_of(const Fetch& fetch) const {
    const auto hedge = hedges_.find(fetch.range.first());
    if (hedge == hedges_.end()) {
      return std::nullopt;
    }
    if (hedge->second.peer == fetch.peer) {
      return fetch_of(fetch.range.first(), occupied_.at(fetch.range.first()));
    }
    return fetch_of(hedge->first, hedge->second);
  }

  void free_slot(PeerId peer) {
    if (auto it = peers_.find(peer); it != peers_.end() && it->second.inflight > 0) {
      --it->second.inflight;
    }
  }

  /// The lowest index in (pos, last] that some idle peer holds.
  [[nodiscard]] std::optional<Position> next_covered(Position pos, Position last) const {
    std::optional<Position> next;
    for (const auto& [peer, state] : peers_) {
      if (!idle(peer, state)) {
        continue;
      }
      const auto first = state.availability->first();
      if (first > pos && first <= last && (!next || first < *next)) {
        next = first;
      }
    }
    return next;
  }

  Limits limits_;
  Range gap_;
  std::optional<PeerId> leader_;
  std::map<PeerId, PeerState> peers_;
  std::map<Position, Occupied> occupied_; // keyed by first index; ranges never overlap
  std::map<Position, Occupied> hedges_;   // second requests for ranges in flight in occupied_, same key
  std::vector<Fetch> orphans_;            // requests that lost to their hedge, still on the wire
  std::uint64_t assignment_sequence_ = 0;
  std::uint64_t answer_cap_ = max_batch_size;    // the most positions an answer carried when capped
  std::uint64_t window_cap_ = ~std::uint64_t{0}; // the byte budget in positions
  bool leader_held_ = false;
};

} // namespace mosaik::fetch
