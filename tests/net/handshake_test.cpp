// Unit tests of the TCP transport's handshake (mosaik/net/tcp/handshake.hpp):
// frames, keys, proofs and the state machine, driven frame by frame as the
// transport would, with an attacker who records, replays, reflects and forges.

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <mosaik/net/tcp/handshake.hpp>

#include "temp_dir.hpp"

using namespace mosaik;
using namespace mosaik::tcp;

namespace Catch {
template <>
struct StringMaker<HandshakeError> {
  static std::string convert(HandshakeError error) { return to_string(error); }
};
} // namespace Catch

namespace {

constexpr GroupId group_a{0xa11ce};
constexpr GroupId group_b{0xb0b};

GroupKey key_from(std::string_view material) {
  return GroupKey::derive(std::as_bytes(std::span(material.data(), material.size())));
}

Handshake dialer(PeerId self, const GroupKey& key, GroupId group = group_a, bool client = false) {
  return Handshake(key, group, HandshakeRole::dialer, self, client);
}

Handshake acceptor(PeerId self, const GroupKey& key, GroupId group = group_a, bool client = false) {
  return Handshake(key, group, HandshakeRole::acceptor, self, client);
}

/// The proof on_hello returned; fails the test if it returned an error.
Mac proof_of(const std::variant<Mac, HandshakeError>& result) {
  if (const auto* error = std::get_if<HandshakeError>(&result)) {
    FAIL("on_hello refused the hello: " << to_string(*error));
  }
  return std::get<Mac>(result);
}

/// The error on_hello returned, or none when it gave a proof.
HandshakeError error_of(const std::variant<Mac, HandshakeError>& result) {
  const auto* error = std::get_if<HandshakeError>(&result);
  return error != nullptr ? *error : HandshakeError::none;
}

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (const int v : values) {
    out.push_back(static_cast<std::byte>(v));
  }
  return out;
}

/// Hello frame of `hello` as a vector, to truncate, extend or corrupt.
std::vector<std::byte> frame_of(const Hello& hello) {
  const auto frame = encode(hello);
  return {frame.begin(), frame.end()};
}

/// Both hellos cross, then both proofs; the errors each side reports on the other's proof.
struct Exchange {
  HandshakeError at_dialer;
  HandshakeError at_acceptor;
};

Exchange run(Handshake& d, Handshake& a) {
  const auto acceptors_proof = proof_of(a.on_hello(encode(d.hello())));
  const auto dialers_proof = proof_of(d.on_hello(encode(a.hello())));
  return {d.on_proof(acceptors_proof), a.on_proof(dialers_proof)};
}

} // namespace

TEST_CASE("handshake: a dialer and an acceptor with the same key authenticate each other") {
  const auto key = key_from("the orders group's shared secret");
  auto d = dialer(PeerId{1}, key);
  auto a = acceptor(PeerId{2}, key);
  CHECK_FALSE(d.done());
  CHECK_FALSE(a.done());
  CHECK(d.hello().nonce != a.hello().nonce);

  const auto exchange = run(d, a);
  CHECK(exchange.at_dialer == HandshakeError::none);
  CHECK(exchange.at_acceptor == HandshakeError::none);
  CHECK(d.done());
  CHECK(a.done());
  CHECK(d.peer() == PeerId{2});
  CHECK(a.peer() == PeerId{1});
  CHECK_FALSE(d.peer_is_client());
  CHECK_FALSE(a.peer_is_client());

  SECTION("the hellos may arrive in either order") {
    auto d2 = dialer(PeerId{1}, key);
    auto a2 = acceptor(PeerId{2}, key);
    const auto dialers_proof = proof_of(d2.on_hello(encode(a2.hello())));
    const auto acceptors_proof = proof_of(a2.on_hello(encode(d2.hello())));
    CHECK(a2.on_proof(dialers_proof) == HandshakeError::none);
    CHECK(d2.on_proof(acceptors_proof) == HandshakeError::none);
    CHECK(d2.done());
    CHECK(a2.done());
  }
  SECTION("a frame after success is out of order and does not undo it") {
    CHECK(error_of(d.on_hello(encode(a.hello()))) == HandshakeError::unexpected);
    CHECK(d.done());
  }
}

TEST_CASE("handshake: a peer with another key is refused by both sides") {
  auto d = dialer(PeerId{1}, key_from("the orders group's shared secret"));
  auto a = acceptor(PeerId{2}, key_from("a guess at the orders group's key"));

  const auto exchange = run(d, a);
  CHECK(exchange.at_dialer == HandshakeError::bad_proof);
  CHECK(exchange.at_acceptor == HandshakeError::bad_proof);
  CHECK_FALSE(d.done());
  CHECK_FALSE(a.done());
  CHECK(d.failed());
  CHECK(a.failed());
}

TEST_CASE("handshake: a hello from another group is refused") {
  const auto key = key_from("one key, two groups");
  auto d = dialer(PeerId{1}, key, group_a);
  auto a = acceptor(PeerId{2}, key, group_b);
  CHECK(error_of(a.on_hello(encode(d.hello()))) == HandshakeError::wrong_group);
  CHECK(error_of(d.on_hello(encode(a.hello()))) == HandshakeError::wrong_group);
  CHECK(a.failed());
  CHECK(d.failed());
}

TEST_CASE("handshake: a hello of another protocol version is refused") {
  const auto key = key_from("the orders group's shared secret");
  auto d = dialer(PeerId{1}, key);
  Hello future = d.hello();
  future.version = handshake_version + 1;

  SECTION("same layout") {
    auto a = acceptor(PeerId{2}, key);
    CHECK(error_of(a.on_hello(encode(future))) == HandshakeError::bad_version);
  }
  SECTION("a longer layout is still recognised as another version") {
    auto frame = frame_of(future);
    frame.resize(frame.size() + 16, std::byte{0x5a});
    auto a = acceptor(PeerId{2}, key);
    CHECK(error_of(a.on_hello(frame)) == HandshakeError::bad_version);
  }
  SECTION("version 0") {
    future.version = 0;
    auto a = acceptor(PeerId{2}, key);
    CHECK(error_of(a.on_hello(encode(future))) == HandshakeError::bad_version);
  }
}

TEST_CASE("handshake: a connection to self is refused") {
  const auto key = key_from("the orders group's shared secret");

  SECTION("a member dialling its own address: same id, different nonces") {
    auto d = dialer(PeerId{3}, key);
    auto a = acceptor(PeerId{3}, key);
    CHECK(error_of(a.on_hello(encode(d.hello()))) == HandshakeError::self_connection);
    CHECK(error_of(d.on_hello(encode(a.hello()))) == HandshakeError::self_connection);
  }
  SECTION("our own hello reflected back") {
    auto d = dialer(PeerId{3}, key);
    CHECK(error_of(d.on_hello(encode(d.hello()))) == HandshakeError::self_connection);
  }
  SECTION("our own nonce under another id") {
    auto d = dialer(PeerId{3}, key);
    Hello echo = d.hello();
    echo.peer = PeerId{4};
    CHECK(error_of(d.on_hello(encode(echo))) == HandshakeError::self_connection);
  }
  SECTION("a client may share a member's id") {
    auto d = dialer(PeerId{3}, key, group_a, /*client=*/true);
    auto a = acceptor(PeerId{3}, key);
    const auto exchange = run(d, a);
    CHECK(exchange.at_dialer == HandshakeError::none);
    CHECK(exchange.at_acceptor == HandshakeError::none);
  }
}

TEST_CASE("handshake: a proof before the hello is out of order") {
  const auto key = key_from("the orders group's shared secret");
  auto d = dialer(PeerId{1}, key);
  auto a = acceptor(PeerId{2}, key);
  const auto proof = prove(key, HandshakeRole::dialer, group_a, d.hello(), a.hello());

  CHECK(a.on_proof(proof) == HandshakeError::unexpected);
  CHECK(a.failed());
  SECTION("and the failure is final: the hello that follows is refused too") {
    CHECK(error_of(a.on_hello(encode(d.hello()))) == HandshakeError::unexpected);
    CHECK(a.on_proof(proof) == HandshakeError::unexpected);
    CHECK_FALSE(a.done());
  }
  SECTION("a second hello is out of order") {
    auto a2 = acceptor(PeerId{2}, key);
    (void)proof_of(a2.on_hello(encode(d.hello())));
    CHECK(error_of(a2.on_hello(encode(d.hello()))) == HandshakeError::unexpected);
  }
}

TEST_CASE("handshake: a proof replayed from an earlier session is refused") {
  const auto key = key_from("the orders group's shared secret");

  // An eavesdropper records the acceptor's hello and proof in a genuine session...
  auto d1 = dialer(PeerId{1}, key);
  auto a1 = acceptor(PeerId{2}, key);
  const auto recorded_hello = encode(a1.hello());
  const auto recorded_proof = proof_of(a1.on_hello(encode(d1.hello())));
  (void)proof_of(d1.on_hello(recorded_hello));
  REQUIRE(d1.on_proof(recorded_proof) == HandshakeError::none); // it was good then

  // ...and plays them to the same dialer's next session, posing as peer 2.
  auto d2 = dialer(PeerId{1}, key);
  REQUIRE(d2.hello().nonce != d1.hello().nonce);
  (void)proof_of(d2.on_hello(recorded_hello));
  CHECK(d2.on_proof(recorded_proof) == HandshakeError::bad_proof);
  CHECK_FALSE(d2.done());
}

TEST_CASE("handshake: a reflected proof is refused") {
  const auto key = key_from("the orders group's shared secret");
  auto d = dialer(PeerId{1}, key);
  auto a = acceptor(PeerId{2}, key);

  // A man in the middle without the key sends each side its own proof back.
  const auto dialers_proof = proof_of(d.on_hello(encode(a.hello())));
  const auto acceptors_proof = proof_of(a.on_hello(encode(d.hello())));
  CHECK(d.on_proof(dialers_proof) == HandshakeError::bad_proof);
  CHECK(a.on_proof(acceptors_proof) == HandshakeError::bad_proof);
}

TEST_CASE("handshake: a proof binds the role, the group, both ids, the client flag and both nonces") {
  const auto key = key_from("the orders group's shared secret");
  Hello prover{.version = handshake_version,
               .group = group_a,
               .peer = PeerId{1},
               .client = false,
               .nonce = fresh_nonce()};
  Hello verifier{.version = handshake_version,
                 .group = group_a,
                 .peer = PeerId{2},
                 .client = false,
                 .nonce = fresh_nonce()};
  const auto mac = prove(key, HandshakeRole::dialer, group_a, prover, verifier);
  REQUIRE(verify(key, mac, HandshakeRole::dialer, group_a, prover, verifier));
  CHECK(mac == prove(key, HandshakeRole::dialer, group_a, prover, verifier)); // deterministic

  CHECK_FALSE(
      verify(key_from("another key entirely"), mac, HandshakeRole::dialer, group_a, prover, verifier));
  CHECK_FALSE(verify(key, mac, HandshakeRole::acceptor, group_a, prover, verifier));
  CHECK_FALSE(verify(key, mac, HandshakeRole::dialer, group_b, prover, verifier));
  CHECK_FALSE(verify(key, mac, HandshakeRole::dialer, group_a, verifier, prover));

  auto changed = prover;
  changed.peer = PeerId{3};
  CHECK_FALSE(verify(key, mac, HandshakeRole::dialer, group_a, changed, verifier));
  changed = verifier;
  changed.peer = PeerId{3};
  CHECK_FALSE(verify(key, mac, HandshakeRole::dialer, group_a, prover, changed));
  changed = prover;
  changed.client = true;
  CHECK_FALSE(verify(key, mac, HandshakeRole::dialer, group_a, changed, verifier));
  changed = prover;
  changed.nonce[31] ^= std::byte{1};
  CHECK_FALSE(verify(key, mac, HandshakeRole::dialer, group_a, changed, verifier));
  changed = verifier;
  changed.nonce[0] ^= std::byte{0x80};
  CHECK_FALSE(verify(key, mac, HandshakeRole::dialer, group_a, prover, changed));

  auto forged = mac;
  forged[0] ^= std::byte{1};
  CHECK_FALSE(verify(key, forged, HandshakeRole::dialer, group_a, prover, verifier));
}

TEST_CASE("handshake: truncated, oversized and garbage frames are malformed") {
  const auto key = key_from("the orders group's shared secret");
  auto d = dialer(PeerId{1}, key);
  const auto good = frame_of(d.hello());
  const auto hello_error = [&](std::span<const std::byte> frame) {
    auto a = acceptor(PeerId{2}, key);
    return error_of(a.on_hello(frame));
  };

  SECTION("hellos") {
    CHECK(hello_error({}) == HandshakeError::malformed);
    CHECK(hello_error(bytes({handshake_version})) == HandshakeError::malformed);
    CHECK(hello_error(std::span(good).first(hello_bytes - 1)) == HandshakeError::malformed);
    auto longer = good;
    longer.push_back(std::byte{0});
    CHECK(hello_error(longer) == HandshakeError::malformed);
    auto client_two = good;
    client_two[1 + 8 + 8] = std::byte{2};
    CHECK(hello_error(client_two) == HandshakeError::malformed);
    CHECK(hello_error(good) == HandshakeError::none); // the control: only the damage is refused
  }
  SECTION("proofs") {
    const auto proof_error = [&](std::span<const std::byte> frame) {
      auto a = acceptor(PeerId{2}, key);
      (void)proof_of(a.on_hello(good));
      return a.on_proof(frame);
    };
    const Mac genuine = fresh_nonce(); // any 32 bytes: only the lengths matter here
    CHECK(proof_error({}) == HandshakeError::malformed);
    CHECK(proof_error(std::span(genuine).first(proof_bytes - 1)) == HandshakeError::malformed);
    std::vector<std::byte> longer(genuine.begin(), genuine.end());
    longer.push_back(std::byte{0});
    CHECK(proof_error(longer) == HandshakeError::malformed);
    CHECK(proof_error(good) == HandshakeError::malformed); // a hello where a proof belongs
    CHECK(proof_error(Mac{}) == HandshakeError::bad_proof);
  }
  SECTION("random bytes of random lengths never crash and are never accepted") {
    std::mt19937 random(20240601);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<std::size_t> length(0, 2 * hello_bytes);
    for (int round = 0; round < 2000; ++round) {
      std::vector<std::byte> frame(length(random));
      for (auto& b : frame) {
        b = static_cast<std::byte>(byte(random));
      }
      if (!frame.empty() && round % 2 == 0) {
        frame[0] = std::byte{handshake_version}; // get past the version check half of the time
      }
      auto a = acceptor(PeerId{2}, key);
      const auto result = a.on_hello(frame);
      if (std::holds_alternative<Mac>(result)) {
        // A well-formed hello by chance (right size, client byte 0 or 1, our group: not at random).
        FAIL("random hello accepted");
      }
      CHECK(a.on_proof(std::span(frame).first(std::min(frame.size(), proof_bytes))) ==
            HandshakeError::unexpected);

      auto b = acceptor(PeerId{2}, key);
      (void)proof_of(b.on_hello(good));
      const auto error = b.on_proof(frame);
      CHECK((error == HandshakeError::malformed || error == HandshakeError::bad_proof));
      CHECK_FALSE(b.done());
    }
  }
}

TEST_CASE("handshake: hello frames are fixed-width little-endian") {
  Hello hello{.version = handshake_version,
              .group = GroupId{0x0102030405060708ULL},
              .peer = PeerId{0x1112131415161718ULL},
              .client = true,
              .nonce = fresh_nonce()};
  const auto frame = encode(hello);
  STATIC_REQUIRE(hello_bytes == 50);
  CHECK(frame[0] == std::byte{handshake_version});
  CHECK(frame[1] == std::byte{0x08});
  CHECK(frame[8] == std::byte{0x01});
  CHECK(frame[9] == std::byte{0x18});
  CHECK(frame[16] == std::byte{0x11});
  CHECK(frame[17] == std::byte{1});
  CHECK(std::equal(hello.nonce.begin(), hello.nonce.end(), frame.begin() + 18));

  const auto decoded = decode_hello(frame);
  REQUIRE(decoded);
  CHECK(decoded->version == hello.version);
  CHECK(decoded->group == hello.group);
  CHECK(decoded->peer == hello.peer);
  CHECK(decoded->client);
  CHECK(decoded->nonce == hello.nonce);
}

TEST_CASE("handshake: the client flag travels and is bound to the proof") {
  const auto key = key_from("the orders group's shared secret");

  SECTION("a client dials a member") {
    auto d = dialer(PeerId{7}, key, group_a, /*client=*/true);
    auto a = acceptor(PeerId{1}, key);
    const auto exchange = run(d, a);
    CHECK(exchange.at_dialer == HandshakeError::none);
    CHECK(exchange.at_acceptor == HandshakeError::none);
    CHECK(a.peer_is_client());
    CHECK(a.peer() == PeerId{7});
    CHECK_FALSE(d.peer_is_client());
  }
  SECTION("a man in the middle passing a client off as a member is caught") {
    auto d = dialer(PeerId{7}, key, group_a, /*client=*/true);
    auto a = acceptor(PeerId{1}, key);
    auto tampered = frame_of(d.hello());
    tampered[1 + 8 + 8] = std::byte{0};
    (void)proof_of(a.on_hello(tampered));
    CHECK_FALSE(a.peer_is_client()); // claimed, not yet proven
    const auto dialers_proof = proof_of(d.on_hello(encode(a.hello())));
    CHECK(a.on_proof(dialers_proof) == HandshakeError::bad_proof);
    CHECK_FALSE(a.done());
  }
}

TEST_CASE("handshake: group keys from key files") {
  const support::TempDir dir{"mosaik-handshake-test"};
  std::string error;

  SECTION("a missing file") {
    const auto path = dir.path() / "absent.key";
    CHECK_FALSE(GroupKey::from_file(path, error));
    CHECK_THAT(error,
               Catch::Contains(path.string()) && Catch::Contains("no such file", Catch::CaseSensitive::No));
  }
  SECTION("an empty file") {
    const auto path = dir.write("empty.key", "");
    CHECK_FALSE(GroupKey::from_file(path, error));
    CHECK_THAT(error, Catch::Contains(path.string()) && Catch::Contains("empty"));
  }
  SECTION("a file shorter than 16 bytes") {
    const auto path = dir.write("short.key", "fifteen bytes!!");
    CHECK_FALSE(GroupKey::from_file(path, error));
    CHECK_THAT(error, Catch::Contains(path.string()) && Catch::Contains("15 bytes"));
  }
  SECTION("a directory") {
    CHECK_FALSE(GroupKey::from_file(dir.path(), error));
    CHECK_THAT(error, Catch::Contains("not a regular file"));
  }
  SECTION("the same file gives keys that verify each other; another file does not") {
    const auto path = dir.write("orders.key", std::string_view("sixteen bytes!!!\0and a NUL", 26));
    const auto first = GroupKey::from_file(path, error);
    const auto second = GroupKey::from_file(path, error);
    INFO(error);
    REQUIRE(first);
    REQUIRE(second);
    CHECK(error.empty());

    auto d = dialer(PeerId{1}, *first);
    auto a = acceptor(PeerId{2}, *second);
    const auto exchange = run(d, a);
    CHECK(exchange.at_dialer == HandshakeError::none);
    CHECK(exchange.at_acceptor == HandshakeError::none);

    // Material past the first NUL counts: the file's bytes are the key, not a C string.
    const auto other = GroupKey::from_file(dir.write("other.key", "sixteen bytes!!!"), error);
    REQUIRE(other);
    auto d2 = dialer(PeerId{1}, *first);
    auto a2 = acceptor(PeerId{2}, *other);
    const auto refused = run(d2, a2);
    CHECK(refused.at_dialer == HandshakeError::bad_proof);
    CHECK(refused.at_acceptor == HandshakeError::bad_proof);
  }
  SECTION("the key is the file's material derived, as GroupKey::derive gives it") {
    const std::string material = "exactly sixteen!";
    const auto from_file = GroupKey::from_file(dir.write("sixteen.key", material), error);
    REQUIRE(from_file);
    CHECK(from_file->bytes() == key_from(material).bytes());
    // Domain separation: the key is not the material itself.
    CHECK_FALSE(std::equal(material.begin(), material.end(), from_file->bytes().begin(),
                           [](char c, std::byte b) { return static_cast<std::byte>(c) == b; }));
  }
}

TEST_CASE("handshake: every error has a phrase") {
  CHECK(std::string_view(to_string(HandshakeError::malformed)) == "malformed handshake frame");
  CHECK(std::string_view(to_string(HandshakeError::bad_version)) == "unsupported protocol version");
  CHECK(std::string_view(to_string(HandshakeError::wrong_group)) == "peer belongs to another group");
  CHECK(std::string_view(to_string(HandshakeError::self_connection)) == "connection to self");
  CHECK(std::string_view(to_string(HandshakeError::bad_proof)) == "peer does not hold the group key");
  CHECK(std::string_view(to_string(HandshakeError::unexpected)) == "handshake message out of order");
}
