#pragma once
// decode_entries / decode_encoded: entries decoded as a session receives
// them (strictly, every byte used), so that tests can compare encodings
// (encode_range with read_range, measured with unmeasured prefixes).

#include <span>
#include <vector>

#include <catch2/catch.hpp>

#include <mosaik/core/entry.hpp>
#include <mosaik/wire/codec.hpp>
#include <mosaik/wire/encoded_entries.hpp>
#include <mosaik/wire/entry_codec.hpp>

namespace mosaik::test {

/// The entries `bytes` encode (a count, then the entries), every byte used.
template <class Command>
std::vector<Entry<Command>> decode_entries(std::span<const std::byte> bytes) {
  std::vector<Entry<Command>> out;
  auto into = wire::entries(out);
  const wire::DecodeLimits limits{};
  wire::Reader reader{bytes, limits};
  REQUIRE(wire::decode(reader, into));
  REQUIRE(reader.at_end());
  return out;
}

template <class Command>
std::vector<Entry<Command>> decode_encoded(const wire::EncodedEntries& encoded) {
  wire::Bytes bytes;
  wire::Writer writer{bytes};
  writer.varint(encoded.count);
  writer.append(encoded.bytes());
  return decode_entries<Command>(bytes);
}

} // namespace mosaik::test
