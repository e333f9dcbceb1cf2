// Prometheus text exposition of the daemon's counters, gauges and histograms.
#pragma once

#include "firerun/scheduler.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::daemon {

/// A cumulative histogram with fixed upper bounds (seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  /// `name_bucket{le=...}`, `name_sum`, `name_count` lines; `labels` ("k=\"v\"") go on every line.
  void render(std::string& out, const std::string& name, const std::string& labels = {}) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<std::uint64_t> counts_;  // per bound, non-cumulative; last = +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

/// Why a webhook delivery was refused (label values of firerun_ci_webhooks_rejected_total).
inline constexpr std::array<const char*, 6> kWebhookRejectReasons{"auth", "malformed", "source", "rate_limited",
                                                                   "too_large", "unschedulable"};

/// Counters of one CI provider.
struct CiProviderMetrics {
  std::atomic<std::uint64_t> webhooks_received{0};
  std::array<std::atomic<std::uint64_t>, kWebhookRejectReasons.size()> webhooks_rejected{};
  std::atomic<std::uint64_t> webhooks_duplicate{0};
  std::atomic<std::uint64_t> jobs_queued{0};
  std::atomic<std::uint64_t> runners_registered{0};
  std::atomic<std::uint64_t> runners_removed{0};
  /// Webhook received → runner VM running.
  Histogram queue_to_vm{{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300}};
  /// Counts a rejection; `reason` must be one of kWebhookRejectReasons.
  void reject(std::string_view reason);
};

struct Metrics {
  Histogram job_duration{{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}};
  Histogram vm_boot{{0.25, 0.5, 1, 2, 3, 5, 10, 30}};
  std::atomic<long> vms_active{0};
  std::atomic<std::uint64_t> http_requests{0};
  std::atomic<std::uint64_t> http_rejected{0};  ///< 4xx answers before a job was queued
  /// Per enabled CI provider; filled once at startup, read concurrently afterwards.
  std::map<std::string, std::unique_ptr<CiProviderMetrics>> ci;

  /// Renders everything, with scheduler gauges from `stats`.
  std::string render(const scheduler::Stats& stats) const;
};

}  // namespace firerun::daemon
