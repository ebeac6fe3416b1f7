// Unit tests of SnapshotProvider, the serving side of snapshot catch-up,
// through a fake SnapshotProviderContext with a settable clock. Items are a
// small struct with its own command size, so byte caps are exact.

#include <catch2/catch.hpp>

#include "fake_provider_context.hpp"
#include "reference_history.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/snapshot/snapshot_provider.hpp>

using namespace mosaik;
using namespace mosaik::sync;
using mosaik::test::item_range;
using mosaik::test::r;

namespace record_items {

/// A snapshot item: one key and value of a store.
struct Record {
  std::string key;
  std::string value;
  friend bool operator==(const Record&, const Record&) = default;
};

/// Its payload bytes: what max_response_bytes counts.
std::size_t mosaik_command_size(const Record& record) {
  return record.key.size() + record.value.size();
}

} // namespace record_items

namespace {

using record_items::Record;
using Provider = SnapshotProvider<std::string, Record>;
using Message = SnapshotSyncMessage<std::string, Record>;
using Items = FetchItemsResponse<Record>;
using Entries = FetchEntriesResponse<std::string>;

const PeerId asker{42};
const PeerId other{43};

using mosaik::test::command_for;
using mosaik::test::term_for;

/// Records of 10 bytes each ("key-NN" and "vals"), numbered from 1.
Record record_for(std::uint64_t position) {
  const auto digits = std::to_string(position % 100);
  return Record{"key-" + std::string(2 - digits.size(), '0') + digits, "vals"};
}

class FakeContext final
    : public mosaik::test::FakeLogContext<SnapshotProviderContext<std::string, Record>, Message> {
public:
  TimePoint clock{};
  std::vector<PeerId> snapshot_requests; // request_snapshot() calls

  [[nodiscard]] TimePoint now() const override { return clock; }
  void request_snapshot(PeerId requester) override { snapshot_requests.push_back(requester); }
};

SnapshotInfo info_at(std::uint64_t index, std::uint64_t items) {
  return SnapshotInfo{
      Cursor{term_for(index), Index{index}}, items, {std::byte{1}, std::byte{2}, std::byte{3}}};
}

/// A snapshot at `index` holding `items` records.
SnapshotImage<Record> image_at(std::uint64_t index, std::uint64_t items) {
  auto records = std::make_shared<std::vector<Record>>();
  for (std::uint64_t i = 1; i <= items; ++i) {
    records->push_back(record_for(i));
  }
  return SnapshotImage<Record>{info_at(index, items), std::move(records)};
}

SnapshotConfig config_with(std::uint64_t item_batch, std::size_t max_bytes = std::size_t{4} << 20) {
  SnapshotConfig config;
  config.item_batch = item_batch;
  config.max_response_bytes = max_bytes;
  config.snapshot_ttl = std::chrono::seconds{10};
  config.replay.batch_size = 5;
  return config;
}

/// The one message the provider sent to `asker` for `message`, which must be a `T`.
template <class T>
T answer(Provider& provider, FakeContext& context, const Message& message, PeerId from = asker) {
  context.sent.clear();
  context.deliver(provider, from, message);
  REQUIRE(context.sent.size() == 1);
  CHECK(context.sent[0].first == from);
  const auto* body = std::get_if<T>(&context.sent[0].second);
  REQUIRE(body != nullptr);
  return *body;
}

Items fetch_items(Provider& provider, FakeContext& context, Cursor at, ItemRange range) {
  return answer<Items>(provider, context, Message{FetchItemsRequest{at, range}});
}

/// The response holds the records of its range, in order, as the snapshot has them.
void check_records_match(const Items& response) {
  REQUIRE(response.items.size() == response.range.size());
  for (std::uint64_t i = 0; i < response.items.size(); ++i) {
    CHECK(response.items[i] == record_for(response.range.first().value() + i));
  }
}

} // namespace

TEST_CASE("SnapshotProvider: queries are answered with the snapshot held", "[snapshot][snapshot_provider]") {
  FakeContext context;
  const auto config = config_with(10);
  Provider provider(config, context);
  CHECK_FALSE(provider.offered());

  CHECK(answer<SnapshotOffer>(provider, context, Message{SnapshotQuery{}}) == SnapshotOffer{std::nullopt});

  context.sent.clear();
  REQUIRE_FALSE(provider.offer(image_at(200, 25), std::nullopt));
  CHECK(context.sent.empty()); // offered to nobody in particular
  REQUIRE(provider.offered());
  CHECK(provider.offered()->info == info_at(200, 25));
  CHECK(answer<SnapshotOffer>(provider, context, Message{SnapshotQuery{}}) ==
        SnapshotOffer{info_at(200, 25)});
  CHECK(answer<SnapshotOffer>(provider, context, Message{SnapshotQuery{}}, other) ==
        SnapshotOffer{info_at(200, 25)});

  // A newer snapshot replaces it.
  REQUIRE_FALSE(provider.offer(image_at(300, 7), std::nullopt));
  CHECK(answer<SnapshotOffer>(provider, context, Message{SnapshotQuery{}}) == SnapshotOffer{info_at(300, 7)});

  CHECK(provider.counters().queries == 4);
  CHECK(provider.counters().snapshots_offered == 2);
  CHECK(context.snapshot_requests.empty());
}

TEST_CASE("SnapshotProvider: a snapshot taken for a member is handed back as an offer to it",
          "[snapshot][snapshot_provider]") {
  FakeContext context;
  const auto config = config_with(10);
  Provider provider(config, context);
  CHECK(provider.offer(image_at(200, 25), asker) == Message{SnapshotOffer{info_at(200, 25)}});
  CHECK(context.sent.empty()); // the host sends it
  CHECK(provider.counters().snapshots_offered == 1);
}

TEST_CASE("SnapshotProvider: items are served in order, capped by item_batch",
          "[snapshot][snapshot_provider]") {
  FakeContext context;
  const auto config = config_with(10);
  Provider provider(config, context);
  REQUIRE_FALSE(provider.offer(image_at(200, 25), std::nullopt));
  const auto at = info_at(200, 25).at;

  auto response = fetch_items(provider, context, at, item_range(1, 25));
  CHECK(response.at == at);
  CHECK(response.range == item_range(1, 10));
  check_records_match(response);

  response = fetch_items(provider, context, at, item_range(11, 25));
  CHECK(response.range == item_range(11, 20));
  check_records_match(response);

  response = fetch_items(provider, context, at, item_range(21, 30)); // past the last item: clipped
  CHECK(response.range == item_range(21, 25));
  check_records_match(response);

  response = fetch_items(provider, context, at, item_range(7, 7));
  CHECK(response.range == item_range(7, 7));
  check_records_match(response);

  CHECK(provider.counters().item_requests == 4);
  CHECK(provider.counters().items_served == 10 + 10 + 5 + 1);
  CHECK(provider.counters().empty_answers == 0);
}

TEST_CASE("SnapshotProvider: responses are capped by max_response_bytes, at least one item",
          "[snapshot][snapshot_provider]") {
  FakeContext context;
  struct Case {
    const char* name;
    std::uint64_t item_batch;
    std::size_t max_bytes;
    ItemRange asked;
    ItemRange served;
  };
  const Case cases[] = {
      {"three 10-byte records fit in 35 bytes", 10, 35, item_range(5, 20), item_range(5, 7)},
      {"exactly at the cap", 10, 40, item_range(1, 20), item_range(1, 4)},
      {"an item larger than the cap is still sent, alone", 10, 5, item_range(3, 20), item_range(3, 3)},
      {"item_batch caps before bytes do", 2, 1000, item_range(3, 20), item_range(3, 4)},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const auto config = config_with(c.item_batch, c.max_bytes);
      Provider provider(config, context);
      REQUIRE_FALSE(provider.offer(image_at(200, 25), std::nullopt));
      const auto response = fetch_items(provider, context, info_at(200, 25).at, c.asked);
      CHECK(response.range == c.served);
      check_records_match(response);
      CHECK(provider.counters().items_served == c.served.size());
    }
  }
  SECTION("records of different sizes") {
    const auto config = config_with(10, 25);
    Provider provider(config, context);
    auto records = std::make_shared<std::vector<Record>>();
    records->push_back(Record{"a", "123456789"});          // 10
    records->push_back(Record{"b", "12345678901234"});     // 15
    records->push_back(Record{"c", ""});                   // 1
    records->push_back(Record{"d", std::string(30, 'x')}); // 31
    const SnapshotInfo info{Cursor{Term{3}, Index{50}}, 4, {}};
    REQUIRE_FALSE(provider.offer(SnapshotImage<Record>{info, records}, std::nullopt));
    auto response = fetch_items(provider, context, info.at, item_range(1, 4));
    CHECK(response.range == item_range(1, 2));
    CHECK(response.items == std::vector<Record>{(*records)[0], (*records)[1]});
    response = fetch_items(provider, context, info.at, item_range(3, 4));
    CHECK(response.range == item_range(3, 3)); // 1 + 31 > 25
    response = fetch_items(provider, context, info.at, item_range(4, 4));
    CHECK(response.range == item_range(4, 4)); // alone, above the cap
    CHECK(response.items == std::vector<Record>{(*records)[3]});
  }
}

TEST_CASE("SnapshotProvider: fetches of a snapshot not held are echoed empty",
          "[snapshot][snapshot_provider]") {
  FakeContext context;
  const auto config = config_with(10);
  Provider provider(config, context);

  // No snapshot at all.
  auto response = fetch_items(provider, context, info_at(200, 25).at, item_range(1, 10));
  CHECK(response == Items{info_at(200, 25).at, item_range(1, 10), {}});
  CHECK(provider.counters().empty_answers == 1);

  REQUIRE_FALSE(provider.offer(image_at(200, 25), std::nullopt));
  SECTION("another index") {
    response = fetch_items(provider, context, info_at(190, 25).at, item_range(1, 10));
    CHECK(response == Items{info_at(190, 25).at, item_range(1, 10), {}});
  }
  SECTION("the same index, another term") {
    const Cursor at{Term{99}, Index{200}};
    response = fetch_items(provider, context, at, item_range(11, 20));
    CHECK(response == Items{at, item_range(11, 20), {}});
  }
  SECTION("positions past the last item") {
    response = fetch_items(provider, context, info_at(200, 25).at, item_range(26, 40));
    CHECK(response == Items{info_at(200, 25).at, item_range(26, 40), {}});
  }
  CHECK(provider.counters().empty_answers == 2);
  CHECK(provider.counters().items_served == 0);

  // An empty range is not answered at all.
  context.sent.clear();
  context.deliver(provider, asker, Message{FetchItemsRequest{info_at(200, 25).at, ItemRange{}}});
  CHECK(context.sent.empty());
  CHECK(provider.counters().item_requests == 3);
}

TEST_CASE("SnapshotProvider: a snapshot request is answered at once with a fresh enough snapshot",
          "[snapshot][snapshot_provider]") {
  FakeContext context;
  const auto config = config_with(10);
  Provider provider(config, context);

  SECTION("none held: the group is asked to take one") {
    context.deliver(provider, asker, Message{SnapshotRequest{Index{150}}});
    CHECK(context.sent.empty());
    CHECK(context.snapshot_requests == std::vector<PeerId>{asker});
    // The group takes it and the provider offers it to the requester.
    CHECK(provider.offer(image_at(210, 25), asker) == Message{SnapshotOffer{info_at(210, 25)}});
    CHECK(provider.counters().snapshot_requests == 1);
  }
  SECTION("one above `after` held: offered at once") {
    REQUIRE_FALSE(provider.offer(image_at(200, 25), std::nullopt));
    CHECK(answer<SnapshotOffer>(provider, context, Message{SnapshotRequest{Index{150}}}) ==
          SnapshotOffer{info_at(200, 25)});
    CHECK(answer<SnapshotOffer>(provider, context, Message{SnapshotRequest{Index{199}}}, other) ==
          SnapshotOffer{info_at(200, 25)});
    CHECK(context.snapshot_requests.empty());
    CHECK(provider.counters().snapshot_requests == 2);
  }
  SECTION("one at `after` held: too old, a new one is asked for") {
    REQUIRE_FALSE(provider.offer(image_at(200, 25), std::nullopt));
    context.sent.clear();
    context.deliver(provider, asker, Message{SnapshotRequest{Index{200}}});
    context.deliver(provider, other, Message{SnapshotRequest{Index{250}}});
    CHECK(context.sent.empty());
    CHECK(context.snapshot_requests == std::vector<PeerId>{asker, other});
    CHECK(provider.counters().snapshot_requests == 2);
  }
}

TEST_CASE("SnapshotProvider: a leader whose log holds what the session lacks answers replay",
          "[snapshot][snapshot_provider]") {
  FakeContext context;
  context.fill(100, 100);
  context.storage.prune_prefix(Index{20});
  Provider provider(config_with(10), context);
  const PeerId asker{7};
  // Its log holds 21..100; sessions whose logs end inside it ask.
  CHECK(answer<SnapshotOffer>(provider, context, Message{SnapshotRequest{Index{50}}}, asker) ==
        SnapshotOffer{std::nullopt, true});
  CHECK(answer<SnapshotOffer>(provider, context, Message{SnapshotRequest{Index{99}}}, asker) ==
        SnapshotOffer{std::nullopt, true});
  CHECK(context.snapshot_requests.empty());
  // Below what it holds (the session's suffix cannot be checked) or at its end: a snapshot is asked for.
  context.sent.clear();
  context.deliver(provider, asker, Message{SnapshotRequest{Index{10}}});
  context.deliver(provider, asker, Message{SnapshotRequest{Index{100}}});
  CHECK(context.sent.empty());
  CHECK(context.snapshot_requests == std::vector<PeerId>{asker, asker});
}

TEST_CASE("SnapshotProvider: a snapshot unused for snapshot_ttl is dropped, fetches keep it",
          "[snapshot][snapshot_provider]") {
  FakeContext context;
  const auto config = config_with(10);
  const auto ttl = config.snapshot_ttl;
  Provider provider(config, context);
  const auto at = info_at(200, 25).at;
  REQUIRE_FALSE(provider.offer(image_at(200, 25), std::nullopt));

  SECTION("expire() drops it at the TTL, not before") {
    provider.expire(context.clock + ttl - std::chrono::milliseconds{1});
    CHECK(provider.offered());
    CHECK(provider.counters().snapshots_expired == 0);
    provider.expire(context.clock + ttl);
    CHECK_FALSE(provider.offered());
    CHECK(provider.counters().snapshots_expired == 1);
    provider.expire(context.clock + 3 * ttl); // nothing left to drop
    CHECK(provider.counters().snapshots_expired == 1);
  }
  SECTION("fetches refresh it") {
    for (int i = 1; i <= 4; ++i) {
      context.clock += ttl - std::chrono::seconds{1};
      const auto response = fetch_items(provider, context, at, item_range(1, 10));
      CHECK(response.range == item_range(1, 10));
    }
    CHECK(context.clock - TimePoint{} > 3 * ttl);
    CHECK(provider.offered());
    provider.expire(context.clock + ttl - std::chrono::milliseconds{1});
    CHECK(provider.offered());
    // Then no fetch for the TTL: the next fetch finds it gone.
    context.clock += ttl;
    const auto response = fetch_items(provider, context, at, item_range(1, 10));
    CHECK(response.items.empty());
    CHECK(response.range == item_range(1, 10));
    CHECK_FALSE(provider.offered());
    CHECK(provider.counters().snapshots_expired == 1);
    CHECK(answer<SnapshotOffer>(provider, context, Message{SnapshotQuery{}}) == SnapshotOffer{std::nullopt});
  }
  SECTION("queries do not refresh it") {
    context.clock += ttl - std::chrono::seconds{1};
    CHECK(answer<SnapshotOffer>(provider, context, Message{SnapshotQuery{}}) ==
          SnapshotOffer{info_at(200, 25)});
    context.clock += std::chrono::seconds{1};
    CHECK(answer<SnapshotOffer>(provider, context, Message{SnapshotQuery{}}) == SnapshotOffer{std::nullopt});
    CHECK(provider.counters().snapshots_expired == 1);
  }
  SECTION("fetches of another snapshot do not refresh it") {
    context.clock += ttl - std::chrono::seconds{1};
    CHECK(fetch_items(provider, context, info_at(190, 25).at, item_range(1, 10)).items.empty());
    context.clock += std::chrono::seconds{1};
    provider.expire(context.clock);
    CHECK_FALSE(provider.offered());
  }
  SECTION("a request answered with it refreshes it") {
    context.clock += ttl - std::chrono::seconds{1};
    CHECK(answer<SnapshotOffer>(provider, context, Message{SnapshotRequest{Index{100}}}) ==
          SnapshotOffer{info_at(200, 25)});
    context.clock += ttl - std::chrono::seconds{1};
    provider.expire(context.clock);
    CHECK(provider.offered());
    context.clock += std::chrono::seconds{1};
    provider.expire(context.clock);
    CHECK_FALSE(provider.offered());
  }
  SECTION("a new offer restarts the TTL") {
    context.clock += ttl - std::chrono::seconds{1};
    REQUIRE_FALSE(provider.offer(image_at(300, 5), std::nullopt));
    context.clock += ttl - std::chrono::seconds{1};
    provider.expire(context.clock);
    REQUIRE(provider.offered());
    CHECK(provider.offered()->info == info_at(300, 5));
    // The replaced snapshot is not served any more.
    CHECK(fetch_items(provider, context, at, item_range(1, 10)).items.empty());
  }
}

TEST_CASE("SnapshotProvider: log-replay requests are served by the embedded provider",
          "[snapshot][snapshot_provider]") {
  FakeContext context;
  context.fill(50, 30);
  const auto config = config_with(10);
  Provider provider(config, context);
  REQUIRE_FALSE(provider.offer(image_at(20, 5), std::nullopt));

  CHECK(answer<AvailabilityResponse>(provider, context, Message{AvailabilityRequest{}}) ==
        AvailabilityResponse{r(1, 30)});

  // Capped by the replay batch size (5), entries as stored.
  auto entries = answer<Entries>(provider, context, Message{FetchEntriesRequest{r(11, 40)}});
  CHECK(entries.range == r(11, 15));
  REQUIRE(entries.entries.size() == 5);
  for (std::uint64_t i = 0; i < 5; ++i) {
    CHECK(entries.entries[i] == Entry<std::string>{term_for(11 + i), command_for(11 + i)});
  }
  // Nothing of the range held (beyond the commit index): echoed empty.
  entries = answer<Entries>(provider, context, Message{FetchEntriesRequest{r(31, 40)}}, other);
  CHECK(entries == Entries{r(31, 40), {}});

  // A pruned prefix is announced as such.
  context.storage.prune_prefix(Index{20});
  CHECK(answer<AvailabilityResponse>(provider, context, Message{AvailabilityRequest{}}) ==
        AvailabilityResponse{r(21, 30)});

  CHECK(provider.replay_counters().availability_requests == 2);
  CHECK(provider.replay_counters().fetch_requests == 2);
  CHECK(provider.replay_counters().entries_served == 5);
  CHECK(provider.replay_counters().empty_answers == 1);
  // None of it touches the snapshot side.
  CHECK(provider.counters().item_requests == 0);
  CHECK(provider.counters().queries == 0);
  CHECK(provider.counters().ignored_messages == 0);
}

TEST_CASE("SnapshotProvider: responses sent to a provider are ignored and counted",
          "[snapshot][snapshot_provider]") {
  FakeContext context;
  context.fill(20, 20);
  const auto config = config_with(10);
  Provider provider(config, context);
  REQUIRE_FALSE(provider.offer(image_at(20, 5), std::nullopt));
  context.sent.clear();

  context.deliver(provider, asker, Message{AvailabilityResponse{r(1, 5)}});
  context.deliver(provider, asker, Message{Entries{r(1, 1), {Entry<std::string>{Term{1}, "x"}}}});
  context.deliver(provider, asker, Message{SnapshotOffer{info_at(20, 5)}});
  context.deliver(provider, asker, Message{SnapshotOffer{std::nullopt}});
  context.deliver(provider, asker, Message{Items{info_at(20, 5).at, item_range(1, 1), {record_for(1)}}});
  CHECK(context.sent.empty());
  CHECK(context.snapshot_requests.empty());
  CHECK(provider.counters().ignored_messages == 5);
  CHECK(provider.replay_counters().ignored_messages == 0);
  // The snapshot held is unchanged by an offer sent to it.
  REQUIRE(provider.offered());
  CHECK(provider.offered()->info == info_at(20, 5));
  CHECK(provider.offered()->items->size() == 5);
}
