#pragma once
// RaftCore: every consensus decision of one group member, as plain
// deterministic logic (the etcd-raft manner). It is fed events — a message
// arrived, time passed, a client proposed, a catch-up session ended — and
// hands its host one value, `ready()`: the messages to send, whether the log
// must be synced before they leave, catch-up work (cancel, start, buffer)
// and reads that became safe; `next_deadline()` says when it wants to be
// woken. It writes the log and the hard state itself, through their storage
// interfaces; the hard state is saved before a message that depends on it is
// queued, the log is synced by the host when Ready::must_sync says so. The
// Group drives it with coroutines; tests may drive it by hand.
//
// Catch-up: a follower whose log misses an AppendEntries' previous entry does
// not make the leader walk back. It asks the host to open a StateSync session
// to that cursor, tells the leader it is syncing (the leader then sends only
// new entries, which go to the session's buffer), holds no election meanwhile,
// and acknowledges its new last index as soon as the session completes.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/core/format.hpp>
#include <mosaik/core/hash.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/group/catch_up_handoff.hpp>
#include <mosaik/group/group_config.hpp>
#include <mosaik/group/group_messages.hpp>
#include <mosaik/group/hard_state.hpp>
#include <mosaik/group/log_command.hpp>
#include <mosaik/group/membership.hpp>
#include <mosaik/group/result.hpp>
#include <mosaik/storage/log_storage.hpp>
#include <mosaik/sync/sync_outcome.hpp>

namespace mosaik::group {

enum class Role : std::uint8_t { follower, pre_candidate, candidate, leader };

[[nodiscard]] constexpr const char* to_string(Role role) noexcept {
  switch (role) {
  case Role::follower:
    return "follower";
  case Role::pre_candidate:
    return "pre-candidate";
  case Role::candidate:
    return "candidate";
  case Role::leader:
    return "leader";
  }
  return "unknown";
}

/// Where a proposal went: its entries' indices and term.
struct Proposal {
  IndexRange range;
  Term term;
};

struct ConsensusCounters {
  std::uint64_t pre_votes_started = 0;
  std::uint64_t elections_started = 0;
  std::uint64_t elections_won = 0;
  std::uint64_t step_downs = 0; // a leader became follower (higher term, lost quorum, removed)
  std::uint64_t sync_sessions_started = 0;
  std::uint64_t sync_sessions_completed = 0;
  std::uint64_t sync_sessions_failed = 0;
  std::uint64_t truncated_entries = 0; // divergent uncommitted entries dropped
  std::uint64_t stale_messages = 0;    // from an older term, or meant for another role
  std::uint64_t rejected_messages = 0; // invalid: would break an invariant (logged with the peer)
};

template <class Command>
class RaftCore {
public:
  using LogEntry = Entry<LogCommand<Command>>;
  using Message = ConsensusMessage<Command>;

  struct Outgoing {
    PeerId peer{};
    Message message;
  };
  /// Open a catch-up session to `position` (the leader's cursor before `entries`).
  struct SyncStart {
    Cursor position;
    Index leader_commit;
    std::vector<LogEntry> entries;
    PeerId leader{};
    Term term;
    /// The local log holds a suffix no leader could check (the leader pruned
    /// below it): the session must replace it by a snapshot taken above it,
    /// never append after it.
    bool replace_suffix = false;
  };
  /// Hand these leader entries (after `position`) to the running session.
  struct SyncBuffer {
    Cursor position;
    std::vector<LogEntry> entries;
  };
  /// A local linearizable read may proceed once `read_index` is applied.
  struct ReadReady {
    std::uint64_t request_id = 0;
    Index read_index;
    std::optional<Errc> error;
  };
  /// Everything the core asks of its host since the last ready(), carried
  /// out in this order: sync the log if `must_sync`, send `messages`, cancel
  /// the running session, open `sync_start`, hand it `sync_buffers`, release
  /// `reads`.
  struct Ready {
    /// The core wrote log entries that `messages` depend on (acknowledgements,
    /// the leader counting itself in a quorum): they must be durable first.
    bool must_sync = false;
    std::vector<Outgoing> messages;
    bool cancel_sync = false;
    std::optional<SyncStart> sync_start;
    std::vector<SyncBuffer> sync_buffers;
    std::vector<ReadReady> reads;
  };

  RaftCore(GroupConfig config, PeerId self, storage::LogStorage<LogCommand<Command>>& log,
           HardStateStorage& hard, std::uint64_t seed, TimePoint now)
      : config_(std::move(config)), self_(self), log_(log), hard_storage_(hard), hard_(hard.load()),
        rng_(seed ^ (self.value() * 0x9e3779b97f4a7c15ULL)) {
    memberships_.emplace(Index{0}, Membership{config_.members});
    rescan_memberships(Index{0});
    if (hard_.commit > log_.last().index) {
      log::error("group {}: stored commit index {} is beyond the log's last entry {}; using the log's", self_,
                 hard_.commit, log_.last());
      hard_.commit = log_.last().index;
    }
    // Reluctant members also wait longer for the first election.
    const auto me = membership().find(self_);
    const auto reluctance = me && me->preference == Preference::reluctant
                                ? config_.election_timeout * (config_.reluctant_factor - 1)
                                : Duration::zero();
    election_deadline_ = now + config_.bootstrap_delay + reluctance + random_jitter();
  }

  // ---- state ---------------------------------------------------------------

  [[nodiscard]] PeerId self() const noexcept { return self_; }
  [[nodiscard]] Role role() const noexcept { return role_; }
  [[nodiscard]] Term term() const noexcept { return hard_.term; }
  [[nodiscard]] std::optional<PeerId> leader() const noexcept { return leader_; }
  [[nodiscard]] Index commit() const noexcept { return hard_.commit; }
  [[nodiscard]] Cursor last() const { return log_.last(); }
  [[nodiscard]] bool syncing() const noexcept { return !handoff_.idle(); }
  [[nodiscard]] const Membership& membership() const { return memberships_.rbegin()->second; }
  [[nodiscard]] const ConsensusCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] const GroupConfig& config() const noexcept { return config_; }
  /// The leader's view of a member's replication (nullopt elsewhere).
  [[nodiscard]] std::optional<Index> match_index(PeerId peer) const {
    const auto it = progress_.find(peer);
    return role_ == Role::leader && it != progress_.end() ? std::optional{it->second.match} : std::nullopt;
  }

  // ---- outputs -------------------------------------------------------------

  /// Hands over everything decided since the last call (see Ready).
  [[nodiscard]] Ready ready() { return std::exchange(ready_, Ready{}); }

  /// When tick() is due next.
  [[nodiscard]] TimePoint next_deadline() const {
    auto deadline = TimePoint::max();
    if (role_ == Role::leader) {
      deadline = config_.check_quorum ? std::min(heartbeat_due_, quorum_check_at_) : heartbeat_due_;
    } else if (may_campaign()) {
      deadline = election_deadline_;
    }
    if (const auto retry = handoff_.retry_at()) {
      deadline = std::min(deadline, *retry);
    }
    if (handoff_.running()) {
      deadline = std::min(deadline, last_heard_leader_ + config_.election_timeout);
    }
    return deadline;
  }

  // ---- events --------------------------------------------------------------

  /// Time passed.
  void tick(TimePoint now) {
    handoff_.tick(now); // after a backoff, the next AppendEntries may open a fresh session
    if (handoff_.running() && now - last_heard_leader_ >= config_.election_timeout) {
      // The session's leader went silent: it may hold the only copy of the
      // tail. End the session so this member can take part in an election.
      log::warn("group {}: leader {} silent during catch-up; ending the session", self_, handoff_.leader());
      cancel_sync();
      leader_.reset();
    }
    if (role_ == Role::leader) {
      if (config_.check_quorum && now >= quorum_check_at_) {
        check_quorum(now);
        if (role_ != Role::leader) {
          return;
        }
      }
      if (now >= heartbeat_due_) {
        broadcast(now, /*new_round=*/true);
      }
      return;
    }
    if (may_campaign() && now >= election_deadline_) {
      if (config_.pre_vote) {
        start_pre_vote(now);
      } else {
        start_election(now);
      }
    }
  }

  void step(PeerId from, Message message, TimePoint now) {
    std::visit([&](auto& body) { on(from, std::move(body), now); }, message);
  }

  /// The transport opened a connection to `peer`. A leader probes a member
  /// it has not heard from at once instead of at its next heartbeat: what it
  /// sent before the connection was up may be lost, and a new member's
  /// catch-up should start one round trip after it can be reached.
  void on_connected(PeerId peer, TimePoint now) {
    if (role_ != Role::leader) {
      return;
    }
    if (const auto it = progress_.find(peer);
        it != progress_.end() && it->second.state == Progress::State::probe) {
      it->second.probe_sent = false;
      send_append(peer, it->second, now);
    }
  }

  /// The host's catch-up strategy can replace a suffix by a snapshot (see
  /// SyncStart::replace_suffix); without it such a follower keeps asking.
  void set_snapshot_catch_up(bool enabled) noexcept { snapshot_catch_up_ = enabled; }

  /// A client's commands, on the leader: appended in the current term.
  Result<Proposal> propose(std::vector<Command> commands, TimePoint now) {
    if (commands.empty()) {
      return Errc::empty_batch;
    }
    if (role_ != Role::leader) {
      return Error{leader_ ? Errc::not_leader : Errc::offline,
                   fmt::format("peer {} is not the leader", self_)};
    }
    const auto first = log_.last().index.next();
    std::vector<LogEntry> entries;
    entries.reserve(commands.size());
    for (auto& command : commands) {
      entries.push_back(LogEntry{hard_.term, LogCommand<Command>{std::move(command)}});
    }
    write(std::move(entries));
    replicate(now);
    return Proposal{IndexRange{first, log_.last().index}, hard_.term};
  }

  /// On the leader: appends a snapshot point (every member snapshots when it
  /// applies it; the snapshot is offered to `requester`).
  Result<Index> propose_snapshot_point(PeerId requester, TimePoint now) {
    if (role_ != Role::leader) {
      return Error{leader_ ? Errc::not_leader : Errc::offline,
                   fmt::format("peer {} is not the leader", self_)};
    }
    const auto index = write(LogCommand<Command>{SnapshotPoint{requester}});
    replicate(now);
    return index;
  }

  /// The membership in force at `index` (the last change at or before it).
  [[nodiscard]] Membership membership_at(Index index) const {
    auto it = memberships_.upper_bound(index);
    return std::prev(it)->second;
  }

  /// The state up to `at` now comes from a snapshot whose membership is
  /// `membership` (installed by catch-up, or restored on start): what the
  /// log held below it is gone, and everything up to it is committed.
  void restore_snapshot(Cursor at, Membership membership) {
    memberships_.erase(memberships_.upper_bound(Index{0}), memberships_.end());
    memberships_[at.index] = std::move(membership);
    rescan_memberships(at.index);
    if (hard_.commit < at.index) {
      hard_.commit = at.index;
      persist();
    }
  }

  /// On the leader: adds `peer` as a learner; it is promoted once caught up.
  Result<Index> add_member(PeerId peer, Preference preference, TimePoint now) {
    if (membership().contains(peer)) {
      return Error{Errc::rejected, fmt::format("peer {} is already a member", peer)};
    }
    return change_membership(membership().with_learner(peer, preference), now);
  }

  /// On the leader: removes `peer` (the leader itself steps down once it commits).
  Result<Index> remove_member(PeerId peer, TimePoint now) {
    if (!membership().contains(peer)) {
      return Error{Errc::unknown_member, fmt::format("peer {} is not a member", peer)};
    }
    auto next = membership().without(peer);
    if (next.voter_count() == 0) {
      return Error{Errc::rejected, "the group would have no voter left"};
    }
    return change_membership(std::move(next), now);
  }

  /// A linearizable read on this member: ready (Ready::reads) once the leader
  /// confirmed its leadership after the request; the host forwards to the
  /// leader when this member is not it.
  void request_read(std::uint64_t request_id, TimePoint now) { read_index(self_, request_id, now); }

  /// The catch-up session opened for Ready::sync_start ended.
  void on_sync_finished(const sync::SyncOutcome& outcome, Cursor last_before, TimePoint now) {
    const bool cancelled_by_us = handoff_.finished(outcome.ok(), now, config_.sync_retry_backoff);
    rescan_memberships(last_before.index);
    if (!outcome.ok()) {
      ++counters_.sync_sessions_failed;
      log::warn("group {}: catch-up session ended {} ({}); {}", self_, sync::to_string(outcome.status),
                outcome.reason, cancelled_by_us ? "the leader changed" : "retrying after a backoff");
      reset_election_timer(now);
      return;
    }
    ++counters_.sync_sessions_completed;
    reset_election_timer(now);
    if (!handoff_.still_current(hard_.term, leader_)) {
      return; // another leader now: its next AppendEntries checks our log
    }
    mark_verified(log_.last().index);
    advance_follower_commit(handoff_.leader_commit(), log_.last().index);
    log::info("group {}: caught up to {} (commit {})", self_, log_.last(), hard_.commit);
    // Acknowledge at once: the leader's commit and our apply need not wait for
    // the next client command. The session wrote the log: durable first.
    ready_.must_sync = true;
    send(handoff_.leader(), AppendResponse{hard_.term, true, false, log_.last().index, last_round_});
  }

private:
  /// The leader's view of one member (etcd's Progress, simplified).
  struct Progress {
    enum class State : std::uint8_t { probe, replicate, syncing };
    Index match;
    Index next;
    State state = State::probe;
    bool probe_sent = false;       // probe: one batch per heartbeat until an answer
    TimePoint last_ack;            // for check-quorum
    std::uint64_t acked_round = 0; // for read-index confirmation
  };

  struct PendingRead {
    PeerId requester;
    std::uint64_t request_id = 0;
    Index read_index;
    std::uint64_t round = 0;
  };

  // ---- message handlers ----------------------------------------------------

  void on(PeerId from, VoteRequest request, TimePoint now) {
    const bool in_lease =
        role_ == Role::leader || (leader_.has_value() && now - last_heard_leader_ < config_.election_timeout);
    const auto reject = [&](const char* why) {
      log::debug("group {}: {}vote for {} at term {} refused: {}", self_, request.pre_vote ? "pre-" : "",
                 from, request.term, why);
      send(from, VoteResponse{hard_.term, false, request.pre_vote});
    };
    if (request.term < hard_.term) {
      ++counters_.stale_messages;
      return reject("its term is behind ours");
    }
    if (in_lease && config_.check_quorum) {
      return reject("we hear a leader");
    }
    if (request.pre_vote) {
      if (request.term > hard_.term && up_to_date(request.last)) {
        send(from, VoteResponse{request.term, true, true});
      } else {
        reject("its log is behind ours");
      }
      return;
    }
    if (request.term > hard_.term) {
      become_follower(request.term, std::nullopt, now);
    }
    if ((hard_.voted_for && *hard_.voted_for != from) || !up_to_date(request.last)) {
      return reject(hard_.voted_for ? "we voted for another" : "its log is behind ours");
    }
    hard_.voted_for = from;
    persist(); // the vote is stored before it is sent
    reset_election_timer(now);
    send(from, VoteResponse{hard_.term, true, false});
  }

  void on(PeerId from, VoteResponse response, TimePoint now) {
    if (response.term > hard_.term && !(response.pre_vote && response.granted)) {
      become_follower(response.term, std::nullopt, now);
      return;
    }
    const bool counts = membership().is_voter(from) && response.granted;
    if (role_ == Role::pre_candidate && response.pre_vote && response.term == hard_.term.next()) {
      if (counts && votes_.insert(from).second && votes_.size() >= membership().quorum()) {
        start_election(now);
      }
    } else if (role_ == Role::candidate && !response.pre_vote && response.term == hard_.term) {
      if (counts && votes_.insert(from).second && votes_.size() >= membership().quorum()) {
        become_leader(now);
      }
    } else {
      ++counters_.stale_messages;
    }
  }

  void on(PeerId from, AppendEntries<Command> request, TimePoint now) {
    if (request.term < hard_.term) {
      ++counters_.stale_messages;
      send(from, AppendResponse{hard_.term, false, false, log_.last().index, request.round});
      return;
    }
    if (!well_formed(request)) {
      ++counters_.rejected_messages;
      log::warn(
          "group {}: AppendEntries from {} (term {}) rejected: entry terms go backwards or beyond its term",
          self_, from, request.term);
      return;
    }
    if (role_ == Role::leader && request.term == hard_.term) {
      ++counters_.rejected_messages;
      log::error("group {}: peer {} claims leadership of our own term {}; ignored", self_, from,
                 request.term);
      return;
    }
    if (request.term > hard_.term || role_ != Role::follower || leader_ != from) {
      become_follower(request.term, from, now);
    }
    last_heard_leader_ = now;
    last_round_ = request.round;
    reset_election_timer(now);

    if (!handoff_.idle()) {
      on_append_while_syncing(from, std::move(request));
      return;
    }
    const auto local = log_.last();
    const auto held_term = log_.term_at(request.prev.index);
    if (request.prev.index <= local.index && held_term && *held_term == request.prev.term) {
      append_from_leader(from, std::move(request));
      return;
    }
    if (request.prev.index <= hard_.commit) {
      // A committed entry cannot differ from the leader's (leader completeness).
      ++counters_.rejected_messages;
      log::error("group {}: leader {} contradicts our committed entry at {} (held t{}, leader {}); ignored",
                 self_, from, request.prev.index, held_term ? held_term->value() : 0, request.prev);
      send(from, AppendResponse{hard_.term, false, false, hard_.commit, request.round});
      return;
    }
    if (request.prev.index <= local.index) {
      // A proven conflict: the leader holds another term at prev. Our entry
      // there and after are uncommitted (leader completeness): drop them.
      // Then hint where our conflicting term began, so the leader skips a
      // whole term per round trip instead of one entry.
      const auto conflict = held_term.value_or(Term{});
      auto hint = request.prev.index;
      while (hint.prev() > hard_.commit && log_.term_at(hint.prev()) == conflict) {
        hint = hint.prev();
      }
      truncate_from(request.prev.index, from);
      send(from, AppendResponse{hard_.term, false, false, hint.prev(), request.round});
      return;
    }
    if (!suffix_verified(request.prev)) {
      if (snapshot_catch_up_ && handoff_.probe_asked(hard_.term, local.index)) {
        // We asked this term's leader to probe at our last index and it
        // answered from beyond it again: it pruned below our last entry and
        // cannot check our suffix. A snapshot taken above our last index
        // holds every committed entry up to it; installing it replaces the
        // suffix without dropping anything a majority may rely on.
        handoff_.forget_probe();
        if (!handoff_.backing_off()) {
          open_sync(from, std::move(request), /*replace_suffix=*/true);
        } else {
          send(from, AppendResponse{hard_.term, false, true, hard_.commit, request.round});
        }
        return;
      }
      // Our uncommitted suffix may come from a deposed leader. Dropping it
      // unproven could drop entries a majority acknowledged (and then vote for
      // a log that lacks them); instead, ask the leader to check it: it probes
      // at our last index and we truncate only what it proves wrong.
      handoff_.asked_probe(hard_.term, local.index);
      send(from, AppendResponse{hard_.term, false, false, local.index, request.round});
      return;
    }
    if (handoff_.backing_off()) {
      send(from, AppendResponse{hard_.term, false, true, hard_.commit, request.round});
      return;
    }
    open_sync(from, std::move(request));
  }

  /// Entry terms never decrease, start at or after prev's and never exceed the leader's term.
  [[nodiscard]] static bool well_formed(const AppendEntries<Command>& request) {
    auto previous = request.prev.term;
    for (const auto& entry : request.entries) {
      if (entry.term < previous || entry.term > request.term) {
        return false;
      }
      previous = entry.term;
    }
    return request.prev.term <= request.term;
  }

  /// Our log up to `index` equals the current term's leader's.
  void mark_verified(Index index) { handoff_.mark_verified(index, hard_.term, hard_.commit); }

  /// Whether our whole log is known to be a prefix of the log of the leader whose previous cursor is `prev`.
  [[nodiscard]] bool suffix_verified(Cursor prev) const {
    return handoff_.suffix_verified(log_.last(), hard_.commit, hard_.term, prev);
  }

  void on(PeerId from, AppendResponse response, TimePoint now) {
    if (response.term > hard_.term) {
      become_follower(response.term, std::nullopt, now);
      return;
    }
    const auto it = progress_.find(from);
    if (role_ != Role::leader || response.term < hard_.term || it == progress_.end()) {
      ++counters_.stale_messages;
      return;
    }
    auto& progress = it->second;
    progress.last_ack = now;
    progress.acked_round = std::max(progress.acked_round, response.round);
    progress.probe_sent = false;
    const bool probing = progress.state == Progress::State::probe;
    if (response.success) {
      if (response.match > log_.last().index) {
        ++counters_.rejected_messages;
        log::warn("group {}: peer {} acknowledged index {} beyond our last {}; ignored", self_, from,
                  response.match, log_.last());
        return;
      }
      progress.match = std::max(progress.match, response.match);
      progress.next = std::max(progress.next, progress.match.next());
      progress.state = Progress::State::replicate;
      if (probing && log_.last().index.distance_from(progress.match) > config_.max_entries_per_append) {
        // Its log is verified now; a long backlog is the catch-up session's
        // work, not ours: point it past our last entry and let it sync.
        progress.next = log_.last().index.next();
        send_append(from, progress, now);
      }
      advance_leader_commit(now);
      if (role_ != Role::leader) {
        return; // it committed our own removal: we stepped down (and `progress` is gone)
      }
      promote_learners(now);
    } else if (response.syncing) {
      // It fetches the gap from everyone; we only send what is new.
      progress.state = Progress::State::syncing;
    } else {
      progress.state = Progress::State::probe;
      progress.next = std::min(progress.next, std::min(response.match, log_.last().index).next());
    }
    confirm_reads();
    if (progress.state == Progress::State::probe || progress.next <= log_.last().index) {
      send_append(from, progress, now);
    }
  }

  void on(PeerId from, ForwardRequest<Command> request, TimePoint now) {
    auto& recent = forwarded_[from];
    if (const auto it = recent.find(request.request_id); it != recent.end()) {
      send(from, it->second); // a duplicate: answer again, append nothing
      return;
    }
    ForwardResponse response{request.request_id, {}, {}, {}};
    auto result = propose(std::move(request.commands), now);
    if (result) {
      response.range = result->range;
      response.term = result->term;
    } else {
      response.error = result.error().code;
    }
    recent.emplace(request.request_id, response);
    if (recent.size() > kForwardMemory) {
      recent.erase(recent.begin());
    }
    send(from, response);
  }

  void on(PeerId from, ReadIndexRequest request, TimePoint now) { read_index(from, request.request_id, now); }

  void on(PeerId, ForwardResponse, TimePoint) { ++counters_.stale_messages; }   // the host's business
  void on(PeerId, ReadIndexResponse, TimePoint) { ++counters_.stale_messages; } // the host's business

  // ---- follower --------------------------------------------------------------

  void append_from_leader(PeerId from, AppendEntries<Command> request) {
    auto index = request.prev.index;
    auto entries = std::move(request.entries);
    std::size_t skip = 0;
    for (; skip < entries.size(); ++skip) {
      index = index.next();
      const auto held = log_.term_at(index);
      if (!held || index > log_.last().index) {
        break;
      }
      if (*held != entries[skip].term) {
        if (index <= hard_.commit) {
          // Only a broken leader contradicts committed entries: take nothing from it.
          ++counters_.rejected_messages;
          log::error("group {}: leader {} sends t{} at committed index {} (held t{}); batch refused", self_,
                     from, entries[skip].term, index, *held);
          send(from, AppendResponse{hard_.term, false, false, hard_.commit, request.round});
          return;
        }
        truncate_from(index, from);
        break;
      }
    }
    const auto match = request.prev.index + entries.size();
    if (skip < entries.size()) {
      const auto first_new = log_.last().index.next();
      entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(skip));
      write(std::move(entries));
      rescan_memberships(first_new.prev());
    }
    mark_verified(match);
    advance_follower_commit(request.commit, match);
    send(from, AppendResponse{hard_.term, true, false, match, request.round});
  }

  void open_sync(PeerId from, AppendEntries<Command> request, bool replace_suffix = false) {
    handoff_.open(hard_.term, from, request.commit);
    ++counters_.sync_sessions_started;
    log::info("group {}: behind leader {} (local {}, leader's previous {}); opening a catch-up session",
              self_, from, log_.last(), request.prev);
    ready_.sync_start =
        SyncStart{request.prev, request.commit, std::move(request.entries), from, hard_.term, replace_suffix};
    send(from, AppendResponse{hard_.term, false, true, log_.last().index, request.round});
  }

  void on_append_while_syncing(PeerId from, AppendEntries<Command> request) {
    if (handoff_.running() && !handoff_.serves(request.term, from)) {
      // The session's leader is gone; its buffer would chain to a stale log.
      cancel_sync();
    }
    if (handoff_.running()) {
      handoff_.leader_committed(request.commit);
      if (!request.entries.empty()) {
        ready_.sync_buffers.push_back(SyncBuffer{request.prev, std::move(request.entries)});
      }
    }
    send(from, AppendResponse{hard_.term, false, true, log_.last().index, request.round});
  }

  /// The host must cancel the running session.
  void cancel_sync() {
    handoff_.cancel();
    ready_.cancel_sync = true;
  }

  void advance_follower_commit(Index leader_commit, Index verified) {
    const auto commit = std::min(leader_commit, verified);
    if (commit > hard_.commit) {
      hard_.commit = commit;
      persist();
    }
  }

  void truncate_from(Index from, PeerId leader) {
    if (from <= hard_.commit) {
      // Never reached: callers check; a bug here would lose committed data.
      log::error("group {}: refusing to truncate committed entries from {} (commit {})", self_, from,
                 hard_.commit);
      return;
    }
    const auto dropped = log_.last().index.distance_from(from.prev());
    if (dropped == 0) {
      return;
    }
    counters_.truncated_entries += dropped;
    log::warn("group {}: dropping {} divergent uncommitted entries from {} (leader {})", self_, dropped, from,
              leader);
    log_.truncate(from);
    ready_.must_sync = true;
    handoff_.truncated(from);
    memberships_.erase(memberships_.lower_bound(from), memberships_.end());
  }

  // ---- elections -------------------------------------------------------------

  [[nodiscard]] bool may_campaign() const {
    const auto me = membership().find(self_);
    return role_ != Role::leader && handoff_.idle() && me && me->voter &&
           me->preference != Preference::observer;
  }

  [[nodiscard]] bool up_to_date(Cursor candidate) const {
    const auto mine = log_.last();
    return candidate.term > mine.term || (candidate.term == mine.term && candidate.index >= mine.index);
  }

  void start_pre_vote(TimePoint now) {
    ++counters_.pre_votes_started;
    role_ = Role::pre_candidate;
    leader_.reset();
    votes_ = {self_};
    reset_election_timer(now);
    log::debug("group {}: pre-vote for term {}", self_, hard_.term.next());
    if (votes_.size() >= membership().quorum()) {
      start_election(now);
      return;
    }
    for (const auto peer : membership().voters()) {
      if (peer != self_) {
        send(peer, VoteRequest{hard_.term.next(), log_.last(), true});
      }
    }
  }

  void start_election(TimePoint now) {
    ++counters_.elections_started;
    role_ = Role::candidate;
    leader_.reset();
    hard_.term = hard_.term.next();
    hard_.voted_for = self_;
    persist();
    votes_ = {self_};
    reset_election_timer(now);
    log::info("group {}: campaigning for term {} (last {})", self_, hard_.term, log_.last());
    if (votes_.size() >= membership().quorum()) {
      become_leader(now);
      return;
    }
    for (const auto peer : membership().voters()) {
      if (peer != self_) {
        send(peer, VoteRequest{hard_.term, log_.last(), false});
      }
    }
  }

  void become_follower(Term term, std::optional<PeerId> leader, TimePoint now) {
    if (role_ == Role::leader) {
      ++counters_.step_downs;
      fail_reads(Errc::not_leader);
      progress_.clear();
    }
    if (term > hard_.term) {
      hard_.term = term;
      hard_.voted_for.reset();
      persist();
    }
    if (leader && leader_ != leader) {
      log::info("group {}: following {} in term {}", self_, *leader, term);
    }
    role_ = Role::follower;
    leader_ = leader;
    reset_election_timer(now);
  }

  void become_leader(TimePoint now) {
    ++counters_.elections_won;
    role_ = Role::leader;
    leader_ = self_;
    progress_.clear();
    for (const auto& [peer, member] : membership().members()) {
      if (peer != self_) {
        progress_[peer] = Progress{Index{0}, log_.last().index.next(), Progress::State::probe, false, now, 0};
      }
    }
    quorum_check_at_ = now + config_.election_timeout;
    log::info("group {}: leader of term {} (last {}, commit {})", self_, hard_.term, log_.last(),
              hard_.commit);
    // A no-op of our term lets us commit what earlier terms left uncommitted.
    term_start_ = write(LogCommand<Command>{Noop{}});
    replicate(now);
    broadcast(now, /*new_round=*/true);
  }

  void reset_election_timer(TimePoint now) {
    const auto me = membership().find(self_);
    const auto factor = me && me->preference == Preference::reluctant ? config_.reluctant_factor : 1U;
    election_deadline_ = now + config_.election_timeout * factor + random_jitter();
  }

  [[nodiscard]] Duration random_jitter() {
    const auto span = static_cast<std::uint64_t>(config_.election_jitter.count());
    return span == 0 ? Duration::zero() : Duration{static_cast<Duration::rep>(next_random() % (span + 1))};
  }

  std::uint64_t next_random() {
    // splitmix64: enough for jitter, and a seed replays it.
    return splitmix64_next(rng_);
  }

  // ---- leader ----------------------------------------------------------------

  void check_quorum(TimePoint now) {
    const auto since = quorum_check_at_ - config_.election_timeout;
    std::size_t heard = membership().is_voter(self_) ? 1 : 0;
    for (const auto& [peer, progress] : progress_) {
      heard += membership().is_voter(peer) && progress.last_ack >= since ? 1 : 0;
    }
    quorum_check_at_ = now + config_.election_timeout;
    if (heard < membership().quorum()) {
      log::warn("group {}: heard only {} of {} voters in an election timeout; stepping down", self_, heard,
                membership().voter_count());
      become_follower(hard_.term, std::nullopt, now);
    }
  }

  /// Sends pending entries to every member that takes them now.
  void replicate(TimePoint now) {
    advance_leader_commit(now);
    for (auto& [peer, progress] : progress_) {
      if (progress.state != Progress::State::probe && progress.next <= log_.last().index) {
        send_append(peer, progress, now);
      }
    }
  }

  /// A heartbeat round: every member gets an AppendEntries (with entries when due).
  void broadcast(TimePoint now, bool new_round) {
    if (new_round) {
      ++round_;
    }
    heartbeat_due_ = now + config_.heartbeat_interval;
    for (auto& [peer, progress] : progress_) {
      progress.probe_sent = false;
      send_append(peer, progress, now);
    }
  }

  void send_append(PeerId peer, Progress& progress, TimePoint) {
    const auto last = log_.last().index;
    auto prev_index = std::min(progress.next.prev(), last);
    auto prev_term = log_.term_at(prev_index);
    if (!prev_term) {
      // Pruned below what the member needs: send our last cursor; the gap makes it sync.
      prev_index = last;
      prev_term = log_.last().term;
      progress.next = last.next();
    }
    AppendEntries<Command> request{hard_.term, Cursor{*prev_term, prev_index}, {}, hard_.commit, round_};
    const bool may_send_entries = progress.state != Progress::State::probe || !progress.probe_sent;
    if (may_send_entries && progress.next <= last) {
      const auto range = IndexRange{progress.next, last}.take_front(config_.max_entries_per_append);
      log_.read_range(range, config_.max_append_bytes, request.entries);
      progress.next = prev_index.next() + request.entries.size();
      progress.probe_sent = progress.state == Progress::State::probe;
    }
    send(peer, std::move(request));
  }

  void advance_leader_commit(TimePoint now) {
    if (role_ != Role::leader) {
      return;
    }
    std::vector<Index> matches;
    for (const auto peer : membership().voters()) {
      if (peer == self_) {
        matches.push_back(log_.last().index);
      } else if (const auto it = progress_.find(peer); it != progress_.end()) {
        matches.push_back(it->second.match);
      } else {
        matches.push_back(Index{0});
      }
    }
    if (matches.empty()) {
      return;
    }
    const auto quorum = membership().quorum();
    std::sort(matches.begin(), matches.end(), std::greater<>{});
    const auto candidate = matches[quorum - 1];
    // Only an entry of our own term is committed by counting (Raft §5.4.2).
    if (candidate > hard_.commit && log_.term_at(candidate) == hard_.term) {
      hard_.commit = candidate;
      persist();
      confirm_reads();
      on_leader_commit(now);
    }
  }

  void on_leader_commit(TimePoint now) {
    // A leader that committed its own removal hands over by stepping down.
    if (!membership().contains(self_) && last_membership_index() <= hard_.commit) {
      log::info("group {}: removed from the group at {}; stepping down", self_, last_membership_index());
      broadcast(now, false); // let the others learn the commit
      become_follower(hard_.term, std::nullopt, now);
    }
  }

  Result<Index> change_membership(Membership next, TimePoint now) {
    if (role_ != Role::leader) {
      return Error{leader_ ? Errc::not_leader : Errc::offline,
                   fmt::format("peer {} is not the leader", self_)};
    }
    if (last_membership_index() > hard_.commit) {
      return Errc::change_in_progress;
    }
    const auto index = write(LogCommand<Command>{MembershipChange{next}});
    memberships_[index] = next;
    std::vector<PeerId> added;
    for (const auto& [peer, member] : next.members()) {
      if (peer != self_ && !progress_.contains(peer)) {
        progress_[peer] = Progress{Index{0}, index, Progress::State::probe, false, now, 0};
        added.push_back(peer);
      }
    }
    std::erase_if(progress_, [&](const auto& item) { return !next.contains(item.first); });
    log::info("group {}: membership change at {}: {} members, {} voters", self_, index, next.members().size(),
              next.voter_count());
    replicate(now);
    // A new member hears from us now, not at the next heartbeat: the change
    // itself is its probe, and a member that lacks what precedes it opens
    // its catch-up session on this very message.
    for (const auto peer : added) {
      send_append(peer, progress_.at(peer), now);
    }
    return index;
  }

  void promote_learners(TimePoint now) {
    if (last_membership_index() > hard_.commit) {
      return; // one change at a time
    }
    for (const auto& [peer, member] : membership().members()) {
      if (member.voter || member.preference == Preference::observer) {
        continue;
      }
      const auto it = progress_.find(peer);
      if (it != progress_.end() && it->second.state == Progress::State::replicate &&
          it->second.match + config_.promote_within_entries >= log_.last().index) {
        log::info("group {}: learner {} caught up to {}; promoting it to voter", self_, peer,
                  it->second.match);
        (void)change_membership(membership().with_voter(peer), now);
        return;
      }
    }
  }

  // ---- reads -----------------------------------------------------------------

  void read_index(PeerId requester, std::uint64_t request_id, TimePoint now) {
    if (role_ != Role::leader) {
      answer_read(requester, ReadReady{request_id, {}, leader_ ? Errc::not_leader : Errc::offline});
      return;
    }
    // The read index is our commit once an entry of our term is committed;
    // until then, the no-op's index (everything before it may be committed).
    const auto read_index = std::max(hard_.commit, term_start_);
    reads_pending_.push_back(PendingRead{requester, request_id, read_index, ++round_});
    broadcast(now, /*new_round=*/false);
    confirm_reads();
  }

  void confirm_reads() {
    if (role_ != Role::leader || reads_pending_.empty()) {
      return;
    }
    std::erase_if(reads_pending_, [&](const PendingRead& read) {
      std::size_t confirmed = membership().is_voter(self_) ? 1 : 0;
      for (const auto& [peer, progress] : progress_) {
        confirmed += membership().is_voter(peer) && progress.acked_round >= read.round ? 1 : 0;
      }
      if (confirmed < membership().quorum() || log_.term_at(hard_.commit) != hard_.term) {
        return false;
      }
      answer_read(read.requester, ReadReady{read.request_id, read.read_index, std::nullopt});
      return true;
    });
  }

  void fail_reads(Errc error) {
    for (const auto& read : reads_pending_) {
      answer_read(read.requester, ReadReady{read.request_id, {}, error});
    }
    reads_pending_.clear();
  }

  void answer_read(PeerId requester, ReadReady ready) {
    if (requester == self_) {
      ready_.reads.push_back(ready);
    } else {
      send(requester, ReadIndexResponse{ready.request_id, ready.read_index, ready.error});
    }
  }

  // ---- membership ------------------------------------------------------------

  [[nodiscard]] Index last_membership_index() const { return memberships_.rbegin()->first; }

  /// Records the membership changes among the entries after `after`.
  void rescan_memberships(Index after) {
    const auto held = log_.available().intersect(IndexRange{after.next(), log_.last().index});
    for (auto index = held.first(); !held.empty() && index <= held.last(); index = index.next()) {
      if (const auto* change = log_.get(index)->command.membership()) {
        memberships_[index] = change->membership;
      }
    }
  }

  // ---- plumbing ----------------------------------------------------------------

  void persist() { hard_storage_.save(hard_); }

  // Every log write goes through these: what the core writes must be synced
  // before the messages of the same Ready leave.
  void write(std::vector<LogEntry> entries) {
    log_.append_all(std::move(entries));
    ready_.must_sync = true;
  }
  /// Appends one command of the current term; returns its index.
  Index write(LogCommand<Command> command) {
    ready_.must_sync = true;
    return log_.append(std::move(command), hard_.term);
  }

  template <class Body>
  void send(PeerId peer, Body body) {
    ready_.messages.push_back(Outgoing{peer, Message{std::move(body)}});
  }

  static constexpr std::size_t kForwardMemory = 1024; // answered forward requests remembered per peer

  GroupConfig config_;
  PeerId self_;
  storage::LogStorage<LogCommand<Command>>& log_;
  HardStateStorage& hard_storage_;
  HardState hard_;
  std::uint64_t rng_;

  Role role_ = Role::follower;
  std::optional<PeerId> leader_;
  TimePoint last_heard_leader_{};
  TimePoint election_deadline_{};
  std::set<PeerId> votes_;
  std::uint64_t last_round_ = 0;            // the leader's latest round, echoed in acknowledgements
  std::map<Index, Membership> memberships_; // index 0: the configured one

  // Leader.
  std::map<PeerId, Progress> progress_;
  TimePoint heartbeat_due_{};
  TimePoint quorum_check_at_{};
  std::uint64_t round_ = 0;
  Index term_start_; // our no-op: the first entry of our term
  std::vector<PendingRead> reads_pending_;
  std::map<PeerId, std::map<std::uint64_t, ForwardResponse>> forwarded_;

  // Catch-up.
  CatchUpHandoff handoff_;
  bool snapshot_catch_up_ = false;

  Ready ready_; // what the host has not taken yet
  ConsensusCounters counters_;
};

} // namespace mosaik::group
