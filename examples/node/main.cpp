// mosaik-node: a replication group member over TCP with a replicated
// key-value store, and a client for it. See README "Running a group over TCP".

#include <cstdio>
#include <string_view>

#include "node.hpp"

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode == "run") {
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
      "                       [--snapshot-interval ENTRIES [--retain ENTRIES]]\n"
      "       mosaik-node client --connect HOST:PORT [--connect HOST:PORT]... --key-file PATH COMMAND\n"
      "         COMMAND: put KEY VALUE | get KEY [--weak] | add-member ID | status\n"
      "                | bench N [--size BYTES] [--batch K] [--clients C]\n"
      "run 'mosaik-node run --help' or 'mosaik-node client --help' for every option\n",
      stderr);
  return mode == "--help" || mode == "-h" ? 0 : 2;
}
