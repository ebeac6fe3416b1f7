#pragma once
// TempDir: a fresh directory under the system's temporary directory, made
// with mkdtemp (a name no one else holds, mode 0700), removed with all it
// holds when the TempDir goes away. The tests, the examples and the
// benchmarks share this one (tools/support is on the include path of each).

#include <stdlib.h> // mkdtemp (POSIX)

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace mosaik::support {

class TempDir {
public:
  /// `<temp>/<prefix>-XXXXXX`; throws std::system_error when it cannot be made.
  explicit TempDir(std::string_view prefix = "mosaik") {
    const auto pattern =
        (std::filesystem::temp_directory_path() / (std::string{prefix} + "-XXXXXX")).string();
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    if (::mkdtemp(name.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    path_ = name.data();
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  /// `path() / name`.
  [[nodiscard]] std::filesystem::path operator/(const std::filesystem::path& name) const {
    return path_ / name;
  }
  /// Writes `content` to the file `name` in the directory; returns its path.
  std::filesystem::path write(std::string_view name, std::string_view content) const {
    const auto file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    return file;
  }

private:
  std::filesystem::path path_;
};

} // namespace mosaik::support
