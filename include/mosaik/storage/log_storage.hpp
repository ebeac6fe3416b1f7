#pragma once
// LogStorage: the interface every log store implements (InMemoryLog,
// FileLog). Indices start at 1, index 0 is a sentinel with term 0 (see
// docs/protocol.md); a pruned or reset log keeps the
// meaning of its indices and remembers the cursor just before its first entry.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <mosaik/core/command_size.hpp>
#include <mosaik/core/cursor.hpp>
#include <mosaik/core/entry.hpp>
#include <mosaik/core/index_range.hpp>

namespace mosaik::storage {

template <class Command>
class LogStorage {
public:
  using command_type = Command;
  using entry_type = Entry<Command>;

  virtual ~LogStorage() = default;

  /// Appends one entry after the last and returns its index.
  virtual Index append(Command command, Term term) = 0;
  /// The entry at `index`, or nullptr when it is not held (pruned, beyond the end, the sentinel).
  [[nodiscard]] virtual const entry_type* get(Index index) const = 0;
  /// The indices held: first..=last (empty when the log holds no entry).
  [[nodiscard]] virtual IndexRange available() const = 0;
  /// The cursor of the last entry (or the base cursor when empty).
  [[nodiscard]] virtual Cursor last() const = 0;
  /// The term of the entry at `index`; known for held entries, the sentinel and the base cursor.
  [[nodiscard]] virtual std::optional<Term> term_at(Index index) const = 0;
  /// Drops every entry at `from` and after.
  virtual void truncate(Index from) = 0;
  /// Drops every entry up to and including `up_to`; later indices keep their meaning.
  virtual void prune_prefix(Index up_to) = 0;
  /// Empties the log and positions it at `cursor` (after a snapshot install).
  virtual void reset_to(Cursor cursor) = 0;
  /// Makes every entry appended so far durable (a no-op for stores that are
  /// not durable or that already are, e.g. fsync always).
  virtual void sync() {}
  /// True once the store could not write or sync: what it holds may not be
  /// durable and it takes no more changes. The runtime stops the member.
  [[nodiscard]] virtual bool failed() const noexcept { return false; }
  /// Why, when failed().
  [[nodiscard]] virtual std::string failure() const { return {}; }

  /// Appends the held entries of `range`, in order, to `out`, stopping early
  /// once `max_bytes` of commands were read (always at least one entry).
  /// Entries out of bounds are skipped. Stores may override with a faster scan.
  virtual void read_range(IndexRange range, std::size_t max_bytes, std::vector<entry_type>& out) const {
    const auto held = range.intersect(available());
    std::size_t bytes = 0;
    for (auto index = held.first(); !held.empty() && index <= held.last(); index = index.next()) {
      const auto* entry = get(index);
      const auto size = command_size(entry->command);
      if (bytes > 0 && bytes + size > max_bytes) {
        break;
      }
      bytes += size;
      out.push_back(*entry);
    }
  }

  /// The held entries of `range`, in order (entries out of bounds are skipped).
  [[nodiscard]] std::vector<entry_type> get_range(IndexRange range) const {
    std::vector<entry_type> out;
    read_range(range, static_cast<std::size_t>(-1), out);
    return out;
  }

  /// Appends a batch of entries in order.
  virtual void append_all(std::vector<entry_type>&& entries) {
    for (auto& entry : entries) {
      append(std::move(entry.command), entry.term);
    }
  }
};

} // namespace mosaik::storage
