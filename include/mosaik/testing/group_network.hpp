#pragma once
// GroupNetwork: group members' transports on the simulated network. Each
// member gets an Endpoint (a group::Transport); a message costs its wire size
// on the links, arrives through the simulator's event queue and is handed to
// the endpoint's receiver. Bonds follow connectivity, as in SyncCluster: a
// partition or a crash terminates the bond on both sides.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <mosaik/group/transport.hpp>
#include <mosaik/sim/bonds.hpp>
#include <mosaik/sim/network.hpp>
#include <mosaik/sim/simulator.hpp>

namespace mosaik::testing {

template <class Message>
class GroupNetwork {
public:
  /// Bytes a message occupies on the wire (charged to the links).
  using SizeOf = std::function<std::size_t(const Message&)>;
  /// Sees every message sent and returns what really goes on the wire
  /// (nullopt: nothing), for tests that make a member lie or drop.
  using SendFilter = std::function<std::optional<Message>(PeerId from, PeerId to, Message message)>;

  class Endpoint final : public group::Transport<Message> {
  public:
    Endpoint(GroupNetwork& network, PeerId self) : network_(network), self_(self) {}
    ~Endpoint() override { network_.endpoints_.erase(self_); }
    Endpoint(const Endpoint&) = delete;
    Endpoint& operator=(const Endpoint&) = delete;

    [[nodiscard]] PeerId self() const override { return self_; }
    void send(PeerId to, Message message) override { network_.transmit(self_, to, std::move(message)); }
    Subscription receive(typename group::Transport<Message>::Receiver receiver) override {
      receiver_ = std::move(receiver);
      return Subscription{[this, alive = std::weak_ptr<bool>(alive_)] {
        if (!alive.expired()) {
          receiver_ = nullptr;
        }
      }};
    }
    [[nodiscard]] std::vector<PeerId> bonded_peers() const override {
      return sim::bonded_peers(network_.network_, self_);
    }
    Subscription watch_bonds(std::function<void(const BondEvent&)> on_change) override {
      return sim::watch_bonds(network_.network_, self_, std::move(on_change));
    }
    [[nodiscard]] asio::any_io_executor executor() const override { return network_.simulator_.executor(); }
    TimerService& timers() override { return network_.simulator_; }

  private:
    friend class GroupNetwork;
    GroupNetwork& network_;
    PeerId self_;
    typename group::Transport<Message>::Receiver receiver_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  };

  GroupNetwork(sim::Simulator& simulator, sim::Network& network, SizeOf size_of)
      : simulator_(simulator), network_(network), size_of_(std::move(size_of)) {}
  GroupNetwork(const GroupNetwork&) = delete;
  GroupNetwork& operator=(const GroupNetwork&) = delete;

  /// A transport for `peer` (added to the network if new). One live endpoint per peer.
  std::unique_ptr<Endpoint> endpoint(PeerId peer) {
    network_.add_node(peer);
    auto endpoint = std::make_unique<Endpoint>(*this, peer);
    endpoints_[peer] = endpoint.get();
    return endpoint;
  }

  void set_send_filter(SendFilter filter) { filter_ = std::move(filter); }
  [[nodiscard]] sim::Simulator& simulator() noexcept { return simulator_; }
  [[nodiscard]] sim::Network& network() noexcept { return network_; }
  [[nodiscard]] std::uint64_t messages_sent() const noexcept { return messages_sent_; }

private:
  void transmit(PeerId from, PeerId to, Message message) {
    if (filter_) {
      auto filtered = filter_(from, to, std::move(message));
      if (!filtered) {
        return;
      }
      message = std::move(*filtered);
    }
    ++messages_sent_;
    const auto size = size_of_(message);
    simulator_.trace("group-send", from.value(), to.value(), size);
    // Shared so that a duplicated delivery gets its own copy; the last one moves.
    auto shared = std::make_shared<Message>(std::move(message));
    network_.send(from, to, size, [this, from, to, shared] {
      const auto it = endpoints_.find(to);
      if (it == endpoints_.end() || !it->second->receiver_) {
        return;
      }
      it->second->receiver_(from, shared.use_count() == 1 ? std::move(*shared) : Message{*shared});
    });
  }

  sim::Simulator& simulator_;
  sim::Network& network_;
  SizeOf size_of_;
  SendFilter filter_;
  std::map<PeerId, Endpoint*> endpoints_;
  std::uint64_t messages_sent_ = 0;
};

} // namespace mosaik::testing
