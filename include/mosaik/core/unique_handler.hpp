#pragma once
// UniqueHandler: a move-only, type-erased `void()` callable. Asio completion
// handlers are move-only, so std::function cannot hold them.

#include <memory>
#include <utility>

namespace mosaik::detail {

class UniqueHandler {
public:
  UniqueHandler() = default;
  template <class F>
  explicit UniqueHandler(F&& function)
      : impl_(std::make_unique<Impl<std::decay_t<F>>>(std::forward<F>(function))) {}

  explicit operator bool() const noexcept { return impl_ != nullptr; }
  void operator()() {
    auto impl = std::move(impl_);
    impl->call();
  }

private:
  struct Base {
    virtual ~Base() = default;
    virtual void call() = 0;
  };
  template <class F>
  struct Impl final : Base {
    explicit Impl(F&& f) : function(std::move(f)) {}
    explicit Impl(const F& f) : function(f) {}
    void call() override { std::move(function)(); }
    F function;
  };
  std::unique_ptr<Base> impl_;
};

} // namespace mosaik::detail
