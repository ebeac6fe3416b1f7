#pragma once
// BufferPool: byte buffers that are shared while in use and reused after:
// the frames a transport encodes messages into, the encoded entries a
// provider answers with. A catch-up answer is a few MiB: a fresh buffer for
// each cost a page fault per page, or, with huge pages, the kernel zeroing
// them (41-57% of a provider's profile). A shared buffer comes back to the
// pool when its last reference goes; one that outlives its pool is freed.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <mosaik/wire/writer.hpp>

namespace mosaik::wire {

class BufferPool : public std::enable_shared_from_this<BufferPool> {
public:
  /// Buffers kept at most, the largest capacity kept (bigger ones are
  /// freed) and the most capacity kept in all: what an idle pool pins.
  static constexpr std::size_t max_kept = 16;
  static constexpr std::size_t max_kept_capacity = std::size_t{8} << 20;
  static constexpr std::size_t max_kept_bytes = std::size_t{32} << 20;

  /// Pools live in shared_ptrs: frames hold a weak reference back.
  [[nodiscard]] static std::shared_ptr<BufferPool> make() {
    return std::shared_ptr<BufferPool>(new BufferPool);
  }

  /// An empty buffer for about `bytes`: the smallest kept one that holds
  /// them, else the largest kept one, else a new one.
  [[nodiscard]] std::unique_ptr<Bytes> take(std::size_t bytes);
  /// `buffer`, shared; it comes back here when the last reference goes.
  [[nodiscard]] std::shared_ptr<const Bytes> share(std::unique_ptr<Bytes> buffer);

  /// Buffers kept now (for tests and stats).
  [[nodiscard]] std::size_t kept() const;
  /// Buffers handed out again rather than allocated.
  [[nodiscard]] std::uint64_t reused() const;

private:
  BufferPool() = default;
  void give_back(std::unique_ptr<Bytes> buffer);

  mutable std::mutex mutex_; // a buffer may be released on another thread
  std::vector<std::unique_ptr<Bytes>> free_;
  std::size_t kept_bytes_ = 0; ///< capacity of free_
  std::uint64_t reused_ = 0;
};

inline std::unique_ptr<Bytes> BufferPool::take(std::size_t bytes) {
  const std::lock_guard lock{mutex_};
  if (free_.empty()) {
    return std::make_unique<Bytes>();
  }
  // Smallest that fits; else the largest (it grows once, then fits).
  auto best = free_.end();
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    const auto capacity = (*it)->capacity();
    const bool fits = capacity >= bytes;
    if (best == free_.end()) {
      best = it;
      continue;
    }
    const auto best_capacity = (*best)->capacity();
    const bool best_fits = best_capacity >= bytes;
    if ((fits && (!best_fits || capacity < best_capacity)) ||
        (!fits && !best_fits && capacity > best_capacity)) {
      best = it;
    }
  }
  auto buffer = std::move(*best);
  free_.erase(best);
  kept_bytes_ -= buffer->capacity();
  ++reused_;
  buffer->clear();
  return buffer;
}

inline std::shared_ptr<const Bytes> BufferPool::share(std::unique_ptr<Bytes> buffer) {
  return {buffer.release(), [pool = weak_from_this()](const Bytes* frame) {
            // The buffer was ours, mutable, before it was shared as a frame.
            std::unique_ptr<Bytes> owned{const_cast<Bytes*>(frame)};
            if (const auto alive = pool.lock()) {
              alive->give_back(std::move(owned));
            }
          }};
}

inline void BufferPool::give_back(std::unique_ptr<Bytes> buffer) {
  if (buffer->capacity() > max_kept_capacity) {
    return;
  }
  const std::lock_guard lock{mutex_};
  if (free_.size() < max_kept && kept_bytes_ + buffer->capacity() <= max_kept_bytes) {
    kept_bytes_ += buffer->capacity();
    free_.push_back(std::move(buffer));
  }
}

inline std::size_t BufferPool::kept() const {
  const std::lock_guard lock{mutex_};
  return free_.size();
}

inline std::uint64_t BufferPool::reused() const {
  const std::lock_guard lock{mutex_};
  return reused_;
}

} // namespace mosaik::wire
