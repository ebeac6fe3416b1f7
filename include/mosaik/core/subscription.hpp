#pragma once
// Subscription: an RAII handle for a registered callback. Destroying (or
// resetting) it unregisters the callback, so no callback outlives its owner.

#include <functional>
#include <utility>

namespace mosaik {

class Subscription {
public:
  Subscription() = default;
  explicit Subscription(std::function<void()> unsubscribe) : unsubscribe_(std::move(unsubscribe)) {}
  Subscription(Subscription&& other) noexcept : unsubscribe_(std::exchange(other.unsubscribe_, nullptr)) {}
  Subscription& operator=(Subscription&& other) noexcept {
    if (this != &other) {
      reset();
      unsubscribe_ = std::exchange(other.unsubscribe_, nullptr);
    }
    return *this;
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { reset(); }

  void reset() {
    if (auto unsubscribe = std::exchange(unsubscribe_, nullptr)) {
      unsubscribe();
    }
  }

private:
  std::function<void()> unsubscribe_;
};

} // namespace mosaik
