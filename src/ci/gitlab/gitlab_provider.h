// GitLab CI webhooks: X-Gitlab-Token verification and Job Hook / Pipeline
// Hook events, as typed values.
#pragma once

#include "firerun/ci.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::ci::gitlab {

/// The runner GitLab reports on a job (null until one picks it up).
struct HookRunner {
  std::uint64_t id = 0;
  std::string description;
  std::string runner_type;  ///< instance_type | group_type | project_type
  bool is_shared = false;
  std::vector<std::string> tags;  ///< the runner's tags, not the job's
};

/// The fields of a Job Hook (`object_kind: build`) firerun uses.
struct JobHook {
  std::uint64_t build_id = 0;
  std::string build_name;
  std::string build_stage;
  std::string build_status;  ///< created, pending, running, success, failed, ...
  std::optional<std::string> build_failure_reason;
  std::uint32_t retries_count = 0;  ///< 0 = first attempt
  std::uint64_t pipeline_id = 0;
  std::uint64_t project_id = 0;
  std::string project_path;  ///< project.path_with_namespace (project_name on old GitLab)
  std::string ref;
  std::string sha;
  std::optional<HookRunner> runner;
};

/// The fields of a Pipeline Hook (`object_kind: pipeline`) firerun looks at.
struct PipelineHook {
  std::uint64_t pipeline_id = 0;
  std::string status;
  std::uint64_t project_id = 0;
  std::string project_path;
  std::size_t job_count = 0;
};

/// Parses a Job Hook body; missing/mistyped fields -> Errc::invalid_argument naming the field.
Result<JobHook> parse_job_hook(std::string_view body);
/// Parses a Pipeline Hook body.
Result<PipelineHook> parse_pipeline_hook(std::string_view body);

/// Dotted paths of the fields parse_job_hook() requires.
std::span<const std::string_view> required_job_hook_fields();

/// Maps a GitLab job status to a phase; nullopt for statuses firerun does not know.
std::optional<JobPhase> phase_of_status(std::string_view build_status);

/// Registry entry for the "gitlab" provider.
std::shared_ptr<CiProviderFactory> make_factory();

}  // namespace firerun::ci::gitlab
