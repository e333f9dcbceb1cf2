// CI front door: verify a webhook delivery, parse it, and turn a CI job into a
// provider-independent JobRequest (which VM shape to start for which job).
//
// The daemon does, for any provider picked by name from the registry:
//   auto provider = registry.find("github")->create(config);
//   auto event = provider->receive(headers, body);   // verify() then parse()
// and gets a JobRequest, a Ping or an Ignored (with the reason) back.
#pragma once

#include "firerun/error.h"
#include "firerun/registry.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace firerun::ci {

/// Orders HTTP header names case-insensitively (HTTP names are case-insensitive).
struct HeaderNameLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept;
};

/// Request headers of one webhook delivery. A multimap so that a repeated
/// security header is seen (and rejected) instead of silently collapsed.
using Headers = std::multimap<std::string, std::string, HeaderNameLess>;

/// The microVM a job asks for. Sizes are in GiB, as in the label grammar.
struct VmShape {
  std::uint32_t vcpus = 2;        ///< virtual CPUs
  std::uint32_t memory_gib = 4;   ///< guest RAM
  std::uint32_t disk_gib = 20;    ///< root disk
  std::string image = "ubuntu";   ///< image name (lowercase)
  std::string pool = "default";   ///< host pool name (lowercase)
  friend bool operator==(const VmShape&, const VmShape&) = default;
};

/// What the hosts can offer; requests above are rejected with Errc::limit_exceeded.
struct ShapeLimits {
  std::uint32_t max_vcpus = 16;        ///< per VM
  std::uint32_t max_memory_gib = 64;   ///< per VM
  std::uint32_t max_disk_gib = 200;    ///< per VM
  std::vector<std::string> images;     ///< allowed image names; empty = any
  std::vector<std::string> pools;      ///< allowed pool names; empty = any
};

/// How labels/tags become a VmShape: defaults for keys a job leaves out, plus limits.
struct LabelPolicy {
  VmShape defaults;    ///< used for every key the labels do not set
  ShapeLimits limits;  ///< checked after defaults are applied
};

/// Checks that a policy's defaults are well-formed and within its own limits.
Status validate_label_policy(const LabelPolicy& policy);

/// Reads the firerun labels among `labels` (e.g. "firerun/cpu=4/ram=8",
/// "firecracker-2cpu-4gb", "firerun"). nullopt: no label asks for firerun.
/// Malformed firerun labels -> Errc::invalid_argument; over the limits -> Errc::limit_exceeded.
Result<std::optional<VmShape>> shape_from_labels(std::span<const std::string> labels, const LabelPolicy& policy);

/// Where a job is in its life, mapped from the provider's own status names.
enum class JobPhase {
  queued,       ///< needs a runner now (GitHub "queued", GitLab "pending")
  waiting,      ///< exists but is not runnable yet (approval, manual, earlier stage)
  in_progress,  ///< a runner has it
  completed,    ///< finished; see JobRequest::conclusion
};

/// Stable lowercase name of a phase ("queued", ...).
const char* job_phase_name(JobPhase phase) noexcept;

/// The runner a provider reports for a job (set once a runner picked it up).
struct RunnerRef {
  std::optional<std::uint64_t> id;          ///< provider's runner id
  std::string name;                         ///< GitHub runner_name / GitLab runner description
  std::optional<std::uint64_t> group_id;    ///< GitHub runner group id
  std::string group;                        ///< GitHub runner group name / GitLab runner_type
};

/// A CI job event, independent of the provider.
struct JobRequest {
  std::string provider;      ///< registry name: "github", "gitlab"
  std::string delivery_id;   ///< de-duplication key of this delivery (stable across redeliveries where the provider allows)
  std::string instance;      ///< which server sent it: "github.com", GHES host or GitLab instance URL
  JobPhase phase = JobPhase::queued;
  std::string status;        ///< provider's raw status/action ("queued", "pending", ...)
  std::uint64_t job_id = 0;  ///< GitHub workflow_job.id / GitLab build_id
  std::uint64_t run_id = 0;  ///< GitHub workflow run id / GitLab pipeline id
  std::uint32_t run_attempt = 1;  ///< 1 for the first attempt
  std::string job_name;
  std::string stage;              ///< GitLab stage; empty for GitHub
  std::string repository;         ///< "owner/repo" / GitLab path_with_namespace
  std::uint64_t repository_id = 0;  ///< GitHub repository.id / GitLab project id
  std::string owner;              ///< GitHub org or user login / GitLab top-level namespace
  std::optional<std::uint64_t> installation_id;  ///< GitHub App installation (for API tokens)
  std::vector<std::string> labels;  ///< the job's labels/tags as sent
  /// False when the payload does not carry the job's labels (GitLab job hooks):
  /// fetch them (GitLab Jobs API `tag_list`) and call resolve_labels().
  bool labels_known = true;
  std::optional<VmShape> shape;            ///< set when labels_known
  std::optional<std::string> conclusion;   ///< set when phase == completed ("success", "failed", ...)
  std::optional<RunnerRef> runner;         ///< set once a runner is assigned
};

/// Fills labels/shape of a request whose labels were looked up separately.
/// Returns false (with `reason`) when the labels do not ask for firerun.
Result<bool> resolve_labels(JobRequest& request, std::vector<std::string> labels, const LabelPolicy& policy,
                            std::string* reason = nullptr);

/// A provider's "is this hook alive" delivery (GitHub ping).
struct Ping {
  std::string provider;
  std::string delivery_id;
  std::optional<std::uint64_t> hook_id;
  std::optional<std::uint64_t> app_id;  ///< set for GitHub App webhooks
  std::string zen;
};

/// A well-formed, authenticated delivery that firerun does not act on.
struct Ignored {
  std::string provider;
  std::string delivery_id;
  std::string event;   ///< provider's event name ("workflow_run", "Pipeline Hook", ...)
  std::string reason;  ///< why, in words an operator can act on
};

/// What one delivery means.
using CiEvent = std::variant<JobRequest, Ping, Ignored>;

/// Configuration shared by every provider.
struct CiProviderConfig {
  std::string secret;  ///< webhook secret (GitHub HMAC key / GitLab secret token); required, never logged
  LabelPolicy labels;
  std::size_t max_body_bytes = 25u << 20;  ///< GitHub caps payloads at 25 MB
};

/// One CI system's webhook dialect.
class CiProvider {
 public:
  virtual ~CiProvider() = default;
  /// Registry name ("github").
  virtual std::string_view name() const noexcept = 0;
  /// Authenticates a delivery over its raw body; failures are Errc::auth.
  virtual Status verify(const Headers& headers, std::string_view body) const = 0;
  /// Parses an (already verified) delivery.
  virtual Result<CiEvent> parse(const Headers& headers, std::string_view body) const = 0;
  /// The label policy this provider applies (for resolve_labels() after a tag lookup).
  virtual const LabelPolicy& label_policy() const noexcept = 0;
  /// verify() then parse(): what a webhook endpoint should call.
  Result<CiEvent> receive(const Headers& headers, std::string_view body) const;
};

/// Registry entry creating a CiProvider from configuration.
class CiProviderFactory {
 public:
  virtual ~CiProviderFactory() = default;
  /// Name, description and status for listings.
  virtual BackendInfo info() const = 0;
  /// Creates a provider; rejects an empty secret or an invalid label policy.
  virtual Result<std::unique_ptr<CiProvider>> create(const CiProviderConfig& config) const = 0;
};

using CiProviderRegistry = Registry<CiProviderFactory>;

/// Adds the built-in "github" and "gitlab" providers.
Status register_builtin_ci_providers(CiProviderRegistry& registry);

}  // namespace firerun::ci
