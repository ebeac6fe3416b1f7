#pragma once
// The library's logging facade. Header code formats with fmt; the line is
// handed to a compiled sink (spdlog, in src/log.cpp), so users' translation
// units never include spdlog. Formatting is skipped when the level is off.

#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace mosaik::log {

enum class Level { trace, debug, info, warn, error, off };

/// Whether a line at `level` would be written (cheap; check before formatting).
[[nodiscard]] bool enabled(Level level) noexcept;
/// Writes one line to the library's logger ("mosaik").
void write(Level level, std::string_view line);
/// Sets the threshold of the library's logger.
void set_level(Level level);

template <class... Args>
void at(Level level, fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(level)) {
    write(level, fmt::format(format, std::forward<Args>(args)...));
  }
}

template <class... Args>
void trace(fmt::format_string<Args...> format, Args&&... args) {
  at(Level::trace, format, std::forward<Args>(args)...);
}
template <class... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
  at(Level::debug, format, std::forward<Args>(args)...);
}
template <class... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  at(Level::info, format, std::forward<Args>(args)...);
}
template <class... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  at(Level::warn, format, std::forward<Args>(args)...);
}
template <class... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
  at(Level::error, format, std::forward<Args>(args)...);
}

} // namespace mosaik::log
