#pragma once
// LogStorage: the interface every log store implements (InMemoryLog,
// FileLog). Indices start at 1, index 0 is a sentinel with term 0 (see
// docs/protocol.md); a pruned or reset log keeps the
// meaning of its indices and remembers the cursor just before its first entry.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <mosaik/core/command_size.hpp>
#include <mosaik/core/cursor.hpp>
#include <mosaik/core/entry.hpp>
#include <mosaik/core/index_range.hpp>
#include <mosaik/wire/buffer_pool.hpp>
#include <mosaik/wire/encoded_entries.hpp>
#include <mosaik/wire/entry_codec.hpp>

namespace mosaik::storage {

/// The byte budget of one read: entries are taken while the bytes taken stay
/// within `max_bytes`, and the first one always (a read makes progress).
class ReadBudget {
public:
  explicit ReadBudget(std::size_t max_bytes) noexcept : max_(max_bytes) {}

  /// Whether an entry of `bytes` fits; if so it is counted.
  [[nodiscard]] bool take(std::size_t bytes) noexcept {
    if (used_ > 0 && used_ + bytes > max_) {
      return false;
    }
    used_ += bytes;
    return true;
  }

private:
  std::size_t max_;
  std::size_t used_ = 0;
};

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
    visit_range(range, max_bytes, [&out](const entry_type& entry) { out.push_back(entry); });
  }

  /// For stores that keep their entries encoded (FileLog): writes what
  /// read_range would read, in its wire encoding, into `out` (empty on
  /// entry) without decoding it, and returns true. The default returns
  /// false: storage::encode_range then encodes the entries themselves.
  virtual bool encode_stored(IndexRange /*range*/, std::size_t /*max_bytes*/, wire::EncodedEntries& /*out*/,
                             wire::BufferPool& /*buffers*/) const {
    return false;
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

  /// Calls `visit(entry)` for the held entries of `range`, in order, within
  /// a ReadBudget of `max_bytes` of commands (what read_range reads, without copies).
  template <class Visit>
  void visit_range(IndexRange range, std::size_t max_bytes, Visit&& visit) const {
    const auto held = range.intersect(available());
    ReadBudget budget{max_bytes};
    for (auto index = held.first(); !held.empty() && index <= held.last(); index = index.next()) {
      const auto* entry = get(index);
      if (!budget.take(command_size(entry->command))) {
        break;
      }
      visit(*entry);
    }
  }
};

/// What `log.read_range` reads, encoded straight into `out` (empty on
/// entry) with no decoded copy of any entry: how a provider answers when
/// its answer goes on a wire. A store that keeps entries encoded copies its
/// bytes (LogStorage::encode_stored); otherwise each entry is encoded where
/// it lies. The bytes go into a buffer of `buffers`, which gets it back
/// once the answer is sent. Needs the command's codec (only instantiated
/// where it is used).
template <class Command>
void encode_range(const LogStorage<Command>& log, IndexRange range, std::size_t max_bytes,
                  wire::EncodedEntries& out, wire::BufferPool& buffers) {
  if (log.encode_stored(range, max_bytes, out, buffers)) {
    return;
  }
  std::size_t size = 0; // one allocation for the whole answer (term deltas of one byte assumed)
  if constexpr (wire::CheaplyMeasured<Command>) {
    log.visit_range(range, max_bytes, [&size](const Entry<Command>& entry) {
      const auto command = wire::measure(entry.command);
      size += 1 + wire::varint_size(command) + command;
    });
  }
  auto bytes = buffers.take(size);
  wire::Writer writer{*bytes};
  writer.reserve(size);
  wire::EntryEncoder encoder{writer};
  log.visit_range(range, max_bytes, [&encoder, &out](const Entry<Command>& entry) {
    encoder.add(entry.term, entry.command);
    ++out.count;
  });
  out.encoding = buffers.share(std::move(bytes));
}

} // namespace mosaik::storage
