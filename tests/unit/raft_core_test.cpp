// Unit tests of RaftCore, the sans-I/O consensus logic, driven by hand: an
// InMemoryLog, a hard-state store that records what it was asked to keep,
// a clock the test moves, and what the core hands over in ready(), read back
// piece by piece (messages, catch-up work) as the scenario needs them.

#include <catch2/catch.hpp>

#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include <mosaik/group/raft_core.hpp>
#include <mosaik/storage/in_memory_log.hpp>

using namespace mosaik;
using namespace mosaik::group;

namespace {

using Cmd = std::int64_t;
using Core = RaftCore<Cmd>;
using LogEntry = Core::LogEntry;
using Log = storage::InMemoryLog<LogCommand<Cmd>>;
using Outgoing = Core::Outgoing;
using Append = AppendEntries<Cmd>;

constexpr TimePoint t0{};

/// A hard-state store that keeps every state saved, in order.
class RecordingHardState final : public HardStateStorage {
public:
  [[nodiscard]] HardState load() const override { return state_; }
  void save(const HardState& state) override {
    state_ = state;
    saves.push_back(state);
  }
  void preset(HardState state) { state_ = state; }
  std::vector<HardState> saves;

private:
  HardState state_;
};

GroupConfig config_of(std::uint64_t members) {
  GroupConfig config;
  for (std::uint64_t i = 1; i <= members; ++i) {
    config.members.push_back(MemberSpec{PeerId{i}});
  }
  config.election_timeout = 200ms;
  config.election_jitter = 0ms; // deadlines the test can compute
  config.heartbeat_interval = 50ms;
  config.bootstrap_delay = 100ms;
  config.sync_retry_backoff = 100ms;
  return config;
}

LogEntry user(Term term, Cmd value) {
  return LogEntry{term, LogCommand<Cmd>{value}};
}

/// One member: its storage, then its core over it.
struct Node {
  explicit Node(std::uint64_t self, std::uint64_t members = 3, std::vector<Term> log_terms = {},
                HardState hard_state = {}) {
    Cmd value = 1;
    for (const auto term : log_terms) {
      log.append(LogCommand<Cmd>{value++}, term);
    }
    hard.preset(hard_state);
    core = std::make_unique<Core>(config_of(members), PeerId{self}, log, hard, 42, t0);
  }

  /// The messages sent since the last call.
  std::vector<Outgoing> out() { return std::exchange(collect().messages, {}); }
  std::optional<Core::SyncStart> take_sync_start() {
    return std::exchange(collect().sync_start, std::nullopt);
  }
  std::vector<Core::SyncBuffer> take_sync_buffers() { return std::exchange(collect().sync_buffers, {}); }
  bool take_sync_cancel() { return std::exchange(collect().cancel_sync, false); }
  /// Whether the log had to be synced before the messages handed over since the last call.
  bool take_must_sync() { return std::exchange(collect().must_sync, false); }

  /// Everything the core handed over and the test has not looked at yet.
  Core::Ready& collect() {
    auto ready = core->ready();
    pending.must_sync = pending.must_sync || ready.must_sync;
    std::move(ready.messages.begin(), ready.messages.end(), std::back_inserter(pending.messages));
    pending.cancel_sync = pending.cancel_sync || ready.cancel_sync;
    if (ready.sync_start) {
      pending.sync_start = std::move(ready.sync_start);
    }
    std::move(ready.sync_buffers.begin(), ready.sync_buffers.end(), std::back_inserter(pending.sync_buffers));
    std::move(ready.reads.begin(), ready.reads.end(), std::back_inserter(pending.reads));
    return pending;
  }
  Core::Ready pending;

  void step(std::uint64_t from, Core::Message message, TimePoint now = t0 + 1ms) {
    core->step(PeerId{from}, std::move(message), now);
  }

  Log log;
  RecordingHardState hard;
  std::unique_ptr<Core> core;
};

/// The single message of type T in `outbox` sent to `peer`.
template <class T>
std::optional<T> sent(const std::vector<Outgoing>& outbox, std::uint64_t peer) {
  std::optional<T> found;
  for (const auto& outgoing : outbox) {
    if (outgoing.peer == PeerId{peer}) {
      if (const auto* body = std::get_if<T>(&outgoing.message)) {
        REQUIRE(!found.has_value()); // one per peer
        found = *body;
      }
    }
  }
  return found;
}

/// Steps `message` from `from` into `node` and returns its one answer to `from` (REQUIREd).
template <class T>
T answer(Node& node, std::uint64_t from, Core::Message message, TimePoint now = t0 + 1ms) {
  node.step(from, std::move(message), now);
  const auto response = sent<T>(node.out(), from);
  REQUIRE(response.has_value());
  return *response;
}

template <class T>
std::size_t count_sent(const std::vector<Outgoing>& outbox) {
  return static_cast<std::size_t>(std::count_if(outbox.begin(), outbox.end(), [](const Outgoing& outgoing) {
    return std::holds_alternative<T>(outgoing.message);
  }));
}

/// Node `self` of `members` becomes leader (pre-vote, then vote, granted by 2 — or 1).
void make_leader(Node& node, std::uint64_t members, TimePoint at) {
  const auto self = node.core->self().value();
  node.core->tick(at);
  REQUIRE(node.core->role() == Role::pre_candidate);
  const auto next = node.core->term().next();
  (void)node.out();
  std::uint64_t granted = 1;
  for (std::uint64_t peer = 1; peer <= members && granted < members / 2 + 1; ++peer) {
    if (peer != self) {
      node.step(peer, VoteResponse{next, true, true}, at);
      ++granted;
    }
  }
  REQUIRE(node.core->role() == Role::candidate);
  REQUIRE(node.core->term() == next);
  (void)node.out();
  granted = 1;
  for (std::uint64_t peer = 1; peer <= members && granted < members / 2 + 1; ++peer) {
    if (peer != self) {
      node.step(peer, VoteResponse{next, true, false}, at);
      ++granted;
    }
  }
  REQUIRE(node.core->role() == Role::leader);
}

} // namespace

TEST_CASE("RaftCore: no vote for a candidate whose log is behind", "[unit][raft]") {
  // Our log: t1, t1, t2 (last t2/i3).
  Node node{1, 3, {Term{1}, Term{1}, Term{2}}, HardState{Term{2}, std::nullopt, Index{0}}};

  SECTION("a shorter log of the same last term") {
    const auto response =
        answer<VoteResponse>(node, 2, VoteRequest{Term{3}, Cursor{Term{2}, Index{2}}, false});
    CHECK(!response.granted);
    CHECK(!response.pre_vote);
    CHECK(response.term == Term{3}); // the higher term is adopted all the same
    CHECK(node.core->term() == Term{3});
    CHECK(!node.hard.load().voted_for.has_value());
  }
  SECTION("a longer log of an older last term") {
    const auto response =
        answer<VoteResponse>(node, 2, VoteRequest{Term{3}, Cursor{Term{1}, Index{10}}, false});
    CHECK(!response.granted);
    CHECK(!node.hard.load().voted_for.has_value());
  }
  SECTION("nor a pre-vote for it") {
    const auto response =
        answer<VoteResponse>(node, 2, VoteRequest{Term{3}, Cursor{Term{2}, Index{2}}, true});
    CHECK(!response.granted);
    CHECK(node.core->term() == Term{2});
  }
  SECTION("an equal log gets the vote, a longer one too") {
    auto response = answer<VoteResponse>(node, 2, VoteRequest{Term{3}, Cursor{Term{2}, Index{3}}, false});
    CHECK(response.granted);
    CHECK(response.term == Term{3});
    response =
        answer<VoteResponse>(node, 3, VoteRequest{Term{4}, Cursor{Term{3}, Index{1}}, false}, t0 + 2ms);
    CHECK(response.granted);
    CHECK(response.term == Term{4});
  }
}

TEST_CASE("RaftCore: one vote per term, stored before it is sent", "[unit][raft]") {
  Node node{1, 3};
  auto response = answer<VoteResponse>(node, 2, VoteRequest{Term{1}, Cursor{}, false});
  CHECK(response.granted);
  CHECK(response.term == Term{1});
  // The vote was saved by the time the response came out.
  REQUIRE(!node.hard.saves.empty());
  CHECK(node.hard.saves.back().term == Term{1});
  CHECK(node.hard.saves.back().voted_for == PeerId{2});
  CHECK(node.hard.load().voted_for == PeerId{2});

  // Another candidate of the same term: refused.
  response = answer<VoteResponse>(node, 3, VoteRequest{Term{1}, Cursor{}, false}, t0 + 2ms);
  CHECK(!response.granted);
  CHECK(node.hard.load().voted_for == PeerId{2});

  // The same candidate asking again (a retransmission): granted again.
  response = answer<VoteResponse>(node, 2, VoteRequest{Term{1}, Cursor{}, false}, t0 + 3ms);
  CHECK(response.granted);

  // After a restart with the stored hard state, the vote still holds.
  Node restarted{1, 3};
  restarted.hard.preset(node.hard.load());
  restarted.core = std::make_unique<Core>(config_of(3), PeerId{1}, restarted.log, restarted.hard, 42, t0);
  response = answer<VoteResponse>(restarted, 3, VoteRequest{Term{1}, Cursor{}, false});
  CHECK(!response.granted);

  // A new term: a new vote.
  response = answer<VoteResponse>(node, 3, VoteRequest{Term{2}, Cursor{}, false}, t0 + 4ms);
  CHECK(response.granted);
  CHECK(response.term == Term{2});
  CHECK(node.hard.load().term == Term{2});
  CHECK(node.hard.load().voted_for == PeerId{3});
}

TEST_CASE("RaftCore: a follower that hears its leader refuses votes (check-quorum lease)", "[unit][raft]") {
  Node node{1, 3, {}, HardState{Term{1}, std::nullopt, Index{0}}};
  node.step(2, Append{Term{1}, Cursor{}, {}, Index{0}, 1}, t0 + 10ms);
  (void)node.out();
  REQUIRE(node.core->leader() == PeerId{2});
  const auto response = answer<VoteResponse>(node, 3, VoteRequest{Term{2}, Cursor{}, false}, t0 + 50ms);
  CHECK(!response.granted);
  CHECK(node.core->term() == Term{1});
  CHECK(node.core->leader() == PeerId{2});
}

TEST_CASE("RaftCore: pre-vote does not raise terms", "[unit][raft]") {
  SECTION("the pre-candidate keeps its term until a majority would vote") {
    Node node{1, 3, {Term{1}}, HardState{Term{1}, std::nullopt, Index{0}}};
    const auto deadline = node.core->next_deadline();
    CHECK(deadline == t0 + 100ms); // the bootstrap delay, no jitter
    node.core->tick(deadline - 1ms);
    CHECK(node.core->role() == Role::follower);
    CHECK(node.out().empty());
    const auto saves = node.hard.saves.size();

    node.core->tick(deadline);
    CHECK(node.core->role() == Role::pre_candidate);
    CHECK(node.core->term() == Term{1});
    CHECK(node.hard.saves.size() == saves); // nothing stored
    auto outbox = node.out();
    for (const std::uint64_t peer : {2, 3}) {
      const auto request = sent<VoteRequest>(outbox, peer);
      REQUIRE(request.has_value());
      CHECK(request->pre_vote);
      CHECK(request->term == Term{2});
      CHECK(request->last == Cursor{Term{1}, Index{1}});
    }
    // Refused pre-votes, timeouts again: still term 1, never a real election.
    node.step(2, VoteResponse{Term{1}, false, true}, deadline + 1ms);
    node.step(3, VoteResponse{Term{1}, false, true}, deadline + 1ms);
    for (int i = 1; i <= 5; ++i) {
      node.core->tick(node.core->next_deadline());
    }
    CHECK(node.core->term() == Term{1});
    CHECK(node.core->counters().pre_votes_started == 6);
    CHECK(node.core->counters().elections_started == 0);
    CHECK(node.hard.saves.size() == saves);

    // One grant makes a majority of three: now the real election, at term 2.
    (void)node.out();
    node.step(2, VoteResponse{Term{2}, true, true}, node.core->next_deadline() - 1ms);
    CHECK(node.core->role() == Role::candidate);
    CHECK(node.core->term() == Term{2});
    CHECK(node.hard.load().term == Term{2});
    CHECK(node.hard.load().voted_for == PeerId{1});
    outbox = node.out();
    const auto request = sent<VoteRequest>(outbox, 3);
    REQUIRE(request.has_value());
    CHECK(!request->pre_vote);
    CHECK(request->term == Term{2});
  }

  SECTION("granting a pre-vote changes neither term nor vote") {
    Node node{1, 3, {}, HardState{Term{3}, PeerId{2}, Index{0}}};
    const auto saves = node.hard.saves.size();
    const auto response = answer<VoteResponse>(node, 3, VoteRequest{Term{4}, Cursor{}, true}, t0 + 300ms);
    CHECK(response.granted);
    CHECK(response.pre_vote);
    CHECK(response.term == Term{4});
    CHECK(node.core->term() == Term{3});
    CHECK(node.hard.load().voted_for == PeerId{2});
    CHECK(node.hard.saves.size() == saves);
    CHECK(node.core->role() == Role::follower);
  }

  SECTION("a pre-vote at our own term is refused") {
    Node node{1, 3, {}, HardState{Term{3}, std::nullopt, Index{0}}};
    const auto response = answer<VoteResponse>(node, 3, VoteRequest{Term{3}, Cursor{}, true}, t0 + 300ms);
    CHECK(!response.granted);
    CHECK(node.core->term() == Term{3});
  }
}

TEST_CASE("RaftCore: AppendEntries consistency check", "[unit][raft]") {
  // Our log: t1 ×3, nothing committed.
  Node node{1, 3, {Term{1}, Term{1}, Term{1}}, HardState{Term{1}, std::nullopt, Index{0}}};

  SECTION("a matching prev appends and acknowledges the last index it verified") {
    const auto response = answer<AppendResponse>(
        node, 2,
        Append{Term{1}, Cursor{Term{1}, Index{3}}, {user(Term{1}, 40), user(Term{1}, 50)}, Index{2}, 7});
    CHECK(response.success);
    CHECK(!response.syncing);
    CHECK(response.match == Index{5});
    CHECK(response.round == 7);
    CHECK(node.log.last() == Cursor{Term{1}, Index{5}});
    CHECK(node.core->commit() == Index{2});
    CHECK(node.hard.load().commit == Index{2});
  }
  SECTION("the commit never goes beyond what was verified") {
    const auto response =
        answer<AppendResponse>(node, 2, Append{Term{1}, Cursor{Term{1}, Index{1}}, {}, Index{3}, 1});
    CHECK(response.success);
    CHECK(response.match == Index{1});
    CHECK(node.core->commit() == Index{1});
  }
  SECTION("a stale, shorter copy arriving late truncates nothing") {
    node.step(2,
              Append{Term{2}, Cursor{Term{1}, Index{1}}, {user(Term{2}, 7), user(Term{2}, 8)}, Index{0}, 1});
    (void)node.out();
    REQUIRE(node.log.last() == Cursor{Term{2}, Index{3}});
    const auto response = answer<AppendResponse>(
        node, 2, Append{Term{2}, Cursor{Term{1}, Index{1}}, {user(Term{2}, 7)}, Index{0}, 1});
    CHECK(response.success);
    CHECK(response.match == Index{2});
    CHECK(node.log.last() == Cursor{Term{2}, Index{3}});
    CHECK(node.core->counters().truncated_entries == 2); // the first message's conflict only
  }
  SECTION("a prev of another term is not acknowledged") {
    const auto response = answer<AppendResponse>(
        node, 2, Append{Term{2}, Cursor{Term{2}, Index{3}}, {user(Term{2}, 9)}, Index{0}, 1});
    CHECK(!response.success);
    CHECK(node.log.get(Index{4}) == nullptr); // nothing appended after a mismatch
  }
  SECTION("a message of an older term is refused with our term") {
    const auto response =
        answer<AppendResponse>(node, 2, Append{Term{0}, Cursor{}, {user(Term{0}, 9)}, Index{0}, 1});
    CHECK(!response.success);
    CHECK(response.term == Term{1});
    CHECK(node.log.last() == Cursor{Term{1}, Index{3}});
    CHECK(node.core->counters().stale_messages == 1);
  }
}

TEST_CASE("RaftCore: conflicting entries are truncated only above the commit index", "[unit][raft]") {
  // Our log: t1 ×4, committed up to 2.
  Node node{1, 3, {Term{1}, Term{1}, Term{1}, Term{1}}, HardState{Term{1}, std::nullopt, Index{2}}};

  SECTION("a conflict above the commit replaces the divergent suffix") {
    const auto response = answer<AppendResponse>(
        node, 2, Append{Term{2}, Cursor{Term{1}, Index{2}}, {user(Term{2}, 30)}, Index{2}, 1});
    CHECK(response.success);
    CHECK(response.match == Index{3});
    CHECK(node.log.last() == Cursor{Term{2}, Index{3}});
    CHECK(node.core->counters().truncated_entries == 2);
    CHECK(*node.log.get(Index{3}) == user(Term{2}, 30));
  }
  SECTION("a leader contradicting a committed entry's term at prev is ignored") {
    const auto response = answer<AppendResponse>(
        node, 2, Append{Term{2}, Cursor{Term{2}, Index{2}}, {user(Term{2}, 30)}, Index{3}, 1});
    CHECK(!response.success);
    CHECK(!response.syncing);
    CHECK(node.log.last() == Cursor{Term{1}, Index{4}});
    CHECK(node.core->counters().truncated_entries == 0);
    CHECK(node.core->counters().rejected_messages == 1);
    CHECK(node.core->commit() == Index{2});
    CHECK(!node.take_sync_start().has_value());
  }
  SECTION("entries contradicting committed ones after a matching prev: the log is left intact") {
    // prev matches at 1, but the entry for index 2 (committed, t1) comes with t2.
    node.step(
        2, Append{Term{2}, Cursor{Term{1}, Index{1}}, {user(Term{2}, 20), user(Term{2}, 30)}, Index{2}, 1});
    const auto response = sent<AppendResponse>(node.out(), 2);
    INFO("log after: " << node.log.last().term.value() << "/" << node.log.last().index.value());
    CHECK(node.log.get(Index{1})->term == Term{1});
    CHECK(node.log.get(Index{2})->term == Term{1});
    CHECK(node.log.get(Index{2})->command == LogCommand<Cmd>{Cmd{2}});
    // Nothing appended out of place: the leader's entries for 2..3 must not land at 5..6.
    CHECK(node.log.last().index <= Index{4});
    REQUIRE(response.has_value());
    CHECK(!(response->success && response->match == Index{3}));
  }
}

TEST_CASE("RaftCore: a gap does not drop acknowledged entries that nothing contradicts", "[unit][raft]") {
  // Our log: t1 ×3, committed up to 1. Leader 2 (term 1) has us acknowledge 3:
  // with two more members, index 3 may now be committed without our knowing.
  Node node{1, 5, {Term{1}, Term{1}, Term{1}}, HardState{Term{1}, std::nullopt, Index{1}}};
  const auto ack =
      answer<AppendResponse>(node, 2, Append{Term{1}, Cursor{Term{1}, Index{3}}, {}, Index{1}, 1}, t0 + 10ms);
  REQUIRE(ack.success);
  REQUIRE(ack.match == Index{3});

  // The next leader (term 2) appended its no-op at 4; its probe carrying it was
  // lost, so its heartbeat's prev is t2/i4, past our log. Nothing in it
  // contradicts our entries 2..3 (the new leader even says 3 is committed).
  // Our suffix (2..3, term 1) is not proven to match the new leader's log:
  // we ask it to check our last entry instead of dropping anything.
  const auto response = answer<AppendResponse>(
      node, 3, Append{Term{2}, Cursor{Term{2}, Index{4}}, {}, Index{3}, 1}, t0 + 300ms);
  CHECK(!response.success);
  CHECK(!response.syncing);
  CHECK(response.match == Index{3});
  CHECK(!node.take_sync_start().has_value());
  INFO("after the gap our log ends at " << node.log.last().index.value() << "; "
                                        << node.core->counters().truncated_entries << " entries truncated");
  CHECK(node.core->counters().truncated_entries == 0);
  CHECK(node.log.term_at(Index{3}) == std::optional{Term{1}});

  // The leader probes at our last entry: it matches, our suffix is verified,
  // and a later gap opens a catch-up session without dropping anything.
  const auto probe = answer<AppendResponse>(
      node, 3, Append{Term{2}, Cursor{Term{1}, Index{3}}, {}, Index{3}, 2}, t0 + 350ms);
  CHECK(probe.success);
  CHECK(probe.match == Index{3});
  const auto syncing = answer<AppendResponse>(
      node, 3, Append{Term{2}, Cursor{Term{2}, Index{9}}, {}, Index{3}, 3}, t0 + 400ms);
  CHECK(syncing.syncing);
  const auto start = node.take_sync_start();
  REQUIRE(start.has_value());
  CHECK(start->position == Cursor{Term{2}, Index{9}});
  CHECK(node.core->counters().truncated_entries == 0);

  // What is at stake: a candidate lacking index 3 must not get our vote.
  node.core->on_sync_finished(sync::SyncOutcome{sync::SyncStatus::cancelled, node.log.last(), "leader gone"},
                              Cursor{Term{1}, Index{3}}, t0 + 600ms);
  (void)node.out();
  const auto vote =
      answer<VoteResponse>(node, 4, VoteRequest{Term{3}, Cursor{Term{1}, Index{2}}, false}, t0 + 700ms);
  CHECK(!vote.granted);
}

TEST_CASE("RaftCore: the leader commits with a majority and an entry of its own term", "[unit][raft]") {
  SECTION("entries of an earlier term wait for the new leader's no-op") {
    // Two uncommitted t1 entries; the new leader (term 2) appends its no-op at 3.
    Node node{1, 3, {Term{1}, Term{1}}, HardState{Term{1}, std::nullopt, Index{0}}};
    make_leader(node, 3, t0 + 100ms);
    CHECK(node.core->term() == Term{2});
    CHECK(node.log.last() == Cursor{Term{2}, Index{3}});
    CHECK(node.log.get(Index{3})->command == LogCommand<Cmd>{Noop{}});
    auto outbox = node.out();
    const auto heartbeat = sent<Append>(outbox, 2);
    REQUIRE(heartbeat.has_value());
    CHECK(heartbeat->term == Term{2});

    // Follower 2 holds 1..2 (t1): a majority holds index 2, but it is of term 1.
    node.step(2, AppendResponse{Term{2}, true, false, Index{2}, heartbeat->round}, t0 + 101ms);
    CHECK(node.core->commit() == Index{0});
    CHECK(node.core->match_index(PeerId{2}) == Index{2});
    // Then it holds the no-op: committed, with everything before it.
    node.step(2, AppendResponse{Term{2}, true, false, Index{3}, heartbeat->round}, t0 + 102ms);
    CHECK(node.core->commit() == Index{3});
    CHECK(node.hard.load().commit == Index{3});
    // The followers learn it from the next AppendEntries.
    (void)node.out();
    node.core->tick(node.core->next_deadline());
    const auto next = sent<Append>(node.out(), 3);
    REQUIRE(next.has_value());
    CHECK(next->commit == Index{3});
  }

  SECTION("one acknowledgement of five is not a majority, two are") {
    Node node{1, 5};
    make_leader(node, 5, t0 + 100ms);
    const auto noop = node.log.last().index;
    const auto proposal = node.core->propose({10, 20}, t0 + 101ms);
    REQUIRE(proposal.ok());
    CHECK(proposal->range == IndexRange{noop.next(), noop + 2});
    CHECK(proposal->term == node.core->term());
    const auto round = sent<Append>(node.out(), 2).value_or(Append{}).round;
    node.step(2, AppendResponse{node.core->term(), true, false, proposal->range.last(), round}, t0 + 102ms);
    CHECK(node.core->commit() == Index{0});
    node.step(3, AppendResponse{node.core->term(), true, false, noop, round}, t0 + 103ms);
    CHECK(node.core->commit() == noop); // 1, 2 and 3 hold the no-op
    node.step(4, AppendResponse{node.core->term(), true, false, proposal->range.last(), round}, t0 + 104ms);
    CHECK(node.core->commit() == proposal->range.last());
  }

  SECTION("an acknowledgement beyond the leader's log is refused") {
    Node node{1, 3};
    make_leader(node, 3, t0 + 100ms);
    (void)node.out();
    node.step(2, AppendResponse{node.core->term(), true, false, Index{50}, 1}, t0 + 101ms);
    CHECK(node.core->commit() == Index{0});
    CHECK(node.core->counters().rejected_messages == 1);
  }

  SECTION("a proposal on a follower is refused") {
    Node node{1, 3};
    const auto proposal = node.core->propose({1}, t0);
    REQUIRE(!proposal.ok());
    CHECK(proposal.error().code == Errc::offline);
    CHECK(node.core->propose({}, t0).error().code == Errc::empty_batch);
    CHECK(node.log.last().index == Index{0});
  }
}

TEST_CASE("RaftCore: a gap opens a catch-up session, later entries go to its buffer", "[unit][raft]") {
  // Our log: t1 ×2. The leader's AppendEntries continues after t1/i5.
  Node node{1, 3, {Term{1}, Term{1}}, HardState{Term{1}, std::nullopt, Index{0}}};
  auto response = answer<AppendResponse>(
      node, 2, Append{Term{1}, Cursor{Term{1}, Index{5}}, {user(Term{1}, 6), user(Term{1}, 7)}, Index{5}, 3},
      t0 + 10ms);
  CHECK(!response.success);
  CHECK(response.syncing);
  CHECK(response.match == Index{2});
  CHECK(node.core->syncing());
  auto start = node.take_sync_start();
  REQUIRE(start.has_value());
  CHECK(start->position == Cursor{Term{1}, Index{5}}); // the leader's prev cursor
  CHECK(start->leader == PeerId{2});
  CHECK(start->term == Term{1});
  CHECK(start->leader_commit == Index{5});
  REQUIRE(start->entries.size() == 2);
  CHECK(start->entries[0] == user(Term{1}, 6));
  CHECK(!node.take_sync_start().has_value());          // once
  CHECK(node.log.last() == Cursor{Term{1}, Index{2}}); // the session fills the gap, not the core
  CHECK(node.core->counters().sync_sessions_started == 1);

  // While it runs, new entries are buffered for the session; the log is untouched.
  response = answer<AppendResponse>(
      node, 2, Append{Term{1}, Cursor{Term{1}, Index{7}}, {user(Term{1}, 8)}, Index{6}, 4}, t0 + 20ms);
  CHECK(!response.success);
  CHECK(response.syncing);
  auto buffers = node.take_sync_buffers();
  REQUIRE(buffers.size() == 1);
  CHECK(buffers[0].position == Cursor{Term{1}, Index{7}});
  REQUIRE(buffers[0].entries.size() == 1);
  CHECK(buffers[0].entries[0] == user(Term{1}, 8));
  CHECK(node.take_sync_buffers().empty());
  // Heartbeats (no entries) buffer nothing.
  node.step(2, Append{Term{1}, Cursor{Term{1}, Index{8}}, {}, Index{8}, 5}, t0 + 30ms);
  (void)node.out();
  CHECK(node.take_sync_buffers().empty());
  CHECK(node.log.last() == Cursor{Term{1}, Index{2}});

  // No election while syncing, as long as the leader is heard.
  node.core->tick(t0 + 150ms);
  CHECK(node.core->role() == Role::follower);
  CHECK(count_sent<VoteRequest>(node.out()) == 0);

  SECTION("completed: a success acknowledgement of the new last index") {
    // The session filled the gap and appended the buffered entries.
    for (Cmd value = 3; value <= 8; ++value) {
      node.log.append(LogCommand<Cmd>{value}, Term{1});
    }
    node.core->on_sync_finished(sync::SyncOutcome{sync::SyncStatus::completed, node.log.last(), {}},
                                Cursor{Term{1}, Index{2}}, t0 + 160ms);
    CHECK(!node.core->syncing());
    const auto ack = sent<AppendResponse>(node.out(), 2);
    REQUIRE(ack.has_value());
    CHECK(ack->success);
    CHECK(!ack->syncing);
    CHECK(ack->match == Index{8});
    CHECK(ack->term == Term{1});
    CHECK(ack->round == 5);
    CHECK(node.core->commit() == Index{8}); // the leader's commit, now verified locally
    CHECK(node.core->counters().sync_sessions_completed == 1);
    // The next AppendEntries continues normally.
    const auto next = answer<AppendResponse>(
        node, 2, Append{Term{1}, Cursor{Term{1}, Index{8}}, {user(Term{1}, 9)}, Index{8}, 6}, t0 + 170ms);
    CHECK(next.success);
    CHECK(next.match == Index{9});
  }

  SECTION("failed: no acknowledgement, a retry after the backoff") {
    node.core->on_sync_finished(sync::SyncOutcome{sync::SyncStatus::failed, node.log.last(), "test"},
                                Cursor{Term{1}, Index{2}}, t0 + 160ms);
    CHECK(!node.core->syncing());
    CHECK(count_sent<AppendResponse>(node.out()) == 0);
    CHECK(node.core->counters().sync_sessions_failed == 1);
    // Within the backoff a gap does not reopen a session.
    node.step(2, Append{Term{1}, Cursor{Term{1}, Index{8}}, {}, Index{8}, 7}, t0 + 170ms);
    (void)node.out();
    CHECK(!node.take_sync_start().has_value());
    // After it, it does.
    node.core->tick(t0 + 260ms);
    node.step(2, Append{Term{1}, Cursor{Term{1}, Index{8}}, {}, Index{8}, 8}, t0 + 270ms);
    const auto again = node.take_sync_start();
    REQUIRE(again.has_value());
    CHECK(again->position == Cursor{Term{1}, Index{8}});
  }

  SECTION("a new leader cancels the session") {
    node.step(3, Append{Term{2}, Cursor{Term{1}, Index{8}}, {user(Term{2}, 9)}, Index{8}, 1}, t0 + 40ms);
    CHECK(node.take_sync_cancel());
    CHECK(node.take_sync_buffers().empty()); // the old leader's chain is not extended
    CHECK(node.core->leader() == PeerId{3});
  }
}

TEST_CASE("RaftCore: every deadline lies ahead after a tick, with or without check-quorum", "[unit][raft]") {
  for (const bool check_quorum : {true, false}) {
    INFO("check_quorum " << check_quorum);
    Log log;
    RecordingHardState hard;
    auto config = config_of(1);
    config.check_quorum = check_quorum;
    Core core{config, PeerId{1}, log, hard, 42, t0};
    // A single member elects itself at its first deadline, then only heartbeats.
    auto now = core.next_deadline();
    for (int step = 0; step < 50; ++step) {
      core.tick(now);
      (void)core.ready();
      const auto next = core.next_deadline();
      REQUIRE(next > now); // a deadline at or before now would spin the host's timer
      now = next;
    }
    CHECK(core.role() == Role::leader);
  }
}

TEST_CASE("RaftCore: what a leader verified does not vouch for the next term's leader", "[unit][raft]") {
  // Found by the fault campaign (seed 17418, 10% loss): a follower whose
  // uncommitted tail a term-1 leader had verified campaigned, lost that term
  // to a member without the tail, and then took a gap from the winner as
  // proof that its tail matched: it appended the winner's entries after its
  // own stale one and applied an entry the group had replaced.
  Node node{1, 3, {Term{1}, Term{1}, Term{1}}, HardState{Term{1}, std::nullopt, Index{1}}};
  const auto ack =
      answer<AppendResponse>(node, 2, Append{Term{1}, Cursor{Term{1}, Index{3}}, {}, Index{1}, 1}, t0 + 10ms);
  REQUIRE(ack.success); // 2..3 verified by the leader of term 1, not committed

  // Leader 2 goes silent; we campaign (pre-vote granted by 3, then candidate of term 2).
  node.core->tick(t0 + 300ms);
  REQUIRE(node.core->role() == Role::pre_candidate);
  node.step(3, VoteResponse{Term{2}, true, true}, t0 + 301ms);
  REQUIRE(node.core->role() == Role::candidate);
  REQUIRE(node.core->term() == Term{2});
  (void)node.out();

  // 3 wins term 2 without our tail; its no-op went to index 3 and the message
  // proving the conflict was lost: its next AppendEntries leaves a gap.
  const auto response = answer<AppendResponse>(
      node, 3, Append{Term{2}, Cursor{Term{2}, Index{4}}, {}, Index{1}, 1}, t0 + 320ms);
  CHECK(node.core->leader() == PeerId{3});
  CHECK(!response.success);
  CHECK(!response.syncing);          // no session on an unverified tail...
  CHECK(response.match == Index{3}); // ...but a probe at our last entry
  CHECK(!node.take_sync_start().has_value());
  // The probe proves the conflict at 3: it goes, and only then may the gap be synced.
  const auto probe = answer<AppendResponse>(
      node, 3, Append{Term{2}, Cursor{Term{2}, Index{3}}, {}, Index{1}, 2}, t0 + 330ms);
  CHECK(!probe.success);
  CHECK(node.log.last().index <= Index{2});
  CHECK(node.core->counters().truncated_entries >= 1);
}

TEST_CASE("RaftCore: malformed AppendEntries are rejected, counted and change nothing", "[unit][raft]") {
  Node node{1, 3, {Term{1}, Term{1}}, HardState{Term{2}, std::nullopt, Index{1}}};
  SECTION("entry terms going backwards") {
    node.step(2,
              Append{Term{2}, Cursor{Term{1}, Index{2}}, {user(Term{2}, 3), user(Term{1}, 4)}, Index{2}, 1});
  }
  SECTION("an entry of a term beyond the sender's") {
    node.step(2, Append{Term{2}, Cursor{Term{1}, Index{2}}, {user(Term{3}, 3)}, Index{2}, 1});
  }
  SECTION("a previous cursor beyond the sender's term") {
    node.step(2, Append{Term{2}, Cursor{Term{5}, Index{2}}, {}, Index{2}, 1});
  }
  CHECK(node.out().empty());
  CHECK(node.core->counters().rejected_messages == 1);
  CHECK(node.log.last() == Cursor{Term{1}, Index{2}});
  CHECK(node.core->commit() == Index{1});
  CHECK(!node.core->leader().has_value()); // not even taken for a leader
}

TEST_CASE("RaftCore: Ready says when the log must be durable before the messages leave", "[unit][raft]") {
  SECTION("a follower appending the leader's entries must sync before acknowledging them") {
    Node node{1, 3};
    const auto ack = answer<AppendResponse>(
        node, 2, Append{Term{1}, Cursor{}, {user(Term{1}, 1), user(Term{1}, 2)}, Index{0}, 1}, t0 + 10ms);
    CHECK(ack.success);
    CHECK(ack.match == Index{2});
    CHECK(node.take_must_sync());
  }
  SECTION("a heartbeat writes nothing: nothing to sync") {
    Node node{1, 3, {Term{1}}, HardState{Term{1}, std::nullopt, Index{0}}};
    const auto ack = answer<AppendResponse>(
        node, 2, Append{Term{1}, Cursor{Term{1}, Index{1}}, {}, Index{1}, 2}, t0 + 10ms);
    CHECK(ack.success);
    CHECK_FALSE(node.take_must_sync());
  }
  SECTION("a vote is saved in the hard state, not the log") {
    Node node{1, 3};
    const auto vote = answer<VoteResponse>(node, 2, VoteRequest{Term{1}, Cursor{}, false}, t0 + 10ms);
    CHECK(vote.granted);
    CHECK_FALSE(node.take_must_sync());
    REQUIRE_FALSE(node.hard.saves.empty());
    CHECK(node.hard.saves.back().voted_for == PeerId{2});
  }
  SECTION("a leader's no-op and proposals are synced before its AppendEntries leave") {
    Node node{1, 3};
    make_leader(node, 3, t0 + 100ms);
    CHECK(node.take_must_sync()); // the no-op of its term
    CHECK(node.core->propose({7}, t0 + 101ms).ok());
    const auto appends = node.out();
    CHECK(count_sent<Append>(appends) == 2);
    CHECK(node.take_must_sync());
  }
  SECTION("a completed catch-up session's acknowledgement follows a sync") {
    Node node{1, 3, {Term{1}, Term{1}}, HardState{Term{1}, std::nullopt, Index{0}}};
    (void)answer<AppendResponse>(node, 2, Append{Term{1}, Cursor{Term{1}, Index{5}}, {}, Index{5}, 3},
                                 t0 + 10ms);
    REQUIRE(node.take_sync_start());
    CHECK_FALSE(node.take_must_sync()); // it wrote nothing yet: the session will
    for (int i = 0; i < 3; ++i) {
      node.log.append(LogCommand<Cmd>{i}, Term{1});
    }
    node.core->on_sync_finished(sync::SyncOutcome{sync::SyncStatus::completed, node.log.last(), {}},
                                Cursor{Term{1}, Index{2}}, t0 + 20ms);
    const auto ack = sent<AppendResponse>(node.out(), 2);
    REQUIRE(ack);
    CHECK(ack->success);
    CHECK(ack->match == Index{5});
    CHECK(node.take_must_sync());
  }
}
