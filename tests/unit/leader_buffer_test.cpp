// Unit tests of LeaderBuffer's checked acceptance and its limit, which both
// catch-up strategies use for the entries the leader sends during a session.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <mosaik/sync/leader_buffer.hpp>

using namespace mosaik;

namespace {

using Buffer = sync::LeaderBuffer<std::string>;
using Accepted = Buffer::Accepted;

std::vector<Entry<std::string>> entries(std::vector<std::uint64_t> terms) {
  std::vector<Entry<std::string>> out;
  for (const auto term : terms) {
    out.push_back(Entry<std::string>{Term{term}, "c"});
  }
  return out;
}

} // namespace

TEST_CASE("LeaderBuffer: a checked batch is taken, or counted as stale", "[leader_buffer]") {
  Buffer buffer(Cursor{Term{2}, Index{10}});
  fetch::SessionCounters counters;

  CHECK(buffer.accept_checked(Cursor{Term{2}, Index{10}}, entries({2, 3}), counters) == Accepted::appended);
  CHECK(buffer.size() == 2);
  CHECK(buffer.accept_checked(Cursor{Term{3}, Index{15}}, entries({3}), counters) == Accepted::retargeted);
  CHECK(buffer.target() == Cursor{Term{3}, Index{15}});
  CHECK(counters.stale_leader_batches == 0);

  CHECK_FALSE(buffer.accept_checked(Cursor{Term{3}, Index{16}}, entries({4, 2}), counters)); // terms go back
  CHECK_FALSE(
      buffer.accept_checked(Cursor{Term{3}, Index{16}}, entries({0}), counters)); // the sentinel's term
  CHECK_FALSE(buffer.accept_checked(Cursor{Term{2}, Index{11}}, entries({2}), counters)); // behind the target
  CHECK(counters.stale_leader_batches == 3);
  CHECK(buffer.size() == 1); // none of them touched what is held
}

TEST_CASE("LeaderBuffer: past its limit it drops every entry and moves the target", "[leader_buffer]") {
  Buffer buffer(Cursor{Term{1}, Index{5}});
  fetch::SessionCounters counters;
  REQUIRE(buffer.accept_checked(Cursor{Term{1}, Index{5}}, entries({1, 1, 2}), counters));

  CHECK_FALSE(buffer.drop_over(3, counters));
  CHECK(buffer.size() == 3);
  CHECK(counters.max_buffered_entries == 3);
  CHECK(counters.buffer_overflows == 0);

  REQUIRE(buffer.accept_checked(Cursor{Term{2}, Index{8}}, entries({2}), counters));
  CHECK(buffer.drop_over(3, counters));
  CHECK(buffer.empty());
  CHECK(buffer.target() == Cursor{Term{2}, Index{9}}); // the peers fetch up to here
  CHECK(counters.buffer_overflows == 1);
  CHECK(counters.max_buffered_entries == 3); // measured after the drop
}

TEST_CASE("LeaderBuffer: after a snapshot only the entries that follow it are kept", "[leader_buffer]") {
  const Cursor target{Term{2}, Index{10}};
  const auto filled = [&] {
    Buffer buffer(target);
    fetch::SessionCounters counters;
    REQUIRE(buffer.accept_checked(target, entries({2, 3, 3}), counters) == Accepted::appended); // 11..13
    return buffer;
  };

  auto at_target = filled();
  auto kept = at_target.take_after(target);
  REQUIRE(kept);
  CHECK(kept->size() == 3);
  CHECK(at_target.empty());

  auto inside = filled();
  kept = inside.take_after(Cursor{Term{3}, Index{12}});
  REQUIRE(kept);
  REQUIRE(kept->size() == 1);
  CHECK(kept->front().term == Term{3});

  auto at_end = filled();
  kept = at_end.take_after(Cursor{Term{3}, Index{13}});
  REQUIRE(kept);
  CHECK(kept->empty());

  auto beyond = filled(); // the snapshot covers every entry held: nothing follows it
  kept = beyond.take_after(Cursor{Term{4}, Index{20}});
  REQUIRE(kept);
  CHECK(kept->empty());

  auto other_history = filled(); // entry 12 has term 3 here, the snapshot says 2
  CHECK_FALSE(other_history.take_after(Cursor{Term{2}, Index{12}}));
  CHECK(other_history.empty());
}
