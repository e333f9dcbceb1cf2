// Per-client token buckets (keyed by remote address).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace firerun::daemon {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  /// `per_second` tokens refill continuously up to `burst`; per_second <= 0 disables limiting.
  /// At most `max_clients` are tracked; clients beyond share one overflow bucket.
  RateLimiter(double per_second, double burst, std::size_t max_clients = 10000);
  /// Takes one token for `client`; false when its bucket is empty.
  bool allow(const std::string& client, Clock::time_point now = Clock::now());
  /// Seconds until `client` has a token again (for Retry-After), at least 1.
  unsigned retry_after_seconds(const std::string& client, Clock::time_point now = Clock::now());
  std::size_t tracked_clients() const;

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  Bucket& refill(const std::string& client, Clock::time_point now);
  void evict_full_buckets(Clock::time_point now);

  double per_second_;
  double burst_;
  std::size_t max_clients_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
  Bucket overflow_;  ///< shared by clients that arrive while the table is full of active ones
};

}  // namespace firerun::daemon
