#pragma once
// SnapshotInfo and SnapshotImage: what names a snapshot across peers, and a
// snapshot held in memory. Vocabulary of the snapshot store and of snapshot
// catch-up alike.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <mosaik/core/cursor.hpp>

namespace mosaik {

/// What identifies a snapshot across peers: the log cursor it was taken at,
/// its item count and the host's header (the group runtime puts the
/// membership there). Two peers offering equal infos offer the same items.
struct SnapshotInfo {
  Cursor at;
  std::uint64_t items = 0;
  std::vector<std::byte> header;
  friend bool operator==(const SnapshotInfo&, const SnapshotInfo&) = default;
};

/// A snapshot held in memory: immutable and shared (a provider serves it
/// while the member goes on applying; copies cost a reference count).
template <class Item>
struct SnapshotImage {
  SnapshotInfo info;
  std::shared_ptr<const std::vector<Item>> items;
};

} // namespace mosaik
