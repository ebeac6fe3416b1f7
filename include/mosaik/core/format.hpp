#pragma once
// fmt formatters for the vocabulary types, so that log lines read naturally:
// positions (indices, item numbers) and terms as numbers, cursors as `t3/i120`,
// ranges as `[120..=2119]`,
// ids as short hex.

#include <fmt/format.h>

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/index.hpp>
#include <mosaik/core/index_range.hpp>
#include <mosaik/core/ordinal.hpp>
#include <mosaik/core/range.hpp>

namespace mosaik::detail {

/// A formatter that accepts no format spec and prints through `print`.
template <class T>
struct SimpleFormatter {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
};

} // namespace mosaik::detail

template <class Tag>
struct fmt::formatter<mosaik::Ordinal<Tag>> : mosaik::detail::SimpleFormatter<mosaik::Ordinal<Tag>> {
  auto format(mosaik::Ordinal<Tag> position, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{}", position.value());
  }
};

template <>
struct fmt::formatter<mosaik::Term> : mosaik::detail::SimpleFormatter<mosaik::Term> {
  auto format(mosaik::Term term, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{}", term.value());
  }
};

template <>
struct fmt::formatter<mosaik::Cursor> : mosaik::detail::SimpleFormatter<mosaik::Cursor> {
  auto format(const mosaik::Cursor& cursor, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "t{}/i{}", cursor.term.value(), cursor.index.value());
  }
};

template <class Position>
struct fmt::formatter<mosaik::Range<Position>> : mosaik::detail::SimpleFormatter<mosaik::Range<Position>> {
  auto format(const mosaik::Range<Position>& range, format_context& ctx) const {
    if (range.empty()) {
      return fmt::format_to(ctx.out(), "[]");
    }
    return fmt::format_to(ctx.out(), "[{}..={}]", range.first().value(), range.last().value());
  }
};

template <class Tag>
struct fmt::formatter<mosaik::Id<Tag>> : mosaik::detail::SimpleFormatter<mosaik::Id<Tag>> {
  auto format(mosaik::Id<Tag> id, format_context& ctx) const {
    // Short form: at most 8 hex digits, the most significant ones.
    auto value = id.value();
    while (value > 0xffffffffULL) {
      value >>= 4;
    }
    return fmt::format_to(ctx.out(), "{:x}", value);
  }
};
