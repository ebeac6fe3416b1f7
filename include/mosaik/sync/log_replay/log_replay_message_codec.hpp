#pragma once
// The encodings of the log-replay catch-up messages: ranges as two fixed
// 8-byte indices, entries as term deltas and length-prefixed commands.

#include <mosaik/sync/log_replay/log_replay_messages.hpp>
#include <mosaik/wire/codec.hpp>
#include <mosaik/wire/entry_codec.hpp>

namespace mosaik::sync {

template <::mosaik::wire::FieldsOf<AvailabilityRequest> Self, class F>
void mosaik_fields(Self&, F&& fields) {
  fields();
}
template <::mosaik::wire::FieldsOf<AvailabilityResponse> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.available);
}
template <::mosaik::wire::FieldsOf<FetchEntriesRequest> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.range);
}
template <class Self, class F>
requires ::mosaik::wire::FieldsOfTemplate<Self, FetchEntriesResponse>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.range, ::mosaik::wire::entries(self.entries, self.encoded));
}

} // namespace mosaik::sync
