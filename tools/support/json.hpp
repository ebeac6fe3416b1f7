#pragma once
// The JSON that mosaik's programs print (one object per line, for jq and
// scripts): nlohmann-json, so every string is escaped correctly (a quote or a
// newline in a failure reason still gives valid JSON). Objects keep their keys
// in insertion order, so the output reads as before.

#include <cmath>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace mosaik::support {

using Json = nlohmann::ordered_json;

/// `value` rounded to `digits` decimals (a measurement printed with the
/// precision it has, not 17 digits).
inline double rounded(double value, int digits) {
  const auto scale = std::pow(10.0, digits);
  return std::round(value * scale) / scale;
}

/// A JSON object from ids (anything with value()) or strings to numbers:
/// {"1": 10, "2": 20}.
template <class Map>
Json counts_json(const Map& counts) {
  auto out = Json::object();
  for (const auto& [key, count] : counts) {
    if constexpr (requires { key.value(); }) {
      out[std::to_string(key.value())] = count;
    } else {
      out[std::string{key}] = count;
    }
  }
  return out;
}

/// `json` on one line (bytes that are not UTF-8 replaced, never an exception).
inline std::string one_line(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

/// Prints `json` on one line of stdout.
inline void print_line(const Json& json) {
  std::puts(one_line(json).c_str());
}

} // namespace mosaik::support
