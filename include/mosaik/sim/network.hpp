#pragma once
// Network: a simulated message network between peers, driven by a Simulator.
// It knows nothing of message contents: a message is a byte size plus a
// delivery callback. Each directed link is a FIFO pipe with latency,
// bandwidth and optional jitter, loss, duplication and reordering; faults
// (partitions, crashes) are applied by the test and observed by watchers.
//
// All randomness comes from the simulator's Random, so a seed replays a run.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <mosaik/core/ids.hpp>
#include <mosaik/core/subscription.hpp>
#include <mosaik/core/time.hpp>

namespace mosaik::sim {

class Simulator;

/// Properties of one directed link.
struct LinkConfig {
  /// Propagation delay added after transmission ends.
  Duration latency = 1ms;
  /// Transmission rate; 0 means unlimited (no transmission delay, no queueing).
  double bandwidth_bytes_per_second = 0;
  /// Extra delay drawn uniformly from [0, jitter] per message (FIFO still holds).
  Duration jitter = Duration::zero();
  /// Probability that a message is dropped at send time.
  double loss = 0;
  /// Probability that a message is delivered a second time, shortly after.
  double duplicate = 0;
  /// Probability that a message leaves the FIFO order: it is held back by an
  /// extra [0, latency + jitter] and later messages may overtake it.
  double reorder = 0;
};

struct NetworkStats {
  std::uint64_t sent = 0;       // send() calls
  std::uint64_t delivered = 0;  // callbacks run (duplicates included)
  std::uint64_t dropped = 0;    // at send or at arrival (duplicates included)
  std::uint64_t duplicated = 0; // extra copies put on the wire
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_delivered = 0;
};

class Network {
public:
  using Deliver = std::function<void()>;
  /// Told that the unordered pair {a, b} (a < b) became connected or not.
  using ConnectivityWatcher = std::function<void(PeerId a, PeerId b, bool connected)>;

  /// `simulator` must outlive this Network.
  explicit Network(Simulator& simulator);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  /// Adds an up node, connected to every other node. Idempotent. Every other
  /// call that names a node requires it to have been added (std::invalid_argument
  /// otherwise), except the queries is_up/can_send/connected, which answer false.
  void add_node(PeerId node);
  /// All nodes, sorted by id.
  [[nodiscard]] std::vector<PeerId> nodes() const;
  [[nodiscard]] bool has_node(PeerId node) const;

  /// The config of every link without its own (see set_link).
  void set_default_link(const LinkConfig& config);
  [[nodiscard]] LinkConfig default_link() const;
  /// Gives the directed link from -> to its own config.
  void set_link(PeerId from, PeerId to, const LinkConfig& config);
  void set_link_both(PeerId a, PeerId b, const LinkConfig& config);
  [[nodiscard]] LinkConfig link(PeerId from, PeerId to) const;

  /// Sends `size_bytes` from -> to; `deliver` runs on arrival (inside the
  /// simulator loop) unless the message is lost. Dropped at send time if
  /// either node is down, from -> to is partitioned, or by the loss chance.
  /// Dropped at arrival if the destination is down, from -> to is or was
  /// partitioned in between, or either node crashed in between.
  void send(PeerId from, PeerId to, std::size_t size_bytes, Deliver deliver);

  // Faults. A partition or crash drops every message in flight on the links
  // it cuts, even if healed/restarted before they would have arrived.
  /// Blocks both directions between a and b.
  void partition(PeerId a, PeerId b);
  /// Blocks from -> to only.
  void partition_one_way(PeerId from, PeerId to);
  /// Unblocks both directions between a and b.
  void heal(PeerId a, PeerId b);
  /// Unblocks every link.
  void heal_all();
  /// Blocks both directions between `node` and every node added so far.
  void isolate(PeerId node);
  /// Takes `node` down: its sends and its deliveries are dropped until restart.
  void crash(PeerId node);
  /// Brings a crashed node back up (a no-op for an up node).
  void restart(PeerId node);

  [[nodiscard]] bool is_up(PeerId node) const;
  /// Both up and from -> to not partitioned.
  [[nodiscard]] bool can_send(PeerId from, PeerId to) const;
  /// can_send in both directions.
  [[nodiscard]] bool connected(PeerId a, PeerId b) const;

  /// Registers a watcher, called for each unordered pair whose connected()
  /// state a fault call changed. Calls go through the simulator's event queue
  /// at the time of the fault (never inline) and only to watchers registered
  /// at that time and still registered when it runs. Destroying the
  /// Subscription unregisters.
  [[nodiscard]] Subscription watch(ConnectivityWatcher watcher);

  [[nodiscard]] const NetworkStats& stats() const noexcept;
  /// Messages (and duplicates) on the wire: neither delivered nor dropped yet.
  [[nodiscard]] std::uint64_t in_flight() const noexcept;

private:
  struct State;
  struct Watchers;
  template <class Fault>
  void apply_fault(Fault&& fault);

  // Shared with the events in flight (weakly), so a message arriving after
  // the Network is gone is silently discarded instead of touching freed state.
  std::shared_ptr<State> state_;
  std::shared_ptr<Watchers> watchers_;
};

} // namespace mosaik::sim
