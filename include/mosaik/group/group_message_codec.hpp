#pragma once
// The encodings of the group runtime's messages (consensus, membership, log
// commands). Field lists, found by argument-dependent lookup: one description
// serves encoding and decoding.

#include <concepts>
#include <type_traits>

#include <mosaik/group/group_config.hpp>
#include <mosaik/group/group_messages.hpp>
#include <mosaik/group/log_command.hpp>
#include <mosaik/group/membership.hpp>
#include <mosaik/group/result.hpp>
#include <mosaik/wire/codec.hpp>
#include <mosaik/wire/entry_codec.hpp>

namespace mosaik::group {

constexpr Errc mosaik_enum_max(Errc) noexcept {
  return Errc::cancelled;
}
constexpr Preference mosaik_enum_max(Preference) noexcept {
  return Preference::observer;
}

template <::mosaik::wire::FieldsOf<Member> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.preference, self.voter);
}

inline void mosaik_encode(::mosaik::wire::Writer& out, const Membership& membership) {
  ::mosaik::wire::encode(out, membership.members());
}
inline bool mosaik_decode(::mosaik::wire::Reader& in, Membership& membership) {
  std::vector<Membership::Entry> entries;
  if (!::mosaik::wire::decode(in, entries)) {
    return false;
  }
  auto decoded = Membership::from_entries(std::move(entries));
  if (!decoded) {
    return in.fail(::mosaik::wire::DecodeError::bad_value); // unsorted or repeated members
  }
  membership = std::move(*decoded);
  return true;
}

template <::mosaik::wire::FieldsOf<Noop> Self, class F>
void mosaik_fields(Self&, F&& fields) {
  fields();
}
template <::mosaik::wire::FieldsOf<MembershipChange> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.membership);
}
template <::mosaik::wire::FieldsOf<SnapshotPoint> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.requester);
}
template <class Self, class F>
requires ::mosaik::wire::FieldsOfTemplate<Self, LogCommand>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.body);
}

template <::mosaik::wire::FieldsOf<VoteRequest> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.term, self.last, self.pre_vote);
}
template <::mosaik::wire::FieldsOf<VoteResponse> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.term, self.granted, self.pre_vote);
}
template <class Self, class F>
requires ::mosaik::wire::FieldsOfTemplate<Self, AppendEntries>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.term, self.prev, ::mosaik::wire::entries(self.entries), self.commit, self.round);
}
template <::mosaik::wire::FieldsOf<AppendResponse> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.term, self.success, self.syncing, self.match, self.round);
}
template <class Self, class F>
requires ::mosaik::wire::FieldsOfTemplate<Self, ForwardRequest>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.request_id, self.commands);
}
template <::mosaik::wire::FieldsOf<ForwardResponse> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.request_id, self.range, self.term, self.error);
}
template <::mosaik::wire::FieldsOf<ReadIndexRequest> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.request_id);
}
template <::mosaik::wire::FieldsOf<ReadIndexResponse> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.request_id, self.read_index, self.error);
}

} // namespace mosaik::group
