#pragma once
// mosaik-node's two modes.

namespace mosaik::node {

/// `mosaik-node run ...`: a group member (argv[0] is "run").
int run_node(int argc, char** argv);
/// `mosaik-node client ...`: talks to members (argv[0] is "client").
int run_client(int argc, char** argv);

} // namespace mosaik::node
