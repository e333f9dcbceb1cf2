#include "cloud/reconciler.h"

#include <algorithm>

namespace firerun::cloud {

PoolDecision decide(const PoolPolicy& policy, const PoolObservation& obs) {
  PoolDecision d;
  std::uint64_t running_jobs = 0;
  std::vector<const PoolHost*> idle;
  for (const auto& h : obs.hosts) {
    if (h.state != HostState::pending && h.state != HostState::running) continue;
    ++d.active;
    running_jobs += h.running_jobs;
    if (h.state == HostState::running && h.running_jobs == 0 && h.idle_since &&
        obs.now - *h.idle_since >= policy.idle_grace)
      idle.push_back(&h);
  }
  const std::uint64_t per_host = std::max<std::uint32_t>(policy.jobs_per_host, 1);
  const std::uint64_t demand = obs.queued_jobs + running_jobs;
  const std::uint64_t wanted = (demand + per_host - 1) / per_host;
  const std::uint32_t max_hosts = std::max(policy.max_hosts, policy.min_hosts);
  d.desired = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(wanted, policy.min_hosts, max_hosts));
  const std::string sizing = std::to_string(obs.queued_jobs) + " queued + " + std::to_string(running_jobs) +
                             " running job(s) at " + std::to_string(per_host) + " per host";
  if (d.desired > d.active) {
    d.launch = std::min(d.desired - d.active, policy.max_launch_per_step);
    d.reason = sizing + (d.active < policy.min_hosts ? " (below min_hosts)" : "");
  } else if (d.desired < d.active) {
    std::sort(idle.begin(), idle.end(), [](auto* a, auto* b) {
      return *a->idle_since != *b->idle_since ? *a->idle_since < *b->idle_since : a->id < b->id;
    });
    const std::size_t surplus = d.active - d.desired;
    for (std::size_t i = 0; i < idle.size() && i < surplus; ++i) d.terminate.push_back(idle[i]->id);
    d.reason = sizing + "; " + std::to_string(idle.size()) + " host(s) idle past the grace period";
  } else {
    d.reason = sizing + "; at target";
  }
  return d;
}

std::string describe(const PoolDecision& d) {
  std::string out;
  if (d.empty()) out = "no change";
  if (d.launch > 0) out = "launch " + std::to_string(d.launch) + " host(s)";
  if (!d.terminate.empty()) {
    if (!out.empty()) out += "; ";
    out += "terminate";
    for (std::size_t i = 0; i < d.terminate.size(); ++i) out += (i ? ", " : " ") + d.terminate[i];
  }
  return out + " (desired " + std::to_string(d.desired) + ", active " + std::to_string(d.active) + "): " + d.reason;
}

PoolReconciler::PoolReconciler(CloudProvider& provider, PoolPolicy policy, HostRequest request, bool dry_run,
                               std::ostream& out)
    : provider_(provider), policy_(policy), request_(std::move(request)), dry_run_(dry_run), out_(out) {}

Result<PoolDecision> PoolReconciler::step(const PoolObservation& observation) {
  auto decision = decide(policy_, observation);
  if (dry_run_) {
    out_ << (decision.empty() ? "dry-run: " : "dry-run: would ") << describe(decision) << "\n";
    return decision;
  }
  if (decision.launch > 0) {
    HostRequest req = request_;
    req.count = decision.launch;
    FIRERUN_TRY(auto hosts, add_context(provider_.provision(req), "pool reconciler: launching"));
    (void)hosts;
  }
  if (!decision.terminate.empty())
    FIRERUN_CHECK(add_context(provider_.terminate(decision.terminate), "pool reconciler: terminating idle hosts"));
  return decision;
}

}  // namespace firerun::cloud
