#include "ci/github/github_broker.h"

#include "ci/github/github_api.h"

#include <charconv>
#include <map>
#include <mutex>

namespace firerun::ci::github {
namespace {

// The JIT config never goes on a command line (world-readable /proc/*/cmdline
// in the guest): the shell reads it into the variable the runner takes every
// option from (ACTIONS_RUNNER_INPUT_<OPTION>), and only the file's path is in argv.
constexpr std::string_view kDefaultCommand =
    R"sh(ACTIONS_RUNNER_INPUT_JITCONFIG="$(cat "$FIRERUN_RUNNER_CREDENTIALS")" RUNNER_ALLOW_RUNASROOT=1 exec "$FIRERUN_RUNNER_DIR/run.sh")sh";

struct BrokerConfig {
  GithubApiConfig api;            // app.installation_id is filled per request
  std::uint64_t installation_id = 0;  // fixed installation (0 = from the webhook)
  std::uint64_t runner_group_id = 1;
  bool org_scope = false;
  std::string runner_dir;
  std::string runner_command;
};

// Scopes are opaque to callers: "[installation/<id>/]repos/<owner>/<repo>" or "[installation/<id>/]orgs/<org>".
std::string encode_scope(std::uint64_t installation, const RunnerScope& scope) {
  std::string out = installation ? "installation/" + std::to_string(installation) + "/" : "";
  return out + (scope.is_org() ? "orgs/" + scope.owner : "repos/" + scope.owner + "/" + scope.repo);
}

Result<std::pair<std::uint64_t, RunnerScope>> decode_scope(std::string_view text) {
  auto bad = [&] { return make_error(Errc::invalid_argument, "not a github runner scope: '" + std::string(text) + "'"); };
  std::uint64_t installation = 0;
  if (text.starts_with("installation/")) {
    text.remove_prefix(13);
    auto slash = text.find('/');
    auto [end, ec] = std::from_chars(text.data(), text.data() + std::min(slash, text.size()), installation);
    if (ec != std::errc() || slash == std::string_view::npos || end != text.data() + slash) return bad();
    text.remove_prefix(slash + 1);
  }
  RunnerScope scope;
  if (text.starts_with("orgs/") && text.size() > 5 && text.find('/', 5) == std::string_view::npos) {
    scope.owner = std::string(text.substr(5));
  } else if (text.starts_with("repos/")) {
    auto rest = text.substr(6);
    auto slash = rest.find('/');
    if (slash == 0 || slash == std::string_view::npos || slash + 1 == rest.size() ||
        rest.find('/', slash + 1) != std::string_view::npos)
      return bad();
    scope.owner = std::string(rest.substr(0, slash));
    scope.repo = std::string(rest.substr(slash + 1));
  } else {
    return bad();
  }
  return std::make_pair(installation, scope);
}

class GithubBroker final : public RunnerBroker {
 public:
  explicit GithubBroker(BrokerConfig config) : config_(std::move(config)) {}

  std::string_view name() const noexcept override { return "github"; }

  Result<JobCheck> prepare(JobRequest& request) override {
    // workflow_job deliveries carry the labels: the webhook already resolved the shape.
    if (!request.shape) return JobCheck{false, "the job's labels do not ask for firerun"};
    return JobCheck{};
  }

  Result<RunnerLease> register_runner(const JobRequest& request) override {
    auto slash = request.repository.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == request.repository.size())
      return make_error(Errc::invalid_argument, "job has no owner/repo: '" + request.repository + "'");
    JitConfigRequest jit;
    jit.scope.owner = request.repository.substr(0, slash);
    if (!config_.org_scope) jit.scope.repo = request.repository.substr(slash + 1);
    jit.job_id = request.job_id;
    jit.runner_group_id = config_.runner_group_id;
    jit.labels = request.labels;
    if (jit.labels.empty()) jit.labels.push_back("firerun");
    const std::uint64_t installation = installation_for(request);
    FIRERUN_TRY(GithubApi * api, client(installation));
    FIRERUN_TRY(auto config, api->generate_jitconfig(jit));

    RunnerLease lease;
    lease.provider = "github";
    lease.runner_id = config.runner_id;
    lease.runner_name = config.runner_name;
    lease.scope = encode_scope(installation, jit.scope);
    const std::string file = std::string(kGuestCredentialsDir) + "/jitconfig";
    lease.files.push_back(GuestFile{file, std::move(config.encoded_jit_config), 0600});
    lease.argv = {"/bin/sh", "-c", config_.runner_command};
    lease.env = {{"FIRERUN_RUNNER_CREDENTIALS", file},
                 {"FIRERUN_RUNNER_DIR", config_.runner_dir},
                 {"FIRERUN_RUNNER_NAME", lease.runner_name},
                 // The VM is the isolation boundary; the runner refuses root without this.
                 {"RUNNER_ALLOW_RUNASROOT", "1"}};
    return lease;
  }

  Status remove_runner(const std::string& scope, std::uint64_t runner_id) override {
    FIRERUN_TRY(auto decoded, decode_scope(scope));
    FIRERUN_TRY(GithubApi * api, client(decoded.first));
    return api->delete_runner(decoded.second, runner_id);
  }

  Result<std::vector<std::string>> remove_stale_runners(const std::string& scope,
                                                        const std::set<std::string>& live) override {
    FIRERUN_TRY(auto decoded, decode_scope(scope));
    FIRERUN_TRY(GithubApi * api, client(decoded.first));
    FIRERUN_TRY(auto report, api->delete_stale_runners(decoded.second, live));
    if (!report.failed.empty())
      return make_error(Errc::io, "could not delete stale runner " + report.failed.front().first + ": " +
                                      report.failed.front().second);
    return report.deleted;
  }

 private:
  std::uint64_t installation_for(const JobRequest& request) const {
    if (!config_.api.app) return 0;
    if (config_.installation_id) return config_.installation_id;
    return request.installation_id.value_or(0);
  }

  // One client per installation: each has its own cached installation token.
  Result<GithubApi*> client(std::uint64_t installation) {
    std::lock_guard lock(mutex_);
    auto& slot = clients_[installation];
    if (!slot) {
      GithubApiConfig api = config_.api;
      if (api.app) {
        if (installation == 0)
          return make_error(Errc::invalid_argument,
                            "GitHub App: the delivery names no installation and ci.github.installation_id is unset");
        api.app->installation_id = installation;
      }
      FIRERUN_TRY(slot, GithubApi::create(std::move(api)));
    }
    return slot.get();
  }

  BrokerConfig config_;
  std::mutex mutex_;
  std::map<std::uint64_t, std::unique_ptr<GithubApi>> clients_;
};

class GithubBrokerFactory final : public RunnerBrokerFactory {
 public:
  BackendInfo info() const override {
    return {"github", "GitHub Actions just-in-time runners (generate-jitconfig)", "stable", {}};
  }

  Result<std::unique_ptr<RunnerBroker>> create(const BrokerSettings& settings, const LabelPolicy&) const override {
    SettingsReader read("ci.github.", settings);
    BrokerConfig config;
    config.api.rest.base_url = read.text("api_url", "https://api.github.com");
    FIRERUN_CHECK(read_retry_settings(read, config.api.rest));
    FIRERUN_TRY(auto token, read.secret("token"));
    const std::string app_id = read.text("app_id");
    FIRERUN_TRY(auto key_pem, read.secret("private_key"));
    FIRERUN_TRY(config.installation_id, read.number("installation_id", 0));
    if (!app_id.empty()) {
      if (!key_pem) return make_error(Errc::invalid_argument, "ci.github.private_key_file: required with app_id");
      FIRERUN_TRY(auto key, add_context(AppPrivateKey::from_pem(*key_pem), "ci.github.private_key"));
      config.api.app = AppCredentials{app_id, std::move(key), 0};
    } else if (key_pem) {
      return make_error(Errc::invalid_argument, "ci.github.app_id: required with a private key");
    } else if (!token) {
      return make_error(Errc::invalid_argument, "ci.github: set token_file (or FIRERUN_CI_GITHUB_TOKEN) or app_id + private_key_file");
    }
    config.api.token = std::move(token);
    FIRERUN_TRY(config.runner_group_id, read.number("runner_group_id", 1));
    const std::string scope = read.text("runner_scope", "repo");
    if (scope != "repo" && scope != "org")
      return make_error(Errc::invalid_argument, "ci.github.runner_scope: must be repo or org");
    config.org_scope = scope == "org";
    config.runner_dir = read.text("runner_dir", "/opt/actions-runner");
    config.runner_command = read.text("runner_command", std::string(kDefaultCommand));
    FIRERUN_CHECK(read.reject_unknown());
    // Fail at startup, not on the first job, when the URL is unusable.
    GithubApiConfig probe = config.api;
    if (probe.app) probe.app->installation_id = 1;
    FIRERUN_CHECK(add_context(GithubApi::create(std::move(probe)), "ci.github"));
    return std::unique_ptr<RunnerBroker>(new GithubBroker(std::move(config)));
  }
};

}  // namespace

std::shared_ptr<RunnerBrokerFactory> make_broker_factory() { return std::make_shared<GithubBrokerFactory>(); }

}  // namespace firerun::ci::github
