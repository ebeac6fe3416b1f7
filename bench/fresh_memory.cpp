// The floor under a catch-up's cost per byte on this machine: a member that
// catches up must keep every byte it receives (its log, its state), so each
// byte lands at least once in memory the process has never touched, and the
// kernel must hand over a zeroed page for it first. A plain TCP pair never
// pays that: its receiver reads into one buffer, over and over.
//
// For the loopback cases' payloads, this prints the time to copy the bytes
// (a) into one reused buffer, as the TCP pair does, and (b) into fresh heap
// memory in pieces of one entry, as a log of commands must, each for
// several rounds (min / median). Each round of (b) runs in a child process
// of its own: memory a round frees stays in the heap, and a second round in
// the same process would find it already touched. Run it on a quiet machine; glibc's
// GLIBC_TUNABLES=glibc.malloc.hugetlb=1 gives (b) transparent huge pages,
// as mosaik-node does.
//   mosaik-bench-fresh-memory [rounds]

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace {

using Clock = std::chrono::steady_clock;

struct Case {
  const char* name;
  std::size_t entries;
  std::size_t bytes;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Copies `entries` pieces of `bytes` from `source` into the same warm buffer.
double into_reused(const Case& shape, const std::vector<char>& source) {
  std::vector<char> buffer(shape.bytes);
  volatile char sink = 0;
  const auto start = Clock::now();
  for (std::size_t i = 0; i < shape.entries; ++i) {
    std::memcpy(buffer.data(), source.data() + (i % 64) * shape.bytes, shape.bytes);
    sink = sink + buffer[i % shape.bytes];
  }
  return seconds_since(start);
}

// Copies the same pieces into fresh heap memory, one allocation each (kept).
double into_fresh(const Case& shape, const std::vector<char>& source) {
  std::vector<std::unique_ptr<char[]>> kept;
  kept.reserve(shape.entries);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < shape.entries; ++i) {
    auto piece = std::make_unique_for_overwrite<char[]>(shape.bytes);
    std::memcpy(piece.get(), source.data() + (i % 64) * shape.bytes, shape.bytes);
    kept.push_back(std::move(piece));
  }
  const auto elapsed = seconds_since(start);
  return elapsed; // `kept` is freed after the clock stops
}

// into_fresh in a child process (a heap nobody has touched), its result
// passed back through a pipe.
std::optional<double> into_fresh_in_child(const Case& shape, const std::vector<char>& source) {
  int pipe_ends[2];
  if (pipe(pipe_ends) != 0) {
    return std::nullopt;
  }
  const pid_t child = fork();
  if (child < 0) {
    return std::nullopt;
  }
  if (child == 0) {
    close(pipe_ends[0]);
    const double elapsed = into_fresh(shape, source);
    const auto written = write(pipe_ends[1], &elapsed, sizeof elapsed);
    _exit(written == static_cast<ssize_t>(sizeof elapsed) ? 0 : 1);
  }
  close(pipe_ends[1]);
  double elapsed = 0;
  const auto read_bytes = read(pipe_ends[0], &elapsed, sizeof elapsed);
  close(pipe_ends[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (read_bytes != static_cast<ssize_t>(sizeof elapsed) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return std::nullopt;
  }
  return elapsed;
}

std::pair<double, double> min_median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return {samples.front(), samples[samples.size() / 2]};
}

} // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  const Case cases[] = {
      {"100,000 x 100 B", 100'000, 100},
      {"1,000,000 x 100 B", 1'000'000, 100},
      {"20,000 x 4 KiB", 20'000, 4096},
      {"200 x 1 MiB", 200, 1 << 20},
  };
  std::printf("| case | MB | into one reused buffer (min / median) | into fresh memory (min / median) |\n");
  std::printf("|---|---:|---:|---:|\n");
  for (const auto& shape : cases) {
    std::vector<char> source(64 * shape.bytes, 'x');
    std::vector<double> reused;
    std::vector<double> fresh;
    for (int round = 0; round < rounds; ++round) {
      reused.push_back(into_reused(shape, source));
      const auto elapsed = into_fresh_in_child(shape, source);
      if (!elapsed) {
        std::fprintf(stderr, "a measuring child process failed\n");
        return 1;
      }
      fresh.push_back(*elapsed);
    }
    const auto [reused_min, reused_median] = min_median(reused);
    const auto [fresh_min, fresh_median] = min_median(fresh);
    std::printf("| %s | %.1f | %.4f / %.4f s | %.4f / %.4f s |\n", shape.name,
                static_cast<double>(shape.entries * shape.bytes) / 1e6, reused_min, reused_median, fresh_min,
                fresh_median);
  }
  return 0;
}
