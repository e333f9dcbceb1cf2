// Cloud provisioning: ask a provider for hosts that can run firerund.
//
// A CloudProvider turns a HostRequest (CPU/RAM ranges, families, spot or
// on-demand) into running hosts, lists them, tags and terminates them.
// Providers are created by name through a Registry<CloudProviderFactory>:
// "static" (a YAML list of existing machines, the default) and "aws" (EC2).
// Calls are blocking (they talk HTTP); run them off the event loop.
//
// Errors: Errc::invalid_argument for a bad request or configuration,
// Errc::limit_exceeded when no capacity fits (messages start with
// "insufficient capacity") or the provider throttles after retries,
// Errc::auth for credential/permission failures, Errc::not_found for unknown
// host ids, Errc::protocol for malformed provider responses.
#pragma once

#include "firerun/error.h"
#include "firerun/registry.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::cloud {

/// CPU architecture of a host.
enum class Architecture { x86_64, arm64 };
/// How a host is billed / can be reclaimed.
enum class Lifecycle { on_demand, spot };
/// Which capacity a request may use, in order of preference.
enum class CapacityPreference {
  spot_then_on_demand,  ///< spot first, on-demand when no spot pool has capacity (default)
  spot_only,            ///< fail rather than pay on-demand prices
  on_demand_only,       ///< never spot
};
/// Lifecycle state as the provider reports it.
enum class HostState { pending, running, stopping, stopped, shutting_down, terminated, unknown };

/// "x86_64" / "arm64".
std::string_view to_string(Architecture a) noexcept;
/// "on-demand" / "spot".
std::string_view to_string(Lifecycle l) noexcept;
/// "pending", "running", ..., "shutting-down", "terminated", "unknown".
std::string_view to_string(HostState s) noexcept;
/// Parses EC2's state names ("shutting-down"); anything else is HostState::unknown.
HostState parse_host_state(std::string_view name) noexcept;

/// An inclusive range; max == 0 means unbounded.
struct Range {
  std::uint64_t min = 0;  ///< lower bound
  std::uint64_t max = 0;  ///< upper bound, 0 = none

  /// True when v lies within the range.
  bool contains(std::uint64_t v) const noexcept { return v >= min && (max == 0 || v <= max); }
};

/// What kind of hosts to create.
struct HostRequest {
  Range vcpus{2, 0};                           ///< vCPU count
  Range memory_mib{4096, 0};                   ///< memory in MiB
  std::vector<std::string> instance_families;  ///< e.g. {"m5", "c6i"}; empty = any family
  Architecture architecture = Architecture::x86_64;  ///< CPU architecture
  CapacityPreference capacity = CapacityPreference::spot_then_on_demand;  ///< spot / on-demand choice
  std::uint32_t disk_gib = 30;                 ///< root volume size
  std::uint32_t count = 1;                     ///< number of hosts (all-or-nothing)
  std::map<std::string, std::string> tags;     ///< applied to hosts (and their volumes)

  /// Checks ranges and counts; Errc::invalid_argument names the bad field.
  Status validate() const;
};

/// A machine known to a provider.
struct Host {
  std::string id;                 ///< provider id ("i-0123...", or the static entry's name)
  std::string instance_type;      ///< "m5.large"
  std::string availability_zone;  ///< "us-east-1a"
  Lifecycle lifecycle = Lifecycle::on_demand;  ///< spot or on-demand
  HostState state = HostState::unknown;        ///< as last reported
  std::string private_address;    ///< private IPv4 (may be empty while pending)
  std::string public_address;     ///< public IPv4 or DNS name, empty when none
  std::map<std::string, std::string> tags;  ///< provider tags
  std::optional<std::chrono::system_clock::time_point> launch_time;  ///< when it started
  std::uint32_t vcpus = 0;        ///< 0 when unknown
  std::uint64_t memory_mib = 0;   ///< 0 when unknown
};

/// Which hosts describe() returns; empty fields do not filter.
struct HostFilter {
  std::vector<std::string> ids;             ///< only these ids
  std::map<std::string, std::string> tags;  ///< all of these tags must match
  std::vector<HostState> states;            ///< only hosts in one of these states
};

/// A source of hosts. Implementations are thread-compatible (one caller at a time).
class CloudProvider {
 public:
  virtual ~CloudProvider() = default;
  /// Registry name ("static", "aws").
  virtual std::string_view name() const noexcept = 0;
  /// Creates (or, for "static", claims) request.count hosts matching the request.
  virtual Result<std::vector<Host>> provision(const HostRequest& request) = 0;
  /// Lists hosts matching the filter.
  virtual Result<std::vector<Host>> describe(const HostFilter& filter) = 0;
  /// Terminates (or releases) hosts; unknown ids are Errc::not_found.
  virtual Status terminate(const std::vector<std::string>& ids) = 0;
  /// Adds or overwrites tags on hosts.
  virtual Status tag(const std::vector<std::string>& ids, const std::map<std::string, std::string>& tags) = 0;
};

/// The provider telling this host, from the inside, that it is about to be
/// reclaimed (AWS: a spot interruption notice in the instance metadata).
struct InterruptionNotice {
  std::string action;  ///< what the provider will do: "terminate", "stop" or "hibernate"
  std::optional<std::chrono::system_clock::time_point> time;  ///< when, if the provider says
  /// "spot interruption: terminate at 2017-09-18T08:22:00Z" (time "unknown" when absent).
  std::string describe() const;
};

/// Polls a provider's on-host notice source. Thread-compatible.
class InterruptionWatcher {
 public:
  virtual ~InterruptionWatcher() = default;
  /// One poll (blocking, bounded by short HTTP timeouts): the notice when one
  /// is scheduled, nullopt when none is; an error when the source cannot be read.
  virtual Result<std::optional<InterruptionNotice>> poll() = 0;
};

/// Backend settings as "key: value" strings (from the daemon's config); see docs/cloud.md.
struct CloudProviderConfig {
  std::map<std::string, std::string> options;  ///< e.g. {"hosts_file": "/etc/firerun/hosts.yaml"}
};

/// Registry entry creating a CloudProvider from configuration.
class CloudProviderFactory {
 public:
  virtual ~CloudProviderFactory() = default;
  /// Name, description and status for listings.
  virtual BackendInfo info() const = 0;
  /// Creates a provider; unknown or malformed options are Errc::invalid_argument.
  virtual Result<std::unique_ptr<CloudProvider>> create(const CloudProviderConfig& config) const = 0;
  /// A watcher for this host's own interruption notices ("aws": IMDSv2
  /// spot/instance-action, option `imds_endpoint`); Errc::unsupported for
  /// providers whose hosts are never reclaimed.
  virtual Result<std::unique_ptr<InterruptionWatcher>> make_interruption_watcher(
      const CloudProviderConfig& config) const;
};

/// Registry of cloud providers.
using CloudProviderRegistry = Registry<CloudProviderFactory>;

/// Adds the built-in "static" and "aws" providers.
Status register_builtin_cloud_providers(CloudProviderRegistry& registry);

/// The name used when none is configured ("static").
inline constexpr std::string_view kDefaultCloudProvider = "static";

}  // namespace firerun::cloud
