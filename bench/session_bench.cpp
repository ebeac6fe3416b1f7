// CPU cost of the catch-up session's own bookkeeping, per entry: the
// scheduler's assignments, response validation, out-of-order holding and the
// append into an InMemoryLog. Peers answer instantly from responses built
// before the timed region, so the figure excludes the provider and transport.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <mosaik/core/log.hpp>
#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/log_replay/log_replay_core.hpp>

namespace {

using namespace mosaik;
using Command = std::string;
using Core = sync::LogReplayCore<Command>;

std::vector<Entry<Command>> make_entries(IndexRange range, std::size_t entry_bytes) {
  std::vector<Entry<Command>> entries;
  entries.reserve(range.size());
  for (auto index = range.first(); index <= range.last(); index = index.next()) {
    entries.push_back(
        Entry<Command>{Term{1}, Command(entry_bytes, static_cast<char>('a' + index.value() % 26))});
  }
  return entries;
}

void BM_SessionBookkeeping(benchmark::State& state) {
  log::set_level(log::Level::off);
  const auto entries = static_cast<std::uint64_t>(state.range(0));
  const auto peers = static_cast<std::uint64_t>(state.range(1));
  const auto batch = static_cast<std::uint64_t>(state.range(2));
  sync::LogReplayConfig config;
  config.batch_size = batch;
  config.max_inflight_per_peer = 4;
  const Cursor target{Term{1}, Index{entries}};
  const TimePoint now{};

  // Every chunk a peer may be asked for starts at a multiple of the batch size
  // (all peers hold everything), so responses can be prepared up front.
  std::map<Index, std::vector<Entry<Command>>> prepared;
  std::optional<storage::InMemoryLog<Command>> log_storage;
  for (auto _ : state) {
    state.PauseTiming();
    log_storage.reset(); // freeing the previous run's log is not the session's cost
    prepared.clear();
    for (std::uint64_t first = 1; first <= entries; first += batch) {
      const auto range = IndexRange{Index{first}, Index{std::min(entries, first + batch - 1)}};
      prepared.emplace(range.first(), make_entries(range, 100));
    }
    auto& log = log_storage.emplace();
    state.ResumeTiming();

    Core core{config, log, target, target.index, PeerId{1}, {}, now};
    std::vector<PeerId> bonded;
    for (std::uint64_t p = 1; p <= peers; ++p) {
      bonded.push_back(PeerId{p});
    }
    core.start(bonded, now);
    for (auto& outgoing : core.take_outbox()) {
      core.on_message(outgoing.peer, sync::AvailabilityResponse{IndexRange{Index{1}, target.index}}, now);
    }
    while (!core.outcome()) {
      auto outbox = core.take_outbox();
      if (outbox.empty()) {
        state.SkipWithError("session stalled");
        break;
      }
      for (auto& outgoing : outbox) {
        const auto& request = std::get<sync::FetchEntriesRequest>(outgoing.message);
        auto& chunk = prepared.at(request.range.first());
        core.on_message(outgoing.peer, sync::FetchEntriesResponse<Command>{request.range, std::move(chunk)},
                        now);
      }
    }
    benchmark::DoNotOptimize(log.last());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(entries));
  state.counters["ns_per_entry"] =
      benchmark::Counter(static_cast<double>(state.iterations() * entries),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK(BM_SessionBookkeeping)
    ->Args({100'000, 1, 2000})
    ->Args({100'000, 4, 2000})
    ->Args({100'000, 8, 2000})
    ->Args({100'000, 4, 100})
    ->Args({1'000'000, 4, 2000})
    ->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
