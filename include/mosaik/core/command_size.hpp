#pragma once
// command_size(): how many payload bytes a command occupies on the wire. Used
// to bound responses by bytes as well as by entry count. Byte strings and
// containers of trivially copyable values report their contents; trivially
// copyable types their size; any other type provides a `mosaik_command_size`
// function found by argument-dependent lookup.

#include <cstddef>
#include <ranges>
#include <type_traits>

namespace mosaik {

template <class T>
concept HasCustomCommandSize = requires(const T& value) {
  { mosaik_command_size(value) } -> std::convertible_to<std::size_t>;
};

/// A contiguous, sized range of trivially copyable values (a concept, so that
/// range_value_t is only formed for ranges).
template <class T>
concept TrivialContiguousRange = std::ranges::contiguous_range<T> && std::ranges::sized_range<T> &&
                                 std::is_trivially_copyable_v<std::ranges::range_value_t<T>>;

template <class T>
[[nodiscard]] constexpr std::size_t command_size(const T& command) noexcept {
  if constexpr (HasCustomCommandSize<T>) {
    return static_cast<std::size_t>(mosaik_command_size(command));
  } else if constexpr (TrivialContiguousRange<T>) {
    return std::ranges::size(command) * sizeof(std::ranges::range_value_t<T>);
  } else {
    static_assert(std::is_trivially_copyable_v<T>,
                  "provide `std::size_t mosaik_command_size(const T&)` for this command type");
    return sizeof(T);
  }
}

} // namespace mosaik
