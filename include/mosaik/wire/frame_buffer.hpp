#pragma once
// FrameBuffer: bytes a transport reads frames into. Unlike wire::Bytes, it
// does not zero what it grows by: the socket overwrites those bytes at once,
// and zeroing a megabyte before reading a megabyte into it cost as much as
// the read itself. A reader keeps one per connection and reuses it.

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <utility>

namespace mosaik::wire {

class FrameBuffer {
public:
  FrameBuffer() = default;
  FrameBuffer(FrameBuffer&& other) noexcept
      : bytes_(std::move(other.bytes_)), size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  FrameBuffer& operator=(FrameBuffer&& other) noexcept {
    bytes_ = std::move(other.bytes_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    return *this;
  }
  FrameBuffer(const FrameBuffer&) = delete;
  FrameBuffer& operator=(const FrameBuffer&) = delete;
  ~FrameBuffer() = default;

  [[nodiscard]] std::byte* data() noexcept { return bytes_.get(); }
  [[nodiscard]] const std::byte* data() const noexcept { return bytes_.get(); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  /// Grows or shrinks to `size` bytes. Bytes kept survive a reallocation;
  /// new ones are left as they are (not zeroed). Capacity at least doubles.
  void resize(std::size_t size) {
    if (size > capacity_) {
      const auto capacity = std::max(size, 2 * capacity_);
      auto grown = std::make_unique_for_overwrite<std::byte[]>(capacity);
      if (size_ != 0) {
        std::memcpy(grown.get(), bytes_.get(), size_);
      }
      bytes_ = std::move(grown);
      capacity_ = capacity;
    }
    size_ = size;
  }
  /// Empty, keeping the memory for the next frame.
  void clear() noexcept { size_ = 0; }
  /// Empty, giving the memory back.
  void release() noexcept {
    bytes_.reset();
    size_ = 0;
    capacity_ = 0;
  }

  // NOLINTNEXTLINE(google-explicit-constructor): a frame's bytes are read as a span
  operator std::span<const std::byte>() const noexcept { return {bytes_.get(), size_}; }

private:
  std::unique_ptr<std::byte[]> bytes_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

} // namespace mosaik::wire
