#include <mosaik/net/tcp/client.hpp>

#include <random>

#include <asio/buffer.hpp>
#include <asio/connect.hpp>
#include <asio/steady_timer.hpp>

#include <fmt/format.h>

#include "connection_io.hpp"

namespace mosaik::tcp {

using asio::ip::tcp;

struct Client::Impl {
  Impl(asio::any_io_executor executor, GroupKey key, GroupId group, std::optional<TlsOptions> tls)
      : executor(std::move(executor)), key(std::move(key)), group(group), tls_options(std::move(tls)) {}

  asio::any_io_executor executor;
  GroupKey key;
  GroupId group;
  std::optional<TlsOptions> tls_options;
  std::unique_ptr<asio::ssl::context> tls;
  std::unique_ptr<detail::Stream> stream;
  PeerId member;
  wire::DecodeLimits limits;
};

Client::Client(asio::any_io_executor executor, GroupKey key, GroupId group, std::optional<TlsOptions> tls)
    : impl_(std::make_unique<Impl>(std::move(executor), std::move(key), group, std::move(tls))) {}

Client::~Client() {
  close();
}

asio::awaitable<std::optional<std::string>> Client::connect(Endpoint endpoint, Duration timeout) {
  close();
  auto& impl = *impl_;
  if (impl.tls_options && !impl.tls) {
    std::string error;
    impl.tls = detail::make_tls_context(*impl.tls_options, error);
    if (!impl.tls) {
      co_return error;
    }
  }
  std::error_code error;
  tcp::resolver resolver(impl.executor);
  const auto results = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                       asio::redirect_error(asio::use_awaitable, error));
  if (error) {
    co_return fmt::format("cannot resolve {}: {}", endpoint.to_string(), error.message());
  }
  auto socket = std::make_shared<tcp::socket>(impl.executor);
  // One alarm for connecting and authenticating; shared, as it may be queued when cancelled.
  auto deadline = std::make_shared<asio::steady_timer>(impl.executor, timeout);
  deadline->async_wait([socket](const std::error_code& waited) {
    if (!waited) {
      std::error_code ignored;
      socket->close(ignored);
    }
  });
  co_await asio::async_connect(*socket, results, asio::redirect_error(asio::use_awaitable, error));
  if (error) {
    deadline->cancel();
    co_return fmt::format("cannot connect to {}: {}", endpoint.to_string(), error.message());
  }
  socket->set_option(tcp::no_delay(true), error);
  auto stream = impl.tls ? std::make_unique<detail::Stream>(std::move(*socket), *impl.tls)
                         : std::make_unique<detail::Stream>(std::move(*socket));
  // The alarm now has to close the stream's socket (the moved-to one).
  deadline->cancel();
  auto alarm = std::make_shared<asio::steady_timer>(impl.executor, timeout);
  auto* raw = stream.get();
  auto done = std::make_shared<bool>(false);
  alarm->async_wait([raw, done](const std::error_code& waited) {
    if (!waited && !*done) {
      raw->close();
    }
  });
  const auto fail = [&](std::string why) -> std::optional<std::string> {
    *done = true;
    alarm->cancel();
    return why;
  };
  co_await stream->tls_handshake(asio::ssl::stream_base::client, error);
  if (error) {
    co_return fail(fmt::format("TLS handshake with {} failed: {}", endpoint.to_string(), error.message()));
  }
  // The member speaks first; its hello names the group when we were not told.
  wire::HeaderBytes raw_header{};
  co_await stream->read(asio::buffer(raw_header), error);
  if (error) {
    co_return fail(fmt::format("{} closed the connection: {}", endpoint.to_string(), error.message()));
  }
  const auto header = wire::decode_header(raw_header, wire::DecodeLimits{.max_frame_bytes = 256});
  if (!header || header->kind != wire::kind::hello) {
    co_return fail(fmt::format("{} did not start with a hello", endpoint.to_string()));
  }
  if (impl.group != GroupId{} && header->group != impl.group) {
    co_return fail(
        fmt::format("{} serves another group ({:#x})", endpoint.to_string(), header->group.value()));
  }
  wire::Bytes body(header->length);
  co_await stream->read(asio::buffer(body), error);
  if (error) {
    co_return fail(fmt::format("{} closed the connection: {}", endpoint.to_string(), error.message()));
  }
  const auto group = header->group;
  std::random_device random;
  const PeerId self{(static_cast<std::uint64_t>(random()) << 32) | random()};
  Handshake handshake(impl.key, group, HandshakeRole::dialer, self, true);
  co_await detail::write_frame(*stream, wire::kind::hello, group, encode(handshake.hello()), error);
  const auto answer = handshake.on_hello(body);
  if (const auto* refusal = std::get_if<HandshakeError>(&answer)) {
    co_return fail(fmt::format("{}: {}", endpoint.to_string(), to_string(*refusal)));
  }
  co_await detail::write_frame(*stream, wire::kind::proof, group, std::get<Mac>(answer), error);
  if (error) {
    co_return fail(fmt::format("{} closed the connection: {}", endpoint.to_string(), error.message()));
  }
  bool refused = false;
  if (auto failure =
          co_await detail::read_handshake_frame(*stream, group, wire::kind::proof, body, refused)) {
    co_return fail(fmt::format("{}: {} (is the key right?)", endpoint.to_string(), *failure));
  }
  if (const auto refusal = handshake.on_proof(body); refusal != HandshakeError::none) {
    co_return fail(fmt::format("{}: {}", endpoint.to_string(), to_string(refusal)));
  }
  *done = true;
  alarm->cancel();
  impl.group = group;
  impl.member = handshake.peer();
  impl.stream = std::move(stream);
  co_return std::nullopt;
}

asio::awaitable<std::optional<wire::Bytes>> Client::call(std::span<const std::byte> request) {
  auto& impl = *impl_;
  if (!impl.stream) {
    co_return std::nullopt;
  }
  std::error_code error;
  co_await detail::write_frame(*impl.stream, wire::kind::client_request, impl.group, request, error);
  if (error) {
    close();
    co_return std::nullopt;
  }
  wire::FrameHeader header;
  wire::Bytes body;
  const auto failure = co_await detail::read_frame(*impl.stream, impl.limits, impl.group, header, body);
  if (failure || header.kind != wire::kind::client_response || header.flags != 0) {
    close();
    co_return std::nullopt;
  }
  co_return body;
}

void Client::close() {
  if (impl_->stream) {
    impl_->stream->close();
    impl_->stream.reset();
  }
}

bool Client::connected() const noexcept {
  return impl_->stream != nullptr;
}
PeerId Client::member() const noexcept {
  return impl_->member;
}
GroupId Client::group() const noexcept {
  return impl_->group;
}

} // namespace mosaik::tcp
