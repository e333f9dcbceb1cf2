#include "rate_limiter.h"

#include <gtest/gtest.h>

namespace firerun::daemon {
namespace {
using namespace std::chrono_literals;

TEST(RateLimiter, BurstThenRefillPerClient) {
  RateLimiter limiter(2.0, 3.0);
  auto t = RateLimiter::Clock::time_point{} + 100s;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.allow("a", t));
  EXPECT_FALSE(limiter.allow("a", t));
  EXPECT_TRUE(limiter.allow("b", t)) << "buckets are per client";
  EXPECT_EQ(limiter.retry_after_seconds("a", t), 1u);
  EXPECT_FALSE(limiter.allow("a", t + 400ms));
  EXPECT_TRUE(limiter.allow("a", t + 500ms)) << "2 tokens/s: one token after 0.5 s";
  EXPECT_TRUE(limiter.allow("a", t + 10s));
  EXPECT_TRUE(limiter.allow("a", t + 10s));
  EXPECT_TRUE(limiter.allow("a", t + 10s));
  EXPECT_FALSE(limiter.allow("a", t + 10s)) << "refill is capped at the burst";
}

TEST(RateLimiter, ZeroRateDisablesLimiting) {
  RateLimiter limiter(0, 1);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.allow("a"));
}

TEST(RateLimiter, ClientTableStaysBounded) {
  RateLimiter limiter(1.0, 1.0, 100);
  auto t = RateLimiter::Clock::time_point{} + 100s;
  for (int i = 0; i < 10000; ++i) limiter.allow("client-" + std::to_string(i), t);
  EXPECT_LE(limiter.tracked_clients(), 100u);
}

TEST(RateLimiter, AFullTableNeverResetsTheBudgetsItTracks) {
  // Before: a table full of active clients was cleared, so a flood of new
  // addresses gave every limited client a fresh burst.
  RateLimiter limiter(1.0, 2.0, 10);
  auto t = RateLimiter::Clock::time_point{} + 100s;
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(limiter.allow("active-" + std::to_string(i), t));
    EXPECT_TRUE(limiter.allow("active-" + std::to_string(i), t));
  }
  int admitted_newcomers = 0;
  for (int i = 0; i < 1000; ++i) admitted_newcomers += limiter.allow("new-" + std::to_string(i), t) ? 1 : 0;
  EXPECT_EQ(admitted_newcomers, 2) << "newcomers share one overflow bucket while the table is full";
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(limiter.allow("active-" + std::to_string(i), t)) << i;
  EXPECT_EQ(limiter.tracked_clients(), 10u);
}

}  // namespace
}  // namespace firerun::daemon
