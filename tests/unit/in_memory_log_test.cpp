// Unit tests of InMemoryLog, the LogStorage kept in memory, and of the
// default LogStorage::read_range.

#include <catch2/catch.hpp>

#include "reference_history.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../support/decode_encoded.hpp"
#include "../support/forwarding_log.hpp"
#include <mosaik/storage/in_memory_log.hpp>

using namespace mosaik;

namespace {

using Log = storage::InMemoryLog<std::string>;
using E = Entry<std::string>;

using mosaik::test::r;

std::string command_for(std::uint64_t index) {
  return "cmd-" + std::to_string(index);
}

/// Entries 1..=count with the terms 1,1,1,2,2,2,3,... (three per term).
Log make_log(std::uint64_t count) {
  Log log;
  for (std::uint64_t i = 1; i <= count; ++i) {
    log.append(command_for(i), Term{1 + (i - 1) / 3});
  }
  return log;
}

/// A LogStorage that forwards to an InMemoryLog but keeps the default read_range.
using DefaultReadRange = test::ForwardingLog<Log&>;

std::vector<E> read(const storage::LogStorage<std::string>& log, IndexRange range,
                    std::size_t max_bytes = 1U << 30) {
  std::vector<E> out;
  log.read_range(range, max_bytes, out);
  return out;
}

} // namespace

TEST_CASE("storage::InMemoryLog: an empty log", "[storage]") {
  Log log;
  CHECK(log.available().empty());
  CHECK(log.last() == Cursor::sentinel());
  CHECK(log.size() == 0);
  CHECK(log.get(Index{0}) == nullptr);
  CHECK(log.get(Index{1}) == nullptr);
  REQUIRE(log.term_at(Index{0}).has_value());
  CHECK(*log.term_at(Index{0}) == Term{0});
  CHECK_FALSE(log.term_at(Index{1}).has_value());
  CHECK(read(log, r(1, 10)).empty());
}

TEST_CASE("storage::InMemoryLog: append, get, available, last and term_at", "[storage]") {
  Log log;
  CHECK(log.append("a", Term{1}) == Index{1});
  CHECK(log.append("b", Term{1}) == Index{2});
  CHECK(log.append("c", Term{4}) == Index{3});

  CHECK(log.available() == r(1, 3));
  CHECK(log.last() == Cursor{Term{4}, Index{3}});
  CHECK(log.size() == 3);

  REQUIRE(log.get(Index{1}) != nullptr);
  CHECK(log.get(Index{1})->command == "a");
  CHECK(log.get(Index{1})->term == Term{1});
  CHECK(log.get(Index{3})->command == "c");
  CHECK(log.get(Index{3})->term == Term{4});
  CHECK(log.get(Index{0}) == nullptr); // the sentinel is no entry
  CHECK(log.get(Index{4}) == nullptr);

  CHECK(log.term_at(Index{0}) == Term{0});
  CHECK(log.term_at(Index{2}) == Term{1});
  CHECK(log.term_at(Index{3}) == Term{4});
  CHECK_FALSE(log.term_at(Index{4}).has_value());
}

TEST_CASE("storage::InMemoryLog: truncate drops a suffix", "[storage]") {
  auto log = make_log(10);

  SECTION("from the middle") {
    log.truncate(Index{6});
    CHECK(log.available() == r(1, 5));
    CHECK(log.last() == Cursor{Term{2}, Index{5}});
    CHECK(log.get(Index{6}) == nullptr);
    CHECK_FALSE(log.term_at(Index{6}).has_value());
    CHECK(log.append("new", Term{9}) == Index{6});
    CHECK(log.get(Index{6})->command == "new");
    CHECK(log.get(Index{5})->command == command_for(5));
  }
  SECTION("beyond the end: nothing") {
    log.truncate(Index{11});
    CHECK(log.available() == r(1, 10));
    log.truncate(Index{1000});
    CHECK(log.last().index == Index{10});
  }
  SECTION("at the last entry") {
    log.truncate(Index{10});
    CHECK(log.last() == Cursor{Term{3}, Index{9}});
  }
  SECTION("everything") {
    log.truncate(Index{1});
    CHECK(log.available().empty());
    CHECK(log.last() == Cursor::sentinel());
    CHECK(log.append("x", Term{1}) == Index{1});
  }
  SECTION("from the sentinel: everything") {
    log.truncate(Index{0});
    CHECK(log.available().empty());
    CHECK(log.last() == Cursor::sentinel());
  }
}

TEST_CASE("storage::InMemoryLog: prune_prefix keeps the meaning of later indices", "[storage]") {
  auto log = make_log(10);

  SECTION("a prefix") {
    log.prune_prefix(Index{4});
    CHECK(log.available() == r(5, 10));
    CHECK(log.size() == 6);
    CHECK(log.last() == Cursor{Term{4}, Index{10}});
    for (std::uint64_t i = 1; i <= 4; ++i) {
      CHECK(log.get(Index{i}) == nullptr);
    }
    for (std::uint64_t i = 5; i <= 10; ++i) {
      REQUIRE(log.get(Index{i}) != nullptr);
      CHECK(log.get(Index{i})->command == command_for(i));
      CHECK(log.term_at(Index{i}) == Term{1 + (i - 1) / 3});
    }
    // The last pruned entry is the base: its term is still known.
    CHECK(log.term_at(Index{4}) == Term{2});
    CHECK_FALSE(log.term_at(Index{3}).has_value());
    CHECK_FALSE(log.term_at(Index{1}).has_value());
    CHECK(log.term_at(Index{0}) == Term{0});
    // Appends continue the numbering.
    CHECK(log.append("eleven", Term{4}) == Index{11});
    CHECK(log.get(Index{11})->command == "eleven");
    CHECK(read(log, r(1, 6)).size() == 2); // only 5 and 6 are held
  }
  SECTION("twice, and at or behind the base: nothing more") {
    log.prune_prefix(Index{3});
    log.prune_prefix(Index{6});
    CHECK(log.available() == r(7, 10));
    log.prune_prefix(Index{6});
    log.prune_prefix(Index{2});
    log.prune_prefix(Index{0});
    CHECK(log.available() == r(7, 10));
    CHECK(log.term_at(Index{6}) == Term{2});
  }
  SECTION("up to the last entry: empty, positioned at the last cursor") {
    log.prune_prefix(Index{10});
    CHECK(log.available().empty());
    CHECK(log.last() == Cursor{Term{4}, Index{10}});
    CHECK(log.term_at(Index{10}) == Term{4});
    CHECK(log.get(Index{10}) == nullptr);
    CHECK(log.append("x", Term{5}) == Index{11});
    CHECK(log.available() == r(11, 11));
  }
  SECTION("beyond the last entry") {
    log.prune_prefix(Index{50});
    CHECK(log.available().empty());
    CHECK(log.last() == Cursor{Term{4}, Index{10}});
    CHECK(log.append("x", Term{5}) == Index{11});
  }
  SECTION("then truncate behind the base empties the log but keeps the base") {
    log.prune_prefix(Index{4});
    log.truncate(Index{2});
    CHECK(log.available().empty());
    CHECK(log.last() == Cursor{Term{2}, Index{4}});
    CHECK(log.append("x", Term{2}) == Index{5});
  }
}

TEST_CASE("storage::InMemoryLog: reset_to positions an empty log at a cursor", "[storage]") {
  auto log = make_log(10);
  log.reset_to(Cursor{Term{7}, Index{500}});
  CHECK(log.available().empty());
  CHECK(log.size() == 0);
  CHECK(log.last() == Cursor{Term{7}, Index{500}});
  CHECK(log.term_at(Index{500}) == Term{7});
  CHECK(log.term_at(Index{0}) == Term{0});
  CHECK_FALSE(log.term_at(Index{499}).has_value());
  CHECK_FALSE(log.term_at(Index{5}).has_value());
  CHECK(log.get(Index{5}) == nullptr);
  CHECK(log.append("x", Term{7}) == Index{501});
  CHECK(log.available() == r(501, 501));
  CHECK(log.last() == Cursor{Term{7}, Index{501}});

  SECTION("a log constructed at a base behaves the same") {
    Log based{Cursor{Term{7}, Index{500}}};
    CHECK(based.last() == Cursor{Term{7}, Index{500}});
    CHECK(based.append("x", Term{7}) == Index{501});
    CHECK(based.available() == log.available());
  }
}

TEST_CASE("storage::InMemoryLog: read_range skips what is not held and respects a byte budget", "[storage]") {
  auto log = make_log(10); // commands "cmd-1" (5 bytes) .. "cmd-10" (6 bytes)
  log.prune_prefix(Index{2});

  SECTION("out of bounds entries are skipped") {
    const auto entries = read(log, r(1, 20));
    REQUIRE(entries.size() == 8);
    CHECK(entries.front().command == command_for(3));
    CHECK(entries.back().command == command_for(10));
    CHECK(read(log, r(11, 20)).empty());
    CHECK(read(log, r(1, 2)).empty());
    CHECK(read(log, IndexRange{}).empty());
  }
  SECTION("in order, with terms") {
    const auto entries = read(log, r(4, 6));
    REQUIRE(entries.size() == 3);
    for (std::uint64_t i = 0; i < 3; ++i) {
      CHECK(entries[i].command == command_for(4 + i));
      CHECK(entries[i].term == *log.term_at(Index{4 + i}));
    }
  }
  SECTION("a byte budget stops early") {
    // 5 bytes per entry for 3..=9.
    CHECK(read(log, r(3, 10), 15).size() == 3);
    CHECK(read(log, r(3, 10), 14).size() == 2);
    CHECK(read(log, r(3, 10), 10).size() == 2);
    CHECK(read(log, r(3, 10), 5).size() == 1);
    // At least one entry, whatever the budget.
    CHECK(read(log, r(3, 10), 1).size() == 1);
    CHECK(read(log, r(3, 10), 0).size() == 1);
    CHECK(read(log, r(3, 10), 0).front().command == command_for(3));
  }
  SECTION("appends to what `out` already holds") {
    std::vector<E> out{E{Term{9}, "already"}};
    log.read_range(r(3, 4), 1000, out);
    REQUIRE(out.size() == 3);
    CHECK(out[0].command == "already");
    CHECK(out[1].command == command_for(3));
  }
}

TEST_CASE("storage::LogStorage: the default read_range, and encode_range, agree with storage::InMemoryLog's "
          "read_range",
          "[storage]") {
  auto inner = make_log(30);
  inner.prune_prefix(Index{5});
  const DefaultReadRange wrapped{inner};
  for (const auto& range : {r(1, 40), r(1, 5), r(6, 6), r(10, 20), r(29, 35), r(31, 40), IndexRange{}}) {
    for (const std::size_t budget :
         {std::size_t{0}, std::size_t{5}, std::size_t{13}, std::size_t{60}, std::size_t{1} << 20}) {
      INFO("range " << range.first().value() << ".." << range.last().value() << " budget " << budget);
      const auto expected = read(inner, range, budget);
      CHECK(read(wrapped, range, budget) == expected);
      // encode_range encodes the same entries where they lie, without a copy of any.
      wire::EncodedEntries encoded;
      storage::encode_range(wrapped, range, budget, encoded, *wire::BufferPool::make());
      CHECK(encoded.count == expected.size());
      CHECK(test::decode_encoded<std::string>(encoded) == expected);
    }
  }
}

TEST_CASE("storage::LogStorage: append_all appends in order", "[storage]") {
  Log log;
  log.append("first", Term{1});
  std::vector<E> batch{E{Term{1}, "a"}, E{Term{2}, "b"}, E{Term{2}, "c"}};
  log.append_all(std::move(batch));
  CHECK(log.available() == r(1, 4));
  CHECK(log.get(Index{2})->command == "a");
  CHECK(log.get(Index{4})->command == "c");
  CHECK(log.last() == Cursor{Term{2}, Index{4}});
}
