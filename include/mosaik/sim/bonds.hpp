#pragma once
// Bonds on the simulated network: two peers are bonded while the network
// connects them; a partition or a crash terminates the bond on both sides.
// Shared by every simulated transport (SyncCluster, GroupNetwork).

#include <functional>
#include <vector>

#include <mosaik/core/bond_event.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/subscription.hpp>
#include <mosaik/sim/network.hpp>

namespace mosaik::sim {

/// The peers `self` is bonded with now.
[[nodiscard]] inline std::vector<PeerId> bonded_peers(const Network& network, PeerId self) {
  std::vector<PeerId> peers;
  for (const auto peer : network.nodes()) {
    if (peer != self && network.connected(self, peer)) {
      peers.push_back(peer);
    }
  }
  return peers;
}

/// Reports each bond and termination of `self` until the subscription ends.
[[nodiscard]] inline Subscription watch_bonds(Network& network, PeerId self,
                                              std::function<void(const BondEvent&)> on_change) {
  return network.watch([self, on_change = std::move(on_change)](PeerId a, PeerId b, bool up) {
    if (a == self || b == self) {
      on_change(BondEvent{a == self ? b : a, up ? BondEvent::Kind::bonded : BondEvent::Kind::terminated});
    }
  });
}

} // namespace mosaik::sim
