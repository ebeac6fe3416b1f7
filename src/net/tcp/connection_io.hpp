#pragma once
// The byte-level pieces a mesh connection and a client connection share: a
// stream that is plain TCP or TLS, reading and writing whole frames, and the
// key handshake that must come first. Internal to libmosaik_tcp.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <mosaik/net/tcp/handshake.hpp>
#include <mosaik/net/tcp/mesh.hpp>
#include <mosaik/wire/frame.hpp>
#include <mosaik/wire/frame_buffer.hpp>

namespace mosaik::tcp::detail {

using asio::ip::tcp;

/// A TCP socket, with or without TLS on top.
class Stream {
public:
  explicit Stream(tcp::socket socket) : plain_(std::move(socket)) {}
  Stream(tcp::socket socket, asio::ssl::context& context) : tls_(std::in_place, std::move(socket), context) {}

  [[nodiscard]] tcp::socket& socket() noexcept { return tls_ ? tls_->next_layer() : *plain_; }
  [[nodiscard]] bool is_tls() const noexcept { return tls_.has_value(); }

  asio::awaitable<void> tls_handshake(asio::ssl::stream_base::handshake_type type, std::error_code& error) {
    if (tls_) {
      co_await tls_->async_handshake(type, asio::redirect_error(asio::use_awaitable, error));
    }
  }

  template <class Buffers>
  asio::awaitable<std::size_t> read(const Buffers& buffers, std::error_code& error) {
    if (tls_) {
      co_return co_await asio::async_read(*tls_, buffers, asio::redirect_error(asio::use_awaitable, error));
    }
    co_return co_await asio::async_read(*plain_, buffers, asio::redirect_error(asio::use_awaitable, error));
  }

  template <class Buffers>
  asio::awaitable<std::size_t> write(const Buffers& buffers, std::error_code& error) {
    if (tls_) {
      co_return co_await asio::async_write(*tls_, buffers, asio::redirect_error(asio::use_awaitable, error));
    }
    co_return co_await asio::async_write(*plain_, buffers, asio::redirect_error(asio::use_awaitable, error));
  }

  /// Closes the socket (TLS: without the close_notify exchange; the peer sees EOF).
  void close() noexcept {
    std::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

  /// "address:port" of the other end, or "?" once closed.
  [[nodiscard]] std::string remote() {
    std::error_code error;
    const auto endpoint = socket().remote_endpoint(error);
    if (error) {
      return "?";
    }
    return Endpoint{endpoint.address().to_string(), endpoint.port()}.to_string();
  }

private:
  std::optional<tcp::socket> plain_;
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
};

/// A TLS context for `options` (both ends present and verify certificates).
/// Null and `error` set when a file cannot be loaded.
std::unique_ptr<asio::ssl::context> make_tls_context(const TlsOptions& options, std::string& error);

/// Why reading a frame stopped.
struct ReadFailure {
  std::error_code io;                         ///< the socket failed or closed
  std::optional<wire::DecodeError> malformed; ///< the header was refused
};

/// Reads one frame's header and checks it (version, flags, length against
/// `limits`, group).
asio::awaitable<std::optional<ReadFailure>> read_header(Stream& stream, const wire::DecodeLimits& limits,
                                                        GroupId group, wire::FrameHeader& header);
/// Reads `length` body bytes, appended to `body` (wire::Bytes, or a
/// FrameBuffer that is not zeroed first), unless that would make `body`
/// longer than `limits.max_frame_bytes` (refused as oversized, unread).
template <class Buffer>
asio::awaitable<std::optional<ReadFailure>> read_body(Stream& stream, const wire::DecodeLimits& limits,
                                                      std::size_t length, Buffer& body) {
  if (body.size() + length > limits.max_frame_bytes) {
    co_return ReadFailure{{}, wire::DecodeError::oversized};
  }
  const auto at = body.size();
  body.resize(at + length);
  if (length != 0) {
    std::error_code error;
    co_await stream.read(asio::buffer(body.data() + at, length), error);
    if (error) {
      co_return ReadFailure{error, std::nullopt};
    }
  }
  co_return std::nullopt;
}

/// read_header, then read_body into `body` (appended). The body is only
/// allocated once its length has passed the checks.
template <class Buffer>
asio::awaitable<std::optional<ReadFailure>> read_frame(Stream& stream, const wire::DecodeLimits& limits,
                                                       GroupId group, wire::FrameHeader& header,
                                                       Buffer& body) {
  if (auto failure = co_await read_header(stream, limits, group, header)) {
    co_return failure;
  }
  co_return co_await read_body(stream, limits, header.length, body);
}

/// The frame header bytes and body bytes, written as one.
asio::awaitable<void> write_frame(Stream& stream, std::uint8_t kind, GroupId group,
                                  std::span<const std::byte> body, std::error_code& error);

/// Reads a handshake frame of `kind` into `body`: nullopt, or why not
/// (`refused`: the peer sent something wrong, rather than going away).
/// Hello and proof bodies are tiny: anything longer is refused unread.
asio::awaitable<std::optional<std::string>>
read_handshake_frame(Stream& stream, GroupId group, std::uint8_t kind, wire::Bytes& body, bool& refused);

/// What the handshake established, or why it failed.
struct HandshakeResult {
  bool ok = false;
  PeerId peer;
  bool client = false;
  std::string failure;  ///< for the log, when !ok
  bool refused = false; ///< the peer failed a check (as opposed to an I/O error or timeout)
};

/// Runs `handshake` over `stream`: sends our hello, takes theirs, exchanges
/// proofs. Hello and proof frames are small: anything longer is refused
/// before it is read.
asio::awaitable<HandshakeResult> run_handshake(Stream& stream, Handshake& handshake, GroupId group);

} // namespace mosaik::tcp::detail
