#pragma once
// The group scenario's traits for the counter machine (machines::Counter):
// members with the tests' scaled-down timings (counter_options), commands
// `value=V [count=N]` (Inc(V), Inc(V+1), ... N of them), printed as "+V";
// the state printed as "value=X".

#include <string>
#include <vector>

#include <fmt/format.h>

#include "../support/counter_world.hpp"
#include "data_driven.hpp"
#include "group_scenario.hpp"

namespace mosaik::test::scenario {

struct CounterTraits {
  /// `batch=N`: the catch-up batch (entries per fetch).
  CounterWorld::Options options(const std::vector<PeerId>& config, Command& args) const {
    const auto batch = args.get("batch");
    return counter_options(config, batch ? parse_uint(*batch, "batch") : 2000);
  }

  std::vector<Counter::Command> commands(Command& args) const {
    const auto value = args.require("value", "value=V expected");
    const auto count = args.get("count");
    return increments(parse_int(value, "value"),
                      count ? static_cast<std::int64_t>(parse_uint(*count, "count")) : 1);
  }

  std::string describe(const Counter::Command& command) const { return fmt::format("+{}", command.amount); }
  std::string state(const Counter& machine) const { return fmt::format("value={}", machine.value()); }
};

using CounterScenario = GroupScenario<Counter, sync::LogReplaySync, CounterTraits>;

} // namespace mosaik::test::scenario
