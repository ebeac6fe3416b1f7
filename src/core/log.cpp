// The compiled sink of mosaik's logging facade (include/mosaik/core/log.hpp):
// one spdlog logger named "mosaik", created on first use, writing to stderr
// in colour. Its initial level is info unless the environment variable
// MOSAIK_LOG says otherwise (trace, debug, info, warn, error, off).
//
// If the application has already registered an spdlog logger named "mosaik"
// (through the same spdlog library), that logger is used instead, so that an
// application using spdlog can route mosaik's lines to its own sinks.

#include <mosaik/core/log.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace mosaik::log {
namespace {

constexpr const char* logger_name = "mosaik";
constexpr const char* env_variable = "MOSAIK_LOG";
constexpr Level default_level = Level::info;

spdlog::level::level_enum to_spdlog(Level level) noexcept {
  switch (level) {
  case Level::trace:
    return spdlog::level::trace;
  case Level::debug:
    return spdlog::level::debug;
  case Level::info:
    return spdlog::level::info;
  case Level::warn:
    return spdlog::level::warn;
  case Level::error:
    return spdlog::level::err;
  case Level::off:
    return spdlog::level::off;
  }
  return spdlog::level::off;
}

std::optional<Level> parse_level(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "trace") {
    return Level::trace;
  }
  if (lower == "debug") {
    return Level::debug;
  }
  if (lower == "info") {
    return Level::info;
  }
  if (lower == "warn" || lower == "warning") {
    return Level::warn;
  }
  if (lower == "error" || lower == "err") {
    return Level::error;
  }
  if (lower == "off" || lower == "none") {
    return Level::off;
  }
  return std::nullopt;
}

std::shared_ptr<spdlog::logger> make_logger() {
  if (auto existing = spdlog::get(logger_name)) {
    return existing;
  }

  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(logger_name, std::move(sink));
  logger->set_pattern("[%H:%M:%S.%f] [%^%l%$] [%n] %v");

  Level level = default_level;
  const char* env = std::getenv(env_variable);
  const std::optional<Level> parsed = env != nullptr ? parse_level(env) : std::nullopt;
  if (parsed) {
    level = *parsed;
  }
  logger->set_level(to_spdlog(level));
  logger->flush_on(spdlog::level::warn);

  if (env != nullptr && *env != '\0' && !parsed) {
    logger->warn("{}={} is not a level (trace, debug, info, warn, error, off); using {}", env_variable, env,
                 spdlog::level::to_string_view(to_spdlog(level)));
  }

  try {
    spdlog::register_logger(logger);
  } catch (const spdlog::spdlog_ex&) {
    // Registered concurrently by someone else: use theirs, as promised above.
    if (auto existing = spdlog::get(logger_name)) {
      return existing;
    }
  }
  return logger;
}

spdlog::logger& logger() {
  // Initialisation of a function-local static is thread safe.
  static const std::shared_ptr<spdlog::logger> instance = make_logger();
  return *instance;
}

} // namespace

bool enabled(Level level) noexcept {
  if (level == Level::off) {
    return false;
  }
  try {
    return logger().should_log(to_spdlog(level));
  } catch (...) {
    return false;
  }
}

void write(Level level, std::string_view line) {
  if (level == Level::off) {
    return;
  }
  logger().log(to_spdlog(level), spdlog::string_view_t{line.data(), line.size()});
}

void set_level(Level level) {
  logger().set_level(to_spdlog(level));
}

} // namespace mosaik::log
