#pragma once
// What the example programs share: command-line parsing from one table of
// options (each a name, a placeholder for the usage text and the field it
// sets), the --log-level names, time and percentage conversions, and small
// JSON helpers.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include <mosaik/core/log.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/net/sim/network.hpp>

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

/// All the names, separated by `|`: the placeholder of an option that takes one.
template <class E, std::size_t N>
std::string alternatives(const Names<E, N>& names) {
  std::string out;
  for (const auto& [value, name] : names) {
    out += fmt::format("{}{}", out.empty() ? "" : "|", name);
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

/// The command line, one argument at a time; errors go to stderr, prefixed
/// with the program's name.
class Arguments {
public:
  Arguments(const char* program, int argc, char** argv) : program_(program), argc_(argc), argv_(argv) {}

  /// Moves to the next argument; false after the last one.
  bool next() { return ++i_ < argc_; }
  [[nodiscard]] std::string_view current() const { return argv_[i_]; }

  /// The value after the current option (consumed), or an error if there is none.
  std::optional<std::string_view> value() {
    if (i_ + 1 >= argc_) {
      std::fprintf(stderr, "%s: %s needs a value\n", program_, argv_[i_]);
      return std::nullopt;
    }
    return std::string_view{argv_[++i_]};
  }

  /// A flag: present means true; takes no value.
  bool read(bool& out) {
    out = true;
    return true;
  }

  /// A word: the next argument as it is.
  bool read(std::string& out) {
    const auto text = value();
    if (text) {
      out = std::string{*text};
    }
    return text.has_value();
  }

  /// A number: the whole next argument must parse (decimal for integers).
  template <class T>
  requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) bool read(T& out) {
    const std::string option{current()};
    const auto text = value();
    if (!text) {
      return false;
    }
    char* end = nullptr;
    const std::string copy{*text};
    if constexpr (std::is_floating_point_v<T>) {
      out = std::strtod(copy.c_str(), &end);
    } else {
      out = static_cast<T>(std::strtoull(copy.c_str(), &end, 10));
    }
    if (end == copy.c_str() || *end != '\0') {
      std::fprintf(stderr, "%s: %s: not a number: %s\n", program_, option.c_str(), copy.c_str());
      return false;
    }
    return true;
  }

  /// Prints "<program>: <message>"; returns false, for `return args.error(...)`.
  template <class... Args>
  bool error(fmt::format_string<Args...> format, Args&&... args) const {
    fmt::print(stderr, "{}: {}\n", program_, fmt::format(format, std::forward<Args>(args)...));
    return false;
  }

private:
  const char* program_;
  int argc_;
  char** argv_;
  int i_ = 0;
};

/// One option of a program whose options are an `O`: its name, the
/// placeholder of its value in the usage text (none for a flag) and how it
/// reads itself into an `O` (a field: see Arguments::read; or a function).
template <class O>
struct Option {
  using Reader = std::function<bool(Arguments&, O&)>;

  /// A flag.
  Option(std::string_view option_name, bool O::*field) : Option(option_name, {}, field) {}
  /// An option with a value, read into `field` (of `O` or of a base).
  template <class T, class Base>
  requires std::is_base_of_v<Base, O> Option(std::string_view option_name, std::string value_placeholder,
                                             T Base::*field)
      : name(option_name), placeholder(std::move(value_placeholder)),
        read([field](Arguments& args, O& options) { return args.read(options.*field); }) {}
  /// An option with a value, read by `reader`.
  Option(std::string_view option_name, std::string value_placeholder, Reader reader)
      : name(option_name), placeholder(std::move(value_placeholder)), read(std::move(reader)) {}

  std::string_view name;
  std::string placeholder;
  Reader read;
};

/// "usage: <program> [--option X] ...", the options in their order, wrapped
/// before kUsageWidth columns (a line always takes at least one option).
template <class O>
std::string usage_text(const char* program, std::initializer_list<Option<O>> options) {
  constexpr std::size_t kUsageWidth = 90;
  std::string out = fmt::format("usage: {}", program);
  std::size_t line_start = 0;
  bool line_has_option = false;
  for (const auto& option : options) {
    const auto item = option.placeholder.empty() ? fmt::format("[{}]", option.name)
                                                 : fmt::format("[{} {}]", option.name, option.placeholder);
    if (line_has_option && out.size() - line_start + 1 + item.size() > kUsageWidth) {
      out += '\n';
      line_start = out.size();
      out += "        ";
    }
    out += ' ';
    out += item;
    line_has_option = true;
  }
  out += '\n';
  return out;
}

/// Parses the command line into an `O` (starting from its defaults) along
/// `options`; --help and -h print the usage and exit with 0. `invalid` names
/// what is wrong with the parsed options, or returns nullptr. On any error,
/// prints it and the usage and returns nullopt. Words that are not options
/// go to `positional` when given (an error otherwise).
template <class O>
std::optional<O> parse_command_line(const char* program, int argc, char** argv,
                                    std::initializer_list<Option<O>> options,
                                    const std::function<const char*(const O&)>& invalid,
                                    const std::function<bool(std::string_view, O&)>& positional = nullptr) {
  const auto usage = [&] { std::fputs(usage_text(program, options).c_str(), stderr); };
  O parsed;
  Arguments args{program, argc, argv};
  while (args.next()) {
    const auto arg = args.current();
    if (arg == "--help" || arg == "-h") {
      usage();
      std::exit(0);
    }
    const auto* option = std::find_if(options.begin(), options.end(),
                                      [&](const Option<O>& candidate) { return candidate.name == arg; });
    const bool ok = option != options.end()                ? option->read(args, parsed)
                    : positional && !arg.starts_with("--") ? positional(arg, parsed)
                                                           : args.error("unknown option {}", arg);
    if (!ok) {
      usage();
      return std::nullopt;
    }
  }
  if (const char* problem = invalid(parsed)) {
    args.error("{}", problem);
    usage();
    return std::nullopt;
  }
  return parsed;
}

// ---- JSON -----------------------------------------------------------------------

/// `text` with `"` and `\` escaped, for a JSON string.
inline std::string json_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

/// The members of a JSON object from peer ids to numbers, without the braces:
/// `"1": 10, "2": 20`.
template <class Map>
std::string json_counts(const Map& counts) {
  std::string out;
  for (const auto& [peer, count] : counts) {
    out += fmt::format("{}\"{}\": {}", out.empty() ? "" : ", ", peer.value(), count);
  }
  return out;
}

} // namespace mosaik::examples
