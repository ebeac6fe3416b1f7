#pragma once
// StrategyBase: what every catch-up strategy's factory shares: it holds the
// strategy's settings, names them in the signature, and makes providers and
// sessions from them. A strategy adds its message type and is_request().

#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/entry.hpp>

namespace mosaik::sync {

template <class CommandType, class Config, class ProviderType, class SessionType, class SessionContextType,
          class ProviderContextType>
class StrategyBase {
public:
  using Command = CommandType;
  using Session = SessionType;
  using Provider = ProviderType;
  using SessionContext = SessionContextType;
  using ProviderContext = ProviderContextType;

  explicit StrategyBase(Config config) : config_(std::move(config)) {}

  [[nodiscard]] std::string signature() const { return config_.signature(); }
  [[nodiscard]] const Config& config() const noexcept { return config_; }

  [[nodiscard]] std::unique_ptr<Provider> create_provider(ProviderContext& context) const {
    return std::make_unique<Provider>(config_, context);
  }

  /// A session that fills the log up to `position` (the leader's cursor
  /// before `entries`). With `replace_suffix`, the local log ends in a suffix
  /// no leader could check: a strategy that can must replace it (by a
  /// snapshot above it); one that cannot gets the plain session.
  [[nodiscard]] std::unique_ptr<Session> create_session(SessionContext& context, Cursor position,
                                                        Index leader_commit,
                                                        std::vector<Entry<Command>> entries,
                                                        bool replace_suffix = false) const {
    if constexpr (std::is_constructible_v<Session, const Config&, SessionContext&, Cursor, Index,
                                          std::vector<Entry<Command>>, bool>) {
      return std::make_unique<Session>(config_, context, position, leader_commit, std::move(entries),
                                       replace_suffix);
    } else {
      return std::make_unique<Session>(config_, context, position, leader_commit, std::move(entries));
    }
  }

private:
  Config config_;
};

} // namespace mosaik::sync
