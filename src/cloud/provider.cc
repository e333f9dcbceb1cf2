// Shared pieces of firerun/cloud.h and the built-in provider registration.
#include "firerun/cloud.h"

#include "cloud/aws/ec2_provider.h"
#include "cloud/static_provider.h"

#include <ctime>

namespace firerun::cloud {

std::string_view to_string(Architecture a) noexcept { return a == Architecture::arm64 ? "arm64" : "x86_64"; }

std::string_view to_string(Lifecycle l) noexcept { return l == Lifecycle::spot ? "spot" : "on-demand"; }

std::string_view to_string(HostState s) noexcept {
  switch (s) {
    case HostState::pending: return "pending";
    case HostState::running: return "running";
    case HostState::stopping: return "stopping";
    case HostState::stopped: return "stopped";
    case HostState::shutting_down: return "shutting-down";
    case HostState::terminated: return "terminated";
    case HostState::unknown: return "unknown";
  }
  return "unknown";
}

HostState parse_host_state(std::string_view name) noexcept {
  for (auto s : {HostState::pending, HostState::running, HostState::stopping, HostState::stopped,
                 HostState::shutting_down, HostState::terminated})
    if (to_string(s) == name) return s;
  return HostState::unknown;
}

Status HostRequest::validate() const {
  auto bad = [](std::string what) { return make_error(Errc::invalid_argument, "host request: " + std::move(what)); };
  if (count == 0) return bad("count must be at least 1");
  if (count > 1000) return bad("count must be at most 1000");
  if (vcpus.min == 0) return bad("vcpus.min must be at least 1");
  if (vcpus.max != 0 && vcpus.max < vcpus.min) return bad("vcpus.max is below vcpus.min");
  if (memory_mib.max != 0 && memory_mib.max < memory_mib.min) return bad("memory_mib.max is below memory_mib.min");
  if (disk_gib < 1 || disk_gib > 16384) return bad("disk_gib must be between 1 and 16384");
  for (const auto& f : instance_families)
    if (f.empty() || f.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
      return bad("instance family '" + f + "' is not a family name like 'm5' or 'c6i'");
  if (tags.size() > 40) return bad("at most 40 tags (EC2 allows 50, firerun keeps 10 for itself)");
  for (const auto& [k, v] : tags) {
    if (k.empty() || k.size() > 128) return bad("tag keys must have 1..128 characters");
    if (k.starts_with("aws:")) return bad("tag key '" + k + "' uses the reserved 'aws:' prefix");
    if (v.size() > 256) return bad("tag '" + k + "' has a value longer than 256 characters");
  }
  return {};
}

Result<std::unique_ptr<InterruptionWatcher>> CloudProviderFactory::make_interruption_watcher(
    const CloudProviderConfig&) const {
  return make_error(Errc::unsupported, "cloud provider '" + info().name + "' has no interruption notices to watch");
}

std::string InterruptionNotice::describe() const {
  std::string when = "unknown";
  if (time) {
    std::time_t t = std::chrono::system_clock::to_time_t(*time);
    std::tm tm{};
    char buf[32];
    if (::gmtime_r(&t, &tm) && std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm)) when = buf;
  }
  return "spot interruption: " + action + " at " + when;
}

Status register_builtin_cloud_providers(CloudProviderRegistry& registry) {
  FIRERUN_CHECK(registry.add(make_static_provider_factory()));
  FIRERUN_CHECK(registry.add(aws::make_aws_provider_factory()));
  return {};
}

}  // namespace firerun::cloud
