#include <mosaik/sim/network.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include <mosaik/core/format.hpp>
#include <mosaik/sim/simulator.hpp>

namespace mosaik::sim {

namespace {

using Pair = std::pair<PeerId, PeerId>; // directed (from, to)

Duration transmission_time(std::size_t size_bytes, double bandwidth_bytes_per_second) {
  if (bandwidth_bytes_per_second <= 0 || size_bytes == 0) {
    return Duration::zero();
  }
  // Rounded up: a non-empty message always occupies the link for some time.
  const auto nanoseconds = std::ceil(static_cast<double>(size_bytes) * 1e9 / bandwidth_bytes_per_second);
  return Duration{static_cast<Duration::rep>(nanoseconds)};
}

} // namespace

struct Network::State {
  explicit State(Simulator& simulator) : sim(simulator) {}

  struct Node {
    bool up = true;
    std::uint64_t epoch = 0; // bumped by each crash; stale messages are dropped
  };
  struct LinkState {
    TimePoint busy_until{};   // end of the last transmission (FIFO pipe)
    TimePoint last_arrival{}; // latest in-order arrival, for the FIFO clamp
    std::uint64_t cut = 0;    // bumped each time the link is partitioned
  };

  // Ordered containers throughout: iteration order must not depend on hashing.
  Simulator& sim;
  std::map<PeerId, Node> nodes;
  LinkConfig default_link;
  std::map<Pair, LinkConfig> link_configs;
  std::map<Pair, LinkState> links;
  std::set<Pair> blocked;
  NetworkStats stats;
  std::uint64_t in_flight = 0;

  Node& node(PeerId id) {
    const auto found = nodes.find(id);
    if (found == nodes.end()) {
      throw std::invalid_argument(fmt::format("mosaik::sim::Network: unknown node {}", id));
    }
    return found->second;
  }
  [[nodiscard]] const Node* find(PeerId id) const {
    const auto found = nodes.find(id);
    return found == nodes.end() ? nullptr : &found->second;
  }
  [[nodiscard]] bool can_send(PeerId from, PeerId to) const {
    const auto* sender = find(from);
    const auto* receiver = find(to);
    return sender != nullptr && receiver != nullptr && sender->up && receiver->up &&
           !blocked.contains({from, to});
  }
  [[nodiscard]] const LinkConfig& config(PeerId from, PeerId to) const {
    const auto found = link_configs.find({from, to});
    return found == link_configs.end() ? default_link : found->second;
  }
  void block(PeerId from, PeerId to) {
    if (blocked.insert({from, to}).second) {
      // Everything in flight on the link is lost; the pipe restarts empty.
      auto& link = links[{from, to}];
      link = LinkState{.busy_until = {}, .last_arrival = {}, .cut = link.cut + 1};
    }
  }
  void drop(PeerId from, PeerId to, std::size_t size_bytes) {
    ++stats.dropped;
    sim.trace("drop", from.value(), to.value(), size_bytes);
  }
};

struct Network::Watchers {
  std::uint64_t next_id = 1;
  // shared_ptr so a watcher that unsubscribes itself is not destroyed mid-call.
  std::map<std::uint64_t, std::shared_ptr<ConnectivityWatcher>> entries;
};

Network::Network(Simulator& simulator)
    : state_(std::make_shared<State>(simulator)), watchers_(std::make_shared<Watchers>()) {}

Network::~Network() = default;

void Network::add_node(PeerId node) {
  state_->nodes.try_emplace(node);
}

std::vector<PeerId> Network::nodes() const {
  std::vector<PeerId> result;
  result.reserve(state_->nodes.size());
  for (const auto& [id, node] : state_->nodes) {
    result.push_back(id);
  }
  return result;
}

bool Network::has_node(PeerId node) const {
  return state_->find(node) != nullptr;
}

void Network::set_default_link(const LinkConfig& config) {
  state_->default_link = config;
}

LinkConfig Network::default_link() const {
  return state_->default_link;
}

void Network::set_link(PeerId from, PeerId to, const LinkConfig& config) {
  state_->node(from);
  state_->node(to);
  state_->link_configs[{from, to}] = config;
}

void Network::set_link_both(PeerId a, PeerId b, const LinkConfig& config) {
  set_link(a, b, config);
  set_link(b, a, config);
}

LinkConfig Network::link(PeerId from, PeerId to) const {
  return state_->config(from, to);
}

void Network::send(PeerId from, PeerId to, std::size_t size_bytes, Deliver deliver) {
  auto& state = *state_;
  auto& sim = state.sim;
  auto& random = sim.random();
  const auto& sender = state.node(from);
  const auto& receiver = state.node(to);

  ++state.stats.sent;
  state.stats.bytes_sent += size_bytes;
  sim.trace("send", from.value(), to.value(), size_bytes);

  const auto& config = state.config(from, to);
  if (!state.can_send(from, to) || random.chance(config.loss)) {
    state.drop(from, to, size_bytes);
    return;
  }

  auto& link = state.links[{from, to}];
  const auto now = sim.now();
  const auto start = std::max(now, link.busy_until);
  const auto end = start + transmission_time(size_bytes, config.bandwidth_bytes_per_second);
  link.busy_until = end;

  auto arrival = end + config.latency + random.between(Duration::zero(), config.jitter);
  if (random.chance(config.reorder)) {
    // Held back outside the FIFO order, so messages sent later can overtake it.
    arrival += random.between(Duration::zero(), config.latency + config.jitter);
  } else {
    arrival = std::max(arrival, link.last_arrival);
    link.last_arrival = arrival;
  }

  // What the message must still match at arrival to be delivered.
  struct Ticket {
    std::weak_ptr<State> state;
    PeerId from, to;
    std::size_t size_bytes;
    std::uint64_t sender_epoch, receiver_epoch, cut;
  };
  const Ticket ticket{state_, from, to, size_bytes, sender.epoch, receiver.epoch, link.cut};
  const auto arrive = [](const Ticket& ticket, const Deliver& deliver) {
    const auto state = ticket.state.lock();
    if (!state) {
      return; // the Network is gone
    }
    --state->in_flight;
    const auto* sender = state->find(ticket.from);
    const auto* receiver = state->find(ticket.to);
    const auto link = state->links.find({ticket.from, ticket.to});
    const bool intact = state->can_send(ticket.from, ticket.to) && sender->epoch == ticket.sender_epoch &&
                        receiver->epoch == ticket.receiver_epoch && link != state->links.end() &&
                        link->second.cut == ticket.cut;
    if (!intact) {
      state->drop(ticket.from, ticket.to, ticket.size_bytes);
      return;
    }
    ++state->stats.delivered;
    state->stats.bytes_delivered += ticket.size_bytes;
    state->sim.trace("deliver", ticket.from.value(), ticket.to.value(), ticket.size_bytes);
    deliver();
  };

  if (random.chance(config.duplicate)) {
    ++state.stats.duplicated;
    ++state.in_flight;
    sim.trace("duplicate", from.value(), to.value(), size_bytes);
    // A copy of the callback: a callback that consumes its captures still works twice.
    const auto again = arrival + Duration{1} + random.between(Duration::zero(), config.jitter);
    sim.schedule(again, [arrive, ticket, deliver] { arrive(ticket, deliver); });
  }
  ++state.in_flight;
  sim.schedule(arrival, [arrive, ticket, deliver = std::move(deliver)] { arrive(ticket, deliver); });
}

template <class Fault>
void Network::apply_fault(Fault&& fault) {
  // Snapshot connected() for every unordered pair, apply, diff. Quadratic in
  // the node count, which is small in simulations.
  const auto ids = nodes();
  const auto snapshot = [&] {
    std::vector<bool> result;
    result.reserve(ids.size() * ids.size() / 2);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      for (std::size_t j = i + 1; j < ids.size(); ++j) {
        result.push_back(connected(ids[i], ids[j]));
      }
    }
    return result;
  };
  const auto before = watchers_->entries.empty() ? std::vector<bool>{} : snapshot();
  std::forward<Fault>(fault)();
  if (watchers_->entries.empty()) {
    return;
  }
  const auto after = snapshot();

  struct Change {
    PeerId a, b;
    bool connected;
  };
  std::vector<Change> changes;
  std::size_t k = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    for (std::size_t j = i + 1; j < ids.size(); ++j, ++k) {
      if (before[k] != after[k]) {
        changes.push_back({ids[i], ids[j], after[k]});
      }
    }
  }
  if (changes.empty()) {
    return;
  }
  std::vector<std::uint64_t> recipients;
  for (const auto& [id, watcher] : watchers_->entries) {
    recipients.push_back(id);
  }
  auto& sim = state_->sim;
  sim.schedule(sim.now(), [weak = std::weak_ptr<Watchers>(watchers_), recipients, changes] {
    for (const auto& change : changes) {
      for (const auto id : recipients) {
        // Re-checked per call: an earlier callback may have unsubscribed this one
        // or destroyed the Network.
        const auto watchers = weak.lock();
        if (!watchers) {
          return;
        }
        const auto found = watchers->entries.find(id);
        if (found == watchers->entries.end()) {
          continue;
        }
        const auto watcher = found->second;
        (*watcher)(change.a, change.b, change.connected);
      }
    }
  });
}

void Network::partition(PeerId a, PeerId b) {
  state_->node(a);
  state_->node(b);
  apply_fault([&] {
    state_->block(a, b);
    state_->block(b, a);
  });
}

void Network::partition_one_way(PeerId from, PeerId to) {
  state_->node(from);
  state_->node(to);
  apply_fault([&] { state_->block(from, to); });
}

void Network::heal(PeerId a, PeerId b) {
  state_->node(a);
  state_->node(b);
  apply_fault([&] {
    state_->blocked.erase({a, b});
    state_->blocked.erase({b, a});
  });
}

void Network::heal_all() {
  apply_fault([&] { state_->blocked.clear(); });
}

void Network::isolate(PeerId node) {
  state_->node(node);
  apply_fault([&] {
    for (const auto& [other, unused] : state_->nodes) {
      if (other != node) {
        state_->block(node, other);
        state_->block(other, node);
      }
    }
  });
}

void Network::crash(PeerId node) {
  auto& entry = state_->node(node);
  if (!entry.up) {
    return;
  }
  apply_fault([&] {
    entry.up = false;
    ++entry.epoch;
    // Every message in flight to or from it will be dropped (epoch mismatch),
    // so its pipes restart empty.
    for (auto& [pair, link] : state_->links) {
      if (pair.first == node || pair.second == node) {
        link.busy_until = {};
        link.last_arrival = {};
      }
    }
  });
}

void Network::restart(PeerId node) {
  auto& entry = state_->node(node);
  if (entry.up) {
    return;
  }
  apply_fault([&] { entry.up = true; });
}

bool Network::is_up(PeerId node) const {
  const auto* entry = state_->find(node);
  return entry != nullptr && entry->up;
}

bool Network::can_send(PeerId from, PeerId to) const {
  return state_->can_send(from, to);
}

bool Network::connected(PeerId a, PeerId b) const {
  return can_send(a, b) && can_send(b, a);
}

Subscription Network::watch(ConnectivityWatcher watcher) {
  const auto id = watchers_->next_id++;
  watchers_->entries.emplace(id, std::make_shared<ConnectivityWatcher>(std::move(watcher)));
  return Subscription([weak = std::weak_ptr<Watchers>(watchers_), id] {
    if (const auto watchers = weak.lock()) {
      watchers->entries.erase(id);
    }
  });
}

const NetworkStats& Network::stats() const noexcept {
  return state_->stats;
}

std::uint64_t Network::in_flight() const noexcept {
  return state_->in_flight;
}

} // namespace mosaik::sim
