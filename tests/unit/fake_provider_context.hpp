#pragma once
// The part of the fake provider contexts (log replay, snapshot) that is the
// same for both: a local in-memory log with a settable commit index, and
// every answer the provider gives, recorded as the host would send it.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <mosaik/core/ids.hpp>
#include <mosaik/storage/in_memory_log.hpp>

namespace mosaik::test {

/// The command the fake context's log holds at `index`.
inline std::string command_for(std::uint64_t index) {
  return "command-" + std::to_string(index);
}
/// The term the fake context's log holds at `index`.
inline Term term_for(std::uint64_t index) {
  return Term{1 + index / 7};
}

/// A `Base` provider context over `storage`; `deliver` records the answers.
template <class Base, class Message>
class FakeLogContext : public Base {
public:
  storage::InMemoryLog<std::string> storage;
  Index commit{};
  std::vector<std::pair<PeerId, Message>> sent;

  /// Entries 1..=count, committed up to `committed`.
  void fill(std::uint64_t count, std::uint64_t committed) {
    for (std::uint64_t i = 1; i <= count; ++i) {
      storage.append(command_for(i), term_for(i));
    }
    commit = Index{committed};
  }

  [[nodiscard]] const storage::LogStorage<std::string>& log() const override { return storage; }
  [[nodiscard]] Index commit_index() const override { return commit; }

  /// Hands `message` from `from` to `provider` and records its answer, if any, as sent back to `from`.
  template <class Provider>
  void deliver(Provider& provider, PeerId from, const Message& message) {
    if (auto answer = provider.answer(from, message)) {
      sent.emplace_back(from, std::move(*answer));
    }
  }
};

} // namespace mosaik::test
