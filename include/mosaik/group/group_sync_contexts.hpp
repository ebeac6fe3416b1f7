#pragma once
// The catch-up strategy's two views of a group member, adapted from the
// Group: the session context (the member's log, its bonds, the leader it
// knows, sending, the executor and timers; for snapshot strategies,
// installing a fetched snapshot) and the provider context (the log it
// serves, its commit index, how far it may serve; for snapshot strategies,
// the clock and asking the leader for a snapshot). Each Group owns one of
// each, for its whole life; they reach into it as its friends.

#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>

#include <mosaik/core/bond_event.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/index.hpp>
#include <mosaik/core/snapshot_info.hpp>
#include <mosaik/core/subscription.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/core/timer_service.hpp>
#include <mosaik/group/raft_core.hpp> // Role

namespace mosaik::group {

/// The session context of `Group`: `Base` is its strategy's SessionContext.
template <class Group, class Base>
class GroupSessionContext : public Base {
public:
  explicit GroupSessionContext(Group& group) : group_(group) {}
  typename Group::Log& log() override { return group_.log_; }
  [[nodiscard]] std::vector<PeerId> bonded_peers() const override { return group_.transport_.bonded_peers(); }
  Subscription watch_bonds(std::function<void(const BondEvent&)> on_change) override {
    return group_.transport_.watch_bonds(std::move(on_change));
  }
  [[nodiscard]] std::optional<PeerId> leader() const override { return group_.core_.leader(); }
  void send_to(PeerId peer, typename Group::SyncMessage message) override {
    group_.send_sync(peer, std::move(message));
  }
  [[nodiscard]] asio::any_io_executor executor() const override { return group_.transport_.executor(); }
  TimerService& timers() override { return group_.transport_.timers(); }

protected:
  Group& group_;
};

/// The session context of a `Group` that catches up by snapshot.
template <class Group>
class GroupSnapshotSessionContext final
    : public GroupSessionContext<Group, typename Group::Strategy::SessionContext> {
public:
  using GroupSessionContext<Group, typename Group::Strategy::SessionContext>::GroupSessionContext;
  std::optional<std::string> install_snapshot(const SnapshotInfo& info,
                                              std::vector<typename Group::SnapshotItem> items) override {
    return this->group_.install_snapshot(info, std::move(items));
  }
};

/// The provider context of `Group`: `Base` is its strategy's ProviderContext.
template <class Group, class Base>
class GroupProviderContext : public Base {
public:
  explicit GroupProviderContext(Group& group) : group_(group) {}
  [[nodiscard]] const typename Group::Log& log() const override { return group_.log_; }
  [[nodiscard]] Index commit_index() const override { return group_.core_.commit(); }
  /// The leader's own log is authoritative for its followers: it serves
  /// its uncommitted tail to fetches (never to availability announcements).
  [[nodiscard]] Index serve_limit() const override {
    return group_.core_.role() == Role::leader ? group_.log_.last().index : group_.core_.commit();
  }
  [[nodiscard]] bool answers_go_on_a_wire() const override { return group_.transport_.encodes_on_send(); }

protected:
  Group& group_;
};

/// The provider context of a `Group` that catches up by snapshot.
template <class Group>
class GroupSnapshotProviderContext final
    : public GroupProviderContext<Group, typename Group::Strategy::ProviderContext> {
public:
  using GroupProviderContext<Group, typename Group::Strategy::ProviderContext>::GroupProviderContext;
  [[nodiscard]] TimePoint now() const override { return this->group_.now(); }
  void request_snapshot(PeerId requester) override { this->group_.request_snapshot(requester); }
};

/// The session context a `Group` hands its strategy.
template <class Group>
using GroupSessionContextOf =
    std::conditional_t<Group::snapshots, GroupSnapshotSessionContext<Group>,
                       GroupSessionContext<Group, typename Group::Strategy::SessionContext>>;

/// The provider context a `Group` hands its strategy.
template <class Group>
using GroupProviderContextOf =
    std::conditional_t<Group::snapshots, GroupSnapshotProviderContext<Group>,
                       GroupProviderContext<Group, typename Group::Strategy::ProviderContext>>;

} // namespace mosaik::group
