// BufferPool: a shared buffer comes back when its last reference goes and
// is handed out again, the best fitting first; the pool keeps a bounded
// number of bounded buffers; a buffer may outlive its pool.

#include <catch2/catch.hpp>

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include <mosaik/wire/buffer_pool.hpp>

using mosaik::wire::BufferPool;
using mosaik::wire::Bytes;

namespace {

/// A frame of `size` bytes from `pool`, its buffer reserved to `capacity`.
std::shared_ptr<const Bytes> frame_of(BufferPool& pool, std::size_t size, std::size_t capacity) {
  auto buffer = pool.take(size);
  buffer->reserve(capacity);
  buffer->assign(size, std::byte{7});
  return pool.share(std::move(buffer));
}

} // namespace

TEST_CASE("wire.buffer_pool: a released frame's buffer is handed out again, emptied, its capacity kept",
          "[wire][buffer_pool]") {
  const auto pool = BufferPool::make();
  auto frame = frame_of(*pool, 1000, 4096);
  const auto* memory = frame->data();
  CHECK(pool->kept() == 0);
  frame.reset();
  CHECK(pool->kept() == 1);
  const auto again = pool->take(2000);
  CHECK(again->empty());
  CHECK(again->capacity() >= 4096);
  CHECK(again->data() == memory);
  CHECK(pool->reused() == 1);
  CHECK(pool->kept() == 0);
}

TEST_CASE("wire.buffer_pool: the smallest buffer that fits, else the largest", "[wire][buffer_pool]") {
  const auto pool = BufferPool::make();
  {
    const auto small = frame_of(*pool, 10, 1 << 10);
    const auto middle = frame_of(*pool, 10, 64 << 10);
    const auto large = frame_of(*pool, 10, 1 << 20);
  }
  REQUIRE(pool->kept() == 3);
  CHECK(pool->take(100)->capacity() < (64 << 10));       // the 1 KiB one
  CHECK(pool->take(100 << 10)->capacity() >= (1 << 20)); // only the 1 MiB one holds it
  CHECK(pool->take(4 << 20)->capacity() >= (64 << 10));  // none holds it: the largest left
  CHECK(pool->kept() == 0);
  CHECK(pool->take(10)->capacity() < (1 << 10)); // then new ones
}

TEST_CASE("wire.buffer_pool: bounded: at most max_kept buffers, none above max_kept_capacity",
          "[wire][buffer_pool]") {
  const auto pool = BufferPool::make();
  std::vector<std::shared_ptr<const Bytes>> frames;
  for (std::size_t i = 0; i < BufferPool::max_kept + 5; ++i) {
    frames.push_back(frame_of(*pool, 10, 100));
  }
  frames.push_back(frame_of(*pool, 10, BufferPool::max_kept_capacity + 1));
  frames.clear();
  CHECK(pool->kept() == BufferPool::max_kept);
  // In all, no more than max_kept_bytes: the big ones beyond it are freed.
  while (pool->kept() > 0) {
    (void)pool->take(10);
  }
  for (std::size_t i = 0; i < BufferPool::max_kept; ++i) {
    frames.push_back(frame_of(*pool, 10, BufferPool::max_kept_capacity));
  }
  frames.clear();
  CHECK(pool->kept() == BufferPool::max_kept_bytes / BufferPool::max_kept_capacity);
  for (std::size_t i = 0; i < BufferPool::max_kept; ++i) {
    CHECK(pool->take(10)->capacity() <= BufferPool::max_kept_capacity);
  }
}

TEST_CASE("wire.buffer_pool: a frame released after its pool is gone frees its buffer",
          "[wire][buffer_pool]") {
  auto pool = BufferPool::make();
  auto frame = frame_of(*pool, 100, 100);
  pool.reset();
  CHECK(frame->size() == 100);
  frame.reset(); // no pool to return to: freed (ASan checks it is not leaked or used after)
}
