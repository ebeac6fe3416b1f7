// mosaik-node: a replication group member over TCP with a replicated
// key-value store, and a client for it. See README "Running a group over TCP".

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "node.hpp"

namespace {

/// A member's catch-up is bound by first-touch page faults where each costs
/// 10+ µs per 4 KiB page (virtual machines; the log's commands are fresh
/// heap memory): glibc's malloc backs its heap with transparent huge pages
/// when asked (glibc >= 2.35, THP "madvise" or "always"), one fault per
/// 2 MiB. The tunable is read only when a process starts, so `run`
/// re-executes itself once with it set, unless the environment already
/// names it (GLIBC_TUNABLES) or --no-huge-pages is given.
void use_huge_pages(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    if (std::string_view{argv[i]} == "--no-huge-pages") {
      return;
    }
  }
  const char* set = std::getenv("GLIBC_TUNABLES");
  std::string tunables = set != nullptr ? set : "";
  if (tunables.find("glibc.malloc.hugetlb") != std::string::npos) {
    return;
  }
  // Started through the dynamic loader (ld-linux... mosaik-node run), this
  // image is the loader's: re-executing it would not find the program.
  std::error_code error;
  const auto image = std::filesystem::read_symlink("/proc/self/exe", error).filename().string();
  if (error || image.starts_with("ld-")) {
    return;
  }
  tunables += tunables.empty() ? "glibc.malloc.hugetlb=1" : ":glibc.malloc.hugetlb=1";
  if (::setenv("GLIBC_TUNABLES", tunables.c_str(), 1) == 0) {
    ::execv("/proc/self/exe", argv);
  }
  // Not re-executed: it runs as it is, only slower where page faults are dear.
}

} // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode == "run") {
    use_huge_pages(argc, argv);
    return mosaik::node::run_node(argc - 1, argv + 1);
  }
  if (mode == "client") {
    return mosaik::node::run_client(argc - 1, argv + 1);
  }
  std::fputs(
      "usage: mosaik-node run --id N --listen HOST:PORT [--peer ID@HOST:PORT]... --key-file PATH\n"
      "                       --members ID,ID,... [--group NAME] [--data-dir PATH [--fsync "
      "always|batch|never]] [--log-level LEVEL]\n"
      "                       [--tls-cert PEM --tls-key PEM --tls-ca PEM] [--sync-batch N --sync-inflight "
      "N]\n"
      "                       [--snapshot-interval ENTRIES [--retain ENTRIES]] [--no-huge-pages]\n"
      "       mosaik-node client --connect HOST:PORT [--connect HOST:PORT]... --key-file PATH COMMAND\n"
      "         COMMAND: put KEY VALUE | get KEY [--weak] | add-member ID | status\n"
      "                | bench N [--size BYTES] [--batch K] [--clients C]\n"
      "run 'mosaik-node run --help' or 'mosaik-node client --help' for every option\n",
      stderr);
  return mode == "--help" || mode == "-h" ? 0 : 2;
}
