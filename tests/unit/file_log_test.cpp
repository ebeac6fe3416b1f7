// Unit tests of FileLog (mosaik/storage/file_log.hpp), the durable LogStorage
// on segment files: it must behave exactly like InMemoryLog (random operation
// sequences, compared after every step and after reopening), keep its base
// cursor across restarts, cut a torn tail on open and refuse to open over
// damage anywhere else, naming the file and the offset.

#include <catch2/catch.hpp>

#include "reference_history.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <mosaik/storage/file_log.hpp>
#include <mosaik/storage/in_memory_log.hpp>

#include "../support/decode_encoded.hpp"
#include "temp_dir.hpp"

using namespace mosaik;
using namespace mosaik::storage;
using mosaik::test::r;

namespace {

using Log = FileLog<std::string>;
using Reference = storage::InMemoryLog<std::string>;
using E = Entry<std::string>;
namespace fs = std::filesystem;

FileLogOptions options_in(const support::TempDir& dir, FsyncPolicy policy = FsyncPolicy::never,
                          std::uint64_t segment_bytes = 256, std::size_t cache_entries = 8) {
  FileLogOptions options;
  options.directory = dir.path();
  options.fsync = policy;
  options.segment_bytes = segment_bytes;
  options.cache_entries = cache_entries;
  return options;
}

template <class Command = std::string>
std::unique_ptr<FileLog<Command>> open_log(const FileLogOptions& options) {
  auto opened = FileLog<Command>::open(options);
  if (const auto* error = std::get_if<std::string>(&opened)) {
    FAIL("open failed: " << *error);
  }
  return std::move(std::get<0>(opened));
}

template <class Command = std::string>
std::string open_error(const FileLogOptions& options) {
  auto opened = FileLog<Command>::open(options);
  if (std::holds_alternative<std::unique_ptr<FileLog<Command>>>(opened)) {
    FAIL("open succeeded where it should have failed");
  }
  return std::get<std::string>(opened);
}

/// The segment files of a log directory, in index order.
std::vector<fs::path> segment_files(const fs::path& directory) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator{directory}) {
    if (entry.path().extension() == ".seg") {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::byte> read_bytes(const fs::path& file) {
  std::ifstream in{file, std::ios::binary};
  const std::vector<char> chars{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  std::vector<std::byte> out(chars.size());
  std::transform(chars.begin(), chars.end(), out.begin(), [](char c) { return static_cast<std::byte>(c); });
  return out;
}

void write_bytes(const fs::path& file, const std::vector<std::byte>& bytes) {
  std::ofstream out{file, std::ios::binary | std::ios::trunc};
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

void flip_byte(const fs::path& file, std::uint64_t offset) {
  auto bytes = read_bytes(file);
  REQUIRE(offset < bytes.size());
  bytes[offset] ^= std::byte{0x5A};
  write_bytes(file, bytes);
}

/// The offsets of the records of a segment file, read as the format documents it.
std::vector<std::uint64_t> record_offsets(const fs::path& segment) {
  const auto bytes = read_bytes(segment);
  std::vector<std::uint64_t> out;
  std::uint64_t offset = SegmentStore::segment_header_bytes;
  while (offset + SegmentStore::record_header_bytes <= bytes.size()) {
    std::uint64_t length = 0;
    for (int i = 0; i < 4; ++i) {
      length |= static_cast<std::uint64_t>(bytes[offset + static_cast<std::uint64_t>(i)]) << (8 * i);
    }
    out.push_back(offset);
    offset += SegmentStore::record_header_bytes + length;
  }
  REQUIRE(offset == bytes.size());
  return out;
}

/// Entry i's command: "entry-i" and a tail whose length varies with i.
std::string command_for(std::uint64_t index) {
  return test::ref_command(index) + std::string(index * 7 % 40, static_cast<char>('a' + index % 26));
}

/// A closed log of `count` entries (terms 1, 1, 1, 2, 2, 2, ...) in small segments.
void write_log(const FileLogOptions& options, std::uint64_t count) {
  auto log = open_log(options);
  for (std::uint64_t i = 1; i <= count; ++i) {
    REQUIRE(log->append(command_for(i), Term{1 + (i - 1) / 3}) == Index{i});
  }
  REQUIRE_FALSE(log->failed());
}

/// Every entry 1..=count as write_log wrote it.
void check_entries(const Log& log, std::uint64_t count) {
  REQUIRE(log.last().index == Index{count});
  for (std::uint64_t i = 1; i <= count; ++i) {
    const auto* entry = log.get(Index{i});
    REQUIRE(entry != nullptr);
    CHECK(entry->command == command_for(i));
    CHECK(entry->term == Term{1 + (i - 1) / 3});
  }
}

/// Everything a LogStorage answers, compared with the reference.
void expect_same(const Log& log, const Reference& reference) {
  REQUIRE(log.available() == reference.available());
  REQUIRE(log.last() == reference.last());
  const auto last = reference.last().index.value();
  const auto base = reference.available().empty() ? last : reference.available().first().value() - 1;
  for (std::uint64_t i = base >= 3 ? base - 3 : 0; i <= last + 2; ++i) {
    INFO("index " << i);
    REQUIRE(log.term_at(Index{i}) == reference.term_at(Index{i}));
    const auto* expected = reference.get(Index{i});
    const auto* got = log.get(Index{i});
    REQUIRE((got == nullptr) == (expected == nullptr));
    if (got != nullptr) {
      REQUIRE(*got == *expected);
    }
  }
  REQUIRE(log.term_at(Index{0}) == reference.term_at(Index{0}));
  REQUIRE(log.get_range(r(0, last + 5)) == reference.get_range(r(0, last + 5)));
}

std::vector<E> read(const storage::LogStorage<std::string>& log, IndexRange range, std::size_t max_bytes) {
  std::vector<E> out;
  log.read_range(range, max_bytes, out);
  return out;
}

/// read_range as LogStorage's default implements it, through get().
std::vector<E> read_through_get(const Log& log, IndexRange range, std::size_t max_bytes) {
  std::vector<E> out;
  const auto held = range.intersect(log.available());
  std::size_t bytes = 0;
  for (auto index = held.first(); !held.empty() && index <= held.last(); index = index.next()) {
    const auto* entry = log.get(index);
    REQUIRE(entry != nullptr);
    const auto size = command_size(entry->command);
    if (bytes > 0 && bytes + size > max_bytes) {
      break;
    }
    bytes += size;
    out.push_back(*entry);
  }
  return out;
}

std::string random_command(std::mt19937_64& random) {
  // Mostly small; sometimes larger than a whole segment (a segment of its own).
  const auto roll = random() % 100;
  const auto size = static_cast<std::size_t>(roll < 5 ? 200 + random() % 500 : roll < 10 ? 0 : random() % 60);
  std::string command(size, '\0');
  for (auto& c : command) {
    c = static_cast<char>('a' + random() % 26);
  }
  return command;
}

/// Random operations on a FileLog and an InMemoryLog side by side, compared after every step.
void run_random_sequence(FsyncPolicy policy, std::uint64_t seed, int steps) {
  support::TempDir dir{"mosaik-file-log"};
  std::mt19937_64 random(seed);
  auto options = options_in(dir, policy, 128 + random() % 400, random() % 12);
  const std::size_t buffers[] = {0, 100, 1 << 20};
  options.write_buffer_bytes = buffers[random() % 3];
  INFO("policy " << to_string(policy) << ", seed " << seed << ", segment_bytes " << options.segment_bytes
                 << ", cache_entries " << options.cache_entries << ", write_buffer_bytes "
                 << options.write_buffer_bytes);
  auto log = open_log(options);
  Reference reference;
  std::uint64_t term = 1;
  const auto some_index = [&](std::uint64_t slack) {
    return Index{random() % (reference.last().index.value() + slack + 1)};
  };
  for (int step = 0; step < steps; ++step) {
    std::string what;
    const auto op = random() % 100;
    if (random() % 10 == 0) {
      ++term;
    }
    if (op < 35) {
      auto command = random_command(random);
      what = fmt::format("append {} bytes at term {}", command.size(), term);
      const auto expected = reference.append(command, Term{term});
      REQUIRE(log->append(std::move(command), Term{term}) == expected);
    } else if (op < 48) {
      std::vector<E> batch(random() % 7);
      for (auto& entry : batch) {
        entry = E{Term{term}, random_command(random)};
      }
      what = fmt::format("append_all of {}", batch.size());
      auto copy = batch;
      reference.append_all(std::move(copy));
      log->append_all(std::move(batch));
    } else if (op < 57) {
      const auto from = some_index(2);
      what = fmt::format("truncate({})", from.value());
      reference.truncate(from);
      log->truncate(from);
    } else if (op < 63) {
      const auto up_to = some_index(2);
      what = fmt::format("prune_prefix({})", up_to.value());
      reference.prune_prefix(up_to);
      log->prune_prefix(up_to);
    } else if (op < 66) {
      const Cursor cursor{Term{term + random() % 2}, some_index(20)};
      what = fmt::format("reset_to({}, {})", cursor.term.value(), cursor.index.value());
      reference.reset_to(cursor);
      log->reset_to(cursor);
    } else if (op < 72) {
      what = "sync";
      log->sync();
    } else if (op < 80) {
      what = "reopen";
      log.reset();
      log = open_log(options);
      REQUIRE(log->recovery().bytes_cut == 0);
      REQUIRE(log->recovery().held == reference.available());
    } else {
      const auto first = some_index(3);
      const auto last = Index{first.value() + random() % 40};
      const std::size_t budgets[] = {0, 1, 30, 100, 1000, std::size_t{1} << 30};
      const auto budget = budgets[random() % 6];
      what = fmt::format("read_range({}..={}, {})", first.value(), last.value(), budget);
      REQUIRE(read(*log, IndexRange{first, last}, budget) ==
              read(reference, IndexRange{first, last}, budget));
    }
    INFO("step " << step << ": " << what);
    REQUIRE_FALSE(log->failed());
    expect_same(*log, reference);
  }
  log.reset();
  log = open_log(options);
  INFO("reopened at the end");
  expect_same(*log, reference);
}

} // namespace

TEST_CASE("file_log: fsync policies print and parse", "[storage][file_log]") {
  for (const auto policy : {FsyncPolicy::always, FsyncPolicy::batch, FsyncPolicy::never}) {
    CHECK(parse_fsync_policy(to_string(policy)) == policy);
  }
  CHECK(to_string(FsyncPolicy::batch) == "batch");
  CHECK_FALSE(parse_fsync_policy("sometimes").has_value());
  CHECK_FALSE(parse_fsync_policy("").has_value());
}

TEST_CASE("file_log: a new log is empty, at the sentinel, and creates its directory", "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  auto options = options_in(dir);
  options.directory = dir.path() / "nested" / "log";
  auto log = open_log(options);
  CHECK(fs::is_directory(options.directory));
  CHECK(fs::exists(options.directory / SegmentStore::meta_file_name));
  CHECK(log->available().empty());
  CHECK(log->last() == Cursor::sentinel());
  CHECK(log->term_at(Index{0}) == Term{0});
  CHECK_FALSE(log->term_at(Index{1}).has_value());
  CHECK(log->get(Index{0}) == nullptr);
  CHECK(log->get(Index{1}) == nullptr);
  CHECK(log->segment_count() == 0);
  CHECK(log->recovery().segments == 0);
  CHECK(log->append("a", Term{1}) == Index{1});
  CHECK(log->segment_count() == 1);
  CHECK_FALSE(log->failed());
  CHECK(log->error().empty());
}

TEST_CASE("file_log: behaves like storage::InMemoryLog on random operation sequences",
          "[storage][file_log]") {
  SECTION("fsync never") {
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
      run_random_sequence(FsyncPolicy::never, seed, 700);
    }
  }
  SECTION("fsync batch") {
    for (std::uint64_t seed = 101; seed <= 102; ++seed) {
      run_random_sequence(FsyncPolicy::batch, seed, 400);
    }
  }
  SECTION("fsync always") {
    run_random_sequence(FsyncPolicy::always, 201, 200);
  }
  SECTION("more random seeds (MOSAIK_FILE_LOG_ROUNDS)") {
    const char* text = std::getenv("MOSAIK_FILE_LOG_ROUNDS");
    const auto rounds = text != nullptr ? std::strtoull(text, nullptr, 10) : 0;
    const auto first = std::random_device{}();
    for (std::uint64_t i = 0; i < rounds; ++i) {
      run_random_sequence(FsyncPolicy::never, first + i, 1000);
    }
  }
}

TEST_CASE("file_log: every fsync policy keeps everything across a reopen", "[storage][file_log]") {
  for (const auto policy : {FsyncPolicy::always, FsyncPolicy::batch, FsyncPolicy::never}) {
    INFO("policy " << to_string(policy));
    support::TempDir dir{"mosaik-file-log"};
    const auto options = options_in(dir, policy, 300);
    {
      auto log = open_log(options);
      for (std::uint64_t i = 1; i <= 40; ++i) {
        log->append(command_for(i), Term{1 + (i - 1) / 3});
      }
      log->sync();
      std::vector<E> batch;
      for (std::uint64_t i = 41; i <= 60; ++i) {
        batch.push_back(E{Term{1 + (i - 1) / 3}, command_for(i)});
      }
      log->append_all(std::move(batch));
      CHECK(log->segment_count() > 3);
    } // closing syncs
    auto log = open_log(options);
    CHECK(log->recovery().records == 60);
    CHECK(log->recovery().held == r(1, 60));
    CHECK(log->recovery().segments == log->segment_count());
    check_entries(*log, 60);
  }
}

TEST_CASE("file_log: batch appends reach the file at sync(), always appends at once", "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  SECTION("batch: buffered until sync") {
    auto options = options_in(dir, FsyncPolicy::batch, 1 << 20);
    auto log = open_log(options);
    for (std::uint64_t i = 1; i <= 20; ++i) {
      log->append(command_for(i), Term{1});
    }
    const auto segment = segment_files(dir.path()).at(0);
    CHECK(fs::file_size(segment) == 0);
    log->sync();
    CHECK(fs::file_size(segment) > 20 * SegmentStore::record_header_bytes);
    CHECK(record_offsets(segment).size() == 20);
  }
  SECTION("always: every append is in the file when it returns") {
    auto options = options_in(dir, FsyncPolicy::always, 1 << 20);
    auto log = open_log(options);
    for (std::uint64_t i = 1; i <= 5; ++i) {
      log->append(command_for(i), Term{1});
      CHECK(record_offsets(segment_files(dir.path()).at(0)).size() == i);
    }
  }
}

TEST_CASE("file_log: entries spread over many segments, a large one gets a segment of its own",
          "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  const auto options = options_in(dir, FsyncPolicy::never, 128, 4);
  {
    auto log = open_log(options);
    for (std::uint64_t i = 1; i <= 300; ++i) {
      log->append(command_for(i), Term{1 + (i - 1) / 3});
    }
    CHECK(log->segment_count() >= 100);
    const auto before = log->segment_count();
    const std::string large(1000, 'x'); // far beyond 128 bytes
    CHECK(log->append(large, Term{100}) == Index{301});
    CHECK(log->segment_count() == before + 1);
    CHECK(log->append("after", Term{100}) == Index{302});
    CHECK(log->segment_count() == before + 2);
    CHECK(log->get(Index{301})->command == large);
    CHECK(read(*log, r(299, 302), std::size_t{1} << 20).size() == 4);
  }
  const auto files = segment_files(dir.path());
  // The large entry's segment: a header and one record of 1000 bytes and its length prefix.
  const auto large_segment = files.at(files.size() - 2);
  CHECK(large_segment.filename() == "00000000000000000301.seg");
  CHECK(fs::file_size(large_segment) ==
        SegmentStore::segment_header_bytes + SegmentStore::record_header_bytes + 2 + 1000);
  // Segments are bounded (one record may overflow an otherwise empty segment).
  for (std::size_t i = 0; i + 2 < files.size(); ++i) {
    CHECK(fs::file_size(files[i]) <= 128);
  }
  // Recovery keeps a bounded number of files open: more segments than descriptors is fine.
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  const auto open_now = static_cast<rlim_t>(std::distance(fs::directory_iterator{"/proc/self/fd"}, {}));
  REQUIRE(files.size() > open_now + 16);
  rlimit few = saved;
  few.rlim_cur = open_now + 16;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &few) == 0);
  auto opened = Log::open(options);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  if (const auto* error = std::get_if<std::string>(&opened)) {
    FAIL("open with " << few.rlim_cur << " descriptors failed: " << *error);
  }
  auto log = std::move(std::get<0>(opened));
  CHECK(log->recovery().segments == files.size());
  CHECK(log->last() == Cursor{Term{100}, Index{302}});
  for (std::uint64_t i = 1; i <= 300; ++i) {
    REQUIRE(log->get(Index{i})->command == command_for(i));
  }
  CHECK(log->get(Index{301})->command == std::string(1000, 'x'));
  // One read across every segment.
  const auto all = read(*log, r(1, 302), std::size_t{1} << 30);
  REQUIRE(all.size() == 302);
  CHECK(all[149].command == command_for(150));
}

TEST_CASE("file_log: read_range and encode_range return what get returns, for any range and budget",
          "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  const auto options = options_in(dir, FsyncPolicy::never, 200, 10);
  auto log = open_log(options);
  Reference reference;
  for (std::uint64_t i = 1; i <= 120; ++i) {
    log->append(command_for(i), Term{1 + i / 7});
    reference.append(command_for(i), Term{1 + i / 7});
  }
  log->prune_prefix(Index{13});
  reference.prune_prefix(Index{13});
  for (std::uint64_t first = 10; first <= 123; first += 3) {
    for (std::uint64_t last = first > 2 ? first - 2 : 0; last <= 124; last += 5) {
      for (const std::size_t budget :
           {std::size_t{0}, std::size_t{9}, std::size_t{70}, std::size_t{500}, std::size_t{1} << 30}) {
        INFO("range " << first << "..=" << last << ", budget " << budget);
        const auto got = read(*log, r(first, last), budget);
        REQUIRE(got == read_through_get(*log, r(first, last), budget));
        REQUIRE(got == read(reference, r(first, last), budget));
        // encode_range: the same entries, older ones copied from their records undecoded. Their
        // budget counts stored bytes (a length prefix more than command_size): never more entries.
        wire::EncodedEntries encoded;
        storage::encode_range(*log, r(first, last), budget, encoded, *wire::BufferPool::make());
        const auto sent = test::decode_encoded<std::string>(encoded);
        REQUIRE(sent.size() == encoded.count);
        REQUIRE(sent.size() <= got.size());
        REQUIRE(sent.empty() == got.empty());
        REQUIRE(std::equal(sent.begin(), sent.end(), got.begin()));
        if (budget == 0 || budget == std::size_t{1} << 30) {
          REQUIRE(sent == got);
        }
      }
    }
  }
}

TEST_CASE("file_log: get of an older entry decodes into one slot, cached entries stay put",
          "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  auto log = open_log(options_in(dir, FsyncPolicy::never, 256, 4));
  for (std::uint64_t i = 1; i <= 20; ++i) {
    log->append(command_for(i), Term{i});
  }
  const auto* newest = log->get(Index{20});
  const auto* cached = log->get(Index{17});
  const auto* old = log->get(Index{3});
  REQUIRE(old != nullptr);
  CHECK(old->command == command_for(3));
  CHECK(old->term == Term{3});
  const auto* older = log->get(Index{1});
  CHECK(older == old); // the same slot, now holding entry 1
  CHECK(older->command == command_for(1));
  // The cache is unaffected by reads of older entries.
  CHECK(log->get(Index{20}) == newest);
  CHECK(log->get(Index{17}) == cached);
  CHECK(newest->command == command_for(20));
  CHECK(cached->command == command_for(17));
  CHECK(log->get(Index{16}) == old); // just out of the cache (4 entries)
}

TEST_CASE("file_log: the base cursor and its term survive a reopen", "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  const auto options = options_in(dir, FsyncPolicy::batch, 200);
  write_log(options, 60);

  SECTION("prune within a segment") {
    open_log(options)->prune_prefix(Index{25});
    auto log = open_log(options);
    CHECK(log->available() == r(26, 60));
    CHECK(log->term_at(Index{25}) == Term{9});
    CHECK_FALSE(log->term_at(Index{24}).has_value());
    CHECK(log->get(Index{25}) == nullptr);
    CHECK(log->get(Index{26})->command == command_for(26));
    CHECK(log->recovery().base == Cursor{Term{9}, Index{25}});
    // Segments wholly before the base went; the one holding 26 stays.
    const auto files = segment_files(dir.path());
    REQUIRE(files.size() >= 2);
    CHECK(files[0].filename().string() <= "00000000000000000026.seg");
    CHECK(files[1].filename().string() > "00000000000000000026.seg");
    CHECK(log->append("next", Term{21}) == Index{61});
  }
  SECTION("prune beyond the last entry") {
    open_log(options)->prune_prefix(Index{500});
    CHECK(segment_files(dir.path()).empty());
    auto log = open_log(options);
    CHECK(log->available().empty());
    CHECK(log->last() == Cursor{Term{20}, Index{60}});
    CHECK(log->term_at(Index{60}) == Term{20});
    CHECK(log->append("next", Term{21}) == Index{61});
    log.reset();
    CHECK(open_log(options)->get(Index{61})->command == "next");
  }
  SECTION("reset_to a cursor") {
    open_log(options)->reset_to(Cursor{Term{7}, Index{1000}});
    CHECK(segment_files(dir.path()).empty());
    {
      auto log = open_log(options);
      CHECK(log->available().empty());
      CHECK(log->last() == Cursor{Term{7}, Index{1000}});
      CHECK(log->term_at(Index{1000}) == Term{7});
      CHECK_FALSE(log->term_at(Index{60}).has_value());
      CHECK(log->append("x", Term{8}) == Index{1001});
    }
    auto log = open_log(options);
    CHECK(log->available() == r(1001, 1001));
    CHECK(log->term_at(Index{1000}) == Term{7});
    CHECK(log->get(Index{1001})->command == "x");
  }
}

TEST_CASE("file_log: segments left by an interrupted prune or reset are removed on open",
          "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  const auto options = options_in(dir, FsyncPolicy::never, 200);
  write_log(options, 60);
  const auto before = segment_files(dir.path());
  const auto saved = dir.path() / "saved";
  fs::create_directory(saved);
  for (const auto& file : before) {
    fs::copy_file(file, saved / file.filename());
  }
  const auto restore = [&] {
    for (const auto& file : before) {
      fs::copy_file(saved / file.filename(), file, fs::copy_options::overwrite_existing);
    }
  };

  SECTION("prune: the meta file moved on, the segments were not unlinked yet") {
    open_log(options)->prune_prefix(Index{30});
    restore();
    auto log = open_log(options);
    CHECK(log->recovery().segments_removed > 0);
    CHECK(log->available() == r(31, 60));
    CHECK(log->term_at(Index{30}) == Term{10});
    CHECK(segment_files(dir.path()).size() == log->segment_count());
    CHECK(log->get(Index{31})->command == command_for(31));
  }
  SECTION("reset: segments of the old epoch") {
    open_log(options)->reset_to(Cursor{Term{3}, Index{10}});
    restore();
    auto log = open_log(options);
    CHECK(log->recovery().segments_removed == before.size());
    CHECK(log->available().empty());
    CHECK(log->last() == Cursor{Term{3}, Index{10}});
    CHECK(segment_files(dir.path()).empty());
    CHECK(log->append("y", Term{3}) == Index{11});
  }
}

TEST_CASE("file_log: a torn or corrupt tail of the last segment is cut on open", "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  const auto options = options_in(dir, FsyncPolicy::never, 400);
  write_log(options, 50);
  const auto files = segment_files(dir.path());
  REQUIRE(files.size() >= 3);
  const auto last_segment = files.back();
  const auto offsets = record_offsets(last_segment);
  REQUIRE(offsets.size() >= 2);
  const auto last_record = offsets.back();
  const auto size = fs::file_size(last_segment);
  std::uint64_t expected_last = 49;
  std::uint64_t expected_cut = size - last_record;
  std::uint64_t expected_cut_offset = last_record;

  SECTION("a flipped payload byte in the last record") {
    flip_byte(last_segment, last_record + SegmentStore::record_header_bytes + 1);
  }
  SECTION("a flipped byte of the last record's index") {
    flip_byte(last_segment, last_record + 8);
  }
  SECTION("a length that runs past the end of the file") {
    flip_byte(last_segment, last_record + 2);
  }
  SECTION("the file cut in the middle of the last record's header") {
    fs::resize_file(last_segment, last_record + 10);
    expected_cut = 10;
  }
  SECTION("the file cut in the middle of the last record's payload") {
    fs::resize_file(last_segment, last_record + SegmentStore::record_header_bytes + 3);
    expected_cut = SegmentStore::record_header_bytes + 3;
  }
  SECTION("a zero-filled tail after the last record (preallocated)") {
    auto bytes = read_bytes(last_segment);
    bytes.resize(bytes.size() + 4096, std::byte{0});
    write_bytes(last_segment, bytes);
    expected_last = 50;
    expected_cut = 4096;
    expected_cut_offset = size;
  }
  SECTION("garbage after the last record") {
    auto bytes = read_bytes(last_segment);
    for (int i = 0; i < 100; ++i) {
      bytes.push_back(static_cast<std::byte>(i * 37 + 11));
    }
    write_bytes(last_segment, bytes);
    expected_last = 50;
    expected_cut = 100;
    expected_cut_offset = size;
  }

  {
    auto log = open_log(options);
    const auto& report = log->recovery();
    CHECK(report.bytes_cut == expected_cut);
    REQUIRE(report.tail_cut_offset.has_value());
    CHECK(*report.tail_cut_offset == expected_cut_offset);
    CHECK(report.tail_cut_segment == last_segment);
    CHECK(report.held == r(1, expected_last));
    check_entries(*log, expected_last);
    CHECK(fs::file_size(last_segment) == expected_cut_offset);
    CHECK(log->append("after the cut", Term{40}) == Index{expected_last + 1});
  }
  auto log = open_log(options);
  CHECK(log->recovery().bytes_cut == 0);
  CHECK_FALSE(log->recovery().tail_cut_offset.has_value());
  CHECK(log->get(Index{expected_last + 1})->command == "after the cut");
}

TEST_CASE("file_log: a last segment torn at creation is removed on open", "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  const auto options = options_in(dir, FsyncPolicy::never, 400);
  write_log(options, 30);
  const auto next = dir.path() / "00000000000000000031.seg";
  std::uint64_t size = 0;
  SECTION("a partial header") {
    write_bytes(next, std::vector<std::byte>(10, std::byte{'M'}));
    size = 10;
  }
  SECTION("a zero-filled file") {
    write_bytes(next, std::vector<std::byte>(4096, std::byte{0}));
    size = 4096;
  }
  SECTION("an empty file") {
    write_bytes(next, {});
  }
  auto log = open_log(options);
  CHECK_FALSE(fs::exists(next));
  CHECK(log->recovery().bytes_cut == size);
  check_entries(*log, 30);
  CHECK(log->append("x", Term{99}) == Index{31});
}

TEST_CASE("file_log: damage that is not a torn tail refuses to open, naming the file and offset",
          "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  const auto options = options_in(dir, FsyncPolicy::never, 400);
  write_log(options, 50);
  const auto files = segment_files(dir.path());
  REQUIRE(files.size() >= 3);
  const auto middle = files[1];
  const auto middle_name = middle.filename().string();
  std::vector<std::string> expected;

  SECTION("a flipped byte in a middle segment's record") {
    flip_byte(middle, SegmentStore::segment_header_bytes + SegmentStore::record_header_bytes + 1);
    expected = {middle_name, "offset 32", "checksum mismatch", "not the last"};
  }
  SECTION("a middle segment cut short") {
    fs::resize_file(middle, fs::file_size(middle) - 5);
    expected = {middle_name, "runs past the end"};
  }
  SECTION("a bad record followed by valid ones in the last segment") {
    const auto offsets = record_offsets(files.back());
    REQUIRE(offsets.size() >= 2);
    flip_byte(files.back(), offsets.front() + SegmentStore::record_header_bytes);
    expected = {files.back().filename().string(), fmt::format("offset {}", offsets.front()),
                "follows at offset", fmt::format("{}", offsets[1])};
  }
  SECTION("a middle segment deleted: the chain is broken") {
    fs::remove(middle);
    expected = {files[0].filename().string(), "chain is broken", files[2].filename().string()};
  }
  SECTION("the first segment deleted: entries are missing") {
    fs::remove(files[0]);
    expected = {middle_name, "are missing"};
  }
  SECTION("a bad magic in a segment header") {
    flip_byte(middle, 0);
    expected = {middle_name, "offset 0", "bad magic"};
  }
  SECTION("a bad magic in the last segment's header") {
    flip_byte(files.back(), 3);
    expected = {files.back().filename().string(), "offset 0", "bad magic"};
  }
  SECTION("a zero-filled header in a middle segment") {
    auto bytes = read_bytes(middle);
    std::fill_n(bytes.begin(), SegmentStore::segment_header_bytes, std::byte{0});
    write_bytes(middle, bytes);
    expected = {middle_name, "offset 0", "zero-filled"};
  }
  SECTION("a segment header whose checksum does not match") {
    flip_byte(middle, 20); // in the first index
    expected = {middle_name, "offset 12", "checksum mismatch"};
  }
  SECTION("an unsupported segment format version") {
    auto bytes = read_bytes(middle);
    bytes[8] = std::byte{9};
    write_bytes(middle, bytes);
    expected = {middle_name, "version 9"};
  }
  SECTION("a segment whose header disagrees with its name") {
    const auto renamed = dir.path() / fmt::format("{:020}.seg", 1000);
    fs::rename(files.back(), renamed);
    expected = {renamed.filename().string(), "says first index", "1000"};
  }
  SECTION("garbage in the meta file") {
    std::vector<std::byte> junk(40);
    for (std::size_t i = 0; i < junk.size(); ++i) {
      junk[i] = static_cast<std::byte>(i * 13 + 7);
    }
    write_bytes(dir.path() / SegmentStore::meta_file_name, junk);
    expected = {SegmentStore::meta_file_name, "bad magic"};
  }
  SECTION("a meta file of the wrong size") {
    write_bytes(dir.path() / SegmentStore::meta_file_name, std::vector<std::byte>(7, std::byte{1}));
    expected = {SegmentStore::meta_file_name, "7 bytes where 40 were expected"};
  }
  SECTION("a flipped byte in the meta file") {
    flip_byte(dir.path() / SegmentStore::meta_file_name, 20);
    expected = {SegmentStore::meta_file_name, "checksum mismatch"};
  }
  SECTION("the meta file deleted while segments remain") {
    fs::remove(dir.path() / SegmentStore::meta_file_name);
    expected = {SegmentStore::meta_file_name, "missing"};
  }

  const auto error = open_error(options);
  INFO("error: " << error);
  for (const auto& part : expected) {
    CHECK(error.find(part) != std::string::npos);
  }
  // Nothing was repaired behind our back: the same error again.
  CHECK(open_error(options) == error);
}

TEST_CASE("file_log: a record that does not decode as the command type refuses to open",
          "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  const auto options = options_in(dir, FsyncPolicy::never, 400);
  write_log(options, 5); // strings: a length, then characters; never a bool
  const auto error = open_error<bool>(options);
  INFO("error: " << error);
  CHECK(error.find("00000000000000000001.seg") != std::string::npos);
  CHECK(error.find("record 1 at offset 32") != std::string::npos);
  CHECK(error.find("does not decode") != std::string::npos);
  // The same records decode as strings.
  check_entries(*open_log(options), 5);
}

TEST_CASE("file_log: the directory is locked while a log has it open", "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  const auto options = options_in(dir);
  auto log = open_log(options);
  CHECK(open_error(options).find("in use") != std::string::npos);
  log.reset();
  CHECK(open_log(options)->available().empty());
}

TEST_CASE("file_log: options out of range are refused", "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  auto options = options_in(dir);
  options.segment_bytes = 10;
  CHECK(open_error(options).find("segment_bytes") != std::string::npos);
  options.segment_bytes = std::uint64_t{1} << 40;
  CHECK(open_error(options).find("segment_bytes") != std::string::npos);
  options.segment_bytes = 256;
  options.directory.clear();
  CHECK(open_error(options).find("no directory") != std::string::npos);
}

TEST_CASE("file_log: a write error latches failed() and refuses further changes", "[storage][file_log]") {
  support::TempDir dir{"mosaik-file-log"};
  auto options = options_in(dir, FsyncPolicy::batch, std::uint64_t{1} << 20);
  options.write_buffer_bytes = 0; // every append goes to the file at once
  auto log = open_log(options);
  CHECK(log->append("fits", Term{1}) == Index{1});

  // Files may not grow beyond 64 KiB for a moment: the next large write fails (EFBIG, not SIGXFSZ).
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 64 << 10;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  const auto after_large = log->append(std::string(100'000, 'z'), Term{1});
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
  std::signal(SIGXFSZ, previous_handler);

  CHECK(log->failed());
  CHECK(log->error().find(".seg") != std::string::npos);
  CHECK(log->error().find("cannot write") != std::string::npos);
  CHECK(after_large == Index{2}); // accepted in memory before its write failed
  // Refused from now on.
  CHECK(log->append("refused", Term{1}) == Index{2});
  log->append_all({E{Term{1}, "refused too"}});
  log->truncate(Index{1});
  log->prune_prefix(Index{1});
  log->reset_to(Cursor{Term{5}, Index{50}});
  log->sync();
  CHECK(log->available() == r(1, 2));
  CHECK(log->get(Index{1})->command == "fits");
  CHECK(log->failed());
  log.reset();

  // Reopened: what reached the disk, and the torn write cut.
  auto reopened = open_log(options);
  CHECK(reopened->recovery().bytes_cut > 0);
  CHECK_FALSE(reopened->failed());
  CHECK(reopened->last().index == Index{1});
  CHECK(reopened->get(Index{1})->command == "fits");
}
