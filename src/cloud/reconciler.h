// Pool reconciliation: keep between min_hosts and max_hosts hosts, sized to
// the queue. decide() is pure; PoolReconciler applies a decision through a
// CloudProvider, or only prints it in dry-run mode.
#pragma once

#include "firerun/cloud.h"

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace firerun::cloud {

struct PoolPolicy {
  std::uint32_t min_hosts = 0;
  std::uint32_t max_hosts = 10;
  std::uint32_t jobs_per_host = 4;                ///< concurrent jobs one host takes
  std::chrono::seconds idle_grace{300};           ///< idle this long before scale-in
  std::uint32_t max_launch_per_step = 5;          ///< bound on hosts started in one step
};

struct PoolHost {
  std::string id;
  HostState state = HostState::unknown;
  std::uint32_t running_jobs = 0;
  /// When it last became idle; nullopt while busy (or unknown, which counts as busy).
  std::optional<std::chrono::system_clock::time_point> idle_since;
};

struct PoolObservation {
  std::uint64_t queued_jobs = 0;
  std::vector<PoolHost> hosts;
  std::chrono::system_clock::time_point now;
};

struct PoolDecision {
  std::uint32_t launch = 0;
  std::vector<std::string> terminate;
  std::uint32_t desired = 0;  ///< target host count
  std::uint32_t active = 0;   ///< pending + running hosts observed
  std::string reason;         ///< one line, for logs and dry runs

  bool empty() const noexcept { return launch == 0 && terminate.empty(); }
};

/// The step towards `desired` = clamp(ceil((queued + running jobs) / jobs_per_host), min, max).
/// Scale-in only removes hosts with no jobs that have been idle for idle_grace, longest idle first.
/// Hosts that are stopping/terminated are ignored.
PoolDecision decide(const PoolPolicy& policy, const PoolObservation& observation);

/// "launch 2 host(s); terminate i-1, i-2 (desired 3, active 3): <reason>".
std::string describe(const PoolDecision& decision);

class PoolReconciler {
 public:
  /// `request` is the template for new hosts (count is set per step). In dry-run mode nothing is
  /// provisioned or terminated; each step prints "dry-run: would ..." to `out`.
  PoolReconciler(CloudProvider& provider, PoolPolicy policy, HostRequest request, bool dry_run, std::ostream& out);
  /// Decides on `observation` and applies the decision (unless dry-run).
  Result<PoolDecision> step(const PoolObservation& observation);

 private:
  CloudProvider& provider_;
  PoolPolicy policy_;
  HostRequest request_;
  bool dry_run_;
  std::ostream& out_;
};

}  // namespace firerun::cloud
