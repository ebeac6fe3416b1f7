#pragma once
// Time as the library sees it: a monotonic time point with nanosecond
// resolution. Real transports read std::chrono::steady_clock; the simulator
// supplies virtual time on the same scale, starting at the epoch.

#include <chrono>

namespace mosaik {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

using namespace std::chrono_literals;

} // namespace mosaik
