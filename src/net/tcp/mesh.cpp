#include <mosaik/net/tcp/mesh.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <mosaik/core/format.hpp>
#include <mosaik/core/log.hpp>

#include "connection_io.hpp"

namespace mosaik::tcp {

using asio::ip::tcp;
using detail::Stream;

Frame make_frame(std::uint8_t kind, GroupId group, std::span<const std::byte> body) {
  auto bytes = std::make_shared<wire::Bytes>(wire::frame_header_bytes + body.size());
  const auto header = wire::encode_header(
      wire::FrameHeader{static_cast<std::uint32_t>(body.size()), wire::protocol_version, kind, 0, group});
  std::copy(header.begin(), header.end(), bytes->begin());
  std::copy(body.begin(), body.end(), bytes->begin() + wire::frame_header_bytes);
  return bytes;
}

namespace {

/// One TCP connection: its stream, what the handshake established, and the
/// two bounded lanes its single writer drains.
struct Connection {
  enum class State : std::uint8_t { handshaking, peer, client, closed };

  Connection(Stream stream, bool dialed, const asio::any_io_executor& executor)
      : stream(std::move(stream)), dialed(dialed), wake(executor) {
    remote = this->stream.remote();
  }

  void close() noexcept {
    if (state != State::closed) {
      state = State::closed;
      stream.close();
    }
    wake.cancel();
  }
  [[nodiscard]] bool open() const noexcept { return state == State::peer || state == State::client; }

  Stream stream;
  bool dialed;
  std::string remote;
  State state = State::handshaking;
  PeerId peer;
  ClientId client = 0;
  std::deque<Frame> control;
  std::size_t control_bytes = 0;
  std::deque<Frame> bulk;
  std::size_t bulk_bytes = 0;
  std::size_t bulk_sent = 0; ///< body bytes of bulk.front() already written
  asio::steady_timer wake;   ///< the writer sleeps on it; cancelled when there is work
};

using ConnectionPtr = std::shared_ptr<Connection>;

} // namespace

struct Mesh::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor executor, MeshOptions options, GroupKey key)
      : executor(std::move(executor)), options(std::move(options)), key(std::move(key)),
        acceptor(this->executor), random(std::random_device{}()) {}

  // ---- lifecycle -------------------------------------------------------------

  bool start(std::string& error) {
    if (options.tls) {
      tls = detail::make_tls_context(*options.tls, error);
      if (!tls) {
        return false;
      }
    }
    if (options.listen) {
      std::error_code code;
      tcp::resolver resolver(executor);
      const auto results = resolver.resolve(options.listen->host, std::to_string(options.listen->port),
                                            tcp::resolver::passive, code);
      if (code || results.empty()) {
        error = fmt::format("cannot resolve listen address {}: {}", options.listen->to_string(),
                            code ? code.message() : "no address");
        return false;
      }
      const auto endpoint = results.begin()->endpoint();
      acceptor.open(endpoint.protocol(), code);
      if (!code) {
        acceptor.set_option(tcp::acceptor::reuse_address(true), code);
      }
      if (!code) {
        acceptor.bind(endpoint, code);
      }
      if (!code) {
        acceptor.listen(asio::socket_base::max_listen_connections, code);
      }
      if (code) {
        error = fmt::format("cannot listen on {}: {}", options.listen->to_string(), code.message());
        return false;
      }
      asio::co_spawn(executor, accept_loop(shared_from_this()), asio::detached);
    }
    for (const auto& peer : options.peers) {
      dial(peer);
    }
    return true;
  }

  void stop() {
    if (stopped) {
      return;
    }
    stopped = true;
    frame_handler = nullptr;
    client_handler = nullptr;
    watchers.clear();
    std::error_code ignored;
    acceptor.close(ignored);
    for (const auto& [peer, timer] : dial_timers) {
      timer->cancel();
    }
    for (const auto& weak : connections) {
      if (const auto connection = weak.lock()) {
        connection->close();
      }
    }
  }

  // ---- sending -----------------------------------------------------------------

  bool enqueue(const ConnectionPtr& connection, Frame frame, Lane lane) {
    if (lane == Lane::control) {
      if (connection->control.size() >= options.control_queue_frames ||
          (connection->control_bytes + frame->size() > options.control_queue_bytes &&
           !connection->control.empty())) {
        return drop(connection, "control queue full");
      }
      connection->control_bytes += frame->size();
      connection->control.push_back(std::move(frame));
    } else {
      if (connection->bulk_bytes + frame->size() > options.bulk_queue_bytes && !connection->bulk.empty()) {
        return drop(connection, "bulk queue full");
      }
      connection->bulk_bytes += frame->size();
      connection->bulk.push_back(std::move(frame));
    }
    connection->wake.cancel();
    return true;
  }

  bool drop(const ConnectionPtr& connection, const char* why) {
    ++stats.frames_dropped;
    // One line per thousand drops: a slow reader must not flood the log either.
    if (stats.frames_dropped % 1000 == 1) {
      log::warn("member {}: dropping frames to {} ({}): {} (dropped so far: {})", options.self,
                describe(*connection), connection->remote, why, stats.frames_dropped);
    }
    return false;
  }

  static std::string describe(const Connection& connection) {
    return connection.state == Connection::State::client ? fmt::format("client {}", connection.client)
                                                         : fmt::format("peer {}", connection.peer);
  }

  // ---- connections ---------------------------------------------------------------

  static asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self) {
    while (!self->stopped) {
      std::error_code error;
      auto socket = co_await self->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, error));
      if (self->stopped) {
        co_return;
      }
      if (error) {
        if (error == asio::error::operation_aborted) {
          co_return;
        }
        log::warn("member {}: accept failed: {}", self->options.self, error.message());
        // Out of descriptors, typically: pause rather than spin.
        asio::steady_timer pause(self->executor, std::chrono::milliseconds(50));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, error));
        continue;
      }
      if (self->pending >= self->options.max_pending_connections) {
        ++self->stats.connections_refused;
        if (self->stats.connections_refused % 100 == 1) {
          std::error_code ignored;
          const auto remote = socket.remote_endpoint(ignored);
          log::warn("member {}: refusing connection from {}: {} handshakes already in progress (refused so "
                    "far: {})",
                    self->options.self, ignored ? std::string{"?"} : remote.address().to_string(),
                    self->pending, self->stats.connections_refused);
        }
        socket.close(error);
        continue;
      }
      asio::co_spawn(self->executor, run_connection(self, self->wrap(std::move(socket)), false, std::nullopt),
                     asio::detached);
    }
  }

  Stream wrap(tcp::socket socket) {
    std::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    return tls ? Stream{std::move(socket), *tls} : Stream{std::move(socket)};
  }

  /// Runs one connection from its first byte to its close. True when it got
  /// past the handshake.
  static asio::awaitable<bool> run_connection(std::shared_ptr<Impl> self, Stream stream, bool dialed,
                                              std::optional<PeerId> expected) {
    auto connection = std::make_shared<Connection>(std::move(stream), dialed, self->executor);
    self->connections.push_back(connection);
    ++self->pending;
    ++self->stats.connections_open;
    const auto result = co_await self->authenticate(connection, expected);
    --self->pending;
    bool authenticated = false;
    if (result && !self->stopped) {
      authenticated = true;
      if (self->admit(connection, *result)) {
        asio::co_spawn(self->executor, write_loop(self, connection), asio::detached);
        co_await self->read_loop(connection);
      }
    }
    connection->close();
    self->release(connection);
    --self->stats.connections_open;
    std::erase_if(self->connections, [](const std::weak_ptr<Connection>& weak) { return weak.expired(); });
    co_return authenticated;
  }

  /// TLS (when configured), then the key handshake, within the handshake timeout.
  asio::awaitable<std::optional<detail::HandshakeResult>> authenticate(const ConnectionPtr& connection,
                                                                       std::optional<PeerId> expected) {
    asio::steady_timer deadline(executor, options.handshake_timeout);
    // Shared: the alarm may already be queued when it is cancelled.
    const auto timed_out = std::make_shared<bool>(false);
    deadline.async_wait([connection, timed_out](const std::error_code& error) {
      if (!error && connection->state == Connection::State::handshaking) {
        *timed_out = true;
        connection->close();
      }
    });
    std::error_code error;
    co_await connection->stream.tls_handshake(dialed_type(connection->dialed), error);
    detail::HandshakeResult result;
    if (error) {
      result.failure = fmt::format("TLS handshake failed: {}", error.message());
      result.refused = true;
    } else {
      Handshake handshake(key, options.group,
                          connection->dialed ? HandshakeRole::dialer : HandshakeRole::acceptor, options.self);
      result = co_await detail::run_handshake(connection->stream, handshake, options.group);
    }
    deadline.cancel();
    if (stopped) {
      co_return std::nullopt;
    }
    if (result.ok && expected && result.peer != *expected) {
      result = detail::HandshakeResult{
          false,
          {},
          false,
          fmt::format("expected peer {} at this address, found {}", *expected, result.peer),
          true};
    }
    if (!result.ok) {
      if (*timed_out) {
        result.failure = fmt::format("no handshake within {} ms", duration_ms(options.handshake_timeout));
        result.refused = true;
      }
      if (result.refused) {
        ++stats.handshakes_refused;
        log::warn("member {}: refused connection {} {}: {}", options.self, connection->dialed ? "to" : "from",
                  connection->remote, result.failure);
      } else {
        log::debug("member {}: connection {} {} closed during the handshake: {}", options.self,
                   connection->dialed ? "to" : "from", connection->remote, result.failure);
      }
      co_return std::nullopt;
    }
    ++stats.handshakes_completed;
    co_return result;
  }

  static asio::ssl::stream_base::handshake_type dialed_type(bool dialed) {
    return dialed ? asio::ssl::stream_base::client : asio::ssl::stream_base::server;
  }
  static long long duration_ms(Duration duration) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(duration).count());
  }

  /// Makes an authenticated connection a client's or a peer's bond. When a
  /// peer already has one, both ends keep the connection dialled by the
  /// smaller id (a newer one when both were dialled by the same end: the old
  /// one is likely dead). False: this connection is not kept.
  bool admit(const ConnectionPtr& connection, const detail::HandshakeResult& result) {
    if (result.client) {
      if (clients.size() >= options.max_clients) {
        ++stats.connections_refused;
        log::warn("member {}: refusing client from {}: {} clients connected", options.self,
                  connection->remote, clients.size());
        return false;
      }
      connection->state = Connection::State::client;
      connection->client = next_client++;
      clients.emplace(connection->client, connection);
      log::debug("member {}: client {} connected from {}", options.self, connection->client,
                 connection->remote);
      return true;
    }
    const auto peer = result.peer;
    connection->peer = peer;
    const auto it = bonds.find(peer);
    if (it == bonds.end()) {
      connection->state = Connection::State::peer;
      bonds.emplace(peer, connection);
      log::info("member {}: bonded with peer {} ({} {})", options.self, peer,
                connection->dialed ? "dialled" : "from", connection->remote);
      notify(BondEvent{peer, BondEvent::Kind::bonded});
      return true;
    }
    const auto& old = it->second;
    const auto dialer = [&](const Connection& c) { return c.dialed ? options.self : peer; };
    if (dialer(*old) < dialer(*connection)) {
      log::debug("member {}: second connection with peer {} closed (keeping the one dialled by {})",
                 options.self, peer, dialer(*old));
      return false;
    }
    // The new connection replaces the old one; queued frames move over, the bond persists.
    connection->state = Connection::State::peer;
    connection->control = std::move(old->control);
    connection->control_bytes = std::exchange(old->control_bytes, 0);
    connection->bulk = std::move(old->bulk);
    connection->bulk_bytes = std::exchange(old->bulk_bytes, 0);
    connection->bulk_sent = std::exchange(old->bulk_sent, 0);
    auto replaced = std::exchange(it->second, connection);
    replaced->state = Connection::State::handshaking; // no longer the bond: release() leaves it alone
    replaced->close();
    // A fragment half-written on the old connection cannot be continued on the new one.
    if (connection->bulk_sent != 0 && !connection->bulk.empty()) {
      connection->bulk_bytes -= connection->bulk.front()->size();
      connection->bulk.pop_front();
      connection->bulk_sent = 0;
    }
    return true;
  }

  /// Forgets a closed connection; a bond's end is reported and its dialler woken.
  void release(const ConnectionPtr& connection) {
    if (connection->client != 0) {
      clients.erase(connection->client);
    }
    if (connection->peer == PeerId{}) {
      return;
    }
    const auto it = bonds.find(connection->peer);
    if (it == bonds.end() || it->second != connection) {
      return;
    }
    bonds.erase(it);
    log::info("member {}: bond with peer {} ({}) terminated", options.self, connection->peer,
              connection->remote);
    notify(BondEvent{connection->peer, BondEvent::Kind::terminated});
    if (const auto timer = dial_timers.find(connection->peer); timer != dial_timers.end()) {
      timer->second->cancel();
    }
  }

  void notify(const BondEvent& event) {
    if (stopped) {
      return;
    }
    // A watcher may unsubscribe (or subscribe) while being told.
    const auto snapshot = watchers;
    for (const auto& [id, watcher] : snapshot) {
      if (watchers.contains(id)) {
        watcher(event);
      }
    }
  }

  // ---- reading and writing ----------------------------------------------------------

  asio::awaitable<void> read_loop(ConnectionPtr connection) {
    auto self = shared_from_this();
    // Reused from frame to frame (never zeroed): a catch-up moves many
    // same-sized messages, and a fresh buffer per message cost a page fault
    // per 4 KiB on top of the copy.
    wire::FrameBuffer body;
    wire::FrameBuffer assembly; // the fragmented message in progress
    std::uint8_t assembly_kind = 0;
    const auto is_client = connection->state == Connection::State::client;
    while (connection->open() && !stopped) {
      wire::FrameHeader header;
      auto failure = co_await detail::read_header(connection->stream, options.limits, options.group, header);
      const bool fragment = !failure && (header.flags & wire::flag::fragment) != 0;
      if (!failure) {
        const bool wanted =
            is_client ? header.kind == wire::kind::client_request
                      : header.kind >= wire::kind::consensus_base && header.kind < wire::kind::hello;
        if (!wanted) {
          refuse(*connection, fmt::format("unexpected frame kind {}", header.kind));
          co_return;
        }
        if (fragment && (is_client || (!assembly.empty() && header.kind != assembly_kind))) {
          refuse(*connection, is_client ? std::string{"fragmented client frame"}
                                        : fmt::format("fragment of kind {} inside a message of kind {}",
                                                      header.kind, assembly_kind));
          co_return;
        }
        if (!fragment && (header.flags & wire::flag::more) != 0) {
          refuse(*connection, "a frame marked 'more' that is no fragment");
          co_return;
        }
        // Fragments grow the message in progress; any other frame is whole.
        auto& target = fragment ? assembly : body;
        if (!fragment) {
          body.clear();
        }
        failure = co_await detail::read_body(connection->stream, options.limits, header.length, target);
      }
      if (stopped || !connection->open()) {
        co_return;
      }
      if (failure) {
        if (failure->malformed) {
          refuse(*connection, wire::to_string(*failure->malformed));
        }
        co_return;
      }
      ++stats.frames_received;
      stats.bytes_received += wire::frame_header_bytes + header.length;
      if (fragment) {
        assembly_kind = header.kind;
        if ((header.flags & wire::flag::more) != 0) {
          continue;
        }
      }
      auto& message = fragment ? assembly : body;
      header.length = static_cast<std::uint32_t>(message.size());
      header.flags = 0;
      if (is_client) {
        if (client_handler) {
          client_handler(connection->client, message);
        }
      } else if (frame_handler) {
        frame_handler(connection->peer, header, message);
      }
      // Kept for the next message, up to a bound (catch-up answers, which
      // come fragmented, are up to a few MiB): one rare huge message must
      // not pin its memory.
      auto& used = fragment ? assembly : body;
      used.clear();
      if (used.capacity() > (fragment ? std::size_t{8} << 20 : std::size_t{1} << 20)) {
        used.release();
      }
    }
  }

  void refuse(Connection& connection, std::string_view reason) {
    ++stats.frames_rejected;
    log::warn("member {}: closing connection with {} ({}): {}", options.self, describe(connection),
              connection.remote, reason);
    connection.close();
  }

  static asio::awaitable<void> write_loop(std::shared_ptr<Impl> self, ConnectionPtr connection) {
    std::vector<asio::const_buffer> buffers;
    std::vector<Frame> writing;
    while (connection->open() && !self->stopped) {
      std::error_code error;
      std::size_t bytes = 0;
      if (!connection->control.empty()) {
        // Small frames go out together, in order.
        buffers.clear();
        writing.clear();
        while (!connection->control.empty() && writing.size() < 256 && bytes < (256u << 10)) {
          auto& frame = writing.emplace_back(std::move(connection->control.front()));
          connection->control.pop_front();
          connection->control_bytes -= frame->size();
          buffers.emplace_back(asio::buffer(*frame));
          bytes += frame->size();
        }
        co_await connection->stream.write(buffers, error);
        self->stats.frames_sent += writing.size();
      } else if (!connection->bulk.empty()) {
        // One fragment of the oldest bulk frame; then control frames get their turn.
        const auto frame = connection->bulk.front();
        const auto body = frame->size() - wire::frame_header_bytes;
        const auto offset = connection->bulk_sent;
        const auto chunk = std::min(self->options.fragment_bytes, body - offset);
        const bool last = offset + chunk == body;
        auto header = wire::decode_header(std::span<const std::byte, wire::frame_header_bytes>(
                                              frame->data(), wire::frame_header_bytes),
                                          wire::DecodeLimits{.max_frame_bytes = UINT32_MAX})
                          .value();
        header.length = static_cast<std::uint32_t>(chunk);
        // A frame that fits one fragment goes whole.
        const bool whole = offset == 0 && last;
        header.flags =
            whole ? 0 : static_cast<std::uint8_t>(wire::flag::fragment | (last ? 0 : wire::flag::more));
        const auto raw = wire::encode_header(header);
        const std::array<asio::const_buffer, 2> pieces{
            asio::buffer(raw), asio::buffer(frame->data() + wire::frame_header_bytes + offset, chunk)};
        co_await connection->stream.write(pieces, error);
        bytes = wire::frame_header_bytes + chunk;
        // The frame may have been dropped meanwhile (the bond moved to another connection).
        if (!connection->bulk.empty() && connection->bulk.front() == frame) {
          if (last) {
            connection->bulk_bytes -= frame->size();
            connection->bulk.pop_front();
            connection->bulk_sent = 0;
            ++self->stats.frames_sent;
          } else {
            connection->bulk_sent += chunk;
          }
        }
      } else {
        connection->wake.expires_at(asio::steady_timer::time_point::max());
        co_await connection->wake.async_wait(asio::redirect_error(asio::use_awaitable, error));
        continue;
      }
      if (error) {
        if (connection->open()) {
          log::debug("member {}: write to {} ({}) failed: {}", self->options.self, describe(*connection),
                     connection->remote, error.message());
        }
        connection->close();
        co_return;
      }
      self->stats.bytes_sent += bytes;
    }
  }

  // ---- dialling -----------------------------------------------------------------------

  void dial(const PeerAddress& peer) {
    if (peer.id == options.self || dial_timers.contains(peer.id) || stopped) {
      return;
    }
    dial_timers.emplace(peer.id, std::make_shared<asio::steady_timer>(executor));
    asio::co_spawn(executor, dial_loop(shared_from_this(), peer), asio::detached);
  }

  static asio::awaitable<void> dial_loop(std::shared_ptr<Impl> self, PeerAddress peer) {
    const auto timer = self->dial_timers.at(peer.id);
    auto backoff = self->options.reconnect_initial;
    while (!self->stopped) {
      std::error_code error;
      if (self->bonds.contains(peer.id)) {
        // Bonded (either way round): sleep until the bond ends.
        timer->expires_at(asio::steady_timer::time_point::max());
        co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, error));
        continue;
      }
      if (auto socket = co_await self->connect(peer.endpoint)) {
        const auto authenticated =
            co_await run_connection(self, self->wrap(std::move(*socket)), true, peer.id);
        if (authenticated) {
          backoff = self->options.reconnect_initial;
        }
        if (self->stopped) {
          co_return;
        }
        if (self->bonds.contains(peer.id)) {
          continue;
        }
      }
      // Jitter spreads the redials of many members that lost the same peer.
      std::uniform_real_distribution<double> jitter(0.5, 1.5);
      timer->expires_after(std::chrono::duration_cast<Duration>(backoff * jitter(self->random)));
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, error));
      backoff = std::min(backoff * 2, self->options.reconnect_max);
    }
  }

  /// Resolves and connects within the handshake timeout; nullopt on failure.
  asio::awaitable<std::optional<tcp::socket>> connect(const Endpoint& endpoint) {
    std::error_code error;
    tcp::resolver resolver(executor);
    const auto results = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                         asio::redirect_error(asio::use_awaitable, error));
    if (error || stopped) {
      log::debug("member {}: cannot resolve {}: {}", options.self, endpoint.to_string(), error.message());
      co_return std::nullopt;
    }
    // Shared with the alarm, which may already be queued when it is cancelled.
    const auto socket = std::make_shared<tcp::socket>(executor);
    asio::steady_timer deadline(executor, options.handshake_timeout);
    deadline.async_wait([socket](const std::error_code& waited) {
      if (!waited) {
        std::error_code ignored;
        socket->close(ignored);
      }
    });
    co_await asio::async_connect(*socket, results, asio::redirect_error(asio::use_awaitable, error));
    deadline.cancel();
    if (error || stopped) {
      log::debug("member {}: cannot connect to {}: {}", options.self, endpoint.to_string(), error.message());
      co_return std::nullopt;
    }
    co_return std::optional<tcp::socket>{std::move(*socket)};
  }

  // ---- state ----------------------------------------------------------------------------

  asio::any_io_executor executor;
  MeshOptions options;
  GroupKey key;
  tcp::acceptor acceptor;
  std::unique_ptr<asio::ssl::context> tls;
  std::mt19937_64 random;
  bool stopped = false;
  std::size_t pending = 0;
  std::vector<std::weak_ptr<Connection>> connections;
  std::map<PeerId, ConnectionPtr> bonds;
  std::map<ClientId, ConnectionPtr> clients;
  ClientId next_client = 1;
  std::map<PeerId, std::shared_ptr<asio::steady_timer>> dial_timers;
  FrameHandler frame_handler;
  ClientHandler client_handler;
  std::map<std::uint64_t, std::function<void(const BondEvent&)>> watchers;
  std::uint64_t next_watcher = 1;
  MeshStats stats;
};

Mesh::Mesh(asio::any_io_executor executor, MeshOptions options, GroupKey key)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options), std::move(key))) {}

Mesh::~Mesh() {
  impl_->stop();
}

bool Mesh::start(std::string& error) {
  return impl_->start(error);
}
void Mesh::stop() {
  impl_->stop();
}

std::optional<Endpoint> Mesh::local_endpoint() const {
  std::error_code error;
  const auto endpoint = impl_->acceptor.local_endpoint(error);
  if (error) {
    return std::nullopt;
  }
  return Endpoint{endpoint.address().to_string(), endpoint.port()};
}

PeerId Mesh::self() const noexcept {
  return impl_->options.self;
}
GroupId Mesh::group() const noexcept {
  return impl_->options.group;
}
const wire::DecodeLimits& Mesh::limits() const noexcept {
  return impl_->options.limits;
}
asio::any_io_executor Mesh::executor() const {
  return impl_->executor;
}

bool Mesh::send(PeerId to, Frame frame, Lane lane) {
  const auto it = impl_->bonds.find(to);
  if (it == impl_->bonds.end() || impl_->stopped) {
    ++impl_->stats.frames_dropped;
    return false;
  }
  return impl_->enqueue(it->second, std::move(frame), lane);
}

bool Mesh::bonded(PeerId peer) const {
  return impl_->bonds.contains(peer);
}

void Mesh::on_frame(FrameHandler handler) {
  impl_->frame_handler = std::move(handler);
}
void Mesh::on_client(ClientHandler handler) {
  impl_->client_handler = std::move(handler);
}

bool Mesh::send_to_client(ClientId client, Frame frame) {
  const auto it = impl_->clients.find(client);
  if (it == impl_->clients.end() || impl_->stopped) {
    return false;
  }
  return impl_->enqueue(it->second, std::move(frame), Lane::control);
}

void Mesh::reject(PeerId peer, std::string_view reason) {
  if (const auto it = impl_->bonds.find(peer); it != impl_->bonds.end()) {
    impl_->refuse(*it->second, reason);
  }
}

void Mesh::add_peer(PeerAddress peer) {
  impl_->dial(peer);
}

std::vector<PeerId> Mesh::bonded_peers() const {
  std::vector<PeerId> peers;
  peers.reserve(impl_->bonds.size());
  for (const auto& [peer, connection] : impl_->bonds) {
    peers.push_back(peer);
  }
  return peers;
}

Subscription Mesh::watch_bonds(std::function<void(const BondEvent&)> on_change) {
  const auto id = impl_->next_watcher++;
  impl_->watchers.emplace(id, std::move(on_change));
  return Subscription{[weak = std::weak_ptr<Impl>(impl_), id] {
    if (const auto impl = weak.lock()) {
      impl->watchers.erase(id);
    }
  }};
}

MeshStats Mesh::stats() const {
  return impl_->stats;
}

} // namespace mosaik::tcp
