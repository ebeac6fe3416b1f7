#include <mosaik/storage/atomic_file.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

namespace mosaik::storage {
namespace {

std::string describe(const char* what, const std::filesystem::path& path) {
  return fmt::format("{} {}: {}", what, path.string(), std::strerror(errno));
}

/// Closes on scope exit.
struct Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

} // namespace

std::optional<std::string> write_atomically(const std::filesystem::path& path,
                                            std::span<const std::byte> bytes) {
  const auto temporary = std::filesystem::path{path.string() + ".tmp"};
  {
    Descriptor file{::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (file.fd < 0) {
      return describe("cannot create", temporary);
    }
    std::size_t written = 0;
    while (written < bytes.size()) {
      const auto n = ::write(file.fd, bytes.data() + written, bytes.size() - written);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return describe("cannot write", temporary);
      }
      written += static_cast<std::size_t>(n);
    }
    if (::fsync(file.fd) != 0) {
      return describe("cannot fsync", temporary);
    }
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return describe("cannot rename over", path);
  }
  // The rename is durable only once the directory is.
  const auto directory = path.has_parent_path() ? path.parent_path() : std::filesystem::path{"."};
  Descriptor dir{::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (dir.fd < 0 || ::fsync(dir.fd) != 0) {
    return describe("cannot fsync directory", directory);
  }
  return std::nullopt;
}

std::optional<std::vector<std::byte>> read_file(const std::filesystem::path& path, std::string& error) {
  Descriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) {
    error = describe("cannot open", path);
    return std::nullopt;
  }
  std::vector<std::byte> bytes;
  std::byte buffer[65536];
  for (;;) {
    const auto n = ::read(file.fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      error = describe("cannot read", path);
      return std::nullopt;
    }
    if (n == 0) {
      return bytes;
    }
    bytes.insert(bytes.end(), buffer, buffer + n);
  }
}

} // namespace mosaik::storage
