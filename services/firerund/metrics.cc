#include "metrics.h"

#include <fmt/format.h>

namespace firerun::daemon {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  std::lock_guard lock(mutex_);
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  counts_[i] += 1;
  sum_ += value;
  count_ += 1;
}

void Histogram::render(std::string& out, const std::string& name) const {
  std::lock_guard lock(mutex_);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, count_, name, sum_, name, count_);
}

std::string Metrics::render(const scheduler::Stats& stats) const {
  std::string out;
  out += "# HELP firerun_jobs_total Jobs that reached a terminal state, by status.\n";
  out += "# TYPE firerun_jobs_total counter\n";
  for (auto status : {scheduler::JobStatus::completed, scheduler::JobStatus::failed, scheduler::JobStatus::cancelled,
                      scheduler::JobStatus::timed_out}) {
    auto it = stats.finished.find(status);
    out += fmt::format("firerun_jobs_total{{status=\"{}\"}} {}\n", scheduler::to_string(status),
                       it == stats.finished.end() ? 0 : it->second);
  }
  out += "# HELP firerun_queue_size Jobs waiting to run.\n# TYPE firerun_queue_size gauge\n";
  out += fmt::format("firerun_queue_size {}\n", stats.queued);
  out += "# HELP firerun_jobs_running Jobs currently running.\n# TYPE firerun_jobs_running gauge\n";
  out += fmt::format("firerun_jobs_running {}\n", stats.running);
  out += "# HELP firerun_vms_active MicroVMs currently alive.\n# TYPE firerun_vms_active gauge\n";
  out += fmt::format("firerun_vms_active {}\n", vms_active.load());
  out += "# HELP firerun_capacity_vcpus Schedulable vCPUs (after overcommit) and those in use.\n";
  out += "# TYPE firerun_capacity_vcpus gauge\n";
  out += fmt::format("firerun_capacity_vcpus{{kind=\"total\"}} {}\nfirerun_capacity_vcpus{{kind=\"used\"}} {}\n",
                     stats.vcpu_capacity, stats.vcpus_in_use);
  out += "# HELP firerun_capacity_memory_mib Schedulable memory (after overcommit) and that in use.\n";
  out += "# TYPE firerun_capacity_memory_mib gauge\n";
  out += fmt::format(
      "firerun_capacity_memory_mib{{kind=\"total\"}} {}\nfirerun_capacity_memory_mib{{kind=\"used\"}} {}\n",
      stats.memory_capacity_mib, stats.memory_in_use_mib);
  out += "# HELP firerun_http_requests_total HTTP requests received.\n# TYPE firerun_http_requests_total counter\n";
  out += fmt::format("firerun_http_requests_total {}\n", http_requests.load());
  out += "# HELP firerun_http_rejected_total Requests refused with a 4xx before anything was queued.\n";
  out += "# TYPE firerun_http_rejected_total counter\n";
  out += fmt::format("firerun_http_rejected_total {}\n", http_rejected.load());
  out += "# HELP firerun_job_duration_seconds Time from job start to its terminal state.\n";
  out += "# TYPE firerun_job_duration_seconds histogram\n";
  job_duration.render(out, "firerun_job_duration_seconds");
  out += "# HELP firerun_vm_boot_seconds Time from VM start until its agent was ready.\n";
  out += "# TYPE firerun_vm_boot_seconds histogram\n";
  vm_boot.render(out, "firerun_vm_boot_seconds");
  return out;
}

}  // namespace firerun::daemon
