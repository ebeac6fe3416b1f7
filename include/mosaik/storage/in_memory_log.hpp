#pragma once
// InMemoryLog: a LogStorage in a deque. Entries live contiguously in chunks;
// appends, lookups, suffix truncation and prefix pruning are O(1) amortised
// and allocate nothing beyond the commands themselves.

#include <deque>
#include <iterator>

#include <mosaik/storage/log_storage.hpp>

namespace mosaik::storage {

template <class Command>
class InMemoryLog final : public LogStorage<Command> {
public:
  using entry_type = Entry<Command>;

  InMemoryLog() = default;
  /// A log positioned at `base` (the cursor before its first entry).
  explicit InMemoryLog(Cursor base) : base_(base) {}

  Index append(Command command, Term term) override {
    entries_.push_back(entry_type{term, std::move(command)});
    return last_index();
  }

  [[nodiscard]] const entry_type* get(Index index) const override {
    if (index <= base_.index || index > last_index()) {
      return nullptr;
    }
    return &entries_[offset_of(index)];
  }

  [[nodiscard]] IndexRange available() const override {
    return IndexRange::starting_at(base_.index.next(), entries_.size());
  }

  [[nodiscard]] Cursor last() const override {
    return entries_.empty() ? base_ : Cursor{entries_.back().term, last_index()};
  }

  [[nodiscard]] std::optional<Term> term_at(Index index) const override {
    if (index == base_.index) {
      return base_.term;
    }
    if (index.is_sentinel()) {
      return Term{0};
    }
    if (const auto* entry = get(index)) {
      return entry->term;
    }
    return std::nullopt;
  }

  void truncate(Index from) override {
    if (from > last_index()) {
      return;
    }
    if (from <= base_.index) {
      entries_.clear();
      return;
    }
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(offset_of(from)), entries_.end());
  }

  void prune_prefix(Index up_to) override {
    if (up_to <= base_.index) {
      return;
    }
    if (up_to >= last_index()) {
      base_ = Cursor{*term_at(last_index()), last_index()};
      entries_.clear();
      return;
    }
    const auto count = up_to.distance_from(base_.index);
    const auto term = entries_[offset_of(up_to)].term;
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(count));
    base_ = Cursor{term, up_to};
  }

  void reset_to(Cursor cursor) override {
    entries_.clear();
    base_ = cursor;
  }

  void read_range(IndexRange range, std::size_t max_bytes, std::vector<entry_type>& out) const override {
    const auto held = range.intersect(available());
    if (held.empty()) {
      return;
    }
    ReadBudget budget{max_bytes};
    const auto begin = entries_.begin() + static_cast<std::ptrdiff_t>(offset_of(held.first()));
    const auto end = begin + static_cast<std::ptrdiff_t>(held.size());
    for (auto it = begin; it != end && budget.take(command_size(it->command)); ++it) {
      out.push_back(*it);
    }
  }

  void append_all(std::vector<entry_type>&& entries) override {
    entries_.insert(entries_.end(), std::make_move_iterator(entries.begin()),
                    std::make_move_iterator(entries.end()));
  }

  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

private:
  [[nodiscard]] Index last_index() const noexcept { return base_.index + entries_.size(); }
  [[nodiscard]] std::size_t offset_of(Index index) const noexcept {
    return static_cast<std::size_t>(index.distance_from(base_.index) - 1);
  }

  Cursor base_{};
  std::deque<entry_type> entries_;
};

} // namespace mosaik::storage
