// `mosaik-node client`: connects to a member (any of those given, following
// the member's pointer to the leader when it is not one), runs one command
// and prints its answer. `bench` writes N keys through C connections at once
// and prints one JSON line.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>

#include <mosaik/net/tcp/client.hpp>
#include <mosaik/wire/codec.hpp>

#include "../example_support.hpp"
#include "node.hpp"
#include "protocol.hpp"

namespace mosaik::node {
namespace {

struct ClientOptions {
  std::vector<tcp::Endpoint> connect;
  std::string key_file;
  std::string log_level = "warn";
  double timeout = 30;
  // The command and its arguments.
  std::vector<std::string> command;
  std::uint64_t size = 100;
  std::uint64_t batch = 1000;
  std::uint64_t clients = 4;
  bool weak = false;
};

class Session {
public:
  Session(asio::io_context& io, const ClientOptions& options, const tcp::GroupKey& key)
      : io_(io), options_(options), client_(io.get_executor(), key) {}

  /// Connects to the first member that answers.
  asio::awaitable<bool> connect() {
    for (const auto& endpoint : options_.connect) {
      if (co_await connect_to(endpoint)) {
        co_return true;
      }
    }
    co_return false;
  }

  /// Sends `request`; follows one redirect to the leader when the member is not it.
  asio::awaitable<std::optional<Response>> call(const Request& request, bool follow_leader) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      const auto bytes = wire::to_bytes(request);
      auto answer = co_await client_.call(bytes);
      if (!answer) {
        error_ = "the member closed the connection";
        co_return std::nullopt;
      }
      auto response = wire::from_bytes<Response>(*answer);
      if (!response) {
        error_ = fmt::format("undecodable answer: {}", wire::to_string(response.error()));
        co_return std::nullopt;
      }
      if (response->ok || !follow_leader || response->leader_address.empty() ||
          response->leader == client_.member().value()) {
        co_return std::move(response).value();
      }
      const auto leader = tcp::parse_endpoint(response->leader_address);
      if (!leader || !co_await connect_to(*leader)) {
        co_return std::move(response).value();
      }
    }
    co_return std::nullopt;
  }

  [[nodiscard]] const std::string& error() const noexcept { return error_; }

private:
  asio::awaitable<bool> connect_to(const tcp::Endpoint& endpoint) {
    const auto timeout =
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(options_.timeout));
    if (auto failure = co_await client_.connect(endpoint, timeout)) {
      error_ = *failure;
      co_return false;
    }
    co_return true;
  }

  asio::io_context& io_;
  const ClientOptions& options_;
  tcp::Client client_;
  std::string error_;
};

/// Prints the answer; the exit status: 0 ok, 1 failed, 3 a get of a missing key.
int print_response(const std::optional<Response>& response, const Session& session, bool is_get) {
  if (!response) {
    std::fprintf(stderr, "mosaik-node client: %s\n", session.error().c_str());
    return 1;
  }
  if (!response->ok) {
    std::fprintf(stderr, "mosaik-node client: %s%s\n", response->error.c_str(),
                 response->leader != 0 ? fmt::format(" (leader: {})", response->leader).c_str() : "");
    return 1;
  }
  if (!response->status.empty()) {
    std::puts(response->status.c_str());
  } else if (response->value) {
    std::puts(response->value->c_str());
  } else if (is_get) {
    std::fputs("mosaik-node client: no such key\n", stderr);
    return 3;
  } else {
    std::printf("ok %llu\n", static_cast<unsigned long long>(response->index));
  }
  return 0;
}

/// N puts in batches, from C sessions at once, keys k<i>, values of `size` bytes.
asio::awaitable<int> bench(asio::io_context& io, const ClientOptions& options, const tcp::GroupKey& key,
                           std::uint64_t total) {
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t next = 0;
  std::uint64_t done = 0;
  int failures = 0;
  std::string failure;
  int running = static_cast<int>(std::max<std::uint64_t>(1, options.clients));
  asio::steady_timer finished(io, asio::steady_timer::time_point::max());
  for (int worker = running; worker > 0; --worker) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          std::error_code ignored_error;
          Session session(io, options, key);
          if (!co_await session.connect()) {
            ++failures;
            failure = session.error();
          } else {
            const std::string value(options.size, 'v');
            while (next < total && failures == 0) {
              Put put;
              const auto first = next;
              next = std::min(total, next + options.batch);
              for (auto i = first; i < next; ++i) {
                put.commands.push_back(machines::KvStore::put(fmt::format("k{}", i), value));
              }
              const auto count = put.commands.size();
              const Request request{std::move(put)};
              auto response = co_await session.call(request, true);
              // No leader yet (an election): wait and send the same batch again
              // (puts of the same keys and values: harmless if it did commit).
              const auto retry_until = std::chrono::steady_clock::now() +
                                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                           std::chrono::duration<double>(options.timeout));
              while (response && !response->ok && response->error.starts_with("offline") &&
                     std::chrono::steady_clock::now() < retry_until) {
                asio::steady_timer pause(io, std::chrono::milliseconds(100));
                co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored_error));
                response = co_await session.call(request, true);
              }
              if (!response || !response->ok) {
                ++failures;
                failure = response ? response->error : session.error();
                break;
              }
              done += count;
            }
          }
          if (--running == 0) {
            finished.cancel();
          }
        },
        asio::detached);
  }
  std::error_code ignored;
  co_await finished.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failures != 0) {
    std::fprintf(stderr, "mosaik-node client: bench failed after %llu commands: %s\n",
                 static_cast<unsigned long long>(done), failure.c_str());
    co_return 1;
  }
  support::print_line(
      {{"commands", done},
       {"value_bytes", options.size},
       {"seconds", support::rounded(seconds, 3)},
       {"commands_per_s", std::llround(static_cast<double>(done) / std::max(seconds, 1e-9))}});
  co_return 0;
}

asio::awaitable<int> run(asio::io_context& io, const ClientOptions& options, const tcp::GroupKey& key) {
  const auto& words = options.command;
  const auto& verb = words.front();
  const auto arity = [&](std::size_t n) {
    if (words.size() != n + 1) {
      std::fprintf(stderr, "mosaik-node client: %s takes %zu argument(s)\n", verb.c_str(), n);
      return false;
    }
    return true;
  };
  const auto number = [&](const std::string& text) -> std::optional<std::uint64_t> {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size()) {
      std::fprintf(stderr, "mosaik-node client: not a number: %s\n", text.c_str());
      return std::nullopt;
    }
    return value;
  };
  if (verb == "bench") {
    const auto n = arity(1) ? number(words[1]) : std::nullopt;
    co_return n ? co_await bench(io, options, key, *n) : 2;
  }
  Request request;
  bool follow = true;
  if (verb == "put" && arity(2)) {
    request = Put{{machines::KvStore::put(words[1], words[2])}};
  } else if (verb == "get" && arity(1)) {
    request = Get{words[1], !options.weak};
    follow = false;
  } else if (verb == "add-member" && arity(1)) {
    const auto id = number(words[1]);
    if (!id) {
      co_return 2;
    }
    request = AddMember{*id};
  } else if (verb == "status" && arity(0)) {
    request = Status{};
    follow = false;
  } else {
    if (verb != "put" && verb != "get" && verb != "add-member" && verb != "status") {
      std::fprintf(stderr, "mosaik-node client: unknown command %s\n", verb.c_str());
    }
    co_return 2;
  }
  Session session(io, options, key);
  if (!co_await session.connect()) {
    std::fprintf(stderr, "mosaik-node client: %s\n", session.error().c_str());
    co_return 1;
  }
  const auto response = co_await session.call(request, follow);
  co_return print_response(response, session, verb == "get");
}

/// Parses the command line into `options`; nullopt to go on, or the exit status.
std::optional<int> parse(int argc, char** argv, ClientOptions& options) {
  CLI::App app{"mosaik-node client: runs one command against a group's members", "mosaik-node client"};
  std::vector<std::string> connect;
  app.add_option("--connect", connect, "HOST:PORT of a member (repeatable; the first that answers)");
  app.add_option("--key-file", options.key_file, "the group's shared key");
  app.add_option("--timeout", options.timeout, "SECONDS to connect")->capture_default_str();
  app.add_option("--size", options.size, "bench: BYTES per value")->capture_default_str();
  app.add_option("--batch", options.batch, "bench: K puts per request")->capture_default_str();
  app.add_option("--clients", options.clients, "bench: C connections at once")->capture_default_str();
  app.add_flag("--weak", options.weak, "get: the member's local state, not a linearizable read");
  examples::add_log_level(app, options.log_level);
  app.add_option("command", options.command,
                 "put KEY VALUE | get KEY | add-member ID | status | bench N (options may follow it)");
  if (const auto status = support::parse(app, argc, argv)) {
    return status;
  }
  for (const auto& text : connect) {
    const auto endpoint = tcp::parse_endpoint(text);
    if (!endpoint) {
      return support::usage_error(app, fmt::format("--connect: expected HOST:PORT, got '{}'", text));
    }
    options.connect.push_back(*endpoint);
  }
  const char* problem = nullptr;
  if (options.connect.empty()) {
    problem = "--connect HOST:PORT is required";
  } else if (options.key_file.empty()) {
    problem = "--key-file is required";
  } else if (options.command.empty()) {
    problem = "a command is required: put KEY VALUE | get KEY | add-member ID | status | bench N";
  } else if (options.batch == 0) {
    problem = "--batch must be positive";
  }
  if (problem != nullptr) {
    return support::usage_error(app, problem);
  }
  return std::nullopt;
}

} // namespace

int run_client(int argc, char** argv) {
  ClientOptions options;
  if (const auto status = parse(argc, argv, options)) {
    return *status;
  }
  log::set_level(examples::level_from(options.log_level));
  std::string error;
  const auto key = tcp::GroupKey::from_file(options.key_file, error);
  if (!key) {
    std::fprintf(stderr, "mosaik-node client: %s\n", error.c_str());
    return 1;
  }
  asio::io_context io;
  int status = 1;
  asio::co_spawn(io, run(io, options, *key),
                 [&](std::exception_ptr failure, int result) { status = failure ? 1 : result; });
  io.run();
  return status;
}

} // namespace mosaik::node
