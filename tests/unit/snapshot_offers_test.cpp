// Unit tests of SnapshotOffers: which peers serve the snapshot a catching-up
// member chose, the rule the snapshot strategy's fetch sources follow.

#include <catch2/catch.hpp>

#include <mosaik/sync/snapshot/snapshot_offers.hpp>

using namespace mosaik;

namespace {

SnapshotInfo snapshot(std::uint64_t index, std::uint64_t items, std::byte header = std::byte{1}) {
  return SnapshotInfo{Cursor{Term{2}, Index{index}}, items, {header}};
}

} // namespace

TEST_CASE("SnapshotOffers: only peers offering exactly the chosen snapshot serve it", "[snapshot_offers]") {
  sync::SnapshotOffers offers;
  const PeerId leader{1};
  offers.offer(leader, snapshot(100, 8));
  offers.offer(PeerId{2}, snapshot(100, 8));
  offers.offer(PeerId{3}, snapshot(90, 8));                // another position
  offers.offer(PeerId{4}, snapshot(100, 8, std::byte{2})); // same position, another header
  CHECK_FALSE(offers.chosen());
  CHECK_FALSE(offers.serves(leader)); // nothing chosen: nobody serves
  CHECK_FALSE(offers.others_serve(leader));

  offers.choose(snapshot(100, 8));
  CHECK(offers.is_chosen(snapshot(100, 8)));
  CHECK(offers.sources() == std::vector<PeerId>{leader, PeerId{2}});
  CHECK(offers.others_serve(leader));

  offers.withdraw(PeerId{2});
  CHECK_FALSE(offers.serves(PeerId{2}));
  CHECK_FALSE(offers.others_serve(leader));
  CHECK(offers.others_serve(std::nullopt)); // with no leader known, the leader's offer counts too

  offers.offer(PeerId{3}, snapshot(100, 8)); // a peer that applied the same snapshot request later
  CHECK(offers.others_serve(leader));
  CHECK(offers.sources() == std::vector<PeerId>{leader, PeerId{3}});

  offers.choose(snapshot(120, 4)); // a newer one replaces it: the old offers serve nothing
  CHECK(offers.sources().empty());
}
