#pragma once
// SyncSessionContext: everything a catch-up session needs from its host,
// behind a virtual interface so that each transport (the simulator, TCP)
// and the group runtime implement it once.

#include <functional>
#include <optional>
#include <vector>

#include <asio/any_io_executor.hpp>

#include <mosaik/core/bond_event.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/subscription.hpp>
#include <mosaik/core/timer_service.hpp>
#include <mosaik/storage/log_storage.hpp>

namespace mosaik::sync {

template <class Command, class Message>
class SyncSessionContext {
public:
  virtual ~SyncSessionContext() = default;

  /// The local log the session fills.
  virtual storage::LogStorage<Command>& log() = 0;
  /// The peers currently bonded (connected members of the group, self excluded).
  [[nodiscard]] virtual std::vector<PeerId> bonded_peers() const = 0;
  /// Calls `on_change` for every peer that bonds or whose bond terminates,
  /// until the returned subscription is destroyed.
  virtual Subscription watch_bonds(std::function<void(const BondEvent&)> on_change) = 0;
  /// The current leader, when one is known.
  [[nodiscard]] virtual std::optional<PeerId> leader() const = 0;
  /// Sends a message to a peer; delivery is best effort.
  virtual void send_to(PeerId peer, Message message) = 0;

  /// The executor the session's coroutine runs on.
  [[nodiscard]] virtual asio::any_io_executor executor() const = 0;
  /// The clock and alarms (virtual time in the simulator).
  virtual TimerService& timers() = 0;
};

/// What a provider reads from its host. A provider sends nothing itself: it
/// answers each request with a response, and the host sends it.
template <class Command>
class SyncProviderContext {
public:
  virtual ~SyncProviderContext() = default;

  /// The local log the provider serves from.
  [[nodiscard]] virtual const storage::LogStorage<Command>& log() const = 0;
  /// The local commit index: only entries up to it are announced as available.
  [[nodiscard]] virtual Index commit_index() const = 0;
  /// The highest index the provider may serve to a fetch. A follower serves
  /// only committed entries (the default). The group runtime overrides it on
  /// the current leader to return its last index: the leader's own log is
  /// authoritative for its followers (it sends them the same entries by
  /// AppendEntries), and a lagging follower whose acknowledgement the leader
  /// needs to commit can only get the uncommitted tail from it. Availability
  /// announcements stay commit-bounded (a stale leader must never advertise
  /// uncommitted entries to sessions of another leader); only fetches from a
  /// session that names this peer as its leader ask beyond them.
  [[nodiscard]] virtual Index serve_limit() const { return commit_index(); }
  /// True when answers leave this process as bytes (a wire transport, which
  /// encodes a message as it is sent): the provider then answers with
  /// entries encoded straight from its log. False (the default, and the
  /// simulator): answers carry decoded entries.
  [[nodiscard]] virtual bool answers_go_on_a_wire() const { return false; }
};

} // namespace mosaik::sync
