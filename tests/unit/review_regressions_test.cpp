// Regressions found in review: each case failed before its fix.

#include <catch2/catch.hpp>

#include "reference_history.hpp"

#include <deque>

#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/log_replay/log_replay_core.hpp>

using namespace mosaik;
using namespace mosaik::sync;
using namespace mosaik::test;
using FetchScheduler = mosaik::fetch::FetchScheduler<Index>;
using namespace std::chrono_literals;

TEST_CASE("FetchScheduler: a huge batch_size cannot wrap index arithmetic", "[scheduler][regression]") {
  FetchScheduler scheduler({~std::uint64_t{0}, ~std::uint32_t{0}, 25s}, r(51, 1'000'000), std::nullopt);
  scheduler.set_availability(P1, r(1, 1'000'000));
  scheduler.set_availability(P2, r(1, 1'000'000));
  const auto fetches = scheduler.plan(TimePoint{});
  REQUIRE_FALSE(fetches.empty());
  for (const auto& fetch : fetches) {
    CAPTURE(fmt::format("{}", fetch.range));
    CHECK_FALSE(fetch.range.empty());
    CHECK(r(51, 1'000'000).contains(fetch.range));
  }
}

TEST_CASE("LogReplayCore: fetches to one peer expiring together ask it for availability once",
          "[session_core][regression]") {
  LogReplayConfig config;
  config.batch_size = 10;
  config.max_inflight_per_peer = 4;
  config.fetch_timeout = 5s;
  config.speculative_start = false; // the fetches below follow the announcement
  storage::InMemoryLog<std::string> log;
  LogReplayCore<std::string> core(config, log, ref_cursor(100), Index{100}, std::nullopt, {}, TimePoint{});
  core.start({P1}, TimePoint{});
  (void)core.take_outbox();
  core.on_message(P1, AvailabilityResponse{r(1, 100)}, TimePoint{});
  auto outbox = core.take_outbox();
  const auto fetches = std::count_if(outbox.begin(), outbox.end(), [](const auto& outgoing) {
    return std::holds_alternative<FetchEntriesRequest>(outgoing.message);
  });
  REQUIRE(fetches == 4);
  core.on_tick(TimePoint{} + 5s); // all four expire at once
  outbox = core.take_outbox();
  const auto asks = std::count_if(outbox.begin(), outbox.end(), [](const auto& outgoing) {
    return outgoing.peer == P1 && std::holds_alternative<AvailabilityRequest>(outgoing.message);
  });
  CHECK(asks == 1);
  CHECK(core.counters().timeouts == 4);
}

TEST_CASE("LogReplayCore: a peer contradicting the target is not re-asked at once",
          "[session_core][regression]") {
  LogReplayConfig config;
  config.batch_size = 100;
  config.speculative_start = false; // the fetches below follow the announcements
  storage::InMemoryLog<std::string> log;
  LogReplayCore<std::string> core(config, log, ref_cursor(100), Index{100}, std::nullopt, {}, TimePoint{});
  core.start({P1, P2}, TimePoint{});
  (void)core.take_outbox();
  core.on_message(P1, AvailabilityResponse{r(1, 100)}, TimePoint{});
  core.on_message(P2, AvailabilityResponse{r(1, 40)}, TimePoint{});
  // P2 answers honestly; P1 too, except where its answer reaches the target:
  // another history after 80 (the target says term 3 at 100).
  auto answer_for = [](IndexRange range, bool other_history) {
    FetchEntriesResponse<std::string> answer{range, {}};
    for (auto i = range.first(); i <= range.last(); i = i.next()) {
      const bool forked = other_history && i.value() > 80;
      answer.entries.push_back(
          Entry<std::string>{forked ? Term{2} : ref_term(i.value()), ref_command(i.value())});
    }
    return answer;
  };
  std::deque<LogReplayCore<std::string>::Outgoing> queue;
  auto send = [&] {
    auto outbox = core.take_outbox();
    queue.insert(queue.end(), outbox.begin(), outbox.end());
  };
  send();
  auto now = TimePoint{};
  while (!queue.empty()) {
    const auto outgoing = queue.front();
    queue.pop_front();
    const auto* fetch = std::get_if<FetchEntriesRequest>(&outgoing.message);
    REQUIRE(fetch != nullptr);
    const bool lie = outgoing.peer == P1 && fetch->range.contains(Index{100});
    now += 1ms;
    core.on_message(outgoing.peer, answer_for(fetch->range, lie), now);
    if (lie) {
      break;
    }
    send();
  }
  CHECK(core.counters().target_disagreements == 1);
  CHECK_FALSE(core.outcome().has_value()); // one of two peers: no majority
  const auto outbox = core.take_outbox();
  CHECK(std::none_of(outbox.begin(), outbox.end(), [](const auto& outgoing) {
    return outgoing.peer == P1 && std::holds_alternative<FetchEntriesRequest>(outgoing.message);
  }));
  CHECK(core.next_deadline().has_value());
}
