#pragma once
// LogCommand: what a group's log holds. Besides the user's commands, the
// runtime writes its own entries: a no-op when a leader is elected (so it can
// commit entries of earlier terms) and membership changes. The user's state
// machine only sees its commands; the catch-up strategy replicates the whole.

#include <cstddef>
#include <string>
#include <variant>

#include <mosaik/core/command_size.hpp>
#include <mosaik/core/state_machine.hpp>
#include <mosaik/group/membership.hpp>

namespace mosaik::group {

/// The entry a new leader appends in its term.
struct Noop {
  friend bool operator==(const Noop&, const Noop&) = default;
};

/// A new membership, effective as soon as it is in a member's log.
struct MembershipChange {
  Membership membership;
  friend bool operator==(const MembershipChange&, const MembershipChange&) = default;
};

/// Every member takes a snapshot of its state when it applies this entry, so
/// all snapshot at the same index; the snapshot is offered to `requester`
/// (the lagging member that asked for it; the leader itself for periodic ones).
struct SnapshotPoint {
  PeerId requester{};
  friend bool operator==(const SnapshotPoint&, const SnapshotPoint&) = default;
};

template <class Command>
struct LogCommand {
  std::variant<Noop, MembershipChange, Command, SnapshotPoint> body;

  [[nodiscard]] const Command* user() const noexcept { return std::get_if<Command>(&body); }
  [[nodiscard]] const MembershipChange* membership() const noexcept {
    return std::get_if<MembershipChange>(&body);
  }
  [[nodiscard]] const SnapshotPoint* snapshot_point() const noexcept {
    return std::get_if<SnapshotPoint>(&body);
  }

  friend bool operator==(const LogCommand&, const LogCommand&) = default;
};

/// One byte of tag, then the body's bytes (members: 10 bytes each).
template <class Command>
[[nodiscard]] std::size_t mosaik_command_size(const LogCommand<Command>& command) {
  if (const auto* user = command.user()) {
    return 1 + command_size(*user);
  }
  if (const auto* change = command.membership()) {
    return 1 + 10 * change->membership.members().size();
  }
  if (command.snapshot_point() != nullptr) {
    return 1 + 8;
  }
  return 1;
}

/// The group's log seen as a state machine, so a StateSync strategy can be
/// instantiated over it (strategies need only the command type and a signature).
/// Exposes the machine's snapshot item, when it has one.
template <class SM>
struct SnapshotItemOfMachine {};
template <class SM>
requires requires {
  typename SM::SnapshotItem;
}
struct SnapshotItemOfMachine<SM> {
  using SnapshotItem = typename SM::SnapshotItem;
};

template <StateMachine SM>
struct Replicated : SnapshotItemOfMachine<SM> {
  using Command = LogCommand<typename SM::Command>;
  SM* machine = nullptr;

  void apply(const Command& command) {
    if (const auto* user = command.user(); user && machine) {
      machine->apply(*user);
    }
  }
  [[nodiscard]] std::string signature() const { return machine ? machine->signature() : std::string{}; }
};

} // namespace mosaik::group
