#pragma once
// GroupConfig: the consensus settings of one member. The timing settings that
// must agree across the group (election and heartbeat parameters) enter its
// signature and so the GroupId: members configured differently refuse to
// form one group.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <mosaik/core/ids.hpp>
#include <mosaik/core/time.hpp>

namespace mosaik::group {

/// How willing a member is to lead.
enum class Preference : std::uint8_t {
  normal,    ///< campaigns after the election timeout
  reluctant, ///< campaigns only after a longer timeout (reluctant_factor ×)
  observer,  ///< never campaigns, never votes; replicates and serves catch-up
};

[[nodiscard]] constexpr const char* to_string(Preference preference) noexcept {
  switch (preference) {
  case Preference::normal:
    return "normal";
  case Preference::reluctant:
    return "reluctant";
  case Preference::observer:
    return "observer";
  }
  return "unknown";
}

/// A member of the initial configuration.
struct MemberSpec {
  PeerId id;
  Preference preference = Preference::normal;
};

struct GroupConfig {
  /// The members the group starts with (voters, except observers). A peer
  /// joining an existing group later starts with the group's list and is
  /// added through add_member(); until then it only follows.
  std::vector<MemberSpec> members;

  /// A follower that hears no leader for this long (plus jitter) campaigns.
  Duration election_timeout = 2s;
  /// Up to this much is added to each election timeout, drawn at random.
  Duration election_jitter = 500ms;
  /// The leader's heartbeat (and empty AppendEntries) period.
  Duration heartbeat_interval = 500ms;
  /// No member campaigns before this much time since it started.
  Duration bootstrap_delay = 1s;
  /// Reluctant members wait this many election timeouts.
  std::uint32_t reluctant_factor = 3;
  /// Pre-vote: a candidate first asks whether it could win, without raising
  /// its term, so a peer back from a partition does not depose a healthy leader.
  bool pre_vote = true;
  /// A leader that has not heard a majority within an election timeout steps down.
  bool check_quorum = true;

  /// Entries and bytes per AppendEntries message.
  std::size_t max_entries_per_append = 1000;
  std::size_t max_append_bytes = 1u << 20;
  /// A learner is promoted to voter once within this many entries of the leader.
  std::uint64_t promote_within_entries = 1000;
  /// How long a follower waits for the leader to take a forwarded request.
  Duration forward_timeout = 5s;
  /// The pause before a failed catch-up session is retried.
  Duration sync_retry_backoff = 500ms;

  /// The settings every member must share, as text (part of the GroupId).
  [[nodiscard]] std::string signature() const {
    return fmt::format(
        "raft/v1 election={}ns jitter={}ns heartbeat={}ns reluctant={} prevote={} checkquorum={}",
        election_timeout.count(), election_jitter.count(), heartbeat_interval.count(), reluctant_factor,
        pre_vote, check_quorum);
  }
};

} // namespace mosaik::group
