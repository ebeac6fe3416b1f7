#pragma once
// HardState: what a member must remember across restarts besides its log:
// its current term, its vote in that term and its commit index. The runtime
// saves it before sending any message that depends on it (a vote, a higher
// term) and never acknowledges what the storage has not accepted.

#include <optional>

#include <mosaik/core/ids.hpp>
#include <mosaik/core/index.hpp>

namespace mosaik::group {

struct HardState {
  Term term;
  std::optional<PeerId> voted_for;
  Index commit;
  friend bool operator==(const HardState&, const HardState&) = default;
};

class HardStateStorage {
public:
  virtual ~HardStateStorage() = default;
  [[nodiscard]] virtual HardState load() const = 0;
  /// Returns once `state` is stored (durably, for a durable implementation).
  virtual void save(const HardState& state) = 0;
  /// True once a save could not be stored; the runtime stops the member.
  [[nodiscard]] virtual bool failed() const noexcept { return false; }
};

class InMemoryHardState final : public HardStateStorage {
public:
  [[nodiscard]] HardState load() const override { return state_; }
  void save(const HardState& state) override { state_ = state; }

private:
  HardState state_;
};

} // namespace mosaik::group
