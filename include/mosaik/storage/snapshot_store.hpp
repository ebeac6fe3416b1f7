#pragma once
// SnapshotStore: where a member keeps its latest snapshot, so that a member
// whose log was pruned still rebuilds its state on restart. The group runtime
// saves a snapshot before it prunes the log below it (and before it resets
// its log to an installed one), and loads it when it starts.
//
// FileSnapshotStore writes one file (`snapshot`) atomically (temp file,
// fsync, rename, fsync the directory): a magic, the snapshot's info and
// items through the wire codec, and a CRC32C of all of it. A damaged file
// is refused with a clear error, never half-used.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <mosaik/core/format.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/core/snapshot_info.hpp>
#include <mosaik/storage/atomic_file.hpp>
#include <mosaik/storage/crc32c.hpp>
#include <mosaik/wire/codec.hpp>
#include <mosaik/wire/snapshot_info_codec.hpp>

namespace mosaik::storage {

template <class Item>
class SnapshotStore {
public:
  virtual ~SnapshotStore() = default;
  /// Replaces the stored snapshot, durably. nullopt on success, else why not.
  [[nodiscard]] virtual std::optional<std::string> save(const SnapshotInfo& info,
                                                        const std::vector<Item>& items) = 0;
  /// The stored snapshot, if any. A store that cannot read it says why in
  /// `error` (and returns nullopt).
  [[nodiscard]] virtual std::optional<SnapshotImage<Item>> load(std::string& error) const = 0;
};

/// Keeps the snapshot in memory: it survives a Group's restart as long as the store lives.
template <class Item>
class InMemorySnapshotStore final : public SnapshotStore<Item> {
public:
  std::optional<std::string> save(const SnapshotInfo& info, const std::vector<Item>& items) override {
    image_ = SnapshotImage<Item>{info, std::make_shared<const std::vector<Item>>(items)};
    return std::nullopt;
  }
  std::optional<SnapshotImage<Item>> load(std::string&) const override { return image_; }

private:
  std::optional<SnapshotImage<Item>> image_;
};

template <class Item>
class FileSnapshotStore final : public SnapshotStore<Item> {
public:
  static constexpr std::uint32_t magic = 0x4d534e50; // "MSNP"
  static constexpr std::uint8_t version = 1;

  explicit FileSnapshotStore(std::filesystem::path directory) : path_(std::move(directory) / "snapshot") {}

  std::optional<std::string> save(const SnapshotInfo& info, const std::vector<Item>& items) override {
    wire::Bytes bytes;
    wire::Writer writer{bytes};
    writer.fixed32(magic);
    writer.u8(version);
    wire::encode(writer, info);
    wire::encode(writer, items);
    writer.fixed32(crc32c(bytes));
    std::error_code created; // a failure shows in the write below
    std::filesystem::create_directories(path_.parent_path(), created);
    if (auto error = write_atomically(path_, bytes)) {
      return fmt::format("snapshot {}: {}", path_.string(), *error);
    }
    return std::nullopt;
  }

  std::optional<SnapshotImage<Item>> load(std::string& error) const override {
    std::error_code ignored;
    if (!std::filesystem::exists(path_, ignored)) {
      return std::nullopt;
    }
    auto bytes = read_file(path_, error);
    if (!bytes) {
      return std::nullopt;
    }
    const auto refuse = [&](const std::string& why) {
      error = fmt::format("snapshot {} is damaged: {}", path_.string(), why);
      return std::nullopt;
    };
    if (bytes->size() < 4 + 1 + 4) {
      return refuse(fmt::format("{} bytes are too few", bytes->size()));
    }
    const std::span<const std::byte> all{*bytes};
    const auto body = all.first(all.size() - 4);
    if (wire::load_fixed32(all.last(4)) != crc32c(body)) {
      return refuse("checksum mismatch");
    }
    // The file is ours and checksummed: limits only guard against our own bugs.
    const wire::DecodeLimits limits{std::size_t{1} << 40, 0, 0, std::size_t{1} << 40};
    wire::Reader reader{body, limits};
    if (reader.fixed32() != magic || reader.u8() != version) {
      return refuse("not a mosaik snapshot of this version");
    }
    SnapshotInfo info;
    auto items = std::make_shared<std::vector<Item>>();
    if (!wire::decode(reader, info) || !wire::decode(reader, *items) || !reader.at_end()) {
      return refuse("undecodable");
    }
    if (items->size() != info.items) {
      return refuse(fmt::format("{} items, its header says {}", items->size(), info.items));
    }
    return SnapshotImage<Item>{std::move(info), std::move(items)};
  }

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

private:
  std::filesystem::path path_;
};

} // namespace mosaik::storage
