// mosaik-catchup-sim: the flagship simulation. A follower with an empty log
// catches up from N providers (one of them the leader) over simulated links
// with latency, bandwidth and loss, using the real LogReplaySession and
// provider on virtual time. Prints a table (or one JSON object with --json)
// comparing the simulated catch-up time with the ideal one:
//   ideal = payload bytes / sum of provider link bandwidths + one round trip,
// where payload bytes are the commands' bytes alone (the framing the wire adds
// to each entry, 3 bytes for these string commands, counts against the
// simulation, not the ideal). Links are charged each message's exact frame.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include <mosaik/core/format.hpp>
#include <mosaik/core/hash.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/sync/log_replay/log_replay_config.hpp>
#include <mosaik/testing/sync_cluster.hpp>

#include "example_support.hpp"

namespace {

namespace examples = mosaik::examples;
namespace support = mosaik::support;

struct BlobMachine {
  using Command = std::string;
  void apply(const Command&) {}
  [[nodiscard]] std::string signature() const { return "blob/1"; }
};

struct Options : examples::SimOptions {
  Options()
      : SimOptions(/*inflight*/ mosaik::sync::LogReplayConfig{}.max_inflight_per_peer, /*latency_ms*/ 20) {}

  std::uint64_t providers = 4;
  std::uint64_t entries = 100'000;
  std::uint64_t entry_bytes = 100;
  std::uint64_t batch = mosaik::sync::LogReplayConfig{}.batch_size;
  double loss = 0;
  bool no_hedge = false;
  double request_ms =
      std::chrono::duration<double, std::milli>(mosaik::sync::LogReplayConfig{}.request_time).count();
  std::uint64_t slow_peer = 0; // 0: every provider's link is alike
  double slow_factor = 30;
  double timeout_ms = 25'000;
  bool leader_only = false;
};

/// Parses the command line into `options`; nullopt to go on, or the exit status.
std::optional<int> parse(int argc, char** argv, Options& options) {
  CLI::App app{"mosaik catch-up simulation: a follower catches up from N providers", "mosaik-catchup-sim"};
  app.add_option("--providers", options.providers, "providers holding the log (peer 1 leads)")
      ->capture_default_str();
  app.add_option("--entries", options.entries, "entries to catch up")->capture_default_str();
  app.add_option("--entry-bytes", options.entry_bytes, "bytes per entry")->capture_default_str();
  app.add_option("--batch", options.batch, "entries per catch-up request")->capture_default_str();
  app.add_option("--loss", options.loss, "packet loss, 0 <= P < 1")->capture_default_str();
  app.add_option("--timeout-ms", options.timeout_ms, "catch-up request timeout")->capture_default_str();
  app.add_flag("--leader-only", options.leader_only, "fetch from the leader alone (the baseline)");
  app.add_flag("--no-hedge", options.no_hedge, "never ask a second peer for a slow request");
  app.add_option("--request-ms", options.request_ms,
                 "a request asks a peer for what its link delivers in this long (0: the batch alone)")
      ->capture_default_str();
  app.add_option("--slow-peer", options.slow_peer,
                 "this provider's link to the follower is --slow-factor times slower")
      ->capture_default_str();
  app.add_option("--slow-factor", options.slow_factor, "how much slower the --slow-peer's link is")
      ->capture_default_str();
  examples::add_sim_options(app, options);
  if (const auto status = support::parse(app, argc, argv)) {
    return status;
  }
  if (options.providers == 0 || options.entries == 0 || options.batch == 0 || options.inflight == 0 ||
      options.bandwidth_mbps < 0 || options.loss < 0 || options.loss >= 1 ||
      options.slow_peer > options.providers || options.slow_factor < 1) {
    return support::usage_error(app,
                                "providers, entries, batch and inflight must be positive; 0 <= loss < 1; "
                                "--slow-peer names a provider; --slow-factor >= 1");
  }
  return std::nullopt;
}

/// The command at `index`: `entry_bytes` bytes that depend on the index, so a
/// misplaced entry is caught by the final comparison.
std::string make_command(std::uint64_t index, std::uint64_t entry_bytes) {
  std::string command(entry_bytes, '\0');
  auto x = index * mosaik::kGoldenGamma;
  for (auto& byte : command) {
    x ^= x >> 29;
    x *= mosaik::kSplitmix64Multiplier;
    byte = static_cast<char>('a' + (x >> 59));
  }
  return command;
}

} // namespace

int main(int argc, char** argv) {
  using namespace mosaik;
  using examples::millis;
  Options options;
  if (const auto status = parse(argc, argv, options)) {
    return *status;
  }
  log::set_level(examples::level_from(options.log_level));
  const auto wall_start = std::chrono::steady_clock::now();

  sim::Simulator simulator{options.seed};
  sim::Network network{simulator};
  auto link = options.link();
  link.loss = options.loss;
  network.set_default_link(link);
  const auto bandwidth = link.bandwidth_bytes_per_second;

  sync::LogReplayConfig config;
  config.batch_size = options.batch;
  config.max_inflight_per_peer = options.inflight;
  config.fetch_timeout = examples::from_ms(options.timeout_ms);
  config.hedge_slow_requests = !options.no_hedge;
  config.request_time = std::chrono::duration_cast<mosaik::Duration>(
      std::chrono::duration<double, std::milli>(std::max(0.0, options.request_ms)));
  testing::SyncCluster<BlobMachine> cluster{simulator, network, config};

  // Providers 1..N hold the same committed log; peer 1 is the leader.
  const PeerId leader{1};
  const PeerId follower{options.providers + 1};
  std::vector<Entry<std::string>> reference;
  reference.reserve(options.entries);
  std::uint64_t payload_bytes = 0;
  for (std::uint64_t i = 1; i <= options.entries; ++i) {
    // A new term every 250,000 entries, as after a few elections.
    reference.push_back(Entry<std::string>{Term{1 + i / 250'000}, make_command(i, options.entry_bytes)});
    payload_bytes += options.entry_bytes;
  }
  for (std::uint64_t p = 1; p <= options.providers; ++p) {
    auto& node = cluster.add_node(PeerId{p});
    for (const auto& entry : reference) {
      node.local_log().append(entry.command, entry.term);
    }
    node.set_commit_index(Index{options.entries});
    node.set_leader(leader);
  }
  auto& lagging = cluster.add_node(follower);
  lagging.set_leader(leader);
  // The summed bandwidth of the provider links (a slow one counts its share).
  auto provider_bandwidth = bandwidth * static_cast<double>(options.providers);
  if (options.slow_peer != 0) {
    auto slow = link;
    slow.bandwidth_bytes_per_second = bandwidth / options.slow_factor;
    network.set_link(PeerId{options.slow_peer}, follower, slow);
    provider_bandwidth -= bandwidth - slow.bandwidth_bytes_per_second;
  }
  if (options.leader_only) {
    for (std::uint64_t p = 2; p <= options.providers; ++p) {
      network.partition(follower, PeerId{p});
    }
  }
  simulator.run(); // let partition notices settle before the session starts

  const auto start = simulator.now();
  const Cursor target{reference.back().term, Index{options.entries}};
  lagging.start_session(target, Index{options.entries});

  const bool live = !options.json && isatty(STDERR_FILENO) != 0;
  const auto step = std::chrono::duration_cast<Duration>(std::chrono::milliseconds{100});
  const auto limit = start + std::chrono::hours{24};
  while (!lagging.outcome() && simulator.now() < limit) {
    if (!simulator.run_while([&] { return !lagging.outcome(); }, simulator.now() + step) && live &&
        lagging.session()) {
      const auto progress = lagging.session()->progress();
      std::fprintf(stderr, "\r  catching up: %5.1f%%  %9llu / %llu entries  %8.0f ms simulated",
                   examples::percent(progress.done, progress.total),
                   static_cast<unsigned long long>(progress.done),
                   static_cast<unsigned long long>(progress.total), millis(simulator.now() - start));
    }
  }
  if (live) {
    std::fputs("\r\033[K", stderr);
  }
  const auto end = simulator.now();
  const auto wall = std::chrono::steady_clock::now() - wall_start;

  // Verify: the follower's log must equal the reference, entry for entry.
  bool equal = lagging.local_log().last() == target;
  for (std::uint64_t i = 1; equal && i <= options.entries; ++i) {
    const auto* entry = lagging.local_log().get(Index{i});
    equal = entry != nullptr && *entry == reference[i - 1];
  }
  const auto& outcome = lagging.outcome();
  const bool caught_up = outcome && outcome->ok() && equal;

  const auto progress = lagging.session()->progress();
  // The ideal uses every provider's link, also with --leader-only: the baseline shows how much
  // of the group's capacity fetching from the leader alone leaves unused.
  const auto usable_providers = options.providers;
  const auto ideal_ms =
      (bandwidth > 0 ? static_cast<double>(payload_bytes) / provider_bandwidth * 1000.0 : 0.0) +
      2 * options.latency_ms;
  // With a slow provider: the ideal of the others alone (what hedging is measured against).
  const auto ideal_fast_ms = options.slow_peer == 0 || bandwidth <= 0
                                 ? ideal_ms
                                 : static_cast<double>(payload_bytes) /
                                           (bandwidth * static_cast<double>(options.providers - 1)) * 1000.0 +
                                       2 * options.latency_ms;
  const auto simulated_ms = millis(end - start);
  const auto efficiency = simulated_ms > 0 ? ideal_ms / simulated_ms : 0.0;
  std::uint64_t messages = 0;
  for (const auto count : cluster.messages_sent()) {
    messages += count;
  }
  std::uint64_t leader_entries = 0;
  std::map<PeerId, std::uint64_t> per_peer;
  for (std::uint64_t p = 1; p <= options.providers; ++p) {
    const auto it = progress.peers.find(PeerId{p});
    per_peer[PeerId{p}] = it == progress.peers.end() ? 0 : it->second.entries;
  }
  leader_entries = per_peer[leader];

  if (options.json) {
    using support::rounded;
    support::print_line({{"caught_up", caught_up},
                         {"status", outcome ? sync::to_string(outcome->status) : "unfinished"},
                         {"providers", options.providers},
                         {"entries", options.entries},
                         {"entry_bytes", options.entry_bytes},
                         {"batch", options.batch},
                         {"inflight", options.inflight},
                         {"latency_ms", options.latency_ms},
                         {"bandwidth_mbps", options.bandwidth_mbps},
                         {"loss", options.loss},
                         {"leader_only", options.leader_only},
                         {"slow_peer", options.slow_peer},
                         {"slow_factor", options.slow_factor},
                         {"ideal_fast_ms", rounded(ideal_fast_ms, 3)},
                         {"seed", options.seed},
                         {"simulated_ms", rounded(simulated_ms, 3)},
                         {"ideal_ms", rounded(ideal_ms, 3)},
                         {"efficiency", rounded(efficiency, 4)},
                         {"leader_entries", leader_entries},
                         {"per_peer", support::counts_json(per_peer)},
                         {"messages", messages},
                         {"bad_responses", progress.counters.bad_responses},
                         {"timeouts", progress.counters.timeouts},
                         {"max_entries_held", progress.counters.max_entries_held},
                         {"max_window", progress.counters.max_window},
                         {"max_bytes_held", progress.counters.max_bytes_held},
                         {"hedged_requests", progress.counters.hedged_requests},
                         {"late_responses", progress.counters.late_responses},
                         {"wall_ms", rounded(millis(wall), 1)},
                         {"trace_hash", fmt::format("{:016x}", simulator.trace_hash())}});
  } else {
    fmt::print("mosaik catch-up simulation: {} entries of {} bytes from {} provider(s){}, seed {}\n",
               options.entries, options.entry_bytes, usable_providers,
               options.leader_only ? " (leader only)" : "", options.seed);
    fmt::print("links: {} ms latency, {} Mbit/s, loss {}; batch {}, {} in flight per peer\n\n",
               options.latency_ms, options.bandwidth_mbps, options.loss, options.batch, options.inflight);
    fmt::print("  {:<8} {:>12} {:>8}\n", "peer", "entries", "share");
    for (const auto& [peer, count] : per_peer) {
      fmt::print("  {:<8} {:>12} {:>7.1f}%{}\n", fmt::format("{}", peer), count,
                 examples::percent(count, options.entries), peer == leader ? "  (leader)" : "");
    }
    fmt::print("\n  result          {}\n", caught_up ? "caught up, log verified" : "NOT caught up");
    if (outcome && !outcome->ok()) {
      fmt::print("  reason          {}\n", outcome->reason);
    }
    fmt::print("  simulated time  {:.1f} ms\n  ideal time      {:.1f} ms\n  efficiency      {:.3f}\n",
               simulated_ms, ideal_ms, efficiency);
    if (options.slow_peer != 0) {
      fmt::print("  peer {}'s link   {}x slower; ideal of the others {:.1f} ms ({:.3f}x); hedged {}\n",
                 options.slow_peer, options.slow_factor, ideal_fast_ms, simulated_ms / ideal_fast_ms,
                 progress.counters.hedged_requests);
    }
    fmt::print(
        "  messages        {}\n  bad responses   {}\n  timeouts        {}\n  wall time       {:.0f} ms\n",
        messages, progress.counters.bad_responses, progress.counters.timeouts, millis(wall));
    fmt::print("  trace hash      {:016x}\n", simulator.trace_hash());
  }
  return caught_up ? 0 : 1;
}
