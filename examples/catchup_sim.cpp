// mosaik-catchup-sim: the flagship simulation. A follower with an empty log
// catches up from N providers (one of them the leader) over simulated links
// with latency, bandwidth and loss, using the real LogReplaySession and
// provider on virtual time. Prints a table (or one JSON object with --json)
// comparing the simulated catch-up time with the ideal one:
//   ideal = payload bytes / sum of provider link bandwidths + one round trip,
// where payload bytes are the commands' bytes alone (the framing the wire adds
// to each entry, about 2 bytes, counts against the simulation, not the ideal).

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include <mosaik/core/format.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/net/sim/sync_cluster.hpp>

namespace {

struct BlobMachine {
  using Command = std::string;
  void apply(const Command&) {}
  [[nodiscard]] std::string signature() const { return "blob/1"; }
};

struct Options {
  std::uint64_t providers = 4;
  std::uint64_t entries = 100'000;
  std::uint64_t entry_bytes = 100;
  std::uint64_t batch = 2000;
  std::uint32_t inflight = 4;
  double latency_ms = 20;
  double bandwidth_mbps = 100;
  double loss = 0;
  double timeout_ms = 25'000;
  std::uint64_t seed = 1;
  bool leader_only = false;
  bool json = false;
  std::string log_level = "warn";
};

void usage() {
  std::fputs("usage: mosaik-catchup-sim [--providers N] [--entries N] [--entry-bytes N] [--batch N]\n"
             "         [--inflight N] [--latency-ms X] [--bandwidth-mbps X] [--loss P] [--timeout-ms X]\n"
             "         [--seed S] [--leader-only] [--json] [--log-level trace|debug|info|warn|error|off]\n",
             stderr);
}

std::optional<Options> parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "mosaik-catchup-sim: %s needs a value\n", argv[i]);
        return std::nullopt;
      }
      return std::string_view{argv[++i]};
    };
    auto number = [&](auto& out) -> bool {
      const auto text = value();
      if (!text) {
        return false;
      }
      char* end = nullptr;
      const std::string copy{*text};
      if constexpr (std::is_floating_point_v<std::remove_reference_t<decltype(out)>>) {
        out = std::strtod(copy.c_str(), &end);
      } else {
        out = static_cast<std::remove_reference_t<decltype(out)>>(std::strtoull(copy.c_str(), &end, 10));
      }
      if (end == copy.c_str() || *end != '\0') {
        std::fprintf(stderr, "mosaik-catchup-sim: %s: not a number: %s\n", std::string{arg}.c_str(),
                     copy.c_str());
        return false;
      }
      return true;
    };
    bool ok = true;
    if (arg == "--providers")
      ok = number(options.providers);
    else if (arg == "--entries")
      ok = number(options.entries);
    else if (arg == "--entry-bytes")
      ok = number(options.entry_bytes);
    else if (arg == "--batch")
      ok = number(options.batch);
    else if (arg == "--inflight")
      ok = number(options.inflight);
    else if (arg == "--latency-ms")
      ok = number(options.latency_ms);
    else if (arg == "--bandwidth-mbps")
      ok = number(options.bandwidth_mbps);
    else if (arg == "--loss")
      ok = number(options.loss);
    else if (arg == "--timeout-ms")
      ok = number(options.timeout_ms);
    else if (arg == "--seed")
      ok = number(options.seed);
    else if (arg == "--leader-only")
      options.leader_only = true;
    else if (arg == "--json")
      options.json = true;
    else if (arg == "--log-level") {
      const auto text = value();
      ok = text.has_value();
      if (ok)
        options.log_level = std::string{*text};
    } else if (arg == "--help" || arg == "-h") {
      usage();
      std::exit(0);
    } else {
      std::fprintf(stderr, "mosaik-catchup-sim: unknown option %s\n", std::string{arg}.c_str());
      ok = false;
    }
    if (!ok) {
      return std::nullopt;
    }
  }
  if (options.providers == 0 || options.entries == 0 || options.batch == 0 || options.inflight == 0 ||
      options.bandwidth_mbps < 0 || options.loss < 0 || options.loss >= 1) {
    std::fputs("mosaik-catchup-sim: providers, entries, batch and inflight must be positive; 0 <= loss < 1\n",
               stderr);
    return std::nullopt;
  }
  return options;
}

mosaik::log::Level level_from(std::string_view name) {
  using mosaik::log::Level;
  if (name == "trace")
    return Level::trace;
  if (name == "debug")
    return Level::debug;
  if (name == "info")
    return Level::info;
  if (name == "error")
    return Level::error;
  if (name == "off")
    return Level::off;
  return Level::warn;
}

/// The command at `index`: `entry_bytes` bytes that depend on the index, so a
/// misplaced entry is caught by the final comparison.
std::string make_command(std::uint64_t index, std::uint64_t entry_bytes) {
  std::string command(entry_bytes, '\0');
  auto x = index * 0x9e3779b97f4a7c15ULL;
  for (auto& byte : command) {
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    byte = static_cast<char>('a' + (x >> 59));
  }
  return command;
}

double millis(mosaik::Duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

} // namespace

int main(int argc, char** argv) {
  using namespace mosaik;
  const auto parsed = parse(argc, argv);
  if (!parsed) {
    usage();
    return 2;
  }
  const auto& options = *parsed;
  log::set_level(level_from(options.log_level));
  const auto wall_start = std::chrono::steady_clock::now();

  sim::Simulator simulator{options.seed};
  sim::Network network{simulator};
  const auto bandwidth = options.bandwidth_mbps * 1e6 / 8.0; // bytes per second
  const auto latency =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(options.latency_ms));
  network.set_default_link(sim::LinkConfig{latency, bandwidth, Duration::zero(), options.loss, 0, 0});

  sync::LogReplayConfig config;
  config.batch_size = options.batch;
  config.max_inflight_per_peer = options.inflight;
  config.fetch_timeout =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(options.timeout_ms));
  sim::SyncCluster<BlobMachine> cluster{simulator, network, config};

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
                   progress.total
                       ? 100.0 * static_cast<double>(progress.done) / static_cast<double>(progress.total)
                       : 0.0,
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
  const auto ideal_ms = (bandwidth > 0 ? static_cast<double>(payload_bytes) /
                                             (bandwidth * static_cast<double>(usable_providers)) * 1000.0
                                       : 0.0) +
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
    std::string peers_json;
    for (const auto& [peer, count] : per_peer) {
      peers_json += fmt::format("{}\"{}\": {}", peers_json.empty() ? "" : ", ", peer.value(), count);
    }
    fmt::print(
        "{{\"caught_up\": {}, \"status\": \"{}\", \"providers\": {}, \"entries\": {}, \"entry_bytes\": {}, "
        "\"batch\": {}, \"inflight\": {}, \"latency_ms\": {}, \"bandwidth_mbps\": {}, \"loss\": {}, "
        "\"leader_only\": {}, \"seed\": {}, \"simulated_ms\": {:.3f}, \"ideal_ms\": {:.3f}, "
        "\"efficiency\": {:.4f}, \"leader_entries\": {}, \"per_peer\": {{{}}}, \"messages\": {}, "
        "\"bad_responses\": {}, \"timeouts\": {}, \"max_entries_held\": {}, \"wall_ms\": {:.1f}, "
        "\"trace_hash\": \"{:016x}\"}}\n",
        caught_up, outcome ? sync::to_string(outcome->status) : "unfinished", options.providers,
        options.entries, options.entry_bytes, options.batch, options.inflight, options.latency_ms,
        options.bandwidth_mbps, options.loss, options.leader_only, options.seed, simulated_ms, ideal_ms,
        efficiency, leader_entries, peers_json, messages, progress.counters.bad_responses,
        progress.counters.timeouts, progress.counters.max_entries_held, millis(wall), simulator.trace_hash());
  } else {
    fmt::print("mosaik catch-up simulation: {} entries of {} bytes from {} provider(s){}, seed {}\n",
               options.entries, options.entry_bytes, usable_providers,
               options.leader_only ? " (leader only)" : "", options.seed);
    fmt::print("links: {} ms latency, {} Mbit/s, loss {}; batch {}, {} in flight per peer\n\n",
               options.latency_ms, options.bandwidth_mbps, options.loss, options.batch, options.inflight);
    fmt::print("  {:<8} {:>12} {:>8}\n", "peer", "entries", "share");
    for (const auto& [peer, count] : per_peer) {
      fmt::print("  {:<8} {:>12} {:>7.1f}%{}\n", fmt::format("{}", peer), count,
                 100.0 * static_cast<double>(count) / static_cast<double>(options.entries),
                 peer == leader ? "  (leader)" : "");
    }
    fmt::print("\n  result          {}\n", caught_up ? "caught up, log verified" : "NOT caught up");
    if (outcome && !outcome->ok()) {
      fmt::print("  reason          {}\n", outcome->reason);
    }
    fmt::print("  simulated time  {:.1f} ms\n  ideal time      {:.1f} ms\n  efficiency      {:.3f}\n",
               simulated_ms, ideal_ms, efficiency);
    fmt::print(
        "  messages        {}\n  bad responses   {}\n  timeouts        {}\n  wall time       {:.0f} ms\n",
        messages, progress.counters.bad_responses, progress.counters.timeouts, millis(wall));
    fmt::print("  trace hash      {:016x}\n", simulator.trace_hash());
  }
  return caught_up ? 0 : 1;
}
