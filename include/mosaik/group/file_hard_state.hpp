#pragma once
// FileHardState: the hard state (term, vote, commit) in a file, replaced
// atomically on every save (temporary file, fsync, rename, fsync of the
// directory), so a restarted member resumes with its term and its vote and
// never votes twice in a term. The file carries a CRC32C: a corrupt file is
// refused at open, never read as a zero state.

#include <filesystem>
#include <memory>
#include <string>
#include <variant>

#include <mosaik/group/hard_state.hpp>

namespace mosaik::group {

class FileHardState final : public HardStateStorage {
public:
  /// Opens `path` (absent: a fresh member's zero state). An error text when
  /// the file exists but cannot be read or fails its checks.
  [[nodiscard]] static std::variant<std::unique_ptr<FileHardState>, std::string>
  open(std::filesystem::path path);

  [[nodiscard]] HardState load() const override { return state_; }
  /// Stores `state` durably before returning. On an I/O error the member must
  /// not go on as if it were stored: failed() latches, and the error is logged.
  void save(const HardState& state) override;

  [[nodiscard]] bool failed() const noexcept override { return !error_.empty(); }
  [[nodiscard]] const std::string& error() const noexcept { return error_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

private:
  explicit FileHardState(std::filesystem::path path) : path_(std::move(path)) {}

  std::filesystem::path path_;
  HardState state_;
  std::string error_;
};

} // namespace mosaik::group
