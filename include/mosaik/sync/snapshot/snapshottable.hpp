#pragma once
// Snapshottable: a state machine whose whole state can be copied out as a
// sequence of items at the applied index and rebuilt from them. The items
// are what snapshot catch-up moves: a lagging member fetches ranges of them
// from several peers and installs the whole.
//
// snapshot_items() is called on the applied state and must not depend on
// anything but it (every member snapshots at the same index and must produce
// the same items, in the same order). install_snapshot() replaces the state.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/state_machine.hpp>

namespace mosaik::sync {

template <class SM>
concept Snapshottable = StateMachine<SM> &&
    requires(SM machine, const SM& const_machine, std::vector<typename SM::SnapshotItem> items) {
  typename SM::SnapshotItem;
  requires std::copyable<typename SM::SnapshotItem>;
  { const_machine.snapshot_items() } -> std::same_as<std::vector<typename SM::SnapshotItem>>;
  machine.install_snapshot(std::move(items));
};

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

} // namespace mosaik::sync
