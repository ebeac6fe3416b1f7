#pragma once
// Random: the simulator's only source of randomness. xoshiro256** seeded via
// splitmix64, with hand-written derivations (uniform, uniform01, chance,
// between) because std distributions are implementation-defined: a seed must
// replay the same run on every standard library.

#include <cstdint>

#include <mosaik/core/hash.hpp>
#include <mosaik/core/time.hpp>

namespace mosaik::sim {

class Random {
public:
  explicit Random(std::uint64_t seed) noexcept {
    // splitmix64 expands one word into four well-mixed ones (the reference seeding).
    for (auto& word : state_) {
      word = splitmix64_next(seed);
    }
  }

  /// The next 64 raw bits (xoshiro256**).
  std::uint64_t next() noexcept {
    const auto result = rotl(state_[1] * 5, 7) * 9;
    const auto t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// Uniform in [0, bound); 0 when bound is 0. Unbiased: draws below
  /// 2^64 mod bound are rejected so every residue is equally likely.
  std::uint64_t uniform(std::uint64_t bound) noexcept {
    if (bound == 0) {
      return 0;
    }
    const auto threshold = (0 - bound) % bound; // == 2^64 mod bound
    for (;;) {
      const auto r = next();
      if (r >= threshold) {
        return r % bound;
      }
    }
  }

  /// Uniform double in [0, 1), from the top 53 bits.
  double uniform01() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// True with probability p. p <= 0 and p >= 1 consume no draw, so a
  /// disabled fault does not shift the rest of the random stream.
  bool chance(double p) noexcept {
    if (p <= 0.0) {
      return false;
    }
    if (p >= 1.0) {
      return true;
    }
    return uniform01() < p;
  }

  /// Uniform in [lo, hi] (inclusive, nanosecond granularity); lo when hi <= lo.
  Duration between(Duration lo, Duration hi) noexcept {
    if (hi <= lo) {
      return lo;
    }
    // Unsigned arithmetic: wraps instead of overflowing for extreme ranges.
    const auto lo_bits = static_cast<std::uint64_t>(lo.count());
    const auto span = static_cast<std::uint64_t>(hi.count()) - lo_bits;
    // span + 1 wraps to 0 only for the full 64-bit range; take raw bits then.
    const auto offset = span == ~std::uint64_t{0} ? next() : uniform(span + 1);
    return Duration{static_cast<Duration::rep>(lo_bits + offset)};
  }

private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

  std::uint64_t state_[4]{};
};

} // namespace mosaik::sim
