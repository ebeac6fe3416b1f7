// Unit tests of the wire codec (mosaik/wire/): built-in encodings, user
// codecs (mosaik_fields, mosaik_encode/mosaik_decode), frame headers, every
// consensus and catch-up message through MessageCodec for both machines,
// hostile input (each refused with its exact DecodeError) and seeded random
// garbage (never a crash; whatever decodes re-encodes to itself).

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/core/command_size.hpp>
#include <mosaik/core/cursor.hpp>
#include <mosaik/core/entry.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/index.hpp>
#include <mosaik/core/index_range.hpp>
#include <mosaik/group/group_config.hpp>
#include <mosaik/group/group_frame_codec.hpp>
#include <mosaik/group/group_message_codec.hpp>
#include <mosaik/group/group_messages.hpp>
#include <mosaik/group/log_command.hpp>
#include <mosaik/group/membership.hpp>
#include <mosaik/group/result.hpp>
#include <mosaik/machines/counter.hpp>
#include <mosaik/machines/kv_store.hpp>
#include <mosaik/sync/log_replay/log_replay_message_codec.hpp>
#include <mosaik/sync/log_replay/log_replay_messages.hpp>
#include <mosaik/wire/codec.hpp>
#include <mosaik/wire/decode_error.hpp>
#include <mosaik/wire/entry_codec.hpp>
#include <mosaik/wire/frame.hpp>
#include <mosaik/wire/limits.hpp>
#include <mosaik/wire/reader.hpp>
#include <mosaik/wire/writer.hpp>

#include "../support/decode_encoded.hpp"

// ---------------------------------------------------------------------------
// User types, each in its own namespace (their codecs are found by ADL).

// The README example: one field list serves both directions.
namespace shop {
struct Order {
  std::uint64_t id;
  std::vector<std::string> items;
  std::optional<std::string> note;
};
template <class Self, class F>
requires std::same_as<std::remove_const_t<Self>, Order>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.id, self.items, self.note);
}
} // namespace shop

namespace paint {
/// Full control: packed into one fixed little-endian 32-bit word whose top
/// byte must be zero. (Also trivially copyable: the custom codec must win.)
struct Rgb {
  std::uint8_t r = 0;
  std::uint8_t g = 0;
  std::uint8_t b = 0;
  friend bool operator==(const Rgb&, const Rgb&) = default;
};
inline void mosaik_encode(mosaik::wire::Writer& out, const Rgb& colour) {
  out.fixed32(static_cast<std::uint32_t>(colour.r) | static_cast<std::uint32_t>(colour.g) << 8 |
              static_cast<std::uint32_t>(colour.b) << 16);
}
inline bool mosaik_decode(mosaik::wire::Reader& in, Rgb& colour) {
  const auto word = in.fixed32();
  if (!in.ok()) {
    return false;
  }
  if ((word >> 24) != 0) {
    return in.fail(mosaik::wire::DecodeError::bad_value);
  }
  colour = Rgb{static_cast<std::uint8_t>(word), static_cast<std::uint8_t>(word >> 8),
               static_cast<std::uint8_t>(word >> 16)};
  return true;
}

/// A decoder that refuses (13) without saying why.
struct Picky {
  std::uint8_t value = 0;
};
inline void mosaik_encode(mosaik::wire::Writer& out, const Picky& picky) {
  out.u8(picky.value);
}
inline bool mosaik_decode(mosaik::wire::Reader& in, Picky& picky) {
  picky.value = in.u8();
  return picky.value != 13;
}

/// A custom codec that states its size, so measuring it encodes nothing.
struct Stamp {
  std::uint64_t serial = 0;
  friend bool operator==(const Stamp&, const Stamp&) = default;
};
inline void mosaik_encode(mosaik::wire::Writer& out, const Stamp& stamp) {
  out.varint(stamp.serial);
  out.fixed32(0xfeedu);
}
inline bool mosaik_decode(mosaik::wire::Reader& in, Stamp& stamp) {
  stamp.serial = in.varint();
  return in.fixed32() == 0xfeedu;
}
inline std::size_t mosaik_encoded_size(const Stamp& stamp) {
  return mosaik::wire::varint_size(stamp.serial) + 4;
}

/// A custom codec whose stated size is wrong (by `error` bytes).
struct Liar {
  std::string text;
  int error = 0;
  friend bool operator==(const Liar& a, const Liar& b) { return a.text == b.text; }
};
inline void mosaik_encode(mosaik::wire::Writer& out, const Liar& liar) {
  mosaik::wire::encode(out, liar.text);
}
inline bool mosaik_decode(mosaik::wire::Reader& in, Liar& liar) {
  return mosaik::wire::decode(in, liar.text);
}
inline std::size_t mosaik_encoded_size(const Liar& liar) {
  return static_cast<std::size_t>(static_cast<long>(liar.text.size()) + 1 + liar.error);
}

enum class Colour : std::uint8_t { red, green, blue };
constexpr Colour mosaik_enum_max(Colour) noexcept {
  return Colour::blue;
}

/// No declared maximum: any value of the underlying type decodes.
enum class Shade : std::uint16_t { light, dark };
enum class Delta : std::int8_t { down = -1, same = 0, up = 1 };
} // namespace paint

namespace plain {
/// Trivially copyable, no codec of its own: its bytes as they are.
struct Sample {
  std::int32_t a;
  std::uint16_t b;
  double c;
  std::array<char, 3> d;
};
static_assert(std::is_trivially_copyable_v<Sample>);

/// A big trivially copyable element: 64 KiB on the wire each.
struct Page {
  std::array<std::byte, 65536> bytes;
};
} // namespace plain

namespace Catch {
template <>
struct StringMaker<mosaik::wire::DecodeError> {
  static std::string convert(mosaik::wire::DecodeError error) { return mosaik::wire::to_string(error); }
};
} // namespace Catch

using namespace mosaik;
using wire::Bytes;
using wire::DecodeError;
using wire::DecodeLimits;

namespace {

constexpr GroupId group_a{0x0123456789abcdefULL};
constexpr GroupId group_b{0x0123456789abcdeeULL};
constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

// ---------------------------------------------------------------------------
// Helpers.

/// "ok" or the error's text: comparable and printable in CHECKs.
template <class T>
std::string verdict(const wire::Decoded<T>& decoded) {
  return decoded.ok() ? std::string{"ok"} : std::string{wire::to_string(decoded.error())};
}
std::string verdict(DecodeError error) {
  return wire::to_string(error);
}
const std::string ok_verdict = "ok";

Bytes bytes_of(std::initializer_list<int> values) {
  Bytes out;
  for (const int value : values) {
    out.push_back(static_cast<std::byte>(value));
  }
  return out;
}

template <class Body>
Bytes build(Body&& body) {
  Bytes out;
  wire::Writer writer{out};
  body(writer);
  return out;
}

/// Encodes, checks the expected size (when given), decodes and compares.
template <class T>
Bytes round_trip(const T& value, std::optional<std::size_t> expected_size = std::nullopt) {
  const auto bytes = wire::to_bytes(value);
  if (expected_size) {
    CHECK(bytes.size() == *expected_size);
  }
  // measure() computes the same size without encoding (writers reserve it, length prefixes trust it).
  CHECK(wire::measure(value) == bytes.size());
  const auto decoded = wire::from_bytes<T>(bytes);
  REQUIRE(verdict(decoded) == ok_verdict);
  CHECK(decoded.value() == value);
  return bytes;
}

/// The machine under test and the types a group of it sends.
template <class Machine>
struct Wire {
  using Command = typename Machine::Command;
  using LogCmd = group::LogCommand<Command>;
  using LogEntry = Entry<LogCmd>;
  using Sync = sync::LogReplayMessage<LogCmd>;
  using Codec = wire::MessageCodec<Command, Sync>;
  using Message = typename Codec::Message;
  using Consensus = typename Codec::Consensus;
};

template <class Message>
bool same(const Message& a, const Message& b) {
  return a.group == b.group && a.body == b.body;
}

wire::Decoded<wire::FrameHeader> header_of(const Bytes& frame, const DecodeLimits& limits = {}) {
  REQUIRE(frame.size() >= wire::frame_header_bytes);
  return wire::decode_header(
      std::span<const std::byte, wire::frame_header_bytes>{frame.data(), wire::frame_header_bytes}, limits);
}

std::span<const std::byte> body_of(const Bytes& frame) {
  return std::span<const std::byte>{frame}.subspan(wire::frame_header_bytes);
}

/// Decodes a body as a frame of `kind` for group_a would carry it.
template <class W>
wire::Decoded<typename W::Message> decode_body(std::uint8_t kind, std::span<const std::byte> body,
                                               const DecodeLimits& limits = {}) {
  const wire::FrameHeader header{static_cast<std::uint32_t>(body.size()), wire::protocol_version, kind, 0,
                                 group_a};
  return W::Codec::decode(header, body, group_a, limits);
}

template <class Machine>
std::vector<typename Machine::Command> sample_commands() {
  if constexpr (std::same_as<Machine, machines::KvStore>) {
    using Op = machines::KvStore::Command::Op;
    return {machines::KvStore::put("alpha", "1"), machines::KvStore::erase("beta"),
            machines::KvStore::put("", ""),
            machines::KvStore::put(std::string(200, 'k'), std::string("bin\0ary\xff", 8)),
            machines::KvStore::Command{Op::erase, "x", "an erase with a value"}};
  } else {
    using C = machines::Counter::Command;
    return {C{0},
            C{1},
            C{-1},
            C{-123456789},
            C{std::numeric_limits<std::int64_t>::min()},
            C{std::numeric_limits<std::int64_t>::max()}};
  }
}

/// Voters, learners and observers, including the largest peer id.
group::Membership sample_membership() {
  using group::Preference;
  return group::Membership{std::vector<group::MemberSpec>{{PeerId{1}, Preference::normal},
                                                          {PeerId{7}, Preference::reluctant},
                                                          {PeerId{u64_max}, Preference::observer}}}
      .with_learner(PeerId{4}, Preference::normal)
      .with_learner(PeerId{300}, Preference::reluctant);
}

/// Entries of every log command kind, with terms that rise, stay, fall, wrap.
template <class Machine>
std::vector<typename Wire<Machine>::LogEntry> sample_entries() {
  using W = Wire<Machine>;
  using LogCmd = typename W::LogCmd;
  using LogEntry = typename W::LogEntry;
  const auto commands = sample_commands<Machine>();
  std::vector<LogEntry> entries{
      LogEntry{Term{5}, LogCmd{group::Noop{}}},
      LogEntry{Term{5}, LogCmd{group::MembershipChange{sample_membership()}}},
      LogEntry{Term{7}, LogCmd{commands[0]}},
      LogEntry{Term{7}, LogCmd{commands[1]}},
      LogEntry{Term{3}, LogCmd{commands[2]}}, // a term lower than the previous one
      LogEntry{Term{u64_max}, LogCmd{group::Noop{}}},
      LogEntry{Term{0}, LogCmd{commands[3]}},
      LogEntry{Term{1'000'000}, LogCmd{group::MembershipChange{group::Membership{}}}},
  };
  for (std::size_t i = 4; i < commands.size(); ++i) {
    entries.push_back(LogEntry{Term{1'000'000 + i}, LogCmd{commands[i]}});
  }
  return entries;
}

template <class Machine>
struct Case {
  std::string name;
  typename Wire<Machine>::Message message;
  std::uint8_t kind;
};

/// At least one message of each of the 12 kinds, most of them several times.
template <class Machine>
std::vector<Case<Machine>> sample_messages(GroupId group_id = group_a) {
  using W = Wire<Machine>;
  using Command = typename W::Command;
  using Consensus = typename W::Consensus;
  using Sync = typename W::Sync;
  using Message = typename W::Message;
  const auto consensus = [group_id](Consensus body) { return Message{group_id, std::move(body)}; };
  const auto catch_up = [group_id](Sync body) { return Message{group_id, std::move(body)}; };
  const Index index_max = Index::max();
  const Term term_max{u64_max};

  std::vector<Case<Machine>> cases;
  cases.push_back(
      {"VoteRequest", consensus(group::VoteRequest{Term{7}, Cursor{Term{6}, Index{42}}, false}), 1});
  cases.push_back({"VoteRequest pre-vote, extremes",
                   consensus(group::VoteRequest{term_max, Cursor{term_max, index_max}, true}), 1});
  cases.push_back(
      {"VoteRequest zeros", consensus(group::VoteRequest{Term{0}, Cursor::sentinel(), false}), 1});
  cases.push_back({"VoteResponse granted", consensus(group::VoteResponse{Term{0}, true, false}), 2});
  cases.push_back(
      {"VoteResponse pre-vote refused", consensus(group::VoteResponse{term_max, false, true}), 2});
  cases.push_back(
      {"AppendEntries heartbeat",
       consensus(group::AppendEntries<Command>{Term{3}, Cursor{Term{2}, Index{10}}, {}, Index{9}, 77}), 3});
  cases.push_back({"AppendEntries with entries",
                   consensus(group::AppendEntries<Command>{Term{1'000'010}, Cursor{Term{4}, Index{100}},
                                                           sample_entries<Machine>(), index_max, u64_max}),
                   3});
  cases.push_back({"AppendEntries one Noop",
                   consensus(group::AppendEntries<Command>{
                       Term{2},
                       Cursor{Term{1}, Index{1}},
                       {typename W::LogEntry{Term{2}, typename W::LogCmd{group::Noop{}}}},
                       Index{1},
                       0}),
                   3});
  cases.push_back(
      {"AppendResponse success", consensus(group::AppendResponse{Term{4}, true, false, Index{12}, 5}), 4});
  cases.push_back({"AppendResponse syncing",
                   consensus(group::AppendResponse{term_max, false, true, index_max, u64_max}), 4});
  cases.push_back(
      {"ForwardRequest", consensus(group::ForwardRequest<Command>{99, sample_commands<Machine>()}), 5});
  cases.push_back({"ForwardRequest empty", consensus(group::ForwardRequest<Command>{u64_max, {}}), 5});
  cases.push_back(
      {"ForwardResponse ok",
       consensus(group::ForwardResponse{1, IndexRange{Index{5}, Index{9}}, Term{3}, std::nullopt}), 6});
  cases.push_back({"ForwardResponse cancelled",
                   consensus(group::ForwardResponse{u64_max, IndexRange{}, term_max, group::Errc::cancelled}),
                   6});
  cases.push_back(
      {"ForwardResponse offline",
       consensus(group::ForwardResponse{0, IndexRange{Index{0}, index_max}, Term{0}, group::Errc::offline}),
       6});
  cases.push_back({"ReadIndexRequest", consensus(group::ReadIndexRequest{0}), 7});
  cases.push_back({"ReadIndexRequest max", consensus(group::ReadIndexRequest{u64_max}), 7});
  cases.push_back(
      {"ReadIndexResponse ok", consensus(group::ReadIndexResponse{1, Index{100}, std::nullopt}), 8});
  cases.push_back({"ReadIndexResponse not leader",
                   consensus(group::ReadIndexResponse{2, Index{0}, group::Errc::not_leader}), 8});
  cases.push_back({"AvailabilityRequest", catch_up(sync::AvailabilityRequest{}), 32});
  cases.push_back({"AvailabilityResponse empty", catch_up(sync::AvailabilityResponse{IndexRange{}}), 33});
  cases.push_back(
      {"AvailabilityResponse", catch_up(sync::AvailabilityResponse{IndexRange{Index{1}, Index{100}}}), 33});
  cases.push_back(
      {"FetchEntriesRequest empty", catch_up(sync::FetchEntriesRequest{IndexRange::empty_range()}), 34});
  cases.push_back(
      {"FetchEntriesRequest", catch_up(sync::FetchEntriesRequest{IndexRange{Index{5}, index_max}}), 34});
  cases.push_back(
      {"FetchEntriesResponse nothing held",
       catch_up(sync::FetchEntriesResponse<typename W::LogCmd>{IndexRange{Index{5}, Index{9}}, {}}), 35});
  cases.push_back({"FetchEntriesResponse empty range",
                   catch_up(sync::FetchEntriesResponse<typename W::LogCmd>{IndexRange{}, {}}), 35});
  {
    auto entries = sample_entries<Machine>();
    const auto range = IndexRange::starting_at(Index{5}, entries.size());
    cases.push_back({"FetchEntriesResponse with entries",
                     catch_up(sync::FetchEntriesResponse<typename W::LogCmd>{range, std::move(entries)}),
                     35});
  }
  return cases;
}

/// Frame → header → body → message, with every check along the way.
template <class W>
typename W::Message frame_round_trip(const typename W::Message& message, std::uint8_t expected_kind) {
  const auto frame = W::Codec::encode(message);
  const auto header = header_of(frame);
  REQUIRE(verdict(header) == ok_verdict);
  CHECK(header->kind == expected_kind);
  CHECK(header->version == wire::protocol_version);
  CHECK(header->flags == 0);
  CHECK(header->group == message.group);
  CHECK(header->length == frame.size() - wire::frame_header_bytes);
  CHECK(wire::frame_size(message) == frame.size());
  CHECK(frame.capacity() == frame.size()); // reserved once, exactly
  CHECK(static_cast<std::uint8_t>(frame[5]) == expected_kind);
  auto decoded = W::Codec::decode(header.value(), body_of(frame), message.group, DecodeLimits{});
  REQUIRE(verdict(decoded) == ok_verdict);
  CHECK(same(decoded.value(), message));
  // The encoding is canonical: the decoded message encodes to the same bytes.
  CHECK(W::Codec::encode(decoded.value()) == frame);
  return std::move(decoded).value();
}

/// Whatever decoded re-encodes, and that decodes to an equal message encoding to the same bytes.
template <class W>
bool stable(const typename W::Message& message) {
  const auto frame = W::Codec::encode(message);
  const auto header = wire::decode_header(
      std::span<const std::byte, wire::frame_header_bytes>{frame.data(), wire::frame_header_bytes},
      DecodeLimits{});
  if (!header) {
    return false;
  }
  const auto again = W::Codec::decode(header.value(), body_of(frame), message.group, DecodeLimits{});
  return again.ok() && same(again.value(), message) && W::Codec::encode(again.value()) == frame &&
         wire::frame_size(message) == frame.size();
}

std::size_t zigzag_bytes(std::int64_t value) {
  return wire::varint_size((static_cast<std::uint64_t>(value) << 1) ^
                           static_cast<std::uint64_t>(value >> 63));
}

/// An AppendEntries body (term 1, prev (0,0), commit 0, round 0) of one entry
/// of term 1 whose command bytes are written by `command`.
template <class Command>
Bytes append_one_entry(Command&& command) {
  return build([&](wire::Writer& out) {
    out.varint(1); // term
    out.varint(0); // prev.term
    out.varint(0); // prev.index
    out.varint(1); // one entry
    out.varint(2); // term delta +1, zigzag
    out.length_prefixed([&] { command(out); });
    out.varint(0); // commit
    out.varint(0); // round
  });
}

/// An allocator that refuses (std::bad_alloc) any single allocation above 1 MiB.
template <class T>
struct BudgetAllocator {
  using value_type = T;
  static constexpr std::size_t budget = 1u << 20;
  BudgetAllocator() = default;
  template <class U>
  BudgetAllocator(const BudgetAllocator<U>&) noexcept {} // NOLINT: rebinding
  T* allocate(std::size_t n) {
    if (n > budget / sizeof(T)) {
      throw std::bad_alloc{};
    }
    return std::allocator<T>{}.allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>{}.deallocate(p, n); }
  friend bool operator==(const BudgetAllocator&, const BudgetAllocator&) = default;
};

using Kv = Wire<machines::KvStore>;
using Ctr = Wire<machines::Counter>;

} // namespace

// ===========================================================================
// Built-in encodings.

TEST_CASE("wire: integers at their extremes, every width", "[wire]") {
  // Unsigned: LEB128 varints.
  CHECK(round_trip(std::uint8_t{0}, 1) == bytes_of({0x00}));
  CHECK(round_trip(std::uint8_t{127}, 1) == bytes_of({0x7f}));
  CHECK(round_trip(std::uint8_t{255}, 2) == bytes_of({0xff, 0x01}));
  round_trip(std::numeric_limits<std::uint16_t>::max(), 3);
  round_trip(std::numeric_limits<std::uint32_t>::max(), 5);
  CHECK(round_trip(u64_max, 10) == bytes_of({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  CHECK(round_trip(std::uint64_t{300}, 2) == bytes_of({0xac, 0x02}));
  // Signed: zigzag, so that small negative numbers stay small.
  CHECK(round_trip(std::int64_t{0}, 1) == bytes_of({0x00}));
  CHECK(round_trip(std::int64_t{-1}, 1) == bytes_of({0x01}));
  CHECK(round_trip(std::int64_t{1}, 1) == bytes_of({0x02}));
  CHECK(round_trip(std::int8_t{-128}, 2) == bytes_of({0xff, 0x01}));
  CHECK(round_trip(std::int8_t{127}, 2) == bytes_of({0xfe, 0x01}));
  round_trip(std::numeric_limits<std::int16_t>::min(), 3);
  round_trip(std::numeric_limits<std::int16_t>::max(), 3);
  round_trip(std::numeric_limits<std::int32_t>::min(), 5);
  round_trip(std::numeric_limits<std::int32_t>::max(), 5);
  CHECK(round_trip(std::numeric_limits<std::int64_t>::min(), 10) ==
        bytes_of({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  CHECK(round_trip(std::numeric_limits<std::int64_t>::max(), 10) ==
        bytes_of({0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  round_trip('x', 2); // char is signed here: zigzag
  round_trip('\x10', 1);
  round_trip(static_cast<unsigned char>(200), 2);
  round_trip(static_cast<signed char>(-100), 2);

  // A value beyond the decoded type's range is a malformed integer.
  CHECK(verdict(wire::from_bytes<std::uint8_t>(wire::to_bytes(std::uint16_t{256}))) ==
        verdict(DecodeError::bad_varint));
  CHECK(verdict(wire::from_bytes<std::uint8_t>(wire::to_bytes(std::uint16_t{300}))) ==
        verdict(DecodeError::bad_varint));
  CHECK(verdict(wire::from_bytes<std::uint8_t>(wire::to_bytes(std::uint16_t{255}))) == ok_verdict);
  CHECK(verdict(wire::from_bytes<std::uint16_t>(wire::to_bytes(std::uint32_t{65536}))) ==
        verdict(DecodeError::bad_varint));
  CHECK(verdict(wire::from_bytes<std::uint32_t>(wire::to_bytes(std::uint64_t{1} << 32))) ==
        verdict(DecodeError::bad_varint));
  CHECK(verdict(wire::from_bytes<std::int8_t>(wire::to_bytes(std::int16_t{128}))) ==
        verdict(DecodeError::bad_varint));
  CHECK(verdict(wire::from_bytes<std::int8_t>(wire::to_bytes(std::int16_t{-129}))) ==
        verdict(DecodeError::bad_varint));
  CHECK(verdict(wire::from_bytes<std::int8_t>(wire::to_bytes(std::int16_t{-128}))) == ok_verdict);
  CHECK(verdict(wire::from_bytes<std::int32_t>(wire::to_bytes(std::numeric_limits<std::int64_t>::min()))) ==
        verdict(DecodeError::bad_varint));
  // Nothing at all, or a continuation bit with nothing after it.
  CHECK(verdict(wire::from_bytes<std::uint64_t>(Bytes{})) == verdict(DecodeError::truncated));
  CHECK(verdict(wire::from_bytes<std::uint64_t>(bytes_of({0x80}))) == verdict(DecodeError::truncated));
  CHECK(verdict(wire::from_bytes<std::uint64_t>(bytes_of({0x00, 0x00}))) ==
        verdict(DecodeError::trailing_bytes));
}

TEST_CASE("wire: varints longer than ten bytes or wider than 64 bits are refused", "[wire]") {
  // Ten bytes whose last one carries the top bit: the largest value.
  const auto ten_ones = bytes_of({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01});
  REQUIRE(verdict(wire::from_bytes<std::uint64_t>(ten_ones)) == ok_verdict);
  CHECK(wire::from_bytes<std::uint64_t>(ten_ones).value() == u64_max);
  // Eleven bytes (ten continuation bytes).
  const auto eleven = bytes_of({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
  CHECK(verdict(wire::from_bytes<std::uint64_t>(eleven)) == verdict(DecodeError::bad_varint));
  CHECK(verdict(wire::from_bytes<std::int64_t>(eleven)) == verdict(DecodeError::bad_varint));
  // Ten bytes whose last one is above 1: bits beyond 64.
  for (const int top : {0x02, 0x03, 0x7f}) {
    INFO("top byte " << top);
    const auto wide = bytes_of({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, top});
    CHECK(verdict(wire::from_bytes<std::uint64_t>(wide)) == verdict(DecodeError::bad_varint));
  }
  // The same through a message: a vote request whose term is eleven bytes long.
  Bytes body = eleven;
  body.insert(body.end(), {std::byte{0}, std::byte{0}, std::byte{0}});
  CHECK(verdict(decode_body<Ctr>(1, body)) == verdict(DecodeError::bad_varint));
  // And through the reader: the first failure sticks, later reads give zeros.
  const DecodeLimits limits;
  wire::Reader reader{eleven, limits};
  CHECK(reader.varint() == 0);
  CHECK(reader.u8() == 0);
  REQUIRE(reader.error().has_value());
  CHECK(*reader.error() == DecodeError::bad_varint);
}

TEST_CASE("wire: bool, enums with and without mosaik_enum_max", "[wire]") {
  CHECK(round_trip(true, 1) == bytes_of({0x01}));
  CHECK(round_trip(false, 1) == bytes_of({0x00}));
  CHECK(verdict(wire::from_bytes<bool>(bytes_of({0x02}))) == verdict(DecodeError::bad_value));
  CHECK(verdict(wire::from_bytes<bool>(bytes_of({0xff}))) == verdict(DecodeError::bad_value));
  CHECK(verdict(wire::from_bytes<bool>(Bytes{})) == verdict(DecodeError::truncated));

  // Bounded: values up to the declared maximum, nothing above.
  CHECK(round_trip(paint::Colour::red, 1) == bytes_of({0x00}));
  CHECK(round_trip(paint::Colour::blue, 1) == bytes_of({0x02}));
  CHECK(verdict(wire::from_bytes<paint::Colour>(bytes_of({0x03}))) == verdict(DecodeError::bad_value));
  CHECK(verdict(wire::from_bytes<paint::Colour>(bytes_of({0x7f}))) == verdict(DecodeError::bad_value));
  CHECK(verdict(wire::from_bytes<paint::Colour>(bytes_of({0xac, 0x02}))) == verdict(DecodeError::bad_varint));
  // mosaik's own bounded enums.
  round_trip(group::Errc::cancelled, 1);
  CHECK(verdict(wire::from_bytes<group::Errc>(bytes_of({static_cast<int>(group::Errc::cancelled) + 1}))) ==
        verdict(DecodeError::bad_value));
  round_trip(group::Preference::observer, 1);
  CHECK(verdict(wire::from_bytes<group::Preference>(bytes_of({3}))) == verdict(DecodeError::bad_value));
  round_trip(machines::KvStore::Command::Op::erase, 1);
  CHECK(verdict(wire::from_bytes<machines::KvStore::Command::Op>(bytes_of({2}))) ==
        verdict(DecodeError::bad_value));

  // Unbounded: any value of the underlying type, none beyond it.
  round_trip(paint::Shade::dark, 1);
  const auto odd = wire::from_bytes<paint::Shade>(wire::to_bytes(std::uint16_t{700}));
  REQUIRE(verdict(odd) == ok_verdict);
  CHECK(static_cast<std::uint16_t>(odd.value()) == 700);
  CHECK(verdict(wire::from_bytes<paint::Shade>(wire::to_bytes(std::uint32_t{70000}))) ==
        verdict(DecodeError::bad_varint));
  // A signed underlying type is zigzagged like any signed integer.
  CHECK(round_trip(paint::Delta::down, 1) == bytes_of({0x01}));
  round_trip(paint::Delta::up, 1);
}

TEST_CASE("wire: strings and byte vectors", "[wire]") {
  CHECK(round_trip(std::string{}, 1) == bytes_of({0x00}));
  CHECK(round_trip(std::string{"abc"}, 4) == bytes_of({0x03, 'a', 'b', 'c'}));
  round_trip(std::string("nul\0inside\xff", 11), 12);
  // One MiB: a three-byte length, then the bytes.
  std::string big(1u << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>(i * 131 + 7);
  }
  const auto encoded = round_trip(big, 3 + big.size());
  CHECK(encoded[0] == std::byte{0x80});
  CHECK(encoded[1] == std::byte{0x80});
  CHECK(encoded[2] == std::byte{0x40});
  // One byte short of what the length announces.
  CHECK(verdict(wire::from_bytes<std::string>(std::span{encoded}.first(encoded.size() - 1))) ==
        verdict(DecodeError::truncated));

  CHECK(round_trip(std::vector<std::byte>{}, 1) == bytes_of({0x00}));
  CHECK(round_trip(std::vector<std::byte>{std::byte{0x00}, std::byte{0xff}}, 3) ==
        bytes_of({0x02, 0x00, 0xff}));
  round_trip(std::vector<std::uint8_t>{1, 2, 250}, 4);
  CHECK(verdict(wire::from_bytes<std::vector<std::byte>>(bytes_of({0x03, 0x01, 0x02}))) ==
        verdict(DecodeError::truncated));
}

TEST_CASE("wire: vectors, optionals, variants, pairs, arrays and nesting", "[wire]") {
  CHECK(round_trip(std::vector<std::uint32_t>{0, 300, std::numeric_limits<std::uint32_t>::max()},
                   1 + 1 + 2 + 5) == bytes_of({0x03, 0x00, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f}));
  round_trip(std::vector<std::string>{"", "a", std::string(300, 'z')});
  round_trip(std::vector<std::int64_t>{}, 1);

  CHECK(round_trip(std::optional<std::int32_t>{}, 1) == bytes_of({0x00}));
  CHECK(round_trip(std::optional<std::int32_t>{5}, 2) == bytes_of({0x01, 0x0a}));
  CHECK(verdict(wire::from_bytes<std::optional<std::int32_t>>(bytes_of({0x02, 0x0a}))) ==
        verdict(DecodeError::bad_value));

  using V = std::variant<std::uint8_t, std::string, std::monostate>;
  CHECK(round_trip(V{std::uint8_t{9}}, 2) == bytes_of({0x00, 0x09}));
  CHECK(round_trip(V{std::string{"hi"}}, 4) == bytes_of({0x01, 0x02, 'h', 'i'}));
  CHECK(round_trip(V{std::monostate{}}, 1) == bytes_of({0x02}));
  CHECK(verdict(wire::from_bytes<V>(bytes_of({0x03}))) == verdict(DecodeError::bad_value));
  CHECK(verdict(wire::from_bytes<V>(bytes_of({0xff, 0x01}))) == verdict(DecodeError::bad_value));
  CHECK(verdict(wire::from_bytes<V>(bytes_of({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                              0x00}))) == verdict(DecodeError::bad_varint));
  CHECK(verdict(wire::from_bytes<V>(bytes_of({0x00, 0xac, 0x02}))) == verdict(DecodeError::bad_varint));

  CHECK(round_trip(std::pair<std::int16_t, std::string>{-2, "p"}, 3) == bytes_of({0x03, 0x01, 'p'}));
  CHECK(round_trip(std::array<std::uint16_t, 3>{1, 128, 0}, 4) == bytes_of({0x01, 0x80, 0x01, 0x00}));
  CHECK(verdict(wire::from_bytes<std::array<std::uint16_t, 3>>(bytes_of({0x01, 0x80, 0x01}))) ==
        verdict(DecodeError::truncated));

  using Nested = std::vector<
      std::optional<std::variant<std::string, std::pair<std::int32_t, std::array<std::uint64_t, 2>>>>>;
  const Nested nested{std::nullopt, std::string{"deep"},
                      std::pair<std::int32_t, std::array<std::uint64_t, 2>>{-7, {u64_max, 0}}, std::string{}};
  const auto bytes = round_trip(nested);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK(verdict(wire::from_bytes<Nested>(std::span{bytes}.first(n))) == verdict(DecodeError::truncated));
  }
}

TEST_CASE("wire: mosaik's vocabulary types", "[wire]") {
  CHECK(round_trip(Index{300}, 2) == bytes_of({0xac, 0x02}));
  round_trip(Index::max(), 10);
  round_trip(Term{0}, 1);
  round_trip(PeerId{u64_max}, 10);
  round_trip(GroupId{1}, 1);
  CHECK(round_trip(Cursor{Term{1}, Index{2}}, 2) == bytes_of({0x01, 0x02}));
  // Ranges are fixed width (16 bytes), empty or not.
  CHECK(round_trip(IndexRange{Index{1}, Index{2}}, 16) ==
        bytes_of({1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}));
  round_trip(IndexRange{}, 16);
  round_trip(IndexRange{Index{0}, Index::max()}, 16);
  const auto empty = wire::from_bytes<IndexRange>(wire::to_bytes(IndexRange{Index{9}, Index{3}}));
  REQUIRE(verdict(empty) == ok_verdict);
  CHECK(empty->first() == Index{9});
  CHECK(empty->last() == Index{3});
  CHECK(verdict(wire::from_bytes<IndexRange>(Bytes(15))) == verdict(DecodeError::truncated));
}

TEST_CASE("wire: user types: trivially copyable, mosaik_fields, mosaik_encode", "[wire]") {
  SECTION("a trivially copyable struct travels as its bytes") {
    const plain::Sample sample{-5, 65535, 2.5, {'x', '\0', 'z'}};
    const auto bytes = wire::to_bytes(sample);
    CHECK(bytes.size() == sizeof(plain::Sample));
    const auto decoded = wire::from_bytes<plain::Sample>(bytes);
    REQUIRE(verdict(decoded) == ok_verdict);
    CHECK(decoded->a == -5);
    CHECK(decoded->b == 65535);
    CHECK(decoded->c == 2.5);
    CHECK(decoded->d == sample.d);
    CHECK(verdict(wire::from_bytes<plain::Sample>(std::span{bytes}.first(bytes.size() - 1))) ==
          verdict(DecodeError::truncated));
    auto longer = bytes;
    longer.push_back(std::byte{0});
    CHECK(verdict(wire::from_bytes<plain::Sample>(longer)) == verdict(DecodeError::trailing_bytes));
  }

  SECTION("the README's Order, described by mosaik_fields") {
    static_assert(wire::DescribedFields<shop::Order>);
    const shop::Order order{7, {"a"}, std::string{"n"}};
    const auto bytes = wire::to_bytes(order);
    CHECK(bytes == bytes_of({0x07, 0x01, 0x01, 'a', 0x01, 0x01, 'n'}));
    CHECK(wire::measure(order) == bytes.size());
    const auto decoded = wire::from_bytes<shop::Order>(bytes);
    REQUIRE(verdict(decoded) == ok_verdict);
    CHECK(decoded->id == 7);
    CHECK(decoded->items == std::vector<std::string>{"a"});
    CHECK(decoded->note == std::optional<std::string>{"n"});

    const shop::Order big{u64_max, {"", std::string(1000, 'q'), "third"}, std::nullopt};
    const auto again = wire::from_bytes<shop::Order>(wire::to_bytes(big));
    REQUIRE(verdict(again) == ok_verdict);
    CHECK(again->id == u64_max);
    CHECK(again->items == big.items);
    CHECK_FALSE(again->note.has_value());
    // The note's presence byte is a bool.
    auto bad = bytes;
    bad[4] = std::byte{2};
    CHECK(verdict(wire::from_bytes<shop::Order>(bad)) == verdict(DecodeError::bad_value));
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      INFO("prefix of " << n << " bytes");
      CHECK(verdict(wire::from_bytes<shop::Order>(std::span{bytes}.first(n))) ==
            verdict(DecodeError::truncated));
    }
  }

  SECTION("a type with mosaik_encode and mosaik_decode") {
    static_assert(wire::CustomCodec<paint::Rgb>);
    // Four bytes, not sizeof(Rgb) == 3: the custom codec wins over the bytes.
    CHECK(round_trip(paint::Rgb{1, 2, 3}, 4) == bytes_of({1, 2, 3, 0}));
    CHECK(verdict(wire::from_bytes<paint::Rgb>(bytes_of({1, 2, 3, 4}))) == verdict(DecodeError::bad_value));
    CHECK(verdict(wire::from_bytes<paint::Rgb>(bytes_of({1, 2, 3}))) == verdict(DecodeError::truncated));
    // Inside containers too.
    round_trip(std::vector<paint::Rgb>{{255, 255, 255}, {0, 0, 0}}, 9);
    round_trip(std::optional<paint::Rgb>{paint::Rgb{4, 5, 6}}, 5);
    // A decoder that refuses without naming a reason: bad_value.
    CHECK(verdict(wire::from_bytes<paint::Picky>(bytes_of({13}))) == verdict(DecodeError::bad_value));
    const auto fine = wire::from_bytes<paint::Picky>(bytes_of({12}));
    REQUIRE(verdict(fine) == ok_verdict);
    CHECK(fine->value == 12);
  }

  SECTION("a custom codec may state its size; entries of unmeasured commands keep exact length prefixes") {
    static_assert(wire::CustomMeasure<paint::Stamp> && wire::CheaplyMeasured<paint::Stamp>);
    static_assert(!wire::CheaplyMeasured<paint::Rgb>);
    round_trip(paint::Stamp{5}, 5);
    round_trip(std::vector<paint::Stamp>{{300}, {u64_max}}, 1 + 6 + 14);
    const std::vector<Entry<paint::Rgb>> entries{{Term{1}, {1, 2, 3}}, {Term{3}, {4, 5, 6}}};
    const auto bytes = wire::to_bytes(wire::entries(entries));
    CHECK(bytes == bytes_of({2, 2, 4, 1, 2, 3, 0, 4, 4, 4, 5, 6, 0}));
    CHECK(wire::measure(wire::entries(entries)) == bytes.size());
    CHECK(test::decode_entries<paint::Rgb>(bytes) == entries);
  }

  SECTION("a stated size that is wrong still makes well-formed entries (the prefix is rewritten)") {
    for (const int error : {-100, -1, 1, 200}) {
      for (const std::size_t size : {std::size_t{0}, std::size_t{5}, std::size_t{126}, std::size_t{300}}) {
        INFO("error " << error << ", text " << size);
        const std::vector<Entry<paint::Liar>> entries{{Term{1}, {std::string(size, 'a'), error}},
                                                      {Term{2}, {"tail", error}}};
        CHECK(test::decode_entries<paint::Liar>(wire::to_bytes(wire::entries(entries))) == entries);
      }
    }
  }
}

// ===========================================================================
// Frames and every message.

TEST_CASE("wire: frame header layout and checks", "[wire]") {
  const wire::FrameHeader header{0xfedcba98u, wire::protocol_version, 200, wire::flag::more,
                                 GroupId{u64_max - 1}};
  const auto bytes = wire::encode_header(header);
  CHECK(bytes[0] == std::byte{0x98});
  CHECK(bytes[3] == std::byte{0xfe});
  CHECK(bytes[4] == std::byte{wire::protocol_version});
  CHECK(bytes[5] == std::byte{200});
  CHECK(bytes[6] == std::byte{wire::flag::more});
  CHECK(bytes[7] == std::byte{0});
  CHECK(bytes[8] == std::byte{0xfe});
  CHECK(bytes[15] == std::byte{0xff});
  DecodeLimits unlimited;
  unlimited.max_frame_bytes = std::numeric_limits<std::size_t>::max();
  const auto decoded = wire::decode_header(bytes, unlimited);
  REQUIRE(verdict(decoded) == ok_verdict);
  CHECK(decoded.value() == header);

  // The length against the configured maximum, before any body byte.
  DecodeLimits small;
  small.max_frame_bytes = 1000;
  auto at_limit = header;
  at_limit.length = 1000;
  CHECK(verdict(wire::decode_header(wire::encode_header(at_limit), small)) == ok_verdict);
  at_limit.length = 1001;
  CHECK(verdict(wire::decode_header(wire::encode_header(at_limit), small)) ==
        verdict(DecodeError::oversized));
  CHECK(verdict(wire::decode_header(bytes, DecodeLimits{})) == verdict(DecodeError::oversized));

  // Versions this build does not speak.
  for (const int version : {0, 2, 255}) {
    auto wrong = wire::encode_header(at_limit);
    wrong[4] = static_cast<std::byte>(version);
    CHECK(verdict(wire::decode_header(wrong, unlimited)) == verdict(DecodeError::wrong_version));
  }
  // The reserved byte and unknown flag bits.
  for (int bit = 0; bit < 8; ++bit) {
    INFO("bit " << bit);
    auto reserved = wire::encode_header(header);
    reserved[7] = static_cast<std::byte>(1 << bit);
    CHECK(verdict(wire::decode_header(reserved, unlimited)) == verdict(DecodeError::bad_value));
    auto flags = wire::encode_header(header);
    flags[6] = static_cast<std::byte>(1 << bit);
    CHECK(verdict(wire::decode_header(flags, unlimited)) ==
          (bit <= 1 ? ok_verdict : verdict(DecodeError::bad_value)));
  }
}

TEST_CASE("wire: a frame's exact bytes (vote request)", "[wire]") {
  const Ctr::Message message{GroupId{0x0807060504030201ULL},
                             Ctr::Consensus{group::VoteRequest{Term{7}, Cursor{Term{6}, Index{300}}, true}}};
  CHECK(Ctr::Codec::encode(message) ==
        bytes_of({5, 0, 0, 0, 1, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x07, 0x06, 0xac, 0x02, 0x01}));
}

TEMPLATE_TEST_CASE("wire: every message kind round-trips through MessageCodec", "[wire]", machines::KvStore,
                   machines::Counter) {
  using W = Wire<TestType>;
  const auto cases = sample_messages<TestType>();
  std::set<int> kinds;
  for (const auto& c : cases) {
    INFO(c.name);
    kinds.insert(c.kind);
    CHECK(W::Codec::kind_of(c.message) == c.kind);
    const auto decoded = frame_round_trip<W>(c.message, c.kind);
    CHECK(decoded.group == group_a);
  }
  CHECK(kinds == std::set<int>{1, 2, 3, 4, 5, 6, 7, 8, 32, 33, 34, 35});

  SECTION("entry terms survive rising, equal, falling and wrapping deltas") {
    const auto entries = sample_entries<TestType>();
    const auto message = frame_round_trip<W>(
        typename W::Message{group_b, typename W::Consensus{group::AppendEntries<typename W::Command>{
                                         Term{9}, Cursor{}, entries, Index{3}, 1}}},
        3);
    const auto& decoded = std::get<2>(std::get<0>(message.body)).entries;
    REQUIRE(decoded.size() == entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
      CHECK(decoded[i].term == entries[i].term);
      CHECK(decoded[i].command == entries[i].command);
    }
    CHECK(decoded[5].term == Term{u64_max});
    CHECK(decoded[6].term == Term{0});
  }

  SECTION("commands whose encoding crosses the one-byte length prefix") {
    for (const std::size_t size :
         {std::size_t{120}, std::size_t{125}, std::size_t{126}, std::size_t{127}, std::size_t{128},
          std::size_t{129}, std::size_t{16380}, std::size_t{16383}, std::size_t{16384}, std::size_t{16390}}) {
      INFO("payload " << size);
      std::vector<typename W::LogEntry> entries;
      if constexpr (std::same_as<TestType, machines::KvStore>) {
        entries.push_back({Term{1}, typename W::LogCmd{machines::KvStore::put("k", std::string(size, 'v'))}});
      } else {
        std::vector<group::MemberSpec> specs;
        for (std::uint64_t peer = 1; peer <= size / 3; ++peer) {
          specs.push_back({PeerId{peer}, group::Preference::observer});
        }
        entries.push_back({Term{1}, typename W::LogCmd{group::MembershipChange{group::Membership{specs}}}});
      }
      entries.push_back({Term{2}, typename W::LogCmd{group::Noop{}}});
      frame_round_trip<W>(
          typename W::Message{group_a, typename W::Sync{sync::FetchEntriesResponse<typename W::LogCmd>{
                                           IndexRange::starting_at(Index{1}, 2), entries}}},
          35);
    }
  }
}

TEST_CASE("wire: counter commands of any sign, exact sizes", "[wire]") {
  using C = machines::Counter::Command;
  CHECK(round_trip(C{-1}, 1) == bytes_of({0x01}));
  CHECK(round_trip(C{-64}, 1) == bytes_of({0x7f}));
  CHECK(round_trip(C{64}, 2) == bytes_of({0x80, 0x01}));
  round_trip(C{std::numeric_limits<std::int64_t>::min()}, 10);
  CHECK(round_trip(machines::KvStore::put("k", "v"), 5) == bytes_of({0x00, 0x01, 'k', 0x01, 'v'}));
  CHECK(round_trip(machines::KvStore::erase("k"), 4) == bytes_of({0x01, 0x01, 'k', 0x00}));
  // A log command: the variant's index, then the body.
  CHECK(round_trip(group::LogCommand<C>{C{-1}}, 2) == bytes_of({0x02, 0x01}));
  CHECK(round_trip(group::LogCommand<C>{group::Noop{}}, 1) == bytes_of({0x00}));
  CHECK(round_trip(group::LogCommand<C>{group::MembershipChange{
                       group::Membership{}.with_learner(PeerId{5}, group::Preference::observer)}},
                   5) == bytes_of({0x01, 0x01, 0x05, 0x02, 0x00}));
}

// The codec encodes a FetchEntriesResponse as range (16 bytes), entry count
// (varint), then per entry: zigzag term delta, varint length, encoded
// command. The simulator charges every message exactly its frame.
TEMPLATE_TEST_CASE(
    "wire: FetchEntriesResponse body size is the documented layout, the simulator charges the frame",
    "[wire]", machines::KvStore, machines::Counter) {
  using W = Wire<TestType>;
  for (const auto& c : sample_messages<TestType>()) {
    INFO(c.name);
    const auto frame = W::Codec::encode(c.message);
    CHECK(wire::frame_size(c.message) == frame.size());
    if (c.kind >= 32 && c.kind < 35) {
      // The other catch-up messages: a header and a range, or just a header.
      CHECK(frame.size() == (c.kind == 32 ? 16u : 32u));
    }
    if (c.kind != 35) {
      continue;
    }
    const auto& response = std::get<3>(std::get<1>(c.message.body));
    std::size_t expected = 16 + wire::varint_size(response.entries.size());
    std::uint64_t previous = 0;
    for (const auto& entry : response.entries) {
      const auto command = wire::to_bytes(entry.command).size();
      expected += zigzag_bytes(static_cast<std::int64_t>(entry.term.value() - previous)) +
                  wire::varint_size(command) + command;
      previous = entry.term.value();
    }
    CHECK(frame.size() - wire::frame_header_bytes == expected);
  }
}

// ===========================================================================
// Hostile input.

TEST_CASE("wire: MessageCodec refuses another group's frames and unknown kinds", "[wire]") {
  const auto frame = Kv::Codec::encode(sample_messages<machines::KvStore>()[0].message);
  const auto header = header_of(frame);
  REQUIRE(verdict(header) == ok_verdict);
  CHECK(verdict(Kv::Codec::decode(header.value(), body_of(frame), group_b, DecodeLimits{})) ==
        verdict(DecodeError::wrong_group));
  CHECK(verdict(Kv::Codec::decode(header.value(), body_of(frame), group_a, DecodeLimits{})) == ok_verdict);

  const auto empty = Bytes{};
  const auto some = bytes_of({1, 1, 1, 1});
  for (int kind = 0; kind < 256; ++kind) {
    INFO("kind " << kind);
    const bool known = (kind >= 1 && kind <= 8) || (kind >= 32 && kind <= 35);
    if (known) {
      continue;
    }
    CHECK(verdict(decode_body<Kv>(static_cast<std::uint8_t>(kind), empty)) ==
          verdict(DecodeError::unknown_kind));
    CHECK(verdict(decode_body<Ctr>(static_cast<std::uint8_t>(kind), some)) ==
          verdict(DecodeError::unknown_kind));
  }
  // The body is bounded too, whatever the header said.
  DecodeLimits small;
  small.max_frame_bytes = frame.size() - wire::frame_header_bytes - 1;
  CHECK(verdict(Kv::Codec::decode(header.value(), body_of(frame), group_a, small)) ==
        verdict(DecodeError::oversized));
  small.max_frame_bytes += 1;
  CHECK(verdict(Kv::Codec::decode(header.value(), body_of(frame), group_a, small)) == ok_verdict);
}

TEMPLATE_TEST_CASE("wire: every strict prefix of every message body is truncated, a trailing byte is refused",
                   "[wire]", machines::KvStore, machines::Counter) {
  using W = Wire<TestType>;
  std::size_t prefixes = 0;
  for (const auto& c : sample_messages<TestType>()) {
    INFO(c.name);
    const auto frame = W::Codec::encode(c.message);
    const auto body = body_of(frame);
    bool all_truncated = true;
    for (std::size_t n = 0; n < body.size(); ++n) {
      const auto decoded = decode_body<W>(c.kind, body.first(n));
      if (verdict(decoded) != verdict(DecodeError::truncated)) {
        all_truncated = false;
        FAIL_CHECK("prefix of " << n << " bytes of " << body.size() << ": " << verdict(decoded));
      }
      ++prefixes;
    }
    CHECK(all_truncated);
    for (const int extra : {0x00, 0x01, 0xff}) {
      Bytes longer(body.begin(), body.end());
      longer.push_back(static_cast<std::byte>(extra));
      CHECK(verdict(decode_body<W>(c.kind, longer)) == verdict(DecodeError::trailing_bytes));
    }
  }
  CHECK(prefixes > 500);
}

TEST_CASE("wire: values outside their domain inside messages", "[wire]") {
  SECTION("bool byte 2") {
    // VoteRequest: term, last.term, last.index, pre_vote.
    CHECK(verdict(decode_body<Ctr>(1, bytes_of({7, 6, 42, 1}))) == ok_verdict);
    CHECK(verdict(decode_body<Ctr>(1, bytes_of({7, 6, 42, 2}))) == verdict(DecodeError::bad_value));
    // AppendResponse: term, success, syncing, match, round.
    CHECK(verdict(decode_body<Ctr>(4, bytes_of({4, 1, 2, 12, 5}))) == verdict(DecodeError::bad_value));
  }
  SECTION("Errc beyond its maximum, and a u8 field given 300") {
    const auto cancelled = static_cast<int>(group::Errc::cancelled);
    // ForwardResponse: request id, range (16), term, optional error.
    const auto forward = [](std::initializer_list<int> tail) {
      auto body = bytes_of({1, 5, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 3});
      const auto more = bytes_of(tail);
      body.insert(body.end(), more.begin(), more.end());
      return body;
    };
    CHECK(verdict(decode_body<Kv>(6, forward({1, cancelled}))) == ok_verdict);
    CHECK(verdict(decode_body<Kv>(6, forward({1, cancelled + 1}))) == verdict(DecodeError::bad_value));
    CHECK(verdict(decode_body<Kv>(6, forward({1, 0x7f}))) == verdict(DecodeError::bad_value));
    CHECK(verdict(decode_body<Kv>(6, forward({1, 0xac, 0x02}))) == verdict(DecodeError::bad_varint));
    CHECK(verdict(decode_body<Kv>(6, forward({2, 0}))) == verdict(DecodeError::bad_value));
    // ReadIndexResponse: request id, read index, optional error.
    CHECK(verdict(decode_body<Kv>(8, bytes_of({1, 100, 1, cancelled + 1}))) ==
          verdict(DecodeError::bad_value));
  }
  SECTION("KvStore op beyond erase") {
    // ForwardRequest: request id, count, then op, key, value.
    CHECK(verdict(decode_body<Kv>(5, bytes_of({5, 1, 1, 1, 'k', 1, 'v'}))) == ok_verdict);
    CHECK(verdict(decode_body<Kv>(5, bytes_of({5, 1, 2, 1, 'k', 1, 'v'}))) ==
          verdict(DecodeError::bad_value));
    CHECK(verdict(decode_body<Kv>(5, bytes_of({5, 1, 0xac, 0x02, 1, 'k', 1, 'v'}))) ==
          verdict(DecodeError::bad_varint));
  }
  SECTION("Preference beyond observer, voter byte 2, log command variant index") {
    const auto member = [](int preference, int voter) {
      return append_one_entry([=](wire::Writer& out) {
        out.u8(1); // MembershipChange
        out.varint(1);
        out.varint(42);
        out.u8(static_cast<std::uint8_t>(preference));
        out.u8(static_cast<std::uint8_t>(voter));
      });
    };
    CHECK(verdict(decode_body<Kv>(3, member(2, 1))) == ok_verdict);
    CHECK(verdict(decode_body<Kv>(3, member(3, 1))) == verdict(DecodeError::bad_value));
    CHECK(verdict(decode_body<Kv>(3, member(0, 2))) == verdict(DecodeError::bad_value));
    // 3 is a SnapshotPoint (its requester follows); 4 names no alternative.
    CHECK(verdict(decode_body<Ctr>(3, append_one_entry([](wire::Writer& out) {
                                     out.u8(3);
                                     out.varint(7);
                                   }))) == ok_verdict);
    CHECK(verdict(decode_body<Ctr>(3, append_one_entry([](wire::Writer& out) { out.u8(4); }))) ==
          verdict(DecodeError::bad_value));
    CHECK(verdict(decode_body<Ctr>(3, append_one_entry([](wire::Writer& out) { out.u8(0); }))) == ok_verdict);
  }
}

TEST_CASE("wire: Membership must be sorted by id without repeats", "[wire]") {
  using Entries = std::vector<group::Membership::Entry>;
  const group::Member voter{group::Preference::normal, true};
  const group::Member learner{group::Preference::reluctant, false};
  const auto sorted =
      wire::from_bytes<group::Membership>(wire::to_bytes(Entries{{PeerId{1}, voter}, {PeerId{2}, learner}}));
  REQUIRE(verdict(sorted) == ok_verdict);
  CHECK(sorted->is_voter(PeerId{1}));
  CHECK(sorted->contains(PeerId{2}));
  CHECK_FALSE(sorted->is_voter(PeerId{2}));
  CHECK(verdict(wire::from_bytes<group::Membership>(wire::to_bytes(
            Entries{{PeerId{2}, voter}, {PeerId{1}, voter}}))) == verdict(DecodeError::bad_value));
  CHECK(verdict(wire::from_bytes<group::Membership>(wire::to_bytes(
            Entries{{PeerId{1}, voter}, {PeerId{1}, learner}}))) == verdict(DecodeError::bad_value));
  CHECK(verdict(wire::from_bytes<group::Membership>(
            wire::to_bytes(Entries{{PeerId{1}, voter}, {PeerId{3}, voter}, {PeerId{2}, voter}}))) ==
        verdict(DecodeError::bad_value));

  // Inside a log entry, through MessageCodec.
  const auto change = [](Entries entries) {
    return append_one_entry([&](wire::Writer& out) {
      out.u8(1); // MembershipChange
      wire::encode(out, entries);
    });
  };
  CHECK(verdict(decode_body<Kv>(3, change({{PeerId{1}, voter}, {PeerId{9}, voter}}))) == ok_verdict);
  CHECK(verdict(decode_body<Kv>(3, change({{PeerId{9}, voter}, {PeerId{1}, voter}}))) ==
        verdict(DecodeError::bad_value));
  CHECK(verdict(decode_body<Kv>(3, change({{PeerId{9}, voter}, {PeerId{9}, voter}}))) ==
        verdict(DecodeError::bad_value));
}

TEST_CASE("wire: a command must fill its entry exactly", "[wire]") {
  // Counter command -1 inside a log command: variant index 2, zigzag 1.
  const auto exact = append_one_entry([](wire::Writer& out) {
    out.u8(2);
    out.u8(1);
  });
  const auto decoded = decode_body<Ctr>(3, exact);
  REQUIRE(verdict(decoded) == ok_verdict);
  const auto& append = std::get<2>(std::get<0>(decoded->body));
  REQUIRE(append.entries.size() == 1);
  CHECK(append.entries[0].term == Term{1});
  CHECK(*append.entries[0].command.user() == machines::Counter::Command{-1});

  // One byte more inside the length prefix: the command's decoder leaves it.
  const auto longer = append_one_entry([](wire::Writer& out) {
    out.u8(2);
    out.u8(1);
    out.u8(0);
  });
  CHECK(verdict(decode_body<Ctr>(3, longer)) == verdict(DecodeError::trailing_bytes));
  // Likewise for a KvStore command and in a FetchEntriesResponse.
  const auto kv_longer = append_one_entry([](wire::Writer& out) {
    wire::encode(out, group::LogCommand<machines::KvStore::Command>{machines::KvStore::put("k", "v")});
    out.u8(7);
  });
  CHECK(verdict(decode_body<Kv>(3, kv_longer)) == verdict(DecodeError::trailing_bytes));
  const auto fetch_longer = build([](wire::Writer& out) {
    wire::encode(out, IndexRange{Index{1}, Index{1}});
    out.varint(1);
    out.varint(2);
    out.length_prefixed([&] {
      out.u8(0); // Noop
      out.u8(0);
    });
  });
  CHECK(verdict(decode_body<Ctr>(35, fetch_longer)) == verdict(DecodeError::trailing_bytes));

  // One byte less: the command cannot read into what follows its entry.
  const auto shorter = build([](wire::Writer& out) {
    out.varint(1);
    out.varint(0);
    out.varint(0);
    out.varint(2); // two entries
    out.varint(2);
    out.varint(1); // length 1: the variant index only
    out.u8(2);
    out.u8(1); // the amount, outside the entry (read as the next term delta)
    out.varint(1);
    out.u8(0);
    out.varint(0);
    out.varint(0);
  });
  CHECK(verdict(decode_body<Ctr>(3, shorter)) == verdict(DecodeError::truncated));
}

TEST_CASE("wire: entry, entry-size and item limits", "[wire]") {
  using LogCmd = Kv::LogCmd;
  std::vector<Kv::LogEntry> entries;
  for (std::uint64_t i = 0; i < 4; ++i) {
    entries.push_back(
        {Term{1}, LogCmd{machines::KvStore::put("k" + std::to_string(i), std::string(100, 'v'))}});
  }
  const auto entry_bytes = wire::to_bytes(entries[0].command).size();
  REQUIRE(entry_bytes == 1 + 1 + 1 + 2 + 1 + 100);
  const Kv::Message append{group_a, Kv::Consensus{group::AppendEntries<machines::KvStore::Command>{
                                        Term{1}, Cursor{}, entries, Index{0}, 0}}};
  const Kv::Message fetch{group_a, Kv::Sync{sync::FetchEntriesResponse<LogCmd>{
                                       IndexRange::starting_at(Index{1}, entries.size()), entries}}};
  for (const auto& [message, kind] : {std::pair{append, 3}, std::pair{fetch, 35}}) {
    INFO("kind " << kind);
    const auto frame = Kv::Codec::encode(message);
    const auto body = body_of(frame);
    DecodeLimits limits;
    limits.max_entries = 4;
    CHECK(verdict(decode_body<Kv>(static_cast<std::uint8_t>(kind), body, limits)) == ok_verdict);
    limits.max_entries = 3;
    CHECK(verdict(decode_body<Kv>(static_cast<std::uint8_t>(kind), body, limits)) ==
          verdict(DecodeError::too_many_entries));
    limits = DecodeLimits{};
    limits.max_entry_bytes = entry_bytes;
    CHECK(verdict(decode_body<Kv>(static_cast<std::uint8_t>(kind), body, limits)) == ok_verdict);
    limits.max_entry_bytes = entry_bytes - 1;
    CHECK(verdict(decode_body<Kv>(static_cast<std::uint8_t>(kind), body, limits)) ==
          verdict(DecodeError::entry_too_large));
  }

  // Any other count: commands forwarded, members; a string's bytes are
  // bounded by the frame.
  const Kv::Message forward{group_a, Kv::Consensus{group::ForwardRequest<machines::KvStore::Command>{
                                         1,
                                         {machines::KvStore::put("a", std::string(50, 'x')),
                                          machines::KvStore::erase("b"), machines::KvStore::erase("c")}}}};
  const auto frame = Kv::Codec::encode(forward);
  DecodeLimits limits;
  limits.max_items = 3;
  CHECK(verdict(decode_body<Kv>(5, body_of(frame), limits)) == ok_verdict);
  limits.max_frame_bytes = 49; // the 50-byte value
  CHECK(verdict(decode_body<Kv>(5, body_of(frame), limits)) == verdict(DecodeError::oversized));
  limits.max_frame_bytes = DecodeLimits{}.max_frame_bytes;
  limits.max_items = 2; // three commands
  CHECK(verdict(decode_body<Kv>(5, body_of(frame), limits)) == verdict(DecodeError::too_many_items));
  const auto members = append_one_entry([](wire::Writer& out) {
    out.u8(1);
    wire::encode(out, sample_membership());
  });
  limits.max_items = sample_membership().members().size();
  CHECK(verdict(decode_body<Kv>(3, members, limits)) == ok_verdict);
  limits.max_items -= 1;
  CHECK(verdict(decode_body<Kv>(3, members, limits)) == verdict(DecodeError::too_many_items));
}

TEST_CASE("wire: a count beyond the bytes present fails fast, before allocating", "[wire]") {
  const auto started = std::chrono::steady_clock::now();
  DecodeLimits unlimited;
  unlimited.max_items = std::numeric_limits<std::size_t>::max();
  unlimited.max_entries = std::numeric_limits<std::size_t>::max();
  unlimited.max_entry_bytes = std::numeric_limits<std::size_t>::max();
  unlimited.max_frame_bytes = std::numeric_limits<std::size_t>::max();
  constexpr std::uint64_t two_40 = std::uint64_t{1} << 40;
  constexpr std::uint64_t two_60 = std::uint64_t{1} << 60;

  // ForwardRequest of 2^40 commands, three bytes present.
  const auto commands = build([&](wire::Writer& out) {
    out.varint(1);
    out.varint(two_40);
    out.u8(2);
    out.u8(2);
    out.u8(2);
  });
  CHECK(verdict(decode_body<Ctr>(5, commands)) == verdict(DecodeError::too_many_items));
  CHECK(verdict(decode_body<Ctr>(5, commands, unlimited)) == verdict(DecodeError::truncated));
  // Within the default limit, still more than present.
  const auto thousand = build([](wire::Writer& out) {
    out.varint(1);
    out.varint(1000);
    out.u8(2);
  });
  CHECK(verdict(decode_body<Ctr>(5, thousand)) == verdict(DecodeError::truncated));

  // A key of 2^60 bytes.
  const auto key = build([&](wire::Writer& out) {
    out.varint(1);
    out.varint(1);
    out.u8(0);
    out.varint(two_60);
    out.u8('k');
  });
  CHECK(verdict(decode_body<Kv>(5, key)) == verdict(DecodeError::oversized));
  CHECK(verdict(decode_body<Kv>(5, key, unlimited)) == verdict(DecodeError::truncated));

  // 2^40 entries; one entry of 2^60 bytes.
  const auto many_entries = build([&](wire::Writer& out) {
    out.varint(1);
    out.varint(0);
    out.varint(0);
    out.varint(two_40);
    out.u8(0);
    out.u8(1);
    out.u8(0);
  });
  CHECK(verdict(decode_body<Kv>(3, many_entries)) == verdict(DecodeError::too_many_entries));
  CHECK(verdict(decode_body<Kv>(3, many_entries, unlimited)) == verdict(DecodeError::truncated));
  const auto huge_entry = build([&](wire::Writer& out) {
    wire::encode(out, IndexRange{});
    out.varint(1);
    out.varint(0);
    out.varint(two_60);
    out.u8(0);
  });
  CHECK(verdict(decode_body<Kv>(35, huge_entry)) == verdict(DecodeError::entry_too_large));
  CHECK(verdict(decode_body<Kv>(35, huge_entry, unlimited)) == verdict(DecodeError::truncated));

  // Built-ins directly: a vector and a string of 2^40 elements, three bytes present.
  const auto lying_vector = build([&](wire::Writer& out) {
    out.varint(two_40);
    out.u8(1);
    out.u8(2);
    out.u8(3);
  });
  CHECK(verdict(wire::from_bytes<std::vector<std::uint64_t>>(lying_vector, unlimited)) ==
        verdict(DecodeError::truncated));
  CHECK(verdict(wire::from_bytes<std::string>(lying_vector, unlimited)) == verdict(DecodeError::truncated));
  CHECK(verdict(wire::from_bytes<std::vector<std::string>>(lying_vector, unlimited)) ==
        verdict(DecodeError::truncated));

  const auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(elapsed < std::chrono::milliseconds{100});
}

// Regression: a vector's decoder once reserved min(count, bytes present)
// ELEMENTS, so 65 bytes of input made it reserve 4 MiB of 64 KiB elements
// (and std::bad_alloc could escape). The reservation is now bounded by the
// bytes present.
TEST_CASE("wire: a lying count cannot make the decoder reserve more than it received", "[wire]") {
  using Pages = std::vector<plain::Page, BudgetAllocator<plain::Page>>;
  const auto lying = build([](wire::Writer& out) {
    out.varint(64);
    for (int i = 0; i < 64; ++i) {
      out.u8(0);
    }
  });
  std::optional<std::string> result;
  CHECK_NOTHROW(result = verdict(wire::from_bytes<Pages>(lying)));
  CHECK(result.value_or("threw") == verdict(DecodeError::truncated));
}

// ===========================================================================
// Random garbage.

namespace {

/// Decodes one frame as a transport would; on success, the message must
/// re-encode and decode to itself. Returns whether it decoded.
template <class W>
bool decode_frame(const Bytes& frame, std::size_t& unstable) {
  if (frame.size() < wire::frame_header_bytes) {
    return false;
  }
  const auto header = wire::decode_header(
      std::span<const std::byte, wire::frame_header_bytes>{frame.data(), wire::frame_header_bytes},
      DecodeLimits{});
  if (!header) {
    return false;
  }
  const auto decoded = W::Codec::decode(header.value(), body_of(frame), group_a, DecodeLimits{});
  if (!decoded) {
    const auto text = std::string{wire::to_string(decoded.error())};
    if (text == "unknown decode error") {
      ++unstable;
    }
    return false;
  }
  if (!stable<W>(decoded.value())) {
    ++unstable;
  }
  return true;
}

std::vector<std::uint8_t> known_kinds() {
  return {1, 2, 3, 4, 5, 6, 7, 8, 32, 33, 34, 35};
}

} // namespace

TEMPLATE_TEST_CASE("wire: random bodies never crash, what decodes is stable", "[wire]", machines::KvStore,
                   machines::Counter) {
  using W = Wire<TestType>;
  const std::uint64_t seed = 0x5eed'c0de'2024ULL;
  INFO("seed " << seed);
  std::mt19937_64 rng{seed};
  const auto kinds = known_kinds();
  std::size_t decoded = 0;
  std::size_t unstable = 0;
  std::set<int> decoded_kinds;
  std::map<int, std::size_t> per_kind;
  for (int i = 0; i < 20'000; ++i) {
    const auto kind = rng() % 5 == 0 ? static_cast<std::uint8_t>(rng()) : kinds[rng() % kinds.size()];
    const auto shape = rng() % 4;
    const auto length = static_cast<std::size_t>(shape == 0   ? rng() % 200
                                                 : shape == 1 ? rng() % 40
                                                              : rng() % 8);
    // Uniform bytes, or small ones (which make plausible counts, bools, tags).
    const auto style = rng() % 3;
    Bytes body(length);
    for (auto& byte : body) {
      const auto r = rng();
      byte = static_cast<std::byte>(style == 0   ? r
                                    : style == 1 ? r % 2
                                                 : (r % 4 == 0 ? 0x80 | (r % 4) : r % 3));
    }
    const auto header = wire::encode_header(
        wire::FrameHeader{static_cast<std::uint32_t>(length), wire::protocol_version, kind, 0, group_a});
    Bytes frame(header.begin(), header.end());
    frame.insert(frame.end(), body.begin(), body.end());
    if (decode_frame<W>(frame, unstable)) {
      ++decoded;
      decoded_kinds.insert(kind);
      ++per_kind[kind];
    }
  }
  for (const auto& [kind, count] : per_kind) {
    UNSCOPED_INFO("kind " << kind << ": " << count << " decoded");
  }
  CHECK(unstable == 0);
  // The check has teeth: plenty decoded, of many kinds.
  CHECK(decoded > 200);
  CHECK(decoded_kinds.size() == 12);
}

TEMPLATE_TEST_CASE("wire: mutated frames never crash, what decodes is stable", "[wire]", machines::KvStore,
                   machines::Counter) {
  using W = Wire<TestType>;
  const std::uint64_t seed = 0xf1a9'b175ULL;
  INFO("seed " << seed);
  std::mt19937_64 rng{seed};
  std::vector<Bytes> frames;
  for (const auto& c : sample_messages<TestType>()) {
    frames.push_back(W::Codec::encode(c.message));
  }
  std::size_t decoded = 0;
  std::size_t unstable = 0;
  for (int i = 0; i < 20'000; ++i) {
    auto frame = frames[rng() % frames.size()];
    const auto mutations = 1 + rng() % 3;
    for (std::uint64_t m = 0; m < mutations && !frame.empty(); ++m) {
      switch (rng() % 5) {
      case 0: // flip a bit, mostly in the body
        frame[rng() % 4 == 0 || frame.size() <= wire::frame_header_bytes
                  ? rng() % frame.size()
                  : wire::frame_header_bytes + rng() % (frame.size() - wire::frame_header_bytes)] ^=
            static_cast<std::byte>(1u << (rng() % 8));
        break;
      case 1: // truncate
        frame.resize(rng() % frame.size());
        break;
      case 2: { // insert a few bytes
        const auto at = static_cast<std::ptrdiff_t>(rng() % (frame.size() + 1));
        const auto count = 1 + rng() % 4;
        for (std::uint64_t k = 0; k < count; ++k) {
          frame.insert(frame.begin() + at, static_cast<std::byte>(rng() % 4 == 0 ? rng() : rng() % 3));
        }
        break;
      }
      case 3: // overwrite a body byte with a small value
        if (frame.size() > wire::frame_header_bytes) {
          frame[wire::frame_header_bytes + rng() % (frame.size() - wire::frame_header_bytes)] =
              static_cast<std::byte>(rng() % 4);
        }
        break;
      default: // erase a body byte
        if (frame.size() > wire::frame_header_bytes) {
          frame.erase(frame.begin() +
                      static_cast<std::ptrdiff_t>(wire::frame_header_bytes +
                                                  rng() % (frame.size() - wire::frame_header_bytes)));
        }
        break;
      }
    }
    if (decode_frame<W>(frame, unstable)) {
      ++decoded;
    }
  }
  CHECK(unstable == 0);
  CHECK(decoded > 300);
}
