#pragma once
// SnapshotOffers: which snapshot each peer offers a catching-up member, and
// the one it chose to fetch. The leader's offer decides (the others offer
// the same once they applied the same snapshot request); every peer that
// offers exactly the chosen snapshot (position, item count and header) is a
// source of its items.

#include <map>
#include <optional>
#include <vector>

#include <mosaik/core/ids.hpp>
#include <mosaik/core/snapshot_info.hpp>

namespace mosaik::sync {

class SnapshotOffers {
public:
  /// `peer` offers `info` (replacing what it offered before).
  void offer(PeerId peer, const SnapshotInfo& info) { offers_[peer] = info; }
  /// `peer` offers nothing (any more): it left, was excluded or said so.
  void withdraw(PeerId peer) { offers_.erase(peer); }

  /// Fetches `info` from now on.
  void choose(const SnapshotInfo& info) { chosen_ = info; }
  [[nodiscard]] const std::optional<SnapshotInfo>& chosen() const noexcept { return chosen_; }
  [[nodiscard]] bool is_chosen(const SnapshotInfo& info) const { return chosen_ == info; }

  /// Whether `peer` offers the chosen snapshot.
  [[nodiscard]] bool serves(PeerId peer) const {
    const auto found = offers_.find(peer);
    return chosen_ && found != offers_.end() && found->second == *chosen_;
  }
  /// The peers that offer the chosen snapshot, in id order.
  [[nodiscard]] std::vector<PeerId> sources() const {
    std::vector<PeerId> peers;
    for (const auto& [peer, info] : offers_) {
      if (serves(peer)) {
        peers.push_back(peer);
      }
    }
    return peers;
  }
  /// Whether a peer other than `leader` offers the chosen snapshot.
  [[nodiscard]] bool others_serve(std::optional<PeerId> leader) const {
    for (const auto& [peer, info] : offers_) {
      if (peer != leader && serves(peer)) {
        return true;
      }
    }
    return false;
  }

private:
  std::map<PeerId, SnapshotInfo> offers_;
  std::optional<SnapshotInfo> chosen_;
};

} // namespace mosaik::sync
