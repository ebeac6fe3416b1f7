#pragma once
// TcpTransport: a group member's Transport over TCP. The Mesh carries frames
// between authenticated members; this layer encodes each message with the
// group's MessageCodec and decodes what arrives, strictly: a frame that does
// not decode closes the connection to its sender (a warning names the peer
// and the reason, a counter goes up) and is never handed to the runtime.
//
// Catch-up responses that carry entries travel in the bulk lane, so they
// never hold up votes and heartbeats; everything else keeps its order in the
// control lane (the consensus messages rely on it).

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <mosaik/core/log.hpp>
#include <mosaik/group/group_frame_codec.hpp>
#include <mosaik/group/group_messages.hpp>
#include <mosaik/group/transport.hpp>
#include <mosaik/net/asio_timers.hpp>
#include <mosaik/net/tcp/mesh.hpp>
#include <mosaik/wire/buffer_pool.hpp>

namespace mosaik::tcp {

template <class Message>
class TcpTransport;

template <class Command, class SyncMessage>
class TcpTransport<group::GroupMessage<Command, SyncMessage>> final
    : public group::Transport<group::GroupMessage<Command, SyncMessage>> {
public:
  using Message = group::GroupMessage<Command, SyncMessage>;
  using Codec = wire::MessageCodec<Command, SyncMessage>;
  using Receiver = typename group::Transport<Message>::Receiver;

  /// Messages encoded larger than this travel in the bulk lane when they are
  /// catch-up messages.
  static constexpr std::size_t bulk_threshold = 4096;

  TcpTransport(asio::any_io_executor executor, MeshOptions options, GroupKey key)
      : mesh_(executor, std::move(options), std::move(key)), timers_(executor) {}

  /// Listens and dials; false with `error` set when the listening socket fails.
  bool start(std::string& error) { return mesh_.start(error); }
  void stop() { mesh_.stop(); }

  [[nodiscard]] PeerId self() const override { return mesh_.self(); }

  void send(PeerId to, Message message) override {
    if (!mesh_.bonded(to)) {
      return; // best effort: it would be dropped; do not encode it for nothing
    }
    // Encoded into a reused buffer (wire::BufferPool): no fresh pages for each answer.
    auto buffer = frames_->take(wire::frame_size(message));
    Codec::encode_into(message, *buffer);
    const auto lane =
        message.body.index() == 1 && buffer->size() > bulk_threshold ? Lane::bulk : Lane::control;
    mesh_.send(to, frames_->share(std::move(buffer)), lane);
  }

  [[nodiscard]] bool encodes_on_send() const override { return true; }

  Subscription receive(Receiver receiver) override {
    mesh_.on_frame([this, receiver = std::move(receiver)](PeerId from, const wire::FrameHeader& header,
                                                          std::span<const std::byte> body) {
      auto decoded = Codec::decode(header, body, mesh_.group(), mesh_.limits());
      if (!decoded) {
        ++refused_;
        mesh_.reject(from, fmt::format("undecodable message of kind {}: {}", header.kind,
                                       wire::to_string(decoded.error())));
        return;
      }
      receiver(from, std::move(decoded).value());
    });
    return Subscription{[this, alive = std::weak_ptr<bool>(alive_)] {
      if (!alive.expired()) {
        mesh_.on_frame(nullptr);
      }
    }};
  }

  [[nodiscard]] std::vector<PeerId> bonded_peers() const override { return mesh_.bonded_peers(); }
  Subscription watch_bonds(std::function<void(const BondEvent&)> on_change) override {
    return mesh_.watch_bonds(std::move(on_change));
  }
  [[nodiscard]] asio::any_io_executor executor() const override { return mesh_.executor(); }
  TimerService& timers() override { return timers_; }

  [[nodiscard]] Mesh& mesh() noexcept { return mesh_; }
  /// The buffers outgoing frames are encoded into.
  [[nodiscard]] const wire::BufferPool& frames() const noexcept { return *frames_; }
  /// Messages that failed to decode (each closed its connection).
  [[nodiscard]] std::uint64_t refused_messages() const noexcept { return refused_; }

private:
  Mesh mesh_;
  std::shared_ptr<wire::BufferPool> frames_ = wire::BufferPool::make();
  net::AsioTimers timers_;
  std::uint64_t refused_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace mosaik::tcp
