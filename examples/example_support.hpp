#pragma once
// What the example programs share: the --log-level names and option, the
// simulations' common options, time and percentage conversions. The command
// line itself is CLI11's (tools/support/command_line.hpp), the JSON output
// nlohmann-json's (tools/support/json.hpp).

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <mosaik/core/log.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/sim/network.hpp>

#include "command_line.hpp"
#include "json.hpp"

namespace mosaik::examples {

// ---- names of enum values -------------------------------------------------------

/// The names of an enum's values, for to_string and for parsing.
template <class E, std::size_t N>
using Names = std::array<std::pair<E, std::string_view>, N>;

template <class E, std::size_t N>
constexpr std::string_view name_of(const Names<E, N>& names, E value) {
  for (const auto& [candidate, name] : names) {
    if (candidate == value) {
      return name;
    }
  }
  return "unknown";
}

template <class E, std::size_t N>
constexpr std::optional<E> value_of(const Names<E, N>& names, std::string_view name) {
  for (const auto& [value, candidate] : names) {
    if (candidate == name) {
      return value;
    }
  }
  return std::nullopt;
}

/// All the names, for CLI::IsMember.
template <class E, std::size_t N>
std::vector<std::string> names_of(const Names<E, N>& names) {
  std::vector<std::string> out;
  for (const auto& [value, name] : names) {
    out.emplace_back(name);
  }
  return out;
}

/// The --log-level names.
inline constexpr Names<log::Level, 6> kLogLevels{{{log::Level::trace, "trace"},
                                                  {log::Level::debug, "debug"},
                                                  {log::Level::info, "info"},
                                                  {log::Level::warn, "warn"},
                                                  {log::Level::error, "error"},
                                                  {log::Level::off, "off"}}};

/// The level called `name`; warn for an unknown name.
inline log::Level level_from(std::string_view name) {
  return value_of(kLogLevels, name).value_or(log::Level::warn);
}

// ---- numbers and the simulations' common options ----------------------------------

inline Duration from_ms(double ms) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(ms));
}

inline double millis(Duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

inline double percent(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

/// The options both simulations take: their links, the catch-up requests in
/// flight per peer, the seed and the output. Each program picks its defaults
/// for the first two.
struct SimOptions {
  SimOptions(std::uint32_t default_inflight, double default_latency_ms)
      : inflight(default_inflight), latency_ms(default_latency_ms) {}

  std::uint32_t inflight;
  double latency_ms;
  double bandwidth_mbps = 100;
  std::uint64_t seed = 1;
  bool json = false;
  std::string log_level = "warn";

  [[nodiscard]] double bandwidth_bytes_per_second() const { return bandwidth_mbps * 1e6 / 8.0; }

  /// A link with this latency and bandwidth (and nothing else).
  [[nodiscard]] sim::LinkConfig link() const {
    sim::LinkConfig link;
    link.latency = from_ms(latency_ms);
    link.bandwidth_bytes_per_second = bandwidth_bytes_per_second();
    return link;
  }
};

// ---- the command line -------------------------------------------------------------

/// --log-level NAME into `level`: one of kLogLevels' names, anything else is an error.
inline CLI::Option* add_log_level(CLI::App& app, std::string& level) {
  return app.add_option("--log-level", level, "how much to log")
      ->check(CLI::IsMember(names_of(kLogLevels)))
      ->capture_default_str();
}

/// The options both simulations share (--inflight, --latency-ms,
/// --bandwidth-mbps, --seed, --json, --log-level).
inline void add_sim_options(CLI::App& app, SimOptions& options) {
  app.add_option("--inflight", options.inflight, "catch-up requests in flight per peer")
      ->capture_default_str();
  app.add_option("--latency-ms", options.latency_ms, "one-way link latency")->capture_default_str();
  app.add_option("--bandwidth-mbps", options.bandwidth_mbps, "link bandwidth")->capture_default_str();
  app.add_option("--seed", options.seed, "the simulation's seed")->capture_default_str();
  app.add_flag("--json", options.json, "print one JSON object instead of a table");
  add_log_level(app, options.log_level);
}

} // namespace mosaik::examples
