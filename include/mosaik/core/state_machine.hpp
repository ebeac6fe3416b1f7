#pragma once
// StateMachine: what a replication group replicates. Commands are applied in
// log order, exactly once; the signature identifies the machine (and its
// version) so that peers running different machines never form one group.

#include <concepts>
#include <string>

namespace mosaik {

template <class SM>
concept StateMachine = requires(SM machine, const SM& const_machine, const typename SM::Command& command) {
  typename SM::Command;
  requires std::movable<typename SM::Command>;
  requires std::copyable<typename SM::Command>;
  machine.apply(command);
  { const_machine.signature() } -> std::convertible_to<std::string>;
};

} // namespace mosaik
