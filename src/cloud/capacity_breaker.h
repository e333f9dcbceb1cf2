// A circuit breaker per capacity pool (instance type, availability zone,
// market). After `failure_threshold` capacity errors a pool is skipped for a
// cool-down that doubles on each repeated trip (up to max_cool_down); when the
// cool-down ends one probe is let through (half-open): success closes the
// breaker, failure re-opens it. Time is passed in, so tests need no sleeps.
#pragma once

#include "firerun/cloud.h"

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace firerun::cloud {

struct CapacityPool {
  std::string instance_type;
  std::string availability_zone;  ///< "" = the whole region (RunInstances without a zone)
  Lifecycle lifecycle = Lifecycle::spot;

  friend auto operator<=>(const CapacityPool&, const CapacityPool&) = default;
};

/// "m5.large/us-east-1a/spot" (zone "*" when empty).
std::string to_string(const CapacityPool& pool);

enum class BreakerState { closed, open, half_open };
/// "closed" / "open" / "half-open".
std::string_view to_string(BreakerState s) noexcept;

class CapacityBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    int failure_threshold = 1;
    std::chrono::seconds cool_down{300};
    std::chrono::seconds max_cool_down{3600};
  };
  struct PoolStatus {
    CapacityPool pool;
    BreakerState state = BreakerState::closed;
    int consecutive_failures = 0;
    int trips = 0;                  ///< times opened since the last success
    Clock::time_point open_until{};  ///< meaningful while open
  };

  CapacityBreaker() : CapacityBreaker(Options{}) {}
  explicit CapacityBreaker(Options options) : options_(options) {}

  /// May a request go to this pool now? (An expired open pool becomes half-open.) A zonal pool is
  /// also blocked while the region-wide pool of the same type and market is open.
  bool allows(const CapacityPool& pool, Clock::time_point now);
  /// A capacity error from this pool.
  void record_failure(const CapacityPool& pool, Clock::time_point now);
  /// The pool delivered capacity: close it.
  void record_success(const CapacityPool& pool);
  /// Every pool with a non-default state, for metrics and `firerun cloud status`.
  std::vector<PoolStatus> snapshot(Clock::time_point now) const;
  /// State of one pool as of `now`.
  BreakerState state(const CapacityPool& pool, Clock::time_point now) const;

 private:
  BreakerState state_locked(const PoolStatus& s, Clock::time_point now) const;
  bool allows_locked(const CapacityPool& pool, Clock::time_point now);

  Options options_;
  mutable std::mutex mutex_;
  std::map<CapacityPool, PoolStatus> pools_;
};

}  // namespace firerun::cloud
