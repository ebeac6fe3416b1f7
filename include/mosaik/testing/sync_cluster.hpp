#pragma once
// SyncCluster: members of one group on the simulated network, each with its
// own log, commit index and catch-up provider; any of them can open a
// catch-up session. It implements both sync contexts over sim::Network, so
// the real session and provider run unchanged on virtual time.
//
// Bonds follow connectivity: two members are bonded while the network
// connects them; a partition or crash terminates the bond on both sides.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include <mosaik/core/state_machine.hpp>
#include <mosaik/group/group_frame_codec.hpp> // what a message costs on the wire
#include <mosaik/sim/bonds.hpp>
#include <mosaik/sim/network.hpp>
#include <mosaik/sim/simulator.hpp>
#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/log_replay/log_replay_sync.hpp>

namespace mosaik::testing {

template <StateMachine SM>
class SyncCluster {
public:
  using Strategy = sync::LogReplaySync<SM>;
  using Command = typename SM::Command;
  using Message = typename Strategy::Message;
  using Session = typename Strategy::Session;
  using Provider = typename Strategy::Provider;

  /// Lets a test make a provider lie: it sees every message a member sends
  /// and returns what really goes on the wire (nullopt: nothing).
  using SendFilter = std::function<std::optional<Message>(PeerId to, Message message)>;

  class Node final : public Strategy::SessionContext, public Strategy::ProviderContext {
  public:
    Node(SyncCluster& cluster, PeerId id) : cluster_(cluster), id_(id) {
      provider_ = cluster.strategy_.create_provider(static_cast<typename Strategy::ProviderContext&>(*this));
    }

    [[nodiscard]] PeerId id() const noexcept { return id_; }
    [[nodiscard]] storage::InMemoryLog<Command>& local_log() noexcept { return log_; }
    [[nodiscard]] const storage::InMemoryLog<Command>& local_log() const noexcept { return log_; }
    [[nodiscard]] Provider& provider() noexcept { return *provider_; }
    [[nodiscard]] Session* session() noexcept { return session_.get(); }
    [[nodiscard]] const std::optional<sync::SyncOutcome>& outcome() const noexcept { return outcome_; }
    void set_commit_index(Index commit) { commit_ = commit; }
    /// Lets the node serve fetches up to `limit` (as the group runtime's leader
    /// serves its uncommitted tail); nullopt: up to its commit index.
    void set_serve_limit(std::optional<Index> limit) { serve_limit_ = limit; }
    void set_leader(std::optional<PeerId> leader) { leader_ = leader; }
    void set_send_filter(SendFilter filter) { filter_ = std::move(filter); }

    /// Opens a catch-up session to `position` and runs it on the simulator.
    void start_session(Cursor position, Index leader_commit, std::vector<Entry<Command>> entries = {}) {
      outcome_.reset();
      session_ = cluster_.strategy_.create_session(static_cast<typename Strategy::SessionContext&>(*this),
                                                   position, leader_commit, std::move(entries));
      asio::co_spawn(
          cluster_.simulator_.executor(), session_->run(),
          [this, alive = std::weak_ptr<bool>(alive_)](std::exception_ptr error, sync::SyncOutcome outcome) {
            if (alive.expired()) {
              return;
            }
            if (error) {
              std::rethrow_exception(error);
            }
            outcome_ = std::move(outcome);
          });
    }
    /// Destroys the session object (whether or not it finished).
    void drop_session() { session_.reset(); }

    // ---- SyncSessionContext ------------------------------------------------
    storage::LogStorage<Command>& log() override { return log_; }
    [[nodiscard]] std::vector<PeerId> bonded_peers() const override {
      return sim::bonded_peers(cluster_.network_, id_);
    }
    Subscription watch_bonds(std::function<void(const BondEvent&)> on_change) override {
      return sim::watch_bonds(cluster_.network_, id_, std::move(on_change));
    }
    [[nodiscard]] std::optional<PeerId> leader() const override { return leader_; }
    [[nodiscard]] asio::any_io_executor executor() const override { return cluster_.simulator_.executor(); }
    TimerService& timers() override { return cluster_.simulator_; }

    void send_to(PeerId peer, Message message) override {
      if (filter_) {
        auto filtered = filter_(peer, std::move(message));
        if (!filtered) {
          return;
        }
        message = std::move(*filtered);
      }
      cluster_.transmit(id_, peer, std::move(message));
    }

    // ---- SyncProviderContext ------------------------------------------------
    [[nodiscard]] const storage::LogStorage<Command>& log() const override { return log_; }
    [[nodiscard]] Index commit_index() const override { return commit_; }
    [[nodiscard]] Index serve_limit() const override { return serve_limit_.value_or(commit_); }

  private:
    friend class SyncCluster;

    void deliver(PeerId from, Message message) {
      if (std::holds_alternative<sync::AvailabilityRequest>(message) ||
          std::holds_alternative<sync::FetchEntriesRequest>(message)) {
        if (auto response = provider_->answer(from, message)) {
          send_to(from, std::move(*response)); // through the filter: a test may make it lie
        }
      } else if (session_ && !session_->finished()) {
        session_->receive(from, std::move(message));
      }
    }

    SyncCluster& cluster_;
    PeerId id_;
    storage::InMemoryLog<Command> log_;
    Index commit_{};
    std::optional<Index> serve_limit_;
    std::optional<PeerId> leader_;
    SendFilter filter_;
    std::unique_ptr<Provider> provider_;
    std::unique_ptr<Session> session_;
    std::optional<sync::SyncOutcome> outcome_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  };

  SyncCluster(sim::Simulator& simulator, sim::Network& network, sync::LogReplayConfig config = {})
      : simulator_(simulator), network_(network), strategy_(std::move(config)) {}

  SyncCluster(const SyncCluster&) = delete;
  SyncCluster& operator=(const SyncCluster&) = delete;

  Node& add_node(PeerId id) {
    network_.add_node(id);
    auto [it, inserted] = nodes_.try_emplace(id, nullptr);
    if (inserted) {
      it->second = std::make_unique<Node>(*this, id);
    }
    return *it->second;
  }
  [[nodiscard]] Node& node(PeerId id) { return *nodes_.at(id); }
  [[nodiscard]] const std::map<PeerId, std::unique_ptr<Node>>& nodes() const noexcept { return nodes_; }
  [[nodiscard]] const Strategy& strategy() const noexcept { return strategy_; }
  /// Messages put on the wire, by kind index of the message variant.
  [[nodiscard]] const std::array<std::uint64_t, std::variant_size_v<Message>>&
  messages_sent() const noexcept {
    return messages_sent_;
  }

private:
  void transmit(PeerId from, PeerId to, Message message) {
    const auto size = wire::frame_size(message);
    ++messages_sent_[message.index()];
    simulator_.trace("sync-send", from.value(), to.value(), message.index());
    // Shared so that a duplicated delivery gets its own copy; the last one moves.
    auto shared = std::make_shared<Message>(std::move(message));
    network_.send(from, to, size, [this, from, to, shared] {
      const auto it = nodes_.find(to);
      if (it == nodes_.end()) {
        return;
      }
      it->second->deliver(from, shared.use_count() == 1 ? std::move(*shared) : Message{*shared});
    });
  }

  sim::Simulator& simulator_;
  sim::Network& network_;
  Strategy strategy_;
  std::map<PeerId, std::unique_ptr<Node>> nodes_;
  std::array<std::uint64_t, std::variant_size_v<Message>> messages_sent_{};
};

} // namespace mosaik::testing
