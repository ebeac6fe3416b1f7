#pragma once
// LeaderBuffer: the entries a leader sends a member while it catches up,
// held in order after the session's target cursor until the gap below is
// filled. Shared by the catch-up strategies: the leader may re-send from
// inside the buffer (its newer entries win), skip ahead (a hole: the target
// moves and peers fill it) or send stale batches (ignored).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/entry.hpp>
#include <mosaik/fetch/fetch_counters.hpp>

namespace mosaik::sync {

template <class Command>
class LeaderBuffer {
public:
  using entry_type = Entry<Command>;

  enum class Accepted {
    appended,   ///< continues the buffer (or replaces a suffix of it)
    retargeted, ///< starts after a hole or another history: the target moved to the batch's position
    stale,      ///< behind the target: ignored
  };

  explicit LeaderBuffer(Cursor target) : target_(target) {}

  /// Terms never go backwards in a log, and no entry has the sentinel's term 0.
  [[nodiscard]] static bool terms_follow(Term previous, const std::vector<entry_type>& entries) {
    for (const auto& entry : entries) {
      if (entry.term.value() == 0 || entry.term < previous) {
        return false;
      }
      previous = entry.term;
    }
    return true;
  }

  /// The cursor entries are held after.
  [[nodiscard]] Cursor target() const noexcept { return target_; }
  /// The cursor of the last entry held (the target when none).
  [[nodiscard]] Cursor last() const noexcept {
    return entries_.empty() ? target_ : Cursor{entries_.back().term, target_.index + entries_.size()};
  }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  [[nodiscard]] const std::vector<entry_type>& entries() const noexcept { return entries_; }

  /// The leader sent `entries` after `position` (the caller checked their terms).
  Accepted accept(Cursor position, std::vector<entry_type>&& entries) {
    const auto held_last = last();
    if (position == held_last) {
      append(std::move(entries));
      return Accepted::appended;
    }
    if (position.index > target_.index && position.index <= held_last.index &&
        entries_[position.index.distance_from(target_.index) - 1].term == position.term) {
      entries_.resize(static_cast<std::size_t>(position.index.distance_from(target_.index)));
      append(std::move(entries));
      return Accepted::appended;
    }
    if (position.index >= target_.index) {
      target_ = position;
      entries_ = std::move(entries);
      return Accepted::retargeted;
    }
    return Accepted::stale;
  }

  /// A batch the leader sent while a session runs: accepted unless its terms
  /// go backwards or it is stale (counted in `counters`, then nullopt).
  std::optional<Accepted> accept_checked(Cursor position, std::vector<entry_type>&& entries,
                                         fetch::SessionCounters& counters) {
    if (terms_follow(position.term, entries)) {
      if (const auto accepted = accept(position, std::move(entries)); accepted != Accepted::stale) {
        return accepted;
      }
    }
    ++counters.stale_leader_batches;
    return std::nullopt;
  }

  /// Drops every entry once more than `most` are held (counted: the session
  /// fetches them from peers instead, up to the new target); true when it did.
  bool drop_over(std::size_t most, fetch::SessionCounters& counters) {
    const bool over = size() > most;
    if (over) {
      ++counters.buffer_overflows;
      drop_to(last());
    }
    counters.max_buffered_entries = std::max<std::uint64_t>(counters.max_buffered_entries, size());
    return over;
  }

  /// Moves the target to `target` and drops every entry: when the buffer grew
  /// past what a session holds (the caller then fetches them from peers).
  void drop_to(Cursor target) {
    target_ = target;
    entries_.clear();
  }

  /// Hands the entries over (the buffer is empty afterwards; the target stays).
  [[nodiscard]] std::vector<entry_type> take() { return std::exchange(entries_, {}); }

  /// Hands over the entries that follow `at` (a snapshot installed at or after
  /// the target): none when `at` lies beyond them, nullopt when the entry at
  /// `at` has another term (they belong to another history: dropped too).
  [[nodiscard]] std::optional<std::vector<entry_type>> take_after(Cursor at) {
    auto entries = take();
    const auto skip = at.index.distance_from(target_.index);
    if (skip > entries.size()) {
      return std::vector<entry_type>{};
    }
    if (skip > 0 && entries[skip - 1].term != at.term) {
      return std::nullopt;
    }
    entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(skip));
    return entries;
  }

private:
  void append(std::vector<entry_type>&& from) {
    if (entries_.empty()) {
      entries_ = std::move(from);
    } else {
      entries_.insert(entries_.end(), std::make_move_iterator(from.begin()),
                      std::make_move_iterator(from.end()));
    }
  }

  Cursor target_;
  std::vector<entry_type> entries_;
};

} // namespace mosaik::sync
