// FileLog's figures: append throughput under each fsync policy, sequential
// read throughput (read_range), and the time to reopen (recover) a large log.
// Prints one JSON line per measurement.
//
//   mosaik-bench-file-log [--dir PATH] [--recovery-bytes N] [--quick]
//
// --dir must be on the disk to measure (not tmpfs); default: ./mosaik-file-log-bench
// (removed at the end). --recovery-bytes: size of the log reopened for the
// recovery figure (default 1 GiB). --quick: small sizes, for a smoke run.

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <mosaik/core/log.hpp>
#include <mosaik/storage/file_log.hpp>

#include "command_line.hpp"
#include "json.hpp"

namespace {

using namespace mosaik;
using Clock = std::chrono::steady_clock;
using Log = storage::FileLog<std::string>;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::unique_ptr<Log> open_log(const std::filesystem::path& dir, storage::FsyncPolicy policy,
                              std::size_t cache_entries = storage::FileLogOptions{}.cache_entries) {
  storage::FileLogOptions options;
  options.directory = dir;
  options.fsync = policy;
  options.cache_entries = cache_entries;
  auto opened = Log::open(options);
  if (const auto* error = std::get_if<std::string>(&opened)) {
    std::fprintf(stderr, "mosaik-bench-file-log: %s\n", error->c_str());
    std::exit(1);
  }
  return std::move(std::get<0>(opened));
}

/// Appends `count` entries of `size` bytes; under `batch`, one sync per `group` appends.
void append_run(const std::filesystem::path& dir, storage::FsyncPolicy policy, std::size_t size,
                std::uint64_t count, std::uint64_t group) {
  std::filesystem::remove_all(dir);
  auto log = open_log(dir, policy);
  const std::string payload(size, 'x');
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < count; ++i) {
    log->append(payload, Term{1});
    if (policy == storage::FsyncPolicy::batch && (i + 1) % group == 0) {
      log->sync();
    }
  }
  log->sync();
  const auto seconds = seconds_since(start);
  support::print_line({{"measure", "append"},
                       {"fsync", storage::to_string(policy)},
                       {"entry_bytes", size},
                       {"entries", count},
                       {"group", policy == storage::FsyncPolicy::batch ? group : 1},
                       {"seconds", support::rounded(seconds, 4)},
                       {"entries_per_s", std::llround(static_cast<double>(count) / seconds)},
                       {"mb_per_s", support::rounded(static_cast<double>(count * size) / 1e6 / seconds, 1)}});
}

/// Fills a log with `bytes` of `size`-byte entries (fsync never), then reopens it
/// (recovery: every record's CRC is checked) and reads it all back with read_range.
/// Empties the page cache (root only), so that recovery reads the disk. Whether it could.
bool drop_caches() {
  ::sync();
  std::ofstream out("/proc/sys/vm/drop_caches");
  out << "3\n";
  out.flush();
  return static_cast<bool>(out);
}

void recovery_and_read(const std::filesystem::path& dir, std::size_t size, std::uint64_t bytes) {
  std::filesystem::remove_all(dir);
  const auto count = bytes / size;
  {
    auto log = open_log(dir, storage::FsyncPolicy::never);
    const std::string payload(size, 'r');
    for (std::uint64_t i = 0; i < count; ++i) {
      log->append(payload, Term{1 + i / 100000});
    }
    log->sync();
  }
  // No cache of decoded entries: recovery and reads go through the files.
  const bool cold = drop_caches();
  auto start = Clock::now();
  auto log = open_log(dir, storage::FsyncPolicy::never, 0);
  const auto recovery = seconds_since(start);
  support::print_line({{"measure", "recovery"},
                       {"log_bytes", count * size},
                       {"entries", count},
                       {"segments", log->recovery().segments},
                       {"cold_cache", cold},
                       {"seconds", support::rounded(recovery, 3)},
                       {"mb_per_s", std::llround(static_cast<double>(count * size) / 1e6 / recovery)}});
  std::vector<Entry<std::string>> entries;
  std::uint64_t read = 0;
  start = Clock::now();
  for (auto first = Index{1}; first <= log->last().index; first = Index{first.value() + entries.size()}) {
    entries.clear();
    log->read_range(IndexRange{first, log->last().index}, 4u << 20, entries);
    read += entries.size();
  }
  const auto reading = seconds_since(start);
  support::print_line({{"measure", "read_range"},
                       {"entry_bytes", size},
                       {"entries", read},
                       {"seconds", support::rounded(reading, 3)},
                       {"entries_per_s", std::llround(static_cast<double>(read) / reading)},
                       {"mb_per_s", std::llround(static_cast<double>(read * size) / 1e6 / reading)}});
}

} // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = "mosaik-file-log-bench";
  std::uint64_t recovery_bytes = std::uint64_t{1} << 30;
  bool quick = false;
  CLI::App app{"FileLog appends per fsync policy, recovery and sequential reads", "mosaik-bench-file-log"};
  app.add_option("--dir", dir, "the log's directory, on the disk to measure (not tmpfs)")
      ->capture_default_str();
  app.add_option("--recovery-bytes", recovery_bytes, "bytes of the log recovered")->capture_default_str();
  app.add_flag("--quick", quick, "small runs (a smoke test)");
  if (const auto status = support::parse(app, argc, argv)) {
    return *status;
  }
  log::set_level(log::Level::warn);
  const auto scale = quick ? 100 : 1;
  for (const std::size_t size : {std::size_t{100}, std::size_t{4096}}) {
    append_run(dir, storage::FsyncPolicy::never, size, 1'000'000 / scale / (size / 100), 1);
    append_run(dir, storage::FsyncPolicy::batch, size, 200'000 / scale / (size / 100 > 1 ? 10 : 1), 1000);
    append_run(dir, storage::FsyncPolicy::batch, size, 20'000 / scale, 10);
    append_run(dir, storage::FsyncPolicy::always, size, 2'000 / (quick ? 10 : 1), 1);
  }
  recovery_and_read(dir, 100, quick ? (8u << 20) : recovery_bytes / 4);
  recovery_and_read(dir, 4096, quick ? (8u << 20) : recovery_bytes);
  std::filesystem::remove_all(dir);
  return 0;
}
