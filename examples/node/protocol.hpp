#pragma once
// mosaik-node's client protocol: what `mosaik-node client` asks a node and
// what it answers, encoded with mosaik's wire codec (field lists, see
// wire/codec.hpp) inside client_request / client_response frames.

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include <mosaik/machines/kv_store.hpp>

namespace mosaik::node {

struct Put {
  std::vector<machines::KvStore::Command> commands; ///< applied at consecutive indices
};
struct Get {
  std::string key;
  bool strong = true; ///< linearizable (read index) or the node's local state
};
struct AddMember {
  std::uint64_t id = 0;
};
struct Status {};

using Request = std::variant<Put, Get, AddMember, Status>;

struct Response {
  bool ok = false;
  std::string error;                ///< why not, when !ok
  std::uint64_t index = 0;          ///< the last index written (Put, AddMember)
  std::optional<std::string> value; ///< Get
  std::uint64_t leader = 0;         ///< the leader this node knows (0: none)
  std::string leader_address;       ///< where to reach it, when this node knows
  std::string status;               ///< Status: one JSON object
};

template <class Self, class F>
requires std::same_as<std::remove_const_t<Self>, Put>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.commands);
}
template <class Self, class F>
requires std::same_as<std::remove_const_t<Self>, Get>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.key, self.strong);
}
template <class Self, class F>
requires std::same_as<std::remove_const_t<Self>, AddMember>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.id);
}
template <class Self, class F>
requires std::same_as<std::remove_const_t<Self>, Status>
void mosaik_fields(Self&, F&& fields) {
  fields();
}
template <class Self, class F>
requires std::same_as<std::remove_const_t<Self>, Response>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.ok, self.error, self.index, self.value, self.leader, self.leader_address, self.status);
}

} // namespace mosaik::node
