#pragma once
// Addresses as the command line and configuration files spell them:
// "host:port" (IPv6 in brackets: "[::1]:7000") and "id@host:port".

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <mosaik/core/ids.hpp>

namespace mosaik::tcp {

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  [[nodiscard]] std::string to_string() const {
    return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                               : fmt::format("{}:{}", host, port);
  }
};

/// A peer and where to dial it.
struct PeerAddress {
  PeerId id;
  Endpoint endpoint;
  friend bool operator==(const PeerAddress&, const PeerAddress&) = default;
};

[[nodiscard]] inline std::optional<Endpoint> parse_endpoint(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  std::uint16_t number = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (host.empty() || port.empty() || error != std::errc{} || end != port.data() + port.size()) {
    return std::nullopt;
  }
  return Endpoint{std::string{host}, number};
}

[[nodiscard]] inline std::optional<PeerAddress> parse_peer_address(std::string_view text) {
  const auto at = text.find('@');
  if (at == std::string_view::npos || at == 0) {
    return std::nullopt;
  }
  std::uint64_t id = 0;
  const auto digits = text.substr(0, at);
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (error != std::errc{} || end != digits.data() + digits.size() || id == 0) {
    return std::nullopt;
  }
  auto endpoint = parse_endpoint(text.substr(at + 1));
  if (!endpoint) {
    return std::nullopt;
  }
  return PeerAddress{PeerId{id}, std::move(*endpoint)};
}

} // namespace mosaik::tcp
