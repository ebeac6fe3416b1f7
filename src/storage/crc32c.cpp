// CRC-32C in software (slicing-by-8: eight table lookups per 8 bytes) and with
// the SSE4.2 crc32 instruction, chosen once at run time.

#include <mosaik/storage/crc32c.hpp>

#include <array>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MOSAIK_CRC32C_X86 1
#include <nmmintrin.h>
#else
#define MOSAIK_CRC32C_X86 0
#endif

namespace mosaik::storage {
namespace {

constexpr std::uint32_t polynomial = 0x82F63B78U; // reflected Castagnoli

using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

/// tables[0] is the classic byte-at-a-time table; tables[k][b] is the CRC of
/// byte b followed by k zero bytes, so that 8 bytes fold in one step.
constexpr Tables make_tables() noexcept {
  Tables tables{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1U) != 0 ? (crc >> 1) ^ polynomial : crc >> 1;
    }
    tables[0][byte] = crc;
  }
  for (std::size_t k = 1; k < 8; ++k) {
    for (std::size_t byte = 0; byte < 256; ++byte) {
      const auto previous = tables[k - 1][byte];
      tables[k][byte] = (previous >> 8) ^ tables[0][previous & 0xFFU];
    }
  }
  return tables;
}

constexpr Tables tables = make_tables();

/// Little-endian load, whatever the host's byte order.
std::uint32_t load32(const std::byte* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

#if MOSAIK_CRC32C_X86
__attribute__((target("sse4.2"))) std::uint32_t hardware(std::span<const std::byte> bytes,
                                                         std::uint32_t seed) noexcept {
  std::uint64_t crc = ~seed;
  const auto* p = bytes.data();
  auto n = bytes.size();
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8); // x86 is little-endian: the instruction expects exactly this
    crc = _mm_crc32_u64(crc, word);
    p += 8;
    n -= 8;
  }
  auto crc32 = static_cast<std::uint32_t>(crc);
  while (n > 0) {
    crc32 = _mm_crc32_u8(crc32, static_cast<std::uint8_t>(*p));
    ++p;
    --n;
  }
  return ~crc32;
}

bool has_sse42() noexcept {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") != 0;
}
#endif

using Implementation = std::uint32_t (*)(std::span<const std::byte>, std::uint32_t) noexcept;

Implementation choose() noexcept {
#if MOSAIK_CRC32C_X86
  if (has_sse42()) {
    return &hardware;
  }
#endif
  return &crc32c_software;
}

} // namespace

std::uint32_t crc32c_software(std::span<const std::byte> bytes, std::uint32_t seed) noexcept {
  std::uint32_t crc = ~seed;
  const auto* p = bytes.data();
  auto n = bytes.size();
  while (n >= 8) {
    const auto low = load32(p) ^ crc;
    const auto high = load32(p + 4);
    crc = tables[7][low & 0xFFU] ^ tables[6][(low >> 8) & 0xFFU] ^ tables[5][(low >> 16) & 0xFFU] ^
          tables[4][low >> 24] ^ tables[3][high & 0xFFU] ^ tables[2][(high >> 8) & 0xFFU] ^
          tables[1][(high >> 16) & 0xFFU] ^ tables[0][high >> 24];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    crc = (crc >> 8) ^ tables[0][(crc ^ static_cast<std::uint32_t>(*p)) & 0xFFU];
    ++p;
    --n;
  }
  return ~crc;
}

bool crc32c_hardware_available() noexcept {
#if MOSAIK_CRC32C_X86
  static const bool available = has_sse42();
  return available;
#else
  return false;
#endif
}

std::uint32_t crc32c_hardware(std::span<const std::byte> bytes, std::uint32_t seed) noexcept {
#if MOSAIK_CRC32C_X86
  if (crc32c_hardware_available()) {
    return hardware(bytes, seed);
  }
#endif
  return crc32c_software(bytes, seed);
}

std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t seed) noexcept {
  static const Implementation implementation = choose();
  return implementation(bytes, seed);
}

} // namespace mosaik::storage
