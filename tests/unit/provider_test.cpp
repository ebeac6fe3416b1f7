// Unit tests of LogReplayProvider, the serving side of log-replay catch-up,
// through a small fake SyncProviderContext.

#include <catch2/catch.hpp>

#include "../support/decode_encoded.hpp"
#include "fake_provider_context.hpp"
#include "reference_history.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/log_replay/log_replay_message_codec.hpp>
#include <mosaik/sync/log_replay/log_replay_provider.hpp>
#include <mosaik/sync/log_replay/log_replay_sync.hpp>

using namespace mosaik;
using namespace mosaik::sync;

namespace {

using Message = LogReplayMessage<std::string>;
using Response = FetchEntriesResponse<std::string>;

using mosaik::test::command_for;
using mosaik::test::r;
using mosaik::test::term_for;

class FakeProviderContext final
    : public mosaik::test::FakeLogContext<SyncProviderContext<std::string>, Message> {
public:
  std::optional<Index> limit; // serve_limit(); nullopt: the default (the commit index)
  bool on_a_wire = false;     // answers_go_on_a_wire()

  [[nodiscard]] bool answers_go_on_a_wire() const override { return on_a_wire; }

  [[nodiscard]] Index serve_limit() const override {
    return limit ? *limit : SyncProviderContext::serve_limit();
  }
};

const PeerId asker{42};

/// The one FetchEntriesResponse the provider sent for `request`.
Response fetch_range(LogReplayProvider<std::string>& provider, FakeProviderContext& context,
                     IndexRange request) {
  context.sent.clear();
  context.deliver(provider, asker, Message{FetchEntriesRequest{request}});
  REQUIRE(context.sent.size() == 1);
  CHECK(context.sent[0].first == asker);
  const auto* response = std::get_if<Response>(&context.sent[0].second);
  REQUIRE(response != nullptr);
  return *response;
}

/// The response holds exactly the entries of its range, in order, as stored.
void check_entries_match(const Response& response) {
  REQUIRE(response.entries.size() == response.range.size());
  for (std::uint64_t i = 0; i < response.entries.size(); ++i) {
    const auto index = response.range.first().value() + i;
    CHECK(response.entries[i].command == command_for(index));
    CHECK(response.entries[i].term == term_for(index));
  }
}

/// Fetches `request` and checks that the answer covers `served`, with the entries as stored.
void check_serves(LogReplayProvider<std::string>& provider, FakeProviderContext& context, IndexRange request,
                  IndexRange served) {
  const auto response = fetch_range(provider, context, request);
  CHECK(response.range == served);
  check_entries_match(response);
}

LogReplayConfig config_with(std::uint64_t batch, std::size_t max_bytes = std::size_t{4} << 20) {
  LogReplayConfig config;
  config.batch_size = batch;
  config.max_response_bytes = max_bytes;
  return config;
}

} // namespace

TEST_CASE("LogReplayProvider: availability is first held ..= min(last, commit)", "[provider]") {
  FakeProviderContext context;
  const auto config = config_with(10);
  LogReplayProvider<std::string> provider(config, context);

  CHECK(provider.availability().empty()); // nothing held

  context.fill(50, 30);
  CHECK(provider.availability() == r(1, 30));
  context.commit = Index{50};
  CHECK(provider.availability() == r(1, 50));
  context.commit = Index{80}; // commit beyond what is held (entries not yet stored)
  CHECK(provider.availability() == r(1, 50));
  context.commit = Index{0};
  CHECK(provider.availability().empty());

  context.commit = Index{40};
  context.storage.prune_prefix(Index{10});
  CHECK(provider.availability() == r(11, 40));
  context.commit = Index{5}; // commit behind the first entry held
  CHECK(provider.availability().empty());

  SECTION("answered to an AvailabilityRequest") {
    context.commit = Index{40};
    context.deliver(provider, asker, Message{AvailabilityRequest{}});
    REQUIRE(context.sent.size() == 1);
    CHECK(context.sent[0].first == asker);
    REQUIRE(std::holds_alternative<AvailabilityResponse>(context.sent[0].second));
    CHECK(std::get<AvailabilityResponse>(context.sent[0].second).available == r(11, 40));
    CHECK(provider.counters().availability_requests == 1);
  }
  SECTION("an empty log answers an empty range") {
    FakeProviderContext empty_context;
    LogReplayProvider<std::string> empty_provider(config, empty_context);
    empty_context.deliver(empty_provider, asker, Message{AvailabilityRequest{}});
    REQUIRE(empty_context.sent.size() == 1);
    CHECK(std::get<AvailabilityResponse>(empty_context.sent[0].second).available.empty());
  }
}

TEST_CASE("LogReplayProvider: an empty request gets no answer", "[provider]") {
  FakeProviderContext context;
  context.fill(50, 50);
  LogReplayProvider<std::string> provider(config_with(10), context);
  context.deliver(provider, asker, Message{FetchEntriesRequest{IndexRange{}}});
  context.deliver(provider, asker, Message{FetchEntriesRequest{r(20, 10)}});
  CHECK(context.sent.empty());
  CHECK(provider.counters().fetch_requests == 2);
  CHECK(provider.counters().entries_served == 0);
}

TEST_CASE("LogReplayProvider: the requested range is really returned", "[provider]") {
  FakeProviderContext context;
  context.fill(100, 100);
  LogReplayProvider<std::string> provider(config_with(2000), context);

  auto response = fetch_range(provider, context, r(17, 42));
  CHECK(response.range == r(17, 42));
  check_entries_match(response);

  response = fetch_range(provider, context, r(100, 100));
  CHECK(response.range == r(100, 100));
  check_entries_match(response);

  response = fetch_range(provider, context, r(1, 1));
  CHECK(response.range == r(1, 1));
  check_entries_match(response);

  CHECK(provider.counters().entries_served == 26 + 1 + 1);
  CHECK(provider.counters().fetch_requests == 3);
}

TEST_CASE("LogReplayProvider: a fetch is capped to batch_size from its start", "[provider]") {
  FakeProviderContext context;
  context.fill(100, 100);
  LogReplayProvider<std::string> provider(config_with(10), context);

  auto response = fetch_range(provider, context, r(5, 60));
  CHECK(response.range == r(5, 14));
  check_entries_match(response);

  response = fetch_range(provider, context, r(95, 200)); // also beyond the end
  CHECK(response.range == r(95, 100));
  check_entries_match(response);
}

TEST_CASE("LogReplayProvider: a fetch is capped to max_response_bytes, at least one entry", "[provider]") {
  FakeProviderContext context;
  context.fill(100, 100); // "command-10" .. "command-99": 10 bytes each
  SECTION("a few entries fit") {
    LogReplayProvider<std::string> provider(config_with(50, 35), context);
    const auto response = fetch_range(provider, context, r(10, 40));
    CHECK(response.range == r(10, 12));
    check_entries_match(response);
  }
  SECTION("exactly at the budget") {
    LogReplayProvider<std::string> provider(config_with(50, 40), context);
    const auto response = fetch_range(provider, context, r(10, 40));
    CHECK(response.range == r(10, 13));
    check_entries_match(response);
  }
  SECTION("not even one entry fits: one entry is sent anyway") {
    LogReplayProvider<std::string> provider(config_with(50, 1), context);
    const auto response = fetch_range(provider, context, r(10, 40));
    CHECK(response.range == r(10, 10));
    check_entries_match(response);
  }
}

TEST_CASE("LogReplayProvider: a pruned prefix gives a later start", "[provider]") {
  FakeProviderContext context;
  context.fill(100, 100);
  context.storage.prune_prefix(Index{20});

  SECTION("the whole request fits the batch") {
    LogReplayProvider<std::string> provider(config_with(2000), context);
    const auto response = fetch_range(provider, context, r(1, 30));
    CHECK(response.range == r(21, 30));
    check_entries_match(response);
  }
  SECTION("the batch cap applies from the request's start") {
    LogReplayProvider<std::string> provider(config_with(25), context);
    const auto response = fetch_range(provider, context, r(1, 60));
    CHECK(response.range == r(21, 25));
    check_entries_match(response);
  }
}

TEST_CASE("LogReplayProvider: nothing held echoes the requested range with no entries", "[provider]") {
  FakeProviderContext context;
  context.fill(100, 100);
  context.storage.prune_prefix(Index{50});
  LogReplayProvider<std::string> provider(config_with(10), context);

  auto response = fetch_range(provider, context, r(1, 10)); // pruned
  CHECK(response.range == r(1, 10));
  CHECK(response.entries.empty());

  response = fetch_range(provider, context, r(101, 110)); // beyond the end
  CHECK(response.range == r(101, 110));
  CHECK(response.entries.empty());

  FakeProviderContext empty_context;
  LogReplayProvider<std::string> empty_provider(config_with(10), empty_context);
  response = fetch_range(empty_provider, empty_context, r(3, 7));
  CHECK(response.range == r(3, 7));
  CHECK(response.entries.empty());

  CHECK(provider.counters().empty_answers == 2);
  CHECK(empty_provider.counters().empty_answers == 1);
  CHECK(provider.counters().entries_served == 0);
}

TEST_CASE("LogReplayProvider: uncommitted entries are never served", "[provider]") {
  FakeProviderContext context;
  context.fill(100, 30);
  LogReplayProvider<std::string> provider(config_with(50), context);

  auto response = fetch_range(provider, context, r(20, 45));
  CHECK(response.range == r(20, 30));
  check_entries_match(response);

  response = fetch_range(provider, context, r(31, 40));
  CHECK(response.range == r(31, 40));
  CHECK(response.entries.empty());

  context.commit = Index{35};
  response = fetch_range(provider, context, r(31, 40));
  CHECK(response.range == r(31, 35));
  check_entries_match(response);

  context.commit = Index{0};
  response = fetch_range(provider, context, r(1, 10));
  CHECK(response.entries.empty());
}

TEST_CASE("LogReplayProvider: a serve limit above the commit index serves fetches beyond it, announcements "
          "stay committed",
          "[provider]") {
  // The group runtime's leader: it serves its uncommitted tail to the sessions that follow it.
  FakeProviderContext context;
  context.fill(100, 30);
  context.limit = Index{80};
  LogReplayProvider<std::string> provider(config_with(50), context);

  CHECK(provider.availability() == r(1, 30));
  CHECK(provider.servable() == r(1, 80));
  context.deliver(provider, asker, Message{AvailabilityRequest{}});
  REQUIRE(context.sent.size() == 1);
  CHECK(std::get<AvailabilityResponse>(context.sent[0].second).available == r(1, 30));

  check_serves(provider, context, r(20, 60), r(20, 60));  // across the commit index
  check_serves(provider, context, r(31, 200), r(31, 80)); // capped by the batch, then by the limit

  const auto beyond = fetch_range(provider, context, r(81, 90)); // beyond the limit: nothing
  CHECK(beyond.range == r(81, 90));
  CHECK(beyond.entries.empty());
  CHECK(provider.counters().empty_answers == 1);

  SECTION("a limit beyond the last entry serves up to the last entry") {
    context.limit = Index{500};
    CHECK(provider.availability() == r(1, 30));
    check_serves(provider, context, r(95, 120), r(95, 100));
  }
  SECTION("a limit below the commit index never hides committed entries") {
    context.limit = Index{10};
    CHECK(provider.servable() == r(1, 30));
    check_serves(provider, context, r(1, 40), r(1, 30));
  }
  SECTION("a pruned prefix still gives a later start") {
    context.storage.prune_prefix(Index{40});
    CHECK(provider.availability().empty()); // everything committed is pruned
    check_serves(provider, context, r(31, 60), r(41, 60));
  }
}

TEST_CASE("LogReplayProvider: responses are not answered", "[provider]") {
  FakeProviderContext context;
  context.fill(10, 10);
  LogReplayProvider<std::string> provider(config_with(10), context);
  context.deliver(provider, asker, Message{AvailabilityResponse{r(1, 5)}});
  context.deliver(provider, asker, Message{Response{r(1, 1), {Entry<std::string>{Term{1}, "x"}}}});
  CHECK(context.sent.empty());
  CHECK(provider.counters().ignored_messages == 2);
  CHECK_FALSE(provider.prune_bound().has_value());
  provider.on_commit(Index{10});
  CHECK(context.sent.empty());
}

TEST_CASE("LogReplaySync: signature and factory", "[provider]") {
  struct Machine {
    using Command = std::string;
    void apply(const Command&) {}
    [[nodiscard]] std::string signature() const { return "machine"; }
  };
  LogReplayConfig config;
  config.batch_size = 123;
  const LogReplaySync<Machine> strategy(config);
  CHECK(strategy.signature() == config.signature());
  CHECK(strategy.signature().find("batch=123") != std::string::npos);
  LogReplayConfig other = config;
  other.fetch_timeout = std::chrono::seconds{3};
  CHECK(other.signature() != config.signature());

  FakeProviderContext context;
  context.fill(20, 20);
  auto provider = strategy.create_provider(context);
  REQUIRE(provider != nullptr);
  CHECK(provider->availability() == r(1, 20));
}

TEST_CASE("LogReplayProvider: on a wire it answers with entries encoded from its log: the same entries, "
          "the same bytes",
          "[provider]") {
  struct Limits {
    std::uint64_t batch;
    std::size_t bytes;
  };
  for (const auto limits : {Limits{2000, std::size_t{4} << 20}, Limits{10, std::size_t{4} << 20},
                            Limits{50, 35}, Limits{50, 1}}) {
    INFO("batch " << limits.batch << ", bytes " << limits.bytes);
    FakeProviderContext decoded_context;
    FakeProviderContext wire_context;
    wire_context.on_a_wire = true;
    for (auto* context : {&decoded_context, &wire_context}) {
      context->fill(100, 90);
      context->limit = Index{95};
    }
    LogReplayProvider<std::string> decoding(config_with(limits.batch, limits.bytes), decoded_context);
    LogReplayProvider<std::string> encoding(config_with(limits.batch, limits.bytes), wire_context);
    for (const auto request : {r(17, 42), r(1, 1), r(95, 200), r(10, 40), r(91, 99), r(200, 300)}) {
      INFO("request " << request.first().value() << "..=" << request.last().value());
      const auto expected = fetch_range(decoding, decoded_context, request);
      const auto sent = fetch_range(encoding, wire_context, request);
      CHECK(sent.entries.empty());
      CHECK(sent.range == expected.range);
      CHECK(sent.encoded.count == expected.entries.size());
      CHECK(test::decode_encoded<std::string>(sent.encoded) == expected.entries);
      CHECK(wire::to_bytes(sent) == wire::to_bytes(expected));
      CHECK(wire::measure(sent) == wire::to_bytes(expected).size());
    }
    CHECK(encoding.counters().entries_served == decoding.counters().entries_served);
    CHECK(encoding.counters().empty_answers == decoding.counters().empty_answers);
  }
}
