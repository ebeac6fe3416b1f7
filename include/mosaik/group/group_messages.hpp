#pragma once
// The consensus messages exchanged by group members, and the envelope that
// carries them together with the catch-up strategy's messages. Every message
// names its group: a member drops (and counts) what comes from another group.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/entry.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/index_range.hpp>
#include <mosaik/group/log_command.hpp>
#include <mosaik/group/result.hpp>

namespace mosaik::group {

/// Candidate → voters. A pre-vote asks "would you vote for me at `term`?"
/// without anyone changing term.
struct VoteRequest {
  Term term;
  Cursor last;
  bool pre_vote = false;
  friend bool operator==(const VoteRequest&, const VoteRequest&) = default;
};

struct VoteResponse {
  Term term;
  bool granted = false;
  bool pre_vote = false;
  friend bool operator==(const VoteResponse&, const VoteResponse&) = default;
};

/// Leader → member: entries after `prev` (none: a heartbeat). `round`
/// numbers the leader's heartbeat rounds, echoed back, for read-index checks.
template <class Command>
struct AppendEntries {
  Term term;
  Cursor prev;
  std::vector<Entry<LogCommand<Command>>> entries;
  Index commit;
  std::uint64_t round = 0;
  friend bool operator==(const AppendEntries&, const AppendEntries&) = default;
};

/// Member → leader. On success `match` is the last index known to equal the
/// leader's log. `syncing`: the member is catching up through the sync
/// strategy (the leader sends only new entries meanwhile); `match` is then
/// its last verified index.
struct AppendResponse {
  Term term;
  bool success = false;
  bool syncing = false;
  Index match;
  std::uint64_t round = 0;
  friend bool operator==(const AppendResponse&, const AppendResponse&) = default;
};

/// Follower → leader: please append these client commands.
template <class Command>
struct ForwardRequest {
  std::uint64_t request_id = 0;
  std::vector<Command> commands;
  friend bool operator==(const ForwardRequest&, const ForwardRequest&) = default;
};

/// Leader → follower: where the forwarded commands went (`term` is the term
/// of their entries), or why not.
struct ForwardResponse {
  std::uint64_t request_id = 0;
  IndexRange range;
  Term term;
  std::optional<Errc> error;
  friend bool operator==(const ForwardResponse&, const ForwardResponse&) = default;
};

/// Follower → leader: the index a linearizable read must wait for.
struct ReadIndexRequest {
  std::uint64_t request_id = 0;
  friend bool operator==(const ReadIndexRequest&, const ReadIndexRequest&) = default;
};

struct ReadIndexResponse {
  std::uint64_t request_id = 0;
  Index read_index;
  std::optional<Errc> error;
  friend bool operator==(const ReadIndexResponse&, const ReadIndexResponse&) = default;
};

template <class Command>
using ConsensusMessage =
    std::variant<VoteRequest, VoteResponse, AppendEntries<Command>, AppendResponse, ForwardRequest<Command>,
                 ForwardResponse, ReadIndexRequest, ReadIndexResponse>;

/// What travels between members: a consensus message or a catch-up message.
template <class Command, class SyncMessage>
struct GroupMessage {
  GroupId group;
  std::variant<ConsensusMessage<Command>, SyncMessage> body;
};

} // namespace mosaik::group
