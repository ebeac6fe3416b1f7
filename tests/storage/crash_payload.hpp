#pragma once
// The payload of entry `index` in the crash tests: 1..300 bytes derived from
// the index, so that any byte that changes is noticed.

#include <cstdint>
#include <string>

namespace mosaik::test {

[[nodiscard]] inline std::string crash_payload(std::uint64_t index) {
  std::uint64_t x = index * 0x9e3779b97f4a7c15ULL;
  const auto length = 1 + (x >> 32) % 300;
  std::string out(length, '\0');
  for (auto& c : out) {
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    c = static_cast<char>(x >> 56);
  }
  return out;
}

} // namespace mosaik::test
