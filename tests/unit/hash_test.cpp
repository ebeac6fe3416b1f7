// core/hash.hpp: the values are pinned, because GroupIds, state digests and
// the simulator's trace hashes are built from them and must never change.

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include <catch2/catch.hpp>

#include <mosaik/core/hash.hpp>
#include <mosaik/group/group_id.hpp>

namespace mosaik {
namespace {

// The published FNV-1a 64-bit test vectors.
static_assert(fnv1a(std::string_view{}) == kFnv1aOffset);
static_assert(fnv1a(std::string_view{"a"}) == 0xaf63dc4c8601ec8cULL);
static_assert(fnv1a(std::string_view{"foobar"}) == 0x85944171f73967e8ULL);
// A running state: hashing in two pieces is hashing the whole.
static_assert(fnv1a(std::string_view{"bar"}, fnv1a(std::string_view{"foo"})) == 0x85944171f73967e8ULL);

TEST_CASE("fnv1a over bytes equals fnv1a over the same characters", "[unit][hash]") {
  constexpr std::array<unsigned char, 6> bytes{'f', 'o', 'o', 'b', 'a', 'r'};
  CHECK(fnv1a(std::span{bytes}) == fnv1a(std::string_view{"foobar"}));
  constexpr std::array<unsigned char, 8> little_endian{0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
  CHECK(fnv1a_u64(0x0102030405060708ULL, 42) == fnv1a(std::span{little_endian}, 42));
}

TEST_CASE("splitmix64 gives the reference generator's outputs", "[unit][hash]") {
  // Vigna's splitmix64.c from state 0.
  std::uint64_t state = 0;
  CHECK(splitmix64_next(state) == 0xe220a8397b1dcdafULL);
  CHECK(splitmix64_next(state) == 0x6e789e6aa1b965f4ULL);
  CHECK(splitmix64_next(state) == 0x06c45d188009454fULL);
  CHECK(state == 3 * kGoldenGamma);
  CHECK(splitmix64(0) == 0xe220a8397b1dcdafULL);
  CHECK(splitmix64(kGoldenGamma) == 0x6e789e6aa1b965f4ULL);
}

TEST_CASE("mix64 is murmur3's fmix64", "[unit][hash]") {
  CHECK(mix64(0) == 0);
  CHECK(mix64(1) == 0xb456bcfc34c2cb2cULL);
}

TEST_CASE("GroupIds keep their values", "[unit][hash]") {
  // FNV-1a over each part's 8-byte little-endian length, then its bytes.
  CHECK(group::derive_group_id({"key", "mosaik.kv/v1"}) == GroupId{0x9fccca994c166280ULL});
  CHECK(group::derive_group_id({"ab", "c"}) != group::derive_group_id({"a", "bc"}));
}

} // namespace
} // namespace mosaik
