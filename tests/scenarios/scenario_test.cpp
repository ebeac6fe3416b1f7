// The scenario runner: one Catch2 test case per file of
// tests/scenarios/testdata (ctest: scenario.<file name>), run by the driver
// its name starts with:
//
//   group_*.txt     a counter group on the simulator (group_scenario.hpp over
//                   testing::GroupDriver)
//   kv_*.txt        the same with a key-value store (kv_scenario.hpp)
//   replay_*.txt    a LogReplayCore driven by hand (session_driver.hpp)
//   snapshot_*.txt  a SnapshotSyncCore driven by hand (session_driver.hpp)
//
// A mismatch fails the test with file:line, the command, the seed, expected
// and actual output and a diff. MOSAIK_REWRITE=1 rewrites the files' expected
// outputs from the actual ones instead (then review them with git diff):
//
//   MOSAIK_REWRITE=1 ctest --preset default -R '^scenario\.'

#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "counter_scenario.hpp"
#include "data_driven.hpp"
#include "kv_scenario.hpp"
#include "session_driver.hpp"

#ifndef MOSAIK_SCENARIO_DIR
#error "MOSAIK_SCENARIO_DIR names the folder of the scenario files"
#endif

namespace {

using namespace mosaik::test::scenario;

std::unique_ptr<ScenarioDriver> driver_for(const std::string& name) {
  if (name.starts_with("group_")) {
    return std::make_unique<CounterScenario>();
  }
  if (name.starts_with("kv_")) {
    return std::make_unique<KvScenario>();
  }
  if (name.starts_with("replay_")) {
    return std::make_unique<LogReplayDriver>();
  }
  if (name.starts_with("snapshot_")) {
    return std::make_unique<SnapshotDriver>();
  }
  return nullptr;
}

void run_scenario(const std::filesystem::path& path) {
  const auto name = path.stem().string();
  auto driver = driver_for(name);
  INFO(path.string());
  REQUIRE(driver != nullptr); // the name says which driver: group_, kv_, replay_ or snapshot_
  const auto script = read_script(path.string());
  const auto failure = run_script(script, *driver);
  if (!failure.empty()) {
    FAIL(failure);
  }
  if (rewrite_requested()) {
    WARN("rewrote " << path.string());
  }
}

class ScenarioInvoker final : public Catch::ITestInvoker {
public:
  explicit ScenarioInvoker(std::filesystem::path path) : path_(std::move(path)) {}
  void invoke() const override { run_scenario(path_); }

private:
  std::filesystem::path path_;
};

/// One test case per scenario file, named after it.
const bool registered = [] {
  static std::deque<std::string> names; // Catch keeps references to them
  static std::deque<Catch::AutoReg> registrations;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(MOSAIK_SCENARIO_DIR)) {
    if (entry.path().extension() == ".txt") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    names.push_back(file.stem().string());
    registrations.emplace_back(new ScenarioInvoker(file), CATCH_INTERNAL_LINEINFO, Catch::StringRef{},
                               Catch::NameAndTags{names.back(), "[scenario]"});
  }
  return true;
}();

} // namespace
