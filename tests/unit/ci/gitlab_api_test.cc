// GitLab runner create/delete, job lookup -> labels, the run-single argv, and
// the contract server's enforcement of every endpoint in gitlab/api/ENDPOINTS.md.
#include "ci/gitlab/gitlab_api.h"
#include "ci_test_util.h"
#include "contract_server.h"

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

namespace firerun::ci::gitlab {
namespace {

using namespace firerun::ci::testing;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kApiToken = "glpat-apitokenfortests-0123456789";
constexpr const char* kRegistrationToken = "GR1348941registrationtokenfortests";

TEST(GitlabRunSingle, ArgvRunsOneBuildWithTheShellExecutor) {
  RunSingleOptions options;
  options.url = "https://gitlab.example.com";
  options.token = SecretString("glrt-abc123secret");
  auto command = run_single_command(options);
  ASSERT_TRUE(command) << command.error().what();
  EXPECT_THAT(command->argv,
              ::testing::ElementsAre("gitlab-runner", "run-single", "--url", "https://gitlab.example.com", "--token",
                                     "glrt-abc123secret", "--executor", "shell", "--shell", "bash", "--builds-dir",
                                     "/builds", "--max-builds", "1", "--wait-timeout", "300"));
  EXPECT_EQ(command->argv[command->token_index], "glrt-abc123secret");
  EXPECT_EQ(command->redacted_command(),
            "gitlab-runner run-single --url https://gitlab.example.com --token <redacted> --executor shell --shell bash "
            "--builds-dir /builds --max-builds 1 --wait-timeout 300");

  auto no_token = options;
  no_token.token = SecretString();
  EXPECT_EQ(run_single_command(no_token).error().errc(), Errc::invalid_argument);
  auto relative = options;
  relative.builds_dir = "builds";
  EXPECT_EQ(run_single_command(relative).error().errc(), Errc::invalid_argument);
  auto forever = options;
  forever.wait_timeout = std::chrono::seconds(0);
  EXPECT_EQ(run_single_command(forever).error().errc(), Errc::invalid_argument);
}

TEST(GitlabParsers, DocumentedResponsesParse) {
  FIRERUN_REQUIRE_CONFORMANCE("gitlab/api");
  const auto dir = firerun::testing::conformance_dir() / "gitlab/api";
  auto job = parse_job(read_file(dir / "get-job.response.json"));
  ASSERT_TRUE(job) << job.error().what();
  EXPECT_EQ(job->id, 8u);
  EXPECT_EQ(job->status, "failed");
  EXPECT_THAT(job->tag_list, ::testing::ElementsAre("docker runner", "macos-10.15"));
  EXPECT_EQ(job->pipeline_id, 6u);
  EXPECT_EQ(job->runner_id, std::nullopt);
  for (const char* name : {"create-user-runner.response.json", "register-runner-legacy.response.json",
                           "verify-runner.response.json"}) {
    auto runner = parse_created_runner(read_file(dir / name));
    ASSERT_TRUE(runner) << name << ": " << runner.error().what();
    EXPECT_GT(runner->id, 0u);
  }
  auto broken = parse_job(R"({"id": 1, "name": "x", "status": "pending", "tag_list": [1]})");
  EXPECT_EQ(broken.error().errc(), Errc::protocol);
  EXPECT_THAT(broken.error().what(), HasSubstr("tag_list[0]"));
}

class GitlabApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FIRERUN_REQUIRE_CONFORMANCE("gitlab/api/ENDPOINTS.md");
    server_ = std::make_unique<ContractServer>(std::vector<std::string>{
        "gitlab", firerun::testing::conformance_dir().string(), kApiToken, kRegistrationToken});
    ASSERT_TRUE(server_->running());
  }
  GitlabApiConfig config(AuthScheme auth = AuthScheme::private_token, std::string token = kApiToken) const {
    GitlabApiConfig c;
    c.instance_url = server_->endpoint() + "/";
    c.token = SecretString(std::move(token));
    c.auth = auth;
    c.rest.retry.initial_backoff = std::chrono::milliseconds(10);
    c.rest.retry.max_backoff = std::chrono::milliseconds(50);
    return c;
  }
  std::unique_ptr<GitlabApi> client(GitlabApiConfig c) const { return GitlabApi::create(std::move(c)).value(); }
  std::size_t runner_count() const { return server_->state().at("runners").as_array().size(); }

  std::unique_ptr<ContractServer> server_;
};

TEST_F(GitlabApiTest, CreateProjectRunnerSendsTheDocumentedFieldsAndDeleteRemovesIt) {
  auto api = client(config());
  CreateRunnerRequest request;
  request.type = RunnerType::project;
  request.project_id = 5;
  request.job_id = 1234;
  request.tags = {"firerun/cpu=4", "linux"};
  auto runner = api->create_runner(request);
  ASSERT_TRUE(runner) << runner.error().what();
  EXPECT_TRUE(runner->token.reveal().starts_with("glrt-"));
  EXPECT_EQ(runner->description, "firerun-1234");
  auto sent = server_->requests().back().as_object();
  EXPECT_EQ(sent.at("method"), "POST");
  EXPECT_EQ(sent.at("path"), "/api/v4/user/runners");
  EXPECT_EQ(sent.at("status"), 201);
  EXPECT_EQ(sent.at("headers").at("private-token"), kApiToken);
  auto body = boost::json::parse(sent.at("body").as_string()).as_object();
  boost::json::object expected{{"description", "firerun-1234"},
                               {"run_untagged", false},
                               {"runner_type", "project_type"},
                               {"project_id", 5},
                               {"tag_list", boost::json::array{"firerun/cpu=4", "linux"}}};
  EXPECT_EQ(body, expected);
  EXPECT_EQ(runner_count(), 1u);

  ASSERT_TRUE(api->delete_runner(runner->id));
  EXPECT_EQ(std::string(server_->requests().back().at("path").as_string()), "/api/v4/runners/" + std::to_string(runner->id));
  EXPECT_EQ(runner_count(), 0u);
  EXPECT_TRUE(api->delete_runner(runner->id));  // already gone counts as deleted
}

TEST_F(GitlabApiTest, GroupAndInstanceRunnersAndBearerAuth) {
  auto api = client(config(AuthScheme::bearer));
  CreateRunnerRequest group;
  group.type = RunnerType::group;
  group.group_id = 9;
  group.job_id = 1;
  group.tags = {"firerun"};
  ASSERT_TRUE(api->create_runner(group));
  auto sent = server_->requests().back().as_object();
  EXPECT_EQ(std::string(sent.at("headers").at("authorization").as_string()), std::string("Bearer ") + kApiToken);
  EXPECT_EQ(boost::json::parse(sent.at("body").as_string()).at("group_id"), 9);
  CreateRunnerRequest instance;
  instance.type = RunnerType::instance;
  instance.job_id = 2;
  ASSERT_TRUE(api->create_runner(instance));
  CreateRunnerRequest missing_project;
  EXPECT_EQ(api->create_runner(missing_project).error().errc(), Errc::invalid_argument);
}

TEST_F(GitlabApiTest, DeleteByTokenAndWrongCredentials) {
  auto api = client(config());
  CreateRunnerRequest request;
  request.project_id = 5;
  request.job_id = 7;
  auto runner = api->create_runner(request).value();
  ASSERT_TRUE(api->delete_runner_by_token(runner.token));
  auto sent = server_->requests().back().as_object();
  EXPECT_EQ(sent.at("method"), "DELETE");
  EXPECT_EQ(sent.at("path"), "/api/v4/runners");
  EXPECT_EQ(sent.at("status"), 204);
  EXPECT_EQ(runner_count(), 0u);
  auto again = api->delete_runner_by_token(runner.token);
  EXPECT_EQ(again.error().errc(), Errc::auth);
  EXPECT_THAT(again.error().what(), Not(HasSubstr(std::string(runner.token.reveal()))));

  auto wrong = client(config(AuthScheme::private_token, "glpat-WRONG-DO-NOT-LEAK"));
  auto denied = wrong->create_runner(request);
  EXPECT_EQ(denied.error().errc(), Errc::auth);
  EXPECT_THAT(denied.error().what(), HasSubstr("HTTP 401"));
  EXPECT_THAT(denied.error().what(), Not(HasSubstr("DO-NOT-LEAK")));
}

TEST_F(GitlabApiTest, LegacyRegistrationTokenFlow) {
  auto c = config();
  c.registration_token = SecretString(kRegistrationToken);
  auto api = client(c);
  CreateRunnerRequest request;
  request.job_id = 55;
  request.tags = {"firerun", "linux"};
  auto runner = api->create_runner(request);
  ASSERT_TRUE(runner) << runner.error().what();
  auto sent = server_->requests().back().as_object();
  EXPECT_EQ(sent.at("path"), "/api/v4/runners");
  auto body = boost::json::parse(sent.at("body").as_string()).as_object();
  EXPECT_EQ(body.at("tag_list"), "firerun,linux");
  EXPECT_EQ(body.at("token"), kRegistrationToken);
  EXPECT_EQ(body.at("description"), "firerun-55");
  EXPECT_FALSE(sent.at("headers").as_object().contains("private-token"));  // the registration token is the auth

  c.registration_token = SecretString("GR1348941-WRONG-DO-NOT-LEAK");
  auto wrong = client(c)->create_runner(request);
  EXPECT_EQ(wrong.error().errc(), Errc::auth);
  EXPECT_THAT(wrong.error().what(), Not(HasSubstr("DO-NOT-LEAK")));
  server_->control({{"registration_disabled", true}});
  EXPECT_EQ(api->create_runner(request).error().errc(), Errc::unsupported);  // 410: use POST /user/runners
}

TEST_F(GitlabApiTest, JobLookupResolvesTheWebhookRequestsLabels) {
  FIRERUN_REQUIRE_CONFORMANCE("gitlab/webhooks/job-hook.json");
  const std::string hook = read_file(firerun::testing::conformance_dir() / "gitlab/webhooks/job-hook.json");
  auto provider = make_provider("gitlab");
  auto event = provider->receive(gitlab_headers("Job Hook"), hook);
  ASSERT_TRUE(event) << event.error().what();
  auto request = std::get<JobRequest>(*event);
  ASSERT_FALSE(request.labels_known);

  server_->control({{"jobs", boost::json::array{{{"project_id", request.repository_id},
                                                  {"id", request.job_id},
                                                  {"status", "pending"},
                                                  {"tag_list", boost::json::array{"linux", "firerun/cpu=4/ram=8"}}}}}});
  auto api = client(config());
  auto lookup = api->lookup_job_labels(request, provider->label_policy());
  ASSERT_TRUE(lookup) << lookup.error().what();
  EXPECT_TRUE(lookup->wants_firerun) << lookup->reason;
  EXPECT_EQ(lookup->job.status, "pending");
  EXPECT_TRUE(request.labels_known);
  ASSERT_TRUE(request.shape);
  EXPECT_EQ(request.shape->vcpus, 4u);
  EXPECT_EQ(request.shape->memory_gib, 8u);
  EXPECT_EQ(std::string(server_->requests().back().at("path").as_string()), "/api/v4/projects/" + std::to_string(request.repository_id) +
                                                       "/jobs/" + std::to_string(request.job_id));

  // A job for other runners is reported, not an error; a malformed firerun tag is.
  auto other = std::get<JobRequest>(*event);
  server_->control({{"jobs", boost::json::array{{{"project_id", other.repository_id},
                                                  {"id", other.job_id},
                                                  {"tag_list", boost::json::array{"docker"}}}}}});
  lookup = api->lookup_job_labels(other, provider->label_policy());
  ASSERT_TRUE(lookup);
  EXPECT_FALSE(lookup->wants_firerun);
  EXPECT_FALSE(lookup->reason.empty());
  server_->control({{"jobs", boost::json::array{{{"project_id", other.repository_id},
                                                  {"id", other.job_id},
                                                  {"tag_list", boost::json::array{"firerun/gpu=1"}}}}}});
  EXPECT_EQ(api->lookup_job_labels(other, provider->label_policy()).error().errc(), Errc::invalid_argument);

  auto missing = std::get<JobRequest>(*event);
  missing.job_id += 1000;
  EXPECT_EQ(api->lookup_job_labels(missing, provider->label_policy()).error().errc(), Errc::not_found);

  // JOB-TOKEN works for job lookups.
  auto job_token = client(config(AuthScheme::job_token));
  EXPECT_TRUE(job_token->get_job(request.repository_id, request.job_id));
}

// Every endpoint of ENDPOINTS.md is served, and requests off the contract are refused.
TEST_F(GitlabApiTest, ContractServerEnforcesEveryDocumentedEndpoint) {
  const std::string table = read_file(firerun::testing::conformance_dir() / "gitlab/api/ENDPOINTS.md");
  std::regex row(R"(\|\s*\d+\s*\|\s*`(GET|POST|PUT|DELETE|PATCH) ([^`\s]+)`[^|]*\|\s*([^|]*)\|)");
  auto api = client(config());
  CreateRunnerRequest create;
  create.project_id = 5;
  create.job_id = 1;
  server_->control({{"jobs", boost::json::array{{{"project_id", 5}, {"id", 8}}}}});

  int endpoints = 0;
  for (std::sregex_iterator it(table.begin(), table.end(), row), end; it != end; ++it) {
    ++endpoints;
    const std::string method = (*it)[1], templ = (*it)[2];
    const bool user_auth = !std::string((*it)[3]).starts_with("no ");
    SCOPED_TRACE(method + " " + templ);
    auto runner = api->create_runner(create).value();
    std::string path = "/api/v4" + templ;
    path = std::regex_replace(path, std::regex("/projects/:id"), "/projects/5");
    path = std::regex_replace(path, std::regex(":job_id"), "8");
    path = std::regex_replace(path, std::regex(":id"), std::to_string(runner.id));
    http::Request good;
    good.method = method;
    good.path = path;
    if (user_auth) good.headers.push_back({"PRIVATE-TOKEN", kApiToken});
    boost::json::object body;
    if (templ == "/user/runners") body = {{"runner_type", "project_type"}, {"project_id", 5}};
    if (templ == "/runners" && method == "POST") body = {{"token", kRegistrationToken}};
    if (templ == "/runners" && method == "DELETE") body = {{"token", runner.token.reveal()}};
    if (templ == "/runners/verify") body = {{"token", runner.token.reveal()}, {"system_id", "s_0123456789ab"}};
    if (!body.empty()) {
      good.headers.push_back({"Content-Type", "application/json"});
      good.body = boost::json::serialize(body);
    }
    auto ok = server_->raw(good);
    EXPECT_TRUE(ok.status >= 200 && ok.status < 300) << ok.status << " " << ok.body;

    if (user_auth) {
      auto anonymous = good;
      std::erase_if(anonymous.headers, [](const http::Header& h) { return h.name == "PRIVATE-TOKEN"; });
      EXPECT_EQ(server_->raw(anonymous).status, 401);
      auto wrong = anonymous;
      wrong.headers.push_back({"PRIVATE-TOKEN", "glpat-wrong"});
      EXPECT_EQ(server_->raw(wrong).status, 401);
    }
    for (const auto& [key, value] : body) {
      auto missing = good;
      auto fields = body;
      fields.erase(key);
      missing.body = boost::json::serialize(fields);
      if (key != "system_id") {
        EXPECT_EQ(server_->raw(missing).status, 400) << "without " << key;
      }
      auto mistyped = good;
      fields = body;
      fields[key] = boost::json::array{1};
      mistyped.body = boost::json::serialize(fields);
      EXPECT_EQ(server_->raw(mistyped).status, 400) << "mistyped " << key;
    }
    auto unknown_field = good;
    auto extra = body;
    extra["not_a_documented_field"] = 1;
    unknown_field.headers.push_back({"Content-Type", "application/json"});
    unknown_field.body = boost::json::serialize(extra);
    EXPECT_EQ(server_->raw(unknown_field).status, 400);
    auto bad_method = good;
    bad_method.method = "PATCH";
    EXPECT_EQ(server_->raw(bad_method).status, 405);
  }
  EXPECT_GE(endpoints, 7);
  http::Request unknown;
  unknown.method = "GET";
  unknown.path = "/api/v4/projects/5/pipelines";
  unknown.headers = {{"PRIVATE-TOKEN", kApiToken}};
  EXPECT_EQ(server_->raw(unknown).status, 404);
}

}  // namespace
}  // namespace firerun::ci::gitlab
