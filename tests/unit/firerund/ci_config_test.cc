// The ci.* configuration: providers enabled by their keys (file or
// environment), secrets from files, broker settings validated up front.
#include "ci_store.h"
#include "config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace firerun::daemon {
namespace {

class CiConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("firerun-ci-config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "secret") << "a-webhook-secret\n";
    std::ofstream(dir_ / "token") << "ghp_token_from_a_file\n";
    std::filesystem::permissions(dir_ / "secret", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::filesystem::permissions(dir_ / "token", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(CiConfig, SecretFilesReadableByOthersAreRefused) {
  std::filesystem::permissions(dir_ / "secret", std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  auto c = parse_config("ci:\n  github:\n    webhook_secret_file: " + path("secret") + "\n    token_file: " +
                            path("token") + "\n",
                        {});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().what().find("ci.github.webhook_secret_file"), std::string::npos) << c.error().what();
  EXPECT_NE(c.error().what().find("chmod 600"), std::string::npos) << c.error().what();
  EXPECT_EQ(c.error().what().find("a-webhook-secret"), std::string::npos);
}

TEST_F(CiConfig, OffUnlessAProviderIsConfigured) {
  auto c = parse_config("", {});
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_FALSE(c->ci.enabled());
}

TEST_F(CiConfig, GithubFromYamlWithSecretFiles) {
  auto c = parse_config("ci:\n  network: true\n  allow_cidrs: 192.30.252.0/22, 2001:db8::/32\n"
                        "  labels: {default_cpu: 1, max_ram_gb: 8}\n"
                        "  github:\n    webhook_secret_file: " + path("secret") +
                            "\n    token_file: " + path("token") + "\n    runner_group_id: 3\n",
                        {});
  ASSERT_TRUE(c) << c.error().what();
  ASSERT_TRUE(c->ci.providers.count("github"));
  const auto& gh = c->ci.providers.at("github");
  EXPECT_EQ(gh.webhook_secret, "a-webhook-secret") << "trailing newline dropped";
  EXPECT_EQ(gh.image, "github-runner");
  EXPECT_EQ(gh.broker.at("runner_group_id"), "3");
  EXPECT_FALSE(gh.broker.count("webhook_secret_file")) << "the daemon's own keys are not passed to the broker";
  EXPECT_TRUE(c->ci.network);
  EXPECT_EQ(c->ci.allow_cidrs, (std::vector<std::string>{"192.30.252.0/22", "2001:db8::/32"}));
  EXPECT_EQ(c->ci.labels.defaults.vcpus, 1u);
  EXPECT_EQ(c->ci.labels.limits.max_memory_gib, 8u);
}

TEST_F(CiConfig, EnvironmentEnablesAndOverrides) {
  auto c = parse_config("", {{"FIRERUN_CI_GITLAB_WEBHOOK_SECRET", "env-secret"},
                             {"FIRERUN_CI_GITLAB_URL", "https://gitlab.example.com"},
                             {"FIRERUN_CI_GITLAB_TOKEN", "glpat-from-env"},
                             {"FIRERUN_CI_GITLAB_RUNNER_TYPE", "instance"},
                             {"FIRERUN_CI_JOB_TIMEOUT_MS", "60000"}});
  ASSERT_TRUE(c) << c.error().what();
  ASSERT_TRUE(c->ci.providers.count("gitlab"));
  EXPECT_EQ(c->ci.providers.at("gitlab").webhook_secret, "env-secret");
  EXPECT_EQ(c->ci.providers.at("gitlab").broker.at("runner_type"), "instance");
  EXPECT_EQ(c->ci.job_timeout_ms, 60000u);
}

TEST_F(CiConfig, MistakesNameTheKeyAndNeverTheSecret) {
  auto error_of = [](const std::string& yaml, std::map<std::string, std::string> env = {}) {
    auto c = parse_config(yaml, env);
    return c ? std::string("<ok>") : c.error().what();
  };
  EXPECT_NE(error_of("ci:\n  github:\n    token_file: " + path("token") + "\n").find("ci.github.webhook_secret_file"),
            std::string::npos);
  const std::string base = "ci:\n  github:\n    webhook_secret_file: " + path("secret") + "\n";
  EXPECT_NE(error_of(base).find("ci.github"), std::string::npos) << "no API credentials";
  EXPECT_NE(error_of(base + "    token_file: " + path("token") + "\n    colour: blue\n").find("ci.github.colour"),
            std::string::npos);
  EXPECT_NE(error_of(base + "    token_file: /nonexistent/token\n").find("ci.github.token_file"), std::string::npos);
  EXPECT_NE(error_of(base + "    token_file: " + path("token") + "\n    runner_scope: planet\n").find("runner_scope"),
            std::string::npos);
  EXPECT_NE(error_of("ci:\n  allow_cidrs: 10.0.0.0/33\n").find("ci.allow_cidrs"), std::string::npos);
  EXPECT_NE(error_of("ci:\n  bitbucket:\n    webhook_secret: x\n").find("ci.bitbucket.webhook_secret"),
            std::string::npos)
      << "an unknown provider is an unknown key";
  const std::string leak = error_of(base + "    token: ghp_should_not_leak\n    token_file: " + path("token") + "\n");
  EXPECT_NE(leak, "<ok>");
  EXPECT_EQ(leak.find("ghp_should_not_leak"), std::string::npos) << leak;
}

TEST(CiStore, DeliveriesJobsAndRunnersSurviveAReopen) {
  const auto db = std::filesystem::temp_directory_path() / ("firerun-ci-store-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(db);
  {
    auto store = CiStore::open(db).value();
    EXPECT_TRUE(store->first_delivery("github", "d-1", 1000).value());
    EXPECT_FALSE(store->first_delivery("github", "d-1", 2000).value()) << "a redelivery";
    EXPECT_TRUE(store->first_delivery("gitlab", "d-1", 2000).value()) << "ids are per provider";
    ASSERT_TRUE(store->forget_delivery("gitlab", "d-1"));
    const std::string key = ci_job_key("github", 42, 1);
    ASSERT_TRUE(store->add_job(CiJobRow{key, "github", 42, "ci-github-42-1", "{}", false, 0}));
    EXPECT_EQ(store->add_job(CiJobRow{key, "github", 42, "other", "{}", false, 0}).error().errc(), Errc::already_exists);
    ASSERT_TRUE(store->add_runner(RunnerRow{"github", 7, "firerun-42-ab", "repos/o/r", key, "ci-github-42-1", 5}));
    ASSERT_TRUE(store->add_runner(RunnerRow{"github", 8, "firerun-42-cd", "repos/o/r", key, "ci-github-42-1", 6}));
    ASSERT_TRUE(store->runner_removed("github", 7, 10));
  }
  auto store = CiStore::open(db).value();
  EXPECT_FALSE(store->first_delivery("github", "d-1", 3000).value());
  EXPECT_TRUE(store->first_delivery("gitlab", "d-1", 3000).value()) << "forgotten deliveries are acted on again";
  auto open = store->open_jobs().value();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].scheduler_job, "ci-github-42-1");
  ASSERT_TRUE(store->resubmitted(open[0].key, "ci-github-42-1-r1"));
  EXPECT_EQ(store->job(open[0].key).value()->resubmits, 1u);
  auto live = store->live_runners().value();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].runner_id, 8u);
  ASSERT_TRUE(store->mark_done(open[0].key));
  EXPECT_TRUE(store->open_jobs().value().empty());
  ASSERT_TRUE(store->prune_deliveries(2500));
  EXPECT_TRUE(store->first_delivery("github", "d-1", 4000).value()) << "pruned";
  store.reset();
  std::filesystem::remove(db);
  std::filesystem::remove(db.string() + "-wal");
  std::filesystem::remove(db.string() + "-shm");
}

}  // namespace
}  // namespace firerun::daemon
