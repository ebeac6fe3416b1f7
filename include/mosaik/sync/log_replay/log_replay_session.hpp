#pragma once
// LogReplaySession: the lagging follower's side of log-replay catch-up, as an
// Asio awaitable: LogReplayCore's decisions carried out by a SessionDriver.

#include <utility>
#include <vector>

#include <mosaik/core/state_machine.hpp>
#include <mosaik/sync/log_replay/log_replay_core.hpp>
#include <mosaik/sync/session_driver.hpp>
#include <mosaik/sync/sync_session_context.hpp>

namespace mosaik::sync {

template <StateMachine SM>
class LogReplaySession
    : public SessionDriver<LogReplayCore<typename SM::Command>,
                           SyncSessionContext<typename SM::Command, LogReplayMessage<typename SM::Command>>> {
public:
  using Command = typename SM::Command;
  using Message = LogReplayMessage<Command>;
  using Context = SyncSessionContext<Command, Message>;

  /// A session that fills the local log up to `position` (the leader's cursor
  /// before `entries`) and then appends `entries`.
  LogReplaySession(const LogReplayConfig& config, Context& context, Cursor position, Index leader_commit,
                   std::vector<Entry<Command>> entries)
      : SessionDriver<LogReplayCore<Command>, Context>(context, config, context.log(), position,
                                                       leader_commit, context.leader(), std::move(entries),
                                                       context.timers().now()) {}
};

} // namespace mosaik::sync
