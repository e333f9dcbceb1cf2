// Prometheus text exposition of the daemon's counters, gauges and histograms.
#pragma once

#include "firerun/scheduler.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace firerun::daemon {

/// A cumulative histogram with fixed upper bounds (seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  /// `name_bucket{le=...}`, `name_sum`, `name_count` lines.
  void render(std::string& out, const std::string& name) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<std::uint64_t> counts_;  // per bound, non-cumulative; last = +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

struct Metrics {
  Histogram job_duration{{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}};
  Histogram vm_boot{{0.25, 0.5, 1, 2, 3, 5, 10, 30}};
  std::atomic<long> vms_active{0};
  std::atomic<std::uint64_t> http_requests{0};
  std::atomic<std::uint64_t> http_rejected{0};  ///< 4xx answers before a job was queued

  /// Renders everything, with scheduler gauges from `stats`.
  std::string render(const scheduler::Stats& stats) const;
};

}  // namespace firerun::daemon
