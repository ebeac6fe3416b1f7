#pragma once
// The shared harness of the TCP transport's loopback tests (tests/net):
//
//  * Loop: an io_context the test thread runs in slices until a condition
//    holds (run_until) or an operation completes (await); in_thread runs a
//    blocking function on a thread of its own meanwhile (a raw peer).
//  * MeshProbe: a bare Mesh listening on 127.0.0.1 (a port the kernel picks)
//    that records its bond events and the frames it receives.
//  * TcpCluster: members made of a TcpTransport, an in-memory log and hard
//    state and a Group<Counter>, each listening on 127.0.0.1:0 and dialling
//    the others.
//  * RawPeer: a plain POSIX socket speaking (or abusing) the wire format,
//    with blocking calls bounded by deadlines; it runs through in_thread while
//    the test thread runs the members.
//
// Real time and real sockets: tests poll for conditions with generous limits
// and never assert how long anything took.

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <mosaik/group/group.hpp>
#include <mosaik/group/hard_state.hpp>
#include <mosaik/machines/counter.hpp>
#include <mosaik/net/tcp/handshake.hpp>
#include <mosaik/net/tcp/mesh.hpp>
#include <mosaik/net/tcp/tcp_transport.hpp>
#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/log_replay/log_replay_message_codec.hpp>
#include <mosaik/wire/frame.hpp>

#include "../support/counter_members.hpp"

namespace mosaik::nettest {

using namespace std::chrono_literals;

using Counter = machines::Counter;
using CounterGroup = group::Group<Counter>;
using CounterTransport = tcp::TcpTransport<CounterGroup::Message>;
using Codec = CounterTransport::Codec;

// ---- keys, configurations ----------------------------------------------------------

inline tcp::GroupKey key_from(std::string_view material) {
  return tcp::GroupKey::derive(std::as_bytes(std::span(material.data(), material.size())));
}
/// The key every test member holds unless a test says otherwise.
inline tcp::GroupKey test_key() {
  return key_from("mosaik loopback tests: the shared group key");
}

inline wire::Bytes bytes_of(std::string_view text) {
  const auto raw = std::as_bytes(std::span(text.data(), text.size()));
  return wire::Bytes(raw.begin(), raw.end());
}

/// Fast consensus timings for real time on a loaded two-core machine: the
/// simulation's, a little more patient.
inline group::GroupConfig net_config(const std::vector<PeerId>& members) {
  auto config = test::fast_config(members);
  config.election_timeout = 300ms;
  config.election_jitter = 150ms;
  config.forward_timeout = 5s;
  return config;
}

inline CounterGroup::Options counter_options(const std::vector<PeerId>& members,
                                             std::uint64_t sync_batch = 100) {
  CounterGroup::Options options;
  options.key = "tcp-test-counter";
  options.config = net_config(members);
  sync::LogReplayConfig sync;
  sync.batch_size = sync_batch;
  sync.fetch_timeout = 5s;
  sync.min_fetch_timeout = 500ms;
  options.strategy = sync::LogReplaySync<group::Replicated<Counter>>{sync};
  options.commit_timeout = 20s;
  return options;
}

/// A mesh listening on 127.0.0.1 (port 0: the kernel picks), with quick redials.
inline tcp::MeshOptions mesh_options(PeerId self, GroupId group) {
  tcp::MeshOptions options;
  options.self = self;
  options.group = group;
  options.listen = tcp::Endpoint{"127.0.0.1", 0};
  options.handshake_timeout = 2s;
  options.reconnect_initial = 20ms;
  options.reconnect_max = 300ms;
  return options;
}

using test::increments;
using test::increments_sum;
using test::peers;

template <class T>
std::string describe(const std::optional<group::Result<T>>& result) {
  if (!result) {
    return "did not complete";
  }
  return result->ok() ? std::string{"ok"} : result->error().message();
}

/// This process's resident set size in bytes (0 when /proc is unreadable).
inline std::uint64_t resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stoull(line.substr(6)) * 1024;
    }
  }
  return 0;
}

// ---- the loop ------------------------------------------------------------------------

class Loop {
public:
  Loop() = default;
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  asio::io_context io;

  /// Runs the io_context until `done()` holds or `timeout` of real time
  /// passes; returns done(). The condition is checked after every handler.
  bool run_until(const std::function<bool()>& done, Duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return done();
      }
      step();
    }
    return true;
  }

  /// Runs the io_context for `duration` of real time.
  void run_for(Duration duration) {
    const auto deadline = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < deadline) {
      step();
    }
  }

  /// Runs `operation` on the io_context until it completes (or `timeout`);
  /// its result, or nullopt when it did not complete in time.
  template <class T>
  std::optional<T> await(asio::awaitable<T> operation, Duration timeout = 20s) {
    auto out = std::make_shared<std::optional<T>>();
    auto failure = std::make_shared<std::exception_ptr>();
    asio::co_spawn(io, std::move(operation), [out, failure](std::exception_ptr error, T value) {
      if (error) {
        *failure = error;
      } else {
        *out = std::move(value);
      }
    });
    run_until([&] { return out->has_value() || *failure; }, timeout);
    if (*failure) {
      std::rethrow_exception(*failure);
    }
    return std::move(*out);
  }

  /// Runs `function` (blocking, bounded by its own deadlines) on a thread of
  /// its own while this thread runs the io_context; returns its result.
  /// `each` (if given) is called after every handler run meanwhile.
  template <class F>
  std::invoke_result_t<F&> in_thread(F function, const std::function<void()>& each = {}) {
    auto future = std::async(std::launch::async, std::move(function));
    const bool finished = run_until(
        [&] {
          if (each) {
            each();
          }
          return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
        },
        120s);
    REQUIRE(finished); // the future's destructor would wait anyway
    return future.get();
  }

protected:
  /// Runs one ready handler, or waits up to 2 ms for one.
  void step() {
    if (io.stopped()) {
      io.restart();
    }
    if (io.poll_one() == 0) {
      if (io.stopped()) {
        io.restart();
        std::this_thread::sleep_for(1ms); // no work at all: do not spin
      } else {
        io.run_one_for(2ms);
      }
    }
  }

  /// Runs what is ready until nothing is (after stopping things: completions
  /// of cancelled operations), bounded.
  void drain() {
    for (int round = 0; round < 200; ++round) {
      if (io.stopped()) {
        io.restart();
      }
      if (io.poll() == 0) {
        break;
      }
    }
  }
};

// ---- a bare mesh -----------------------------------------------------------------------

/// What a MeshProbe received.
struct ReceivedFrame {
  PeerId from;
  wire::FrameHeader header;
  wire::Bytes body;
};

/// A started Mesh that records its bond events and the frames it receives.
class MeshProbe {
public:
  MeshProbe(asio::io_context& io, tcp::MeshOptions options, tcp::GroupKey key)
      : mesh(std::make_unique<tcp::Mesh>(io.get_executor(), std::move(options), std::move(key))) {
    bonds_ = mesh->watch_bonds([this](const BondEvent& event) { events.push_back(event); });
    mesh->on_frame([this](PeerId from, const wire::FrameHeader& header, std::span<const std::byte> body) {
      frames.push_back(ReceivedFrame{from, header, wire::Bytes(body.begin(), body.end())});
    });
    std::string error;
    const bool started = mesh->start(error);
    INFO(error);
    REQUIRE(started);
    const auto local = mesh->local_endpoint();
    REQUIRE(local.has_value());
    endpoint = *local;
  }
  MeshProbe(const MeshProbe&) = delete;
  MeshProbe& operator=(const MeshProbe&) = delete;
  ~MeshProbe() {
    bonds_.reset();
    mesh->stop();
  }

  [[nodiscard]] PeerId id() const { return mesh->self(); }
  [[nodiscard]] tcp::PeerAddress address() const { return tcp::PeerAddress{id(), endpoint}; }
  void dial(const MeshProbe& other) { mesh->add_peer(other.address()); }

  [[nodiscard]] std::size_t count(BondEvent::Kind kind, std::optional<PeerId> peer = std::nullopt) const {
    std::size_t n = 0;
    for (const auto& event : events) {
      n += event.kind == kind && (!peer || event.peer == *peer) ? 1 : 0;
    }
    return n;
  }
  [[nodiscard]] bool bonded_with(PeerId peer) const {
    const auto bonded = mesh->bonded_peers();
    return std::find(bonded.begin(), bonded.end(), peer) != bonded.end();
  }

  std::unique_ptr<tcp::Mesh> mesh;
  tcp::Endpoint endpoint;
  std::vector<BondEvent> events;
  std::vector<ReceivedFrame> frames;

private:
  Subscription bonds_;
};

// ---- a cluster of counter groups --------------------------------------------------------

struct Member {
  Member(asio::io_context& io, PeerId id, CounterGroup::Options options, tcp::MeshOptions mesh,
         tcp::GroupKey key)
      : id(id), transport(io.get_executor(), std::move(mesh), std::move(key)),
        group(transport, log, hard, std::move(options)) {}

  PeerId id;
  CounterTransport transport;
  storage::InMemoryLog<group::LogCommand<Counter::Command>> log;
  group::InMemoryHardState hard;
  CounterGroup group;
  tcp::Endpoint endpoint;
  std::vector<group::GroupEvent> events;

  [[nodiscard]] tcp::Mesh& mesh() { return transport.mesh(); }
  [[nodiscard]] tcp::MeshStats stats() { return transport.mesh().stats(); }
  [[nodiscard]] std::uint16_t port() const { return endpoint.port; }
};

class TcpCluster : public Loop {
public:
  /// `tweak` adjusts each member's mesh options before it is made.
  explicit TcpCluster(std::function<void(PeerId, tcp::MeshOptions&)> tweak = {}) : tweak_(std::move(tweak)) {}
  TcpCluster(const TcpCluster&) = delete;
  TcpCluster& operator=(const TcpCluster&) = delete;
  ~TcpCluster() {
    for (auto& [id, member] : members_) {
      member->group.stop();
      member->transport.stop();
    }
    drain();
    members_.clear();
    drain();
  }

  /// Makes member `id`, starts its transport (listening on 127.0.0.1:0) and
  /// has it and every existing member dial each other. Its group is not started.
  Member& add(PeerId id, const CounterGroup::Options& options, tcp::GroupKey key = test_key()) {
    auto mesh = mesh_options(id, CounterGroup::id_for(options));
    if (tweak_) {
      tweak_(id, mesh);
    }
    auto member = std::make_unique<Member>(io, id, options, std::move(mesh), std::move(key));
    std::string error;
    const bool started = member->transport.start(error);
    INFO(error);
    REQUIRE(started);
    member->endpoint = member->mesh().local_endpoint().value();
    auto* raw = member.get();
    raw->group.on_event([raw](const group::GroupEvent& event) { raw->events.push_back(event); });
    for (auto& [other_id, other] : members_) {
      raw->mesh().add_peer(tcp::PeerAddress{other_id, other->endpoint});
      other->mesh().add_peer(tcp::PeerAddress{id, raw->endpoint});
    }
    members_.emplace(id, std::move(member));
    return *raw;
  }

  /// add() and start every member of `ids`, all configured with counter_options(ids).
  void start_all(const std::vector<PeerId>& ids, std::uint64_t sync_batch = 100) {
    for (const auto id : ids) {
      add(id, counter_options(ids, sync_batch));
    }
    for (const auto id : ids) {
      members_.at(id)->group.start();
    }
  }

  /// Stops and destroys member `id` (its port is free again).
  void remove(PeerId id) {
    auto it = members_.find(id);
    REQUIRE(it != members_.end());
    it->second->group.stop();
    it->second->transport.stop();
    drain();
    members_.erase(it);
    drain();
  }

  Member& member(PeerId id) { return *members_.at(id); }
  CounterGroup& operator[](PeerId id) { return members_.at(id)->group; }
  [[nodiscard]] std::vector<PeerId> ids() const {
    std::vector<PeerId> out;
    for (const auto& [id, member] : members_) {
      out.push_back(id);
    }
    return out;
  }

  /// The leader every member of `among` knows, when they agree and it leads.
  std::optional<PeerId> agreed_leader(const std::vector<PeerId>& among) {
    std::optional<PeerId> leader;
    for (const auto id : among) {
      const auto known = (*this)[id].leader();
      if (!known || (leader && *leader != *known)) {
        return std::nullopt;
      }
      leader = known;
    }
    if (!leader || !members_.contains(*leader) || !(*this)[*leader].is_leader()) {
      return std::nullopt;
    }
    return leader;
  }

  /// Runs until the members of `among` agree on a leader (REQUIREd within `limit`).
  PeerId elect(const std::vector<PeerId>& among, Duration limit = 20s) {
    const bool elected = run_until([&] { return agreed_leader(among).has_value(); }, limit);
    REQUIRE(elected);
    return *agreed_leader(among);
  }

  /// Whether the members of `among` applied the same index (at least `at_least`,
  /// everything they committed) and hold the same counter value.
  bool converged(const std::vector<PeerId>& among, Index at_least = Index{0}) {
    const CounterGroup* first = nullptr;
    for (const auto id : among) {
      const auto& group = (*this)[id];
      if (group.applied() < at_least || group.applied() != group.committed()) {
        return false;
      }
      if (first != nullptr &&
          (group.applied() != first->applied() || group.machine().value() != first->machine().value())) {
        return false;
      }
      first = first == nullptr ? &group : first;
    }
    return true;
  }

  /// Adds and starts `joiner`, waits until it is bonded with `bonds` members,
  /// runs `meanwhile` (e.g. starts a load) and has `leader` add it to the
  /// group; REQUIREs that the change commits and returns its index.
  Index join(PeerId leader, PeerId joiner, const CounterGroup::Options& options, std::size_t bonds,
             const std::function<void()>& meanwhile = {}) {
    auto& member = add(joiner, options);
    member.group.start();
    REQUIRE(run_until([&] { return member.transport.bonded_peers().size() == bonds; }, 10s));
    if (meanwhile) {
      meanwhile();
    }
    auto adding = (*this)[leader].add_member(joiner);
    const auto added = await(std::move(adding), 30s);
    INFO("add_member: " << describe(added));
    REQUIRE(added.has_value());
    REQUIRE(added->ok());
    return added->value();
  }

  /// Executes Inc(`amount`) through member `id`; REQUIREs that it succeeds.
  Index execute_ok(PeerId id, std::int64_t amount, Duration limit = 20s) {
    auto operation = (*this)[id].execute(Counter::Command{amount});
    const auto result = await(std::move(operation), limit);
    INFO("execute of " << amount << " through member " << id.value() << ": " << describe(result));
    REQUIRE(result.has_value());
    REQUIRE(result->ok());
    return result->value();
  }

private:
  std::function<void(PeerId, tcp::MeshOptions&)> tweak_;
  std::map<PeerId, std::unique_ptr<Member>> members_;
};

// ---- a raw peer -----------------------------------------------------------------------

/// A frame's bytes as given: any version, kind, flags, reserved byte and
/// length (the header's length need not match the body).
inline wire::Bytes raw_frame(std::uint8_t kind, GroupId group, std::span<const std::byte> body,
                             std::uint8_t flags = 0, std::uint8_t version = wire::protocol_version,
                             std::uint8_t reserved = 0, std::optional<std::uint32_t> length = std::nullopt) {
  wire::FrameHeader header;
  header.length = length.value_or(static_cast<std::uint32_t>(body.size()));
  header.version = version;
  header.kind = kind;
  header.flags = flags;
  header.group = group;
  const auto encoded = wire::encode_header(header);
  wire::Bytes out(encoded.begin(), encoded.end());
  out[7] = static_cast<std::byte>(reserved);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

/// One TCP connection to 127.0.0.1:port on a plain blocking socket. Every
/// blocking call has a deadline. Not thread-safe: one thread at a time.
class RawPeer {
public:
  explicit RawPeer(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      error_ = std::strerror(errno);
      return;
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      error_ = std::strerror(errno);
      close();
    }
  }
  RawPeer(RawPeer&& other) noexcept : fd_(std::exchange(other.fd_, -1)), error_(std::move(other.error_)) {}
  RawPeer& operator=(RawPeer&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = std::exchange(other.fd_, -1);
      error_ = std::move(other.error_);
    }
    return *this;
  }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;
  ~RawPeer() { close(); }

  [[nodiscard]] bool connected() const noexcept { return fd_ >= 0; }
  [[nodiscard]] const std::string& error() const noexcept { return error_; }

  void close() noexcept {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  void shutdown_write() noexcept {
    if (fd_ >= 0) {
      ::shutdown(fd_, SHUT_WR);
    }
  }

  /// Writes all of `bytes` (false: the connection failed, e.g. the node closed it).
  bool send(std::span<const std::byte> bytes) {
    std::size_t at = 0;
    while (at < bytes.size() && fd_ >= 0) {
      const auto n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        error_ = std::strerror(errno);
        return false;
      }
      at += static_cast<std::size_t>(n);
    }
    return at == bytes.size();
  }
  bool send_frame(std::uint8_t kind, GroupId group, std::span<const std::byte> body) {
    return send(raw_frame(kind, group, body));
  }

  /// Exactly `count` bytes, or nullopt (closed, failed, or not within `timeout`).
  std::optional<wire::Bytes> receive(std::size_t count, Duration timeout = 5s) {
    wire::Bytes out(count);
    std::size_t at = 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (at < count) {
      const auto n = read_some(std::span(out).subspan(at), deadline);
      if (n <= 0) {
        return std::nullopt;
      }
      at += static_cast<std::size_t>(n);
    }
    return out;
  }

  /// Reads and discards until the other end closes the connection (EOF or
  /// reset): true when it did within `timeout`.
  bool closed_within(Duration timeout) {
    std::array<std::byte, 64 * 1024> sink{};
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto n = read_some(sink, deadline);
      if (n == 0 || n == -1) {
        return true; // EOF, or the connection failed
      }
      if (n == -2) {
        return false; // still open at the deadline
      }
    }
  }

  /// Runs the key handshake as the dialler: reads the node's hello (it speaks
  /// first), sends ours and our proof, checks the node's proof. The node's
  /// hello on success; nullopt with `why` set otherwise.
  std::optional<tcp::Hello> handshake(const tcp::GroupKey& key, PeerId self, bool client, std::string& why,
                                      std::optional<GroupId> group_override = std::nullopt) {
    wire::FrameHeader header;
    auto hello_body = receive_frame(header, why);
    if (!hello_body) {
      return std::nullopt;
    }
    if (header.kind != wire::kind::hello) {
      why = "the node did not start with a hello";
      return std::nullopt;
    }
    const auto theirs = tcp::decode_hello(*hello_body);
    if (!theirs) {
      why = "undecodable hello";
      return std::nullopt;
    }
    const auto group = group_override.value_or(header.group);
    tcp::Handshake handshake(key, group, tcp::HandshakeRole::dialer, self, client);
    const auto ours = tcp::encode(handshake.hello());
    if (!send_frame(wire::kind::hello, group, ours)) {
      why = "cannot send the hello: " + error_;
      return std::nullopt;
    }
    const auto answer = handshake.on_hello(*hello_body);
    if (const auto* refusal = std::get_if<tcp::HandshakeError>(&answer)) {
      why = std::string{"our side refused the node's hello: "} + tcp::to_string(*refusal);
      return std::nullopt;
    }
    if (!send_frame(wire::kind::proof, group, std::get<tcp::Mac>(answer))) {
      why = "cannot send the proof: " + error_;
      return std::nullopt;
    }
    auto proof = receive_frame(header, why);
    if (!proof) {
      return std::nullopt;
    }
    if (header.kind != wire::kind::proof) {
      why = "expected the node's proof";
      return std::nullopt;
    }
    if (const auto refusal = handshake.on_proof(*proof); refusal != tcp::HandshakeError::none) {
      why = std::string{"the node's proof: "} + tcp::to_string(refusal);
      return std::nullopt;
    }
    return theirs;
  }

private:
  /// > 0: bytes read; 0: EOF; -1: the connection failed; -2: the deadline passed.
  long read_some(std::span<std::byte> into, std::chrono::steady_clock::time_point deadline) {
    while (fd_ >= 0) {
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= Duration::zero()) {
        return -2;
      }
      const auto slice = std::min<Duration>(left, 100ms);
      const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(slice).count();
      timeval tv{};
      tv.tv_sec = static_cast<time_t>(micros / 1'000'000);
      tv.tv_usec = static_cast<suseconds_t>(std::max<long long>(micros % 1'000'000, 1000));
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      const auto n = ::recv(fd_, into.data(), into.size(), 0);
      if (n >= 0) {
        return static_cast<long>(n);
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        continue;
      }
      error_ = std::strerror(errno);
      return -1;
    }
    return -1;
  }

  std::optional<wire::Bytes> receive_frame(wire::FrameHeader& header, std::string& why) {
    const auto raw = receive(wire::frame_header_bytes);
    if (!raw) {
      why = "no frame header from the node (" + error_ + ")";
      return std::nullopt;
    }
    const auto decoded = wire::decode_header(
        std::span<const std::byte, wire::frame_header_bytes>(raw->data(), raw->size()), wire::DecodeLimits{});
    if (!decoded) {
      why = "bad frame header from the node";
      return std::nullopt;
    }
    header = decoded.value();
    auto body = receive(header.length);
    if (!body) {
      why = "no frame body from the node";
    }
    return body;
  }

  int fd_ = -1;
  std::string error_;
};

} // namespace mosaik::nettest
