// Hostile input against a live group over TCP: a three-member Group<Counter>
// on loopback keeps serving while a raw socket attacks member 1 with garbage,
// silence, malformed headers, oversized lengths, truncated frames, unknown
// kinds, undecodable bodies, random streams and a flood of connections. After
// every attack: (a) the node closed the offending connection (our socket reads
// EOF or an error within a few seconds), (b) the counter for it went up, and
// (c) the group still works: an execute through member 1 succeeds and the
// three members converge.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "tcp_cluster.hpp"

using namespace mosaik;
using namespace mosaik::nettest;

namespace {

constexpr PeerId target{1};
constexpr PeerId intruder{99}; ///< holds the key, is no member

/// What the attacker saw.
struct Outcome {
  bool authenticated = false; ///< the handshake succeeded (when one was attempted)
  bool sent = false;          ///< every payload was written (the node may close before)
  bool closed = false;        ///< the node closed the connection within the limit
  std::string why;            ///< what went wrong, for the report
};

wire::Bytes random_bytes(std::mt19937_64& random, std::size_t size) {
  wire::Bytes out(size);
  for (auto& byte : out) {
    byte = static_cast<std::byte>(random() & 0xff);
  }
  return out;
}

/// A three-member counter group; member 1 is the target (its mesh options
/// adjusted by `tweak`).
class Hostile {
public:
  explicit Hostile(std::function<void(tcp::MeshOptions&)> tweak = {})
      : cluster([tweak = std::move(tweak)](PeerId id, tcp::MeshOptions& options) {
          if (id == target && tweak) {
            tweak(options);
          }
        }) {
    cluster.start_all(voters);
    cluster.elect(voters);
    REQUIRE(cluster.run_until(
        [&] {
          for (const auto id : voters) {
            if (cluster.member(id).transport.bonded_peers().size() != 2) {
              return false;
            }
          }
          return true;
        },
        10s));
    serves();
    baseline_open = stats().connections_open;
    CHECK(baseline_open == 2);
  }

  TcpCluster cluster;
  std::vector<PeerId> voters = peers(3);
  std::int64_t executed = 0;
  std::uint64_t baseline_open = 0;

  [[nodiscard]] std::uint16_t port() { return cluster.member(target).port(); }
  [[nodiscard]] GroupId group() { return cluster.member(target).mesh().group(); }
  [[nodiscard]] tcp::MeshStats stats() { return cluster.member(target).stats(); }
  [[nodiscard]] std::uint64_t refused_messages() {
    return cluster.member(target).transport.refused_messages();
  }
  [[nodiscard]] const wire::DecodeLimits& limits() { return cluster.member(target).mesh().limits(); }

  /// (c): an execute through member 1 succeeds (retried only when it was
  /// refused for want of a leader, i.e. not appended), and the three converge.
  void serves() {
    for (int attempt = 0;; ++attempt) {
      cluster.elect(voters);
      auto operation = cluster[target].execute(Counter::Command{1});
      const auto result = cluster.await(std::move(operation), 20s);
      INFO("execute through member 1 (attempt " << attempt + 1 << "): " << describe(result));
      REQUIRE(result.has_value());
      if (!result->ok() && attempt < 3 &&
          (result->error().code == group::Errc::offline || result->error().code == group::Errc::not_leader)) {
        continue;
      }
      REQUIRE(result->ok());
      break;
    }
    ++executed;
    const bool converged = cluster.run_until(
        [&] { return cluster.converged(voters) && cluster[target].machine().value() == executed; }, 20s);
    INFO("member 1 holds " << cluster[target].machine().value() << ", expected " << executed);
    REQUIRE(converged);
  }

  /// (a) and the connection count: the node closed it, and forgot it.
  void closed(const Outcome& outcome) {
    INFO(outcome.why);
    CHECK(outcome.closed);
    CHECK(cluster.run_until([&] { return stats().connections_open == baseline_open; }, 10s));
  }

  /// Connects, sends `payloads` as they are (no handshake), half-closes when
  /// asked, and waits for the node to close the connection.
  Outcome raw(std::vector<wire::Bytes> payloads, bool half_close = false) {
    return attack(std::move(payloads), std::nullopt, half_close);
  }

  /// Connects, completes the handshake as peer 99 (or a client), sends
  /// `payloads`, half-closes when asked, and waits for the node to close.
  Outcome authenticated(std::vector<wire::Bytes> payloads, bool client = false, bool half_close = false) {
    return attack(std::move(payloads), client, half_close);
  }

  /// The two above: `handshake_as_client` empty sends without a handshake.
  Outcome attack(std::vector<wire::Bytes> payloads, std::optional<bool> handshake_as_client,
                 bool half_close) {
    return cluster.in_thread(
        [port = port(), key = test_key(), payloads = std::move(payloads), handshake_as_client, half_close] {
          Outcome out;
          RawPeer peer(port);
          if (!peer.connected()) {
            out.why = "cannot connect: " + peer.error();
            return out;
          }
          if (handshake_as_client) {
            const auto hello = peer.handshake(key, intruder, *handshake_as_client, out.why);
            out.authenticated = hello.has_value();
            if (!out.authenticated) {
              return out;
            }
          }
          out.sent = true;
          for (const auto& payload : payloads) {
            out.sent = out.sent && peer.send(payload);
          }
          if (half_close) {
            peer.shutdown_write();
          }
          out.closed = peer.closed_within(5s);
          if (!out.closed) {
            out.why = "the node kept the connection open";
          }
          return out;
        });
  }

  /// An authenticated attack whose frame the node must refuse: (a), (b) frames_rejected, (c).
  void expect_rejected(std::vector<wire::Bytes> payloads, bool client = false) {
    const auto before = stats().frames_rejected;
    const auto outcome = authenticated(std::move(payloads), client);
    INFO(outcome.why);
    REQUIRE(outcome.authenticated);
    closed(outcome);
    CHECK(stats().frames_rejected > before);
    serves();
  }

  /// A frame whose body the transport must fail to decode: also refused_messages.
  void expect_undecodable(std::uint8_t kind, const wire::Bytes& body) {
    wire::FrameHeader header;
    header.length = static_cast<std::uint32_t>(body.size());
    header.kind = kind;
    header.group = group();
    REQUIRE_FALSE(Codec::decode(header, body, group(), limits())); // the attack's premise
    const auto refused = refused_messages();
    expect_rejected({raw_frame(kind, group(), body)});
    CHECK(refused_messages() > refused);
  }

  /// An unauthenticated attack: (a), (b) handshakes_refused, (c).
  void expect_refused_handshake(std::vector<wire::Bytes> payloads, bool half_close = false) {
    const auto before = stats();
    closed(raw(std::move(payloads), half_close));
    CHECK(cluster.run_until([&] { return stats().handshakes_refused > before.handshakes_refused; }, 10s));
    CHECK(stats().handshakes_completed == before.handshakes_completed);
    serves();
  }
};

/// Every alternative of a message variant, default-constructed.
template <class Variant, std::size_t... I>
std::vector<Variant> alternatives(std::index_sequence<I...>) {
  return {Variant{std::in_place_index<I>}...};
}
template <class Variant>
std::vector<Variant> all_alternatives() {
  return alternatives<Variant>(std::make_index_sequence<std::variant_size_v<Variant>>{});
}

} // namespace

// ---- before the handshake ---------------------------------------------------------------------------

TEST_CASE("hostile: garbage instead of a hello is refused", "[hostile]") {
  Hostile h;
  const auto group = h.group();

  {
    INFO("an HTTP request");
    h.expect_refused_handshake({bytes_of("GET / HTTP/1.1\r\nHost: mosaik\r\n\r\n")});
  }
  {
    INFO("random bytes");
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
      INFO("seed " << seed);
      std::mt19937_64 random(seed);
      h.expect_refused_handshake({random_bytes(random, 64 + seed * 100)});
    }
  }
  {
    INFO("zeros");
    h.expect_refused_handshake({wire::Bytes(64)});
  }
  {
    INFO("a proof before the hello");
    h.expect_refused_handshake({raw_frame(wire::kind::proof, group, wire::Bytes(tcp::proof_bytes))});
  }
  {
    INFO("a hello of the wrong size");
    h.expect_refused_handshake({raw_frame(wire::kind::hello, group, wire::Bytes(10))});
  }
  {
    INFO("a hello longer than any hello, refused unread");
    // Only the header: the node must not wait for the 1000 bytes it announces.
    h.expect_refused_handshake(
        {raw_frame(wire::kind::hello, group, {}, 0, wire::protocol_version, 0, std::uint32_t{1000})});
  }
  {
    INFO("a hello from another group");
    tcp::Hello hello;
    hello.group = GroupId{group.value() ^ 1};
    hello.peer = intruder;
    const auto encoded = tcp::encode(hello);
    h.expect_refused_handshake({raw_frame(wire::kind::hello, hello.group, encoded)});
  }
  {
    INFO("a hello claiming the node's own id");
    tcp::Hello hello;
    hello.group = group;
    hello.peer = target;
    hello.nonce = tcp::fresh_nonce();
    const auto encoded = tcp::encode(hello);
    h.expect_refused_handshake({raw_frame(wire::kind::hello, group, encoded)});
  }
  {
    INFO("a hello, then a forged proof");
    tcp::Hello hello;
    hello.group = group;
    hello.peer = intruder;
    hello.nonce = tcp::fresh_nonce();
    const auto encoded = tcp::encode(hello);
    h.expect_refused_handshake({raw_frame(wire::kind::hello, group, encoded),
                                raw_frame(wire::kind::proof, group, wire::Bytes(tcp::proof_bytes))});
  }
}

TEST_CASE("hostile: a client that says nothing is closed after the handshake timeout", "[hostile]") {
  Hostile h([](tcp::MeshOptions& options) { options.handshake_timeout = 300ms; });
  const auto group = h.group();
  {
    INFO("silence");
    h.expect_refused_handshake({});
  }
  {
    INFO("half a hello, then silence");
    auto frame = raw_frame(wire::kind::hello, group, wire::Bytes(tcp::hello_bytes));
    frame.resize(wire::frame_header_bytes + 10);
    h.expect_refused_handshake({frame});
  }
}

// ---- malformed frames after the handshake -------------------------------------------------------------

TEST_CASE("hostile: an authenticated peer that stays silent is kept (the control)", "[hostile]") {
  // The control for (a): an authenticated peer that sends nothing is kept.
  Hostile h;
  const auto outcome = h.cluster.in_thread([port = h.port(), key = test_key()] {
    Outcome out;
    RawPeer peer(port);
    out.authenticated = peer.handshake(key, intruder, false, out.why).has_value();
    out.closed = peer.closed_within(1s);
    return out;
  });
  INFO(outcome.why);
  REQUIRE(outcome.authenticated);
  CHECK_FALSE(outcome.closed);
  h.serves();
}

TEST_CASE("hostile: malformed frame headers after the handshake close the connection", "[hostile]") {
  Hostile h;
  const auto group = h.group();
  const auto body = bytes_of("body");
  for (const std::uint8_t version : {0, 2, 255}) {
    INFO("version " << int{version});
    h.expect_rejected({raw_frame(wire::kind::consensus_base, group, body, 0, version)});
  }
  for (const std::uint8_t reserved : {1, 0x80}) {
    INFO("reserved byte " << int{reserved});
    h.expect_rejected(
        {raw_frame(wire::kind::consensus_base, group, body, 0, wire::protocol_version, reserved)});
  }
  for (const std::uint8_t flags : {4, 0x80, 0xff}) {
    INFO("flags " << int{flags});
    h.expect_rejected({raw_frame(wire::kind::consensus_base, group, body, flags)});
  }
  {
    INFO("another group's frame");
    h.expect_rejected({raw_frame(wire::kind::consensus_base, GroupId{group.value() + 1}, body)});
  }
}

TEST_CASE("hostile: a length above max_frame_bytes is refused before its body is read", "[hostile]") {
  constexpr std::size_t max_frame = 1u << 20;
  Hostile h([](tcp::MeshOptions& options) { options.limits.max_frame_bytes = max_frame; });
  const auto group = h.group();
  // Only the headers are sent: a node that waited for the body would never close.
  for (const std::uint32_t length : {std::uint32_t{max_frame + 1}, std::uint32_t{0xffff'ffff}}) {
    INFO("length " << length);
    h.expect_rejected(
        {raw_frame(wire::kind::sync_base + 3, group, {}, 0, wire::protocol_version, 0, length)});
  }
  {
    INFO("fragments adding up to more than max_frame_bytes");
    const wire::Bytes part(600u << 10);
    h.expect_rejected({raw_frame(wire::kind::sync_base + 3, group, part, wire::flag::more),
                       raw_frame(wire::kind::sync_base + 3, group, {}, wire::flag::more,
                                 wire::protocol_version, 0, static_cast<std::uint32_t>(part.size()))});
  }
}

TEST_CASE("hostile: a truncated frame and a half-close drop the connection", "[hostile]") {
  Hostile h;
  const auto group = h.group();
  {
    INFO("after the handshake");
    auto frame = raw_frame(wire::kind::consensus_base, group, wire::Bytes(100));
    frame.resize(wire::frame_header_bytes + 10);
    const auto outcome = h.authenticated({frame}, false, true);
    INFO(outcome.why);
    REQUIRE(outcome.authenticated);
    h.closed(outcome);
    CHECK(h.cluster.run_until([&] { return h.cluster.member(target).transport.bonded_peers().size() == 2; },
                              10s));
    h.serves();
  }
  {
    INFO("a header cut short after the handshake");
    auto frame = raw_frame(wire::kind::consensus_base, group, wire::Bytes(100));
    frame.resize(7);
    const auto outcome = h.authenticated({frame}, false, true);
    INFO(outcome.why);
    REQUIRE(outcome.authenticated);
    h.closed(outcome);
    h.serves();
  }
  {
    INFO("during the handshake");
    auto frame = raw_frame(wire::kind::hello, group, wire::Bytes(tcp::hello_bytes));
    frame.resize(wire::frame_header_bytes + 10);
    h.closed(h.raw({frame}, true));
    h.serves();
  }
}

TEST_CASE("hostile: unknown kinds and handshake kinds after the handshake close the connection",
          "[hostile]") {
  Hostile h;
  const auto group = h.group();
  const auto body = bytes_of("what is this?");
  for (const std::uint8_t kind : {0, 70, 255, 80, 81}) {
    INFO("kind " << int{kind});
    h.expect_rejected({raw_frame(kind, group, body)});
  }
  // Within the consensus and catch-up ranges, past their last message: the
  // mesh passes them up, the transport refuses them.
  for (const std::uint8_t kind :
       {std::uint8_t{9}, std::uint8_t{40},
        static_cast<std::uint8_t>(wire::kind::consensus_base +
                                  std::variant_size_v<group::ConsensusMessage<Counter::Command>>),
        static_cast<std::uint8_t>(wire::kind::sync_base + std::variant_size_v<CounterGroup::SyncMessage>),
        std::uint8_t{63}}) {
    INFO("kind " << int{kind});
    h.expect_undecodable(kind, body);
  }
  // The handshake's frames, once it is over.
  tcp::Hello hello;
  hello.group = group;
  hello.peer = intruder;
  hello.nonce = tcp::fresh_nonce();
  {
    INFO("a second hello");
    h.expect_rejected({raw_frame(wire::kind::hello, group, tcp::encode(hello))});
  }
  {
    INFO("a second proof");
    h.expect_rejected({raw_frame(wire::kind::proof, group, wire::Bytes(tcp::proof_bytes))});
  }
}

TEST_CASE("hostile: undecodable bodies of every consensus and catch-up kind close the connection",
          "[hostile]") {
  Hostile h;
  const auto group = h.group();
  using Consensus = group::ConsensusMessage<Counter::Command>;
  using Sync = CounterGroup::SyncMessage;

  std::vector<std::pair<std::uint8_t, wire::Bytes>> encoded; // each message's kind and valid body
  for (auto& message : all_alternatives<Consensus>()) {
    const CounterGroup::Message whole{group, std::move(message)};
    auto bytes = Codec::encode(whole);
    encoded.emplace_back(Codec::kind_of(whole),
                         wire::Bytes(bytes.begin() + wire::frame_header_bytes, bytes.end()));
  }
  for (auto& message : all_alternatives<Sync>()) {
    const CounterGroup::Message whole{group, std::move(message)};
    auto bytes = Codec::encode(whole);
    encoded.emplace_back(Codec::kind_of(whole),
                         wire::Bytes(bytes.begin() + wire::frame_header_bytes, bytes.end()));
  }
  REQUIRE(encoded.size() == std::variant_size_v<Consensus> + std::variant_size_v<Sync>);

  for (const auto& [kind, valid] : encoded) {
    INFO("kind " << int{kind} << ", valid body of " << valid.size() << " bytes");
    {
      // Random bytes (fixed seed per kind); a body that happens to decode is skipped.
      std::mt19937_64 random(kind);
      wire::Bytes body;
      wire::FrameHeader header;
      header.kind = kind;
      header.group = group;
      do {
        body = random_bytes(random, 64);
        header.length = static_cast<std::uint32_t>(body.size());
      } while (Codec::decode(header, body, group, h.limits()));
      h.expect_undecodable(kind, body);
    }
    {
      if (!valid.empty()) {
        h.expect_undecodable(kind, wire::Bytes(valid.begin(), valid.end() - 1));
      }
      auto longer = valid;
      longer.push_back(std::byte{0});
      h.expect_undecodable(kind, longer);
    }
  }
}

TEST_CASE("hostile: random garbage streams close the connection", "[hostile]") {
  Hostile h;
  const auto group = h.group();
  for (std::uint64_t seed = 100; seed < 106; ++seed) {
    std::mt19937_64 random(seed);
    INFO("seed " << seed);
    {
      INFO("random bytes after the handshake");
      h.expect_rejected({random_bytes(random, 4096)});
    }
    {
      // Well-formed headers of random kinds and flags, random bodies, then
      // one frame no member takes (so every stream must end in a close).
      INFO("random frames after the handshake");
      std::vector<wire::Bytes> frames;
      for (int i = 0; i < 20; ++i) {
        const auto kind = static_cast<std::uint8_t>(random() % 64);
        const auto flags = static_cast<std::uint8_t>(random() % 2);
        frames.push_back(raw_frame(kind, group, random_bytes(random, random() % 300), flags));
      }
      frames.push_back(raw_frame(0, group, {}));
      h.expect_rejected(std::move(frames));
    }
  }
}

TEST_CASE("hostile: a client connection may only send whole client requests", "[hostile]") {
  Hostile h;
  const auto group = h.group();
  {
    INFO("a consensus kind from a client");
    h.expect_rejected({raw_frame(wire::kind::consensus_base, group, bytes_of("vote for me"))}, true);
  }
  {
    INFO("a fragmented client request");
    h.expect_rejected({raw_frame(wire::kind::client_request, group, bytes_of("part"), wire::flag::more)},
                      true);
  }
  {
    INFO("a response from a client");
    h.expect_rejected({raw_frame(wire::kind::client_response, group, bytes_of("?"))}, true);
  }
}

// ---- floods -------------------------------------------------------------------------------------------

TEST_CASE("hostile: 2000 connections and idle ones beyond max_pending_connections", "[hostile]") {
  constexpr std::size_t max_pending = 32;
  Hostile h([](tcp::MeshOptions& options) {
    options.max_pending_connections = max_pending;
    options.handshake_timeout = 500ms;
  });
  const auto resident_before = resident_bytes();
  const auto before = h.stats();
  const auto port = h.port();

  // Connections the node holds at once, sampled after every handler: its
  // peers, and never more than max_pending in their handshake.
  std::uint64_t most_open = 0;
  const auto sample = [&] { most_open = std::max(most_open, h.stats().connections_open); };

  // 2000 connections opened and closed at once.
  const auto failed_connects = h.cluster.in_thread(
      [port] {
        int failed = 0;
        for (int i = 0; i < 2000; ++i) {
          RawPeer peer(port);
          failed += peer.connected() ? 0 : 1;
        }
        return failed;
      },
      sample);
  INFO(failed_connects << " of 2000 connects failed");
  CHECK(h.cluster.run_until([&] { return h.stats().connections_open == h.baseline_open; }, 20s));
  h.serves();

  // Three batches of 100 connections that stay silent: the node takes
  // max_pending of them into the handshake (and drops them at its timeout),
  // and refuses the rest at once. Every one of them is closed by the node.
  for (int batch = 0; batch < 3; ++batch) {
    INFO("batch " << batch);
    const auto refused_before = h.stats().connections_refused;
    const auto closed = h.cluster.in_thread(
        [port] {
          std::vector<RawPeer> idle;
          for (int i = 0; i < 100; ++i) {
            idle.emplace_back(port);
          }
          int closed_by_node = 0;
          for (auto& peer : idle) {
            closed_by_node += peer.connected() && peer.closed_within(10s) ? 1 : 0;
          }
          return closed_by_node;
        },
        sample);
    CHECK(closed == 100);
    CHECK(h.stats().connections_refused > refused_before);
    CHECK(h.cluster.run_until([&] { return h.stats().connections_open == h.baseline_open; }, 20s));
    h.serves();
  }

  const auto after = h.stats();
  h.cluster.run_for(100ms);
  const auto resident_after = resident_bytes();
  INFO("at most " << most_open << " connections open at once; resident set " << resident_before / 1024
                  << " KiB -> " << resident_after / 1024 << " KiB; refused " << after.connections_refused
                  << " connections, " << after.handshakes_refused << " handshakes");
  CHECK(after.connections_refused > before.connections_refused);
  CHECK(after.handshakes_refused > before.handshakes_refused); // the silent ones, at the timeout
  CHECK(after.handshakes_completed == before.handshakes_completed);
  CHECK(after.connections_open == h.baseline_open);
  CHECK(most_open > h.baseline_open);
  CHECK(most_open <= h.baseline_open + max_pending);
  CHECK(h.cluster.member(target).transport.bonded_peers().size() == 2);
  REQUIRE(resident_before > 0);
  CHECK(resident_after < resident_before + (32u << 20));
}
