// Runner brokers against contract_server.py: what a VM is handed for a job
// (credentials only as a file), removal, stale sweeps, GitLab job lookups,
// and settings validation.
#include "ci/github/github_api.h"
#include "ci/runner_broker.h"
#include "contract_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace firerun::ci {
namespace {
using namespace firerun::ci::testing;
using ::testing::HasSubstr;

constexpr const char* kToken = "ghp_broker_test_token_0123456789";
constexpr const char* kAppId = "4242";

std::unique_ptr<RunnerBroker> make_broker(const std::string& name, const BrokerSettings& settings,
                                          const LabelPolicy& policy = {}) {
  RunnerBrokerRegistry registry;
  EXPECT_TRUE(register_builtin_runner_brokers(registry));
  auto factory = registry.find(name).value();
  auto broker = factory->create(settings, policy);
  EXPECT_TRUE(broker) << (broker ? "" : broker.error().what());
  return broker ? std::move(*broker) : nullptr;
}

JobRequest github_job(std::uint64_t job_id) {
  JobRequest r;
  r.provider = "github";
  r.job_id = job_id;
  r.repository = "octo/widgets";
  r.labels = {"self-hosted", "firerun/cpu=2"};
  r.shape = VmShape{};
  r.installation_id = 77;
  return r;
}

std::string joined(const RunnerLease& lease) {
  std::string out;
  for (const auto& a : lease.argv) out += a + " ";
  for (const auto& [k, v] : lease.env) out += k + "=" + v + " ";
  return out;
}

class GithubBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FIRERUN_REQUIRE_CONFORMANCE("github/rest-runners-subset.json");
    key_ = make_rsa_key();
    write_file(dir_.path() / "app.pub.pem", key_.public_pem);
    server_ = std::make_unique<ContractServer>(std::vector<std::string>{
        "github", firerun::testing::conformance_dir().string(), kAppId, (dir_.path() / "app.pub.pem").string(), kToken});
    ASSERT_TRUE(server_->running());
  }
  BrokerSettings settings() const {
    return {{"api_url", server_->endpoint()}, {"token", kToken}, {"retry_initial_backoff_ms", "10"}};
  }
  std::size_t runners(const std::string& scope) const {
    const auto state = server_->state();
    const auto* list = state.at("runners").as_object().if_contains(scope);
    return list ? list->as_array().size() : 0;
  }
  TempDir dir_;
  RsaKeyPair key_;
  std::unique_ptr<ContractServer> server_;
};

TEST_F(GithubBrokerTest, LeaseCarriesTheJitConfigOnlyAsAFileAndRemovalIsIdempotent) {
  auto broker = make_broker("github", settings());
  ASSERT_TRUE(broker);
  auto job = github_job(555);
  auto check = broker->prepare(job);
  ASSERT_TRUE(check && check->run);
  auto lease = broker->register_runner(job);
  ASSERT_TRUE(lease) << lease.error().what();
  EXPECT_THAT(lease->runner_name, ::testing::StartsWith("firerun-555-"));
  EXPECT_EQ(lease->scope, "repos/octo/widgets");
  ASSERT_EQ(lease->files.size(), 1u);
  EXPECT_EQ(lease->files[0].mode, 0600u);
  EXPECT_THAT(lease->files[0].path, ::testing::StartsWith(std::string(kGuestCredentialsDir)));
  const std::string jit(lease->files[0].content.reveal());
  auto requests = server_->requests();
  const auto& issued = requests.back().as_object().at("response").at("encoded_jit_config").as_string();
  EXPECT_EQ(jit, std::string(issued));
  EXPECT_EQ(joined(*lease).find(jit), std::string::npos) << "argv/env never carry the credential";
  EXPECT_EQ(lease->env.at("FIRERUN_RUNNER_CREDENTIALS"), lease->files[0].path);
  EXPECT_EQ(runners("repos/octo/widgets"), 1u);

  ASSERT_TRUE(broker->remove_runner(lease->scope, lease->runner_id));
  EXPECT_EQ(runners("repos/octo/widgets"), 0u);
  EXPECT_TRUE(broker->remove_runner(lease->scope, lease->runner_id)) << "already gone counts as removed";
  EXPECT_EQ(broker->remove_runner("planets/mars", 1).error().errc(), Errc::invalid_argument);
}

TEST_F(GithubBrokerTest, StaleSweepRemovesOnlyFireRunRunnersWithoutAVm) {
  server_->control({{"runners", boost::json::array{{{"scope", "repos/octo/widgets"}, {"name", "firerun-1-aaaaaaaa"}},
                                                   {{"scope", "repos/octo/widgets"}, {"name", "firerun-2-bbbbbbbb"}},
                                                   {{"scope", "repos/octo/widgets"}, {"name", "build-box"}}}}});
  auto broker = make_broker("github", settings());
  auto removed = broker->remove_stale_runners("repos/octo/widgets", {"firerun-2-bbbbbbbb"});
  ASSERT_TRUE(removed) << removed.error().what();
  EXPECT_EQ(*removed, std::vector<std::string>{"firerun-1-aaaaaaaa"});
  EXPECT_EQ(runners("repos/octo/widgets"), 2u);
}

TEST_F(GithubBrokerTest, AppInstallationComesFromTheDeliveryAndIsPartOfTheScope) {
  auto s = settings();
  s.erase("token");
  s["app_id"] = kAppId;
  s["private_key"] = key_.private_pem;
  auto broker = make_broker("github", s);
  ASSERT_TRUE(broker);
  auto job = github_job(556);
  auto lease = broker->register_runner(job);
  ASSERT_TRUE(lease) << lease.error().what();
  EXPECT_EQ(lease->scope, "installation/77/repos/octo/widgets");
  EXPECT_TRUE(broker->remove_runner(lease->scope, lease->runner_id));
  job.installation_id.reset();
  EXPECT_EQ(broker->register_runner(job).error().errc(), Errc::invalid_argument) << "no installation anywhere";
}

TEST(RunnerBrokerSettings, MistakesNameTheKey) {
  RunnerBrokerRegistry registry;
  ASSERT_TRUE(register_builtin_runner_brokers(registry));
  auto github = registry.find("github").value();
  auto error = [&](const std::shared_ptr<RunnerBrokerFactory>& f, const BrokerSettings& s) {
    auto b = f->create(s, {});
    return b ? std::string("<ok>") : b.error().what();
  };
  EXPECT_THAT(error(github, {}), HasSubstr("ci.github"));
  EXPECT_THAT(error(github, {{"token", "t"}, {"colour", "blue"}}), HasSubstr("ci.github.colour: unknown key"));
  EXPECT_THAT(error(github, {{"token", "t"}, {"token_file", "/x"}}), HasSubstr("not both"));
  EXPECT_THAT(error(github, {{"token", "t"}, {"runner_group_id", "zero"}}), HasSubstr("ci.github.runner_group_id"));
  EXPECT_THAT(error(github, {{"app_id", "1"}}), HasSubstr("private_key"));
  EXPECT_THAT(error(github, {{"app_id", "1"}, {"private_key", "not a key"}}), HasSubstr("ci.github.private_key"));
  auto gitlab = registry.find("gitlab").value();
  EXPECT_THAT(error(gitlab, {{"token", "t"}}), HasSubstr("ci.gitlab.url"));
  EXPECT_THAT(error(gitlab, {{"url", "https://g"}, {"token", "t"}, {"runner_type", "group"}}),
              HasSubstr("ci.gitlab.group_id"));
  EXPECT_THAT(error(gitlab, {{"url", "https://g"}, {"token", "t"}, {"auth", "cookie"}}), HasSubstr("ci.gitlab.auth"));
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
}

TEST(GitlabBroker, LooksTheJobUpCreatesATaggedRunnerAndRunsItFromAFile) {
  FIRERUN_REQUIRE_CONFORMANCE("gitlab/api/ENDPOINTS.md");
  ContractServer server(std::vector<std::string>{"gitlab", firerun::testing::conformance_dir().string(),
                                                 "glpat-broker-test", "reg-token"});
  ASSERT_TRUE(server.running());
  server.control({{"jobs", boost::json::array{
                               {{"project_id", 9}, {"id", 1}, {"status", "pending"}, {"tag_list", {"firerun/cpu=2"}}},
                               {{"project_id", 9}, {"id", 2}, {"status", "pending"}, {"tag_list", {"docker"}}},
                               {{"project_id", 9}, {"id", 3}, {"status", "running"}, {"tag_list", {"firerun"}}}}}});
  auto broker = make_broker("gitlab", {{"url", server.endpoint()}, {"token", "glpat-broker-test"}});
  ASSERT_TRUE(broker);
  auto job = [](std::uint64_t id) {
    JobRequest r;
    r.provider = "gitlab";
    r.job_id = id;
    r.repository_id = 9;
    r.labels_known = false;
    return r;
  };
  auto ours = job(1);
  auto check = broker->prepare(ours);
  ASSERT_TRUE(check) << check.error().what();
  EXPECT_TRUE(check->run);
  ASSERT_TRUE(ours.shape);
  EXPECT_EQ(ours.shape->vcpus, 2u);
  auto foreign = job(2);
  EXPECT_FALSE(broker->prepare(foreign)->run);
  auto taken = job(3);
  auto taken_check = broker->prepare(taken);
  EXPECT_FALSE(taken_check->run);
  EXPECT_THAT(taken_check->reason, HasSubstr("running"));

  auto lease = broker->register_runner(ours);
  ASSERT_TRUE(lease) << lease.error().what();
  const std::string token(lease->files.at(0).content.reveal());
  EXPECT_THAT(token, ::testing::StartsWith("glrt-"));
  EXPECT_EQ(joined(*lease).find(token), std::string::npos) << "the token is read from its file in the guest";
  EXPECT_THAT(lease->argv.back(), HasSubstr("run-single"));
  EXPECT_THAT(lease->argv.back(), HasSubstr("$FIRERUN_RUNNER_CREDENTIALS"));
  EXPECT_EQ(server.state().at("runners").as_array().size(), 1u);
  ASSERT_TRUE(broker->remove_runner(lease->scope, lease->runner_id));
  EXPECT_TRUE(server.state().at("runners").as_array().empty());
}

}  // namespace
}  // namespace firerun::ci
