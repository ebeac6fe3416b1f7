#pragma once
// SessionDriver: runs scenario commands (data_driven.hpp) on a catch-up
// session core, LogReplayCore or SnapshotSyncCore, through the unit tests'
// harnesses (tests/unit/log_replay_harness.hpp, snapshot_harness.hpp): the
// reference history (term 1 for 1..=40, 2 for 41..=80, ...; "entry-i" at i),
// a local log, fake peers that answer only when the scenario says so, and a
// clock that moves only when told.
//
// Ranges are written [a..=b] (or a..b); cursors t3/i500; lists 1,2,3.
//
//   gap local=100 target=t3/i500 [peers=1,2,3] [holds=[1..=500]] [leader=1] [reference=N]
//       [buffered=501..510] [batch=10] [item-batch=10] [fetch-timeout=2s] [max-bad=3] [inflight=1]
//                         the local log holds 1..=local, the session fills it up to `target`;
//                         each peer holds `holds` (default: all the reference)
//   peer 2 [holds=..] [announces=..] [snapshot=200/50] [no-snapshot] [silent] [answers] [mute]
//          [lies=long] [honest]
//                         a fake peer's state: what it serves, announces, offers (a snapshot at
//                         index 200 of 50 items); silent: its fetches are parked unanswered;
//                         mute: its availability probes go unanswered (snapshot sessions);
//                         lies=KIND: it answers every fetch delivered to it with that lie
//   start [bonded=1,2]    start the session (every peer bonded unless told)
//   answer 2 [count=N]    peer 2 answers its pending requests honestly, oldest first
//   announce 2 [1..=500]  peer 2 answers its availability request with this range
//   lie 3 shift|terms|short|long|empty
//                         peer 3 answers its pending entry fetches wrongly: entries for a range
//                         shifted past the request, terms going backwards, one entry too few or
//                         too many, or no entries
//   drop 2                peer 2's pending requests are lost
//   stabilize             every peer answers honestly, round after round, until nothing is
//                         pending (silent peers park their fetches)
//   release 3             peer 3's parked fetches are pending again
//   run [within=10m]      stabilize and tick until the session ends
//   advance 2s            time passes: on_tick
//   tick                  time passes up to the session's next deadline
//   leave 2 / bond 2      peer 2's bond terminates / peer 2 bonds
//   buffer 501..510 [after=t3/i500]
//                         the leader sends these reference entries (after the cursor before them)
//   outbox                the messages the session sent since the last `outbox`
//   pending               the messages not answered yet
//   progress              per-peer entries/items/requests/bad/timeouts/excluded, and counters
//   outcome               the session's outcome (or "running")
//   log                   the local log's last cursor, and whether it is the reference's
//   snapshot              what the sink was handed (snapshot sessions)

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <mosaik/core/format.hpp>

#include "../unit/log_replay_harness.hpp"
#include "../unit/reference_history.hpp"
#include "../unit/snapshot_harness.hpp"
#include "data_driven.hpp"

namespace mosaik::test::scenario {

/// `[a..=b]`, `a..b`, `a..=b` or `[]`.
inline IndexRange parse_range(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty()) {
    return IndexRange{};
  }
  const auto dots = text.find("..");
  if (dots == std::string_view::npos) {
    throw ScenarioError(fmt::format("a range such as [1..=500] expected, not '{}'", text));
  }
  auto last = text.substr(dots + 2);
  if (!last.empty() && last.front() == '=') {
    last.remove_prefix(1);
  }
  return r(parse_uint(text.substr(0, dots), "range"), parse_uint(last, "range"));
}

/// `t3/i500`.
inline Cursor parse_cursor(std::string_view text) {
  const auto slash = text.find('/');
  if (text.size() < 4 || text.front() != 't' || slash == std::string_view::npos || slash + 1 >= text.size() ||
      text[slash + 1] != 'i') {
    throw ScenarioError(fmt::format("a cursor such as t3/i500 expected, not '{}'", text));
  }
  return Cursor{Term{parse_uint(text.substr(1, slash - 1), "term")},
                Index{parse_uint(text.substr(slash + 2), "index")}};
}

template <class Harness>
class SessionDriver final : public ScenarioDriver {
public:
  static constexpr bool snapshots = std::is_same_v<Harness, SnapshotHarness>;
  using Core = typename Harness::Core;
  using Message = typename Harness::Message;
  using Outgoing = typename Harness::Outgoing;
  using Config = std::remove_cvref_t<decltype(std::declval<Harness&>().config)>;
  using Peer = typename std::remove_cvref_t<decltype(std::declval<Harness&>().peers)>::mapped_type;

  std::string run(Command& command) override {
    const auto& name = command.name();
    if (name == "gap") {
      return gap(command);
    }
    if (!harness_) {
      throw ScenarioError("the scenario starts with `gap ...`");
    }
    static const std::map<std::string, std::string (SessionDriver::*)(Command&)> table{
        {"peer", &SessionDriver::peer},
        {"start", &SessionDriver::start},
        {"answer", &SessionDriver::answer},
        {"announce", &SessionDriver::announce},
        {"lie", &SessionDriver::lie},
        {"drop", &SessionDriver::drop},
        {"stabilize", &SessionDriver::stabilize},
        {"release", &SessionDriver::release},
        {"run", &SessionDriver::run_to_end},
        {"advance", &SessionDriver::advance},
        {"tick", &SessionDriver::tick},
        {"leave", &SessionDriver::leave},
        {"bond", &SessionDriver::bond},
        {"buffer", &SessionDriver::buffer},
        {"outbox", &SessionDriver::outbox},
        {"pending", &SessionDriver::pending},
        {"progress", &SessionDriver::progress},
        {"outcome", &SessionDriver::outcome},
        {"log", &SessionDriver::log},
        {"snapshot", &SessionDriver::snapshot},
    };
    const auto it = table.find(name);
    if (it == table.end()) {
      throw ScenarioError(fmt::format("unknown command '{}'", name));
    }
    return (this->*(it->second))(command);
  }

  [[nodiscard]] std::string context() const override {
    return harness_ ? fmt::format("at t={}", format_duration(harness_->now.time_since_epoch()))
                    : std::string{};
  }

private:
  Harness& h() { return *harness_; }

  static Duration duration_or(Command& command, std::string_view key, Duration fallback) {
    const auto value = command.get(key);
    return value ? parse_duration(*value) : fallback;
  }

  PeerId one_peer(Command& command) {
    const auto words = command.positional();
    if (words.empty()) {
      throw ScenarioError(fmt::format("{}: which peer?", command.name()));
    }
    return parse_peer(words.front());
  }

  /// The words after the peer.
  static std::vector<std::string> rest(std::vector<std::string> words) {
    if (!words.empty()) {
      words.erase(words.begin());
    }
    return words;
  }

  // ---- set-up ----------------------------------------------------------------------------

  std::string gap(Command& command) {
    if (harness_) {
      throw ScenarioError("one gap per scenario");
    }
    const auto target = parse_cursor(command.require("target", "target=tT/iN expected"));
    const auto local_text = command.get("local");
    const auto local = local_text ? parse_uint(*local_text, "local") : 0;
    const auto buffered_text = command.get("buffered");
    const auto buffered = buffered_text ? parse_range(*buffered_text) : IndexRange{};
    const auto reference_text = command.get("reference");
    auto reference = std::max(target.index.value(), buffered.empty() ? 0 : buffered.last().value());
    if (reference_text) {
      reference = std::max(reference, parse_uint(*reference_text, "reference"));
    }
    auto config = Harness::default_config();
    configure(config, command);
    harness_ = std::make_unique<Harness>(reference, config);
    h().prefill(local);
    const auto holds_text = command.get("holds");
    const auto holds = holds_text ? parse_range(*holds_text) : r(1, reference);
    if (const auto peers = command.get("peers")) {
      for (const auto id : parse_peers({*peers})) {
        h().peers[id] = Peer{holds};
      }
    }
    if (const auto leader = command.get("leader")) {
      h().leader = parse_peer(*leader);
    }
    if (const auto offered = command.get("snapshot")) {
      for (auto& [id, peer] : h().peers) {
        set_snapshot(peer, *offered);
      }
    }
    h().create(target, buffered.empty() ? std::vector<typename Harness::E>{}
                                        : h().ref_entries(buffered.first().value(), buffered.last().value()));
    const auto& outcome = h().core->outcome();
    return outcome ? "ended at once: " + describe_outcome() : std::string{"ok"};
  }

  static void configure(Config& config, Command& command) {
    if constexpr (snapshots) {
      if (const auto items = command.get("item-batch")) {
        config.item_batch = parse_uint(*items, "item-batch");
      }
      configure_replay(config.replay, command);
    } else {
      configure_replay(config, command);
    }
  }

  static void configure_replay(sync::LogReplayConfig& config, Command& command) {
    if (const auto batch = command.get("batch")) {
      config.batch_size = parse_uint(*batch, "batch");
    }
    config.fetch_timeout = duration_or(command, "fetch-timeout", config.fetch_timeout);
    if (const auto bad = command.get("max-bad")) {
      config.max_bad_responses = parse_uint(*bad, "max-bad");
    }
    if (const auto inflight = command.get("inflight")) {
      config.max_inflight_per_peer = parse_uint(*inflight, "inflight");
    }
  }

  /// `200/50`: a snapshot at index 200 (the reference's term) of 50 items.
  static void set_snapshot(Peer& peer, std::string_view text) {
    if constexpr (snapshots) {
      const auto slash = text.find('/');
      if (slash == std::string_view::npos) {
        throw ScenarioError(fmt::format("snapshot: index/items expected, such as 200/50, not '{}'", text));
      }
      peer.snapshot = snapshot_at(parse_uint(text.substr(0, slash), "snapshot index"),
                                  parse_uint(text.substr(slash + 1), "snapshot items"));
    } else {
      (void)peer;
      throw ScenarioError(fmt::format("snapshot={}: only in snapshot scenarios", text));
    }
  }

  std::string peer(Command& command) {
    const auto id = one_peer(command);
    auto& peer = h().peers[id];
    if (const auto holds = command.get("holds")) {
      peer.holds = parse_range(*holds);
    }
    if (const auto announces = command.get("announces")) {
      peer.announces = parse_range(*announces);
    }
    if (const auto offered = command.get("snapshot")) {
      set_snapshot(peer, *offered);
    }
    if constexpr (snapshots) {
      if (command.flag("no-snapshot")) {
        peer.snapshot.reset();
      }
      if (command.flag("mute")) {
        peer.answers_probes = false;
      }
    }
    if (const auto kind = command.get("lies")) {
      liars_[id] = *kind;
      install_liars();
    }
    if (command.flag("honest")) {
      liars_.erase(id);
    }
    if (command.flag("silent")) {
      peer.answers_fetches = false;
    }
    if (command.flag("answers")) {
      peer.answers_fetches = true;
      if constexpr (snapshots) {
        peer.answers_probes = true;
      }
    }
    return "ok";
  }

  std::string start(Command& command) {
    if (const auto bonded = command.get("bonded")) {
      h().start(parse_peers({*bonded}));
    } else {
      h().start();
    }
    return "ok";
  }

  // ---- the peers ---------------------------------------------------------------------------

  /// Takes the queued messages to `peer` (the first `count`).
  std::vector<Outgoing> take_pending(PeerId peer, std::size_t count = SIZE_MAX) {
    std::vector<Outgoing> taken;
    for (auto it = h().queue.begin(); it != h().queue.end() && taken.size() < count;) {
      if (it->peer == peer) {
        taken.push_back(std::move(*it));
        it = h().queue.erase(it);
      } else {
        ++it;
      }
    }
    return taken;
  }

  std::string answer(Command& command) {
    const auto id = one_peer(command);
    const auto count_text = command.get("count");
    const auto taken = take_pending(id, count_text ? parse_uint(*count_text, "count") : SIZE_MAX);
    if (taken.empty()) {
      return fmt::format("nothing pending for {}", id.value());
    }
    std::string out;
    for (const auto& outgoing : taken) {
      auto reply = h().honest_answer(id, outgoing.message);
      if (!reply) {
        out += fmt::format("{} does not answer {}\n", id.value(), describe(outgoing.message));
        continue;
      }
      out += fmt::format("{} answers {}: {}\n", id.value(), describe(outgoing.message), describe(*reply));
      h().on_answer(*reply);
      h().feed(id, std::move(*reply));
    }
    return out;
  }

  std::string announce(Command& command) {
    const auto id = one_peer(command);
    const auto words = rest(command.positional());
    if (words.size() != 1) {
      throw ScenarioError("announce: a peer and a range expected, e.g. announce 2 [1..=500]");
    }
    const auto range = parse_range(words.front());
    auto& queue = h().queue;
    const auto it = std::find_if(queue.begin(), queue.end(), [&](const Outgoing& outgoing) {
      return outgoing.peer == id && std::holds_alternative<sync::AvailabilityRequest>(outgoing.message);
    });
    if (it != queue.end()) {
      queue.erase(it);
    }
    h().feed(id, Message{sync::AvailabilityResponse{range}});
    return "ok";
  }

  std::string lie(Command& command) {
    const auto id = one_peer(command);
    const auto words = rest(command.positional());
    if (words.size() != 1) {
      throw ScenarioError("lie: a peer and a kind expected: shift, terms, short, long or empty");
    }
    const auto kind = words.front();
    std::string out;
    for (auto& outgoing : take_pending(id)) {
      const auto* fetch = std::get_if<sync::FetchEntriesRequest>(&outgoing.message);
      if (fetch == nullptr) {
        h().queue.push_back(std::move(outgoing)); // lies are about entries; the rest stays pending
        continue;
      }
      out += feed_lie(id, kind, *fetch) + "\n";
    }
    return out.empty() ? fmt::format("no fetch pending for {}", id.value()) : out;
  }

  /// Feeds `peer`'s wrong answer of `kind` to `fetch`; returns it, described.
  std::string feed_lie(PeerId peer, const std::string& kind, const sync::FetchEntriesRequest& fetch) {
    const auto range = fetch.range.take_front(batch_size());
    const auto first = range.first().value();
    const auto last = range.last().value();
    sync::FetchEntriesResponse<std::string> lie{range, h().ref_entries(first, last)};
    if (kind == "shift") {
      lie.range = r(first + range.size(), last + range.size()); // the right entries, said to be further on
    } else if (kind == "terms") {
      for (auto& entry : lie.entries) {
        entry.term = Term{0};
      }
    } else if (kind == "short") {
      lie.entries.pop_back();
    } else if (kind == "long") {
      lie.entries.push_back(lie.entries.back());
    } else if (kind == "empty") {
      lie.range = fetch.range;
      lie.entries.clear();
    } else {
      throw ScenarioError(fmt::format("lie: unknown kind '{}' (shift, terms, short, long, empty)", kind));
    }
    auto text =
        fmt::format("{} answers {}: {}", peer.value(), describe(Message{fetch}), describe(Message{lie}));
    h().feed(peer, Message{std::move(lie)});
    return text;
  }

  /// Peers that lie (`peer 3 lies=long`) answer fetches wrongly whenever the driver delivers.
  void install_liars() {
    h().intercept = [this](Harness& /*harness*/, const Outgoing& outgoing) {
      const auto it = liars_.find(outgoing.peer);
      const auto* fetch = std::get_if<sync::FetchEntriesRequest>(&outgoing.message);
      if (it == liars_.end() || fetch == nullptr) {
        return false;
      }
      feed_lie(outgoing.peer, it->second, *fetch);
      return true;
    };
  }

  std::uint64_t batch_size() const {
    if constexpr (snapshots) {
      return harness_->config.replay.batch_size;
    } else {
      return harness_->config.batch_size;
    }
  }

  std::string drop(Command& command) {
    const auto id = one_peer(command);
    const auto lost = take_pending(id);
    std::string out;
    for (const auto& outgoing : lost) {
      out += fmt::format("lost: {}\n", describe_outgoing(outgoing));
    }
    return out.empty() ? fmt::format("nothing pending for {}", id.value()) : out;
  }

  std::string stabilize(Command& /*command*/) {
    h().deliver_all();
    return "ok";
  }

  std::string release(Command& command) {
    const auto id = one_peer(command);
    auto parked = std::exchange(h().parked, {});
    for (auto& outgoing : parked) {
      if (outgoing.peer == id) {
        h().queue.push_back(std::move(outgoing));
      } else {
        h().parked.push_back(std::move(outgoing));
      }
    }
    return "ok";
  }

  std::string run_to_end(Command& command) {
    const auto within = duration_or(command, "within", std::chrono::minutes{10});
    const auto end = h().now + within;
    while (!h().core->outcome() && h().now <= end) {
      h().deliver_all();
      if (h().core->outcome()) {
        break;
      }
      const auto deadline = h().core->next_deadline();
      if (!deadline) {
        return "stalled: no deadline armed";
      }
      tick_at(*deadline);
    }
    return h().core->outcome() ? describe_outcome()
                               : fmt::format("running after {}", format_duration(within));
  }

  std::string advance(Command& command) {
    const auto words = command.positional();
    if (words.size() != 1) {
      throw ScenarioError("advance: a duration expected");
    }
    tick_at(h().now + parse_duration(words.front()));
    return fmt::format("t={}", format_duration(h().now.time_since_epoch()));
  }

  /// Moves the clock to `at` (never back) and lets the session see the time.
  void tick_at(TimePoint at) {
    h().now = std::max(h().now, at);
    h().core->on_tick(h().now);
    h().collect();
  }

  std::string tick(Command& /*command*/) {
    const auto deadline = h().core->next_deadline();
    if (!deadline) {
      return "no deadline armed";
    }
    tick_at(*deadline);
    return fmt::format("t={}", format_duration(h().now.time_since_epoch()));
  }

  std::string leave(Command& command) {
    h().bond(one_peer(command), BondEvent::Kind::terminated);
    return "ok";
  }

  std::string bond(Command& command) {
    h().bond(one_peer(command), BondEvent::Kind::bonded);
    return "ok";
  }

  std::string buffer(Command& command) {
    const auto words = command.positional();
    if (words.size() != 1) {
      throw ScenarioError("buffer: a range of reference entries expected, e.g. buffer 501..510");
    }
    const auto range = parse_range(words.front());
    const auto after = command.get("after");
    const auto position = after ? parse_cursor(*after) : h().cursor(range.first().value() - 1);
    h().buffer(position, h().ref_entries(range.first().value(), range.last().value()));
    return "ok";
  }

  // ---- printing ----------------------------------------------------------------------------------

  static std::string describe(const Message& message) {
    return std::visit(
        [](const auto& m) -> std::string {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, sync::AvailabilityRequest>) {
            return "availability?";
          } else if constexpr (std::is_same_v<T, sync::AvailabilityResponse>) {
            return fmt::format("holds {}", m.available);
          } else if constexpr (std::is_same_v<T, sync::FetchEntriesRequest>) {
            return fmt::format("entries {}?", m.range);
          } else if constexpr (std::is_same_v<T, sync::FetchEntriesResponse<std::string>>) {
            return fmt::format("entries {}: {}", m.range, describe_entries(m.range, m.entries));
          } else if constexpr (std::is_same_v<T, sync::SnapshotQuery>) {
            return "snapshot?";
          } else if constexpr (std::is_same_v<T, sync::SnapshotRequest>) {
            return fmt::format("take a snapshot after {}?", m.after);
          } else if constexpr (std::is_same_v<T, sync::SnapshotOffer>) {
            return m.snapshot
                       ? fmt::format("offers snapshot {} of {} items", m.snapshot->at, m.snapshot->items)
                       : fmt::format("offers no snapshot{}", m.replay ? " (replay)" : "");
          } else if constexpr (std::is_same_v<T, sync::FetchItemsRequest>) {
            return fmt::format("items {} of {}?", m.range, m.at);
          } else {
            return fmt::format("items {} of {}: {} items", m.range, m.at, m.items.size());
          }
        },
        message);
  }

  /// "10 entries t1..t2", or what is wrong with them as the reference sees it.
  static std::string describe_entries(IndexRange range, const std::vector<typename Harness::E>& entries) {
    if (entries.empty()) {
      return "none";
    }
    const auto first_term = entries.front().term;
    const auto last_term = entries.back().term;
    std::string out = fmt::format("{} entries t{}..t{}", entries.size(), first_term, last_term);
    if (!range.empty() && entries.size() == range.size()) {
      bool reference = true;
      for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto index = range.first().value() + i;
        reference =
            reference && entries[i].command == ref_command(index) && entries[i].term == ref_term(index);
      }
      out += reference ? "" : " (not the reference's)";
    }
    return out;
  }

  static std::string describe_outgoing(const Outgoing& outgoing) {
    return fmt::format("to {}: {}", outgoing.peer.value(), describe(outgoing.message));
  }

  std::string outbox(Command& /*command*/) {
    std::string out;
    for (; printed_ < h().sent.size(); ++printed_) {
      out += describe_outgoing(h().sent[printed_]) + "\n";
    }
    return out.empty() ? std::string{"nothing sent"} : out;
  }

  std::string pending(Command& /*command*/) {
    std::string out;
    for (const auto& outgoing : h().queue) {
      out += describe_outgoing(outgoing) + "\n";
    }
    for (const auto& outgoing : h().parked) {
      out += describe_outgoing(outgoing) + " (parked)\n";
    }
    return out.empty() ? std::string{"nothing pending"} : out;
  }

  std::string progress(Command& /*command*/) {
    const auto p = h().core->progress(h().now);
    std::string out = fmt::format("target={} done={}/{} remaining={} buffered={}\n", p.target, p.done,
                                  p.total, p.remaining, p.buffered);
    if (p.snapshot) {
      out += fmt::format("snapshot {}: {}/{} items{}\n", p.snapshot->at, p.snapshot->received,
                         p.snapshot->items, p.snapshot->installed ? ", installed" : "");
    }
    for (const auto& [peer, record] : p.peers) {
      out += fmt::format("peer {}: entries={}{} requests={} bad={} timeouts={}{}\n", peer.value(),
                         record.entries, snapshots ? fmt::format(" items={}", record.items) : std::string{},
                         record.requests, record.bad_responses, record.timeouts,
                         record.excluded ? " excluded" : "");
    }
    const auto& c = p.counters;
    out += fmt::format("counters: bad={} empty={} late={} duplicate={} timeouts={} excluded={} "
                       "target-disagreements={}\n",
                       c.bad_responses, c.empty_responses, c.late_responses, c.duplicate_responses,
                       c.timeouts, c.excluded_peers, c.target_disagreements);
    return out;
  }

  std::string describe_outcome() {
    const auto& outcome = h().core->outcome();
    if (!outcome) {
      return "running";
    }
    return fmt::format("{} last={}{}", sync::to_string(outcome->status), outcome->last,
                       outcome->reason.empty() ? std::string{} : fmt::format(" ({})", outcome->reason));
  }

  std::string outcome(Command& /*command*/) { return describe_outcome(); }

  std::string log(Command& /*command*/) {
    const auto& local = h().local;
    const auto available = local.available();
    std::string out = fmt::format("last={} entries={}", local.last(), available);
    for (auto index = available.first(); !available.empty() && index <= available.last();
         index = index.next()) {
      const auto* entry = local.get(index);
      if (entry == nullptr || entry->command != ref_command(index.value()) ||
          entry->term != ref_term(index.value())) {
        return out + fmt::format(", differs from the reference at {}", index);
      }
    }
    return out + ", as the reference";
  }

  std::string snapshot(Command& /*command*/) {
    if constexpr (snapshots) {
      const auto& calls = h().sink.calls;
      if (calls.empty()) {
        return "nothing installed";
      }
      std::string out;
      for (const auto& call : calls) {
        out += fmt::format("installed {} with {} items{}\n", call.info.at, call.items.size(),
                           call.items == all_items_of(call.info) ? ", as offered" : ", not as offered");
      }
      return out;
    } else {
      throw ScenarioError("snapshot: only in snapshot scenarios");
    }
  }

  std::unique_ptr<Harness> harness_;
  std::map<PeerId, std::string> liars_; // peer -> the kind of lie it tells
  std::size_t printed_ = 0;             // sent messages printed by `outbox`
};

using LogReplayDriver = SessionDriver<LogReplayHarness>;
using SnapshotDriver = SessionDriver<SnapshotHarness>;

} // namespace mosaik::test::scenario
