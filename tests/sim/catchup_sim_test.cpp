// Catch-up sessions on the simulated network: the real session and provider,
// virtual time, faults on purpose. Every test names its seed on failure.

#include <catch2/catch.hpp>

#include <set>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>

#include "catchup_world.hpp"

using namespace mosaik;
using namespace std::chrono_literals;
using test::CatchUpWorld;

namespace {

sim::LinkConfig link(Duration latency, double bytes_per_second = 0) {
  sim::LinkConfig config;
  config.latency = latency;
  config.bandwidth_bytes_per_second = bytes_per_second;
  return config;
}

} // namespace

TEST_CASE("one leader, one follower: 200 entries with several batch sizes", "[sim][catchup]") {
  for (const std::uint64_t batch : {7, 20, 100, 1000}) {
    const std::uint64_t seed = 1000 + batch;
    INFO("seed " << seed << ", batch " << batch);
    sync::LogReplayConfig config;
    config.batch_size = batch;
    CatchUpWorld world{seed, 1, 200, config, link(5ms)};
    world.start();
    world.require_caught_up();
    const auto progress = world.lagging().session()->progress();
    // A gap this short is shared out over the starting window of four
    // requests (50 entries each), or cut into batches when they are smaller.
    const auto per_request = std::min<std::uint64_t>(batch, 50);
    CHECK(progress.peers.at(world.leader).requests == (200 + per_request - 1) / per_request);
    CHECK(progress.counters.bad_responses == 0);
  }
}

TEST_CASE("four providers share 100,000 entries, the leader the least", "[sim][catchup]") {
  const std::uint64_t seed = 42;
  INFO("seed " << seed);
  sync::LogReplayConfig config;
  config.batch_size = 1000;
  config.max_inflight_per_peer = 2;
  CatchUpWorld world{seed, 4, 100'000, config, link(10ms, 10e6)};
  world.start();
  world.require_caught_up();
  std::uint64_t total = 0;
  for (std::uint64_t p = 1; p <= 4; ++p) {
    const auto served = world.served_by(PeerId{p});
    INFO("peer " << p << " served " << served);
    CHECK(served > 0);
    total += served;
  }
  CHECK(total == 100'000);
  for (std::uint64_t p = 2; p <= 4; ++p) {
    CHECK(world.served_by(world.leader) <= world.served_by(PeerId{p}));
  }
  // Out-of-order chunks never exceed peers x in-flight x batch.
  CHECK(world.lagging().session()->progress().counters.max_entries_held <= 4 * 2 * 1000);
}

TEST_CASE("a much slower provider gets a smaller share and does not stall the session", "[sim][catchup]") {
  const std::uint64_t seed = 7;
  INFO("seed " << seed);
  sync::LogReplayConfig config;
  config.batch_size = 500;
  config.max_inflight_per_peer = 2;
  CatchUpWorld world{seed, 4, 20'000, config, link(5ms, 5e6)};
  // Peer 3 sends at a hundredth of the others' rate.
  world.network.set_link(PeerId{3}, world.follower, link(5ms, 5e4));
  world.start();
  world.require_caught_up();
  CHECK(world.served_by(PeerId{3}) < world.served_by(PeerId{2}));
  CHECK(world.served_by(PeerId{3}) < world.served_by(PeerId{4}));
}

TEST_CASE("a provider crashing mid-session: its ranges go to the others", "[sim][catchup]") {
  const std::uint64_t seed = 11;
  INFO("seed " << seed);
  sync::LogReplayConfig config;
  config.batch_size = 200;
  config.max_inflight_per_peer = 2;
  CatchUpWorld world{seed, 3, 10'000, config, link(5ms, 1e5)};
  world.start();
  world.simulator.run_until(world.simulator.now() + 300ms);
  REQUIRE_FALSE(world.lagging().outcome().has_value());
  const auto before = world.served_by(PeerId{2});
  world.network.crash(PeerId{2});
  world.require_caught_up();
  CHECK(world.served_by(PeerId{2}) == before);
  CHECK(world.served_by(PeerId{3}) > 0);
  // The crash was seen as a terminated bond, not waited out as timeouts.
  CHECK(world.lagging().session()->progress().counters.timeouts == 0);
}

TEST_CASE("a provider that stops answering is timed out (or hedged) and its ranges rescheduled",
          "[sim][catchup]") {
  const std::uint64_t seed = 12;
  const bool hedge = GENERATE(false, true);
  INFO("seed " << seed << ", hedging " << hedge);
  sync::LogReplayConfig config;
  config.batch_size = 100;
  config.fetch_timeout = 2s;
  config.hedge_slow_requests = hedge;
  CatchUpWorld world{seed, 3, 3'000, config, link(5ms)};
  // Peer 2 answers availability but silently drops fetches: bonded, yet dead for fetching.
  world.cluster.node(PeerId{2}).set_send_filter(
      [](PeerId, CatchUpWorld::Cluster::Message message) -> std::optional<CatchUpWorld::Cluster::Message> {
        if (std::holds_alternative<sync::FetchEntriesResponse<std::string>>(message)) {
          return std::nullopt;
        }
        return message;
      });
  const auto start = world.simulator.now();
  world.start();
  world.require_caught_up();
  const auto progress = world.lagging().session()->progress();
  CHECK(progress.peers.at(PeerId{2}).entries == 0);
  if (hedge) {
    // Idle peers took its overdue requests over: nobody waited for its timeout.
    CHECK(progress.counters.hedged_requests >= 1);
    CHECK(world.simulator.now() - start < config.fetch_timeout);
  } else {
    CHECK(progress.counters.timeouts >= 1);
  }
}

TEST_CASE("only the leader holds the entries", "[sim][catchup]") {
  const std::uint64_t seed = 13;
  INFO("seed " << seed);
  sync::LogReplayConfig config;
  config.batch_size = 250;
  CatchUpWorld world{seed, 3, 5'000, config, link(5ms)};
  // The other providers have pruned or lost everything.
  world.cluster.node(PeerId{2}).local_log().reset_to(Cursor{});
  world.cluster.node(PeerId{2}).set_commit_index(Index{0});
  world.cluster.node(PeerId{3}).local_log().reset_to(Cursor{});
  world.cluster.node(PeerId{3}).set_commit_index(Index{0});
  world.start();
  world.require_caught_up();
  CHECK(world.served_by(world.leader) == 5'000);
}

TEST_CASE("a provider answering garbage is excluded and the log stays correct", "[sim][catchup]") {
  const std::uint64_t seed = 14;
  INFO("seed " << seed);
  sync::LogReplayConfig config;
  config.batch_size = 100;
  config.max_inflight_per_peer = 2;
  CatchUpWorld world{seed, 3, 4'000, config, link(5ms)};
  auto& random = world.simulator.random();
  world.cluster.node(PeerId{2}).set_send_filter(
      [&random](PeerId,
                CatchUpWorld::Cluster::Message message) -> std::optional<CatchUpWorld::Cluster::Message> {
        auto* response = std::get_if<sync::FetchEntriesResponse<std::string>>(&message);
        if (response == nullptr) {
          return message;
        }
        switch (random.uniform(4)) {
        case 0: // shifted range
          response->range = IndexRange{response->range.first() + 1, response->range.last() + 1};
          break;
        case 1: // one entry short
          if (!response->entries.empty())
            response->entries.pop_back();
          break;
        case 2: // terms from nowhere
          for (auto& entry : response->entries)
            entry.term = Term{random.uniform(1000)};
          break;
        default: // the reference's empty answer
          *response = sync::FetchEntriesResponse<std::string>{IndexRange{Index{0}, Index{0}}, {}};
          break;
        }
        return message;
      });
  world.start();
  world.require_caught_up();
  const auto progress = world.lagging().session()->progress();
  CHECK(progress.peers.at(PeerId{2}).excluded);
  CHECK(progress.peers.at(PeerId{2}).entries == 0);
  CHECK(progress.counters.bad_responses >= config.max_bad_responses);
}

TEST_CASE("leader entries buffered during catch-up are appended in order at the end", "[sim][catchup]") {
  const std::uint64_t seed = 15;
  INFO("seed " << seed);
  CatchUpWorld world{seed, 2, 1'000, sync::LogReplayConfig{}, link(5ms)};
  const auto term = world.target().term;
  std::vector<Entry<std::string>> extra;
  for (int i = 0; i < 30; ++i) {
    extra.push_back(Entry<std::string>{term, "new-" + std::to_string(i)});
  }
  world.start({extra.begin(), extra.begin() + 10});
  world.simulator.run_until(world.simulator.now() + 1ms);
  world.lagging().session()->buffer(Cursor{term, world.target().index + 10},
                                    {extra.begin() + 10, extra.end()});
  world.require_caught_up(extra);
}

TEST_CASE("entries above the providers' commit index arrive once it advances", "[sim][catchup]") {
  const std::uint64_t seed = 16;
  INFO("seed " << seed);
  CatchUpWorld world{seed, 2, 1'000, sync::LogReplayConfig{}, link(5ms)};
  for (std::uint64_t p = 1; p <= 2; ++p) {
    world.cluster.node(PeerId{p}).set_commit_index(Index{600});
  }
  world.start();
  world.simulator.run_until(world.simulator.now() + 3s);
  REQUIRE_FALSE(world.lagging().outcome().has_value());
  CHECK(world.lagging().local_log().last().index == Index{600});
  // The session keeps a retry timer armed while it waits.
  CHECK(world.lagging().session()->core().next_deadline().has_value());
  for (std::uint64_t p = 1; p <= 2; ++p) {
    world.cluster.node(PeerId{p}).set_commit_index(Index{1'000});
  }
  REQUIRE(world.run(30s));
  REQUIRE(world.lagging().outcome()->ok());
  CHECK(world.log_matches());
}

TEST_CASE("the leader serves its uncommitted tail: no stall waiting for a commit that needs this follower",
          "[sim][catchup][leader_tail]") {
  // Four peers, commit 600 everywhere: the leader holds 1..=1000, two
  // followers hold 1..=600, the lagging follower nothing. The leader needs
  // this follower's acknowledgement to commit more, so only the leader can
  // serve 601..=1000, which it does (the group runtime's serve_limit()).
  const std::uint64_t seed = 22;
  INFO("seed " << seed);
  sync::LogReplayConfig config;
  config.batch_size = 50;
  CatchUpWorld world{seed, 3, 1'000, config, link(5ms)};
  for (std::uint64_t p = 1; p <= 3; ++p) {
    world.cluster.node(PeerId{p}).set_commit_index(Index{600});
  }
  for (std::uint64_t p = 2; p <= 3; ++p) {
    world.cluster.node(PeerId{p}).local_log().truncate(Index{601});
  }
  world.cluster.node(world.leader).set_serve_limit(Index{1'000});
  const auto start = world.simulator.now();
  world.lagging().start_session(world.target(), Index{600});
  REQUIRE(world.run(30s));
  REQUIRE(world.lagging().outcome()->ok());
  CHECK(world.log_matches());
  // Without waiting on availability retries: a few round trips per batch.
  CHECK(world.simulator.now() - start < 3s);

  const auto progress = world.lagging().session()->progress();
  CHECK(progress.counters.empty_responses == 0);
  CHECK(progress.counters.bad_responses == 0);
  const auto from_leader = world.served_by(world.leader);
  const auto from_followers = world.served_by(PeerId{2}) + world.served_by(PeerId{3});
  CHECK(from_leader + from_followers == 1'000);
  CHECK(from_leader >= 400); // 601..=1000 exist only on the leader
  // 1..=600 mostly from the followers (the leader is scheduled last).
  CHECK(from_followers > 300);
  CHECK(world.served_by(PeerId{2}) > 0);
  CHECK(world.served_by(PeerId{3}) > 0);
  // The providers still announce only what they committed.
  CHECK(world.cluster.node(world.leader).provider().availability() == IndexRange{Index{1}, Index{600}});
}

TEST_CASE("the same seed gives the same trace, another seed with loss does not",
          "[sim][catchup][determinism]") {
  auto run = [](std::uint64_t seed) {
    sync::LogReplayConfig config;
    config.batch_size = 50;
    config.max_inflight_per_peer = 2;
    config.fetch_timeout = 1s;
    sim::LinkConfig lossy = link(5ms, 2e6);
    lossy.loss = 0.05;
    lossy.jitter = 2ms;
    CatchUpWorld world{seed, 4, 3'000, config, lossy};
    world.start();
    REQUIRE(world.run());
    CHECK(world.log_matches());
    return world.simulator.trace_hash();
  };
  const auto first = run(99);
  INFO("seed 99");
  CHECK(run(99) == first);
  CHECK(run(100) != first);
}

TEST_CASE("a provider that dies silently is given up on after its learned timeout, not the maximum",
          "[sim][catchup][timeout]") {
  const std::uint64_t seed = 17;
  INFO("seed " << seed);
  sync::LogReplayConfig config;
  config.batch_size = 100;
  config.fetch_timeout = 25s; // the worst case, waited only for a peer that never answered
  config.hedge_slow_requests =
      false; // its timeout is the subject (hedging would take its requests over first)
  CatchUpWorld world{seed, 3, 6'000, config, link(5ms, 2e5)};
  // Peer 2 serves for 40 ms (the catch-up takes about 130), then stays bonded
  // but never answers a fetch again.
  auto& simulator = world.simulator;
  world.cluster.node(PeerId{2}).set_send_filter(
      [&simulator](PeerId,
                   CatchUpWorld::Cluster::Message message) -> std::optional<CatchUpWorld::Cluster::Message> {
        if (std::holds_alternative<sync::FetchEntriesResponse<std::string>>(message) &&
            simulator.now() >= TimePoint{40ms}) {
          return std::nullopt;
        }
        return message;
      });
  const auto start = simulator.now();
  world.start();
  world.require_caught_up();
  const auto progress = world.lagging().session()->progress();
  CHECK(progress.counters.timeouts >= 1);
  CHECK(progress.peers.at(PeerId{2}).entries > 0);
  // Its learned timeout is seconds at most; a fixed 25 s timeout would have held the gap's head that long.
  CHECK(simulator.now() - start < 10s);
}

TEST_CASE("a slow but live provider earns a long timeout and is never timed out", "[sim][catchup][timeout]") {
  const std::uint64_t seed = 18;
  INFO("seed " << seed);
  sync::LogReplayConfig config;
  config.batch_size = 100;
  config.max_inflight_per_peer = 2;
  config.fetch_timeout = 60s;
  config.hedge_slow_requests = false; // hedging would take its requests over: its timeout is the subject here
  CatchUpWorld world{seed, 3, 6'000, config, link(5ms, 2e4)};
  // Peer 3 answers a 100-entry batch in about 3 s; the others in about 0.1 s.
  world.network.set_link(PeerId{3}, world.follower, link(5ms, 700));
  world.start();
  world.require_caught_up();
  const auto progress = world.lagging().session()->progress();
  CHECK(progress.counters.timeouts == 0);
  CHECK(progress.peers.at(PeerId{3}).entries > 0);
  CHECK(progress.peers.at(PeerId{3}).fetch_timeout > progress.peers.at(PeerId{2}).fetch_timeout);
}

TEST_CASE("network duplicates never count against honest peers", "[sim][catchup]") {
  const std::uint64_t seed = 19;
  INFO("seed " << seed);
  sync::LogReplayConfig config;
  config.batch_size = 50;
  config.max_inflight_per_peer = 2;
  sim::LinkConfig duplicating = link(5ms, 1e6);
  duplicating.duplicate = 0.5;
  CatchUpWorld world{seed, 3, 3'000, config, duplicating};
  world.start();
  world.require_caught_up();
  const auto progress = world.lagging().session()->progress();
  CHECK(progress.counters.duplicate_responses > 0);
  CHECK(progress.counters.bad_responses == 0);
  CHECK(progress.counters.excluded_peers == 0);
}

TEST_CASE("when every peer is excluded the session ends with a clear failure", "[sim][catchup]") {
  const std::uint64_t seed = 20;
  INFO("seed " << seed);
  sync::LogReplayConfig config;
  config.batch_size = 100;
  CatchUpWorld world{seed, 1, 1'000, config, link(5ms)};
  world.cluster.node(world.leader)
      .set_send_filter(
          [](PeerId,
             CatchUpWorld::Cluster::Message message) -> std::optional<CatchUpWorld::Cluster::Message> {
            if (auto* response = std::get_if<sync::FetchEntriesResponse<std::string>>(&message)) {
              response->entries.pop_back(); // always one entry short
            }
            return message;
          });
  world.start();
  REQUIRE(world.run());
  CHECK(world.lagging().outcome()->status == sync::SyncStatus::failed);
  CHECK(world.lagging().local_log().last().index == Index{0}); // nothing wrong was appended
}

TEST_CASE("cancelling the run() operation yields a cancelled outcome, never an exception",
          "[sim][catchup][cancel]") {
  const std::uint64_t seed = 21;
  INFO("seed " << seed);
  CatchUpWorld world{seed, 2, 1'000, sync::LogReplayConfig{}, link(5ms)};
  auto& node = world.lagging();
  auto session = world.cluster.strategy().create_session(node, world.target(), world.target().index, {});
  asio::cancellation_signal signal;
  std::optional<sync::SyncOutcome> outcome;
  std::exception_ptr failure;
  asio::co_spawn(
      world.simulator.executor(), session->run(),
      asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr error, sync::SyncOutcome result) {
        failure = error;
        outcome = std::move(result);
      }));
  world.simulator.run_until(world.simulator.now() + 20ms);
  REQUIRE_FALSE(outcome.has_value());
  // A notification first (its resume is posted), then the cancellation: the race that once threw.
  session->buffer(world.target(), {});
  signal.emit(asio::cancellation_type::all);
  world.simulator.run();
  REQUIRE(outcome.has_value());
  CHECK_FALSE(failure);
  CHECK(outcome->status == sync::SyncStatus::cancelled);
}

TEST_CASE("a provider 30 times slower than the others does not hold the last ranges hostage",
          "[sim][catchup][hedge]") {
  // Issue 13 part 4: within 1.1x of the time the three fast providers take alone.
  const std::uint64_t seed = 23;
  INFO("seed " << seed);
  const auto fast = link(10ms, 5e5);
  auto slow = fast;
  slow.bandwidth_bytes_per_second = fast.bandwidth_bytes_per_second / 30;
  auto catch_up = [&](std::uint64_t providers, bool with_slow, bool hedge) {
    sync::LogReplayConfig config;
    config.hedge_slow_requests = hedge;
    CatchUpWorld world{seed, providers, 100'000, config, fast};
    if (with_slow) {
      world.network.set_link(PeerId{2}, world.follower, slow);
    }
    const auto start = world.simulator.now();
    world.start();
    world.require_caught_up();
    const auto progress = world.lagging().session()->progress();
    CHECK(progress.counters.bad_responses == 0);
    return std::pair{world.simulator.now() - start, progress.counters.hedged_requests};
  };
  const auto [three_fast, no_hedges] = catch_up(3, false, true);
  const auto [with_slow, hedges] = catch_up(4, true, true);
  const auto [unhedged, none] = catch_up(4, true, false);
  const auto ms = [](Duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  INFO("three fast alone " << ms(three_fast) << " ms; with a slow fourth " << ms(with_slow) << " ms ("
                           << hedges << " hedges); without hedging " << ms(unhedged) << " ms");
  CHECK(no_hedges == 0); // peers of one speed never hedge each other here
  CHECK(hedges > 0);
  CHECK(ms(with_slow) <= 1.1 * ms(three_fast));
  CHECK(ms(unhedged) > 1.1 * ms(three_fast)); // what hedging buys
  CHECK(none == 0);
}
