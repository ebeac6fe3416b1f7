#pragma once
// Scenario files in the manner of etcd raft's testdata/*.txt (cockroachdb's
// datadriven package): a file is a sequence of blocks, a command and the
// output it is expected to print,
//
//   # a comment
//   command arg key=value key=a,b ...
//   ----
//   expected output
//
// with a blank line (or comments) between blocks. An output that holds blank
// lines is framed by a doubled separator:
//
//   command
//   ----
//   ----
//   first paragraph
//
//   second paragraph
//   ----
//   ----
//
// run_script() runs each command through a ScenarioDriver and compares what it
// prints with the expected text (trailing spaces and blank lines ignored); the
// first mismatch ends the run with a report that names file:line, the
// command, the driver's context (a seed), expected and actual output and a
// line diff. With the environment variable MOSAIK_REWRITE=1 every command is
// run and the file is rewritten with the actual outputs instead (review the
// change with git diff).
//
// No test framework here: drivers and this runner can serve programs too.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <mosaik/core/ids.hpp>

namespace mosaik::test::scenario {

/// A command's input is wrong (unknown command or argument, bad value): the
/// scenario file is broken, not the code under test.
class ScenarioError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// One word of a command line: `3`, `/`, `async` (no value) or `key=value`.
struct Argument {
  std::string key;
  std::optional<std::string> value;
  bool used = false;
};

/// A command line, split into its name and arguments. The accessors mark
/// what they read; a driver calls require_all_used() to refuse typos.
class Command {
public:
  Command() = default;
  /// Splits `line` at spaces: the first word is the name.
  explicit Command(std::string_view line) {
    std::istringstream words{std::string{line}};
    words >> name_;
    for (std::string word; words >> word;) {
      const auto equals = word.find('=');
      if (equals == std::string::npos || equals == 0) {
        args_.push_back(Argument{word, std::nullopt});
      } else {
        args_.push_back(Argument{word.substr(0, equals), word.substr(equals + 1)});
      }
    }
  }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  /// The words without a value, in order.
  [[nodiscard]] std::vector<std::string> positional() {
    std::vector<std::string> out;
    for (auto& arg : args_) {
      if (!arg.value) {
        arg.used = true;
        out.push_back(arg.key);
      }
    }
    return out;
  }

  /// The value of `key=...`, if given.
  [[nodiscard]] std::optional<std::string> get(std::string_view key) {
    for (auto& arg : args_) {
      if (arg.value && arg.key == key) {
        arg.used = true;
        return arg.value;
      }
    }
    return std::nullopt;
  }

  /// The value of `key=...`; throws ScenarioError "<name>: <expected>" when it is not given.
  [[nodiscard]] std::string require(std::string_view key, std::string_view expected) {
    auto value = get(key);
    if (!value) {
      throw ScenarioError(fmt::format("{}: {}", name_, expected));
    }
    return std::move(*value);
  }

  /// Whether the bare word `flag` was given.
  [[nodiscard]] bool flag(std::string_view flag) {
    for (auto& arg : args_) {
      if (!arg.value && arg.key == flag) {
        arg.used = true;
        return true;
      }
    }
    return false;
  }

  /// Throws ScenarioError naming the first argument no accessor read.
  void require_all_used() const {
    for (const auto& arg : args_) {
      if (!arg.used) {
        throw ScenarioError(fmt::format("{}: unexpected argument '{}{}'", name_, arg.key,
                                        arg.value ? "=" + *arg.value : std::string{}));
      }
    }
  }

private:
  std::string name_;
  std::vector<Argument> args_;
};

/// What runs a scenario's commands: one instance per file.
class ScenarioDriver {
public:
  virtual ~ScenarioDriver() = default;
  /// Runs `command` and returns what it prints. Throws ScenarioError on bad input.
  virtual std::string run(Command& command) = 0;
  /// Printed with any failure (the seed to replay, for instance).
  [[nodiscard]] virtual std::string context() const { return {}; }
  /// Checked once the last command ran: a failure's text, or nothing.
  virtual std::optional<std::string> finish() { return std::nullopt; }
};

// ---- the file ------------------------------------------------------------------------

struct Block {
  std::string preamble; // comments and blank lines before the command, verbatim
  std::size_t line = 0; // of the command, from 1
  std::string command;  // the command line
  std::string expected; // without a trailing newline
  bool double_separator = false;
};

struct Script {
  std::string path;
  std::vector<Block> blocks;
  std::string trailer; // comments and blank lines after the last block
};

/// Text without trailing spaces on each line and without trailing blank lines.
inline std::string normalized(std::string_view text) {
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    auto line = text.substr(start, end - start);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.remove_suffix(1);
    }
    out.append(line);
    out.push_back('\n');
    start = end + 1;
  }
  while (!out.empty() && out.back() == '\n') {
    out.pop_back();
  }
  return out;
}

inline std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

/// Parses a scenario file's text (`path` names it in errors).
inline Script parse_script(std::string path, std::string_view text) {
  Script script;
  script.path = std::move(path);
  const auto lines = split_lines(text);
  std::string pending; // preamble of the next block
  for (std::size_t i = 0; i < lines.size();) {
    const auto& line = lines[i];
    if (normalized(line).empty() || line.front() == '#') {
      pending += line + "\n";
      ++i;
      continue;
    }
    Block block;
    block.preamble = std::exchange(pending, {});
    block.line = i + 1;
    block.command = normalized(line);
    ++i;
    if (i >= lines.size() || normalized(lines[i]) != "----") {
      throw ScenarioError(fmt::format("{}:{}: '{}' is not followed by a line '----'", script.path, block.line,
                                      block.command));
    }
    ++i;
    std::vector<std::string> output;
    if (i < lines.size() && normalized(lines[i]) == "----") {
      block.double_separator = true;
      ++i;
      for (;; ++i) {
        if (i + 1 >= lines.size()) {
          throw ScenarioError(fmt::format("{}:{}: the output of '{}' is not closed by two lines '----'",
                                          script.path, block.line, block.command));
        }
        if (normalized(lines[i]) == "----" && normalized(lines[i + 1]) == "----") {
          i += 2;
          break;
        }
        output.push_back(lines[i]);
      }
    } else {
      for (; i < lines.size() && !normalized(lines[i]).empty(); ++i) {
        output.push_back(lines[i]);
      }
    }
    std::string expected;
    for (const auto& out : output) {
      expected += out + "\n";
    }
    block.expected = normalized(expected);
    script.blocks.push_back(std::move(block));
  }
  script.trailer = pending;
  return script;
}

inline Script read_script(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ScenarioError(fmt::format("{}: cannot open", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_script(path, text.str());
}

/// The file's text with each block's expected output replaced by `outputs`.
inline std::string render_script(const Script& script, const std::vector<std::string>& outputs) {
  std::string out;
  for (std::size_t i = 0; i < script.blocks.size(); ++i) {
    const auto& block = script.blocks[i];
    const auto output = normalized(i < outputs.size() ? outputs[i] : block.expected);
    const bool has_blank = output.find("\n\n") != std::string::npos || output.empty();
    out += block.preamble;
    out += block.command + "\n----\n";
    if (has_blank && !output.empty()) {
      out += "----\n" + output + "\n----\n----\n";
    } else {
      out += output.empty() ? std::string{} : output + "\n";
    }
    // Blocks are separated by a blank line: keep one when the preamble of the next has none.
    if (i + 1 < script.blocks.size() && script.blocks[i + 1].preamble.empty()) {
      out += "\n";
    }
  }
  out += script.trailer;
  return out;
}

// ---- comparing -----------------------------------------------------------------------

/// A line diff of `expected` and `actual` (longest common subsequence):
/// "  " lines both hold, "- " expected only, "+ " actual only.
inline std::string line_diff(std::string_view expected, std::string_view actual) {
  const auto a = split_lines(expected);
  const auto b = split_lines(actual);
  std::vector<std::vector<std::size_t>> common(a.size() + 1, std::vector<std::size_t>(b.size() + 1, 0));
  for (std::size_t i = a.size(); i-- > 0;) {
    for (std::size_t j = b.size(); j-- > 0;) {
      common[i][j] = a[i] == b[j] ? common[i + 1][j + 1] + 1 : std::max(common[i + 1][j], common[i][j + 1]);
    }
  }
  std::string out;
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out += "    " + a[i++] + "\n";
      ++j;
    } else if (i < a.size() && (j == b.size() || common[i + 1][j] >= common[i][j + 1])) {
      out += "  - " + a[i++] + "\n";
    } else {
      out += "  + " + b[j++] + "\n";
    }
  }
  return out;
}

inline std::string indented(std::string_view text) {
  std::string out;
  for (const auto& line : split_lines(text)) {
    out += "    " + line + "\n";
  }
  return out.empty() ? std::string{"    (nothing)\n"} : out;
}

/// Whether MOSAIK_REWRITE=1 asks to rewrite the expected outputs.
inline bool rewrite_requested() {
  const char* value = std::getenv("MOSAIK_REWRITE");
  return value != nullptr && std::string_view{value} == "1";
}

/// Runs `command_line` through `driver`; a ScenarioError becomes the output "error: ...".
inline std::string run_command(ScenarioDriver& driver, const std::string& command_line) {
  Command command{command_line};
  try {
    auto output = driver.run(command);
    command.require_all_used();
    return output;
  } catch (const ScenarioError& error) {
    return fmt::format("error: {}", error.what());
  }
}

/// Runs every block of `script` through `driver`. Returns the failure report
/// (empty when every output matched). With `rewrite`, runs every block and
/// writes the actual outputs back to the file instead of comparing.
inline std::string run_script(const Script& script, ScenarioDriver& driver,
                              bool rewrite = rewrite_requested()) {
  std::vector<std::string> outputs;
  for (const auto& block : script.blocks) {
    const auto actual = normalized(run_command(driver, block.command));
    outputs.push_back(actual);
    if (!rewrite && actual != block.expected) {
      return fmt::format("{}:{}: {}\n  {}\n  expected:\n{}  actual:\n{}  diff (- expected, + actual):\n{}"
                         "  (MOSAIK_REWRITE=1 rewrites the expected outputs from the actual ones)\n",
                         script.path, block.line, block.command, driver.context(), indented(block.expected),
                         indented(actual), line_diff(block.expected, actual));
    }
  }
  if (rewrite) {
    std::ofstream out(script.path, std::ios::binary | std::ios::trunc);
    out << render_script(script, outputs);
  }
  if (auto failure = driver.finish()) {
    return fmt::format("{}: at the end\n  {}\n{}", script.path, driver.context(), indented(*failure));
  }
  return {};
}

// ---- parsing values ------------------------------------------------------------------

inline std::uint64_t parse_uint(std::string_view text, std::string_view what) {
  std::uint64_t value = 0;
  if (text.empty()) {
    throw ScenarioError(fmt::format("{}: a number expected, not '{}'", what, text));
  }
  for (const char c : text) {
    if (c < '0' || c > '9') {
      throw ScenarioError(fmt::format("{}: a number expected, not '{}'", what, text));
    }
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

inline std::int64_t parse_int(std::string_view text, std::string_view what) {
  if (!text.empty() && text.front() == '-') {
    return -static_cast<std::int64_t>(parse_uint(text.substr(1), what));
  }
  return static_cast<std::int64_t>(parse_uint(text, what));
}

/// `500ms`, `2s`, `1m`, `100us`: a simulated duration.
inline std::chrono::nanoseconds parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  const auto amount = static_cast<std::int64_t>(parse_uint(text.substr(0, digits), "duration"));
  const auto unit = text.substr(digits);
  if (unit == "us") {
    return std::chrono::microseconds{amount};
  }
  if (unit == "ms") {
    return std::chrono::milliseconds{amount};
  }
  if (unit == "s") {
    return std::chrono::seconds{amount};
  }
  if (unit == "m") {
    return std::chrono::minutes{amount};
  }
  throw ScenarioError(fmt::format("a duration such as 500ms, 2s or 1m expected, not '{}'", text));
}

/// A duration as a scenario writes it (the largest unit that divides it).
inline std::string format_duration(std::chrono::nanoseconds duration) {
  using namespace std::chrono;
  const auto count = duration.count();
  if (count % duration_cast<nanoseconds>(minutes{1}).count() == 0 && count != 0) {
    return fmt::format("{}m", duration_cast<minutes>(duration).count());
  }
  if (count % duration_cast<nanoseconds>(seconds{1}).count() == 0) {
    return fmt::format("{}s", duration_cast<seconds>(duration).count());
  }
  if (count % duration_cast<nanoseconds>(milliseconds{1}).count() == 0) {
    return fmt::format("{}ms", duration_cast<milliseconds>(duration).count());
  }
  return fmt::format("{}us", duration_cast<microseconds>(duration).count());
}

/// `a,b,c` as a list of words (empty words dropped).
inline std::vector<std::string> parse_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    if (end > start) {
      out.emplace_back(text.substr(start, end - start));
    }
    start = end + 1;
  }
  return out;
}

/// A member id from a scenario word.
inline PeerId parse_peer(std::string_view text) {
  return PeerId{parse_uint(text, "member")};
}

inline std::vector<PeerId> parse_peers(const std::vector<std::string>& words) {
  std::vector<PeerId> out;
  for (const auto& word : words) {
    for (const auto& item : parse_list(word)) {
      out.push_back(parse_peer(item));
    }
  }
  return out;
}

} // namespace mosaik::test::scenario
