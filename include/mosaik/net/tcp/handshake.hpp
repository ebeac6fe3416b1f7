#pragma once
// The TCP transport's mutual-authentication handshake, sans I/O.
//
// Both sides send a Hello (version, group, peer id, client flag, a fresh
// nonce) at once, then a proof: an HMAC under the group's shared key over
// both hellos and the prover's role. A side that does not hold the key cannot
// produce a proof; binding both nonces makes a recorded proof useless in
// another session (replay), binding the role makes our own proof useless when
// sent back to us (reflection). The handshake authenticates; it does not
// encrypt (TLS is the transport's business).
//
// Wire frames (the transport frames them; these are the payloads):
//   hello: version u8 | group u64 | peer u64 | client u8 (0 or 1) | nonce 32 bytes
//   proof: 32 bytes
// Integers are little-endian.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include <mosaik/core/ids.hpp>

namespace mosaik::tcp {

inline constexpr std::uint8_t handshake_version = 1;

using Nonce = std::array<std::byte, 32>;
using Mac = std::array<std::byte, 32>;

/// The group's shared secret: 32 bytes derived from key material (e.g. a key
/// file's bytes) with keyed BLAKE2b under the domain-separation label
/// "mosaik/group-key/v1", so the same material used elsewhere yields an
/// unrelated key. Wiped on destruction. No operator==: a naive comparison
/// would leak the key through its timing.
class GroupKey {
public:
  static constexpr std::size_t size_bytes = 32;
  /// Key files shorter than this are refused: too little to be a secret.
  static constexpr std::size_t min_material_bytes = 16;

  [[nodiscard]] static GroupKey derive(std::span<const std::byte> material);
  /// Reads a key file and derives the key from its bytes, taken as they are
  /// (a trailing newline is part of the material). nullopt, with `error`
  /// naming the path and the reason, when the file is unreadable, empty or
  /// shorter than min_material_bytes.
  [[nodiscard]] static std::optional<GroupKey> from_file(const std::filesystem::path& path,
                                                         std::string& error);

  GroupKey(const GroupKey&) = default;
  GroupKey(GroupKey&&) noexcept = default;
  GroupKey& operator=(const GroupKey&) = default;
  GroupKey& operator=(GroupKey&&) noexcept = default;
  ~GroupKey();

  [[nodiscard]] const std::array<std::byte, size_bytes>& bytes() const noexcept { return bytes_; }

private:
  GroupKey() = default;

  std::array<std::byte, size_bytes> bytes_{};
};

/// Which end of the connection a side is; each proof is bound to its prover's role.
enum class HandshakeRole : std::uint8_t { dialer = 1, acceptor = 2 };

[[nodiscard]] constexpr HandshakeRole opposite(HandshakeRole role) noexcept {
  return role == HandshakeRole::dialer ? HandshakeRole::acceptor : HandshakeRole::dialer;
}

enum class HandshakeError : std::uint8_t {
  none,
  malformed,
  bad_version,
  wrong_group,
  self_connection,
  bad_proof,
  unexpected
};

[[nodiscard]] const char* to_string(HandshakeError error) noexcept;

/// The first frame each side sends (both at once, in no particular order).
struct Hello {
  std::uint8_t version = handshake_version;
  GroupId group;
  PeerId peer;
  bool client = false; ///< a client of the group rather than a member
  Nonce nonce{};
};

inline constexpr std::size_t hello_bytes = 1 + 8 + 8 + 1 + 32;
inline constexpr std::size_t proof_bytes = std::tuple_size_v<Mac>;

[[nodiscard]] std::array<std::byte, hello_bytes> encode(const Hello& hello);
/// nullopt unless the frame is exactly hello_bytes long with a client byte of 0 or 1.
/// Any version byte is decoded; the Handshake decides which it accepts.
[[nodiscard]] std::optional<Hello> decode_hello(std::span<const std::byte> frame);
/// nullopt unless the frame is exactly proof_bytes long.
[[nodiscard]] std::optional<Mac> decode_proof(std::span<const std::byte> frame);

/// 32 bytes from the operating system's random source.
[[nodiscard]] Nonce fresh_nonce();

/// HMAC-SHA256 under the group key over the label "mosaik/handshake/v1", the
/// prover's role, the group, the prover's id, the verifier's id, the prover's
/// client flag, the prover's nonce and the verifier's nonce.
[[nodiscard]] Mac prove(const GroupKey& key, HandshakeRole prover_role, GroupId group, const Hello& prover,
                        const Hello& verifier);
/// Whether `mac` is the proof prove() gives for these arguments; constant time.
[[nodiscard]] bool verify(const GroupKey& key, const Mac& mac, HandshakeRole prover_role, GroupId group,
                          const Hello& prover, const Hello& verifier);

/// One side of the handshake as a plain state machine: send hello(), feed it
/// the peer's frames, send what it returns. The first error is final: any
/// later frame gets `unexpected`, so a failed peer cannot try again on the
/// same connection (and a frame after done() gets `unexpected` too).
class Handshake {
public:
  Handshake(GroupKey key, GroupId group, HandshakeRole role, PeerId self, bool client = false);

  /// Our hello, with a fresh nonce; send it first.
  [[nodiscard]] const Hello& hello() const noexcept { return hello_; }

  /// Their hello arrived: checks the version, the group and that we are not
  /// talking to ourselves. Gives our proof to send, or the reason to hang up.
  [[nodiscard]] std::variant<Mac, HandshakeError> on_hello(std::span<const std::byte> frame);
  /// Their proof arrived (only after on_hello succeeded, else `unexpected`):
  /// `none` when it verifies, and the handshake is done.
  [[nodiscard]] HandshakeError on_proof(std::span<const std::byte> frame);

  [[nodiscard]] bool done() const noexcept { return state_ == State::done; }
  [[nodiscard]] bool failed() const noexcept { return state_ == State::failed; }
  [[nodiscard]] HandshakeRole role() const noexcept { return role_; }
  /// The peer's id and client flag, as its hello claimed; proven once done().
  [[nodiscard]] PeerId peer() const noexcept { return theirs_.peer; }
  [[nodiscard]] bool peer_is_client() const noexcept { return theirs_.client; }

private:
  enum class State : std::uint8_t { awaiting_hello, awaiting_proof, done, failed };

  HandshakeError fail(HandshakeError error) noexcept;

  GroupKey key_;
  GroupId group_;
  HandshakeRole role_;
  Hello hello_;
  Hello theirs_{}; ///< valid once their hello was accepted
  State state_ = State::awaiting_hello;
};

} // namespace mosaik::tcp
