#pragma once
// SegmentStore: a durable, append-only sequence of records (index, term,
// bytes) in segment files of one directory. It knows nothing of commands:
// FileLog<Command> encodes them and builds a LogStorage on top.
//
// On disk (all integers little-endian):
//
//   <dir>/00000000000000000001.seg   a segment: the 20-digit index of its first record
//     header   "MOSAIKSG" | u32 format version | u32 CRC32C | u64 first index | u64 epoch   (32 bytes)
//     records  u32 payload length | u32 CRC32C | u64 index | u64 term | payload             (24 bytes +
//     payload)
//   <dir>/log.meta                   the base cursor (the entry before the first held one)
//     "MOSAIKMT" | u32 format version | u32 CRC32C | u64 base term | u64 base index | u64 epoch (40 bytes)
//
// A record's CRC covers its index, term, length and payload (in that order);
// the headers' CRC covers every other byte of the header. Segments are bounded
// by options.segment_bytes (a record larger than that gets a segment of its
// own) and chain: each starts right after the previous one ends. The meta
// file is replaced atomically (temporary file, fsync, rename, fsync of the
// directory). The epoch is bumped by reset_to(): segments of an older epoch
// are leftovers of an interrupted reset and are removed on open.
//
// Appends go through a write buffer; sync() writes it and fdatasync()s every
// file written since the last sync, and the directory when a segment was
// created (FsyncPolicy::batch: one fsync for many appends). FsyncPolicy::always
// syncs inside every append (and once per append_all); FsyncPolicy::never only
// writes. Truncations, prunes and resets are durable when they return (except
// under never): a suffix that came back after a crash could mix terms.
//
// Recovery (open) checks every header and record. A torn or corrupt tail of
// the last segment with nothing valid after it (a crash in the middle of a
// write, a zero-filled preallocated tail) is cut, with a warning. Damage
// anywhere else (a middle segment, a bad record followed by valid ones, a
// missing segment, a bad header or meta file) makes open fail with an error
// naming the file, the offset and the problem: data is never dropped silently.
//
// The in-memory index holds 16 bytes per record (term, offset, length): the
// record of an index is found in O(1), its segment by a binary search over
// the segments. read() fetches the bytes of a range with one pread per
// segment it touches and verifies every record's CRC again.
//
// Errors: the store does not throw. An I/O error on a write, sync, truncate,
// prune or reset (or a damaged record on read) is logged and latched: failed()
// becomes true, error() says why, and every later mutation is refused (appends
// return false and leave the store unchanged). Reads keep answering from what
// was accepted. Reopen the directory to recover what is on disk.
//
// Not thread-safe: one thread at a time (reads included: they share buffers).
// The directory is locked (flock) while a store has it open.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/index_range.hpp>
#include <mosaik/storage/fsync_policy.hpp>

namespace mosaik::storage {

struct SegmentStoreOptions {
  /// Created (with its parents) when missing.
  std::filesystem::path directory;
  /// A segment is closed once the next record would take it beyond this size.
  std::uint64_t segment_bytes = std::uint64_t{64} << 20;
  FsyncPolicy fsync = FsyncPolicy::batch;
  /// Appended records are written to the file once this many bytes are buffered (or at sync()).
  std::size_t write_buffer_bytes = std::size_t{1} << 20;
};

/// What open() found and repaired: for logs and tests.
struct RecoveryReport {
  /// Segment files in use after recovery.
  std::size_t segments = 0;
  /// Records held (after the base cursor).
  std::uint64_t records = 0;
  /// The cursor just before the first held record.
  Cursor base{};
  /// The indices held (empty when none).
  IndexRange held{};
  /// Segment files removed as leftovers of an interrupted prune or reset, or empty.
  std::size_t segments_removed = 0;
  /// Bytes cut from the tail of the last segment (a torn or corrupt tail).
  std::uint64_t bytes_cut = 0;
  /// The segment whose tail was cut, and the offset of the cut.
  std::optional<std::filesystem::path> tail_cut_segment;
  std::optional<std::uint64_t> tail_cut_offset;
};

/// One record handed back by read(): the payload points into the RecordBatch.
struct RecordView {
  Index index{};
  Term term{};
  std::span<const std::byte> payload;
};

/// The result of read(), reusable from one read to the next.
struct RecordBatch {
  std::vector<std::byte> bytes;
  std::vector<RecordView> records;
};

/// A record to append (append_all).
struct PendingRecord {
  Term term{};
  std::span<const std::byte> payload;
};

/// Called by open() for every held record, in order; an error text refuses the log.
using RecoveryVisitor =
    std::function<std::optional<std::string>(Index index, Term term, std::span<const std::byte> payload)>;

class SegmentStore {
public:
  static constexpr std::uint64_t min_segment_bytes = 64;
  /// Offsets within a segment are 32-bit in the in-memory index.
  static constexpr std::uint64_t max_segment_bytes = std::uint64_t{1} << 30;
  static constexpr std::uint64_t max_payload_bytes = 0xFFFFFFFFU;
  static constexpr std::size_t segment_header_bytes = 32;
  static constexpr std::size_t record_header_bytes = 24;
  static constexpr const char* meta_file_name = "log.meta";

  /// Opens (or creates) the store in options.directory and recovers it, or says why it cannot.
  [[nodiscard]] static std::variant<std::unique_ptr<SegmentStore>, std::string>
  open(SegmentStoreOptions options, const RecoveryVisitor& visit = {});

  /// Writes what is buffered and syncs it (per the policy).
  ~SegmentStore();
  SegmentStore(const SegmentStore&) = delete;
  SegmentStore& operator=(const SegmentStore&) = delete;

  /// Appends one record at last().index + 1; under FsyncPolicy::always it is durable on return.
  bool append(Term term, std::span<const std::byte> payload);
  /// Appends records in order; under FsyncPolicy::always they are durable on return (one sync).
  bool append_all(std::span<const PendingRecord> records);
  /// Makes every record appended so far durable (under never: hands them to the OS).
  bool sync();
  /// Removes every record at `from` and after (never the base cursor).
  bool truncate(Index from);
  /// Forgets every record up to and including `up_to`; whole segments are unlinked.
  bool prune_prefix(Index up_to);
  /// Removes every record and positions the store at `cursor`.
  bool reset_to(Cursor cursor);

  /// Reads the held records of `range` in order into `out` (cleared first),
  /// stopping once their payloads would exceed `max_payload_bytes` (at least
  /// one record). False on an I/O error or a damaged record (then failed()).
  bool read(IndexRange range, std::uint64_t max_payload_bytes, RecordBatch& out) const;

  [[nodiscard]] IndexRange held() const noexcept {
    return IndexRange::starting_at(base_.index.next(), locations_.size());
  }
  [[nodiscard]] Cursor base() const noexcept { return base_; }
  [[nodiscard]] Cursor last() const noexcept {
    return locations_.empty() ? base_ : Cursor{Term{locations_.back().term}, last_index()};
  }
  /// The term of a held record (nullopt otherwise: see base() for the base cursor).
  [[nodiscard]] std::optional<Term> term(Index index) const noexcept {
    if (index <= base_.index || index > last_index()) {
      return std::nullopt;
    }
    return Term{location(index).term};
  }
  /// The payload size of a held record (0 otherwise).
  [[nodiscard]] std::uint64_t payload_bytes(Index index) const noexcept {
    return index <= base_.index || index > last_index() ? 0 : location(index).length;
  }

  [[nodiscard]] std::size_t segment_count() const noexcept { return segments_.size(); }
  [[nodiscard]] bool failed() const noexcept { return failed_; }
  [[nodiscard]] const std::string& error() const noexcept { return error_; }
  [[nodiscard]] const RecoveryReport& recovery() const noexcept { return recovery_; }
  [[nodiscard]] const SegmentStoreOptions& options() const noexcept { return options_; }

private:
  /// An owned file descriptor.
  class File {
  public:
    File() noexcept = default;
    explicit File(int fd) noexcept : fd_(fd) {}
    File(File&& other) noexcept : fd_(other.release()) {}
    File& operator=(File&& other) noexcept;
    File(const File&) = delete;
    File& operator=(const File&) = delete;
    ~File() { reset(); }
    [[nodiscard]] int get() const noexcept { return fd_; }
    [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
    int release() noexcept;
    void reset() noexcept;

  private:
    int fd_ = -1;
  };

  struct Segment {
    Index first{};
    Index last{};            ///< first.prev() while empty
    std::uint64_t bytes = 0; ///< header and records, buffered ones included
  };
  /// Where a record is: 16 bytes per held record.
  struct Location {
    std::uint64_t term = 0;
    std::uint32_t offset = 0; ///< of its record header, in its segment
    std::uint32_t length = 0; ///< of its payload
  };
  struct Meta {
    Cursor base{};
    std::uint64_t epoch = 0;
  };
  struct FoundSegment;

  SegmentStore(SegmentStoreOptions options, File directory, Meta meta);

  [[nodiscard]] Index last_index() const noexcept { return base_.index + locations_.size(); }
  [[nodiscard]] const Location& location(Index index) const noexcept {
    return locations_[static_cast<std::size_t>(index.value() - base_.index.value() - 1)];
  }
  [[nodiscard]] std::size_t segment_of(Index index) const noexcept;
  [[nodiscard]] std::filesystem::path path_of(Index first) const;
  [[nodiscard]] bool syncing() const noexcept { return options_.fsync != FsyncPolicy::never; }

  [[nodiscard]] std::optional<std::string> recover(std::vector<FoundSegment> found,
                                                   const RecoveryVisitor& visit);
  [[nodiscard]] std::optional<std::string> scan(FoundSegment& segment, bool is_last,
                                                const RecoveryVisitor& visit);
  [[nodiscard]] std::optional<std::string> remove_file(const std::filesystem::path& path);
  [[nodiscard]] std::optional<std::string> sync_directory();
  [[nodiscard]] std::optional<std::string> write_meta(const Meta& meta);

  bool append_record(Term term, std::span<const std::byte> payload);
  bool start_segment(Index first);
  bool flush();
  bool read_segment(std::size_t segment, std::uint64_t offset, std::byte* into, std::size_t size) const;
  void fail(std::string message) const;

  SegmentStoreOptions options_;
  File directory_;
  Cursor base_{};
  std::uint64_t epoch_ = 0;
  std::vector<Segment> segments_;
  std::deque<Location> locations_;

  // The last segment, open for appends (valid exactly when segments_ is not empty).
  File active_;
  std::uint64_t active_written_bytes_ = 0; ///< on the file; the rest of segments_.back().bytes is in buffer_
  std::vector<std::byte> buffer_;
  // What the next sync() must make durable.
  bool active_unsynced_ = false;
  bool directory_unsynced_ = false;
  std::vector<std::pair<File, Index>> unsynced_; ///< earlier segments written since the last sync

  // One older segment kept open for reads.
  mutable File reader_;
  mutable Index reader_segment_{};

  mutable bool failed_ = false;
  mutable std::string error_;
  RecoveryReport recovery_;
};

} // namespace mosaik::storage
