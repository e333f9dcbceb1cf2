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

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::lock_guard lock(mutex_);
  const std::string prefix = labels.empty() ? "" : labels + ",";
  const std::string own = labels.empty() ? "" : "{" + labels + "}";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, prefix, bounds_[i], cumulative);
  }
  out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n{}_sum{} {}\n{}_count{} {}\n", name, prefix, count_, name, own,
                     sum_, name, own, count_);
}

void CiProviderMetrics::reject(std::string_view reason) {
  for (std::size_t i = 0; i < kWebhookRejectReasons.size(); ++i)
    if (reason == kWebhookRejectReasons[i]) webhooks_rejected[i] += 1;
}

namespace {

void render_ci(std::string& out, const std::map<std::string, std::unique_ptr<CiProviderMetrics>>& ci) {
  if (ci.empty()) return;
  auto counter = [&](const char* name, const char* help, auto value_of) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
    for (const auto& [provider, m] : ci) out += fmt::format("{}{{provider=\"{}\"}} {}\n", name, provider, value_of(*m));
  };
  counter("firerun_ci_webhooks_received_total", "Webhook deliveries received.",
          [](const CiProviderMetrics& m) { return m.webhooks_received.load(); });
  out += "# HELP firerun_ci_webhooks_rejected_total Webhook deliveries refused, by reason.\n"
         "# TYPE firerun_ci_webhooks_rejected_total counter\n";
  for (const auto& [provider, m] : ci)
    for (std::size_t i = 0; i < kWebhookRejectReasons.size(); ++i)
      out += fmt::format("firerun_ci_webhooks_rejected_total{{provider=\"{}\",reason=\"{}\"}} {}\n", provider,
                         kWebhookRejectReasons[i], m->webhooks_rejected[i].load());
  counter("firerun_ci_webhooks_duplicate_total", "Redeliveries recognised and not acted on again.",
          [](const CiProviderMetrics& m) { return m.webhooks_duplicate.load(); });
  counter("firerun_ci_jobs_queued_total", "CI jobs queued for a runner VM.",
          [](const CiProviderMetrics& m) { return m.jobs_queued.load(); });
  counter("firerun_ci_runners_registered_total", "Runners registered with the provider.",
          [](const CiProviderMetrics& m) { return m.runners_registered.load(); });
  counter("firerun_ci_runners_removed_total", "Runners removed from the provider.",
          [](const CiProviderMetrics& m) { return m.runners_removed.load(); });
  out += "# HELP firerun_ci_queue_to_vm_seconds Time from the webhook to the runner VM running.\n"
         "# TYPE firerun_ci_queue_to_vm_seconds histogram\n";
  for (const auto& [provider, m] : ci)
    m->queue_to_vm.render(out, "firerun_ci_queue_to_vm_seconds", "provider=\"" + provider + "\"");
}

}  // namespace

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
  render_ci(out, ci);
  return out;
}

}  // namespace firerun::daemon
