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
#include <mosaik/sync/log_replay/config.hpp>
#include <mosaik/sync/log_replay/messages.hpp>
#include <mosaik/sync/log_replay/provider.hpp>
#include <mosaik/sync/log_replay/session.hpp>
#include <mosaik/sync/state_sync.hpp>

namespace mosaik::sync {

template <StateMachine SM>
class LogReplaySync {
public:
  using Command = typename SM::Command;
  using Message = LogReplayMessage<Command>;
  using Session = LogReplaySession<SM>;
  using Provider = LogReplayProvider<Command>;
  using SessionContext = SyncSessionContext<Command, Message>;
  using ProviderContext = SyncProviderContext<Command, Message>;

  explicit LogReplaySync(LogReplayConfig config = {}) : config_(std::move(config)) {}

  [[nodiscard]] std::string signature() const { return config_.signature(); }
  /// Requests go to the provider, responses to the session.
  [[nodiscard]] static bool is_request(const Message& message) noexcept {
    return std::holds_alternative<AvailabilityRequest>(message) ||
           std::holds_alternative<FetchEntriesRequest>(message);
  }
  [[nodiscard]] const LogReplayConfig& config() const noexcept { return config_; }

  [[nodiscard]] std::unique_ptr<Provider> create_provider(ProviderContext& context) const {
    return std::make_unique<Provider>(config_, context);
  }

  [[nodiscard]] std::unique_ptr<Session> create_session(SessionContext& context, Cursor position,
                                                        Index leader_commit,
                                                        std::vector<Entry<Command>> entries) const {
    return std::make_unique<Session>(config_, context, position, leader_commit, std::move(entries));
  }

private:
  LogReplayConfig config_;
};

} // namespace mosaik::sync
