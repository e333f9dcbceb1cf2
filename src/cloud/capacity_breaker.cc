#include "cloud/capacity_breaker.h"

#include <spdlog/spdlog.h>

namespace firerun::cloud {

std::string to_string(const CapacityPool& pool) {
  return pool.instance_type + "/" + (pool.availability_zone.empty() ? "*" : pool.availability_zone) + "/" +
         std::string(to_string(pool.lifecycle));
}

std::string_view to_string(BreakerState s) noexcept {
  switch (s) {
    case BreakerState::closed: return "closed";
    case BreakerState::open: return "open";
    case BreakerState::half_open: return "half-open";
  }
  return "closed";
}

BreakerState CapacityBreaker::state_locked(const PoolStatus& s, Clock::time_point now) const {
  if (s.consecutive_failures < options_.failure_threshold) return BreakerState::closed;
  return now < s.open_until ? BreakerState::open : BreakerState::half_open;
}

bool CapacityBreaker::allows_locked(const CapacityPool& pool, Clock::time_point now) {
  auto it = pools_.find(pool);
  if (it == pools_.end()) return true;
  auto st = state_locked(it->second, now);
  if (st == BreakerState::open) return false;
  if (st == BreakerState::half_open) {
    // One probe per cool-down: push the deadline out so concurrent callers keep skipping.
    it->second.open_until = now + options_.cool_down;
    spdlog::info("capacity breaker {}: half-open, probing", to_string(pool));
  }
  return true;
}

bool CapacityBreaker::allows(const CapacityPool& pool, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (!pool.availability_zone.empty()) {
    CapacityPool regional = pool;
    regional.availability_zone.clear();
    auto it = pools_.find(regional);
    if (it != pools_.end() && state_locked(it->second, now) == BreakerState::open) return false;
  }
  return allows_locked(pool, now);
}

void CapacityBreaker::record_failure(const CapacityPool& pool, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto& s = pools_[pool];
  s.pool = pool;
  ++s.consecutive_failures;
  if (s.consecutive_failures < options_.failure_threshold) return;
  auto cool = options_.cool_down;
  for (int i = 0; i < s.trips && cool < options_.max_cool_down; ++i) cool *= 2;
  cool = std::min(cool, options_.max_cool_down);
  ++s.trips;
  s.open_until = now + cool;
  spdlog::warn("capacity breaker {}: open for {} s after {} capacity error(s)", to_string(pool), cool.count(),
               s.consecutive_failures);
}

void CapacityBreaker::record_success(const CapacityPool& pool) {
  std::lock_guard lock(mutex_);
  auto it = pools_.find(pool);
  if (it == pools_.end()) return;
  if (it->second.consecutive_failures >= options_.failure_threshold)
    spdlog::info("capacity breaker {}: closed", to_string(pool));
  pools_.erase(it);
}

std::vector<CapacityBreaker::PoolStatus> CapacityBreaker::snapshot(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  std::vector<PoolStatus> out;
  for (const auto& [key, s] : pools_) {
    out.push_back(s);
    out.back().state = state_locked(s, now);
  }
  return out;
}

BreakerState CapacityBreaker::state(const CapacityPool& pool, Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  auto it = pools_.find(pool);
  return it == pools_.end() ? BreakerState::closed : state_locked(it->second, now);
}

}  // namespace firerun::cloud
