#include <catch2/catch.hpp>

#include <mosaik/fetch/response_time.hpp>

using namespace mosaik;
using namespace std::chrono_literals;
using fetch::ResponseTimeEstimator;

TEST_CASE("ResponseTimeEstimator: no answer, no timeout unless a prior is given", "[response_time]") {
  ResponseTimeEstimator estimator;
  CHECK_FALSE(estimator.timeout(1s, 25s).has_value());
  CHECK(estimator.timeout(1s, 25s, 3s) == 3s);
  estimator.back_off(); // a first request lost: the prior doubles
  CHECK(estimator.timeout(1s, 25s, 3s) == 6s);
}

TEST_CASE("ResponseTimeEstimator: learns from answers, within the floor and the ceiling", "[response_time]") {
  ResponseTimeEstimator estimator;
  estimator.sample(2s); // smoothed 2 s, variation 1 s: 2 * (2 + 4) = 12 s
  CHECK(estimator.timeout(1s, 25s) == 12s);
  for (int i = 0; i < 100; ++i) {
    estimator.sample(2s);
  }
  // Steady answers: the variation decays, the timeout approaches 2 * 2 s.
  const auto steady = *estimator.timeout(1s, 25s);
  CHECK(steady >= 4s);
  CHECK(steady < 4100ms);
  CHECK(estimator.smoothed() == 2s);
  // Fast peers are held to the floor, slow ones to the ceiling.
  ResponseTimeEstimator fast;
  fast.sample(5ms);
  CHECK(fast.timeout(1s, 25s) == 1s);
  ResponseTimeEstimator slow;
  slow.sample(20s);
  CHECK(slow.timeout(1s, 25s) == 25s);
}

TEST_CASE("ResponseTimeEstimator: timeouts back off until the next answer", "[response_time]") {
  ResponseTimeEstimator estimator;
  for (int i = 0; i < 100; ++i) {
    estimator.sample(1s);
  }
  const auto base = *estimator.timeout(100ms, 60s);
  estimator.back_off();
  CHECK(*estimator.timeout(100ms, 60s) == 2 * base);
  estimator.back_off();
  CHECK(*estimator.timeout(100ms, 60s) == 4 * base);
  for (int i = 0; i < 20; ++i) {
    estimator.back_off();
  }
  CHECK(*estimator.timeout(100ms, 60s) == 60s); // capped
  estimator.sample(1s);
  CHECK(*estimator.timeout(100ms, 60s) < 3s); // an answer ends the backoff
}
