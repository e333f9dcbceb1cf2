#include "ci/gitlab/gitlab_api.h"

#include "ci/json_fields.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

namespace firerun::ci::gitlab {
namespace {

template <class T>
Result<T> as_protocol(Result<T>&& r, std::string_view what) {
  if (r) return std::move(r);
  return Error(Errc::protocol, std::string(what) + ": " + r.error().message());
}

std::string description_for(std::uint64_t job_id) { return "firerun-" + std::to_string(job_id); }

}  // namespace

std::string_view runner_type_name(RunnerType type) noexcept {
  switch (type) {
    case RunnerType::instance: return "instance_type";
    case RunnerType::group: return "group_type";
    case RunnerType::project: return "project_type";
  }
  return "project_type";
}

Result<CreatedRunner> parse_created_runner(std::string_view body) {
  auto parse = [&]() -> Result<CreatedRunner> {
    FIRERUN_TRY(auto doc, parse_json_body(body));
    FIRERUN_TRY(auto root, JsonObject::root(doc));
    CreatedRunner runner;
    FIRERUN_TRY(runner.id, root.uint("id"));
    FIRERUN_TRY(auto token, root.string("token"));
    if (token.empty()) return make_error(Errc::invalid_argument, "field 'token' is empty");
    runner.token = SecretString(std::move(token));
    FIRERUN_TRY(runner.token_expires_at, root.optional_string("token_expires_at"));
    return runner;
  };
  return as_protocol(parse(), "created runner response");
}

Result<Job> parse_job(std::string_view body) {
  auto parse = [&]() -> Result<Job> {
    FIRERUN_TRY(auto doc, parse_json_body(body));
    FIRERUN_TRY(auto root, JsonObject::root(doc));
    Job job;
    FIRERUN_TRY(job.id, root.uint("id"));
    FIRERUN_TRY(job.name, root.string("name"));
    FIRERUN_TRY(job.status, root.string("status"));
    FIRERUN_TRY(auto stage, root.optional_string("stage"));
    job.stage = stage.value_or("");
    FIRERUN_TRY(job.tag_list, root.string_array("tag_list"));
    FIRERUN_TRY(auto runner, root.optional_object("runner"));
    if (runner) {
      FIRERUN_TRY(job.runner_id, runner->optional_uint("id"));
    }
    FIRERUN_TRY(auto pipeline, root.optional_object("pipeline"));
    if (pipeline) {
      FIRERUN_TRY(job.pipeline_id, pipeline->optional_uint("id"));
    }
    FIRERUN_TRY(auto web_url, root.optional_string("web_url"));
    job.web_url = web_url.value_or("");
    return job;
  };
  return as_protocol(parse(), "job response");
}

Result<std::unique_ptr<GitlabApi>> GitlabApi::create(GitlabApiConfig config) {
  while (!config.instance_url.empty() && config.instance_url.back() == '/') config.instance_url.pop_back();
  if (!config.instance_url.starts_with("https://") && !config.instance_url.starts_with("http://"))
    return make_error(Errc::invalid_argument, "GitLab instance URL must be http(s)://...");
  if (config.token.empty() && !config.registration_token)
    return make_error(Errc::invalid_argument, "GitLab API needs an access token");
  config.rest.base_url = config.instance_url + "/api/v4";
  return std::unique_ptr<GitlabApi>(new GitlabApi(std::move(config)));
}

GitlabApi::GitlabApi(GitlabApiConfig config)
    : config_(std::move(config)), rest_("gitlab", ApiDialect::gitlab, config_.rest) {}

std::vector<http::Header> GitlabApi::auth_headers() const {
  const std::string token(config_.token.reveal());
  switch (config_.auth) {
    case AuthScheme::private_token: return {{"PRIVATE-TOKEN", token}};
    case AuthScheme::bearer: return {{"Authorization", "Bearer " + token}};
    case AuthScheme::job_token: return {{"JOB-TOKEN", token}};
  }
  return {};
}

Result<CreatedRunner> GitlabApi::create_runner(const CreateRunnerRequest& request) {
  boost::json::object body;
  const std::string description = description_for(request.job_id);
  body["description"] = description;
  body["run_untagged"] = false;
  if (request.maximum_timeout_s) body["maximum_timeout"] = *request.maximum_timeout_s;

  RestCall call;
  call.method = "POST";
  if (config_.registration_token) {
    // Legacy registration (deprecated; GitLab 17+ answers 410 unless re-enabled). Its
    // documented form sends tag_list as one comma-separated string.
    std::string tags;
    for (const auto& tag : request.tags) {
      if (tag.find(',') != std::string::npos)
        return make_error(Errc::invalid_argument, "tag '" + tag + "' contains a comma");
      tags += (tags.empty() ? "" : ",") + tag;
    }
    body["token"] = std::string(config_.registration_token->reveal());
    body["tag_list"] = tags;
    call.path = "/runners";
    call.operation = "register-runner";
  } else {
    body["runner_type"] = runner_type_name(request.type);
    if (request.type == RunnerType::project) {
      if (request.project_id == 0) return make_error(Errc::invalid_argument, "project runner needs a project id");
      body["project_id"] = request.project_id;
    } else if (request.type == RunnerType::group) {
      if (request.group_id == 0) return make_error(Errc::invalid_argument, "group runner needs a group id");
      body["group_id"] = request.group_id;
    }
    boost::json::array tags;
    for (const auto& tag : request.tags) tags.emplace_back(tag);
    body["tag_list"] = std::move(tags);
    call.path = "/user/runners";
    call.operation = "create-runner";
    call.headers = auth_headers();
  }
  call.json_body = boost::json::serialize(body);
  FIRERUN_TRY(auto response, rest_.call(call));
  FIRERUN_TRY(auto runner, add_context(parse_created_runner(response.body), "gitlab " + call.operation));
  runner.description = description;
  spdlog::info("gitlab: runner {} ({}) created for job {}", runner.id, description, request.job_id);
  return runner;
}

Status GitlabApi::delete_runner(std::uint64_t runner_id) {
  RestCall call;
  call.method = "DELETE";
  call.path = "/runners/" + std::to_string(runner_id);
  call.operation = "delete-runner";
  call.headers = auth_headers();
  auto response = rest_.call(call);
  if (!response && response.error().errc() == Errc::not_found) return {};
  if (!response) return std::move(response).error();
  return {};
}

Status GitlabApi::delete_runner_by_token(const SecretString& runner_token) {
  boost::json::object body;
  body["token"] = std::string(runner_token.reveal());
  RestCall call;
  call.method = "DELETE";
  call.path = "/runners";
  call.operation = "delete-runner-by-token";
  call.json_body = boost::json::serialize(body);
  auto response = rest_.call(call);
  if (!response && response.error().errc() == Errc::not_found) return {};
  if (!response) return std::move(response).error();
  return {};
}

Result<Job> GitlabApi::get_job(std::uint64_t project_id, std::uint64_t job_id) {
  RestCall call;
  call.method = "GET";
  call.path = "/projects/" + std::to_string(project_id) + "/jobs/" + std::to_string(job_id);
  call.operation = "get-job";
  call.headers = auth_headers();
  FIRERUN_TRY(auto response, rest_.call(call));
  FIRERUN_TRY(auto job, add_context(parse_job(response.body), "gitlab get-job"));
  if (job.id != job_id)
    return make_error(Errc::protocol, "asked for job " + std::to_string(job_id) + ", got " + std::to_string(job.id));
  return job;
}

Result<LabelLookup> GitlabApi::lookup_job_labels(JobRequest& request, const LabelPolicy& policy) {
  if (request.repository_id == 0 || request.job_id == 0)
    return make_error(Errc::invalid_argument, "job request has no project id or job id");
  FIRERUN_TRY(auto job, get_job(request.repository_id, request.job_id));
  LabelLookup lookup;
  FIRERUN_TRY(lookup.wants_firerun, add_context(resolve_labels(request, job.tag_list, policy, &lookup.reason),
                                                "job " + std::to_string(request.job_id)));
  lookup.job = std::move(job);
  return lookup;
}

std::string RunSingleCommand::redacted_command() const {
  std::string out;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (i) out += ' ';
    out += i == token_index ? std::string("<redacted>") : argv[i];
  }
  return out;
}

Result<RunSingleCommand> run_single_command(const RunSingleOptions& options) {
  if (options.url.empty()) return make_error(Errc::invalid_argument, "run-single needs the GitLab URL");
  if (options.token.empty()) return make_error(Errc::invalid_argument, "run-single needs the runner token");
  if (options.builds_dir.empty() || options.builds_dir.front() != '/')
    return make_error(Errc::invalid_argument, "run-single builds dir must be an absolute path");
  if (options.wait_timeout.count() <= 0)
    return make_error(Errc::invalid_argument, "run-single wait timeout must be positive (0 waits forever)");
  RunSingleCommand command;
  command.argv = {options.runner_binary, "run-single", "--url", options.url, "--token"};
  command.token_index = command.argv.size();
  command.argv.emplace_back(options.token.reveal());
  for (std::string arg : {std::string("--executor"), std::string("shell"), std::string("--shell"), options.shell,
                          std::string("--builds-dir"), options.builds_dir, std::string("--max-builds"),
                          std::string("1"), std::string("--wait-timeout"),
                          std::to_string(options.wait_timeout.count())})
    command.argv.push_back(std::move(arg));
  return command;
}

}  // namespace firerun::ci::gitlab
