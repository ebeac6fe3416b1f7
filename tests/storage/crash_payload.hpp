#pragma once
// The payload of entry `index` in the crash tests: 1..300 bytes derived from
// the index, so that any byte that changes is noticed.

#include <cstdint>
#include <string>

#include <mosaik/core/hash.hpp>

namespace mosaik::test {

[[nodiscard]] inline std::string crash_payload(std::uint64_t index) {
  std::uint64_t x = index * kGoldenGamma;
  const auto length = 1 + (x >> 32) % 300;
  std::string out(length, '\0');
  for (auto& c : out) {
    x ^= x >> 29;
    x *= kSplitmix64Multiplier;
    c = static_cast<char>(x >> 56);
  }
  return out;
}

} // namespace mosaik::test
