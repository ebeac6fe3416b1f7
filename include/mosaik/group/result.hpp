#pragma once
// Errors as values: the client API answers with Result<T>, never by throwing.

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace mosaik::group {

enum class Errc : std::uint8_t {
  offline,            ///< no leader is known (election in progress, partitioned)
  not_leader,         ///< the peer asked is not the leader (forwarding raced an election)
  timeout,            ///< no answer within the configured time
  empty_batch,        ///< execute_many / feed_many of no commands
  stopped,            ///< the group was stopped
  lost,               ///< the entry was replaced: leadership changed before it committed
  change_in_progress, ///< a membership change is still uncommitted
  unknown_member,     ///< the member named is not in the group
  rejected,           ///< refused (e.g. a change that would leave no voter)
  cancelled,          ///< the awaiting operation was cancelled (its cancellation slot)
};

[[nodiscard]] constexpr const char* to_string(Errc code) noexcept {
  switch (code) {
  case Errc::offline:
    return "offline: no leader";
  case Errc::not_leader:
    return "not the leader";
  case Errc::timeout:
    return "timed out";
  case Errc::empty_batch:
    return "empty batch";
  case Errc::stopped:
    return "group stopped";
  case Errc::lost:
    return "lost to a leadership change";
  case Errc::change_in_progress:
    return "a membership change is in progress";
  case Errc::unknown_member:
    return "unknown member";
  case Errc::rejected:
    return "rejected";
  case Errc::cancelled:
    return "cancelled";
  }
  return "unknown error";
}

struct Error {
  Errc code = Errc::offline;
  std::string detail;

  [[nodiscard]] std::string message() const {
    return detail.empty() ? std::string{to_string(code)} : std::string{to_string(code)} + ": " + detail;
  }
  friend bool operator==(const Error& a, const Error& b) { return a.code == b.code; }
};

/// A value or an Error.
template <class T>
class Result {
public:
  /// An operation that never produced a value (Asio default-constructs results
  /// of coroutines that end by exception): it reads as stopped.
  Result() : state_(std::in_place_index<1>, Error{Errc::stopped, "no result"}) {}
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}     // NOLINT: implicit on purpose
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {} // NOLINT
  Result(Errc code, std::string detail = {})
      : state_(std::in_place_index<1>, Error{code, std::move(detail)}) {} // NOLINT

  [[nodiscard]] bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  [[nodiscard]] const T& value() const& { return std::get<0>(state_); }
  [[nodiscard]] T&& value() && { return std::get<0>(std::move(state_)); }
  [[nodiscard]] const T& operator*() const& { return value(); }
  [[nodiscard]] const T* operator->() const { return &value(); }
  [[nodiscard]] const Error& error() const& { return std::get<1>(state_); }

private:
  std::variant<T, Error> state_;
};

} // namespace mosaik::group
