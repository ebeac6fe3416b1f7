// The child of the crash tests: appends entries to a FileLog in `directory`
// under an fsync policy and, each time entries are durable, writes the last
// durable index to stdout (one line). The parent kills it with SIGKILL at a
// random moment and checks the log it left behind.
//
//   mosaik-crash-child DIRECTORY always|batch [SEGMENT_BYTES [MAX_INDEX]]
//
// Past MAX_INDEX (default 200,000) it stops appending and waits to be killed.
//
// Entry i holds payload(i): deterministic, of a length that varies with i,
// so the parent can check every byte it reopens.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <mosaik/storage/file_log.hpp>

#include "crash_payload.hpp"

int main(int argc, char** argv) {
  using namespace mosaik;
  if (argc < 3) {
    std::fprintf(stderr, "usage: mosaik-crash-child DIRECTORY always|batch [SEGMENT_BYTES]\n");
    return 2;
  }
  const std::string_view policy = argv[2];
  storage::FileLogOptions options;
  options.directory = argv[1];
  options.fsync = policy == "always" ? storage::FsyncPolicy::always : storage::FsyncPolicy::batch;
  if (argc > 3) {
    options.segment_bytes = std::strtoull(argv[3], nullptr, 10);
  }
  const std::uint64_t max_index = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 200'000;
  auto opened = storage::FileLog<std::string>::open(options);
  if (const auto* error = std::get_if<std::string>(&opened)) {
    std::fprintf(stderr, "mosaik-crash-child: %s\n", error->c_str());
    return 1;
  }
  auto& log = *std::get<0>(opened);
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  const Term term{1};
  while (log.last().index.value() < max_index) {
    // A batch of 1..32 entries, then one sync (group commit); `always` made
    // each durable already, and reports after each.
    const auto batch = 1 + log.last().index.value() % 32;
    for (std::uint64_t i = 0; i < batch; ++i) {
      const auto index = log.last().index.next();
      log.append(test::crash_payload(index.value()), term);
      if (options.fsync == storage::FsyncPolicy::always) {
        std::printf("%llu\n", static_cast<unsigned long long>(index.value()));
      }
    }
    if (options.fsync == storage::FsyncPolicy::batch) {
      log.sync();
      std::printf("%llu\n", static_cast<unsigned long long>(log.last().index.value()));
    }
    if (log.failed()) {
      std::fprintf(stderr, "mosaik-crash-child: %s\n", log.error().c_str());
      return 1;
    }
  }
  for (;;) {
    pause();
  }
}
