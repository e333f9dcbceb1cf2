#include "rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace firerun::daemon {

RateLimiter::RateLimiter(double per_second, double burst, std::size_t max_clients)
    : per_second_(per_second), burst_(std::max(1.0, burst)), max_clients_(max_clients) {}

RateLimiter::Bucket& RateLimiter::refill(const std::string& client, Clock::time_point now) {
  auto it = buckets_.find(client);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_clients_) evict_full_buckets(now);
    it = buckets_.emplace(client, Bucket{burst_, now}).first;
  }
  Bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.updated).count();
  if (elapsed > 0) {
    b.tokens = std::min(burst_, b.tokens + elapsed * per_second_);
    b.updated = now;
  }
  return b;
}

void RateLimiter::evict_full_buckets(Clock::time_point now) {
  // A bucket that has refilled completely carries no state worth keeping.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const double elapsed = std::chrono::duration<double>(now - it->second.updated).count();
    if (it->second.tokens + elapsed * per_second_ >= burst_) it = buckets_.erase(it);
    else ++it;
  }
  // Still full of active clients: forget the lot rather than grow without bound.
  if (buckets_.size() >= max_clients_) buckets_.clear();
}

bool RateLimiter::allow(const std::string& client, Clock::time_point now) {
  if (per_second_ <= 0) return true;
  std::lock_guard lock(mutex_);
  Bucket& b = refill(client, now);
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

unsigned RateLimiter::retry_after_seconds(const std::string& client, Clock::time_point now) {
  if (per_second_ <= 0) return 1;
  std::lock_guard lock(mutex_);
  Bucket& b = refill(client, now);
  const double missing = std::max(0.0, 1.0 - b.tokens);
  return std::max(1u, static_cast<unsigned>(std::ceil(missing / per_second_)));
}

std::size_t RateLimiter::tracked_clients() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace firerun::daemon
