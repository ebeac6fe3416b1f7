#pragma once
// DecodeError: why bytes from the network (or a file) were refused. Decoding
// never throws and never reads past what it was given; it answers with a
// Decoded<T>, a value or one of these.

#include <cstdint>
#include <utility>
#include <variant>

namespace mosaik::wire {

enum class DecodeError : std::uint8_t {
  truncated,        ///< fewer bytes than the encoding announces
  trailing_bytes,   ///< bytes left over after a complete message
  oversized,        ///< a frame longer than the configured maximum
  bad_varint,       ///< an integer longer than 10 bytes or out of its type's range
  bad_value,        ///< a bool, enum or variant tag outside its domain; an impossible value
  too_many_entries, ///< more entries in one message than the configured maximum
  entry_too_large,  ///< one entry larger than the configured maximum
  too_many_items,   ///< a count above the configured maximum
  wrong_version,    ///< a protocol version this build does not speak
  wrong_group,      ///< a frame for another group
  unknown_kind,     ///< a message kind this build does not know
};

[[nodiscard]] constexpr const char* to_string(DecodeError error) noexcept {
  switch (error) {
  case DecodeError::truncated:
    return "truncated message";
  case DecodeError::trailing_bytes:
    return "trailing bytes after the message";
  case DecodeError::oversized:
    return "frame larger than the configured maximum";
  case DecodeError::bad_varint:
    return "malformed integer";
  case DecodeError::bad_value:
    return "value outside its domain";
  case DecodeError::too_many_entries:
    return "more entries than the configured maximum";
  case DecodeError::entry_too_large:
    return "entry larger than the configured maximum";
  case DecodeError::too_many_items:
    return "count above the configured maximum";
  case DecodeError::wrong_version:
    return "unsupported protocol version";
  case DecodeError::wrong_group:
    return "frame for another group";
  case DecodeError::unknown_kind:
    return "unknown message kind";
  }
  return "unknown decode error";
}

/// A decoded value or the reason there is none.
template <class T>
class Decoded {
public:
  Decoded(T value) : state_(std::in_place_index<0>, std::move(value)) {} // NOLINT: implicit by design
  Decoded(DecodeError error) : state_(std::in_place_index<1>, error) {}  // NOLINT: implicit by design

  [[nodiscard]] bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  [[nodiscard]] T& value() & { return std::get<0>(state_); }
  [[nodiscard]] const T& value() const& { return std::get<0>(state_); }
  [[nodiscard]] T&& value() && { return std::get<0>(std::move(state_)); }
  [[nodiscard]] T* operator->() { return &value(); }
  [[nodiscard]] const T* operator->() const { return &value(); }
  [[nodiscard]] DecodeError error() const { return std::get<1>(state_); }

private:
  std::variant<T, DecodeError> state_;
};

} // namespace mosaik::wire
