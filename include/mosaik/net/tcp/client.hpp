#pragma once
// Client: one authenticated connection to a group member, for programs that
// talk to a group without being a member (mosaik-node's client mode, tests,
// hostile-input checks). It speaks the same framing and handshake as members;
// the member hands its requests to Mesh::on_client. Requests are answered in
// order; one call at a time.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <mosaik/net/tcp/endpoint.hpp>
#include <mosaik/net/tcp/handshake.hpp>
#include <mosaik/net/tcp/mesh.hpp>
#include <mosaik/wire/writer.hpp>

namespace mosaik::tcp {

class Client {
public:
  /// `group`: the group to talk to; GroupId{} takes the one the member announces
  /// (the key still has to match: the proof covers the group).
  Client(asio::any_io_executor executor, GroupKey key, GroupId group = GroupId{},
         std::optional<TlsOptions> tls = std::nullopt);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Connects and authenticates within `timeout`: nullopt on success, else why not.
  asio::awaitable<std::optional<std::string>> connect(Endpoint endpoint, Duration timeout = 5s);
  /// Sends `request` and waits for the member's answer (nullopt: the connection is gone).
  asio::awaitable<std::optional<wire::Bytes>> call(std::span<const std::byte> request);
  void close();
  [[nodiscard]] bool connected() const noexcept;
  /// The member this client is connected to, and its group.
  [[nodiscard]] PeerId member() const noexcept;
  [[nodiscard]] GroupId group() const noexcept;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace mosaik::tcp
