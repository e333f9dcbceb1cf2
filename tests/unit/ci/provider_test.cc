#include "ci_test_util.h"

#include <gtest/gtest.h>

namespace firerun::ci {
namespace {

using testing::github_headers;
using testing::gitlab_headers;

const std::string kJob = R"({"action":"queued","workflow_job":{"id":11,"run_id":22,"run_attempt":2,"name":"build",
  "status":"queued","labels":["self-hosted","firerun/cpu=8"],"conclusion":null,"runner_id":null,"runner_name":null,
  "runner_group_id":null,"runner_group_name":null},
  "repository":{"id":33,"full_name":"acme/widgets","owner":{"login":"acme"}},"installation":{"id":44}})";

Result<CiEvent> github(const std::string& body, std::string event = "workflow_job") {
  auto provider = testing::make_provider("github");
  return provider->receive(github_headers(event, body), body);
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(Registry, BuiltinsRegisteredByName) {
  CiProviderRegistry registry;
  ASSERT_TRUE(register_builtin_ci_providers(registry));
  auto list = registry.list();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "github");
  EXPECT_EQ(list[1].name, "gitlab");
  EXPECT_EQ(register_builtin_ci_providers(registry).error().errc(), Errc::already_exists);
  auto missing = registry.find("jenkins");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errc(), Errc::not_found);
  for (const auto& name : {"github", "gitlab"}) {
    auto created = (*registry.find(name))->create(CiProviderConfig{});
    ASSERT_FALSE(created) << name;
    EXPECT_EQ(created.error().errc(), Errc::invalid_argument);
    EXPECT_NE(created.error().what().find("secret"), std::string::npos);
    CiProviderConfig config;
    config.secret = "x";
    config.labels.defaults.vcpus = 999;
    EXPECT_EQ((*registry.find(name))->create(config).error().errc(), Errc::limit_exceeded);
  }
}

TEST(GitHubProvider, QueuedJobBecomesJobRequest) {
  auto r = github(kJob);
  ASSERT_TRUE(r) << r.error().what();
  const auto& req = std::get<JobRequest>(*r);
  EXPECT_EQ(req.phase, JobPhase::queued);
  EXPECT_EQ(req.job_id, 11u);
  EXPECT_EQ(req.run_id, 22u);
  EXPECT_EQ(req.run_attempt, 2u);
  EXPECT_EQ(req.repository, "acme/widgets");
  EXPECT_EQ(req.repository_id, 33u);
  EXPECT_EQ(req.owner, "acme");
  EXPECT_EQ(req.installation_id, 44u);
  EXPECT_EQ(req.shape->vcpus, 8u);
  EXPECT_EQ(req.shape->memory_gib, 4u);
  EXPECT_FALSE(req.runner);
  EXPECT_FALSE(req.conclusion);
}

TEST(GitHubProvider, EnterpriseHostAndVerifySeparately) {
  auto provider = testing::make_provider("github");
  auto headers = github_headers("workflow_job", kJob);
  headers.emplace("X-GitHub-Enterprise-Host", "ghe.example.com");
  EXPECT_TRUE(provider->verify(headers, kJob));
  auto r = provider->parse(headers, kJob);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<JobRequest>(*r).instance, "ghe.example.com");
}

TEST(GitHubProvider, OtherEventsAndActionsAreIgnoredWithReasons) {
  auto push = github(R"({"ref":"refs/heads/main"})", "push");
  ASSERT_TRUE(push);
  EXPECT_NE(std::get<Ignored>(*push).reason.find("'push' is not used by firerun"), std::string::npos);
  auto unknown_action = github(replace(kJob, R"("action":"queued")", R"("action":"teleported")"));
  ASSERT_TRUE(unknown_action);
  EXPECT_NE(std::get<Ignored>(*unknown_action).reason.find("'teleported'"), std::string::npos);
  auto not_ours = github(replace(kJob, R"("firerun/cpu=8")", R"("gpu")"));
  ASSERT_TRUE(not_ours);
  EXPECT_NE(std::get<Ignored>(*not_ours).reason.find("do not ask for firerun"), std::string::npos);
}

TEST(GitHubProvider, MalformedBodiesNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {"[]", "'(root)' must be an object"},
      {"null", "'(root)' must be an object"},
      {R"({"action":"queued"})", "'workflow_job' is missing"},
      {R"({"action":7})", "'action' must be a string"},
      {replace(kJob, R"("id":11)", R"("id":"11")"), "'workflow_job.id' must be a non-negative integer, got string"},
      {replace(kJob, R"("id":11)", R"("id":-11)"), "'workflow_job.id' must not be negative"},
      {replace(kJob, R"("id":11)", R"("id":1.5)"), "'workflow_job.id' must be a non-negative integer"},
      {replace(kJob, R"("id":11)", R"("id":1e300)"), "'workflow_job.id' must be a non-negative integer"},
      {replace(kJob, R"("run_attempt":2)", R"("run_attempt":0)"), "'workflow_job.run_attempt' is out of range"},
      {replace(kJob, R"("run_attempt":2)", R"("run_attempt":99999999999)"), "run_attempt' is out of range"},
      {replace(kJob, R"(["self-hosted","firerun/cpu=8"])", R"("firerun")"), "'workflow_job.labels' must be an array"},
      {replace(kJob, R"("self-hosted")", "3"), "'workflow_job.labels[0]' must be a string, got number"},
      {replace(kJob, R"("runner_name":null)", R"("runner_name":{})"), "'workflow_job.runner_name' must be a string or null"},
      {replace(kJob, R"("full_name":"acme/widgets",)", ""), "'repository.full_name' is missing"},
      {replace(kJob, R"({"login":"acme"})", R"("acme")"), "'repository.owner' must be an object"},
      {replace(kJob, R"("installation":{"id":44})", R"("installation":[])"), "'installation' must be an object or null"},
      {replace(kJob, R"("firerun/cpu=8")", R"("firerun/cpu=0")"), "cpu must be at least 1"},
      {std::string(100, '[') + std::string(100, ']'), "not valid JSON"},
      {"{\"action\":\"\xff\"}", "not valid JSON"},
  };
  for (const auto& [body, expect] : cases) {
    auto r = github(body);
    ASSERT_FALSE(r) << body.substr(0, 60);
    EXPECT_EQ(r.error().errc(), Errc::invalid_argument) << r.error().what();
    EXPECT_NE(r.error().what().find(expect), std::string::npos) << r.error().what();
  }
  auto too_big = github(replace(kJob, R"("firerun/cpu=8")", R"("firerun/cpu=64")"));
  EXPECT_EQ(too_big.error().errc(), Errc::limit_exceeded);
  EXPECT_NE(too_big.error().what().find("job 11 ('acme/widgets')"), std::string::npos) << too_big.error().what();
}

TEST(GitHubProvider, MalformedPingNamesTheField) {
  auto r = github(R"({"hook_id":1})", "ping");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().what().find("'zen' is missing"), std::string::npos);
}

TEST(GitHubProvider, HeaderProblems) {
  auto provider = testing::make_provider("github");
  auto headers = github_headers("workflow_job", kJob);
  auto without = [&](const char* name) {
    auto h = headers;
    h.erase(name);
    return provider->receive(h, kJob);
  };
  EXPECT_EQ(without("X-GitHub-Event").error().errc(), Errc::invalid_argument);
  EXPECT_EQ(without("X-GitHub-Delivery").error().errc(), Errc::invalid_argument);
  EXPECT_TRUE(without("Content-Type"));
  auto h = headers;
  h.find("Content-Type")->second = "application/x-www-form-urlencoded";
  EXPECT_NE(provider->receive(h, kJob).error().what().find("application/json"), std::string::npos);
  h = headers;
  h.find("Content-Type")->second = "Application/JSON; charset=utf-8";
  EXPECT_TRUE(provider->receive(h, kJob));
  h = headers;
  h.find("X-GitHub-Delivery")->second = "../../etc/passwd";
  EXPECT_NE(provider->receive(h, kJob).error().what().find("not a valid delivery id"), std::string::npos);
  // Header names are case-insensitive.
  Headers lower;
  for (const auto& [k, v] : headers) {
    std::string name = k;
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    lower.emplace(name, v);
  }
  EXPECT_TRUE(provider->receive(lower, kJob));
  CiProviderConfig small;
  small.secret = testing::kTestSecret;
  small.max_body_bytes = 10;
  CiProviderRegistry registry;
  ASSERT_TRUE(register_builtin_ci_providers(registry));
  auto tiny = (*(*registry.find("github"))->create(small));
  EXPECT_EQ(tiny->receive(headers, kJob).error().errc(), Errc::limit_exceeded);
}

const std::string kBuild = R"({"object_kind":"build","build_id":5,"build_name":"test","build_stage":"test",
  "build_status":"pending","pipeline_id":6,"project_id":7,"project_name":"Group / Proj","runner":null,
  "project":{"path_with_namespace":"group/sub/proj"}})";

TEST(GitLabProvider, DeliveryIdFallbacks) {
  auto provider = testing::make_provider("gitlab");
  auto h = gitlab_headers("Job Hook");
  h.erase("Idempotency-Key");
  h.emplace("X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e");
  auto r = provider->receive(h, kBuild);
  ASSERT_TRUE(r) << r.error().what();
  const auto& req = std::get<JobRequest>(*r);
  EXPECT_EQ(req.delivery_id, "13792a34-cac6-4fda-95a8-c58e00a3954e");
  EXPECT_EQ(req.phase, JobPhase::queued);
  EXPECT_EQ(req.owner, "group");
  EXPECT_EQ(req.repository, "group/sub/proj");
  EXPECT_EQ(req.run_attempt, 1u);
  h.erase("X-Gitlab-Event-UUID");
  auto synthesized = provider->receive(h, kBuild);
  ASSERT_TRUE(synthesized);
  EXPECT_EQ(std::get<JobRequest>(*synthesized).delivery_id, "gitlab-job-5-pending");
}

TEST(GitLabProvider, StatusesEventsAndMalformedBodies) {
  auto provider = testing::make_provider("gitlab");
  auto h = gitlab_headers("Job Hook");
  for (auto [status, phase] : std::vector<std::pair<std::string, JobPhase>>{
           {"created", JobPhase::waiting}, {"running", JobPhase::in_progress}, {"failed", JobPhase::completed}}) {
    auto r = provider->receive(h, replace(kBuild, "pending", status));
    ASSERT_TRUE(r);
    EXPECT_EQ(std::get<JobRequest>(*r).phase, phase);
  }
  auto unknown = provider->receive(h, replace(kBuild, "pending", "exploded"));
  ASSERT_TRUE(unknown);
  EXPECT_NE(std::get<Ignored>(*unknown).reason.find("'exploded'"), std::string::npos);
  auto push = provider->receive(gitlab_headers("Push Hook"), "{}");
  ASSERT_TRUE(push);
  EXPECT_NE(std::get<Ignored>(*push).reason.find("enable only 'Job events'"), std::string::npos);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {replace(kBuild, R"("object_kind":"build")", R"("object_kind":"pipeline")"), "'object_kind' is 'pipeline'"},
      {replace(kBuild, R"("build_id":5,)", ""), "'build_id' is missing"},
      {replace(kBuild, R"("runner":null)", R"("runner":{"id":"x"})"), "'runner.id' must be a non-negative integer"},
      {replace(kBuild, R"({"path_with_namespace":"group/sub/proj"})", "{}"), "'project.path_with_namespace' is missing"},
      {"{\"object_kind\":\"build\" // c\n}", "not valid JSON"},
  };
  for (const auto& [body, expect] : bad) {
    auto r = provider->receive(h, body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().errc(), Errc::invalid_argument);
    EXPECT_NE(r.error().what().find(expect), std::string::npos) << r.error().what();
  }
  auto pipeline = provider->receive(gitlab_headers("Pipeline Hook"), R"({"object_kind":"pipeline"})");
  ASSERT_FALSE(pipeline);
  EXPECT_NE(pipeline.error().what().find("'object_attributes' is missing"), std::string::npos);
  auto bad_key = gitlab_headers("Job Hook");
  bad_key.find("Idempotency-Key")->second = std::string(200, 'a');
  EXPECT_EQ(provider->receive(bad_key, kBuild).error().errc(), Errc::invalid_argument);
}

}  // namespace
}  // namespace firerun::ci
