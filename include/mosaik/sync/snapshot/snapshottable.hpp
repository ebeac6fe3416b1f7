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
#include <vector>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/snapshot_info.hpp>
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

} // namespace mosaik::sync
