#pragma once
// KvStore: a replicated key-value map of strings. Commands put or erase a
// key; queries get one. The digest summarises the whole state (order
// independent of insertion history), so replicas compare in one number.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <mosaik/core/hash.hpp>

namespace mosaik::machines {

class KvStore {
public:
  struct Command {
    enum class Op : std::uint8_t { put, erase };
    Op op = Op::put;
    std::string key;
    std::string value;
    friend bool operator==(const Command&, const Command&) = default;
  };
  struct Query {
    std::string key;
  };
  /// One key and its value: what a snapshot holds, in key order.
  struct Record {
    std::string key;
    std::string value;
    friend bool operator==(const Record&, const Record&) = default;
  };
  using SnapshotItem = Record;

  [[nodiscard]] static Command put(std::string key, std::string value) {
    return Command{Command::Op::put, std::move(key), std::move(value)};
  }
  [[nodiscard]] static Command erase(std::string key) {
    return Command{Command::Op::erase, std::move(key), {}};
  }

  void apply(const Command& command) {
    if (command.op == Command::Op::put) {
      data_[command.key] = command.value;
    } else {
      data_.erase(command.key);
    }
  }
  [[nodiscard]] std::optional<std::string> query(const Query& query) const {
    const auto it = data_.find(query.key);
    return it == data_.end() ? std::nullopt : std::optional{it->second};
  }
  [[nodiscard]] std::size_t size() const noexcept { return data_.size(); }

  /// The whole state, in key order (sync::Snapshottable).
  [[nodiscard]] std::vector<Record> snapshot_items() const {
    std::vector<Record> items;
    items.reserve(data_.size());
    for (const auto& [key, value] : data_) {
      items.push_back(Record{key, value});
    }
    return items;
  }
  /// Replaces the state with `items` (a later record of a key wins).
  void install_snapshot(std::vector<Record> items) {
    data_.clear();
    for (auto& item : items) {
      data_.insert_or_assign(data_.end(), std::move(item.key), std::move(item.value));
    }
  }
  [[nodiscard]] const std::map<std::string, std::string>& data() const noexcept { return data_; }
  /// FNV-1a over the sorted contents.
  [[nodiscard]] std::uint64_t digest() const noexcept {
    std::uint64_t hash = kFnv1aOffset;
    const auto mix = [&hash](const std::string& text) {
      constexpr std::string_view kEnd{"\xff", 1}; // ends each string, so ("ab","c") and ("a","bc") differ
      hash = fnv1a(kEnd, fnv1a(text, hash));
    };
    for (const auto& [key, value] : data_) {
      mix(key);
      mix(value);
    }
    return hash;
  }
  [[nodiscard]] std::string signature() const { return "mosaik.kv/v1"; }

private:
  std::map<std::string, std::string> data_;
};

/// The wire encoding (see wire/codec.hpp): one field list for both directions.
constexpr KvStore::Command::Op mosaik_enum_max(KvStore::Command::Op) noexcept {
  return KvStore::Command::Op::erase;
}
template <class Self, class F>
requires std::same_as<std::remove_const_t<Self>, KvStore::Command>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.op, self.key, self.value);
}
template <class Self, class F>
requires std::same_as<std::remove_const_t<Self>, KvStore::Record>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.key, self.value);
}
template <class Self, class F>
requires std::same_as<std::remove_const_t<Self>, KvStore::Query>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.key);
}

/// Payload bytes of a snapshot record: key and value.
[[nodiscard]] inline std::size_t mosaik_command_size(const KvStore::Record& record) noexcept {
  return record.key.size() + record.value.size();
}

/// Payload bytes of a command: op, key and value.
[[nodiscard]] inline std::size_t mosaik_command_size(const KvStore::Command& command) noexcept {
  return 1 + command.key.size() + command.value.size();
}

} // namespace mosaik::machines
