// Crash tests: a child process appends to a FileLog (fsync `always`, then
// `batch`) and reports each index it knows durable; it is killed with SIGKILL
// at a random moment; the log is reopened and must be a valid prefix holding,
// intact, every entry reported before the kill. 50 kills per policy by
// default; MOSAIK_CRASH_ITERATIONS sets another number (e.g. 1000).

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include <mosaik/storage/file_log.hpp>

#include "crash_payload.hpp"

#include "temp_dir.hpp"

namespace mosaik::test {
namespace {

int iterations() {
  const char* text = std::getenv("MOSAIK_CRASH_ITERATIONS");
  return text != nullptr && std::atoi(text) > 0 ? std::atoi(text) : 50;
}

/// Runs the child for `run_for`, kills it, and returns the highest index it
/// reported durable (every line it wrote before dying counts).
std::uint64_t run_and_kill(const std::filesystem::path& directory, const char* policy,
                           std::chrono::milliseconds run_for) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const auto child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::execl(MOSAIK_CRASH_CHILD, MOSAIK_CRASH_CHILD, directory.c_str(), policy, "65536", "200000",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::uint64_t acknowledged = 0;
  std::string pending;
  const auto consume = [&](bool wait, std::chrono::steady_clock::time_point until) {
    char buffer[4096];
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      pollfd fd{pipe_fds[0], POLLIN, 0};
      const int timeout = wait ? static_cast<int>(std::max<std::int64_t>(0, left.count())) : 0;
      if (::poll(&fd, 1, timeout) <= 0) {
        return;
      }
      const auto n = ::read(pipe_fds[0], buffer, sizeof buffer);
      if (n <= 0) {
        return;
      }
      pending.append(buffer, static_cast<std::size_t>(n));
      for (auto newline = pending.find('\n'); newline != std::string::npos; newline = pending.find('\n')) {
        acknowledged = std::max<std::uint64_t>(
            acknowledged, std::strtoull(pending.substr(0, newline).c_str(), nullptr, 10));
        pending.erase(0, newline + 1);
      }
      if (wait && std::chrono::steady_clock::now() >= until) {
        return;
      }
    }
  };
  consume(true, std::chrono::steady_clock::now() + run_for);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  consume(false, std::chrono::steady_clock::now()); // what it wrote before it died
  ::close(pipe_fds[0]);
  INFO("child status " << status);
  CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
  return acknowledged;
}

void check_log(const std::filesystem::path& directory, std::uint64_t acknowledged) {
  storage::FileLogOptions options;
  options.directory = directory;
  options.fsync = storage::FsyncPolicy::never;
  options.segment_bytes = 65536;
  auto opened = storage::FileLog<std::string>::open(options);
  if (const auto* error = std::get_if<std::string>(&opened)) {
    FAIL("reopen failed: " << *error);
  }
  const auto& log = *std::get<0>(opened);
  INFO("acknowledged " << acknowledged << ", log " << log.available().first().value() << ".."
                       << log.last().index.value());
  REQUIRE(log.last().index.value() >= acknowledged);
  if (log.last().index.value() == 0) {
    return;
  }
  REQUIRE(log.available().first() == Index{1});
  // Every entry, read back in big sequential ranges, is exactly what was written.
  std::vector<Entry<std::string>> entries;
  for (std::uint64_t first = 1; first <= log.last().index.value(); first += entries.size()) {
    entries.clear();
    log.read_range(IndexRange{Index{first}, log.last().index}, 16u << 20, entries);
    REQUIRE_FALSE(entries.empty());
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto index = first + i;
      if (entries[i].command != crash_payload(index) || entries[i].term != Term{1}) {
        FAIL("entry " << index << " differs from what was written");
      }
    }
  }
}

} // namespace

TEST_CASE("crash: SIGKILL at random moments leaves a valid prefix holding every acknowledged entry",
          "[storage][crash]") {
  for (const char* policy : {"always", "batch"}) {
    const std::uint64_t seed = std::random_device{}();
    INFO("policy " << policy << ", seed " << seed << " (MOSAIK_CRASH_ITERATIONS=" << iterations() << ")");
    std::mt19937_64 random(seed);
    support::TempDir dir{"mosaik-crash"};
    std::uint64_t acknowledged = 0;
    for (int iteration = 0; iteration < iterations(); ++iteration) {
      INFO("kill " << iteration + 1);
      const auto run_for = std::chrono::milliseconds(1 + random() % 40);
      acknowledged = std::max(acknowledged, run_and_kill(dir.path(), policy, run_for));
      check_log(dir.path(), acknowledged);
    }
    CHECK(acknowledged > 0);
  }
}

} // namespace mosaik::test
