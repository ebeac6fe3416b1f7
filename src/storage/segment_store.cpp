// SegmentStore: segment files, recovery, group commit. See the header for the
// format and the guarantees.

#include <mosaik/storage/segment_store.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <mosaik/core/log.hpp>
#include <mosaik/storage/crc32c.hpp>
#include <mosaik/wire/reader.hpp>
#include <mosaik/wire/writer.hpp>

namespace mosaik::storage {
namespace {

constexpr std::string_view segment_magic = "MOSAIKSG";
constexpr std::string_view meta_magic = "MOSAIKMT";
constexpr std::uint32_t segment_format_version = 1;
constexpr std::uint32_t meta_format_version = 1;
constexpr std::size_t header_bytes = SegmentStore::segment_header_bytes;
constexpr std::size_t record_header_bytes = SegmentStore::record_header_bytes;
constexpr std::size_t meta_bytes = 40;
constexpr const char* meta_temp_name = "log.meta.tmp";
constexpr std::string_view segment_suffix = ".seg";
constexpr std::size_t segment_name_digits = 20;
/// Recovery reads segments in chunks of this size (a larger record is read whole).
constexpr std::size_t scan_chunk_bytes = std::size_t{8} << 20;
/// After a flush, a buffer that grew beyond this many times its configured size is released.
constexpr std::size_t buffer_shrink_factor = 4;

std::string errno_text(int error) {
  return std::system_category().message(error);
}

std::string segment_name(Index first) {
  return fmt::format("{:0{}}{}", first.value(), segment_name_digits, segment_suffix);
}

/// The first index named by a segment file name (exactly 20 digits and ".seg").
std::optional<Index> parse_segment_name(std::string_view name) {
  if (name.size() != segment_name_digits + segment_suffix.size() || !name.ends_with(segment_suffix)) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  const auto* end = name.data() + segment_name_digits;
  const auto [at, error] = std::from_chars(name.data(), end, value);
  if (error != std::errc{} || at != end) {
    return std::nullopt;
  }
  return Index{value};
}

/// The CRC of a record: index, term, length, payload (the header's bytes 8..24, then 0..4).
std::uint32_t record_crc(const std::byte* header, std::span<const std::byte> payload) noexcept {
  auto crc = crc32c({header + 8, 16});
  crc = crc32c({header, 4}, crc);
  return crc32c(payload, crc);
}

/// The CRC of a segment or meta header: every byte but the CRC field (bytes 12..16).
std::uint32_t header_crc(std::span<const std::byte> header) noexcept {
  return crc32c(header.subspan(16), crc32c(header.first(12)));
}

/// Appends a record (header, then payload) to `out`.
void append_record_to(wire::Bytes& out, Index index, Term term, std::span<const std::byte> payload) {
  const auto at = out.size();
  wire::Writer writer{out};
  writer.fixed32(static_cast<std::uint32_t>(payload.size()));
  writer.fixed32(0); // the CRC, below: it covers the fields after it
  writer.fixed64(index.value());
  writer.fixed64(term.value());
  writer.append(payload);
  const auto record = std::span{out}.subspan(at);
  wire::store_fixed32(record.subspan(4), record_crc(record.data(), payload));
}

/// A segment or meta header: magic, format version, the CRC (computed over
/// the rest once it is written), then `fields`.
wire::Bytes header_with(std::string_view magic, std::uint32_t version,
                        std::initializer_list<std::uint64_t> fields) {
  wire::Bytes header;
  header.reserve(magic.size() + 8 + 8 * fields.size());
  wire::Writer writer{header};
  writer.append(std::as_bytes(std::span{magic}));
  writer.fixed32(version);
  writer.fixed32(0); // the CRC, below
  for (const auto field : fields) {
    writer.fixed64(field);
  }
  wire::store_fixed32(std::span{header}.subspan(12), header_crc(header));
  return header;
}

wire::Bytes segment_header(Index first, std::uint64_t epoch) {
  return header_with(segment_magic, segment_format_version, {first.value(), epoch});
}

/// Writes all of `bytes` at `offset`; false with errno set.
bool write_all(int fd, std::span<const std::byte> bytes, std::uint64_t offset) noexcept {
  while (!bytes.empty()) {
    const auto written = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    bytes = bytes.subspan(static_cast<std::size_t>(written));
    offset += static_cast<std::uint64_t>(written);
  }
  return true;
}

/// Reads up to `size` bytes at `offset` (fewer only at the end of the file); -1 with errno set.
std::ptrdiff_t read_some(int fd, std::byte* into, std::size_t size, std::uint64_t offset) noexcept {
  std::size_t done = 0;
  while (done < size) {
    const auto got = ::pread(fd, into + done, size - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      return -1;
    }
    if (got == 0) {
      break;
    }
    done += static_cast<std::size_t>(got);
  }
  return static_cast<std::ptrdiff_t>(done);
}

int sync_data(int fd) noexcept {
#if defined(__linux__)
  return ::fdatasync(fd);
#else
  return ::fsync(fd);
#endif
}

/// Reads a segment sequentially in large chunks.
class ScanReader {
public:
  ScanReader(int fd, std::uint64_t size) noexcept : fd_(fd), size_(size) {}

  /// Bytes [offset, offset + size) of the file (within its size); empty with `error` set on failure.
  std::span<const std::byte> at(std::uint64_t offset, std::size_t size, std::string& error) {
    if (offset >= start_ && offset + size <= start_ + buffer_.size()) {
      return {buffer_.data() + (offset - start_), size};
    }
    const auto want = static_cast<std::size_t>(
        std::max<std::uint64_t>(size, std::min<std::uint64_t>(scan_chunk_bytes, size_ - offset)));
    buffer_.resize(want);
    start_ = offset;
    const auto got = read_some(fd_, buffer_.data(), want, offset);
    if (got < 0) {
      error = fmt::format("read failed at offset {}: {}", offset, errno_text(errno));
      buffer_.clear();
      return {};
    }
    if (static_cast<std::size_t>(got) != want) {
      error = fmt::format("the file shrank while it was read (offset {})", offset);
      buffer_.clear();
      return {};
    }
    return {buffer_.data(), size};
  }

private:
  int fd_;
  std::uint64_t size_;
  std::vector<std::byte> buffer_;
  std::uint64_t start_ = 0;
};

struct ParsedRecord {
  std::uint32_t length = 0;
  std::uint32_t crc = 0;
  Index index{};
  Term term{};
};

ParsedRecord parse_record_header(const std::byte* at) noexcept {
  const std::span<const std::byte> header{at, record_header_bytes};
  return ParsedRecord{wire::load_fixed32(header), wire::load_fixed32(header.subspan(4)),
                      Index{wire::load_fixed64(header.subspan(8))},
                      Term{wire::load_fixed64(header.subspan(16))}};
}

} // namespace

// File ---------------------------------------------------------------------------

SegmentStore::File& SegmentStore::File::operator=(File&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.release();
  }
  return *this;
}

int SegmentStore::File::release() noexcept {
  return std::exchange(fd_, -1);
}

void SegmentStore::File::reset() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

// Opening and recovery -------------------------------------------------------------

/// A segment file found on open.
struct SegmentStore::FoundSegment {
  std::string name;
  Index first{};
  File file;
  std::uint64_t size = 0;
  Index last{};          ///< after scan()
  std::uint64_t end = 0; ///< after scan(): the end of its last good record
};

SegmentStore::SegmentStore(SegmentStoreOptions options, File directory, Meta meta)
    : options_(std::move(options)), directory_(std::move(directory)), base_(meta.base), epoch_(meta.epoch) {}

std::variant<std::unique_ptr<SegmentStore>, std::string> SegmentStore::open(SegmentStoreOptions options,
                                                                            const RecoveryVisitor& visit) {
  if (options.directory.empty()) {
    return std::string{"segment store: no directory given"};
  }
  if (options.segment_bytes < min_segment_bytes || options.segment_bytes > max_segment_bytes) {
    return fmt::format("segment store: segment_bytes {} is outside {}..={}", options.segment_bytes,
                       min_segment_bytes, max_segment_bytes);
  }
  const auto& directory = options.directory;
  const auto dir = directory.string();

  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) {
    return fmt::format("{}: cannot create the log directory: {}", dir, ec.message());
  }
  File dir_file{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!dir_file) {
    return fmt::format("{}: cannot open the log directory: {}", dir, errno_text(errno));
  }
  if (::flock(dir_file.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return fmt::format("{}: the log directory is in use (locked by another open log)", dir);
    }
    return fmt::format("{}: cannot lock the log directory: {}", dir, errno_text(errno));
  }
  if (::unlinkat(dir_file.get(), meta_temp_name, 0) != 0 && errno != ENOENT) {
    return fmt::format("{}: cannot remove {}: {}", dir, meta_temp_name, errno_text(errno));
  }

  // The segment files, in index order.
  std::vector<FoundSegment> found;
  for (std::filesystem::directory_iterator it{directory, ec}, end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (const auto first = parse_segment_name(name)) {
      found.push_back(FoundSegment{std::move(name), *first, File{}, 0, Index{}, 0});
    }
  }
  if (ec) {
    return fmt::format("{}: cannot list the log directory: {}", dir, ec.message());
  }
  std::sort(found.begin(), found.end(),
            [](const FoundSegment& a, const FoundSegment& b) { return a.first < b.first; });

  // The meta file: the base cursor and the epoch.
  Meta meta;
  const auto meta_path = (directory / meta_file_name).string();
  File meta_file{::openat(dir_file.get(), meta_file_name, O_RDONLY | O_CLOEXEC)};
  if (meta_file) {
    std::array<std::byte, meta_bytes + 1> bytes{};
    const auto got = read_some(meta_file.get(), bytes.data(), bytes.size(), 0);
    if (got < 0) {
      return fmt::format("{}: cannot read the log's meta file: {}", meta_path, errno_text(errno));
    }
    if (static_cast<std::size_t>(got) != meta_bytes) {
      return fmt::format("{}: damaged meta file: {} bytes where {} were expected", meta_path, got,
                         meta_bytes);
    }
    const std::span<const std::byte> header{bytes.data(), meta_bytes};
    if (std::memcmp(header.data(), meta_magic.data(), meta_magic.size()) != 0) {
      return fmt::format("{}: damaged meta file: bad magic at offset 0 (not a mosaik log meta file)",
                         meta_path);
    }
    if (const auto version = wire::load_fixed32(header.subspan(8)); version != meta_format_version) {
      return fmt::format("{}: meta file format version {} at offset 8 is not supported (this build reads {})",
                         meta_path, version, meta_format_version);
    }
    if (const auto stored = wire::load_fixed32(header.subspan(12)), computed = header_crc(header);
        stored != computed) {
      return fmt::format(
          "{}: damaged meta file: checksum mismatch at offset 12 (stored {:#010x}, computed {:#010x})",
          meta_path, stored, computed);
    }
    meta.base =
        Cursor{Term{wire::load_fixed64(header.subspan(16))}, Index{wire::load_fixed64(header.subspan(24))}};
    meta.epoch = wire::load_fixed64(header.subspan(32));
  } else if (errno != ENOENT) {
    return fmt::format("{}: cannot open the log's meta file: {}", meta_path, errno_text(errno));
  } else if (!found.empty()) {
    return fmt::format("{}: the log's meta file is missing but {} segment files are present (first: {}); "
                       "refusing to guess the base cursor",
                       meta_path, found.size(), found.front().name);
  }
  const bool new_log = !meta_file;
  meta_file.reset();

  std::unique_ptr<SegmentStore> store{new SegmentStore(std::move(options), std::move(dir_file), meta)};
  if (new_log) {
    // A new log gets its meta file before any segment is written.
    if (auto error = store->write_meta(meta)) {
      return std::move(*error);
    }
  }
  if (auto error = store->recover(std::move(found), visit)) {
    return std::move(*error);
  }
  return store;
}

std::optional<std::string> SegmentStore::recover(std::vector<FoundSegment> found,
                                                 const RecoveryVisitor& visit) {
  recovery_ = RecoveryReport{};
  bool removed_any = false;
  const auto remove = [&](const FoundSegment& segment, std::string_view why) -> std::optional<std::string> {
    log::info("{}: removing segment {}: {}", options_.directory.string(), segment.name, why);
    ++recovery_.segments_removed;
    removed_any = true;
    return remove_file(options_.directory / segment.name);
  };

  // Headers: magic, version, checksum, first index, epoch.
  std::vector<FoundSegment> live;
  for (std::size_t i = 0; i < found.size(); ++i) {
    auto& segment = found[i];
    const bool is_last = i + 1 == found.size();
    const auto path = (options_.directory / segment.name).string();
    segment.file = File{::openat(directory_.get(), segment.name.c_str(), O_RDONLY | O_CLOEXEC)};
    if (!segment.file) {
      return fmt::format("{}: cannot open the segment: {}", path, errno_text(errno));
    }
    struct stat status {};
    if (::fstat(segment.file.get(), &status) != 0) {
      return fmt::format("{}: cannot stat the segment: {}", path, errno_text(errno));
    }
    segment.size = static_cast<std::uint64_t>(status.st_size);
    std::array<std::byte, header_bytes> header_buffer{};
    const std::span<const std::byte> header{header_buffer};
    const auto got = read_some(segment.file.get(), header_buffer.data(), header_buffer.size(), 0);
    if (got < 0) {
      return fmt::format("{}: cannot read the segment header: {}", path, errno_text(errno));
    }
    const bool whole = static_cast<std::size_t>(got) == header_bytes;
    const bool zero =
        whole && std::all_of(header.begin(), header.end(), [](std::byte b) { return b == std::byte{0}; });
    if (!whole || zero) {
      const auto what =
          zero ? std::string{"zero-filled"} : fmt::format("incomplete ({} of {} bytes)", got, header_bytes);
      if (!is_last) {
        return fmt::format("{}: damaged segment header at offset 0: {}", path, what);
      }
      // The last segment was being created when the process stopped.
      log::warn("{}: cutting a torn segment at offset 0: its header is {}; {} bytes cut", path, what,
                segment.size);
      recovery_.bytes_cut += segment.size;
      recovery_.tail_cut_segment = options_.directory / segment.name;
      recovery_.tail_cut_offset = 0;
      segment.file.reset();
      if (auto error = remove(segment, "torn at creation")) {
        return error;
      }
      continue;
    }
    if (std::memcmp(header.data(), segment_magic.data(), segment_magic.size()) != 0) {
      return fmt::format("{}: damaged segment header at offset 0: bad magic (not a mosaik segment)", path);
    }
    if (const auto version = wire::load_fixed32(header.subspan(8)); version != segment_format_version) {
      return fmt::format("{}: segment format version {} at offset 8 is not supported (this build reads {})",
                         path, version, segment_format_version);
    }
    if (const auto stored = wire::load_fixed32(header.subspan(12)), computed = header_crc(header);
        stored != computed) {
      return fmt::format(
          "{}: damaged segment header at offset 12: checksum mismatch (stored {:#010x}, computed {:#010x})",
          path, stored, computed);
    }
    if (const Index first{wire::load_fixed64(header.subspan(16))}; first != segment.first) {
      return fmt::format("{}: the segment header (offset 16) says first index {} but the file name says {}",
                         path, first.value(), segment.first.value());
    }
    const auto epoch = wire::load_fixed64(header.subspan(24));
    if (epoch > epoch_) {
      return fmt::format("{}: the segment's epoch {} (offset 24) is newer than the log's ({})", path, epoch,
                         epoch_);
    }
    if (epoch < epoch_) {
      segment.file.reset();
      if (auto error = remove(segment, "left over from before a reset")) {
        return error;
      }
      continue;
    }
    segment.file.reset(); // scan() reopens it: a large log has more segments than a process has descriptors
    live.push_back(std::move(segment));
  }

  // Segments wholly at or before the base cursor: left over from a prune.
  while (live.size() >= 2 && live[1].first <= base_.index.next()) {
    live.front().file.reset();
    if (auto error = remove(live.front(), "wholly before the base cursor")) {
      return error;
    }
    live.erase(live.begin());
  }
  if (!live.empty() && live.front().first > base_.index.next()) {
    return fmt::format(
        "{}: entries {}..={} are missing: the base cursor is at index {} but the first segment "
        "starts at {} (a segment was deleted?)",
        (options_.directory / live.front().name).string(), base_.index.next().value(),
        live.front().first.prev().value(), base_.index.value(), live.front().first.value());
  }

  // Records: every one verified; the chain checked from segment to segment.
  for (std::size_t i = 0; i < live.size(); ++i) {
    const bool is_last = i + 1 == live.size();
    if (auto error = scan(live[i], is_last, visit)) {
      return error;
    }
    if (!is_last && live[i + 1].first != live[i].last.next()) {
      return fmt::format(
          "{}: the segment ends at index {} (offset {}) but the next segment, {}, starts at {}: "
          "the chain is broken (a segment is missing or was cut)",
          (options_.directory / live[i].name).string(), live[i].last.value(), live[i].end, live[i + 1].name,
          live[i + 1].first.value());
    }
  }

  // The last segment may hold nothing after the base (after a cut, or an interrupted prune).
  if (!live.empty() && live.back().last <= base_.index) {
    live.back().file.reset();
    if (auto error = remove(live.back(), "holds no entry after the base cursor")) {
      return error;
    }
    live.pop_back();
  }
  if (removed_any && syncing()) {
    if (auto error = sync_directory()) {
      return error;
    }
  }

  for (auto& segment : live) {
    segments_.push_back(Segment{segment.first, segment.last, segment.end});
  }
  if (!live.empty()) {
    if (!live.back().file) {
      live.back().file = File{::openat(directory_.get(), live.back().name.c_str(), O_RDWR | O_CLOEXEC)};
      if (!live.back().file) {
        return fmt::format("{}: cannot open the segment: {}",
                           (options_.directory / live.back().name).string(), errno_text(errno));
      }
    }
    active_ = std::move(live.back().file);
    active_written_bytes_ = segments_.back().bytes;
  }
  recovery_.segments = segments_.size();
  recovery_.records = locations_.size();
  recovery_.base = base_;
  recovery_.held = held();
  return std::nullopt;
}

std::optional<std::string> SegmentStore::scan(FoundSegment& segment, bool is_last,
                                              const RecoveryVisitor& visit) {
  const auto path = (options_.directory / segment.name).string();
  segment.file =
      File{::openat(directory_.get(), segment.name.c_str(), (is_last ? O_RDWR : O_RDONLY) | O_CLOEXEC)};
  if (!segment.file) {
    return fmt::format("{}: cannot open the segment: {}", path, errno_text(errno));
  }
  ScanReader reader{segment.file.get(), segment.size};
  std::string io_error;
  std::uint64_t offset = header_bytes;
  Index expected = segment.first;

  // Whether the record at `offset` is whole and valid; if not, `problem` says why.
  const auto check = [&](std::uint64_t at, Index index, ParsedRecord& record,
                         std::span<const std::byte>& payload, std::string& problem) -> bool {
    const auto left = segment.size - at;
    if (left < record_header_bytes) {
      problem = fmt::format("torn record header ({} of {} bytes)", left, record_header_bytes);
      return false;
    }
    const auto header = reader.at(at, record_header_bytes, io_error);
    if (header.empty()) {
      return false;
    }
    record = parse_record_header(header.data());
    if (record.length > left - record_header_bytes) {
      problem = fmt::format("record length {} runs past the end of the file ({} bytes left)", record.length,
                            left - record_header_bytes);
      return false;
    }
    std::array<std::byte, record_header_bytes> copy{};
    std::memcpy(copy.data(), header.data(), copy.size()); // the payload read may move the buffer
    payload = reader.at(at + record_header_bytes, record.length, io_error);
    if (!io_error.empty()) {
      return false;
    }
    if (const auto computed = record_crc(copy.data(), payload); computed != record.crc) {
      problem =
          fmt::format("record checksum mismatch (stored {:#010x}, computed {:#010x})", record.crc, computed);
      return false;
    }
    if (record.index != index) {
      problem = fmt::format("record index {} where {} was expected", record.index.value(), index.value());
      return false;
    }
    return true;
  };

  while (offset < segment.size) {
    ParsedRecord record;
    std::span<const std::byte> payload;
    std::string problem;
    if (!check(offset, expected, record, payload, problem)) {
      if (!io_error.empty()) {
        return fmt::format("{}: {}", path, io_error);
      }
      if (!is_last) {
        return fmt::format(
            "{}: corrupt record at offset {} (index {} expected) in a segment that is not the last: "
            "{}",
            path, offset, expected.value(), problem);
      }
      // The tail of the last segment: cut it, unless a valid record follows (damage, not a torn write).
      for (std::uint64_t at = offset + 1; at + record_header_bytes <= segment.size; ++at) {
        const auto header = reader.at(at, record_header_bytes, io_error);
        if (header.empty()) {
          return fmt::format("{}: {}", path, io_error);
        }
        const auto candidate = parse_record_header(header.data());
        // A cheap filter first: an index that could follow, a length that fits.
        if (candidate.index < expected ||
            candidate.index.value() - expected.value() > (segment.size - offset) / record_header_bytes ||
            candidate.length > segment.size - at - record_header_bytes) {
          continue;
        }
        ParsedRecord found;
        std::span<const std::byte> found_payload;
        std::string ignored;
        if (check(at, candidate.index, found, found_payload, ignored)) {
          return fmt::format(
              "{}: corrupt record at offset {} (index {} expected): {}; a valid record (index {}) "
              "follows at offset {}, so this is damage inside the log, not a torn tail",
              path, offset, expected.value(), problem, found.index.value(), at);
        }
        if (!io_error.empty()) {
          return fmt::format("{}: {}", path, io_error);
        }
      }
      const auto cut = segment.size - offset;
      log::warn("{}: cutting a torn or corrupt tail at offset {} (index {} expected: {}); {} bytes cut", path,
                offset, expected.value(), problem, cut);
      if (::ftruncate(segment.file.get(), static_cast<off_t>(offset)) != 0) {
        return fmt::format("{}: cannot cut the tail at offset {}: {}", path, offset, errno_text(errno));
      }
      if (syncing() && sync_data(segment.file.get()) != 0) {
        return fmt::format("{}: cannot sync the segment after cutting its tail: {}", path, errno_text(errno));
      }
      recovery_.bytes_cut += cut;
      recovery_.tail_cut_segment = options_.directory / segment.name;
      recovery_.tail_cut_offset = offset;
      segment.size = offset;
      break;
    }
    if (record.index > base_.index) {
      if (offset > max_segment_bytes) {
        return fmt::format("{}: record {} at offset {} lies beyond the largest segment size ({})", path,
                           record.index.value(), offset, max_segment_bytes);
      }
      if (visit) {
        if (auto refused = visit(record.index, record.term, payload)) {
          return fmt::format("{}: record {} at offset {}: {}", path, record.index.value(), offset, *refused);
        }
      }
      locations_.push_back(Location{record.term.value(), static_cast<std::uint32_t>(offset), record.length});
    }
    offset += record_header_bytes + record.length;
    expected = expected.next();
  }
  segment.last = expected.prev();
  segment.end = offset;
  if (!is_last) {
    segment.file.reset();
  }
  return std::nullopt;
}

// Files and the directory ---------------------------------------------------------

std::filesystem::path SegmentStore::path_of(Index first) const {
  return options_.directory / segment_name(first);
}

std::optional<std::string> SegmentStore::remove_file(const std::filesystem::path& path) {
  const auto name = path.filename().string();
  if (::unlinkat(directory_.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
    return fmt::format("{}: cannot remove: {}", path.string(), errno_text(errno));
  }
  return std::nullopt;
}

std::optional<std::string> SegmentStore::sync_directory() {
  if (::fsync(directory_.get()) != 0) {
    return fmt::format("{}: cannot sync the log directory: {}", options_.directory.string(),
                       errno_text(errno));
  }
  return std::nullopt;
}

std::optional<std::string> SegmentStore::write_meta(const Meta& meta) {
  const auto bytes = header_with(meta_magic, meta_format_version,
                                 {meta.base.term.value(), meta.base.index.value(), meta.epoch});

  const auto temp_path = (options_.directory / meta_temp_name).string();
  File temp{::openat(directory_.get(), meta_temp_name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (!temp) {
    return fmt::format("{}: cannot create: {}", temp_path, errno_text(errno));
  }
  if (!write_all(temp.get(), bytes, 0)) {
    return fmt::format("{}: cannot write: {}", temp_path, errno_text(errno));
  }
  if (syncing() && sync_data(temp.get()) != 0) {
    return fmt::format("{}: cannot sync: {}", temp_path, errno_text(errno));
  }
  temp.reset();
  if (::renameat(directory_.get(), meta_temp_name, directory_.get(), meta_file_name) != 0) {
    return fmt::format("{}: cannot rename to {}: {}", temp_path, meta_file_name, errno_text(errno));
  }
  if (syncing()) {
    return sync_directory();
  }
  return std::nullopt;
}

void SegmentStore::fail(std::string message) const {
  if (failed_) {
    return;
  }
  failed_ = true;
  error_ = std::move(message);
  log::error("{} (the log refuses further changes)", error_);
}

// Appends and sync -----------------------------------------------------------------

SegmentStore::~SegmentStore() {
  if (!failed_) {
    sync();
  }
}

std::size_t SegmentStore::segment_of(Index index) const noexcept {
  const auto after = std::upper_bound(segments_.begin(), segments_.end(), index,
                                      [](Index i, const Segment& segment) { return i < segment.first; });
  return static_cast<std::size_t>(after - segments_.begin()) - 1;
}

bool SegmentStore::start_segment(Index first) {
  if (!flush()) {
    return false;
  }
  if (active_ && active_unsynced_) {
    unsynced_.emplace_back(std::move(active_), segments_.back().first);
  }
  active_.reset();
  active_unsynced_ = false;
  const auto name = segment_name(first);
  File file{::openat(directory_.get(), name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
  if (!file) {
    fail(fmt::format("{}: cannot create the segment: {}", path_of(first).string(), errno_text(errno)));
    return false;
  }
  active_ = std::move(file);
  active_written_bytes_ = 0;
  directory_unsynced_ = true;
  const auto header = segment_header(first, epoch_);
  buffer_.assign(header.begin(), header.end());
  segments_.push_back(Segment{first, first.prev(), header_bytes});
  return true;
}

bool SegmentStore::append_record(Term term, std::span<const std::byte> payload) {
  if (failed_) {
    return false;
  }
  if (payload.size() > max_payload_bytes) {
    fail(fmt::format("{}: a record of {} bytes is larger than the maximum ({})", options_.directory.string(),
                     payload.size(), max_payload_bytes));
    return false;
  }
  const auto index = last_index().next();
  const auto record_bytes = record_header_bytes + payload.size();
  const bool roll = segments_.empty() || (segments_.back().bytes + record_bytes > options_.segment_bytes &&
                                          segments_.back().last >= segments_.back().first);
  if (roll && !start_segment(index)) {
    return false;
  }
  auto& segment = segments_.back();
  append_record_to(buffer_, index, term, payload);
  locations_.push_back(Location{term.value(), static_cast<std::uint32_t>(segment.bytes),
                                static_cast<std::uint32_t>(payload.size())});
  segment.bytes += record_bytes;
  segment.last = index;
  if (buffer_.size() >= options_.write_buffer_bytes) {
    return flush();
  }
  return true;
}

bool SegmentStore::append(Term term, std::span<const std::byte> payload) {
  if (!append_record(term, payload)) {
    return false;
  }
  return options_.fsync != FsyncPolicy::always || sync();
}

bool SegmentStore::append_all(std::span<const PendingRecord> records) {
  for (const auto& record : records) {
    if (!append_record(record.term, record.payload)) {
      return false;
    }
  }
  return options_.fsync != FsyncPolicy::always || sync();
}

bool SegmentStore::flush() {
  if (buffer_.empty()) {
    return true;
  }
  if (!write_all(active_.get(), buffer_, active_written_bytes_)) {
    fail(fmt::format("{}: cannot write {} bytes at offset {}: {}", path_of(segments_.back().first).string(),
                     buffer_.size(), active_written_bytes_, errno_text(errno)));
    return false;
  }
  active_written_bytes_ += buffer_.size();
  active_unsynced_ = true;
  buffer_.clear();
  if (buffer_.capacity() > buffer_shrink_factor * std::max<std::size_t>(options_.write_buffer_bytes, 4096)) {
    std::vector<std::byte>{}.swap(buffer_);
  }
  return true;
}

bool SegmentStore::sync() {
  if (failed_ || !flush()) {
    return false;
  }
  if (syncing()) {
    for (const auto& [file, first] : unsynced_) {
      if (sync_data(file.get()) != 0) {
        fail(fmt::format("{}: cannot sync: {}", path_of(first).string(), errno_text(errno)));
        return false;
      }
    }
    if (active_ && active_unsynced_ && sync_data(active_.get()) != 0) {
      fail(fmt::format("{}: cannot sync: {}", path_of(segments_.back().first).string(), errno_text(errno)));
      return false;
    }
    if (directory_unsynced_) {
      if (auto error = sync_directory()) {
        fail(std::move(*error));
        return false;
      }
    }
  }
  unsynced_.clear();
  active_unsynced_ = false;
  directory_unsynced_ = false;
  return true;
}

// Truncate, prune, reset -----------------------------------------------------------

bool SegmentStore::truncate(Index from) {
  if (failed_) {
    return false;
  }
  from = std::max(from, base_.index.next());
  if (from > last_index()) {
    return true;
  }
  reader_.reset();
  const auto keep = segment_of(from);
  const auto cut = location(from).offset;
  // Memory first: should a file operation fail, the store holds what it was asked to keep.
  locations_.resize(static_cast<std::size_t>(from.value() - base_.index.value() - 1));

  // Later segments first, from the end: a crash leaves a prefix of the log.
  bool removed = false;
  const auto drop_active = [this] {
    active_.reset();
    active_unsynced_ = false;
    buffer_.clear();
  };
  while (segments_.size() > keep + 1) {
    drop_active();
    if (auto error = remove_file(path_of(segments_.back().first))) {
      fail(std::move(*error));
      return false;
    }
    segments_.pop_back();
    removed = true;
  }
  // The segment holding `from` goes whole when nothing after the base would be left in it.
  const bool whole = from == segments_[keep].first || from == base_.index.next();
  if (whole) {
    drop_active();
    if (auto error = remove_file(path_of(segments_[keep].first))) {
      fail(std::move(*error));
      return false;
    }
    segments_.pop_back();
    removed = true;
  }
  if (removed && syncing()) {
    if (auto error = sync_directory()) {
      fail(std::move(*error));
      return false;
    }
  }
  if (segments_.empty()) {
    return true;
  }
  if (whole && segments_.back().last <= base_.index) {
    // Nothing before it holds an entry after the base either (prune removed such segments).
    fail(fmt::format("{}: segment {} holds no entry after the base cursor {} (internal error)",
                     options_.directory.string(), segments_.back().first.value(), base_.index.value()));
    return false;
  }

  auto& holder = segments_.back();
  const auto path = path_of(holder.first).string();
  if (whole) {
    // The segment before the one removed becomes the active one again, whole.
    active_ = File{::openat(directory_.get(), segment_name(holder.first).c_str(), O_RDWR | O_CLOEXEC)};
    if (!active_) {
      fail(fmt::format("{}: cannot open the segment: {}", path, errno_text(errno)));
      return false;
    }
    active_written_bytes_ = holder.bytes;
    active_unsynced_ = true; // it may have been written since the last sync
    return true;
  }
  if (active_ && cut >= active_written_bytes_) {
    // Only buffered bytes go: the file is untouched.
    buffer_.resize(static_cast<std::size_t>(cut - active_written_bytes_));
  } else {
    if (!active_) {
      active_ = File{::openat(directory_.get(), segment_name(holder.first).c_str(), O_RDWR | O_CLOEXEC)};
      if (!active_) {
        fail(fmt::format("{}: cannot open the segment: {}", path, errno_text(errno)));
        return false;
      }
    }
    buffer_.clear();
    if (::ftruncate(active_.get(), static_cast<off_t>(cut)) != 0) {
      fail(fmt::format("{}: cannot truncate at offset {}: {}", path, cut, errno_text(errno)));
      return false;
    }
    if (syncing() && sync_data(active_.get()) != 0) {
      fail(fmt::format("{}: cannot sync after truncating at offset {}: {}", path, cut, errno_text(errno)));
      return false;
    }
    active_written_bytes_ = cut;
  }
  holder.bytes = cut;
  holder.last = from.prev();
  return true;
}

bool SegmentStore::prune_prefix(Index up_to) {
  if (failed_) {
    return false;
  }
  if (up_to <= base_.index) {
    return true;
  }
  const auto last = this->last();
  const Cursor base = up_to >= last.index ? last : Cursor{*term(up_to), up_to};
  if (base == base_) {
    return true;
  }
  // The meta file first: a crash before the unlinks leaves segments that recovery removes.
  if (auto error = write_meta(Meta{base, epoch_})) {
    fail(std::move(*error));
    return false;
  }
  const auto dropped = static_cast<std::size_t>(base.index.value() - base_.index.value());
  locations_.erase(locations_.begin(), locations_.begin() + static_cast<std::ptrdiff_t>(dropped));
  base_ = base;

  reader_.reset();
  std::size_t whole = 0;
  while (whole < segments_.size() && segments_[whole].last <= base_.index) {
    ++whole;
  }
  if (whole == segments_.size()) {
    active_.reset();
    active_unsynced_ = false;
    buffer_.clear();
  }
  for (std::size_t i = 0; i < whole; ++i) {
    if (auto error = remove_file(path_of(segments_[i].first))) {
      fail(std::move(*error));
      return false;
    }
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(whole));
  if (whole > 0 && syncing()) {
    if (auto error = sync_directory()) {
      fail(std::move(*error));
      return false;
    }
  }
  return true;
}

bool SegmentStore::reset_to(Cursor cursor) {
  if (failed_) {
    return false;
  }
  // A new epoch in the meta file first: segments of the old one are stale from then on.
  if (auto error = write_meta(Meta{cursor, epoch_ + 1})) {
    fail(std::move(*error));
    return false;
  }
  ++epoch_;
  base_ = cursor;
  locations_.clear();
  reader_.reset();
  active_.reset();
  active_unsynced_ = false;
  buffer_.clear();
  unsynced_.clear();
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    if (auto error = remove_file(path_of(it->first))) {
      segments_.clear();
      fail(std::move(*error));
      return false;
    }
  }
  const bool removed = !segments_.empty();
  segments_.clear();
  if (removed && syncing()) {
    if (auto error = sync_directory()) {
      fail(std::move(*error));
      return false;
    }
  }
  return true;
}

// Reads ------------------------------------------------------------------------------

bool SegmentStore::read_segment(std::size_t segment, std::uint64_t offset, std::byte* into,
                                std::size_t size) const {
  const auto first = segments_[segment].first;
  const bool is_active = segment + 1 == segments_.size();
  int fd = -1;
  std::size_t from_file = size;
  if (is_active) {
    fd = active_.get();
    // Bytes at or after active_written_bytes_ are still in the write buffer.
    from_file = offset >= active_written_bytes_
                    ? 0
                    : static_cast<std::size_t>(std::min<std::uint64_t>(size, active_written_bytes_ - offset));
    if (from_file < size) {
      const auto buffered_from = offset + from_file - active_written_bytes_;
      std::memcpy(into + from_file, buffer_.data() + buffered_from, size - from_file);
    }
  } else {
    if (!reader_ || reader_segment_ != first) {
      reader_ = File{::openat(directory_.get(), segment_name(first).c_str(), O_RDONLY | O_CLOEXEC)};
      reader_segment_ = first;
      if (!reader_) {
        fail(fmt::format("{}: cannot open the segment: {}", path_of(first).string(), errno_text(errno)));
        return false;
      }
    }
    fd = reader_.get();
  }
  if (from_file == 0) {
    return true;
  }
  const auto got = read_some(fd, into, from_file, offset);
  if (got < 0) {
    fail(fmt::format("{}: cannot read {} bytes at offset {}: {}", path_of(first).string(), from_file, offset,
                     errno_text(errno)));
    return false;
  }
  if (static_cast<std::size_t>(got) != from_file) {
    fail(fmt::format("{}: the segment ends before offset {} (read {} of {} bytes)", path_of(first).string(),
                     offset + from_file, got, from_file));
    return false;
  }
  return true;
}

bool SegmentStore::read(IndexRange range, std::uint64_t max_payload_bytes, RecordBatch& out) const {
  out.bytes.clear();
  out.records.clear();
  const auto wanted = range.intersect(held());
  if (wanted.empty()) {
    return true;
  }
  // The records within the budget (at least one), and their bytes.
  auto last = wanted.first();
  std::uint64_t payload = location(last).length;
  std::uint64_t total = record_header_bytes + payload;
  while (last < wanted.last()) {
    const auto length = location(last.next()).length;
    if (payload + length > max_payload_bytes) {
      break;
    }
    payload += length;
    total += record_header_bytes + length;
    last = last.next();
  }
  out.bytes.resize(static_cast<std::size_t>(total));
  out.records.reserve(static_cast<std::size_t>(last.distance_from(wanted.first().prev())));

  // One read per segment, then every record checked.
  std::size_t position = 0;
  for (auto index = wanted.first(); index <= last;) {
    const auto segment = segment_of(index);
    const auto end = std::min(last, segments_[segment].last);
    const auto begin_offset = location(index).offset;
    const auto end_offset = std::uint64_t{location(end).offset} + record_header_bytes + location(end).length;
    const auto size = static_cast<std::size_t>(end_offset - begin_offset);
    if (!read_segment(segment, begin_offset, out.bytes.data() + position, size)) {
      return false;
    }
    for (; index <= end; index = index.next()) {
      const auto& where = location(index);
      const auto* header = out.bytes.data() + position;
      const auto record = parse_record_header(header);
      const std::span<const std::byte> bytes{header + record_header_bytes, where.length};
      if (record.index != index || record.length != where.length || record.term.value() != where.term ||
          record.crc != record_crc(header, bytes)) {
        fail(fmt::format(
            "{}: record {} at offset {} is damaged on disk (read back with a wrong index, length, "
            "term or checksum)",
            path_of(segments_[segment].first).string(), index.value(), where.offset));
        return false;
      }
      out.records.push_back(RecordView{index, record.term, bytes});
      position += record_header_bytes + where.length;
    }
  }
  return true;
}

} // namespace mosaik::storage
