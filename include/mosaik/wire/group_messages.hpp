#pragma once
// The encodings of the group runtime's messages (consensus, membership, log
// commands). Field lists, found by argument-dependent lookup: one description
// serves encoding and decoding.

#include <concepts>
#include <type_traits>

#include <mosaik/group/config.hpp>
#include <mosaik/group/log_command.hpp>
#include <mosaik/group/membership.hpp>
#include <mosaik/group/messages.hpp>
#include <mosaik/group/result.hpp>
#include <mosaik/wire/codec.hpp>
#include <mosaik/wire/entries.hpp>

namespace mosaik::group {

/// `Self` is T or const T (one field list for both directions).
template <class Self, class T>
concept FieldsOf = std::same_as<std::remove_const_t<Self>, T>;

/// `Self` is (const) Template<C> for some C.
template <class Self, template <class> class Template>
concept FieldsOfTemplate = ::mosaik::wire::detail::IsInstance<std::remove_const_t<Self>, Template>::value;

constexpr Errc mosaik_enum_max(Errc) noexcept {
  return Errc::cancelled;
}
constexpr Preference mosaik_enum_max(Preference) noexcept {
  return Preference::observer;
}

template <FieldsOf<Member> Self, class F>
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

template <FieldsOf<Noop> Self, class F>
void mosaik_fields(Self&, F&& fields) {
  fields();
}
template <FieldsOf<MembershipChange> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.membership);
}
template <FieldsOf<SnapshotPoint> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.requester);
}
template <class Self, class F>
requires FieldsOfTemplate<Self, LogCommand>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.body);
}

template <FieldsOf<VoteRequest> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.term, self.last, self.pre_vote);
}
template <FieldsOf<VoteResponse> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.term, self.granted, self.pre_vote);
}
template <class Self, class F>
requires FieldsOfTemplate<Self, AppendEntries>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.term, self.prev, ::mosaik::wire::entries(self.entries), self.commit, self.round);
}
template <FieldsOf<AppendResponse> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.term, self.success, self.syncing, self.match, self.round);
}
template <class Self, class F>
requires FieldsOfTemplate<Self, ForwardRequest>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.request_id, self.commands);
}
template <FieldsOf<ForwardResponse> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.request_id, self.range, self.term, self.error);
}
template <FieldsOf<ReadIndexRequest> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.request_id);
}
template <FieldsOf<ReadIndexResponse> Self, class F>
void mosaik_fields(Self& self, F&& fields) {
  fields(self.request_id, self.read_index, self.error);
}

} // namespace mosaik::group
