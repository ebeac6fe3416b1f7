#pragma once
// The encodings of the snapshot catch-up messages (and of SnapshotInfo,
// which the snapshot file shares): cursors and ranges as in the log-replay
// messages, items through their own codec (wire/codec.hpp).

#include <mosaik/sync/snapshot/messages.hpp>
#include <mosaik/wire/codec.hpp>
#include <mosaik/wire/group_messages.hpp>
#include <mosaik/wire/log_replay_messages.hpp>

namespace mosaik::sync {

template <group::FieldsOf<SnapshotInfo> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.at, self.items, self.header);
}
template <group::FieldsOf<SnapshotRequest> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.after);
}
template <group::FieldsOf<SnapshotQuery> Self, class F>
void mosaik_fields(Self&, F&& fields) {
  fields();
}
template <group::FieldsOf<SnapshotOffer> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.snapshot, self.replay);
}
template <group::FieldsOf<FetchItemsRequest> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.at, self.range);
}
template <class Self, class F>
requires group::FieldsOfTemplate<Self, FetchItemsResponse>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.at, self.range, self.items);
}

} // namespace mosaik::sync
