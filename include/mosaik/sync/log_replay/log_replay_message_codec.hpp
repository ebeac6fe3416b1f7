#pragma once
// The encodings of the log-replay catch-up messages: ranges as two fixed
// 8-byte indices, entries as term deltas and length-prefixed commands (the
// shape sync::wire_size() charges in the simulator, which counts a command's
// payload bytes rather than its exact encoding; tests/unit/wire_codec_test.cpp
// pins the difference).

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
  fields(self.range, ::mosaik::wire::entries(self.entries));
}

} // namespace mosaik::sync
