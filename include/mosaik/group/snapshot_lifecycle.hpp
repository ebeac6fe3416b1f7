#pragma once
// SnapshotLifecycle: a group member's snapshots, for groups that catch up by
// snapshot. It restores the stored snapshot on start, installs one a
// catch-up session fetched, takes one when a snapshot point is applied,
// prunes the log below the latest, and (on the leader) proposes the points:
// every `snapshot_interval` applied entries, or when a lagging member asks.
// It remembers where the latest snapshot was taken and the point proposed
// and not applied yet, and works on the member's state machine, log and
// RaftCore; the Group decides when, and sends, reports and tracks the
// applied index.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/format.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/index.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/core/snapshot_info.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/group/group_message_codec.hpp> // the membership's encoding (the snapshot's header)
#include <mosaik/group/log_command.hpp>
#include <mosaik/group/membership.hpp>
#include <mosaik/group/raft_core.hpp>
#include <mosaik/storage/log_storage.hpp>
#include <mosaik/storage/snapshot_store.hpp>
#include <mosaik/wire/codec.hpp>

namespace mosaik::group {

/// The snapshots of a member running `SM`, whose snapshots hold `Item`s.
template <class SM, class Item>
class SnapshotLifecycle {
public:
  using Command = typename SM::Command;
  using Log = storage::LogStorage<LogCommand<Command>>;
  using Core = RaftCore<Command>;
  using Store = storage::SnapshotStore<Item>;

  /// `store` is null when the group does not catch up by snapshot (then only
  /// at() is called). `key` and `self` name the member in the log lines.
  SnapshotLifecycle(Store* store, SM& machine, Log& log, Core& core, std::string key, PeerId self)
      : store_(store), machine_(machine), log_(log), core_(core), key_(std::move(key)), self_(self) {}

  /// Where the latest snapshot this member saved (or restored) was taken.
  [[nodiscard]] std::optional<Cursor> at() const noexcept { return at_; }

  /// On start: the state below the stored snapshot comes from it (the log
  /// may be pruned there). The index the state now reaches, if restored.
  std::optional<Index> restore() {
    std::string error;
    auto image = store_->load(error);
    if (!image) {
      if (!error.empty()) {
        log::error("group {}: member {} cannot read its snapshot ({}); starting from the log alone", key_,
                   self_, error);
      }
      return std::nullopt;
    }
    auto membership = ::mosaik::wire::from_bytes<Membership>(image->info.header);
    if (!membership) {
      log::error(
          "group {}: member {}'s snapshot at {} has an undecodable membership; starting from the log alone",
          key_, self_, image->info.at);
      return std::nullopt;
    }
    const auto at = image->info.at;
    if (log_.term_at(at.index) != at.term) {
      // The log lacks the snapshot's entry or holds another term there (an
      // uncommitted suffix that a crash interrupted the reset of).
      log_.reset_to(at);
      log_.sync();
    }
    machine_.install_snapshot(std::vector<Item>(*image->items));
    core_.restore_snapshot(at, std::move(membership).value());
    at_ = at;
    log::info("group {}: member {} restored its snapshot at {} ({} items)", key_, self_, at,
              image->info.items);
    return at.index;
  }

  /// A catch-up session fetched a whole snapshot: saved first (so a crash
  /// never leaves a reset log without the state it stands for), then the
  /// machine, the log and the consensus state move to it. Why it was
  /// refused, if it was (then nothing changed).
  std::optional<std::string> install(const SnapshotInfo& info, std::vector<Item> items, Index applied) {
    auto membership = ::mosaik::wire::from_bytes<Membership>(info.header);
    if (!membership) {
      return std::string{"its membership header is undecodable"};
    }
    if (info.at.index <= applied) {
      return fmt::format("it is not ahead of our applied index {}", applied);
    }
    if (auto error = store_->save(info, items)) {
      return fmt::format("it could not be saved: {}", *error);
    }
    machine_.install_snapshot(std::move(items));
    log_.reset_to(info.at);
    log_.sync();
    core_.restore_snapshot(info.at, std::move(membership).value());
    at_ = info.at;
    log::info("group {}: member {} installed the snapshot at {} ({} items)", key_, self_, info.at,
              info.items);
    return std::nullopt;
  }

  /// A snapshot point was applied at `at`: every member snapshots here. The
  /// saved snapshot, to offer, or nullopt when it could not be saved.
  std::optional<SnapshotImage<Item>> take(Cursor at) {
    if (pending_point_ && *pending_point_ <= at.index) {
      pending_point_.reset();
    }
    auto items = std::make_shared<const std::vector<Item>>(machine_.snapshot_items());
    SnapshotInfo info{at, items->size(), header(core_.membership_at(at.index))};
    if (auto error = store_->save(info, *items)) {
      log::error("group {}: member {} could not save its snapshot at {}: {}; the log is not pruned", key_,
                 self_, at, *error);
      return std::nullopt;
    }
    at_ = at;
    return SnapshotImage<Item>{std::move(info), std::move(items)};
  }

  /// Drops the log below the latest snapshot, keeping `retained` entries
  /// (and every entry not applied yet).
  void prune_log(std::uint64_t retained, Index applied) {
    if (retained == 0 || !at_ || at_->index.value() <= retained) {
      return;
    }
    const auto bound = std::min(Index{at_->index.value() - retained}, applied);
    const auto held = log_.available();
    if (!held.empty() && held.first() <= bound) {
      log_.prune_prefix(bound);
      log::debug("group {}: member {} pruned its log up to {} (snapshot at {})", key_, self_, bound, *at_);
    }
  }

  /// Once per step: a deposed leader forgets the point it proposed (it may
  /// never commit); the leader proposes one every `interval` applied entries.
  void propose_periodic(std::uint64_t interval, Index applied, TimePoint now) {
    if (core_.role() != Role::leader) {
      pending_point_.reset();
    }
    const auto since = at_ ? at_->index : Index{0};
    if (interval > 0 && core_.role() == Role::leader && !pending_point_ &&
        applied.distance_from(since) >= interval && applied > since) {
      propose_point(self_, now);
    }
  }

  /// `requester` asked this member for a snapshot: the leader replicates a
  /// snapshot point, unless one is on its way (the requester polls for it).
  void propose_point(PeerId requester, TimePoint now) {
    if (core_.role() != Role::leader || pending_point_) {
      return;
    }
    if (auto index = core_.propose_snapshot_point(requester, now)) {
      pending_point_ = *index;
      log::info("group {}: leader {} replicates a snapshot point at {} for peer {}", key_, self_, *index,
                requester);
    }
  }

private:
  /// The snapshot's header: the membership in force at its index (the
  /// log that held it is pruned or reset once the snapshot is installed).
  [[nodiscard]] static std::vector<std::byte> header(const Membership& membership) {
    return ::mosaik::wire::to_bytes(membership);
  }

  Store* store_;
  SM& machine_;
  Log& log_;
  Core& core_;
  std::string key_;
  PeerId self_;
  std::optional<Cursor> at_;           // where the latest snapshot saved by this member was taken
  std::optional<Index> pending_point_; // proposed by this leader, not applied yet
};

} // namespace mosaik::group
