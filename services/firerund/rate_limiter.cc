#include "rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace firerun::daemon {

RateLimiter::RateLimiter(double per_second, double burst, std::size_t max_clients)
    : per_second_(per_second), burst_(std::max(1.0, burst)), max_clients_(std::max<std::size_t>(1, max_clients)),
      overflow_{burst_, Clock::now()} {}

RateLimiter::Bucket& RateLimiter::refill(const std::string& client, Clock::time_point now) {
  auto it = buckets_.find(client);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_clients_) evict_full_buckets(now);
    // Still full of clients that used their budget: newcomers share one
    // overflow bucket. Forgetting the tracked ones instead would hand every
    // client a fresh budget at once (a flood of new addresses as a reset button).
  }
  Bucket& b = it != buckets_.end()                 ? it->second
              : buckets_.size() >= max_clients_ ? overflow_
                                                 : buckets_.emplace(client, Bucket{burst_, now}).first->second;
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
