#pragma once
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of the
// on-disk log's records. Computed with the SSE4.2 crc32 instruction when the
// CPU has it, otherwise in software (slicing-by-8); both give the same value.
//
// The seed extends a checksum: crc32c(b, crc32c(a)) == crc32c(a followed by b).

#include <cstddef>
#include <cstdint>
#include <span>

namespace mosaik::storage {

/// The CRC-32C of `bytes`, continuing from `seed` (the checksum of what came before).
[[nodiscard]] std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t seed = 0) noexcept;

/// The software path (slicing-by-8), on every CPU.
[[nodiscard]] std::uint32_t crc32c_software(std::span<const std::byte> bytes,
                                            std::uint32_t seed = 0) noexcept;
/// Whether this CPU has the crc32 instruction (x86-64 with SSE4.2).
[[nodiscard]] bool crc32c_hardware_available() noexcept;
/// The hardware path; falls back to the software path when crc32c_hardware_available() is false.
[[nodiscard]] std::uint32_t crc32c_hardware(std::span<const std::byte> bytes,
                                            std::uint32_t seed = 0) noexcept;

} // namespace mosaik::storage
