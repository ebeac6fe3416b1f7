#pragma once
// Membership: who belongs to the group and who votes. It changes through the
// log, one server at a time: a new member joins as a learner (replicates,
// never counted), is promoted to voter once caught up, and can be removed.
// Observers never vote and are never promoted.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include <mosaik/core/ids.hpp>
#include <mosaik/group/group_config.hpp>

namespace mosaik::group {

struct Member {
  Preference preference = Preference::normal;
  bool voter = true;

  friend bool operator==(const Member&, const Member&) = default;
};

/// Members sorted by id (a flat vector: small, cheap to copy into log entries).
class Membership {
public:
  using Entry = std::pair<PeerId, Member>;

  Membership() = default;
  explicit Membership(const std::vector<MemberSpec>& specs) {
    for (const auto& spec : specs) {
      set(spec.id, Member{spec.preference, spec.preference != Preference::observer});
    }
  }

  /// Rebuilds a membership from its entries (as read from the wire): nullopt
  /// unless they are sorted by id without repeats.
  [[nodiscard]] static std::optional<Membership> from_entries(std::vector<Entry> entries) {
    for (std::size_t i = 1; i < entries.size(); ++i) {
      if (!(entries[i - 1].first < entries[i].first)) {
        return std::nullopt;
      }
    }
    Membership membership;
    membership.members_ = std::move(entries);
    return membership;
  }

  [[nodiscard]] const std::vector<Entry>& members() const noexcept { return members_; }
  [[nodiscard]] bool contains(PeerId peer) const { return locate(peer) != members_.end(); }
  [[nodiscard]] bool is_voter(PeerId peer) const {
    const auto it = locate(peer);
    return it != members_.end() && it->second.voter;
  }
  [[nodiscard]] std::optional<Member> find(PeerId peer) const {
    const auto it = locate(peer);
    return it == members_.end() ? std::nullopt : std::optional<Member>{it->second};
  }
  [[nodiscard]] std::vector<PeerId> voters() const {
    std::vector<PeerId> out;
    for (const auto& [peer, member] : members_) {
      if (member.voter) {
        out.push_back(peer);
      }
    }
    return out;
  }
  [[nodiscard]] std::size_t voter_count() const {
    return static_cast<std::size_t>(std::count_if(members_.begin(), members_.end(),
                                                  [](const Entry& entry) { return entry.second.voter; }));
  }
  /// Votes needed for a majority of the voters (no allocation: asked on every acknowledgement).
  [[nodiscard]] std::size_t quorum() const { return voter_count() / 2 + 1; }

  /// A copy with `peer` added as a learner (observers stay non-voters forever).
  [[nodiscard]] Membership with_learner(PeerId peer, Preference preference) const {
    auto next = *this;
    next.set(peer, Member{preference, false});
    return next;
  }
  [[nodiscard]] Membership with_voter(PeerId peer) const {
    auto next = *this;
    const auto member = find(peer).value_or(Member{});
    next.set(peer, Member{member.preference, true});
    return next;
  }
  [[nodiscard]] Membership without(PeerId peer) const {
    auto next = *this;
    std::erase_if(next.members_, [peer](const Entry& entry) { return entry.first == peer; });
    return next;
  }

  friend bool operator==(const Membership&, const Membership&) = default;

private:
  [[nodiscard]] std::vector<Entry>::const_iterator locate(PeerId peer) const {
    const auto it = std::lower_bound(members_.begin(), members_.end(), peer,
                                     [](const Entry& entry, PeerId id) { return entry.first < id; });
    return it != members_.end() && it->first == peer ? it : members_.end();
  }
  void set(PeerId peer, Member member) {
    const auto it = std::lower_bound(members_.begin(), members_.end(), peer,
                                     [](const Entry& entry, PeerId id) { return entry.first < id; });
    if (it != members_.end() && it->first == peer) {
      it->second = member;
    } else {
      members_.insert(it, Entry{peer, member});
    }
  }

  std::vector<Entry> members_;
};

} // namespace mosaik::group
