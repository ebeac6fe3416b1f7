// SnapshotStore: FileSnapshotStore keeps a member's latest snapshot in one
// checksummed file (magic, version, info, items, CRC32C). Round trips of the
// info and items (none, a few, ~100k); a save replaces the previous snapshot;
// a missing file is "no snapshot" (no error); a damaged file (truncated, a
// flipped byte, another magic or version, an item count that disagrees with
// the header, trailing bytes) is refused with a clear error, never half-used
// and never a crash. InMemorySnapshotStore round trips too.

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <mosaik/core/cursor.hpp>
#include <mosaik/machines/kv_store.hpp>
#include <mosaik/storage/crc32c.hpp>
#include <mosaik/storage/snapshot_store.hpp>
#include <mosaik/sync/snapshot/snapshot_message_codec.hpp>
#include <mosaik/sync/snapshot/snapshottable.hpp>
#include <mosaik/wire/codec.hpp>
#include <mosaik/wire/writer.hpp>

#include "temp_dir.hpp"

namespace mosaik::test {
namespace {

using Record = machines::KvStore::Record;
using Store = storage::FileSnapshotStore<Record>;
using Image = SnapshotImage<Record>;

std::vector<std::byte> header_of(std::string_view text) {
  std::vector<std::byte> out;
  for (const char c : text) {
    out.push_back(static_cast<std::byte>(c));
  }
  return out;
}

SnapshotInfo info_for(Cursor at, const std::vector<Record>& items, std::vector<std::byte> header) {
  return SnapshotInfo{at, items.size(), std::move(header)};
}

/// `count` records in key order, values of varied length (some empty, some binary).
std::vector<Record> records(std::size_t count, std::uint64_t seed = 1) {
  std::mt19937_64 rng{seed};
  std::vector<Record> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::string value(static_cast<std::size_t>(rng() % 24), '\0');
    for (auto& c : value) {
      c = static_cast<char>(rng());
    }
    out.push_back(Record{fmt::format("key-{:07}", i), std::move(value)});
  }
  return out;
}

std::vector<std::byte> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) {
    out[i] = static_cast<std::byte>(chars[i]);
  }
  return out;
}

void write_bytes(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

/// A snapshot file as FileSnapshotStore writes it, with each part chosen by
/// the test: the CRC is computed over whatever precedes it, so the file
/// passes the checksum and the later checks are what refuse it.
std::vector<std::byte> forge(std::uint32_t magic, std::uint8_t version, const SnapshotInfo& info,
                             const std::vector<Record>& items, std::span<const std::byte> trailing = {}) {
  wire::Bytes bytes;
  wire::Writer writer{bytes};
  writer.fixed32(magic);
  writer.u8(version);
  wire::encode(writer, info);
  wire::encode(writer, items);
  writer.append(trailing);
  writer.fixed32(storage::crc32c(bytes));
  return bytes;
}

/// load() of what is there: the image, or nullopt and the error.
struct Loaded {
  std::optional<Image> image;
  std::string error;
};
Loaded load(const storage::SnapshotStore<Record>& store) {
  Loaded out;
  out.image = store.load(out.error);
  return out;
}

void require_image(const Loaded& loaded, const SnapshotInfo& info, const std::vector<Record>& items) {
  INFO("error: " << loaded.error);
  REQUIRE(loaded.image.has_value());
  CHECK(loaded.error.empty());
  CHECK(loaded.image->info == info);
  REQUIRE(loaded.image->items != nullptr);
  CHECK(loaded.image->items->size() == items.size());
  CHECK(*loaded.image->items == items);
}

/// The store refuses the file: no image, an error naming the file and `reason`.
void require_refused(const Loaded& loaded, const Store& store, const std::string& reason) {
  CHECK_FALSE(loaded.image.has_value());
  INFO("error: " << loaded.error);
  CHECK_FALSE(loaded.error.empty());
  CHECK(loaded.error.find(store.path().string()) != std::string::npos);
  CHECK(loaded.error.find(reason) != std::string::npos);
}

} // namespace

TEST_CASE("snapshot store: info and items round-trip through the file", "[snapshot][storage]") {
  support::TempDir dir{"mosaik-snapshot"};
  Store store{dir.path()};
  CHECK(store.path() == dir.path() / "snapshot");

  SECTION("no items, no header") {
    const std::vector<Record> items;
    const auto info = info_for(Cursor{Term{1}, Index{1}}, items, {});
    REQUIRE_FALSE(store.save(info, items).has_value());
    require_image(load(store), info, items);
  }
  SECTION("a few records, a header with every byte value") {
    std::vector<std::byte> header;
    for (int b = 0; b < 256; ++b) {
      header.push_back(static_cast<std::byte>(b));
    }
    const std::vector<Record> items{Record{"", ""}, Record{"a", "1"},
                                    Record{"b", std::string("\0\xff\x80", 3)},
                                    Record{std::string(300, 'k'), std::string(70'000, 'v')}};
    const auto info = info_for(Cursor{Term{7}, Index{12345}}, items, header);
    REQUIRE_FALSE(store.save(info, items).has_value());
    require_image(load(store), info, items);
    // A second store on the same directory (a restarted member) reads the same.
    require_image(load(Store{dir.path()}), info, items);
  }
  SECTION("extreme cursor values") {
    const auto items = records(3);
    const auto info = info_for(Cursor{Term{~std::uint64_t{0}}, Index::max()}, items, header_of("h"));
    REQUIRE_FALSE(store.save(info, items).has_value());
    require_image(load(store), info, items);
  }
  SECTION("about 100k records") {
    const auto items = records(100'000, 42);
    const auto info = info_for(Cursor{Term{3}, Index{1'000'000}}, items, header_of("membership"));
    REQUIRE_FALSE(store.save(info, items).has_value());
    CHECK(std::filesystem::file_size(store.path()) > 100'000 * 12);
    require_image(load(store), info, items);
  }
  // The temporary file is gone after a save.
  CHECK_FALSE(std::filesystem::exists(dir.path() / "snapshot.tmp"));
}

TEST_CASE("snapshot store: a save replaces the previous snapshot", "[snapshot][storage]") {
  support::TempDir dir{"mosaik-snapshot"};
  Store store{dir.path()};
  const auto big = records(5000, 1);
  const auto big_info = info_for(Cursor{Term{2}, Index{500}}, big, header_of("first"));
  REQUIRE_FALSE(store.save(big_info, big).has_value());
  require_image(load(store), big_info, big);
  const auto big_size = std::filesystem::file_size(store.path());

  // A smaller one afterwards: nothing of the first remains.
  const auto small = records(3, 2);
  const auto small_info = info_for(Cursor{Term{3}, Index{1000}}, small, header_of("second"));
  REQUIRE_FALSE(store.save(small_info, small).has_value());
  require_image(load(store), small_info, small);
  CHECK(std::filesystem::file_size(store.path()) < big_size);
  // And an empty one.
  const std::vector<Record> none;
  const auto none_info = info_for(Cursor{Term{3}, Index{1500}}, none, {});
  REQUIRE_FALSE(store.save(none_info, none).has_value());
  require_image(load(Store{dir.path()}), none_info, none);

  // A temporary left by a crash between write and rename is ignored, and overwritten by the next save.
  std::ofstream(dir.path() / "snapshot.tmp") << "half written";
  require_image(load(store), none_info, none);
  REQUIRE_FALSE(store.save(small_info, small).has_value());
  require_image(load(store), small_info, small);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "snapshot.tmp"));
}

TEST_CASE("snapshot store: no file is no snapshot, and no error", "[snapshot][storage]") {
  support::TempDir dir{"mosaik-snapshot"};
  const Store store{dir.path()};
  const auto loaded = load(store);
  CHECK_FALSE(loaded.image.has_value());
  CHECK(loaded.error.empty());
  // A directory that does not exist either.
  const auto nowhere = load(Store{dir.path() / "missing" / "deeper"});
  CHECK_FALSE(nowhere.image.has_value());
  CHECK(nowhere.error.empty());
}

TEST_CASE("snapshot store: a save that cannot write says why", "[snapshot][storage]") {
  support::TempDir dir{"mosaik-snapshot"};
  // The store creates its directory; where a file stands in its way, it says so.
  const std::vector<Record> items{Record{"k", "v"}};
  const auto info = info_for(Cursor{Term{1}, Index{5}}, items, {});
  Store created{dir.path() / "missing" / "deeper"};
  CHECK_FALSE(created.save(info, items).has_value());
  CHECK(load(created).image.has_value());
  {
    std::ofstream file(dir.path() / "plain");
    file << "x";
  }
  Store under_a_file{dir.path() / "plain" / "below"};
  const auto error = under_a_file.save(info, items);
  REQUIRE(error.has_value());
  CHECK(error->find((dir.path() / "plain").string()) != std::string::npos);
  CHECK_FALSE(load(under_a_file).image.has_value());

  // Where the file should be there is a directory: save and load both refuse.
  std::filesystem::create_directories(dir.path() / "snapshot");
  Store blocked{dir.path()};
  CHECK(blocked.save(info, items).has_value());
  const auto loaded = load(blocked);
  CHECK_FALSE(loaded.image.has_value());
  CHECK_FALSE(loaded.error.empty());
}

TEST_CASE("snapshot store: a truncated file is refused at every length", "[snapshot][storage]") {
  support::TempDir dir{"mosaik-snapshot"};
  Store store{dir.path()};
  const auto items = records(40, 7);
  const auto info = info_for(Cursor{Term{4}, Index{900}}, items, header_of("members"));
  REQUIRE_FALSE(store.save(info, items).has_value());
  const auto whole = read_bytes(store.path());
  REQUIRE(whole.size() > 100);

  std::size_t refused = 0;
  for (std::size_t n = 0; n < whole.size(); ++n) {
    INFO("prefix of " << n << " bytes of " << whole.size());
    write_bytes(store.path(), std::span{whole}.first(n));
    const auto loaded = load(store);
    // Too short for a header and a checksum, or a checksum over the wrong bytes.
    require_refused(loaded, store, n < 9 ? "too few" : "checksum mismatch");
    CHECK(loaded.error.find("damaged") != std::string::npos);
    refused += loaded.image ? 0 : 1;
  }
  CHECK(refused == whole.size());
  // The whole file still loads.
  write_bytes(store.path(), whole);
  require_image(load(store), info, items);
}

TEST_CASE("snapshot store: a flipped byte anywhere fails the checksum", "[snapshot][storage]") {
  support::TempDir dir{"mosaik-snapshot"};
  Store store{dir.path()};
  const auto items = records(25, 9);
  const auto info = info_for(Cursor{Term{5}, Index{4321}}, items, header_of("membership header"));
  REQUIRE_FALSE(store.save(info, items).has_value());
  const auto whole = read_bytes(store.path());
  for (std::size_t offset = 0; offset < whole.size(); ++offset) {
    for (const int mask : {0x01, 0x80, 0xff}) {
      INFO("offset " << offset << " of " << whole.size() << ", mask " << mask);
      auto damaged = whole;
      damaged[offset] ^= static_cast<std::byte>(mask);
      write_bytes(store.path(), damaged);
      require_refused(load(store), store, "checksum mismatch");
    }
  }
}

TEST_CASE("snapshot store: another magic or version is refused even with a valid checksum",
          "[snapshot][storage]") {
  support::TempDir dir{"mosaik-snapshot"};
  Store store{dir.path()};
  const auto items = records(5, 3);
  const auto info = info_for(Cursor{Term{2}, Index{77}}, items, header_of("m"));
  // The forged file with the right magic and version is what save() writes.
  REQUIRE_FALSE(store.save(info, items).has_value());
  CHECK(read_bytes(store.path()) == forge(Store::magic, Store::version, info, items));

  for (const std::uint32_t magic : {0u, Store::magic ^ 1u, Store::magic ^ 0x80000000u, 0xffffffffu}) {
    INFO("magic " << magic);
    write_bytes(store.path(), forge(magic, Store::version, info, items));
    require_refused(load(store), store, "not a mosaik snapshot of this version");
  }
  for (const int version : {0, 2, 255}) {
    INFO("version " << version);
    write_bytes(store.path(), forge(Store::magic, static_cast<std::uint8_t>(version), info, items));
    require_refused(load(store), store, "not a mosaik snapshot of this version");
  }
  // Magic and version alone, with a checksum: nothing to decode after them.
  wire::Bytes bare;
  wire::Writer writer{bare};
  writer.fixed32(Store::magic);
  writer.u8(Store::version);
  writer.fixed32(storage::crc32c(bare));
  write_bytes(store.path(), bare);
  require_refused(load(store), store, "undecodable");
}

TEST_CASE("snapshot store: an item count that disagrees with the items is refused", "[snapshot][storage]") {
  support::TempDir dir{"mosaik-snapshot"};
  Store store{dir.path()};
  const auto items = records(10, 5);
  for (const std::uint64_t claimed :
       {std::uint64_t{0}, std::uint64_t{9}, std::uint64_t{11}, std::uint64_t{1} << 40, ~std::uint64_t{0}}) {
    INFO("header says " << claimed);
    const SnapshotInfo info{Cursor{Term{3}, Index{300}}, claimed, header_of("m")};
    write_bytes(store.path(), forge(Store::magic, Store::version, info, items));
    require_refused(load(store), store, fmt::format("10 items, its header says {}", claimed));
  }
  // No items, the header says one.
  const SnapshotInfo info{Cursor{Term{3}, Index{300}}, 1, {}};
  write_bytes(store.path(), forge(Store::magic, Store::version, info, {}));
  require_refused(load(store), store, "0 items, its header says 1");
}

TEST_CASE("snapshot store: trailing bytes are refused", "[snapshot][storage]") {
  support::TempDir dir{"mosaik-snapshot"};
  Store store{dir.path()};
  const auto items = records(6, 11);
  const auto info = info_for(Cursor{Term{8}, Index{640}}, items, header_of("m"));
  for (const std::size_t extra : {std::size_t{1}, std::size_t{3}, std::size_t{64}}) {
    INFO(extra << " trailing bytes");
    const std::vector<std::byte> garbage(extra, std::byte{0});
    // Checksummed with them: the decoder finds them left over.
    write_bytes(store.path(), forge(Store::magic, Store::version, info, items, garbage));
    require_refused(load(store), store, "undecodable");
    // Appended after the checksum: the checksum no longer matches.
    auto appended = forge(Store::magic, Store::version, info, items);
    appended.insert(appended.end(), garbage.begin(), garbage.end());
    write_bytes(store.path(), appended);
    require_refused(load(store), store, "checksum mismatch");
  }
}

TEST_CASE("snapshot store: random bodies with a valid checksum never crash", "[snapshot][storage]") {
  support::TempDir dir{"mosaik-snapshot"};
  Store store{dir.path()};
  const std::uint64_t seed = 0x5a9'5407ULL;
  INFO("seed " << seed);
  std::mt19937_64 rng{seed};
  const auto items = records(8, 13);
  const auto info = info_for(Cursor{Term{6}, Index{64}}, items, header_of("members"));
  const auto valid = forge(Store::magic, Store::version, info, items);
  std::size_t loaded_count = 0;
  for (int i = 0; i < 2000; ++i) {
    // Mutate the body after magic and version (a few bytes: small values make plausible counts),
    // then checksum it again.
    wire::Bytes body(valid.begin(), valid.end() - 4);
    const auto mutations = 1 + rng() % 4;
    for (std::uint64_t m = 0; m < mutations; ++m) {
      const auto at = 5 + rng() % (body.size() - 5);
      switch (rng() % 4) {
      case 0:
        body[at] = static_cast<std::byte>(rng());
        break;
      case 1:
        body[at] = static_cast<std::byte>(rng() % 4);
        break;
      case 2:
        body.erase(body.begin() + static_cast<std::ptrdiff_t>(at));
        break;
      default:
        body.insert(body.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::byte>(rng() % 3));
        break;
      }
    }
    wire::Writer writer{body};
    writer.fixed32(storage::crc32c(body));
    write_bytes(store.path(), body);
    const auto loaded = load(store);
    if (loaded.image) {
      ++loaded_count;
      CHECK(loaded.error.empty());
      REQUIRE(loaded.image->items != nullptr);
      CHECK(loaded.image->items->size() == loaded.image->info.items);
    } else {
      CHECK(loaded.error.find("damaged") != std::string::npos);
    }
  }
  // Some mutations keep the file valid (a changed value byte): the check sees both outcomes.
  CHECK(loaded_count > 0);
  CHECK(loaded_count < 2000);
}

TEST_CASE("snapshot store: the in-memory store round-trips and keeps its own copy", "[snapshot][storage]") {
  storage::InMemorySnapshotStore<Record> store;
  const auto empty = load(store);
  CHECK_FALSE(empty.image.has_value());
  CHECK(empty.error.empty());

  auto items = records(100, 17);
  const auto info = info_for(Cursor{Term{2}, Index{200}}, items, header_of("m"));
  REQUIRE_FALSE(store.save(info, items).has_value());
  const auto saved = items;
  items[0].value = "changed after the save";
  require_image(load(store), info, saved);

  const std::vector<Record> none;
  const auto none_info = info_for(Cursor{Term{3}, Index{400}}, none, {});
  REQUIRE_FALSE(store.save(none_info, none).has_value());
  require_image(load(store), none_info, none);

  // Through the interface, as the group uses it.
  storage::SnapshotStore<Record>& base = store;
  REQUIRE_FALSE(base.save(info, saved).has_value());
  require_image(load(base), info, saved);
}

} // namespace mosaik::test
