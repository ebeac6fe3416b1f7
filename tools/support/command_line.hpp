#pragma once
// The command line of mosaik's programs (examples, tools, benchmarks): CLI11,
// so that every program has --help, rejects an unknown option, and refuses a
// value that is not a number where a number is expected (checked parsing,
// never a silent 0), with one message format and one exit status.

#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace mosaik::support {

/// The exit status after a command-line error.
inline constexpr int kUsageStatus = 2;

/// Parses `argv` into the variables `app`'s options are bound to. nullopt: go
/// on; otherwise the status to exit with: 0 after --help (printed), 2 after an
/// error (printed to stderr with a pointer to --help). Call it once per `app`.
inline std::optional<int> parse(CLI::App& app, int argc, const char* const* argv) {
  // CLI11 2.1 reads "-1" into an unsigned option as 2^64-1: refuse it instead.
  const CLI::Validator not_negative{[](const std::string& text) {
                                      return text.starts_with('-')
                                                 ? "a negative number where none may be: " + text
                                                 : std::string{};
                                    },
                                    ""};
  for (auto* option : app.get_options()) {
    if (option->get_type_name() == "UINT") {
      option->check(not_negative);
    }
  }
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::ParseError& error) {
    const auto status = app.exit(error);
    return status == 0 ? 0 : kUsageStatus;
  }
}

/// Prints "<program>: <problem>" and a pointer to --help on stderr; returns
/// the usage status, for a check that needs several options at once.
inline int usage_error(const CLI::App& app, std::string_view problem) {
  fmt::print(stderr, "{}: {}\nRun with --help for more information.\n", app.get_name(), problem);
  return kUsageStatus;
}

} // namespace mosaik::support
