#pragma once
// Counter: the smallest useful replicated state machine. Each command adds
// its amount; queries read the value. Used by the examples and the tests.

#include <concepts>
#include <cstdint>
#include <string>
#include <type_traits>

namespace mosaik::machines {

class Counter {
public:
  /// Add this amount (Inc(n)).
  struct Command {
    std::int64_t amount = 0;
    friend bool operator==(const Command&, const Command&) = default;
  };
  /// Read the value.
  struct Query {};

  void apply(const Command& command) {
    value_ += command.amount;
    ++applied_;
  }
  [[nodiscard]] std::int64_t query(const Query&) const noexcept { return value_; }
  [[nodiscard]] std::int64_t value() const noexcept { return value_; }
  /// Commands applied so far.
  [[nodiscard]] std::uint64_t applied() const noexcept { return applied_; }
  [[nodiscard]] std::string signature() const { return "mosaik.counter/v1"; }

private:
  std::int64_t value_ = 0;
  std::uint64_t applied_ = 0;
};

/// The wire encoding (see wire/codec.hpp): the amount as a zigzag varint.
template <class Self, class F>
requires std::same_as<std::remove_const_t<Self>, Counter::Command>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.amount);
}

} // namespace mosaik::machines
