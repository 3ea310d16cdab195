#include "claimcheck/common/backoff.hpp"

#include <gtest/gtest.h>

namespace claimcheck {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesWithJitterUpToTheMaximum) {
  Backoff backoff(milliseconds(100), milliseconds(1000));
  const milliseconds steps[] = {milliseconds(100), milliseconds(200),  milliseconds(400),
                                milliseconds(800), milliseconds(1000), milliseconds(1000)};
  for (const milliseconds step : steps) {
    const milliseconds delay = backoff.next();
    EXPECT_GE(delay, step / 2);
    EXPECT_LE(delay, step);
  }
}

TEST(Backoff, ResetStartsOver) {
  Backoff backoff(milliseconds(100), milliseconds(10'000));
  for (int i = 0; i < 5; ++i) {
    (void)backoff.next();
  }
  backoff.reset();
  EXPECT_LE(backoff.next(), milliseconds(100));
}

TEST(Backoff, DelayAfterAnAttemptFollowsTheSameSteps) {
  Backoff backoff(milliseconds(1000), milliseconds(30'000));
  EXPECT_LE(backoff.after_attempt(1), milliseconds(1000));
  EXPECT_GE(backoff.after_attempt(3), milliseconds(2000));
  EXPECT_LE(backoff.after_attempt(3), milliseconds(4000));
  EXPECT_GE(backoff.after_attempt(50), milliseconds(15'000));
  EXPECT_LE(backoff.after_attempt(50), milliseconds(30'000));
}

TEST(Backoff, SpreadsDelaysSoRetriesDoNotComeBackInStep) {
  Backoff first(milliseconds(1000), milliseconds(1000));
  Backoff second(milliseconds(1000), milliseconds(1000));
  int differing = 0;
  for (int i = 0; i < 20; ++i) {
    differing += first.next() != second.next() ? 1 : 0;
  }
  EXPECT_GT(differing, 10);
}

}  // namespace
}  // namespace claimcheck
