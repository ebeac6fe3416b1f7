#pragma once
// StateSync: what a catch-up strategy provides. A strategy has a message
// type, a signature (part of the group's identity: members whose strategies
// or settings differ must not form one group), a provider made once per
// member and a session made on a lagging follower per gap.

#include <concepts>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/entry.hpp>
#include <mosaik/sync/sync_session_context.hpp>

namespace mosaik::sync {

template <class S>
concept StateSync = requires(const S& strategy, typename S::SessionContext& session_context,
                             typename S::ProviderContext& provider_context, Cursor position, Index commit,
                             std::vector<Entry<typename S::Command>> entries) {
  typename S::Command;
  typename S::Message;
  typename S::Session;
  typename S::Provider;
  { strategy.signature() } -> std::convertible_to<std::string>;
  { S::is_request(std::declval<const typename S::Message&>()) } -> std::convertible_to<bool>;
  { strategy.create_provider(provider_context) } -> std::same_as<std::unique_ptr<typename S::Provider>>;
  {
    strategy.create_session(session_context, position, commit, std::move(entries))
    } -> std::same_as<std::unique_ptr<typename S::Session>>;
};

} // namespace mosaik::sync
