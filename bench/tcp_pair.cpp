// The physical limit of plain TCP: pushes N bytes through one TCP connection
// in fixed-size chunks and prints one JSON line
//   {"bytes":N,"seconds":S,"mb_per_s":X,"cpu_seconds":C}
// (MB = 1e6 bytes; cpu_seconds = user + system time of this process).
//
//   mosaik-bench-tcp-pair [--bytes N] [--chunk BYTES]
//       sender and receiver in this process, one thread each, over 127.0.0.1;
//       timed from connect until the receiver has read all N bytes.
//   mosaik-bench-tcp-pair --listen HOST:PORT
//       receiver: accepts one connection, reads until EOF, prints its JSON
//       (timed from accept to EOF). PORT 0 picks a free port; the bound
//       address is printed on stderr.
//   mosaik-bench-tcp-pair --connect HOST:PORT [--bytes N] [--chunk BYTES]
//       sender: connects (retrying for up to 10 s while refused), sends N
//       bytes, shuts its side down and waits for the receiver to close, so
//       its figure covers delivery, not only the copy into the socket buffer.
//
// Plain blocking asio, header-only: deliberately independent of mosaik, as the
// yardstick the replication figures are compared against.

#include <sys/resource.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Options {
  std::uint64_t bytes = 100'000'000;
  std::size_t chunk = 65'536;
  std::optional<std::string> listen;
  std::optional<std::string> connect;
};

struct Endpoint {
  std::string host;
  std::string port;
};

void usage(std::FILE* out) {
  std::fputs(
      "usage: mosaik-bench-tcp-pair [--bytes N] [--chunk BYTES]\n"
      "       mosaik-bench-tcp-pair --listen HOST:PORT [--chunk BYTES]\n"
      "       mosaik-bench-tcp-pair --connect HOST:PORT [--bytes N] [--chunk BYTES]\n"
      "Pushes N bytes (default 100000000) through one TCP connection in chunks\n"
      "(default 65536) and prints {\"bytes\",\"seconds\",\"mb_per_s\",\"cpu_seconds\"}.\n"
      "Without --listen/--connect both ends run in this process over 127.0.0.1.\n",
      out);
}

template <typename T>
bool parse_number(std::string_view text, T& value) {
  const auto* const end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc{} && ptr == end;
}

// HOST:PORT, or [V6-ADDRESS]:PORT.
std::optional<Endpoint> parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return std::nullopt;
  }
  auto host = text.substr(0, colon);
  const auto port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::uint16_t number = 0;
  if (host.empty() || !parse_number(port, number)) {
    return std::nullopt;
  }
  return Endpoint{std::string(host), std::string(port)};
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      usage(stdout);
      std::exit(0);
    }
    if (flag != "--bytes" && flag != "--chunk" && flag != "--listen" && flag != "--connect") {
      std::fprintf(stderr, "mosaik-bench-tcp-pair: unknown option '%s'\n", argv[i]);
      return std::nullopt;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "mosaik-bench-tcp-pair: %s needs a value\n", argv[i]);
      return std::nullopt;
    }
    const std::string_view value = argv[++i];
    if (flag == "--bytes") {
      if (!parse_number(value, options.bytes) || options.bytes == 0) {
        std::fprintf(stderr, "mosaik-bench-tcp-pair: bad --bytes '%s'\n", argv[i]);
        return std::nullopt;
      }
    } else if (flag == "--chunk") {
      if (!parse_number(value, options.chunk) || options.chunk == 0 ||
          options.chunk > (std::size_t{1} << 30)) {
        std::fprintf(stderr, "mosaik-bench-tcp-pair: bad --chunk '%s'\n", argv[i]);
        return std::nullopt;
      }
    } else {  // --listen or --connect
      if (!parse_endpoint(value)) {
        std::fprintf(stderr, "mosaik-bench-tcp-pair: bad %s '%s' (want HOST:PORT)\n", argv[i - 1],
                     argv[i]);
        return std::nullopt;
      }
      (flag == "--listen" ? options.listen : options.connect) = std::string(value);
    }
  }
  if (options.listen && options.connect) {
    std::fputs("mosaik-bench-tcp-pair: --listen and --connect exclude each other\n", stderr);
    return std::nullopt;
  }
  return options;
}

double cpu_seconds() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) {
    return 0.0;
  }
  const auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void print_result(std::uint64_t bytes, Clock::duration elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const double mb_per_s = seconds > 0.0 ? static_cast<double>(bytes) / 1e6 / seconds : 0.0;
  std::printf("{\"bytes\":%llu,\"seconds\":%.6f,\"mb_per_s\":%.3f,\"cpu_seconds\":%.6f}\n",
              static_cast<unsigned long long>(bytes), seconds, mb_per_s, cpu_seconds());
  std::fflush(stdout);
}

// Reads until EOF; returns the number of bytes read.
std::uint64_t drain(tcp::socket& socket, std::size_t chunk) {
  std::vector<char> buffer(chunk);
  std::uint64_t total = 0;
  for (;;) {
    std::error_code ec;
    const auto n = socket.read_some(asio::buffer(buffer), ec);
    total += n;
    if (ec == asio::error::eof) {
      return total;
    }
    if (ec) {
      throw std::system_error(ec, "read");
    }
  }
}

// Writes `bytes` bytes in chunks, then shuts the sending side down.
void pump(tcp::socket& socket, std::uint64_t bytes, std::size_t chunk) {
  std::vector<char> buffer(chunk);
  for (std::size_t i = 0; i < buffer.size(); ++i) {
    buffer[i] = static_cast<char>('a' + i % 26);
  }
  std::uint64_t left = bytes;
  while (left > 0) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer.size()));
    asio::write(socket, asio::buffer(buffer.data(), n));
    left -= n;
  }
  socket.shutdown(tcp::socket::shutdown_send);
}

tcp::acceptor open_acceptor(asio::io_context& io, const Endpoint& where) {
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(where.host, where.port, tcp::resolver::passive);
  const tcp::endpoint endpoint = *results.begin();
  tcp::acceptor acceptor(io, endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(1);
  return acceptor;
}

int run_listen(const Options& options) {
  asio::io_context io;
  auto acceptor = open_acceptor(io, *parse_endpoint(*options.listen));
  const auto local = acceptor.local_endpoint();
  std::fprintf(stderr, "mosaik-bench-tcp-pair: listening on %s:%u\n",
               local.address().to_string().c_str(), static_cast<unsigned>(local.port()));
  tcp::socket socket(io);
  acceptor.accept(socket);
  socket.set_option(tcp::no_delay(true));
  const auto start = Clock::now();
  const auto received = drain(socket, options.chunk);
  const auto elapsed = Clock::now() - start;
  socket.close();
  print_result(received, elapsed);
  return 0;
}

int run_connect(const Options& options) {
  asio::io_context io;
  const auto where = *parse_endpoint(*options.connect);
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(where.host, where.port);
  tcp::socket socket(io);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    std::error_code ec;
    asio::connect(socket, results, ec);
    if (!ec) {
      break;
    }
    if (ec != asio::error::connection_refused || Clock::now() >= deadline) {
      throw std::system_error(ec, "connect to " + *options.connect);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  socket.set_option(tcp::no_delay(true));
  const auto start = Clock::now();
  pump(socket, options.bytes, options.chunk);
  drain(socket, options.chunk);  // the receiver closes once it has read everything
  const auto elapsed = Clock::now() - start;
  print_result(options.bytes, elapsed);
  return 0;
}

int run_loopback(const Options& options) {
  asio::io_context io;
  auto acceptor = open_acceptor(io, Endpoint{"127.0.0.1", "0"});
  const auto target = acceptor.local_endpoint();

  Clock::time_point start{};  // written by this thread, read after join()
  Clock::time_point end{};    // written by the receiver, read after join()
  std::uint64_t received = 0;
  std::exception_ptr receiver_error;

  std::thread receiver([&] {
    try {
      tcp::socket socket(io);
      acceptor.accept(socket);
      socket.set_option(tcp::no_delay(true));
      received = drain(socket, options.chunk);
      end = Clock::now();
    } catch (...) {
      receiver_error = std::current_exception();
    }
  });

  std::exception_ptr sender_error;
  try {
    tcp::socket socket(io);
    start = Clock::now();
    socket.connect(target);
    socket.set_option(tcp::no_delay(true));
    pump(socket, options.bytes, options.chunk);
  } catch (...) {
    sender_error = std::current_exception();
    acceptor.close();  // unblocks a receiver still waiting in accept()
  }
  receiver.join();
  if (sender_error) {
    std::rethrow_exception(sender_error);
  }
  if (receiver_error) {
    std::rethrow_exception(receiver_error);
  }
  if (received != options.bytes) {
    std::fprintf(stderr, "mosaik-bench-tcp-pair: received %llu of %llu bytes\n",
                 static_cast<unsigned long long>(received),
                 static_cast<unsigned long long>(options.bytes));
    return 1;
  }
  print_result(received, end - start);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options) {
    usage(stderr);
    return 2;
  }
  try {
    if (options->listen) {
      return run_listen(*options);
    }
    if (options->connect) {
      return run_connect(*options);
    }
    return run_loopback(*options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "mosaik-bench-tcp-pair: %s\n", error.what());
    return 1;
  }
}
