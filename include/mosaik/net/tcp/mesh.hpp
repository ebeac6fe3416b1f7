#pragma once
// Mesh: authenticated TCP connections between the members of one group, and
// from its clients. It moves frames (wire/frame.hpp), not messages: the
// typed TcpTransport encodes and decodes on top of it, so the sockets, TLS
// and the handshake are compiled once, in libmosaik_tcp.
//
//  * One connection per pair of members. Each member dials the peers it was
//    given and accepts the rest; when both dial at once, both keep the
//    connection dialled by the smaller id. A lost connection is redialled
//    with capped exponential backoff and jitter.
//  * Before any other frame, both sides prove they hold the group key
//    (handshake.hpp); a peer without it, or from another group, is refused:
//    the connection closes, a warning names the address and the reason, a
//    counter goes up. Optional TLS encrypts the stream underneath.
//  * One writer per connection, two lanes: control frames (consensus, catch-up
//    requests) go first; bulk frames (catch-up responses) are cut into
//    fragments, so a megabyte of entries delays a heartbeat by one fragment at
//    most. Both lanes are bounded: a slow reader makes us drop (and count),
//    never grow.
//  * A bond is an authenticated connection; its close terminates the bond.
//
// Everything runs on the executor given: use a single-threaded io_context or
// a strand. No threads of its own.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>

#include <mosaik/core/bond_event.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/subscription.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/net/tcp/endpoint.hpp>
#include <mosaik/net/tcp/handshake.hpp>
#include <mosaik/wire/frame.hpp>
#include <mosaik/wire/limits.hpp>
#include <mosaik/wire/writer.hpp>

namespace mosaik::tcp {

/// TLS underneath the handshake (off unless set). Both ends present a
/// certificate signed by `ca_file` and verify the other's.
struct TlsOptions {
  std::string certificate_file; ///< PEM certificate chain
  std::string private_key_file; ///< PEM private key
  std::string ca_file;          ///< PEM certificate(s) the peer's certificate must chain to
};

struct MeshOptions {
  PeerId self;
  GroupId group;
  /// Where to accept connections (none: dial only). Port 0 picks a free port.
  std::optional<Endpoint> listen;
  /// Peers to dial, and to redial whenever their connection is lost.
  std::vector<PeerAddress> peers;
  wire::DecodeLimits limits;
  std::optional<TlsOptions> tls;

  /// A connection that has not finished the handshake by then is closed.
  Duration handshake_timeout = 5s;
  /// Redial backoff: doubles from `initial` to `max`, each wait jittered ±50%.
  Duration reconnect_initial = 50ms;
  Duration reconnect_max = 5s;
  /// Per peer: control frames queued at most, and their bytes at most (more
  /// are dropped and counted).
  std::size_t control_queue_frames = 8192;
  std::size_t control_queue_bytes = 64u << 20;
  /// Per peer: bytes of bulk frames queued at most.
  std::size_t bulk_queue_bytes = 64u << 20;
  /// Bulk frames are written in fragments of this many body bytes.
  std::size_t fragment_bytes = 64u << 10;
  /// Connections still in their handshake, at most; more are refused at once.
  std::size_t max_pending_connections = 64;
  /// Client connections at most.
  std::size_t max_clients = 256;
};

enum class Lane : std::uint8_t { control, bulk };

/// An encoded frame (header and body), shared: a broadcast encodes once.
using Frame = std::shared_ptr<const wire::Bytes>;

/// A client connection's number, for answering it.
using ClientId = std::uint64_t;

struct MeshStats {
  std::uint64_t handshakes_completed = 0;
  std::uint64_t handshakes_refused = 0;  ///< wrong key, wrong group, bad version, malformed, timeout
  std::uint64_t connections_refused = 0; ///< over max_pending_connections / max_clients
  std::uint64_t frames_rejected = 0;     ///< malformed after the handshake: the connection was closed
  std::uint64_t frames_dropped = 0;      ///< not sent: no connection or a full queue
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t connections_open = 0; ///< now: handshaking, peers and clients
};

class Mesh {
public:
  /// A whole (reassembled) frame from an authenticated peer.
  using FrameHandler =
      std::function<void(PeerId from, const wire::FrameHeader&, std::span<const std::byte> body)>;
  /// A frame from an authenticated client (kind client_request).
  using ClientHandler = std::function<void(ClientId, std::span<const std::byte> body)>;

  /// A member holding `key`, the group's shared secret (handshake.hpp).
  Mesh(asio::any_io_executor executor, MeshOptions options, GroupKey key);
  ~Mesh();
  Mesh(const Mesh&) = delete;
  Mesh& operator=(const Mesh&) = delete;

  /// Listens (if asked) and starts dialling. False, with `error` set, when the
  /// listening socket cannot be opened.
  bool start(std::string& error);
  /// Closes every connection; no handler runs afterwards.
  void stop();

  /// The address accepting connections (its real port when 0 was asked).
  [[nodiscard]] std::optional<Endpoint> local_endpoint() const;
  [[nodiscard]] PeerId self() const noexcept;
  [[nodiscard]] GroupId group() const noexcept;
  [[nodiscard]] const wire::DecodeLimits& limits() const noexcept;
  [[nodiscard]] asio::any_io_executor executor() const;

  /// Queues a frame for `to`. False when it was dropped: no bond, or the lane is full.
  bool send(PeerId to, Frame frame, Lane lane);
  /// Whether `peer` is bonded now (a sender can skip encoding what would be dropped).
  [[nodiscard]] bool bonded(PeerId peer) const;
  void on_frame(FrameHandler handler);
  void on_client(ClientHandler handler);
  /// Queues a frame for a client (false: that client is gone).
  bool send_to_client(ClientId client, Frame frame);

  /// Closes the connection to `peer` because it sent something unacceptable
  /// (logged as a warning naming the peer, its address and `reason`; counted).
  void reject(PeerId peer, std::string_view reason);

  /// Dials `peer` too (and redials it), e.g. a member that joined later.
  void add_peer(PeerAddress peer);
  [[nodiscard]] std::vector<PeerId> bonded_peers() const;
  Subscription watch_bonds(std::function<void(const BondEvent&)> on_change);
  [[nodiscard]] MeshStats stats() const;

private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// Builds the frame `kind` with `body` for `group` (the transport's own frames).
[[nodiscard]] Frame make_frame(std::uint8_t kind, GroupId group, std::span<const std::byte> body);

} // namespace mosaik::tcp
