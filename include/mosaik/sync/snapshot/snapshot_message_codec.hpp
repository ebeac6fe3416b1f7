#pragma once
// The encodings of the snapshot catch-up messages: cursors and ranges as in
// the log-replay messages, SnapshotInfo as the snapshot file has it, items
// through their own codec (wire/codec.hpp).

#include <mosaik/sync/log_replay/log_replay_message_codec.hpp>
#include <mosaik/sync/snapshot/snapshot_messages.hpp>
#include <mosaik/wire/codec.hpp>
#include <mosaik/wire/snapshot_info_codec.hpp>

namespace mosaik::sync {

template <::mosaik::wire::FieldsOf<SnapshotRequest> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.after);
}
template <::mosaik::wire::FieldsOf<SnapshotQuery> Self, class F>
void mosaik_fields(Self&, F&& fields) {
  fields();
}
template <::mosaik::wire::FieldsOf<SnapshotOffer> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.snapshot, self.replay);
}
template <::mosaik::wire::FieldsOf<FetchItemsRequest> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.at, self.range);
}
template <class Self, class F>
requires ::mosaik::wire::FieldsOfTemplate<Self, FetchItemsResponse>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.at, self.range, self.items);
}

} // namespace mosaik::sync
