#include "ci/github/github_provider.h"

#include "ci/headers.h"
#include "ci/json_fields.h"
#include "ci/webhook_auth.h"

#include <array>
#include <limits>

namespace firerun::ci::github {
namespace {

constexpr std::string_view kProviderName = "github";

constexpr std::array<std::string_view, 11> kWorkflowJobFields = {
    "action",
    "workflow_job.id",
    "workflow_job.run_id",
    "workflow_job.run_attempt",
    "workflow_job.name",
    "workflow_job.status",
    "workflow_job.labels",
    "repository.id",
    "repository.full_name",
    "repository.owner",
    "repository.owner.login",
};
constexpr std::array<std::string_view, 2> kPingFields = {"zen", "hook_id"};

Result<JsonObject> root_of(const boost::json::value& doc) { return JsonObject::root(doc); }

struct Phase {
  std::string_view action;
  JobPhase phase;
};
constexpr std::array<Phase, 4> kPhases = {{
    {"queued", JobPhase::queued},
    {"waiting", JobPhase::waiting},
    {"in_progress", JobPhase::in_progress},
    {"completed", JobPhase::completed},
}};

const Phase* find_phase(std::string_view action) {
  for (const auto& p : kPhases)
    if (p.action == action) return &p;
  return nullptr;
}

Result<WorkflowJobEvent> read_workflow_job(const JsonObject& root) {
  WorkflowJobEvent e;
  FIRERUN_TRY(e.action, root.string("action"));
  FIRERUN_TRY(auto job, root.object("workflow_job"));
  FIRERUN_TRY(e.job_id, job.uint("id"));
  FIRERUN_TRY(e.run_id, job.uint("run_id"));
  FIRERUN_TRY(auto attempt, job.uint("run_attempt"));
  if (attempt == 0 || attempt > std::numeric_limits<std::uint32_t>::max())
    return make_error(Errc::invalid_argument, "field 'workflow_job.run_attempt' is out of range");
  e.run_attempt = static_cast<std::uint32_t>(attempt);
  FIRERUN_TRY(e.name, job.string("name"));
  FIRERUN_TRY(e.status, job.string("status"));
  FIRERUN_TRY(e.labels, job.string_array("labels"));
  FIRERUN_TRY(e.conclusion, job.optional_string("conclusion"));
  FIRERUN_TRY(e.runner_id, job.optional_uint("runner_id"));
  FIRERUN_TRY(e.runner_name, job.optional_string("runner_name"));
  FIRERUN_TRY(e.runner_group_id, job.optional_uint("runner_group_id"));
  FIRERUN_TRY(e.runner_group_name, job.optional_string("runner_group_name"));

  FIRERUN_TRY(auto repo, root.object("repository"));
  FIRERUN_TRY(e.repository_id, repo.uint("id"));
  FIRERUN_TRY(e.repository_full_name, repo.string("full_name"));
  FIRERUN_TRY(auto owner, repo.object("owner"));
  FIRERUN_TRY(e.repository_owner, owner.string("login"));
  FIRERUN_TRY(auto org, root.optional_object("organization"));
  if (org) {
    FIRERUN_TRY(e.organization, org->string("login"));
  }
  FIRERUN_TRY(auto installation, root.optional_object("installation"));
  if (installation) {
    FIRERUN_TRY(e.installation_id, installation->uint("id"));
  }
  return e;
}

JobRequest to_job_request(WorkflowJobEvent e, JobPhase phase) {
  JobRequest r;
  r.provider = std::string(kProviderName);
  r.phase = phase;
  r.status = e.action;
  r.job_id = e.job_id;
  r.run_id = e.run_id;
  r.run_attempt = e.run_attempt;
  r.job_name = std::move(e.name);
  r.repository = std::move(e.repository_full_name);
  r.repository_id = e.repository_id;
  r.owner = e.organization ? std::move(*e.organization) : std::move(e.repository_owner);
  r.installation_id = e.installation_id;
  if (phase == JobPhase::completed) r.conclusion = std::move(e.conclusion);
  if (e.runner_id || e.runner_name) {
    r.runner = RunnerRef{e.runner_id, e.runner_name.value_or(""), e.runner_group_id, e.runner_group_name.value_or("")};
  }
  return r;
}

class GitHubProvider final : public CiProvider {
 public:
  explicit GitHubProvider(CiProviderConfig config) : config_(std::move(config)) {}

  std::string_view name() const noexcept override { return kProviderName; }
  const LabelPolicy& label_policy() const noexcept override { return config_.labels; }

  Status verify(const Headers& headers, std::string_view body) const override {
    if (body.size() > config_.max_body_bytes)
      return make_error(Errc::limit_exceeded, "body of " + std::to_string(body.size()) + " bytes exceeds the " +
                                                  std::to_string(config_.max_body_bytes) + "-byte limit");
    FIRERUN_TRY(auto signature, required_header(headers, "X-Hub-Signature-256", Errc::auth,
                                                "set a secret on the webhook / GitHub App"));
    return verify_hub_signature_256(signature, config_.secret, body);
  }

  Result<CiEvent> parse(const Headers& headers, std::string_view body) const override {
    if (body.size() > config_.max_body_bytes)
      return make_error(Errc::limit_exceeded, "body of " + std::to_string(body.size()) + " bytes exceeds the limit");
    FIRERUN_CHECK(require_json_content_type(headers));
    FIRERUN_TRY(auto event, required_header(headers, "X-GitHub-Event", Errc::invalid_argument, "not a GitHub delivery?"));
    FIRERUN_TRY(auto delivery, required_header(headers, "X-GitHub-Delivery", Errc::invalid_argument,
                                               "GitHub sends a GUID per delivery"));
    FIRERUN_CHECK(check_delivery_id(delivery, "X-GitHub-Delivery"));
    FIRERUN_TRY(auto enterprise_host, single_header(headers, "X-GitHub-Enterprise-Host"));

    if (event == "ping") {
      FIRERUN_TRY(auto ping, parse_ping(body));
      return CiEvent(Ping{std::string(kProviderName), std::string(delivery), ping.hook_id, ping.app_id,
                          std::move(ping.zen)});
    }
    if (event != "workflow_job")
      return ignored(delivery, event,
                     "event " + quote_untrusted(event) + " is not used by firerun; subscribe the webhook to "
                     "'Workflow jobs' only");

    FIRERUN_TRY(auto doc, parse_json_body(body));
    FIRERUN_TRY(auto root, root_of(doc));
    FIRERUN_TRY(auto action, root.string("action"));
    const Phase* phase = find_phase(action);
    if (!phase)
      return ignored(delivery, event, "workflow_job action " + quote_untrusted(action) + " is not one firerun knows");
    FIRERUN_TRY(auto job, read_workflow_job(root));
    auto labels = job.labels;
    auto request = to_job_request(std::move(job), phase->phase);
    request.delivery_id = std::string(delivery);
    request.instance = enterprise_host ? std::string(*enterprise_host) : "github.com";
    std::string reason;
    FIRERUN_TRY(bool ours, resolve_labels(request, std::move(labels), config_.labels, &reason));
    if (!ours) return ignored(delivery, event, reason);
    return CiEvent(std::move(request));
  }

 private:
  static CiEvent ignored(std::string_view delivery, std::string_view event, std::string reason) {
    return Ignored{std::string(kProviderName), std::string(delivery), std::string(event), std::move(reason)};
  }

  CiProviderConfig config_;
};

class GitHubFactory final : public CiProviderFactory {
 public:
  BackendInfo info() const override {
    return {std::string(kProviderName), "GitHub Actions workflow_job webhooks (X-Hub-Signature-256)", "experimental",
            {}};
  }
  Result<std::unique_ptr<CiProvider>> create(const CiProviderConfig& config) const override {
    if (config.secret.empty())
      return make_error(Errc::invalid_argument, "github provider needs a webhook secret (unsigned webhooks are refused)");
    FIRERUN_CHECK(add_context(validate_label_policy(config.labels), "github provider"));
    return std::unique_ptr<CiProvider>(std::make_unique<GitHubProvider>(config));
  }
};

}  // namespace

Result<WorkflowJobEvent> parse_workflow_job(std::string_view body) {
  FIRERUN_TRY(auto doc, parse_json_body(body));
  FIRERUN_TRY(auto root, root_of(doc));
  return read_workflow_job(root);
}

Result<PingEvent> parse_ping(std::string_view body) {
  FIRERUN_TRY(auto doc, parse_json_body(body));
  FIRERUN_TRY(auto root, root_of(doc));
  PingEvent e;
  FIRERUN_TRY(e.zen, root.string("zen"));
  FIRERUN_TRY(e.hook_id, root.uint("hook_id"));
  FIRERUN_TRY(auto hook, root.optional_object("hook"));
  if (hook) {
    FIRERUN_TRY(e.app_id, hook->optional_uint("app_id"));
  }
  return e;
}

std::span<const std::string_view> required_workflow_job_fields() { return kWorkflowJobFields; }
std::span<const std::string_view> required_ping_fields() { return kPingFields; }

std::shared_ptr<CiProviderFactory> make_factory() { return std::make_shared<GitHubFactory>(); }

}  // namespace firerun::ci::github
