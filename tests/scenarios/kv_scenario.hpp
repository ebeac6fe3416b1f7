#pragma once
// The group scenario's traits for the key-value store (machines::KvStore),
// the machine mosaik-group-sim --machine kv and mosaik-torture replicate:
// members with the tests' scaled-down timings, commands `key=K value=V` (a
// put; without value=, an erase), printed as "K=V" and "-K"; the state
// printed as its size and digest, "keys=N digest=0123456789abcdef".

#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mosaik/machines/kv_store.hpp>
#include <mosaik/testing/group_world.hpp>

#include "../support/counter_members.hpp"
#include "data_driven.hpp"
#include "group_scenario.hpp"

namespace mosaik::test::scenario {

struct KvTraits {
  using Kv = machines::KvStore;
  using Options = testing::GroupWorld<Kv>::Options;

  /// `batch=N`: the catch-up batch (entries per fetch).
  Options options(const std::vector<PeerId>& config, Command& args) const {
    const auto batch = args.get("batch");
    Options options;
    options.key = "test-kv";
    options.config = fast_config(config);
    sync::LogReplayConfig sync_config;
    sync_config.batch_size = batch ? parse_uint(*batch, "batch") : 2000;
    sync_config.fetch_timeout = 2s;
    sync_config.min_fetch_timeout = 100ms;
    options.strategy = sync::LogReplaySync<group::Replicated<Kv>>{sync_config};
    options.commit_timeout = 20s;
    return options;
  }

  std::vector<Kv::Command> commands(Command& args) const {
    auto key = args.require("key", "key=K [value=V] expected");
    auto value = args.get("value");
    return {value ? Kv::put(std::move(key), std::move(*value)) : Kv::erase(std::move(key))};
  }

  std::string describe(const Kv::Command& command) const {
    return command.op == Kv::Command::Op::put ? fmt::format("{}={}", command.key, command.value)
                                              : fmt::format("-{}", command.key);
  }
  std::string state(const Kv& machine) const {
    return fmt::format("keys={} digest={:016x}", machine.size(), machine.digest());
  }
};

using KvScenario = GroupScenario<machines::KvStore, sync::LogReplaySync, KvTraits>;

} // namespace mosaik::test::scenario
