// GitHub Actions webhooks: X-Hub-Signature-256 verification and the
// workflow_job / ping events, as typed values.
#pragma once

#include "firerun/ci.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::ci::github {

/// The fields of a `workflow_job` delivery firerun uses.
struct WorkflowJobEvent {
  std::string action;  ///< queued | waiting | in_progress | completed
  std::uint64_t job_id = 0;
  std::uint64_t run_id = 0;
  std::uint32_t run_attempt = 1;
  std::string name;
  std::string status;
  std::vector<std::string> labels;
  std::optional<std::string> conclusion;
  std::optional<std::uint64_t> runner_id;
  std::optional<std::string> runner_name;
  std::optional<std::uint64_t> runner_group_id;
  std::optional<std::string> runner_group_name;
  std::uint64_t repository_id = 0;
  std::string repository_full_name;
  std::string repository_owner;                 ///< repository.owner.login
  std::optional<std::string> organization;      ///< organization.login when present
  std::optional<std::uint64_t> installation_id; ///< present for GitHub App deliveries
};

/// The fields of a `ping` delivery.
struct PingEvent {
  std::uint64_t hook_id = 0;
  std::string zen;
  std::optional<std::uint64_t> app_id;  ///< hook.app_id for GitHub App webhooks
};

/// Parses a workflow_job body; missing/mistyped fields -> Errc::invalid_argument naming the field.
Result<WorkflowJobEvent> parse_workflow_job(std::string_view body);
/// Parses a ping body.
Result<PingEvent> parse_ping(std::string_view body);

/// Dotted paths of the fields parse_workflow_job() requires ("workflow_job.labels").
std::span<const std::string_view> required_workflow_job_fields();
/// Dotted paths of the fields parse_ping() requires.
std::span<const std::string_view> required_ping_fields();

/// Registry entry for the "github" provider.
std::shared_ptr<CiProviderFactory> make_factory();

}  // namespace firerun::ci::github
