// `mosaik-node run`: one member of a replication group over TCP, with a
// replicated key-value store. It logs its role, its bonds, the progress of
// every catch-up session (percent, rate, the peers used) and a summary, and
// answers `mosaik-node client` requests.

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <mosaik/group/file_hard_state.hpp>
#include <mosaik/group/group.hpp>
#include <mosaik/group/hard_state.hpp>
#include <mosaik/machines/kv_store.hpp>
#include <mosaik/net/tcp/tcp_transport.hpp>
#include <mosaik/storage/file_log.hpp>
#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/sync/log_replay/log_replay_message_codec.hpp>
#include <mosaik/wire/codec.hpp>

#include "../example_support.hpp"
#include "node.hpp"
#include "protocol.hpp"

namespace mosaik::node {
namespace {

using Machine = machines::KvStore;
// Snapshot catch-up: with --snapshot-interval the leader snapshots and members
// prune their logs; without it members keep their logs and catch up by replay.
using NodeGroup = group::Group<Machine, sync::SnapshotSync>;
using Strategy = NodeGroup::Strategy;
using Transport = tcp::TcpTransport<NodeGroup::Message>;

struct RunOptions {
  std::uint64_t id = 0;
  std::string listen;
  std::vector<tcp::PeerAddress> peers;
  std::string key_file;
  std::string members;
  std::string group = "mosaik";
  std::string data_dir;
  std::string fsync = "batch";
  std::string log_level = "info";
  std::string tls_cert, tls_key, tls_ca;
  double progress_interval = 1.0;
  // Catch-up settings: part of the group's identity, so every member must pass the same.
  std::uint64_t sync_batch = sync::LogReplayConfig{}.batch_size;
  std::uint64_t sync_inflight = sync::LogReplayConfig{}.max_inflight_per_peer;
  std::uint64_t snapshot_interval = 0; // entries between the leader's snapshots (0: none)
  std::uint64_t retain = sync::SnapshotConfig{}.retained_entries;
  std::string sync_report; // where to write the first completed catch-up's report (a FIFO for benchmarks)
};

[[nodiscard]] double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

[[nodiscard]] std::optional<std::vector<group::MemberSpec>> parse_members(std::string_view text) {
  std::vector<group::MemberSpec> members;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto item = text.substr(0, comma);
    std::uint64_t id = 0;
    const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (error != std::errc{} || end != item.data() + item.size() || id == 0) {
      return std::nullopt;
    }
    members.push_back(group::MemberSpec{PeerId{id}});
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  return members.empty() ? std::nullopt : std::optional{members};
}

/// Now on the steady clock, in nanoseconds: CLOCK_MONOTONIC, which every
/// process on the machine shares, so benchmarks compare one node's times with
/// another's.
[[nodiscard]] std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// The last finished catch-up session, as `status` reports it.
struct SyncRecord {
  bool ok = false;
  std::int64_t started_ns = 0;  // steady_ns() when the session started
  std::int64_t finished_ns = 0; // ... when it ended (the log holds every entry)
  Index last;                   // the log's end then
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  double seconds = 0;
  double cpu = 0;
  std::map<PeerId, std::uint64_t> peers;
  std::string reason;
};

using NodeLog = storage::LogStorage<group::LogCommand<Machine::Command>>;

/// The member's log and hard state: files under --data-dir (a restarted node
/// resumes with its log, term and vote), or memory without it.
struct Storage {
  std::unique_ptr<NodeLog> log;
  std::unique_ptr<group::HardStateStorage> hard;
  std::unique_ptr<NodeGroup::SnapshotStore> snapshots;
};

std::variant<Storage, std::string> open_storage(const RunOptions& options) {
  if (options.data_dir.empty()) {
    return Storage{std::make_unique<storage::InMemoryLog<group::LogCommand<Machine::Command>>>(),
                   std::make_unique<group::InMemoryHardState>(),
                   std::make_unique<storage::InMemorySnapshotStore<Machine::SnapshotItem>>()};
  }
  const std::filesystem::path root{options.data_dir};
  std::error_code error;
  std::filesystem::create_directories(root, error);
  if (error) {
    return fmt::format("--data-dir {}: {}", options.data_dir, error.message());
  }
  storage::FileLogOptions log_options;
  log_options.directory = root / "log";
  log_options.fsync = *storage::parse_fsync_policy(options.fsync);
  auto log = storage::FileLog<group::LogCommand<Machine::Command>>::open(log_options);
  if (auto* failure = std::get_if<std::string>(&log)) {
    return std::move(*failure);
  }
  auto hard = group::FileHardState::open(root / "hard-state");
  if (auto* failure = std::get_if<std::string>(&hard)) {
    return std::move(*failure);
  }
  const auto& file_log = *std::get<0>(log);
  const auto& report = file_log.recovery();
  log::info("member {}: opened {}: {} entries in {} segments (log {}..{}), fsync {}{}", options.id,
            options.data_dir, report.records, report.segments, file_log.available().first(), file_log.last(),
            options.fsync,
            report.bytes_cut != 0 ? fmt::format("; cut a damaged tail of {} bytes", report.bytes_cut) : "");
  return Storage{std::move(std::get<0>(log)), std::move(std::get<0>(hard)),
                 std::make_unique<storage::FileSnapshotStore<Machine::SnapshotItem>>(root)};
}

class Node {
public:
  Node(asio::io_context& io, RunOptions options, std::vector<group::MemberSpec> members, tcp::GroupKey key,
       Storage storage)
      : io_(io), options_(std::move(options)), storage_(std::move(storage)),
        transport_(io.get_executor(), mesh_options(members), std::move(key)),
        group_(transport_, *storage_.log, *storage_.hard, *storage_.snapshots, group_options(members)) {
    for (const auto& peer : options_.peers) {
      addresses_[peer.id] = peer.endpoint.to_string();
    }
  }

  bool start() {
    std::string error;
    if (!transport_.start(error)) {
      log::error("member {}: {}", options_.id, error);
      return false;
    }
    log::info("member {}: listening on {}, group {:#x}, {} peers to dial{}", options_.id,
              transport_.mesh().local_endpoint().value_or(tcp::Endpoint{}).to_string(), group_.id().value(),
              options_.peers.size(), options_.tls_cert.empty() ? "" : ", TLS");
    if (options_.data_dir.empty()) {
      log::warn("member {}: no --data-dir: the log, term and vote are kept in memory and lost on exit",
                options_.id);
    }
    group_.on_event([this](const group::GroupEvent& event) { on_event(event); });
    transport_.mesh().on_client(
        [this](tcp::ClientId client, std::span<const std::byte> body) { on_request(client, body); });
    group_.start();
    if (group_.stopped()) {
      log::error("member {}: {}", options_.id, group_.refusal());
      transport_.stop();
      return false;
    }
    asio::co_spawn(io_, report_progress(), asio::detached);
    return true;
  }

  void stop() {
    stopping_ = true;
    const auto stats = transport_.mesh().stats();
    log::info("member {}: stopping. role {}, term {}, commit {}, applied {}, last {}, keys {}; served {} "
              "entries to catch-up sessions; {} sessions here; frames sent {} received {} rejected {}; "
              "handshakes {} completed, {} refused",
              options_.id, group::to_string(group_.core().role()), group_.core().term(), group_.committed(),
              group_.applied(), group_.last().index, group_.machine().size(),
              group_.provider().replay_counters().entries_served, sessions_, stats.frames_sent,
              stats.frames_received, stats.frames_rejected, stats.handshakes_completed,
              stats.handshakes_refused);
    group_.stop();
    transport_.stop();
    progress_timer_.reset();
  }

private:
  tcp::MeshOptions mesh_options(const std::vector<group::MemberSpec>& members) const {
    tcp::MeshOptions mesh;
    mesh.self = PeerId{options_.id};
    mesh.group = NodeGroup::id_for(group_options(members));
    mesh.listen = tcp::parse_endpoint(options_.listen);
    mesh.peers = options_.peers;
    if (!options_.tls_cert.empty()) {
      mesh.tls = tcp::TlsOptions{options_.tls_cert, options_.tls_key, options_.tls_ca};
    }
    return mesh;
  }

  NodeGroup::Options group_options(const std::vector<group::MemberSpec>& members) const {
    NodeGroup::Options options;
    options.key = options_.group;
    options.config.members = members;
    sync::LogReplayConfig sync;
    sync.batch_size = options_.sync_batch;
    sync.max_inflight_per_peer = static_cast<std::uint32_t>(options_.sync_inflight);
    sync::SnapshotConfig snapshot;
    snapshot.replay = sync;
    snapshot.snapshot_interval = options_.snapshot_interval;
    snapshot.retained_entries = options_.retain;
    options.strategy = Strategy{snapshot};
    return options;
  }

  void on_event(const group::GroupEvent& event) {
    using Kind = group::GroupEvent::Kind;
    if (event.kind == Kind::sync_started) {
      sync_start_ = std::chrono::steady_clock::now();
      sync_started_ns_ = steady_ns();
      sync_cpu_ = cpu_seconds();
      sync_bytes_ = transport_.mesh().stats().bytes_received;
      sync_from_ = group_.last().index;
      log::info("member {}: catch-up started: log at {}, target {} (term {})", options_.id, sync_from_,
                event.target.index, event.target.term);
    } else if (event.kind == Kind::sync_finished && event.outcome && event.progress) {
      ++sessions_;
      SyncRecord record;
      record.ok = event.outcome->ok();
      record.started_ns = sync_started_ns_;
      record.finished_ns = steady_ns();
      record.last = group_.last().index;
      record.entries = event.progress->done;
      record.bytes = transport_.mesh().stats().bytes_received - sync_bytes_;
      record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - sync_start_).count();
      record.cpu = cpu_seconds() - sync_cpu_;
      record.reason = event.outcome->reason;
      for (const auto& [peer, progress] : event.progress->peers) {
        record.peers[peer] = progress.entries + progress.items;
      }
      if (const auto& snapshot = event.progress->snapshot) {
        log::info("member {}: catch-up fetched the snapshot at {} ({} items{})", options_.id, snapshot->at,
                  snapshot->items, snapshot->installed ? ", installed" : ", not installed");
      }
      log::info("member {}: catch-up {}: {} entries, {:.1f} MB in {:.3f} s ({:.1f} MB/s, {:.0f} entries/s, "
                "{:.2f} CPU s); peers used: {}{}",
                options_.id, record.ok ? "complete" : "ended", record.entries, record.bytes / 1e6,
                record.seconds, record.bytes / 1e6 / std::max(record.seconds, 1e-9),
                record.entries / std::max(record.seconds, 1e-9), record.cpu, peers_used(record.peers),
                record.ok ? "" : fmt::format(" ({})", record.reason));
      if (record.ok && !options_.sync_report.empty() && !reported_) {
        reported_ = true;
        asio::co_spawn(io_, report_sync(record), asio::detached);
      }
      last_sync_ = std::move(record);
    } else if (event.kind == Kind::leader_changed) {
      log::info("member {}: leader is {} (term {})", options_.id,
                event.leader ? fmt::format("{}", *event.leader) : std::string{"unknown"}, event.term);
    } else if (event.kind == Kind::role_changed) {
      log::info("member {}: {} in term {}", options_.id, group::to_string(event.role), event.term);
    }
  }

  static std::string peers_used(const std::map<PeerId, std::uint64_t>& peers) {
    std::string out;
    for (const auto& [peer, entries] : peers) {
      if (entries != 0) {
        out += fmt::format("{}{}: {}", out.empty() ? "" : ", ", peer, entries);
      }
    }
    return out.empty() ? "none" : out;
  }

  /// Writes the first completed catch-up's report to --sync-report once
  /// everything it fetched is applied: one JSON line with steady-clock times
  /// (benchmarks read it from a FIFO instead of polling `status`).
  asio::awaitable<void> report_sync(SyncRecord record) {
    const auto applied = co_await group_.when_applied(record.last);
    using support::Json;
    const Json report{{"ok", record.ok && applied.ok()},
                      {"entries", record.entries},
                      {"bytes", record.bytes},
                      {"started_ns", record.started_ns},
                      {"caught_up_ns", record.finished_ns},
                      {"applied_ns", steady_ns()},
                      {"cpu_seconds", support::rounded(record.cpu, 3)},
                      {"peak_rss_kib", peak_rss_kib()},
                      {"peers", support::counts_json(record.peers)}};
    if (std::FILE* out = std::fopen(options_.sync_report.c_str(), "w")) {
      std::fprintf(out, "%s\n", support::one_line(report).c_str());
      std::fclose(out);
    } else {
      log::error("member {}: cannot write the catch-up report to {}", options_.id, options_.sync_report);
    }
  }

  /// The process's peak resident set (VmHWM), in KiB.
  static std::uint64_t peak_rss_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<std::uint64_t>(usage.ru_maxrss);
  }

  /// Once a second while a session runs: how far, how fast, from whom.
  asio::awaitable<void> report_progress() {
    progress_timer_.emplace(io_);
    while (!stopping_) {
      progress_timer_->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(options_.progress_interval)));
      std::error_code error;
      co_await progress_timer_->async_wait(asio::redirect_error(asio::use_awaitable, error));
      if (error || stopping_) {
        co_return;
      }
      if (const auto progress = group_.sync_progress(); progress && progress->total != 0) {
        std::map<PeerId, std::uint64_t> peers;
        for (const auto& [peer, p] : progress->peers) {
          peers[peer] = p.entries;
        }
        log::info("member {}: catch-up {:.1f}% ({} of {} entries), {:.0f} entries/s, peers used: {}",
                  options_.id, examples::percent(progress->done, progress->total), progress->done,
                  progress->total, progress->entries_per_second, peers_used(peers));
      }
    }
  }

  // ---- client requests -------------------------------------------------------------

  void on_request(tcp::ClientId client, std::span<const std::byte> body) {
    auto request = wire::from_bytes<Request>(body, transport_.mesh().limits());
    if (!request) {
      ++bad_requests_;
      log::warn("member {}: client {} sent an undecodable request ({}); closing it", options_.id, client,
                wire::to_string(request.error()));
      Response response;
      response.error = fmt::format("bad request: {}", wire::to_string(request.error()));
      respond(client, response);
      return;
    }
    asio::co_spawn(io_, serve(client, std::move(request).value()), asio::detached);
  }

  asio::awaitable<void> serve(tcp::ClientId client, Request request) {
    Response response;
    if (auto* put = std::get_if<Put>(&request)) {
      auto result = co_await group_.execute_many(std::move(put->commands));
      if (result) {
        response.ok = true;
        response.index = result->last().value();
      } else {
        response.error = result.error().message();
      }
    } else if (const auto* get = std::get_if<Get>(&request)) {
      // Named, not a temporary inside the co_await: GCC 12 destroys such
      // temporaries twice (see README, "Compilers").
      Machine::Query query{get->key};
      const auto consistency = get->strong ? group::Consistency::strong : group::Consistency::weak;
      auto result = co_await group_.query(std::move(query), consistency);
      if (result) {
        response.ok = true;
        response.value = *result;
      } else {
        response.error = result.error().message();
      }
    } else if (const auto* add = std::get_if<AddMember>(&request)) {
      // When the leader took the change (steady clock): a join's clock starts here.
      const auto accepted_ns = steady_ns();
      auto result = co_await group_.add_member(PeerId{add->id});
      if (result) {
        response.ok = true;
        response.index = result->value();
        response.status = support::one_line({{"index", result->value()}, {"accepted_ns", accepted_ns}});
      } else {
        response.error = result.error().message();
      }
    } else {
      response.ok = true;
      response.status = status_json();
    }
    if (!response.ok) {
      if (const auto leader = group_.leader()) {
        response.leader = leader->value();
        if (const auto it = addresses_.find(*leader); it != addresses_.end()) {
          response.leader_address = it->second;
        }
      }
    }
    respond(client, response);
  }

  void respond(tcp::ClientId client, const Response& response) {
    transport_.mesh().send_to_client(
        client, tcp::make_frame(wire::kind::client_response, group_.id(), wire::to_bytes(response)));
  }

  std::string status_json() {
    using support::Json;
    using support::rounded;
    Json last_sync; // null before the first catch-up
    if (last_sync_) {
      last_sync = {{"ok", last_sync_->ok},
                   {"entries", last_sync_->entries},
                   {"bytes", last_sync_->bytes},
                   {"seconds", rounded(last_sync_->seconds, 6)},
                   {"cpu_seconds", rounded(last_sync_->cpu, 3)},
                   {"mb_per_s", rounded(last_sync_->bytes / 1e6 / std::max(last_sync_->seconds, 1e-9), 3)},
                   {"peers", support::counts_json(last_sync_->peers)}};
    }
    const auto leader = group_.leader();
    const auto stats = transport_.mesh().stats();
    return support::one_line({{"id", options_.id},
                              {"role", group::to_string(group_.core().role())},
                              {"term", group_.core().term().value()},
                              {"leader", leader ? leader->value() : 0},
                              {"commit", group_.committed().value()},
                              {"applied", group_.applied().value()},
                              {"last", group_.last().index.value()},
                              {"keys", group_.machine().size()},
                              {"digest", fmt::format("{:016x}", group_.machine().digest())},
                              {"syncing", group_.core().syncing()},
                              {"sync_sessions", sessions_},
                              {"last_sync", last_sync},
                              {"served", group_.provider().replay_counters().entries_served},
                              {"bonded", transport_.bonded_peers().size()},
                              {"frames_rejected", stats.frames_rejected},
                              {"handshakes_refused", stats.handshakes_refused},
                              {"connections_refused", stats.connections_refused},
                              {"bad_requests", bad_requests_},
                              {"cpu_seconds", rounded(cpu_seconds(), 3)}});
  }

  asio::io_context& io_;
  RunOptions options_;
  Storage storage_;
  Transport transport_;
  NodeGroup group_;
  std::map<PeerId, std::string> addresses_;
  std::optional<asio::steady_timer> progress_timer_;
  bool stopping_ = false;
  std::uint64_t sessions_ = 0;
  std::uint64_t bad_requests_ = 0;
  std::chrono::steady_clock::time_point sync_start_;
  std::int64_t sync_started_ns_ = 0;
  bool reported_ = false;
  double sync_cpu_ = 0;
  std::uint64_t sync_bytes_ = 0;
  Index sync_from_;
  std::optional<SyncRecord> last_sync_;
};

/// Parses the command line into `options`; nullopt to go on, or the exit status.
std::optional<int> parse(int argc, char** argv, RunOptions& options) {
  CLI::App app{"mosaik-node run: a group member over TCP with a replicated key-value store",
               "mosaik-node run"};
  std::vector<std::string> peers;
  app.add_option("--id", options.id, "this member's id (positive)");
  app.add_option("--listen", options.listen, "HOST:PORT to accept peers and clients on");
  app.add_option("--peer", peers, "ID@HOST:PORT of another member (repeatable)");
  app.add_option("--key-file", options.key_file, "the group's shared key");
  app.add_option("--members", options.members, "the founding voters' ids: ID,ID,...");
  app.add_option("--group", options.group, "the group's name")->capture_default_str();
  app.add_option("--data-dir", options.data_dir, "where the log and hard state live (default: in memory)");
  app.add_option("--fsync", options.fsync, "always|batch|never")->capture_default_str();
  examples::add_log_level(app, options.log_level);
  app.add_option("--progress-interval", options.progress_interval, "SECONDS between progress lines")
      ->capture_default_str();
  app.add_option("--sync-batch", options.sync_batch, "ENTRIES per catch-up request")->capture_default_str();
  app.add_option("--sync-inflight", options.sync_inflight, "catch-up requests in flight per peer")
      ->capture_default_str();
  app.add_option("--snapshot-interval", options.snapshot_interval, "ENTRIES between the leader's snapshots")
      ->capture_default_str();
  app.add_option("--retain", options.retain, "ENTRIES kept behind a snapshot")->capture_default_str();
  app.add_option("--sync-report", options.sync_report,
                 "FILE to write the first completed catch-up's report to (one JSON line, once applied)");
  bool no_huge_pages = false; // acted on by main() before anything runs
  app.add_flag("--no-huge-pages", no_huge_pages,
               "keep glibc's malloc on 4 KiB pages (by default `run` re-executes itself with "
               "GLIBC_TUNABLES=glibc.malloc.hugetlb=1: far fewer page faults during a catch-up)");
  app.add_option("--tls-cert", options.tls_cert, "PEM certificate (TLS)");
  app.add_option("--tls-key", options.tls_key, "PEM key (TLS)");
  app.add_option("--tls-ca", options.tls_ca, "PEM CA (TLS)");
  if (const auto status = support::parse(app, argc, argv)) {
    return status;
  }
  for (const auto& text : peers) {
    const auto peer = tcp::parse_peer_address(text);
    if (!peer) {
      return support::usage_error(app, fmt::format("--peer: expected ID@HOST:PORT, got '{}'", text));
    }
    options.peers.push_back(*peer);
  }
  const char* problem = nullptr;
  if (options.id == 0) {
    problem = "--id is required (a positive number)";
  } else if (!tcp::parse_endpoint(options.listen)) {
    problem = "--listen HOST:PORT is required";
  } else if (options.key_file.empty()) {
    problem = "--key-file is required";
  } else if (!parse_members(options.members)) {
    problem = "--members is required: the founding voters' ids, comma-separated";
  } else if (options.tls_cert.empty() != options.tls_key.empty() ||
             options.tls_cert.empty() != options.tls_ca.empty()) {
    problem = "TLS needs all of --tls-cert, --tls-key and --tls-ca";
  } else if (options.sync_batch == 0 || options.sync_inflight == 0 || options.sync_inflight > 64) {
    problem = "--sync-batch must be positive and --sync-inflight within 1..64";
  } else if (!storage::parse_fsync_policy(options.fsync)) {
    problem = "--fsync must be always, batch or never";
  } else if (!(options.progress_interval > 0)) {
    problem = "--progress-interval must be positive";
  }
  if (problem != nullptr) {
    return support::usage_error(app, problem);
  }
  return std::nullopt;
}

} // namespace

int run_node(int argc, char** argv) {
  RunOptions options;
  if (const auto status = parse(argc, argv, options)) {
    return *status;
  }
  log::set_level(examples::level_from(options.log_level));
  std::string error;
  auto key = tcp::GroupKey::from_file(options.key_file, error);
  if (!key) {
    log::error("member {}: {}", options.id, error);
    return 1;
  }
  auto storage = open_storage(options);
  if (const auto* failure = std::get_if<std::string>(&storage)) {
    log::error("member {}: cannot open its storage: {}", options.id, *failure);
    return 1;
  }
  asio::io_context io;
  Node node(io, options, *parse_members(options.members), *key, std::move(std::get<0>(storage)));
  if (!node.start()) {
    return 1;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const std::error_code&, int) {
    node.stop();
    io.stop();
  });
  io.run();
  return 0;
}

} // namespace mosaik::node
