#pragma once
// decode_encoded: the entries a wire::EncodedEntries holds, decoded as a
// session receives them (strictly, every byte used), so that tests can
// compare encode_range with read_range.

#include <vector>

#include <catch2/catch.hpp>

#include <mosaik/core/entry.hpp>
#include <mosaik/wire/codec.hpp>
#include <mosaik/wire/encoded_entries.hpp>
#include <mosaik/wire/entry_codec.hpp>

namespace mosaik::test {

template <class Command>
std::vector<Entry<Command>> decode_encoded(const wire::EncodedEntries& encoded) {
  wire::Bytes bytes;
  wire::Writer writer{bytes};
  writer.varint(encoded.count);
  writer.append(encoded.bytes());
  std::vector<Entry<Command>> out;
  auto into = wire::entries(out);
  const wire::DecodeLimits limits{};
  wire::Reader reader{bytes, limits};
  REQUIRE(wire::decode(reader, into));
  REQUIRE(reader.at_end());
  return out;
}

} // namespace mosaik::test
