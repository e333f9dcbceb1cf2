#include "ci/gitlab/gitlab_provider.h"

#include "ci/headers.h"
#include "ci/json_fields.h"
#include "ci/webhook_auth.h"

#include <algorithm>
#include <array>
#include <limits>

namespace firerun::ci::gitlab {
namespace {

constexpr std::string_view kProviderName = "gitlab";

constexpr std::array<std::string_view, 7> kJobHookFields = {
    "object_kind", "build_id", "build_name", "build_stage", "build_status", "pipeline_id", "project_id",
};

struct StatusPhase {
  std::string_view status;
  JobPhase phase;
};
// Statuses from GitLab's "Job status values" (webhook-headers.md).
constexpr std::array<StatusPhase, 13> kStatusPhases = {{
    {"pending", JobPhase::queued},
    {"created", JobPhase::waiting},
    {"waiting_for_resource", JobPhase::waiting},
    {"manual", JobPhase::waiting},
    {"scheduled", JobPhase::waiting},
    {"waiting_for_callback", JobPhase::waiting},
    {"preparing", JobPhase::in_progress},
    {"running", JobPhase::in_progress},
    {"canceling", JobPhase::in_progress},
    {"success", JobPhase::completed},
    {"failed", JobPhase::completed},
    {"canceled", JobPhase::completed},
    {"skipped", JobPhase::completed},
}};

Status expect_object_kind(const JsonObject& root, std::string_view want) {
  FIRERUN_TRY(auto kind, root.string("object_kind"));
  if (kind != want)
    return make_error(Errc::invalid_argument,
                      "field 'object_kind' is " + quote_untrusted(kind) + ", expected '" + std::string(want) + "'");
  return {};
}

// project.path_with_namespace when GitLab sends the project object; older
// versions only have the top-level project_name.
Result<std::string> project_path(const JsonObject& root, std::string_view fallback_key) {
  FIRERUN_TRY(auto project, root.optional_object("project"));
  if (project) return project->string("path_with_namespace");
  return root.string(fallback_key);
}

Result<JsonObject> root_of(const boost::json::value& doc) { return JsonObject::root(doc); }

class GitLabProvider final : public CiProvider {
 public:
  explicit GitLabProvider(CiProviderConfig config)
      : token_(config.secret), labels_(std::move(config.labels)), max_body_bytes_(config.max_body_bytes) {}

  std::string_view name() const noexcept override { return kProviderName; }
  const LabelPolicy& label_policy() const noexcept override { return labels_; }

  Status verify(const Headers& headers, std::string_view body) const override {
    if (body.size() > max_body_bytes_)
      return make_error(Errc::limit_exceeded, "body of " + std::to_string(body.size()) + " bytes exceeds the " +
                                                  std::to_string(max_body_bytes_) + "-byte limit");
    FIRERUN_TRY(auto token, required_header(headers, "X-Gitlab-Token", Errc::auth,
                                            "set the webhook's secret token in GitLab"));
    if (!token_.matches(token)) return make_error(Errc::auth, "X-Gitlab-Token does not match the configured secret");
    return {};
  }

  Result<CiEvent> parse(const Headers& headers, std::string_view body) const override {
    if (body.size() > max_body_bytes_)
      return make_error(Errc::limit_exceeded, "body of " + std::to_string(body.size()) + " bytes exceeds the limit");
    FIRERUN_CHECK(require_json_content_type(headers));
    FIRERUN_TRY(auto event, required_header(headers, "X-Gitlab-Event", Errc::invalid_argument, "not a GitLab delivery?"));
    FIRERUN_TRY(auto delivery, delivery_id(headers));

    if (event == "Pipeline Hook") {
      FIRERUN_TRY(auto pipeline, parse_pipeline_hook(body));
      return ignored(delivery, event,
                     "pipeline " + std::to_string(pipeline.pipeline_id) + " of " + quote_untrusted(pipeline.project_path) +
                         " is " + quote_untrusted(pipeline.status) +
                         ": pipeline events are informational, firerun starts VMs from Job Hook events");
    }
    if (event != "Job Hook")
      return ignored(delivery, event,
                     "event " + quote_untrusted(event) + " is not used by firerun; enable only 'Job events' on the webhook");

    FIRERUN_TRY(auto job, parse_job_hook(body));
    auto phase = phase_of_status(job.build_status);
    if (!phase)
      return ignored(delivery, event, "job " + std::to_string(job.build_id) + " has status " +
                                          quote_untrusted(job.build_status) + ", which firerun does not know");
    if (delivery.empty()) delivery = "gitlab-job-" + std::to_string(job.build_id) + "-" + job.build_status;
    FIRERUN_TRY(auto instance, single_header(headers, "X-Gitlab-Instance"));
    if (instance && (instance->size() > 256 || !std::all_of(instance->begin(), instance->end(), [](char c) {
                       return c > 0x20 && c < 0x7f;
                     })))
      return make_error(Errc::invalid_argument, "X-Gitlab-Instance is not a printable URL of at most 256 characters");
    return CiEvent(to_job_request(std::move(job), *phase, std::move(delivery), instance ? std::string(*instance) : ""));
  }

 private:
  // Idempotency-Key survives redeliveries (GitLab 17.4+); X-Gitlab-Event-UUID
  // is per event on older versions; empty when neither is sent.
  static Result<std::string> delivery_id(const Headers& headers) {
    for (std::string_view name : {"Idempotency-Key", "X-Gitlab-Event-UUID"}) {
      FIRERUN_TRY(auto value, single_header(headers, name));
      if (value && !value->empty()) {
        FIRERUN_CHECK(check_delivery_id(*value, name));
        return std::string(*value);
      }
    }
    return std::string();
  }

  static JobRequest to_job_request(JobHook job, JobPhase phase, std::string delivery, std::string instance) {
    JobRequest r;
    r.provider = std::string(kProviderName);
    r.delivery_id = std::move(delivery);
    r.instance = std::move(instance);
    r.phase = phase;
    r.status = job.build_status;
    r.job_id = job.build_id;
    r.run_id = job.pipeline_id;
    r.run_attempt = job.retries_count + 1;
    r.job_name = std::move(job.build_name);
    r.stage = std::move(job.build_stage);
    r.owner = job.project_path.substr(0, job.project_path.find('/'));
    r.repository = std::move(job.project_path);
    r.repository_id = job.project_id;
    // Job hooks do not carry the job's tags (runner.tags are the runner's).
    r.labels_known = false;
    if (phase == JobPhase::completed) r.conclusion = job.build_status;
    if (job.runner)
      r.runner = RunnerRef{job.runner->id, std::move(job.runner->description), std::nullopt,
                           std::move(job.runner->runner_type)};
    return r;
  }

  static CiEvent ignored(std::string_view delivery, std::string_view event, std::string reason) {
    return Ignored{std::string(kProviderName), std::string(delivery), std::string(event), std::move(reason)};
  }

  TokenDigest token_;
  LabelPolicy labels_;
  std::size_t max_body_bytes_;
};

class GitLabFactory final : public CiProviderFactory {
 public:
  BackendInfo info() const override {
    return {std::string(kProviderName), "GitLab CI Job Hook webhooks (X-Gitlab-Token)", "experimental", {}};
  }
  Result<std::unique_ptr<CiProvider>> create(const CiProviderConfig& config) const override {
    if (config.secret.empty())
      return make_error(Errc::invalid_argument, "gitlab provider needs a webhook secret token (unauthenticated webhooks are refused)");
    FIRERUN_CHECK(add_context(validate_label_policy(config.labels), "gitlab provider"));
    return std::unique_ptr<CiProvider>(std::make_unique<GitLabProvider>(config));
  }
};

}  // namespace

Result<JobHook> parse_job_hook(std::string_view body) {
  FIRERUN_TRY(auto doc, parse_json_body(body));
  FIRERUN_TRY(auto root, root_of(doc));
  FIRERUN_CHECK(expect_object_kind(root, "build"));
  JobHook j;
  FIRERUN_TRY(j.build_id, root.uint("build_id"));
  FIRERUN_TRY(j.build_name, root.string("build_name"));
  FIRERUN_TRY(j.build_stage, root.string("build_stage"));
  FIRERUN_TRY(j.build_status, root.string("build_status"));
  FIRERUN_TRY(j.build_failure_reason, root.optional_string("build_failure_reason"));
  FIRERUN_TRY(auto retries, root.optional_uint("retries_count"));
  if (retries.value_or(0) >= std::numeric_limits<std::uint32_t>::max())
    return make_error(Errc::invalid_argument, "field 'retries_count' is out of range");
  j.retries_count = static_cast<std::uint32_t>(retries.value_or(0));
  FIRERUN_TRY(j.pipeline_id, root.uint("pipeline_id"));
  FIRERUN_TRY(j.project_id, root.uint("project_id"));
  FIRERUN_TRY(j.project_path, project_path(root, "project_name"));
  FIRERUN_TRY(auto ref, root.optional_string("ref"));
  j.ref = ref.value_or("");
  FIRERUN_TRY(auto sha, root.optional_string("sha"));
  j.sha = sha.value_or("");
  FIRERUN_TRY(auto runner, root.optional_object("runner"));
  if (runner) {
    HookRunner r;
    FIRERUN_TRY(r.id, runner->uint("id"));
    FIRERUN_TRY(auto description, runner->optional_string("description"));
    r.description = description.value_or("");
    FIRERUN_TRY(auto type, runner->optional_string("runner_type"));
    r.runner_type = type.value_or("");
    if (runner->has("tags")) {
      FIRERUN_TRY(r.tags, runner->string_array("tags"));
    }
    j.runner = std::move(r);
  }
  return j;
}

Result<PipelineHook> parse_pipeline_hook(std::string_view body) {
  FIRERUN_TRY(auto doc, parse_json_body(body));
  FIRERUN_TRY(auto root, root_of(doc));
  FIRERUN_CHECK(expect_object_kind(root, "pipeline"));
  PipelineHook p;
  FIRERUN_TRY(auto attributes, root.object("object_attributes"));
  FIRERUN_TRY(p.pipeline_id, attributes.uint("id"));
  FIRERUN_TRY(p.status, attributes.string("status"));
  FIRERUN_TRY(auto project, root.object("project"));
  FIRERUN_TRY(p.project_id, project.uint("id"));
  FIRERUN_TRY(p.project_path, project.string("path_with_namespace"));
  if (const auto* builds = doc.get_object().if_contains("builds")) {
    if (!builds->is_array())
      return make_error(Errc::invalid_argument, "field 'builds' must be an array");
    p.job_count = builds->get_array().size();
  }
  return p;
}

std::span<const std::string_view> required_job_hook_fields() { return kJobHookFields; }

std::optional<JobPhase> phase_of_status(std::string_view build_status) {
  for (const auto& s : kStatusPhases)
    if (s.status == build_status) return s.phase;
  return std::nullopt;
}

std::shared_ptr<CiProviderFactory> make_factory() { return std::make_shared<GitLabFactory>(); }

}  // namespace firerun::ci::gitlab
