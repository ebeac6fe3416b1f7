// Unit tests of the vocabulary types: Index, Term, Cursor, IndexRange, ids,
// their fmt formatting and command_size().

#include <catch2/catch.hpp>

#include "reference_history.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <mosaik/core/command_size.hpp>
#include <mosaik/core/cursor.hpp>
#include <mosaik/core/format.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/index.hpp>
#include <mosaik/core/index_range.hpp>

using namespace mosaik;

namespace {

using mosaik::test::r;

} // namespace

namespace vocabulary_test {
/// A command type with its own size, found by argument-dependent lookup.
struct Blob {
  std::uint64_t declared = 0;
};
std::size_t mosaik_command_size(const Blob& blob) {
  return static_cast<std::size_t>(blob.declared);
}
} // namespace vocabulary_test

TEST_CASE("Index: sentinel, next, prev, arithmetic and distance", "[vocabulary]") {
  STATIC_REQUIRE(Index{}.is_sentinel());
  STATIC_REQUIRE(Index::sentinel() == Index{0});
  STATIC_REQUIRE(!Index{1}.is_sentinel());

  CHECK(Index{7}.next() == Index{8});
  CHECK(Index{7}.prev() == Index{6});
  CHECK(Index{1}.prev() == Index{0});
  CHECK(Index{0}.prev() == Index{0}); // the sentinel stays the sentinel

  CHECK(Index{10} + 5 == Index{15});
  CHECK(Index{10} - 3 == Index{7});
  CHECK(Index{10} - 10 == Index{0});
  CHECK(Index{10} - 11 == Index{0}); // saturates
  CHECK(Index{2} - 1000 == Index{0});

  CHECK(Index{10}.distance_from(Index{4}) == 6);
  CHECK(Index{10}.distance_from(Index{10}) == 0);
  CHECK(Index{4}.distance_from(Index{10}) == 0); // behind: 0

  CHECK(Index{3} < Index{4});
  CHECK(Index::max().value() == ~std::uint64_t{0});
  CHECK(Index::max() > Index{1'000'000'000'000ULL});
}

TEST_CASE("Term: ordering and next", "[vocabulary]") {
  CHECK(Term{}.value() == 0);
  CHECK(Term{2}.next() == Term{3});
  CHECK(Term{1} < Term{2});
  CHECK(Term{5} == Term{5});
}

TEST_CASE("Cursor: equality and the sentinel", "[vocabulary]") {
  CHECK(Cursor::sentinel() == Cursor{Term{0}, Index{0}});
  CHECK(Cursor{Term{3}, Index{120}} == Cursor{Term{3}, Index{120}});
  CHECK(Cursor{Term{3}, Index{120}} != Cursor{Term{4}, Index{120}});
  CHECK(Cursor{Term{3}, Index{120}} != Cursor{Term{3}, Index{121}});
}

TEST_CASE("IndexRange: empty ranges", "[vocabulary]") {
  const IndexRange empty;
  CHECK(empty.empty());
  CHECK(empty.size() == 0);
  CHECK(IndexRange::empty_range().empty());
  CHECK(r(5, 4).empty());
  CHECK(r(100, 3).empty());
  CHECK(r(100, 3).size() == 0);
  CHECK_FALSE(r(0, 0).empty()); // the range of the sentinel alone is one index
  CHECK(r(0, 0).size() == 1);
  CHECK(IndexRange::starting_at(Index{10}, 0).empty());

  SECTION("all empty ranges compare equal, and unequal to any non-empty range") {
    CHECK(empty == r(5, 4));
    CHECK(r(9, 2) == r(100, 3));
    CHECK(empty != r(1, 1));
    CHECK(r(1, 1) != empty);
  }
  SECTION("an empty range contains no index, and is contained in every range") {
    for (std::uint64_t i = 0; i < 10; ++i) {
      CHECK_FALSE(empty.contains(Index{i}));
      CHECK_FALSE(r(5, 4).contains(Index{i}));
    }
    CHECK(r(1, 10).contains(empty));
    CHECK(empty.contains(empty));
    CHECK_FALSE(empty.contains(r(1, 1)));
  }
  SECTION("operations on empty ranges stay empty") {
    CHECK(empty.take_front(10).empty());
    CHECK(empty.after(Index{0}).empty());
    CHECK(r(5, 4).after(Index{1}).empty());
    CHECK(empty.intersect(r(1, 10)).empty());
    CHECK(r(1, 10).intersect(empty).empty());
    CHECK_FALSE(empty.overlaps(r(1, 10)));
    CHECK_FALSE(r(1, 10).overlaps(empty));
  }
}

TEST_CASE("IndexRange: size, first, last, starting_at", "[vocabulary]") {
  const auto range = r(120, 2119);
  CHECK(range.first() == Index{120});
  CHECK(range.last() == Index{2119});
  CHECK(range.size() == 2000);
  CHECK(IndexRange::starting_at(Index{120}, 2000) == range);
  CHECK(IndexRange::starting_at(Index{7}, 1) == r(7, 7));
  CHECK(r(7, 7).size() == 1);
}

TEST_CASE("IndexRange: contains an index or a range", "[vocabulary]") {
  const auto range = r(10, 20);
  CHECK_FALSE(range.contains(Index{9}));
  CHECK(range.contains(Index{10}));
  CHECK(range.contains(Index{15}));
  CHECK(range.contains(Index{20}));
  CHECK_FALSE(range.contains(Index{21}));

  CHECK(range.contains(range));
  CHECK(range.contains(r(10, 10)));
  CHECK(range.contains(r(12, 18)));
  CHECK(range.contains(r(20, 20)));
  CHECK_FALSE(range.contains(r(9, 12)));
  CHECK_FALSE(range.contains(r(18, 21)));
  CHECK_FALSE(range.contains(r(1, 100)));
  CHECK_FALSE(range.contains(r(30, 40)));
}

TEST_CASE("IndexRange: intersect and overlaps", "[vocabulary]") {
  const auto range = r(10, 20);
  CHECK(range.intersect(r(15, 30)) == r(15, 20));
  CHECK(range.intersect(r(1, 12)) == r(10, 12));
  CHECK(range.intersect(r(12, 14)) == r(12, 14));
  CHECK(range.intersect(r(1, 100)) == range);
  CHECK(range.intersect(r(20, 25)) == r(20, 20));
  CHECK(range.intersect(r(5, 10)) == r(10, 10));
  CHECK(range.intersect(r(21, 30)).empty());
  CHECK(range.intersect(r(1, 9)).empty());

  CHECK(range.overlaps(r(20, 25)));
  CHECK(range.overlaps(r(1, 10)));
  CHECK_FALSE(range.overlaps(r(21, 25)));
  CHECK_FALSE(range.overlaps(r(1, 9)));
  // Symmetric.
  CHECK(r(15, 30).intersect(range) == range.intersect(r(15, 30)));
}

TEST_CASE("IndexRange: take_front", "[vocabulary]") {
  const auto range = r(10, 20);
  CHECK(range.take_front(0).empty());
  CHECK(range.take_front(1) == r(10, 10));
  CHECK(range.take_front(5) == r(10, 14));
  CHECK(range.take_front(11) == range);
  CHECK(range.take_front(1000) == range);
  CHECK(range.take_front(5).size() == 5);
}

TEST_CASE("IndexRange: after a prefix", "[vocabulary]") {
  const auto range = r(10, 20);
  CHECK(range.after(Index{0}) == range);
  CHECK(range.after(Index{9}) == range);
  CHECK(range.after(Index{10}) == r(11, 20));
  CHECK(range.after(Index{15}) == r(16, 20));
  CHECK(range.after(Index{19}) == r(20, 20));
  CHECK(range.after(Index{20}).empty());
  CHECK(range.after(Index{1000}).empty());
}

TEST_CASE("fmt formatting of the vocabulary types", "[vocabulary][format]") {
  CHECK(fmt::format("{}", Index{120}) == "120");
  CHECK(fmt::format("{}", Term{3}) == "3");
  CHECK(fmt::format("{}", Cursor{Term{3}, Index{120}}) == "t3/i120");
  CHECK(fmt::format("{}", Cursor::sentinel()) == "t0/i0");
  CHECK(fmt::format("{}", r(120, 2119)) == "[120..=2119]");
  CHECK(fmt::format("{}", r(7, 7)) == "[7..=7]");
  CHECK(fmt::format("{}", r(0, 0)) == "[0..=0]");
  CHECK(fmt::format("{}", IndexRange{}) == "[]");
  CHECK(fmt::format("{}", r(10, 3)) == "[]");
  CHECK(fmt::format("a {} b", r(1, 2)) == "a [1..=2] b");

  // Ids: short hex, at most 8 digits (the most significant ones).
  CHECK(fmt::format("{}", PeerId{0x2a}) == "2a");
  CHECK(fmt::format("{}", PeerId{0}) == "0");
  CHECK(fmt::format("{}", GroupId{0xffffffffULL}) == "ffffffff");
  CHECK(fmt::format("{}", NetworkId{0x123456789abcdef0ULL}) == "12345678");
  CHECK(fmt::format("{}", PeerId{0x1234567890ULL}) == "12345678");
}

TEST_CASE("Ids: distinct, ordered and hashable", "[vocabulary]") {
  CHECK(PeerId{1} < PeerId{2});
  CHECK(PeerId{1} == PeerId{1});
  CHECK(PeerId{}.value() == 0);
  const std::hash<PeerId> hash;
  CHECK(hash(PeerId{1}) != hash(PeerId{2}));
  CHECK(hash(PeerId{7}) == hash(PeerId{7}));
}

TEST_CASE("command_size: strings, containers, trivial types and custom sizes", "[vocabulary]") {
  CHECK(command_size(std::string{}) == 0);
  CHECK(command_size(std::string(37, 'x')) == 37);
  CHECK(command_size(std::string_view{"hello"}) == 5);
  CHECK(command_size(std::vector<std::uint32_t>{1, 2, 3}) == 12);
  CHECK(command_size(std::vector<std::uint8_t>(1000)) == 1000);
  CHECK(command_size(std::array<std::uint16_t, 4>{}) == 8);
  CHECK(command_size(vocabulary_test::Blob{12345}) == 12345);
  CHECK(command_size(vocabulary_test::Blob{0}) == 0);
}

// Regression: command_size() of a trivially copyable non-range (an integer, a
// POD struct) once failed to compile because range_value_t was formed for it.
namespace vocabulary_test {
struct Pod {
  std::uint32_t a;
  std::uint32_t b;
};
} // namespace vocabulary_test

TEST_CASE("command_size: trivially copyable non-range types report their size", "[vocabulary]") {
  CHECK(command_size(std::uint64_t{42}) == 8);
  CHECK(command_size(std::int32_t{42}) == 4);
  CHECK(command_size(vocabulary_test::Pod{1, 2}) == sizeof(vocabulary_test::Pod));
}
