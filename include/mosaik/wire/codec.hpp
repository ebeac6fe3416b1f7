#pragma once
// The codec: how a value becomes bytes and back. wire::encode(writer, value)
// and wire::decode(reader, value) work out of the box for integers, bools,
// enums, std::string, byte vectors, vectors, optionals, variants, pairs,
// arrays, mosaik's vocabulary types and trivially copyable structs (their
// bytes as they are in memory: same compiler and architecture on both ends).
//
// A user type opts in with one of two functions, found by argument-dependent
// lookup in the type's namespace:
//
//   // 1. List the fields; one function serves both directions.
//   template <class Self, class F>
//     requires std::same_as<std::remove_const_t<Self>, Order>
//   void mosaik_fields(Self& self, F&& fields) { fields(self.id, self.items, self.note); }
//
//   // 2. Or take full control.
//   void mosaik_encode(mosaik::wire::Writer& out, const Order& order);
//   bool mosaik_decode(mosaik::wire::Reader& in, Order& order); // false: refused (call in.fail(...))
//
// An enum may declare its largest valid value, so that decoding refuses the rest:
//   constexpr Colour mosaik_enum_max(Colour) { return Colour::blue; }
//
// Decoding is strict: every length and count is checked against the bytes
// present and the reader's DecodeLimits before anything is allocated.

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/index.hpp>
#include <mosaik/core/index_range.hpp>
#include <mosaik/wire/reader.hpp>
#include <mosaik/wire/writer.hpp>

namespace mosaik::wire {

namespace detail {
/// Accepts any fields; only used to ask whether mosaik_fields exists.
struct FieldProbe {
  template <class... Fields>
  void operator()(Fields&&...) const noexcept {}
};

template <class T>
struct IsVector : std::false_type {};
template <class T, class A>
struct IsVector<std::vector<T, A>> : std::true_type {};
template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
struct IsVariant : std::false_type {};
template <class... Ts>
struct IsVariant<std::variant<Ts...>> : std::true_type {};
template <class T>
struct IsPair : std::false_type {};
template <class A, class B>
struct IsPair<std::pair<A, B>> : std::true_type {};
template <class T>
struct IsArray : std::false_type {};
template <class T, std::size_t N>
struct IsArray<std::array<T, N>> : std::true_type {};
template <class T>
struct IsId : std::false_type {};
template <class Tag>
struct IsId<Id<Tag>> : std::true_type {};
template <class T>
struct IsOrdinal : std::false_type {};
template <class Tag>
struct IsOrdinal<Ordinal<Tag>> : std::true_type {};
template <class T>
struct IsRange : std::false_type {};
template <class Position>
struct IsRange<Range<Position>> : std::true_type {};

template <class T, template <class> class Template>
struct IsInstance : std::false_type {};
template <class C, template <class> class Template>
struct IsInstance<Template<C>, Template> : std::true_type {};

template <class T>
concept ByteLike = std::same_as<T, std::byte> || std::same_as<T, char> || std::same_as<T, unsigned char> ||
    std::same_as<T, signed char>;

/// std::string or a vector of bytes: a length and the bytes, copied at once.
template <class T>
concept ByteString = std::same_as<T, std::string> ||(IsVector<T>::value&& ByteLike<typename T::value_type>);
} // namespace detail

template <class T>
concept CustomCodec = requires(Writer& writer, Reader& reader, const T& in, T& out) {
  mosaik_encode(writer, in);
  { mosaik_decode(reader, out) } -> std::convertible_to<bool>;
};

template <class T>
concept CustomMeasure = requires(const T& value) {
  { mosaik_encoded_size(value) } -> std::convertible_to<std::size_t>;
};

template <class T>
concept DescribedFields = requires(T& value, const T& constant) {
  mosaik_fields(value, detail::FieldProbe{});
  mosaik_fields(constant, detail::FieldProbe{});
};

template <class E>
concept BoundedEnum = std::is_enum_v<E> && requires(E value) {
  { mosaik_enum_max(value) } -> std::same_as<E>;
};

template <class T>
void encode(Writer& out, const T& value);
template <class T>
[[nodiscard]] bool decode(Reader& in, T& value);

namespace detail {
template <class Variant, std::size_t... I>
bool decode_alternative(Reader& in, Variant& value, std::size_t index, std::index_sequence<I...>) {
  bool ok = false;
  ((index == I ? (ok = decode(in, value.template emplace<I>()), true) : false) || ...);
  return ok;
}
} // namespace detail

template <class T>
void encode(Writer& out, const T& value) {
  if constexpr (CustomCodec<T>) {
    mosaik_encode(out, value);
  } else if constexpr (std::same_as<T, bool>) {
    out.u8(value ? 1 : 0);
  } else if constexpr (std::is_enum_v<T>) {
    encode(out, static_cast<std::underlying_type_t<T>>(value));
  } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
    out.varint(value);
  } else if constexpr (std::is_integral_v<T>) {
    // Zigzag: small negative numbers stay small.
    out.varint(zigzag(static_cast<std::int64_t>(value)));
  } else if constexpr (detail::IsOrdinal<T>::value || std::same_as<T, Term> || detail::IsId<T>::value) {
    out.varint(value.value());
  } else if constexpr (detail::IsRange<T>::value) {
    // Fixed width: ranges are compared and rewritten in place by transports.
    out.fixed64(value.first().value());
    out.fixed64(value.last().value());
  } else if constexpr (std::same_as<T, Cursor>) {
    encode(out, value.term);
    encode(out, value.index);
  } else if constexpr (detail::ByteString<T>) {
    out.varint(value.size());
    out.append(std::as_bytes(std::span{value.data(), value.size()}));
  } else if constexpr (detail::IsVector<T>::value) {
    out.varint(value.size());
    for (const auto& element : value) {
      encode(out, element);
    }
  } else if constexpr (detail::IsOptional<T>::value) {
    out.u8(value ? 1 : 0);
    if (value) {
      encode(out, *value);
    }
  } else if constexpr (detail::IsVariant<T>::value) {
    out.varint(value.index());
    std::visit([&out](const auto& alternative) { encode(out, alternative); }, value);
  } else if constexpr (detail::IsPair<T>::value) {
    encode(out, value.first);
    encode(out, value.second);
  } else if constexpr (detail::IsArray<T>::value) {
    for (const auto& element : value) {
      encode(out, element);
    }
  } else if constexpr (std::same_as<T, std::monostate>) {
  } else if constexpr (DescribedFields<T>) {
    mosaik_fields(value, [&out](const auto&... fields) { (encode(out, fields), ...); });
  } else {
    static_assert(std::is_trivially_copyable_v<T>,
                  "no encoding for this type: provide mosaik_fields, or mosaik_encode and mosaik_decode");
    out.append(std::as_bytes(std::span{&value, 1}));
  }
}

template <class T>
bool decode(Reader& in, T& value) {
  if constexpr (CustomCodec<T>) {
    return mosaik_decode(in, value) && in.ok();
  } else if constexpr (std::same_as<T, bool>) {
    const auto byte = in.u8();
    if (byte > 1) {
      return in.fail(DecodeError::bad_value);
    }
    value = byte == 1;
    return in.ok();
  } else if constexpr (std::is_enum_v<T>) {
    std::underlying_type_t<T> raw{};
    if (!decode(in, raw)) {
      return false;
    }
    if constexpr (BoundedEnum<T>) {
      using U = std::underlying_type_t<T>;
      if (raw < U{} || raw > static_cast<U>(mosaik_enum_max(T{}))) {
        return in.fail(DecodeError::bad_value);
      }
    }
    value = static_cast<T>(raw);
    return true;
  } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
    const auto raw = in.varint();
    if (raw > std::numeric_limits<T>::max()) {
      return in.fail(DecodeError::bad_varint);
    }
    value = static_cast<T>(raw);
    return in.ok();
  } else if constexpr (std::is_integral_v<T>) {
    const auto raw = in.varint();
    const auto wide = unzigzag(raw);
    if (wide < std::numeric_limits<T>::min() || wide > std::numeric_limits<T>::max()) {
      return in.fail(DecodeError::bad_varint);
    }
    value = static_cast<T>(wide);
    return in.ok();
  } else if constexpr (detail::IsOrdinal<T>::value || std::same_as<T, Term> || detail::IsId<T>::value) {
    value = T{in.varint()};
    return in.ok();
  } else if constexpr (detail::IsRange<T>::value) {
    const typename T::position_type first{in.fixed64()};
    const typename T::position_type last{in.fixed64()};
    value = T{first, last};
    return in.ok();
  } else if constexpr (std::same_as<T, Cursor>) {
    return decode(in, value.term) && decode(in, value.index);
  } else if constexpr (detail::ByteString<T>) {
    // Bytes cost what they weigh: bounded by the frame (and by what is present).
    const auto size = in.count(in.limits().max_frame_bytes, DecodeError::oversized);
    const auto bytes = in.bytes(size);
    if (!in.ok()) {
      return false;
    }
    // assign, not resize-and-copy: the bytes are written once, not zeroed first.
    const auto* first = reinterpret_cast<const typename T::value_type*>(bytes.data());
    value.assign(first, first + size);
    return true;
  } else if constexpr (detail::IsVector<T>::value) {
    using Element = typename T::value_type;
    const auto size = in.count(in.limits().max_items);
    // Every non-empty element takes at least one byte: a count beyond the
    // bytes present is a lie, refused before anything is reserved.
    if (!std::is_empty_v<Element> && size > in.remaining()) {
      return in.fail(DecodeError::truncated);
    }
    value.clear();
    // Reserve no more memory than the bytes received could fill; beyond that
    // the vector grows with what really decodes.
    value.reserve(std::min(size, std::max<std::size_t>(1, in.remaining() / sizeof(Element))));
    for (std::size_t i = 0; i < size && in.ok(); ++i) {
      if (!decode(in, value.emplace_back())) {
        return false;
      }
    }
    return in.ok();
  } else if constexpr (detail::IsOptional<T>::value) {
    bool present = false;
    if (!decode(in, present)) {
      return false;
    }
    if (!present) {
      value.reset();
      return true;
    }
    return decode(in, value.emplace());
  } else if constexpr (detail::IsVariant<T>::value) {
    const auto index = in.varint();
    if (!in.ok()) {
      return false;
    }
    if (index >= std::variant_size_v<T>) {
      return in.fail(DecodeError::bad_value);
    }
    return detail::decode_alternative(in, value, static_cast<std::size_t>(index),
                                      std::make_index_sequence<std::variant_size_v<T>>{});
  } else if constexpr (detail::IsPair<T>::value) {
    return decode(in, value.first) && decode(in, value.second);
  } else if constexpr (detail::IsArray<T>::value) {
    for (auto& element : value) {
      if (!decode(in, element)) {
        return false;
      }
    }
    return true;
  } else if constexpr (std::same_as<T, std::monostate>) {
    return in.ok();
  } else if constexpr (DescribedFields<T>) {
    bool ok = true;
    mosaik_fields(value, [&in, &ok](auto&&... fields) { ok = (decode(in, fields) && ...); });
    return ok && in.ok();
  } else {
    static_assert(std::is_trivially_copyable_v<T>,
                  "no encoding for this type: provide mosaik_fields, or mosaik_encode and mosaik_decode");
    const auto bytes = in.bytes(sizeof(T));
    if (!in.ok()) {
      return false;
    }
    std::memcpy(static_cast<void*>(&value), bytes.data(), sizeof(T));
    return true;
  }
}

template <class T>
[[nodiscard]] std::size_t measure(const T& value);

/// measure() does not encode T to learn its size (its parts may).
template <class T>
concept CheaplyMeasured = CustomMeasure<T> || !CustomCodec<T>;

namespace detail {
template <class Variant, std::size_t... I>
std::size_t measure_alternative(const Variant& value, std::index_sequence<I...>) {
  std::size_t size = 0;
  ((value.index() == I ? (size = measure(std::get<I>(value)), true) : false) || ...);
  return size;
}
} // namespace detail

/// Bytes of `value`'s encoding, exactly, computed without encoding it:
/// a writer reserves them at once, and a length prefix goes in front of
/// a body without moving it. A type with its own mosaik_encode may state
/// its size with `std::size_t mosaik_encoded_size(const T&)`; without it,
/// such a value is encoded into a scratch buffer to be measured.
template <class T>
std::size_t measure(const T& value) {
  if constexpr (CustomMeasure<T>) {
    return static_cast<std::size_t>(mosaik_encoded_size(value));
  } else if constexpr (CustomCodec<T>) {
    Bytes scratch;
    Writer writer{scratch};
    mosaik_encode(writer, value);
    return scratch.size();
  } else if constexpr (std::same_as<T, bool>) {
    return 1;
  } else if constexpr (std::is_enum_v<T>) {
    return measure(static_cast<std::underlying_type_t<T>>(value));
  } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
    return varint_size(value);
  } else if constexpr (std::is_integral_v<T>) {
    return varint_size(zigzag(static_cast<std::int64_t>(value)));
  } else if constexpr (detail::IsOrdinal<T>::value || std::same_as<T, Term> || detail::IsId<T>::value) {
    return varint_size(value.value());
  } else if constexpr (detail::IsRange<T>::value) {
    return 16;
  } else if constexpr (std::same_as<T, Cursor>) {
    return measure(value.term) + measure(value.index);
  } else if constexpr (detail::ByteString<T>) {
    return varint_size(value.size()) + value.size();
  } else if constexpr (detail::IsVector<T>::value) {
    auto size = varint_size(value.size());
    for (const auto& element : value) {
      size += measure(element);
    }
    return size;
  } else if constexpr (detail::IsOptional<T>::value) {
    return 1 + (value ? measure(*value) : 0);
  } else if constexpr (detail::IsVariant<T>::value) {
    return varint_size(value.index()) +
           detail::measure_alternative(value, std::make_index_sequence<std::variant_size_v<T>>{});
  } else if constexpr (detail::IsPair<T>::value) {
    return measure(value.first) + measure(value.second);
  } else if constexpr (detail::IsArray<T>::value) {
    std::size_t size = 0;
    for (const auto& element : value) {
      size += measure(element);
    }
    return size;
  } else if constexpr (std::same_as<T, std::monostate>) {
    return 0;
  } else if constexpr (DescribedFields<T>) {
    std::size_t size = 0;
    mosaik_fields(value, [&size](const auto&... fields) { size = (std::size_t{0} + ... + measure(fields)); });
    return size;
  } else {
    return sizeof(T);
  }
}

/// Encodes `value` into a fresh buffer.
template <class T>
[[nodiscard]] Bytes to_bytes(const T& value) {
  Bytes bytes;
  Writer writer{bytes};
  if constexpr (CheaplyMeasured<T>) {
    writer.reserve(measure(value));
  }
  encode(writer, value);
  return bytes;
}

/// Bytes of `value`'s encoding, exactly (wire::measure): the simulator
/// charges every message this way.
template <class T>
[[nodiscard]] std::size_t encoded_size(const T& value) {
  return measure(value);
}

/// Decodes exactly one `T` from `bytes`: trailing bytes are an error.
template <class T>
[[nodiscard]] Decoded<T> from_bytes(std::span<const std::byte> bytes, const DecodeLimits& limits = {}) {
  Reader reader{bytes, limits};
  T value{};
  if (!decode(reader, value)) {
    return reader.error().value_or(DecodeError::bad_value);
  }
  if (!reader.at_end()) {
    return DecodeError::trailing_bytes;
  }
  return value;
}

/// `Self` is T or const T (one field list for both directions).
template <class Self, class T>
concept FieldsOf = std::same_as<std::remove_const_t<Self>, T>;

/// `Self` is (const) Template<C> for some C.
template <class Self, template <class> class Template>
concept FieldsOfTemplate = detail::IsInstance<std::remove_const_t<Self>, Template>::value;

} // namespace mosaik::wire
