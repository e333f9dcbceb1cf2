// Retries, backoff and rate limits (GitHub and GitLab headers), unreachable
// APIs, and secrets staying out of every error and log line.
#include "ci/github/github_api.h"
#include "ci/gitlab/gitlab_api.h"
#include "ci/rest_client.h"
#include "contract_server.h"

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <mutex>
#include <thread>

namespace firerun::ci {
namespace {

using namespace firerun::ci::testing;
using ::testing::HasSubstr;
using std::chrono::milliseconds;

constexpr const char* kAppId = "4242";
constexpr const char* kGithubToken = "ghp_retrytesttoken_0123456789abcdef";
constexpr const char* kGitlabToken = "glpat-retrytesttoken-0123456789";
constexpr const char* kRegistrationToken = "GR1348941retrytestregistration";

http::Response response(long status, std::vector<http::Header> headers) {
  http::Response r;
  r.status = status;
  r.headers = std::move(headers);
  return r;
}

TEST(RetryAdvice, StatusesAndRateLimitHeaders) {
  const auto now = std::chrono::system_clock::from_time_t(1700000000);
  EXPECT_FALSE(retry_advice(ApiDialect::github, response(404, {}), now).retry);
  EXPECT_FALSE(retry_advice(ApiDialect::github, response(422, {}), now).retry);
  auto server = retry_advice(ApiDialect::github, response(503, {}), now);
  EXPECT_TRUE(server.retry);
  EXPECT_FALSE(server.rate_limited);
  EXPECT_EQ(server.server_wait, std::nullopt);
  EXPECT_EQ(retry_advice(ApiDialect::gitlab, response(502, {{"Retry-After", "7"}}), now).server_wait, milliseconds(7000));

  // GitHub: 403 is a rate limit only with the rate-limit headers.
  EXPECT_FALSE(retry_advice(ApiDialect::github, response(403, {}), now).retry);
  auto primary = retry_advice(ApiDialect::github,
                              response(403, {{"X-RateLimit-Remaining", "0"}, {"X-RateLimit-Reset", "1700000030"}}), now);
  EXPECT_TRUE(primary.retry && primary.rate_limited);
  EXPECT_EQ(primary.server_wait, milliseconds(30000));
  auto secondary = retry_advice(ApiDialect::github, response(403, {{"retry-after", "60"}}), now);
  EXPECT_TRUE(secondary.retry);
  EXPECT_EQ(secondary.server_wait, milliseconds(60000));
  EXPECT_FALSE(retry_advice(ApiDialect::github, response(403, {{"x-ratelimit-remaining", "12"}}), now).retry);
  auto past = retry_advice(ApiDialect::github,
                           response(429, {{"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", "1699999999"}}), now);
  EXPECT_EQ(past.server_wait, milliseconds(0));
  auto plain429 = retry_advice(ApiDialect::github, response(429, {}), now);
  EXPECT_TRUE(plain429.retry && plain429.rate_limited);
  EXPECT_EQ(plain429.server_wait, std::nullopt);

  // GitLab: 429 with Retry-After or RateLimit-Reset; 403 is never a rate limit.
  EXPECT_EQ(retry_advice(ApiDialect::gitlab, response(429, {{"Retry-After", "3"}}), now).server_wait, milliseconds(3000));
  EXPECT_EQ(retry_advice(ApiDialect::gitlab, response(429, {{"RateLimit-Reset", "1700000005"}}), now).server_wait,
            milliseconds(5000));
  EXPECT_FALSE(retry_advice(ApiDialect::gitlab, response(403, {{"Retry-After", "3"}}), now).retry);
  // Garbage headers fall back to our own backoff; absurd ones are clamped to a day.
  EXPECT_EQ(retry_advice(ApiDialect::gitlab, response(429, {{"Retry-After", "soon"}}), now).server_wait, std::nullopt);
  EXPECT_EQ(retry_advice(ApiDialect::gitlab, response(429, {{"Retry-After", "-5"}}), now).server_wait, std::nullopt);
  EXPECT_EQ(retry_advice(ApiDialect::gitlab, response(429, {{"Retry-After", "99999999999"}}), now).server_wait,
            milliseconds(24 * 3600 * 1000));
}

TEST(ApiErrorMessage, TakesTheApisOwnTextSanitised) {
  EXPECT_EQ(api_error_message(R"({"message":"Bad credentials","documentation_url":"x"})"), "Bad credentials");
  EXPECT_EQ(api_error_message(R"({"message":{"tag_list":["is invalid"]}})"), R"({"tag_list":["is invalid"]})");
  EXPECT_EQ(api_error_message(R"({"error":"runner_type is missing"})"), "runner_type is missing");
  EXPECT_EQ(api_error_message("<html>502</html>"), "");
  EXPECT_EQ(api_error_message("{\"message\":\"a\\nb\\u0001\"}"), "a?b?");
  EXPECT_EQ(api_error_message("{\"message\":\"" + std::string(1000, 'x') + "\"}").size(), 303u);
}

/// Records every wait and really sleeps it (so Retry-After is honoured against the server's clock).
struct SleepRecorder {
  std::mutex mutex;
  std::vector<milliseconds> waits;
  std::function<void(milliseconds)> function() {
    return [this](milliseconds d) {
      {
        std::lock_guard lock(mutex);
        waits.push_back(d);
      }
      std::this_thread::sleep_for(d);
    };
  }
};

class RetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FIRERUN_REQUIRE_CONFORMANCE("github/rest-runners-subset.json");
    FIRERUN_REQUIRE_CONFORMANCE("gitlab/api/ENDPOINTS.md");
    write_file(dir_.path() / "app.pub.pem", "unused");
    github_ = std::make_unique<ContractServer>(std::vector<std::string>{
        "github", firerun::testing::conformance_dir().string(), kAppId, (dir_.path() / "app.pub.pem").string(),
        kGithubToken});
    gitlab_ = std::make_unique<ContractServer>(std::vector<std::string>{
        "gitlab", firerun::testing::conformance_dir().string(), kGitlabToken, kRegistrationToken});
    ASSERT_TRUE(github_->running() && gitlab_->running());
  }
  RestClientOptions rest(unsigned attempts = 4, milliseconds cap = milliseconds(3000)) {
    RestClientOptions o;
    o.retry.max_attempts = attempts;
    o.retry.initial_backoff = milliseconds(20);
    o.retry.max_backoff = milliseconds(80);
    o.retry.max_server_wait = cap;
    o.sleep = sleeps_.function();
    return o;
  }
  std::unique_ptr<github::GithubApi> github(RestClientOptions o) {
    github::GithubApiConfig config;
    config.rest = std::move(o);
    config.rest.base_url = github_->endpoint();
    config.token = SecretString(kGithubToken);
    return github::GithubApi::create(std::move(config)).value();
  }
  std::unique_ptr<gitlab::GitlabApi> gitlab(RestClientOptions o) {
    gitlab::GitlabApiConfig config;
    config.rest = std::move(o);
    config.instance_url = gitlab_->endpoint();
    config.token = SecretString(kGitlabToken);
    return gitlab::GitlabApi::create(std::move(config)).value();
  }
  static boost::json::object fail(int status, int times, std::optional<int> retry_after = {},
                                  std::optional<int> reset_in = {}) {
    boost::json::object rule{{"status", status}, {"times", times}, {"path", "runners"}};
    if (retry_after) rule["retry_after"] = *retry_after;
    if (reset_in) rule["reset_in"] = *reset_in;
    return {{"fail", boost::json::array{rule}}};
  }

  const github::RunnerScope scope_{"o", "r"};
  TempDir dir_;
  SleepRecorder sleeps_;
  std::unique_ptr<ContractServer> github_, gitlab_;
};

TEST_F(RetryTest, ServerErrorIsRetriedWithJitteredBackoff) {
  github_->control(fail(500, 2));
  auto api = github(rest());
  auto runners = api->list_runners(scope_);
  ASSERT_TRUE(runners) << runners.error().what();
  EXPECT_EQ(github_->requests().size(), 3u);
  ASSERT_EQ(sleeps_.waits.size(), 2u);
  for (auto w : sleeps_.waits) EXPECT_LE(w, milliseconds(80));
}

TEST_F(RetryTest, PersistentServerErrorEndsInARetryableError) {
  github_->control(fail(502, 100));
  auto result = github(rest(3))->list_runners(scope_);
  ASSERT_FALSE(result);
  EXPECT_TRUE(is_retryable(result.error()));
  EXPECT_EQ(api_errc(result.error()), ApiErrc::server_error);
  EXPECT_THAT(result.error().what(), HasSubstr("HTTP 502"));
  EXPECT_THAT(result.error().what(), HasSubstr("gave up after 3 attempts"));
  EXPECT_EQ(github_->requests().size(), 3u);
}

TEST_F(RetryTest, GithubRetryAfterOn429IsHonoured) {
  github_->control(fail(429, 1, 1));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(github(rest())->list_runners(scope_));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(1000));
  ASSERT_EQ(sleeps_.waits.size(), 1u);
  EXPECT_GE(sleeps_.waits[0], milliseconds(1000));
  EXPECT_LE(sleeps_.waits[0], milliseconds(1300));
}

TEST_F(RetryTest, GithubPrimaryRateLimit403WaitsForTheReset) {
  github_->control(fail(403, 1, std::nullopt, 1));
  ASSERT_TRUE(github(rest())->list_runners(scope_));
  ASSERT_EQ(sleeps_.waits.size(), 1u);
  EXPECT_LE(sleeps_.waits[0], milliseconds(2300));  // until x-ratelimit-reset (epoch seconds)
  auto requests = github_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].at("status"), 403);
}

TEST_F(RetryTest, GithubSecondaryRateLimit403WithRetryAfter) {
  github_->control(fail(403, 1, 1));
  ASSERT_TRUE(github(rest())->list_runners(scope_));
  ASSERT_EQ(sleeps_.waits.size(), 1u);
  EXPECT_GE(sleeps_.waits[0], milliseconds(1000));
}

TEST_F(RetryTest, Github403WithoutRateLimitHeadersIsNotRetried) {
  github_->control(fail(403, 1));
  auto result = github(rest())->list_runners(scope_);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().errc(), Errc::auth);
  EXPECT_FALSE(is_retryable(result.error()));
  EXPECT_TRUE(sleeps_.waits.empty());
}

TEST_F(RetryTest, ServerWaitBeyondTheCapReturnsARetryableErrorAtOnce) {
  github_->control(fail(429, 1, 3600));
  auto result = github(rest(4, milliseconds(2000)))->list_runners(scope_);
  ASSERT_FALSE(result);
  EXPECT_EQ(api_errc(result.error()), ApiErrc::rate_limited);
  EXPECT_THAT(result.error().what(), HasSubstr("server asks to wait 3600 s"));
  EXPECT_TRUE(sleeps_.waits.empty());
  EXPECT_EQ(github_->requests().size(), 1u);
}

TEST_F(RetryTest, PersistentRateLimitEndsRateLimited) {
  github_->control(fail(429, 100, 0));
  auto result = github(rest(2))->list_runners(scope_);
  ASSERT_FALSE(result);
  EXPECT_EQ(api_errc(result.error()), ApiErrc::rate_limited);
  EXPECT_EQ(github_->requests().size(), 2u);
}

TEST_F(RetryTest, GitlabRetryAfterAndRateLimitResetAreHonoured) {
  gitlab_->control(fail(429, 1, 1));
  auto api = gitlab(rest());
  gitlab::CreateRunnerRequest request;
  request.project_id = 5;
  request.job_id = 9;
  ASSERT_TRUE(api->create_runner(request));
  ASSERT_EQ(sleeps_.waits.size(), 1u);
  EXPECT_GE(sleeps_.waits[0], milliseconds(1000));

  gitlab_->control(fail(429, 1, std::nullopt, 1));
  ASSERT_TRUE(api->create_runner(request));
  ASSERT_EQ(sleeps_.waits.size(), 2u);
  EXPECT_LE(sleeps_.waits[1], milliseconds(2300));

  gitlab_->control(fail(503, 1));
  ASSERT_TRUE(api->create_runner(request));
  EXPECT_EQ(sleeps_.waits.size(), 3u);
  EXPECT_EQ(gitlab_->state().at("runners").as_array().size(), 3u);
}

TEST_F(RetryTest, UnreachableApiIsATypedRetryableError) {
  // A port nobody listens on: bind, read the port, close.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  github::GithubApiConfig config;
  config.rest = rest(3);
  config.rest.base_url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  config.token = SecretString(kGithubToken);
  auto result = github::GithubApi::create(std::move(config)).value()->list_runners(scope_);
  ASSERT_FALSE(result);
  EXPECT_EQ(api_errc(result.error()), ApiErrc::unreachable);
  EXPECT_TRUE(is_retryable(result.error()));
  EXPECT_THAT(result.error().what(), HasSubstr("unreachable"));
  EXPECT_EQ(sleeps_.waits.size(), 2u);
}

TEST_F(RetryTest, ApiThatGoesDownAndComesBackIsRetriedThrough) {
  auto api = gitlab(rest(3));
  gitlab_->control({{"down_for", 1}});
  std::this_thread::sleep_for(milliseconds(300));
  auto down = api->get_job(1, 1);
  ASSERT_FALSE(down);
  EXPECT_EQ(api_errc(down.error()), ApiErrc::unreachable);
  for (int i = 0; i < 50 && gitlab_->get("/_state").is_null(); ++i) std::this_thread::sleep_for(milliseconds(100));

  // Enough patience outlasts the outage.
  auto patient = rest(40);
  patient.retry.initial_backoff = milliseconds(200);
  patient.retry.max_backoff = milliseconds(200);
  gitlab_->control({{"down_for", 1}});
  std::this_thread::sleep_for(milliseconds(300));
  gitlab::CreateRunnerRequest request;
  request.project_id = 5;
  request.job_id = 10;
  auto created = gitlab(patient)->create_runner(request);
  ASSERT_TRUE(created) << created.error().what();
}

// Every secret the clients handle, across successes, failures, retries and logs.
TEST_F(RetryTest, SecretsNeverAppearInErrorsOrLogs) {
  const auto key = make_rsa_key();
  write_file(dir_.path() / "app.pub.pem", key.public_pem);
  LogCapture capture;
  std::vector<std::string> errors;
  auto keep = [&](const auto& result) {
    if (!result) errors.push_back(result.error().what());
  };

  auto github_client = github(rest(2));
  keep(github_client->list_runners(scope_));
  github_->control(fail(500, 1));
  github::JitConfigRequest jit_request;
  jit_request.scope = scope_;
  jit_request.job_id = 1;
  jit_request.labels = {"firerun"};
  auto jit = github_client->generate_jitconfig(jit_request);
  ASSERT_TRUE(jit) << jit.error().what();
  github_->control(fail(429, 5, 0));
  keep(github_client->generate_jitconfig(jit_request));
  github::GithubApiConfig wrong;
  wrong.rest = rest(2);
  wrong.rest.base_url = github_->endpoint();
  wrong.token = SecretString("ghp_WRONG_secret_value_123");
  keep(github::GithubApi::create(std::move(wrong)).value()->list_runners(scope_));

  // App flow: a key the server does not know (signature mismatch -> 401), then the right one.
  github::GithubApiConfig app;
  app.rest = rest(2);
  app.rest.base_url = github_->endpoint();
  const auto other_key = make_rsa_key();
  app.app = github::AppCredentials{kAppId, github::AppPrivateKey::from_pem(SecretString(other_key.private_pem)).value(), 3};
  keep(github::GithubApi::create(app).value()->list_runners(scope_));
  app.app->private_key = github::AppPrivateKey::from_pem(SecretString(key.private_pem)).value();
  auto app_client = github::GithubApi::create(app).value();
  ASSERT_TRUE(app_client->list_runners(scope_));
  const std::string installation_token(app_client->access_token().value().reveal());
  keep(github::AppPrivateKey::from_pem(SecretString("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----\n")));

  auto gitlab_client = gitlab(rest(2));
  gitlab::CreateRunnerRequest request;
  request.project_id = 5;
  request.job_id = 2;
  gitlab_->control(fail(503, 1));
  auto runner = gitlab_client->create_runner(request);
  ASSERT_TRUE(runner) << runner.error().what();
  ASSERT_TRUE(gitlab_client->delete_runner_by_token(runner->token));
  keep(gitlab_client->delete_runner_by_token(runner->token));  // 403 now
  gitlab::GitlabApiConfig legacy;
  legacy.rest = rest(2);
  legacy.instance_url = gitlab_->endpoint();
  legacy.token = SecretString(kGitlabToken);
  legacy.registration_token = SecretString("GR1348941_WRONG_registration");
  keep(gitlab::GitlabApi::create(std::move(legacy)).value()->create_runner(request));
  gitlab_->control(fail(429, 5, 3600));
  keep(gitlab_client->create_runner(request));

  // What went over the wire as credentials, collected from the servers' logs.
  std::vector<std::string> secrets = {kGithubToken, "ghp_WRONG_secret_value_123", kGitlabToken,
                                      "GR1348941_WRONG_registration", installation_token,
                                      std::string(jit->encoded_jit_config.reveal()),
                                      std::string(runner->token.reveal()), "MIIEvQIBADANBgkq"};
  for (const auto& line : {key.private_pem.substr(100, 40), other_key.private_pem.substr(100, 40)})
    secrets.push_back(line);
  for (const auto& r : github_->requests()) {
    const auto& headers = r.at("headers").as_object();
    if (auto* auth = headers.if_contains("authorization"))
      secrets.push_back(std::string(auth->as_string()).substr(7));  // JWTs and tokens after "Bearer "
  }
  ASSERT_GE(errors.size(), 6u);
  const std::string logs = capture.text();
  EXPECT_THAT(logs, HasSubstr("retrying"));  // the capture works
  for (const auto& secret : secrets) {
    ASSERT_GE(secret.size(), 10u);
    EXPECT_EQ(logs.find(secret), std::string::npos) << "log leaks a secret";
    for (const auto& e : errors) EXPECT_EQ(e.find(secret), std::string::npos) << "error leaks a secret: " << e;
  }
}

}  // namespace
}  // namespace firerun::ci
