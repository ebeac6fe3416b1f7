#pragma once
// The encoding of SnapshotInfo (core vocabulary): the snapshot file and the
// snapshot catch-up messages share it.

#include <mosaik/core/snapshot_info.hpp>
#include <mosaik/wire/codec.hpp>

namespace mosaik {

template <::mosaik::wire::FieldsOf<SnapshotInfo> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.at, self.items, self.header);
}

} // namespace mosaik
