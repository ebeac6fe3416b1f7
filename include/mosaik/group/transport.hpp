#pragma once
// Transport: how a group member reaches the others. The simulator
// (testing::GroupNetwork) and TCP (tcp::TcpTransport) implement it; the
// runtime never knows which. A transport delivers
// whole messages, best effort, and reports bonds: a bond is an open, usable
// connection to a peer; its termination is what catch-up sessions react to.

#include <functional>
#include <vector>

#include <asio/any_io_executor.hpp>

#include <mosaik/core/bond_event.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/subscription.hpp>
#include <mosaik/core/timer_service.hpp>

namespace mosaik::group {

template <class Message>
class Transport {
public:
  using Receiver = std::function<void(PeerId from, Message message)>;

  virtual ~Transport() = default;

  [[nodiscard]] virtual PeerId self() const = 0;
  /// Sends a message; it may be lost, delayed or (on some networks) duplicated.
  virtual void send(PeerId to, Message message) = 0;
  /// True when send() encodes the message before it returns (a wire
  /// transport): a provider may then answer with entries already encoded
  /// (wire::EncodedEntries), which only an encoder understands.
  [[nodiscard]] virtual bool encodes_on_send() const { return false; }
  /// Delivers every arriving message to `receiver` until the subscription ends.
  virtual Subscription receive(Receiver receiver) = 0;
  /// The peers bonded now.
  [[nodiscard]] virtual std::vector<PeerId> bonded_peers() const = 0;
  /// Reports every bond and termination until the subscription ends.
  virtual Subscription watch_bonds(std::function<void(const BondEvent&)> on_change) = 0;
  [[nodiscard]] virtual asio::any_io_executor executor() const = 0;
  virtual TimerService& timers() = 0;
};

} // namespace mosaik::group
