#pragma once
// Small files that must never be seen half-written (the hard state, a log's
// base cursor): written to a temporary file, fsynced, renamed over the old
// one, and the directory fsynced, so that after a crash the file holds either
// the old bytes or the new ones.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace mosaik::storage {

/// Replaces `path` with `bytes`, durably. nullopt on success, else why not.
[[nodiscard]] std::optional<std::string> write_atomically(const std::filesystem::path& path,
                                                          std::span<const std::byte> bytes);

/// The whole file; nullopt (and `error` set) when it cannot be read. A file
/// that does not exist is an error too: check first when absence is normal.
[[nodiscard]] std::optional<std::vector<std::byte>> read_file(const std::filesystem::path& path,
                                                              std::string& error);

} // namespace mosaik::storage
