// The handshake's cryptography, through libsodium: BLAKE2b derives the group
// key, HMAC-SHA256 makes the proofs, crypto_verify_32 compares them in
// constant time. libsodium stays private to this file, so users of the
// header need none of it.

#include <mosaik/net/tcp/handshake.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <sodium.h>

namespace mosaik::tcp {
namespace {

constexpr std::string_view group_key_label = "mosaik/group-key/v1";
constexpr std::string_view proof_label = "mosaik/handshake/v1";

static_assert(GroupKey::size_bytes == crypto_auth_hmacsha256_KEYBYTES);
static_assert(std::tuple_size_v<Mac> == crypto_auth_hmacsha256_BYTES);
static_assert(std::tuple_size_v<Mac> == 32, "crypto_verify_32 compares 32 bytes");
static_assert(group_key_label.size() >= crypto_generichash_KEYBYTES_MIN &&
              group_key_label.size() <= crypto_generichash_KEYBYTES_MAX);

/// sodium_init once per process (thread-safe through the static's initialisation).
void ensure_sodium() {
  static const bool ready = sodium_init() >= 0;
  if (!ready) {
    throw std::runtime_error("libsodium failed to initialise");
  }
}

const unsigned char* bytes_of(std::span<const std::byte> bytes) noexcept {
  return reinterpret_cast<const unsigned char*>(bytes.data());
}

const unsigned char* bytes_of(std::string_view text) noexcept {
  return reinterpret_cast<const unsigned char*>(text.data());
}

template <std::size_t N>
unsigned char* bytes_of(std::array<std::byte, N>& bytes) noexcept {
  return reinterpret_cast<unsigned char*>(bytes.data());
}

void put_u64(std::byte* out, std::uint64_t value) noexcept {
  for (int i = 0; i < 8; ++i, value >>= 8) {
    out[i] = static_cast<std::byte>(value & 0xff);
  }
}

std::uint64_t get_u64(const std::byte* in) noexcept {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) {
    value = (value << 8) | std::to_integer<std::uint64_t>(in[i]);
  }
  return value;
}

/// The fixed-width message a proof authenticates; every field has a fixed
/// size, so no two distinct messages share an encoding.
using ProofMessage = std::array<std::byte, proof_label.size() + 1 + 8 + 8 + 8 + 1 + 32 + 32>;

ProofMessage proof_message(HandshakeRole prover_role, GroupId group, const Hello& prover,
                           const Hello& verifier) noexcept {
  ProofMessage message{};
  std::byte* out = message.data();
  for (const char c : proof_label) {
    *out++ = static_cast<std::byte>(c);
  }
  *out++ = static_cast<std::byte>(prover_role);
  put_u64(out, group.value());
  out += 8;
  put_u64(out, prover.peer.value());
  out += 8;
  put_u64(out, verifier.peer.value());
  out += 8;
  *out++ = prover.client ? std::byte{1} : std::byte{0};
  out = std::copy(prover.nonce.begin(), prover.nonce.end(), out);
  out = std::copy(verifier.nonce.begin(), verifier.nonce.end(), out);
  return message;
}

} // namespace

// GroupKey -------------------------------------------------------------------------

GroupKey GroupKey::derive(std::span<const std::byte> material) {
  ensure_sodium();
  GroupKey key;
  crypto_generichash(bytes_of(key.bytes_), key.bytes_.size(), bytes_of(material), material.size(),
                     bytes_of(group_key_label), group_key_label.size());
  return key;
}

std::optional<GroupKey> GroupKey::from_file(const std::filesystem::path& path, std::string& error) {
  const auto refuse = [&](std::string_view reason) {
    error = fmt::format("cannot use key file '{}': {}", path.string(), reason);
    return std::nullopt;
  };

  std::error_code code;
  const auto status = std::filesystem::status(path, code);
  if (!std::filesystem::exists(status)) {
    return refuse(code ? code.message() : std::string("no such file"));
  }
  if (!std::filesystem::is_regular_file(status)) {
    return refuse("not a regular file");
  }

  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return refuse(errno != 0 ? std::strerror(errno) : "cannot open");
  }
  std::vector<char> material{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const bool read_failed = in.bad();
  const auto size = material.size();
  std::optional<GroupKey> key;
  if (!read_failed && size >= min_material_bytes) {
    key = derive(std::as_bytes(std::span(material)));
  }
  // The material is as secret as the key.
  sodium_memzero(material.data(), material.size());

  if (read_failed) {
    return refuse("read error");
  }
  if (size == 0) {
    return refuse("the file is empty");
  }
  if (size < min_material_bytes) {
    return refuse(fmt::format("{} bytes, at least {} needed", size, min_material_bytes));
  }
  return key;
}

GroupKey::~GroupKey() {
  sodium_memzero(bytes_.data(), bytes_.size());
}

// Errors ---------------------------------------------------------------------------

const char* to_string(HandshakeError error) noexcept {
  switch (error) {
  case HandshakeError::none:
    return "no error";
  case HandshakeError::malformed:
    return "malformed handshake frame";
  case HandshakeError::bad_version:
    return "unsupported protocol version";
  case HandshakeError::wrong_group:
    return "peer belongs to another group";
  case HandshakeError::self_connection:
    return "connection to self";
  case HandshakeError::bad_proof:
    return "peer does not hold the group key";
  case HandshakeError::unexpected:
    return "handshake message out of order";
  }
  return "unknown handshake error";
}

// Frames ---------------------------------------------------------------------------

std::array<std::byte, hello_bytes> encode(const Hello& hello) {
  std::array<std::byte, hello_bytes> frame{};
  std::byte* out = frame.data();
  *out++ = static_cast<std::byte>(hello.version);
  put_u64(out, hello.group.value());
  out += 8;
  put_u64(out, hello.peer.value());
  out += 8;
  *out++ = hello.client ? std::byte{1} : std::byte{0};
  std::copy(hello.nonce.begin(), hello.nonce.end(), out);
  return frame;
}

std::optional<Hello> decode_hello(std::span<const std::byte> frame) {
  if (frame.size() != hello_bytes) {
    return std::nullopt;
  }
  const std::byte* in = frame.data();
  Hello hello;
  hello.version = std::to_integer<std::uint8_t>(*in++);
  hello.group = GroupId{get_u64(in)};
  in += 8;
  hello.peer = PeerId{get_u64(in)};
  in += 8;
  const auto client = std::to_integer<std::uint8_t>(*in++);
  if (client > 1) {
    return std::nullopt;
  }
  hello.client = client == 1;
  std::copy(in, in + hello.nonce.size(), hello.nonce.begin());
  return hello;
}

std::optional<Mac> decode_proof(std::span<const std::byte> frame) {
  if (frame.size() != proof_bytes) {
    return std::nullopt;
  }
  Mac mac{};
  std::copy(frame.begin(), frame.end(), mac.begin());
  return mac;
}

Nonce fresh_nonce() {
  ensure_sodium();
  Nonce nonce{};
  randombytes_buf(nonce.data(), nonce.size());
  return nonce;
}

// Proofs ---------------------------------------------------------------------------

Mac prove(const GroupKey& key, HandshakeRole prover_role, GroupId group, const Hello& prover,
          const Hello& verifier) {
  ensure_sodium();
  const auto message = proof_message(prover_role, group, prover, verifier);
  Mac mac{};
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, bytes_of(key.bytes()), key.bytes().size());
  crypto_auth_hmacsha256_update(&state, bytes_of(message), message.size());
  crypto_auth_hmacsha256_final(&state, bytes_of(mac));
  sodium_memzero(&state, sizeof state); // holds the key's pads
  return mac;
}

bool verify(const GroupKey& key, const Mac& mac, HandshakeRole prover_role, GroupId group,
            const Hello& prover, const Hello& verifier) {
  auto expected = prove(key, prover_role, group, prover, verifier);
  const bool match = crypto_verify_32(bytes_of(expected), bytes_of(mac)) == 0;
  sodium_memzero(expected.data(), expected.size());
  return match;
}

// Handshake ------------------------------------------------------------------------

Handshake::Handshake(GroupKey key, GroupId group, HandshakeRole role, PeerId self, bool client)
    : key_(std::move(key)), group_(group), role_(role), hello_{.version = handshake_version,
                                                               .group = group,
                                                               .peer = self,
                                                               .client = client,
                                                               .nonce = fresh_nonce()} {}

HandshakeError Handshake::fail(HandshakeError error) noexcept {
  if (state_ != State::done) { // a stray frame after success does not undo it
    state_ = State::failed;
  }
  return error;
}

std::variant<Mac, HandshakeError> Handshake::on_hello(std::span<const std::byte> frame) {
  if (state_ != State::awaiting_hello) {
    return fail(HandshakeError::unexpected);
  }
  if (frame.empty()) {
    return fail(HandshakeError::malformed);
  }
  // The version byte leads every layout, so a peer speaking another version
  // is told so even when its hello has another size.
  if (std::to_integer<std::uint8_t>(frame.front()) != handshake_version) {
    return fail(HandshakeError::bad_version);
  }
  const auto theirs = decode_hello(frame);
  if (!theirs) {
    return fail(HandshakeError::malformed);
  }
  if (theirs->group != group_) {
    return fail(HandshakeError::wrong_group);
  }
  // Our own nonce coming back means our hello was reflected; our own id on a
  // member's hello means we dialled our own address. Clients may reuse ids.
  const bool same_member = theirs->peer == hello_.peer && !theirs->client && !hello_.client;
  if (same_member || theirs->nonce == hello_.nonce) {
    return fail(HandshakeError::self_connection);
  }
  theirs_ = *theirs;
  state_ = State::awaiting_proof;
  return prove(key_, role_, group_, hello_, theirs_);
}

HandshakeError Handshake::on_proof(std::span<const std::byte> frame) {
  if (state_ != State::awaiting_proof) {
    return fail(HandshakeError::unexpected);
  }
  const auto mac = decode_proof(frame);
  if (!mac) {
    return fail(HandshakeError::malformed);
  }
  if (!verify(key_, *mac, opposite(role_), group_, theirs_, hello_)) {
    return fail(HandshakeError::bad_proof);
  }
  state_ = State::done;
  return HandshakeError::none;
}

} // namespace mosaik::tcp
