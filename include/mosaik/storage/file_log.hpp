#pragma once
// FileLog: a durable LogStorage on a SegmentStore (segment files in one
// directory; see segment_store.hpp for the format, recovery and fsync
// policies). Commands are encoded with wire::to_bytes and decoded with
// wire::from_bytes; every record is decoded once on open, and a record that
// does not decode refuses the log (open fails, naming it).
//
// The most recent `cache_entries` entries are kept decoded in memory (written
// through on append): get() returns a pointer into that cache. An older entry
// is read from disk and decoded into a single slot: that pointer is valid only
// until the next call on the log. read_range() reads older entries with one
// sequential read per segment (and the cached ones from memory).
//
// Errors: nothing throws. An I/O error (or an entry that cannot be read back)
// is logged and latched: failed() becomes true and error() says why. The
// entries appended before (the one whose write failed included) stay held in
// memory but may not be durable. A failed log refuses every further change:
// append returns the unchanged last index; append_all, truncate, prune_prefix,
// reset_to and sync do nothing. Reads keep answering. The runtime checks
// failed() (after sync(), typically) and stops acknowledging; reopening the
// directory recovers what reached the disk.
//
// Not thread-safe: one thread at a time, reads included.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <mosaik/core/log.hpp>
#include <mosaik/storage/fsync_policy.hpp>
#include <mosaik/storage/log_storage.hpp>
#include <mosaik/storage/segment_store.hpp>
#include <mosaik/wire/codec.hpp>

namespace mosaik::storage {

struct FileLogOptions {
  /// Created (with its parents) when missing; locked while the log is open.
  std::filesystem::path directory;
  /// Segment files are closed at about this size (a larger entry gets a segment of its own).
  std::uint64_t segment_bytes = std::uint64_t{64} << 20;
  FsyncPolicy fsync = FsyncPolicy::batch;
  /// Decoded recent entries kept in memory (0: none; every get() reads the disk).
  std::size_t cache_entries = 100'000;
  /// Bytes appended before the write buffer goes to the file (sync() writes it too).
  std::size_t write_buffer_bytes = std::size_t{1} << 20;
};

template <class Command>
class FileLog final : public LogStorage<Command> {
public:
  using entry_type = Entry<Command>;

  /// Opens (or creates) the log in options.directory, or says why it cannot.
  [[nodiscard]] static std::variant<std::unique_ptr<FileLog>, std::string> open(FileLogOptions options) {
    std::deque<entry_type> recent;
    const auto limit = options.cache_entries;
    const RecoveryVisitor visit =
        [&recent, limit](Index, Term term, std::span<const std::byte> payload) -> std::optional<std::string> {
      auto decoded = wire::from_bytes<Command>(payload, decode_limits());
      if (!decoded) {
        return fmt::format("the record does not decode as the log's command type: {}",
                           wire::to_string(decoded.error()));
      }
      if (limit > 0) {
        if (recent.size() == limit) {
          recent.pop_front();
        }
        recent.push_back(entry_type{term, std::move(decoded).value()});
      }
      return std::nullopt;
    };
    auto opened = SegmentStore::open(SegmentStoreOptions{options.directory, options.segment_bytes,
                                                         options.fsync, options.write_buffer_bytes},
                                     visit);
    if (auto* error = std::get_if<std::string>(&opened)) {
      return std::move(*error);
    }
    return std::unique_ptr<FileLog>(
        new FileLog(std::move(options), std::move(std::get<0>(opened)), std::move(recent)));
  }

  Index append(Command command, Term term) override {
    if (failed()) {
      return store_->last().index;
    }
    encoded_.clear();
    wire::Writer writer{encoded_};
    wire::encode(writer, command);
    const auto before = store_->last().index;
    store_->append(term, encoded_);
    // Accepted unless the store failed before taking it (a failed sync keeps it, not durable).
    if (store_->last().index != before) {
      cache(entry_type{term, std::move(command)});
    }
    return store_->last().index;
  }

  void append_all(std::vector<entry_type>&& entries) override {
    if (failed() || entries.empty()) {
      return;
    }
    encoded_.clear();
    std::vector<std::size_t> ends;
    ends.reserve(entries.size());
    wire::Writer writer{encoded_};
    for (const auto& entry : entries) {
      wire::encode(writer, entry.command);
      ends.push_back(encoded_.size());
    }
    std::vector<PendingRecord> records;
    records.reserve(entries.size());
    std::size_t begin = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      records.push_back(PendingRecord{entries[i].term, std::span{encoded_}.subspan(begin, ends[i] - begin)});
      begin = ends[i];
    }
    const auto before = store_->last().index;
    store_->append_all(records);
    // What the store accepted (all of it unless it failed on the way) goes to the cache.
    const auto accepted = static_cast<std::size_t>(store_->last().index.distance_from(before));
    for (std::size_t i = 0; i < accepted; ++i) {
      cache(std::move(entries[i]));
    }
  }

  [[nodiscard]] const entry_type* get(Index index) const override {
    if (!store_->held().contains(index)) {
      return nullptr;
    }
    if (index >= cache_first_) {
      return &cache_[static_cast<std::size_t>(index.value() - cache_first_.value())];
    }
    if (!store_->read(IndexRange{index, index}, 0, batch_) || batch_.records.empty()) {
      return nullptr;
    }
    const auto& record = batch_.records.front();
    auto decoded = wire::from_bytes<Command>(record.payload, decode_limits());
    if (!decoded) {
      refuse(record.index, decoded.error());
      return nullptr;
    }
    slot_ = entry_type{record.term, std::move(decoded).value()};
    return &slot_;
  }

  [[nodiscard]] IndexRange available() const override { return store_->held(); }
  [[nodiscard]] Cursor last() const override { return store_->last(); }

  [[nodiscard]] std::optional<Term> term_at(Index index) const override {
    if (index == store_->base().index) {
      return store_->base().term;
    }
    if (index.is_sentinel()) {
      return Term{0};
    }
    return store_->term(index);
  }

  void truncate(Index from) override {
    if (!failed()) {
      store_->truncate(from);
      trim_cache();
    }
  }

  void prune_prefix(Index up_to) override {
    if (!failed()) {
      store_->prune_prefix(up_to);
      trim_cache();
    }
  }

  void reset_to(Cursor cursor) override {
    if (!failed()) {
      store_->reset_to(cursor);
      trim_cache();
    }
  }

  void read_range(IndexRange range, std::size_t max_bytes, std::vector<entry_type>& out) const override {
    ReadBudget budget{max_bytes};
    scan(
        range, max_bytes,
        [&](const RecordView& record) {
          // Older entries are decoded as they are taken.
          auto decoded = wire::from_bytes<Command>(record.payload, decode_limits());
          if (!decoded) {
            refuse(record.index, decoded.error());
            return false;
          }
          if (!budget.take(command_size(decoded.value()))) {
            return false;
          }
          out.push_back(entry_type{record.term, std::move(decoded).value()});
          return true;
        },
        [&](const entry_type& entry) {
          if (!budget.take(command_size(entry.command))) {
            return false;
          }
          out.push_back(entry);
          return true;
        });
  }

  /// Older entries go from their records into `out` without being decoded:
  /// a record's payload is the command's encoding. Their budget counts
  /// those stored bytes instead of command_size() (they differ by a few
  /// bytes of lengths and tags per entry).
  bool encode_stored(IndexRange range, std::size_t max_bytes, wire::EncodedEntries& out,
                     wire::BufferPool& buffers) const override {
    ReadBudget budget{max_bytes};
    auto bytes = buffers.take(max_bytes);
    wire::Writer writer{*bytes};
    wire::EntryEncoder encoder{writer};
    scan(
        range, max_bytes,
        [&](const RecordView& record) {
          if (!budget.take(record.payload.size())) {
            return false;
          }
          encoder.add_encoded(record.term, record.payload);
          ++out.count;
          return true;
        },
        [&](const entry_type& entry) {
          if (!budget.take(command_size(entry.command))) {
            return false;
          }
          encoder.add(entry.term, entry.command);
          ++out.count;
          return true;
        });
    out.encoding = buffers.share(std::move(bytes));
    return true;
  }

  /// Makes every entry appended so far durable (under FsyncPolicy::never: hands it to the OS).
  void sync() override {
    if (!failed()) {
      store_->sync();
    }
  }

  /// Whether an I/O error (or an entry that could not be read back) stopped the log.
  [[nodiscard]] bool failed() const noexcept override { return store_->failed() || !error_.empty(); }
  [[nodiscard]] std::string failure() const override { return error(); }
  /// Why the log failed (empty while it has not).
  [[nodiscard]] const std::string& error() const noexcept {
    return store_->failed() ? store_->error() : error_;
  }
  /// What open() found and repaired.
  [[nodiscard]] const RecoveryReport& recovery() const noexcept { return store_->recovery(); }
  [[nodiscard]] const FileLogOptions& options() const noexcept { return options_; }
  /// The number of segment files in use.
  [[nodiscard]] std::size_t segment_count() const noexcept { return store_->segment_count(); }

private:
  /// A read from disk covers at least this many payload bytes (fewer syscalls for small budgets)...
  static constexpr std::uint64_t min_read_chunk_bytes = std::uint64_t{64} << 10;
  /// ... and at most this many (memory for a read of the whole log).
  static constexpr std::uint64_t max_read_chunk_bytes = std::uint64_t{8} << 20;

  FileLog(FileLogOptions options, std::unique_ptr<SegmentStore> store, std::deque<entry_type> recent)
      : options_(std::move(options)), store_(std::move(store)), cache_(std::move(recent)) {
    cache_first_ = store_->last().index.next() - cache_.size();
  }

  /// Walks the held entries of `range` in order: the older ones as records
  /// read from disk with one sequential read per chunk (`on_record`), the
  /// recent ones from the cache (`on_cached`). Either returns false to stop.
  template <class OnRecord, class OnCached>
  void scan(IndexRange range, std::size_t max_bytes, OnRecord&& on_record, OnCached&& on_cached) const {
    const auto held = range.intersect(available());
    if (held.empty()) {
      return;
    }
    auto index = held.first();
    const auto disk_last = std::min(held.last(), cache_first_.prev());
    const auto chunk_bytes = std::clamp<std::uint64_t>(max_bytes, min_read_chunk_bytes, max_read_chunk_bytes);
    while (index <= disk_last) {
      if (!store_->read(IndexRange{index, disk_last}, chunk_bytes, batch_) || batch_.records.empty()) {
        return;
      }
      for (const auto& record : batch_.records) {
        if (!on_record(record)) {
          return;
        }
      }
      index = batch_.records.back().index.next();
    }
    for (; index <= held.last(); index = index.next()) {
      if (!on_cached(cache_[static_cast<std::size_t>(index.value() - cache_first_.value())])) {
        return;
      }
    }
  }

  /// Our own records: the limits of the network do not apply (a record is as large as it was written).
  static const wire::DecodeLimits& decode_limits() noexcept {
    static const wire::DecodeLimits limits{
        std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::size_t>::max(),
        std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::size_t>::max()};
    return limits;
  }

  void cache(entry_type entry) {
    if (options_.cache_entries == 0) {
      cache_first_ = store_->last().index.next();
      return;
    }
    if (cache_.size() == options_.cache_entries) {
      cache_.pop_front();
      cache_first_ = cache_first_.next();
    }
    cache_.push_back(std::move(entry));
  }

  /// Drops the cached entries the store no longer holds (after truncate, prune, reset).
  void trim_cache() {
    const auto held = store_->held();
    const auto end = store_->last().index.next();
    if (cache_.empty() || held.empty() || cache_first_ >= end) {
      cache_.clear();
      cache_first_ = end;
      return;
    }
    // The cache is a suffix of what was held: its tail goes first, then any front before `held`.
    cache_.resize(
        std::min<std::size_t>(cache_.size(), static_cast<std::size_t>(end.value() - cache_first_.value())));
    if (cache_first_ < held.first()) {
      const auto drop = std::min<std::size_t>(cache_.size(), held.first().value() - cache_first_.value());
      cache_.erase(cache_.begin(), cache_.begin() + static_cast<std::ptrdiff_t>(drop));
      cache_first_ = held.first();
    }
    if (cache_.empty()) {
      cache_first_ = end;
    }
  }

  void refuse(Index index, wire::DecodeError error) const {
    if (error_.empty()) {
      error_ = fmt::format("{}: entry {} does not decode as the log's command type: {}",
                           options_.directory.string(), index.value(), wire::to_string(error));
      log::error("{} (the log refuses further changes)", error_);
    }
  }

  FileLogOptions options_;
  std::unique_ptr<SegmentStore> store_;
  std::deque<entry_type> cache_; ///< entries cache_first_..=last, decoded
  Index cache_first_{1};
  wire::Bytes encoded_;       ///< reused by appends
  mutable RecordBatch batch_; ///< reused by reads
  mutable entry_type slot_{}; ///< the last older entry get() decoded
  mutable std::string error_;
};

} // namespace mosaik::storage
