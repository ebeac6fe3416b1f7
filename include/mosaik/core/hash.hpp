#pragma once
// The non-cryptographic hashes and mixers mosaik uses, in one place: FNV-1a
// (GroupIds, state digests, the simulator's event kinds), splitmix64 (seeding
// and jitter, std::hash of ids) and murmur3's 64-bit finaliser (the
// simulator's trace hash). Every result is part of something a seed replays or
// a peer compares (a GroupId, a trace hash), so none of them may ever change:
// tests pin known values. None of them is a defence against an adversary.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace mosaik {

/// FNV-1a's 64-bit offset basis: the state before any byte.
inline constexpr std::uint64_t kFnv1aOffset = 0xcbf29ce484222325ULL;
/// FNV-1a's 64-bit prime.
inline constexpr std::uint64_t kFnv1aPrime = 0x100000001b3ULL;
/// 2^64 / golden ratio, odd: splitmix64's increment (Weyl sequence), also a
/// cheap way to spread small integers (seed * kGoldenGamma).
inline constexpr std::uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;
/// The first multiplier of splitmix64's output function (Stafford's mix 13).
inline constexpr std::uint64_t kSplitmix64Multiplier = 0xbf58476d1ce4e5b9ULL;

/// FNV-1a over `bytes`, continuing from `state` (kFnv1aOffset to start).
[[nodiscard]] constexpr std::uint64_t fnv1a(std::span<const unsigned char> bytes,
                                            std::uint64_t state = kFnv1aOffset) noexcept {
  for (const auto byte : bytes) {
    state = (state ^ byte) * kFnv1aPrime;
  }
  return state;
}

/// FNV-1a over the characters of `text` (as unsigned bytes), continuing from `state`.
[[nodiscard]] constexpr std::uint64_t fnv1a(std::string_view text,
                                            std::uint64_t state = kFnv1aOffset) noexcept {
  for (const char c : text) {
    state = (state ^ static_cast<unsigned char>(c)) * kFnv1aPrime;
  }
  return state;
}

/// FNV-1a over the 8 bytes of `value`, least significant first (the same on
/// every platform), continuing from `state`.
[[nodiscard]] constexpr std::uint64_t fnv1a_u64(std::uint64_t value,
                                                std::uint64_t state = kFnv1aOffset) noexcept {
  for (int i = 0; i < 8; ++i, value >>= 8) {
    state = (state ^ (value & 0xff)) * kFnv1aPrime;
  }
  return state;
}

/// splitmix64's output function (Stafford's variant 13): a bijection that
/// spreads every input bit over the whole word.
[[nodiscard]] constexpr std::uint64_t splitmix64_mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * kSplitmix64Multiplier;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// The output of a splitmix64 generator whose state is `state`: one step, as a
/// pure function of the input.
[[nodiscard]] constexpr std::uint64_t splitmix64(std::uint64_t state) noexcept {
  return splitmix64_mix(state + kGoldenGamma);
}

/// Advances the splitmix64 generator `state` and returns its next output.
constexpr std::uint64_t splitmix64_next(std::uint64_t& state) noexcept {
  state += kGoldenGamma;
  return splitmix64_mix(state);
}

/// murmur3's 64-bit finaliser (fmix64): a bijection with full avalanche.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

} // namespace mosaik
