#include "ci/gitlab/gitlab_broker.h"

#include "ci/gitlab/gitlab_api.h"

namespace firerun::ci::gitlab {
namespace {

// Stand-in for the token while building argv: the shell reads the real one from its file.
constexpr std::string_view kTokenMarker = "FIRERUN-TOKEN-FROM-FILE";

struct BrokerConfig {
  GitlabApiConfig api;
  RunnerType type = RunnerType::project;
  std::uint64_t group_id = 0;
  RunSingleOptions run;  // token unused: it arrives as a file
  std::string runner_command;  // overrides the run-single command when set
};

Result<RunnerType> runner_type_from(const std::string& text) {
  if (text == "project") return RunnerType::project;
  if (text == "group") return RunnerType::group;
  if (text == "instance") return RunnerType::instance;
  return make_error(Errc::invalid_argument, "ci.gitlab.runner_type: must be project, group or instance");
}

class GitlabBroker final : public RunnerBroker {
 public:
  GitlabBroker(BrokerConfig config, std::unique_ptr<GitlabApi> api, LabelPolicy policy)
      : config_(std::move(config)), api_(std::move(api)), policy_(std::move(policy)) {}

  std::string_view name() const noexcept override { return "gitlab"; }

  Result<JobCheck> prepare(JobRequest& request) override {
    // Job hooks carry no tags: the Jobs API has them (and the job's current status).
    FIRERUN_TRY(auto lookup, api_->lookup_job_labels(request, policy_));
    if (!lookup.wants_firerun) return JobCheck{false, lookup.reason};
    const std::string& status = lookup.job.status;
    if (status != "pending" && status != "created" && status != "waiting_for_resource" && status != "preparing")
      return JobCheck{false, "job " + std::to_string(request.job_id) + " is " + status + " now"};
    return JobCheck{};
  }

  Result<RunnerLease> register_runner(const JobRequest& request) override {
    CreateRunnerRequest create;
    create.type = config_.type;
    create.project_id = request.repository_id;
    create.group_id = config_.group_id;
    create.job_id = request.job_id;
    create.tags = request.labels;
    FIRERUN_TRY(auto runner, api_->create_runner(create));

    RunnerLease lease;
    lease.provider = "gitlab";
    lease.runner_id = runner.id;
    lease.runner_name = runner.description;
    lease.scope = "gitlab";
    const std::string file = std::string(kGuestCredentialsDir) + "/token";
    lease.files.push_back(GuestFile{file, std::move(runner.token), 0600});
    lease.env = {{"FIRERUN_RUNNER_CREDENTIALS", file}, {"FIRERUN_RUNNER_NAME", lease.runner_name},
                 {"CI_SERVER_URL", config_.api.instance_url}};
    if (!config_.runner_command.empty()) {
      lease.argv = {"/bin/sh", "-c", config_.runner_command};
      return lease;
    }
    RunSingleOptions run = config_.run;
    run.url = config_.api.instance_url;
    run.token = SecretString(std::string(kTokenMarker));
    FIRERUN_TRY(auto command, run_single_command(run));
    std::string script = "exec";
    for (std::size_t i = 0; i < command.argv.size(); ++i)
      script += " " + (i == command.token_index ? std::string(R"sh("$(cat "$FIRERUN_RUNNER_CREDENTIALS")")sh")
                                                : shell_quote(command.argv[i]));
    lease.argv = {"/bin/sh", "-c", script};
    return lease;
  }

  Status remove_runner(const std::string&, std::uint64_t runner_id) override { return api_->delete_runner(runner_id); }

  Result<std::vector<std::string>> remove_stale_runners(const std::string&, const std::set<std::string>&) override {
    // The documented API subset cannot list runners: the daemon removes the ones it recorded.
    return std::vector<std::string>{};
  }

 private:
  BrokerConfig config_;
  std::unique_ptr<GitlabApi> api_;
  LabelPolicy policy_;
};

class GitlabBrokerFactory final : public RunnerBrokerFactory {
 public:
  BackendInfo info() const override {
    return {"gitlab", "GitLab CI one-job runners (POST /user/runners + gitlab-runner run-single)", "stable", {}};
  }

  Result<std::unique_ptr<RunnerBroker>> create(const BrokerSettings& settings,
                                               const LabelPolicy& policy) const override {
    SettingsReader read("ci.gitlab.", settings);
    BrokerConfig config;
    config.api.instance_url = read.text("url");
    if (config.api.instance_url.empty()) return make_error(Errc::invalid_argument, "ci.gitlab.url: required");
    FIRERUN_CHECK(read_retry_settings(read, config.api.rest));
    FIRERUN_TRY(auto token, read.secret("token"));
    FIRERUN_TRY(config.api.registration_token, read.secret("registration_token"));
    if (!token) return make_error(Errc::invalid_argument, "ci.gitlab.token_file: required (or FIRERUN_CI_GITLAB_TOKEN)");
    config.api.token = std::move(*token);
    const std::string auth = read.text("auth", "private_token");
    if (auth == "private_token") config.api.auth = AuthScheme::private_token;
    else if (auth == "bearer") config.api.auth = AuthScheme::bearer;
    else return make_error(Errc::invalid_argument, "ci.gitlab.auth: must be private_token or bearer");
    FIRERUN_TRY(config.type, runner_type_from(read.text("runner_type", "project")));
    FIRERUN_TRY(config.group_id, read.number("group_id", 0));
    if (config.type == RunnerType::group && config.group_id == 0)
      return make_error(Errc::invalid_argument, "ci.gitlab.group_id: required with runner_type group");
    config.run.runner_binary = read.text("runner_binary", config.run.runner_binary);
    config.run.builds_dir = read.text("builds_dir", config.run.builds_dir);
    config.run.shell = read.text("shell", config.run.shell);
    FIRERUN_TRY(auto wait, read.number("wait_timeout_s", static_cast<std::uint64_t>(config.run.wait_timeout.count())));
    config.run.wait_timeout = std::chrono::seconds(wait);
    config.runner_command = read.text("runner_command");
    FIRERUN_CHECK(read.reject_unknown());
    FIRERUN_TRY(auto api, add_context(GitlabApi::create(config.api), "ci.gitlab"));
    config.api.instance_url = api->instance_url();
    return std::unique_ptr<RunnerBroker>(new GitlabBroker(std::move(config), std::move(api), policy));
  }
};

}  // namespace

std::shared_ptr<RunnerBrokerFactory> make_broker_factory() { return std::make_shared<GitlabBrokerFactory>(); }

}  // namespace firerun::ci::gitlab
