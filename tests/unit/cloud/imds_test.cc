// IMDSv2 instance-profile credentials against a local fake IMDS (fake_imds.py,
// started per test on 127.0.0.1): token protocol, caching, refresh before
// expiry, expired credentials, outages, and the endpoint override.
#include "cloud/aws/credential_providers.h"
#include "support/script_server.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

using namespace firerun::cloud::aws;
using firerun::Errc;
using namespace std::chrono_literals;

namespace {

HttpRequest request(std::string method, std::string path, std::vector<Header> headers = {}, std::string body = {}) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

// Runs fake_imds.py as a child process; its pid is ours to stop.
class FakeImds {
 public:
  FakeImds() : server_({"python3", FIRERUN_FAKE_IMDS_SCRIPT}), endpoint_(server_.endpoint()) {}
  const std::string& endpoint() const { return endpoint_; }

  void control(const boost::json::object& update) const {
    auto r = http_send(endpoint_, request("POST", "/_control", {{"Content-Type", "application/json"}},
                                          boost::json::serialize(update)));
    ASSERT_TRUE(r && r->status == 200);
  }
  std::int64_t stat(const char* name) const {
    auto r = http_send(endpoint_, request("GET", "/_stats"));
    if (!r) return -1;
    return boost::json::parse(r->body).at(name).as_int64();
  }

 private:
  ::firerun::testing::ScriptServer server_;
  std::string endpoint_;
};

const auto kT0 = std::chrono::sys_days{std::chrono::year{2030} / 1 / 1};
constexpr const char* kSecret = "imds-secret-value-0001";
constexpr const char* kToken = "imds-session-token-0001";

class Imds : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(server_.endpoint().empty()) << "could not start the python3 fake IMDS (" << FIRERUN_FAKE_IMDS_SCRIPT
                                             << ")";
    server_.control({{"expiration", "2030-01-01T01:00:00Z"}});
  }
  ImdsOptions options() {
    ImdsOptions o;
    o.endpoint = server_.endpoint();
    o.clock = [this] { return now_; };
    return o;
  }
  FakeImds server_;
  std::chrono::system_clock::time_point now_ = kT0;
};

}  // namespace

TEST_F(Imds, ServerEnforcesTheSessionToken) {
  auto r = http_send(server_.endpoint(), request("GET", "/latest/meta-data/iam/security-credentials/"));
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->status, 401);
}

TEST_F(Imds, FetchesCredentialsWithV2Token) {
  ImdsCredentialsProvider p(options());
  auto c = p.credentials();
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(c->access_key_id, "ASIAFAKEIMDS0001");
  EXPECT_EQ(c->secret_access_key.reveal(), kSecret);
  EXPECT_EQ(c->session_token.reveal(), kToken);
  EXPECT_EQ(*c->expiration, kT0 + 1h);
  EXPECT_EQ(c->source, "imds");
  EXPECT_EQ(server_.stat("token_puts"), 1);
  EXPECT_EQ(server_.stat("unauthorized"), 0);
}

TEST_F(Imds, CachesUntilTheRefreshWindowThenRefreshes) {
  ImdsCredentialsProvider p(options());
  ASSERT_TRUE(p.credentials());
  now_ = kT0 + 50min;  // 10 min left: still outside the 5 min margin
  ASSERT_TRUE(p.credentials());
  EXPECT_EQ(server_.stat("credential_gets"), 1);

  server_.control({{"access_key", "ASIAFAKEIMDS0002"}, {"expiration", "2030-01-01T02:00:00Z"}});
  now_ = kT0 + 56min;  // inside the margin: refresh before expiry
  auto c = p.credentials();
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(c->access_key_id, "ASIAFAKEIMDS0002");
  EXPECT_EQ(*c->expiration, kT0 + 2h);
  EXPECT_EQ(server_.stat("credential_gets"), 2);
  EXPECT_EQ(server_.stat("token_puts"), 1);  // the session token is reused
}

TEST_F(Imds, ExpiredCredentialsAreATypedErrorWithoutSecrets) {
  server_.control({{"expiration", "2029-12-31T23:59:00Z"}});
  ImdsCredentialsProvider p(options());
  auto r = p.credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::auth);
  const std::string what = r.error().what();
  EXPECT_NE(what.find("expired"), std::string::npos) << what;
  EXPECT_EQ(what.find(kSecret), std::string::npos);
  EXPECT_EQ(what.find(kToken), std::string::npos);
}

TEST_F(Imds, OutageServesCachedCredentialsUntilTheyExpire) {
  ImdsCredentialsProvider p(options());
  ASSERT_TRUE(p.credentials());
  server_.control({{"fail_credentials", true}});
  now_ = kT0 + 58min;
  auto still = p.credentials();
  ASSERT_TRUE(still) << still.error().what();
  EXPECT_EQ(still->access_key_id, "ASIAFAKEIMDS0001");
  now_ = kT0 + 61min;
  auto expired = p.credentials();
  ASSERT_FALSE(expired);
  EXPECT_NE(expired.error().what().find("expired"), std::string::npos) << expired.error().what();
  EXPECT_EQ(expired.error().what().find(kSecret), std::string::npos);
}

TEST_F(Imds, RevokedTokenIsRenewedOnce) {
  ImdsCredentialsProvider p(options());
  ASSERT_TRUE(p.credentials());
  server_.control({{"revoke_tokens", true}});
  now_ = kT0 + 57min;
  ASSERT_TRUE(p.credentials());
  EXPECT_EQ(server_.stat("token_puts"), 2);
  EXPECT_EQ(server_.stat("unauthorized"), 1);
}

TEST_F(Imds, NoRoleAndFailureCodeAreReported) {
  server_.control({{"code", "AssumeRoleUnauthorizedAccess"}});
  auto failed = ImdsCredentialsProvider(options()).credentials();
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), Errc::auth);
  server_.control({{"role", ""}});
  EXPECT_EQ(ImdsCredentialsProvider(options()).credentials().error(), Errc::not_found);
}

TEST_F(Imds, EndpointOverrideFromEnvironmentFeedsTheChain) {
  const std::string home = ::testing::TempDir() + "firerun-imds-empty-home";
  auto env = [&](const std::string& name) -> std::optional<std::string> {
    if (name == "AWS_EC2_METADATA_SERVICE_ENDPOINT") return server_.endpoint() + "/";
    if (name == "HOME") return home;
    return std::nullopt;
  };
  EXPECT_EQ(ImdsOptions::from_environment(env).endpoint, server_.endpoint());
  auto c = CredentialsChain::make_default(env)->credentials();  // real clock: 2030 expiry is in the future
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(c->source, "imds");
}

TEST(ImdsUnreachable, IsNotFoundSoTheChainMovesOn) {
  ImdsOptions o;
  o.endpoint = "http://127.0.0.1:1";  // nothing listens on port 1
  auto r = ImdsCredentialsProvider(o).credentials();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::not_found);
}

TEST(ImdsDocument, ParsesAndRejectsMalformedDocumentsWithoutEchoingThem) {
  auto ok = parse_imds_credentials(
      R"({"Code":"Success","AccessKeyId":"A","SecretAccessKey":"S3CR3T","Token":"T","Expiration":"2030-01-01T00:00:00.123Z"})");
  ASSERT_TRUE(ok) << ok.error().what();
  EXPECT_EQ(*ok->expiration, kT0);
  for (const char* bad : {"", "S3CR3T", "[]", R"({"AccessKeyId":"A","SecretAccessKey":"S3CR3T","Token":"T"})",
                          R"({"AccessKeyId":"A","SecretAccessKey":"S3CR3T","Token":"T","Expiration":"S3CR3T"})",
                          R"({"AccessKeyId":1,"SecretAccessKey":"S3CR3T","Token":"T","Expiration":"2030-01-01T00:00:00Z"})"}) {
    auto r = parse_imds_credentials(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().what().find("S3CR3T"), std::string::npos) << r.error().what();
  }
  EXPECT_FALSE(parse_iso8601_utc("2030-02-30T00:00:00Z"));
  EXPECT_FALSE(parse_iso8601_utc("2030-01-01 00:00:00Z"));
  EXPECT_TRUE(parse_iso8601_utc("2030-01-01T00:00:00+00:00"));
}
