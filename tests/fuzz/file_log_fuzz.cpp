// libFuzzer target: FileLog recovery. The input is written as the only
// segment file of a log directory (or, with the first byte odd, appended
// after a valid segment of 50 entries); then the log is opened. Opening must
// never crash: it either refuses with an error, or recovers a log whose
// entries are all readable (and, after a valid segment, keeps all 50).

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <mosaik/core/log.hpp>
#include <mosaik/storage/file_log.hpp>

namespace {
namespace fs = std::filesystem;
using Log = mosaik::storage::FileLog<std::string>;

const fs::path& root() {
  static const fs::path path = fs::temp_directory_path() / ("mosaik-fuzz-file-log-" + std::to_string(::getpid()));
  return path;
}

mosaik::storage::FileLogOptions options(const fs::path& dir) {
  mosaik::storage::FileLogOptions out;
  out.directory = dir;
  out.fsync = mosaik::storage::FsyncPolicy::never;
  return out;
}
} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mosaik::log::set_level(mosaik::log::Level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto dir = root() / "log";
  fs::remove_all(dir);
  const bool after_valid = size > 0 && (data[0] & 1) != 0;
  if (after_valid) {
    auto log = Log::open(options(dir));
    if (log.index() != 0) {
      std::abort();
    }
    for (int i = 0; i < 50; ++i) {
      std::get<0>(log)->append("entry-" + std::to_string(i), mosaik::Term{1});
    }
    std::get<0>(log)->sync();
  } else {
    fs::create_directories(dir);
  }
  std::string segment;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".seg") {
      segment = entry.path().string();
    }
  }
  if (segment.empty()) {
    segment = (dir / "00000000000000000001.seg").string();
  }
  {
    std::ofstream out(segment, std::ios::binary | std::ios::app);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto reopened = Log::open(options(dir));
  if (auto* log = std::get_if<0>(&reopened)) {
    const auto held = (*log)->available();
    for (auto index = held.first(); !held.empty() && index <= held.last(); index = index.next()) {
      if ((*log)->get(index) == nullptr) {
        std::abort(); // an entry it claims to hold must be readable
      }
    }
    if (after_valid && (*log)->last().index.value() < 50) {
      std::abort(); // garbage after a valid segment is a torn tail: the 50 entries stay
    }
  }
  return 0;
}
