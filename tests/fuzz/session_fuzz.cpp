// libFuzzer target: the catch-up session's receive path. A real
// LogReplayCore fills an empty log up to a 60-entry reference history from
// three peers (the third leads). The input is a script of arbitrary events:
// responses of any shape from any peer (ranges, entry counts, terms,
// commands), availability claims, bonds breaking and forming, time passing.
// Then the peers turn honest. Checked all along: nothing crashes, and the log
// keeps a log's rules (see check_log). At the end the session finishes:
// completed up to the target with the target's term, or failed cleanly
// (e.g. every peer excluded).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <mosaik/core/log.hpp>
#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/log_replay/log_replay_core.hpp>

namespace {
using namespace mosaik;
using Core = sync::LogReplayCore<std::string>;
using Message = Core::Message;
using EntryT = Entry<std::string>;

constexpr std::uint64_t history = 60;

Term reference_term(std::uint64_t index) {
  return Term{1 + index / 25};
}
EntryT reference_entry(std::uint64_t index) {
  return EntryT{reference_term(index), "c" + std::to_string(index)};
}

struct Input {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  bool more() const { return at < size; }
  std::uint64_t byte() { return at < size ? data[at++] : 0; }
};

/// What a session guarantees whatever its peers answer: the log it builds
/// never breaks the rules a log keeps (no sentinel term, terms never going
/// back, none beyond the leader's at the target). A provider that lies with
/// plausible terms and commands is not detected: entries carry no digest
/// (README, "Fault-injection campaign").
void check_log(const storage::InMemoryLog<std::string>& log) {
  Term previous{1};
  const auto last = log.last().index.value();
  for (std::uint64_t i = 1; i <= last; ++i) {
    const auto term = log.term_at(Index{i});
    if (!term || term->value() == 0 || *term < previous || *term > reference_term(history)) {
      std::abort();
    }
    previous = *term;
  }
}
} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log::set_level(log::Level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in{data, size};
  sync::LogReplayConfig config;
  config.batch_size = 8;
  config.max_inflight_per_peer = 2;
  config.fetch_timeout = std::chrono::seconds{2};
  config.min_fetch_timeout = std::chrono::milliseconds{50};
  storage::InMemoryLog<std::string> log;
  const PeerId peers[] = {PeerId{1}, PeerId{2}, PeerId{3}};
  TimePoint now{};
  Core core{config, log, Cursor{reference_term(history), Index{history}}, Index{history}, peers[2], {}, now};
  core.start({peers[0], peers[1], peers[2]}, now);
  std::vector<Core::Outgoing> pending;
  const auto collect = [&] {
    for (auto& outgoing : core.take_outbox()) {
      pending.push_back(std::move(outgoing));
    }
  };
  collect();

  // The hostile script.
  while (in.more() && !core.outcome()) {
    const auto op = in.byte() % 6;
    const auto peer = peers[in.byte() % 3];
    if (op == 0 || op == 1) {
      const auto first = in.byte() % (history + 8);
      const auto count = in.byte() % 12;
      sync::FetchEntriesResponse<std::string> response;
      response.range = IndexRange::starting_at(Index{first}, op == 0 ? count : in.byte() % 12);
      for (std::uint64_t k = 0; k < count; ++k) {
        const auto index = first + k;
        const auto mutation = in.byte();
        auto entry = reference_entry(index);
        if (mutation % 7 == 0) {
          entry.term = Term{in.byte() % 5};
        }
        if (mutation % 5 == 0) {
          entry.command = "forged";
        }
        response.entries.push_back(std::move(entry));
      }
      core.on_message(peer, Message{std::move(response)}, now);
    } else if (op == 2) {
      const auto first = in.byte() % (history + 8);
      core.on_message(
          peer, Message{sync::AvailabilityResponse{IndexRange::starting_at(Index{first}, in.byte() % 70)}},
          now);
    } else if (op == 3) {
      now += std::chrono::milliseconds{in.byte() * 20};
      core.on_tick(now);
    } else if (op == 4) {
      BondEvent event;
      event.peer = peer;
      event.kind = in.byte() % 2 == 0 ? BondEvent::Kind::bonded : BondEvent::Kind::terminated;
      core.on_bond(event, now);
    } else {
      // An honest answer to one pending request.
      if (!pending.empty()) {
        auto outgoing = std::move(pending.front());
        pending.erase(pending.begin());
        if (const auto* fetch = std::get_if<sync::FetchEntriesRequest>(&outgoing.message)) {
          sync::FetchEntriesResponse<std::string> response{fetch->range.take_front(config.batch_size), {}};
          for (auto i = response.range.first(); !response.range.empty() && i <= response.range.last();
               i = i.next()) {
            response.entries.push_back(reference_entry(i.value()));
          }
          core.on_message(outgoing.peer, Message{std::move(response)}, now);
        }
      }
    }
    collect();
    check_log(log);
  }

  // Everyone honest from now on: the session must finish.
  for (const auto peer : peers) {
    BondEvent event;
    event.peer = peer;
    event.kind = BondEvent::Kind::bonded;
    core.on_bond(event, now);
  }
  collect();
  for (int round = 0; round < 20000 && !core.outcome(); ++round) {
    if (pending.empty()) {
      const auto deadline = core.next_deadline();
      if (!deadline) {
        std::abort(); // a running session must always have a deadline
      }
      now = std::max(now, *deadline);
      core.on_tick(now);
      collect();
      continue;
    }
    auto outgoing = std::move(pending.front());
    pending.erase(pending.begin());
    if (std::holds_alternative<sync::AvailabilityRequest>(outgoing.message)) {
      core.on_message(outgoing.peer,
                      Message{sync::AvailabilityResponse{IndexRange{Index{1}, Index{history}}}}, now);
    } else if (const auto* fetch = std::get_if<sync::FetchEntriesRequest>(&outgoing.message)) {
      sync::FetchEntriesResponse<std::string> response{fetch->range.take_front(config.batch_size), {}};
      for (auto i = response.range.first(); !response.range.empty() && i <= response.range.last();
           i = i.next()) {
        response.entries.push_back(reference_entry(i.value()));
      }
      core.on_message(outgoing.peer, Message{std::move(response)}, now);
    }
    collect();
    check_log(log);
  }
  if (!core.outcome()) {
    std::abort(); // honest peers answered everything, yet the session did not end
  }
  if (core.outcome()->ok() &&
      (log.last().index.value() < history || log.term_at(Index{history}) != reference_term(history))) {
    std::abort();
  }
  return 0;
}
