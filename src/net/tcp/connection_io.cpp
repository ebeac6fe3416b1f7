#include "connection_io.hpp"

#include <array>
#include <variant>

#include <fmt/format.h>

#include <asio/buffer.hpp>

namespace mosaik::tcp::detail {

std::unique_ptr<asio::ssl::context> make_tls_context(const TlsOptions& options, std::string& error) {
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls);
  std::error_code code;
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1,
                       code);
  const auto load = [&](const char* what, const std::string& path, auto&& call) {
    if (code) {
      return;
    }
    call(code);
    if (code) {
      error = fmt::format("TLS {} '{}': {}", what, path, code.message());
    }
  };
  load("certificate", options.certificate_file,
       [&](std::error_code& ec) { context->use_certificate_chain_file(options.certificate_file, ec); });
  load("private key", options.private_key_file, [&](std::error_code& ec) {
    context->use_private_key_file(options.private_key_file, asio::ssl::context::pem, ec);
  });
  load("CA file", options.ca_file,
       [&](std::error_code& ec) { context->load_verify_file(options.ca_file, ec); });
  load("verify mode", options.ca_file, [&](std::error_code& ec) {
    context->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert, ec);
  });
  if (code) {
    if (error.empty()) {
      error = fmt::format("TLS setup: {}", code.message());
    }
    return nullptr;
  }
  return context;
}

asio::awaitable<std::optional<ReadFailure>> read_header(Stream& stream, const wire::DecodeLimits& limits,
                                                        GroupId group, wire::FrameHeader& header) {
  wire::HeaderBytes raw{};
  std::error_code error;
  co_await stream.read(asio::buffer(raw), error);
  if (error) {
    co_return ReadFailure{error, std::nullopt};
  }
  auto decoded = wire::decode_header(raw, limits);
  if (!decoded) {
    co_return ReadFailure{{}, decoded.error()};
  }
  header = decoded.value();
  if (header.group != group) {
    co_return ReadFailure{{}, wire::DecodeError::wrong_group};
  }
  co_return std::nullopt;
}

asio::awaitable<void> write_frame(Stream& stream, std::uint8_t kind, GroupId group,
                                  std::span<const std::byte> body, std::error_code& error) {
  const auto header = wire::encode_header(
      wire::FrameHeader{static_cast<std::uint32_t>(body.size()), wire::protocol_version, kind, 0, group});
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(header),
                                                  asio::buffer(body.data(), body.size())};
  co_await stream.write(buffers, error);
}

asio::awaitable<std::optional<std::string>>
read_handshake_frame(Stream& stream, GroupId group, std::uint8_t kind, wire::Bytes& body, bool& refused) {
  wire::DecodeLimits limits;
  limits.max_frame_bytes = 256;
  wire::FrameHeader header;
  body.clear();
  auto failure = co_await read_frame(stream, limits, group, header, body);
  if (failure) {
    refused = failure->malformed.has_value();
    if (failure->malformed == wire::DecodeError::wrong_group) {
      co_return fmt::format("peer belongs to another group ({:#x}, ours {:#x})", header.group.value(),
                            group.value());
    }
    co_return failure->malformed
        ? fmt::format("malformed handshake frame: {}", wire::to_string(*failure->malformed))
        : fmt::format("connection lost during the handshake: {}", failure->io.message());
  }
  if (header.kind != kind || header.flags != 0) {
    refused = true;
    co_return fmt::format("expected handshake frame kind {}, got kind {}", kind, header.kind);
  }
  co_return std::nullopt;
}

asio::awaitable<HandshakeResult> run_handshake(Stream& stream, Handshake& handshake, GroupId group) {
  HandshakeResult result;
  std::error_code error;
  const auto hello = encode(handshake.hello());
  co_await write_frame(stream, wire::kind::hello, group, hello, error);
  if (error) {
    result.failure = fmt::format("cannot send hello: {}", error.message());
    co_return result;
  }
  wire::Bytes body;
  if (auto failure = co_await read_handshake_frame(stream, group, wire::kind::hello, body, result.refused)) {
    result.failure = std::move(*failure);
    co_return result;
  }
  const auto answer = handshake.on_hello(body);
  if (const auto* refusal = std::get_if<HandshakeError>(&answer)) {
    result.refused = true;
    result.failure = to_string(*refusal);
    co_return result;
  }
  const auto& proof = std::get<Mac>(answer);
  co_await write_frame(stream, wire::kind::proof, group, proof, error);
  if (error) {
    result.failure = fmt::format("cannot send proof: {}", error.message());
    co_return result;
  }
  if (auto failure = co_await read_handshake_frame(stream, group, wire::kind::proof, body, result.refused)) {
    result.failure = std::move(*failure);
    co_return result;
  }
  if (const auto refusal = handshake.on_proof(body); refusal != HandshakeError::none) {
    result.refused = true;
    result.failure = to_string(refusal);
    co_return result;
  }
  result.ok = true;
  result.peer = handshake.peer();
  result.client = handshake.peer_is_client();
  co_return result;
}

} // namespace mosaik::tcp::detail
