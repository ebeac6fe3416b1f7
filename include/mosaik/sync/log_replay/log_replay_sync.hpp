#pragma once
// LogReplaySync: the log-replay catch-up strategy as a StateSync factory. A
// provider runs on every member; a session is made on a lagging follower each
// time a gap is found.

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/core/state_machine.hpp>
#include <mosaik/sync/log_replay/log_replay_config.hpp>
#include <mosaik/sync/log_replay/log_replay_message_codec.hpp>
#include <mosaik/sync/log_replay/log_replay_messages.hpp>
#include <mosaik/sync/log_replay/log_replay_provider.hpp>
#include <mosaik/sync/log_replay/log_replay_session.hpp>
#include <mosaik/sync/state_sync.hpp>
#include <mosaik/sync/strategy_base.hpp>

namespace mosaik::sync {

template <StateMachine SM>
class LogReplaySync
    : public StrategyBase<typename SM::Command, LogReplayConfig, LogReplayProvider<typename SM::Command>,
                          LogReplaySession<SM>,
                          SyncSessionContext<typename SM::Command, LogReplayMessage<typename SM::Command>>,
                          SyncProviderContext<typename SM::Command>> {
public:
  using Command = typename SM::Command;
  using Message = LogReplayMessage<Command>;

  explicit LogReplaySync(LogReplayConfig config = {}) : LogReplaySync::StrategyBase(std::move(config)) {}

  /// Requests go to the provider, responses to the session.
  [[nodiscard]] static bool is_request(const Message& message) noexcept {
    return std::holds_alternative<AvailabilityRequest>(message) ||
           std::holds_alternative<FetchEntriesRequest>(message);
  }
};

} // namespace mosaik::sync
