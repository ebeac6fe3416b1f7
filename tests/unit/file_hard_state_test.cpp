// FileHardState: the term, vote and commit survive a reopen; a missing file
// is a fresh member; a damaged file is refused, never read as zeros; a failed
// save latches and keeps the last stored state.

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <mosaik/group/file_hard_state.hpp>
#include <mosaik/storage/atomic_file.hpp>

#include "temp_dir.hpp"

namespace mosaik::test {
namespace {

using group::FileHardState;
using group::HardState;

std::unique_ptr<FileHardState> open_ok(const std::filesystem::path& path) {
  auto opened = FileHardState::open(path);
  if (const auto* error = std::get_if<std::string>(&opened)) {
    FAIL("open failed: " << *error);
  }
  return std::move(std::get<0>(opened));
}

std::string open_error(const std::filesystem::path& path) {
  auto opened = FileHardState::open(path);
  REQUIRE(std::holds_alternative<std::string>(opened));
  return std::get<std::string>(opened);
}

void flip_byte(const std::filesystem::path& path, std::streamoff offset) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(offset);
  char byte = 0;
  file.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x40);
  file.seekp(offset);
  file.write(&byte, 1);
}

} // namespace

TEST_CASE("file_hard_state: a missing file is a fresh member, saves survive a reopen",
          "[storage][hard_state]") {
  support::TempDir dir{"mosaik-hs"};
  const auto path = dir.path() / "hard-state";
  {
    auto store = open_ok(path);
    CHECK(store->load() == HardState{});
    store->save(HardState{Term{3}, PeerId{2}, Index{17}});
    store->save(HardState{Term{4}, std::nullopt, Index{20}});
    CHECK(store->load() == HardState{Term{4}, std::nullopt, Index{20}});
    CHECK_FALSE(store->failed());
  }
  CHECK(open_ok(path)->load() == HardState{Term{4}, std::nullopt, Index{20}});
  {
    auto store = open_ok(path);
    store->save(HardState{Term{9}, PeerId{0xfedcba9876543210ULL}, Index{1ULL << 40}});
  }
  CHECK(open_ok(path)->load() == HardState{Term{9}, PeerId{0xfedcba9876543210ULL}, Index{1ULL << 40}});
  // A temporary left by a crash between write and rename is ignored.
  std::ofstream(path.string() + ".tmp") << "half written";
  CHECK(open_ok(path)->load().term == Term{9});
}

TEST_CASE("file_hard_state: a damaged file is refused with a clear error", "[storage][hard_state]") {
  support::TempDir dir{"mosaik-hs"};
  const auto path = dir.path() / "hard-state";
  open_ok(path)->save(HardState{Term{5}, PeerId{1}, Index{8}});
  const auto size = static_cast<std::streamoff>(std::filesystem::file_size(path));

  SECTION("every single flipped byte") {
    for (std::streamoff offset = 0; offset < size; ++offset) {
      INFO("offset " << offset);
      flip_byte(path, offset);
      const auto error = open_error(path);
      CHECK(error.find(path.string()) != std::string::npos);
      flip_byte(path, offset); // restore
      CHECK(open_ok(path)->load().term == Term{5});
    }
  }
  SECTION("truncated") {
    std::filesystem::resize_file(path, static_cast<std::uintmax_t>(size - 1));
    CHECK(open_error(path).find("not a mosaik hard-state file") != std::string::npos);
  }
  SECTION("empty") {
    std::filesystem::resize_file(path, 0);
    CHECK(open_error(path).find("not a mosaik hard-state file") != std::string::npos);
  }
  SECTION("a directory in its place") {
    std::filesystem::remove(path);
    std::filesystem::create_directory(path);
    CHECK_FALSE(open_error(path).empty());
  }
}

TEST_CASE("file_hard_state: a save that cannot be stored latches failed() and keeps the last state",
          "[storage][hard_state]") {
  support::TempDir dir{"mosaik-hs"};
  const auto sub = dir.path() / "sub";
  std::filesystem::create_directory(sub);
  auto store = open_ok(sub / "hard-state");
  store->save(HardState{Term{2}, PeerId{1}, Index{1}});
  std::filesystem::remove_all(sub); // the directory is gone: the next save cannot create its temporary
  store->save(HardState{Term{3}, PeerId{2}, Index{2}});
  CHECK(store->failed());
  CHECK(store->error().find("cannot create") != std::string::npos);
  CHECK(store->load() == HardState{Term{2}, PeerId{1}, Index{1}});
  store->save(HardState{Term{4}, PeerId{3}, Index{3}}); // still refused
  CHECK(store->load().term == Term{2});
}

TEST_CASE("atomic_file: replaces the whole file, reading a missing file is an error", "[storage]") {
  support::TempDir dir{"mosaik-hs"};
  const auto path = dir.path() / "f";
  const std::string first(10000, 'a');
  const std::string second = "bb";
  REQUIRE_FALSE(storage::write_atomically(path, std::as_bytes(std::span{first})));
  REQUIRE_FALSE(storage::write_atomically(path, std::as_bytes(std::span{second})));
  std::string error;
  const auto bytes = storage::read_file(path, error);
  REQUIRE(bytes.has_value());
  CHECK(std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size()) == "bb");
  CHECK_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  CHECK_FALSE(storage::read_file(dir.path() / "missing", error).has_value());
  CHECK(error.find("cannot open") != std::string::npos);
}

} // namespace mosaik::test
