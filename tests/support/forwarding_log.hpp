#pragma once
// ForwardingLog: a LogStorage that forwards every call to another (owned, or
// referenced when Inner is a reference type), for tests that change one
// behaviour of a log (fail its sync, keep the default read_range, ...).

#include <optional>
#include <type_traits>
#include <utility>

#include <mosaik/storage/log_storage.hpp>

namespace mosaik::test {

template <class Inner>
class ForwardingLog : public storage::LogStorage<typename std::remove_reference_t<Inner>::command_type> {
public:
  using Command = typename std::remove_reference_t<Inner>::command_type;
  using typename storage::LogStorage<Command>::entry_type;

  template <class... Args>
  explicit ForwardingLog(Args&&... args) : inner_(std::forward<Args>(args)...) {}

  Index append(Command command, Term term) override { return inner_.append(std::move(command), term); }
  [[nodiscard]] const entry_type* get(Index index) const override { return inner_.get(index); }
  [[nodiscard]] IndexRange available() const override { return inner_.available(); }
  [[nodiscard]] Cursor last() const override { return inner_.last(); }
  [[nodiscard]] std::optional<Term> term_at(Index index) const override { return inner_.term_at(index); }
  void truncate(Index from) override { inner_.truncate(from); }
  void prune_prefix(Index up_to) override { inner_.prune_prefix(up_to); }
  void reset_to(Cursor cursor) override { inner_.reset_to(cursor); }

protected:
  Inner inner_;
};

} // namespace mosaik::test
