// Unit tests of CRC-32C (mosaik/storage/crc32c.hpp): the standard test
// vectors (RFC 3720, B.4), the extend semantics of the seed, and the hardware
// path (SSE4.2) against the software one (slicing-by-8) on random buffers.

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

#include <mosaik/storage/crc32c.hpp>

using namespace mosaik::storage;

namespace {

std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> out(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    out[i] = static_cast<std::byte>(text[i]);
  }
  return out;
}

std::vector<std::byte> filled(std::size_t size, auto value_at) {
  std::vector<std::byte> out(size);
  for (std::size_t i = 0; i < size; ++i) {
    out[i] = static_cast<std::byte>(value_at(i));
  }
  return out;
}

using Function = std::uint32_t (*)(std::span<const std::byte>, std::uint32_t) noexcept;

struct Path {
  const char* name;
  Function function;
};

const Path paths[] = {{"dispatch", &crc32c}, {"software", &crc32c_software}, {"hardware", &crc32c_hardware}};

} // namespace

TEST_CASE("crc32c: the standard test vectors, on every path", "[storage][crc32c]") {
  for (const auto& path : paths) {
    INFO("path " << path.name);
    CHECK(path.function(bytes_of("123456789"), 0) == 0xE3069283U);
    CHECK(path.function(filled(32, [](std::size_t) { return 0x00; }), 0) == 0x8A9136AAU);
    CHECK(path.function(filled(32, [](std::size_t) { return 0xFF; }), 0) == 0x62A8AB43U);
    CHECK(path.function(filled(32, [](std::size_t i) { return i; }), 0) == 0x46DD794EU);
    CHECK(path.function(filled(32, [](std::size_t i) { return 31 - i; }), 0) == 0x113FDB5CU);
    CHECK(path.function({}, 0) == 0U);
    CHECK(path.function({}, 0x12345678U) == 0x12345678U); // nothing to add: the seed is the checksum
    CHECK(path.function(bytes_of("a"), 0) == 0xC1D04330U);
  }
}

TEST_CASE("crc32c: the seed extends a checksum over split buffers", "[storage][crc32c]") {
  std::mt19937_64 random(20240501);
  for (int round = 0; round < 200; ++round) {
    const auto size = static_cast<std::size_t>(random() % 300);
    const auto data = filled(size, [&](std::size_t) { return random(); });
    const auto split = size == 0 ? 0 : static_cast<std::size_t>(random() % (size + 1));
    const std::span<const std::byte> all{data};
    INFO("size " << size << ", split at " << split);
    for (const auto& path : paths) {
      INFO("path " << path.name);
      CHECK(path.function(all.subspan(split), path.function(all.first(split), 0)) == path.function(all, 0));
    }
  }
  // A one-byte change changes the checksum.
  auto data = bytes_of("123456789");
  data[4] ^= std::byte{0x01};
  CHECK(crc32c(data) != 0xE3069283U);
}

TEST_CASE("crc32c: the hardware path agrees with the software path on random buffers", "[storage][crc32c]") {
  if (!crc32c_hardware_available()) {
    WARN("this CPU has no SSE4.2 crc32 instruction: crc32c_hardware falls back to the software path");
  }
  std::mt19937_64 random(7);
  const auto data = filled(1 << 16, [&](std::size_t) { return random(); });
  const std::span<const std::byte> all{data};
  for (int round = 0; round < 2000; ++round) {
    // Every alignment and tail length, short and long buffers, any seed.
    const auto offset = static_cast<std::size_t>(random() % 64);
    const auto size = static_cast<std::size_t>(round < 1000 ? random() % 64 : random() % (all.size() - 64));
    const auto seed = round % 3 == 0 ? 0U : static_cast<std::uint32_t>(random());
    const auto piece = all.subspan(offset, size);
    INFO("offset " << offset << ", size " << size << ", seed " << seed);
    const auto software = crc32c_software(piece, seed);
    REQUIRE(crc32c_hardware(piece, seed) == software);
    REQUIRE(crc32c(piece, seed) == software);
  }
}
