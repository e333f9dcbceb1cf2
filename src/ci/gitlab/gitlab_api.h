// GitLab REST (v4) client for one-job runners.
//
// Per job: create a runner (POST /user/runners, or the legacy POST /runners
// with a registration token) tagged with the job's tags, start a VM that runs
// `gitlab-runner run-single` with its glrt- token for exactly one build, and
// delete the runner afterwards (DELETE /runners/:id or DELETE /runners with
// the token). GitLab job hooks lack the job's tags, so the job is looked up
// (GET /projects/:id/jobs/:job_id) and its tag_list fed to resolve_labels().
//
// Requests authenticate with PRIVATE-TOKEN (default), Authorization: Bearer
// or JOB-TOKEN. Tokens are SecretString: never logged, never in errors.
#pragma once

#include "ci/rest_client.h"
#include "core/secret.h"
#include "firerun/ci.h"
#include "firerun/error.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::ci::gitlab {

/// How the API token is presented.
enum class AuthScheme {
  private_token,  ///< PRIVATE-TOKEN: <personal/group/project access token>
  bearer,         ///< Authorization: Bearer <OAuth or access token>
  job_token,      ///< JOB-TOKEN: <CI_JOB_TOKEN> (job lookups only)
};

struct GitlabApiConfig {
  std::string instance_url;  ///< "https://gitlab.example.com" (the API is <instance_url>/api/v4)
  RestClientOptions rest;    ///< base_url is derived from instance_url
  SecretString token;        ///< API token; scope create_runner + manage_runner (+ read_api for job lookups)
  AuthScheme auth = AuthScheme::private_token;
  /// Legacy registration token: when set, create_runner() uses POST /runners with it.
  std::optional<SecretString> registration_token;
};

enum class RunnerType { instance, group, project };

/// "instance_type", "group_type", "project_type".
std::string_view runner_type_name(RunnerType type) noexcept;

struct CreateRunnerRequest {
  RunnerType type = RunnerType::project;
  std::uint64_t project_id = 0;  ///< for RunnerType::project
  std::uint64_t group_id = 0;    ///< for RunnerType::group
  std::uint64_t job_id = 0;      ///< description "firerun-<job id>"
  std::vector<std::string> tags;
  std::optional<std::uint32_t> maximum_timeout_s;
};

struct CreatedRunner {
  std::uint64_t id = 0;
  SecretString token;  ///< authentication token (glrt-... for POST /user/runners); shown once by GitLab
  std::optional<std::string> token_expires_at;
  std::string description;
};

struct Job {
  std::uint64_t id = 0;
  std::string name;
  std::string stage;
  std::string status;  ///< created, pending, running, success, failed, canceled, ...
  std::vector<std::string> tag_list;
  std::optional<std::uint64_t> runner_id;
  std::optional<std::uint64_t> pipeline_id;
  std::string web_url;
};

/// Response parsers (exposed for tests and fuzzing); failures are Errc::protocol naming the field.
Result<CreatedRunner> parse_created_runner(std::string_view body);
Result<Job> parse_job(std::string_view body);

/// What a job lookup found out about a webhook's job.
struct LabelLookup {
  bool wants_firerun = false;  ///< labels/shape of the request are filled
  std::string reason;          ///< why not, when !wants_firerun
  Job job;                     ///< the job as the API reports it now (status may have moved on)
};

class GitlabApi {
 public:
  static Result<std::unique_ptr<GitlabApi>> create(GitlabApiConfig config);

  /// POST /user/runners (or legacy POST /runners): run_untagged=false, description firerun-<job id>.
  Result<CreatedRunner> create_runner(const CreateRunnerRequest& request);
  /// DELETE /runners/:id. Already gone (404) counts as deleted.
  Status delete_runner(std::uint64_t runner_id);
  /// DELETE /runners with the runner's authentication token. 404 counts as deleted; an unknown token is 403 (auth).
  Status delete_runner_by_token(const SecretString& runner_token);
  /// GET /projects/:id/jobs/:job_id.
  Result<Job> get_job(std::uint64_t project_id, std::uint64_t job_id);
  /// Looks the request's job up (repository_id = project id, job_id) and resolves its tags
  /// into labels/shape with resolve_labels().
  Result<LabelLookup> lookup_job_labels(JobRequest& request, const LabelPolicy& policy);

  const std::string& instance_url() const noexcept { return config_.instance_url; }

 private:
  explicit GitlabApi(GitlabApiConfig config);
  std::vector<http::Header> auth_headers() const;

  GitlabApiConfig config_;
  RestClient rest_;
};

/// How the VM starts its one-job runner.
struct RunSingleOptions {
  std::string runner_binary = "gitlab-runner";
  std::string url;           ///< GitLab instance URL
  SecretString token;        ///< the runner's authentication token
  std::string shell = "bash";
  std::string builds_dir = "/builds";
  std::chrono::seconds wait_timeout{300};  ///< exit when no job arrives within this
};

/// argv for `gitlab-runner run-single` with the shell executor and one build. The token is in
/// argv: hand it to the VM's exec call directly and log redacted_command() instead.
struct RunSingleCommand {
  std::vector<std::string> argv;
  std::size_t token_index = 0;  ///< argv[token_index] is the token
  /// argv joined with spaces, the token replaced by <redacted>.
  std::string redacted_command() const;
};
Result<RunSingleCommand> run_single_command(const RunSingleOptions& options);

}  // namespace firerun::ci::gitlab
