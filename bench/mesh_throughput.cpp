// The transport's own cost: pushes N bytes of catch-up-sized frames from one
// Mesh to another over loopback (key handshake, framing, the bulk lane's
// fragments, reassembly; no decoding, no log) and prints one JSON line
//   {"bytes":N,"frame_bytes":F,"frames":K,"seconds":S,"mb_per_s":X,"cpu_seconds":C}
// to set beside mosaik-bench-tcp-pair (the socket's limit) and a whole
// catch-up (which adds decoding and storing entries).
//
//   mosaik-bench-mesh [--bytes N] [--frame BYTES] [--fragment BYTES]
//
// Each Mesh runs on its own io_context and thread, as two processes would.

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <fmt/format.h>

#include <mosaik/core/log.hpp>
#include <mosaik/net/tcp/mesh.hpp>

#include "command_line.hpp"
#include "json.hpp"

namespace {

using namespace mosaik;

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

} // namespace

int main(int argc, char** argv) {
  std::uint64_t total = 100'000'000;
  std::size_t frame_bytes = 1u << 20;
  std::size_t fragment = 64u << 10;
  CLI::App app{"bytes through two mosaik Meshes on loopback (the transport alone)", "mosaik-bench-mesh"};
  app.add_option("--bytes", total, "bytes to send")->capture_default_str();
  app.add_option("--frame", frame_bytes, "BYTES per frame")->capture_default_str();
  app.add_option("--fragment", fragment, "BYTES per fragment")->capture_default_str();
  if (const auto status = support::parse(app, argc, argv)) {
    return *status;
  }
  if (total == 0 || frame_bytes == 0 || fragment == 0) {
    return support::usage_error(app, "sizes must be positive");
  }
  // A full bulk lane refuses sends (and says so): that is the pump's back-pressure here.
  log::set_level(log::Level::error);
  const std::string secret(32, 'k');
  const auto key = tcp::GroupKey::derive(std::as_bytes(std::span{secret}));
  const GroupId group{7};

  asio::io_context receiver_io;
  tcp::MeshOptions receiver_options;
  receiver_options.self = PeerId{1};
  receiver_options.group = group;
  receiver_options.listen = tcp::Endpoint{"127.0.0.1", 0};
  tcp::Mesh receiver(receiver_io.get_executor(), receiver_options, key);
  std::string error;
  if (!receiver.start(error)) {
    std::fprintf(stderr, "mosaik-bench-mesh: %s\n", error.c_str());
    return 1;
  }
  const auto frames = (total + frame_bytes - 1) / frame_bytes;
  std::uint64_t received = 0;
  std::uint64_t frames_received = 0;
  std::chrono::steady_clock::time_point finished;
  receiver.on_frame([&](PeerId, const wire::FrameHeader&, std::span<const std::byte> body) {
    received += body.size();
    if (++frames_received == frames) {
      finished = std::chrono::steady_clock::now();
      receiver_io.stop();
    }
  });

  asio::io_context sender_io;
  tcp::MeshOptions sender_options;
  sender_options.self = PeerId{2};
  sender_options.group = group;
  sender_options.peers = {tcp::PeerAddress{PeerId{1}, *receiver.local_endpoint()}};
  sender_options.fragment_bytes = fragment;
  sender_options.bulk_queue_bytes = 8 * frame_bytes + (1u << 20);
  tcp::Mesh sender(sender_io.get_executor(), sender_options, key);
  if (!sender.start(error)) {
    std::fprintf(stderr, "mosaik-bench-mesh: %s\n", error.c_str());
    return 1;
  }
  const wire::Bytes payload(frame_bytes, std::byte{0x5a});
  const auto frame = tcp::make_frame(wire::kind::sync_base + 3, group, payload);
  std::chrono::steady_clock::time_point started;
  std::uint64_t sent = 0;
  // Keeps the bulk lane full (as a provider answering fetches does), never over its bound.
  std::function<void()> pump = [&] {
    while (sent < frames && sender.send(PeerId{1}, frame, tcp::Lane::bulk)) {
      ++sent;
    }
    if (sent < frames) {
      asio::post(sender_io, pump);
    }
  };
  const auto watch = sender.watch_bonds([&](const BondEvent& event) {
    if (event.kind == BondEvent::Kind::bonded) {
      started = std::chrono::steady_clock::now();
      pump();
    }
  });
  const auto cpu_before = cpu_seconds();
  std::thread receiving([&] { receiver_io.run(); });
  std::thread sending([&] {
    while (!receiver_io.stopped()) {
      sender_io.run_for(std::chrono::milliseconds(50));
    }
  });
  receiving.join();
  sending.join();
  const auto seconds = std::chrono::duration<double>(finished - started).count();
  const auto dropped = sender.stats().frames_dropped;
  support::print_line(
      {{"bytes", received},
       {"frame_bytes", frame_bytes},
       {"frames", frames_received},
       {"seconds", support::rounded(seconds, 6)},
       {"mb_per_s", support::rounded(static_cast<double>(received) / 1e6 / std::max(seconds, 1e-9), 1)},
       {"cpu_seconds", support::rounded(cpu_seconds() - cpu_before, 3)},
       {"refused_sends", dropped}});
  return received == frames * frame_bytes ? 0 : 1;
}
