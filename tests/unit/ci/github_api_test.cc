// GitHub App JWTs, installation tokens, JIT configs, runner list/delete and
// housekeeping against contract_server.py (the documented REST subset).
#include "ci/github/app_jwt.h"
#include "ci/github/github_api.h"
#include "ci_test_util.h"
#include "contract_server.h"

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <regex>
#include <thread>

namespace firerun::ci::github {
namespace {

using namespace firerun::ci::testing;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kAppId = "123456";
constexpr const char* kPlainToken = "ghp_plaintokenfortests0123456789abcdef";

const RsaKeyPair& test_key() {
  static const RsaKeyPair key = make_rsa_key();
  return key;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t at; (at = s.find(sep, start)) != std::string::npos; start = at + 1) out.push_back(s.substr(start, at - start));
  out.push_back(s.substr(start));
  return out;
}

bool verify_rs256(const std::string& public_pem, const std::string& data, const std::string& signature) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size())),
                                                &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr),
                                                          &EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!key || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

TEST(GithubJwt, StructureClaimsAndSignatureVerifyWithThePublicKey) {
  auto key = AppPrivateKey::from_pem(SecretString(test_key().private_pem));
  ASSERT_TRUE(key) << key.error().what();
  AppJwtClaims claims;
  claims.app_id = kAppId;
  claims.now = std::chrono::system_clock::from_time_t(1700000000);
  auto jwt = make_app_jwt(*key, claims);
  ASSERT_TRUE(jwt) << jwt.error().what();
  auto parts = split(std::string(jwt->reveal()), '.');
  ASSERT_EQ(parts.size(), 3u);
  auto header = boost::json::parse(base64url_decode(parts[0]).value()).as_object();
  auto payload = boost::json::parse(base64url_decode(parts[1]).value()).as_object();
  EXPECT_EQ(header.at("alg"), "RS256");
  EXPECT_EQ(header.at("typ"), "JWT");
  EXPECT_EQ(payload.at("iat").to_number<std::int64_t>(), 1700000000 - 60);
  EXPECT_EQ(payload.at("exp").to_number<std::int64_t>(), 1700000000 + 540);
  EXPECT_LE(payload.at("exp").to_number<std::int64_t>() - 1700000000, 600);
  EXPECT_EQ(payload.at("iss").to_number<std::int64_t>(), 123456);  // numeric app id as a JSON number
  auto signature = base64url_decode(parts[2]).value();
  EXPECT_EQ(signature.size(), 256u);
  EXPECT_TRUE(verify_rs256(test_key().public_pem, parts[0] + "." + parts[1], signature));
  // A changed payload must not verify: the signature covers header.payload.
  auto forged = base64url_encode(R"({"iat":1,"exp":2,"iss":1})");
  EXPECT_FALSE(verify_rs256(test_key().public_pem, parts[0] + "." + forged, signature));
  for (const auto& p : parts) EXPECT_EQ(p.find_first_of("+/="), std::string::npos) << "base64url without padding";
}

TEST(GithubJwt, RejectsBadClaimsAndKeysWithoutEchoingKeyMaterial) {
  auto key = AppPrivateKey::from_pem(SecretString(test_key().private_pem)).value();
  AppJwtClaims claims;
  claims.app_id = kAppId;
  claims.lifetime = std::chrono::seconds(601);
  EXPECT_EQ(make_app_jwt(key, claims).error().errc(), Errc::invalid_argument);
  claims.lifetime = std::chrono::seconds(600);
  EXPECT_TRUE(make_app_jwt(key, claims));
  claims.app_id = "";
  EXPECT_EQ(make_app_jwt(key, claims).error().errc(), Errc::invalid_argument);
  claims.app_id = "Iv1.abcdef";  // a client id goes out as a string
  auto jwt = make_app_jwt(key, claims).value();
  auto payload = boost::json::parse(base64url_decode(split(std::string(jwt.reveal()), '.')[1]).value()).as_object();
  EXPECT_EQ(payload.at("iss"), "Iv1.abcdef");

  const std::string garbage = "-----BEGIN RSA PRIVATE KEY-----\nSECRETKEYMATERIALxyz\n-----END RSA PRIVATE KEY-----\n";
  auto bad = AppPrivateKey::from_pem(SecretString(garbage));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().errc(), Errc::invalid_argument);
  EXPECT_THAT(bad.error().what(), Not(HasSubstr("SECRETKEYMATERIAL")));
  auto ec = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), ec.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  EXPECT_THAT(AppPrivateKey::from_pem(SecretString(std::string(data, n))).error().what(), HasSubstr("not an RSA key"));
}

TEST(GithubJwt, KeyFromFileAndFromEnvWithEscapedNewlines) {
  TempDir dir;
  write_file(dir.path() / "app.pem", test_key().private_pem);
  EXPECT_TRUE(AppPrivateKey::from_file((dir.path() / "app.pem").string()));
  EXPECT_EQ(AppPrivateKey::from_file((dir.path() / "missing.pem").string()).error().errc(), Errc::not_found);
  std::string escaped;
  for (char c : test_key().private_pem) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
  ::setenv("FIRERUN_TEST_APP_KEY", escaped.c_str(), 1);
  EXPECT_TRUE(AppPrivateKey::from_env("FIRERUN_TEST_APP_KEY"));
  ::unsetenv("FIRERUN_TEST_APP_KEY");
  EXPECT_EQ(AppPrivateKey::from_env("FIRERUN_TEST_APP_KEY").error().errc(), Errc::not_found);
}

TEST(GithubJwt, Base64UrlRoundTripsAndRejectsForeignCharacters) {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\xff\xfe\x00\x01", 4)})
    EXPECT_EQ(base64url_decode(base64url_encode(s)).value(), s);
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_FALSE(base64url_decode("ab+c"));
  EXPECT_FALSE(base64url_decode("abc="));
  EXPECT_FALSE(base64url_decode("a"));
}

TEST(GithubParsers, TimestampsLinkHeadersAndRunnerNames) {
  EXPECT_EQ(std::chrono::system_clock::to_time_t(parse_utc_timestamp("2016-07-11T22:14:10Z").value()), 1468275250);
  EXPECT_TRUE(parse_utc_timestamp("2016-07-11T22:14:10.123Z"));
  EXPECT_FALSE(parse_utc_timestamp("2016-07-11 22:14:10"));
  EXPECT_FALSE(parse_utc_timestamp("2016-13-11T22:14:10Z"));
  EXPECT_EQ(link_next(R"(<https://api.github.com/resource?page=2>; rel="next", <https://api.github.com/resource?page=5>; rel="last")"),
            "https://api.github.com/resource?page=2");
  EXPECT_EQ(link_next(R"(<https://x/?page=1>; rel="prev", <https://x/?page=3>; rel="next")"), "https://x/?page=3");
  EXPECT_EQ(link_next(R"(<https://x/?page=5>; rel="last")"), std::nullopt);
  EXPECT_EQ(link_next("garbage<"), std::nullopt);
  EXPECT_TRUE(std::regex_match(make_runner_name(42), std::regex("firerun-42-[0-9a-f]{8}")));
  EXPECT_NE(make_runner_name(42), make_runner_name(42));
}

TEST(GithubParsers, DocumentedExamplesParse) {
  FIRERUN_REQUIRE_CONFORMANCE("github/rest-runners-subset.json");
  auto spec = boost::json::parse(read_file(firerun::testing::conformance_dir() / "github/rest-runners-subset.json"));
  const auto& examples = spec.at("components").at("examples");
  auto jit = parse_jitconfig_response(boost::json::serialize(examples.at("runner-jitconfig").at("value")));
  ASSERT_TRUE(jit) << jit.error().what();
  EXPECT_EQ(jit->runner_id, 23u);
  EXPECT_EQ(jit->encoded_jit_config.reveal(), "abc123");
  auto list = parse_runner_list(boost::json::serialize(examples.at("runner-paginated").at("value")));
  ASSERT_TRUE(list) << list.error().what();
  EXPECT_EQ(list->second, 2u);
  ASSERT_EQ(list->first.size(), 2u);
  EXPECT_EQ(list->first[1].name, "mac_runner");
  EXPECT_THAT(list->first[1].labels, ::testing::ElementsAre("self-hosted", "X64", "macOS", "no-gpu"));
  auto token = parse_installation_token(boost::json::serialize(examples.at("installation-token").at("value")));
  ASSERT_TRUE(token) << token.error().what();
  EXPECT_EQ(std::chrono::system_clock::to_time_t(token->expires_at), 1468275250);
  auto broken = parse_runner_list(R"({"total_count": 1, "runners": [{"id": "x"}]})");
  EXPECT_EQ(broken.error().errc(), Errc::protocol);
  EXPECT_THAT(broken.error().what(), HasSubstr("runners[0].id"));
}

// --- against the contract server -------------------------------------------------

class GithubApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FIRERUN_REQUIRE_CONFORMANCE("github/rest-runners-subset.json");
    write_file(dir_.path() / "app.pub.pem", test_key().public_pem);
    server_ = std::make_unique<ContractServer>(std::vector<std::string>{
        "github", firerun::testing::conformance_dir().string(), kAppId, (dir_.path() / "app.pub.pem").string(),
        kPlainToken});
    ASSERT_TRUE(server_->running());
  }

  GithubApiConfig base_config() const {
    GithubApiConfig config;
    config.rest.base_url = server_->endpoint();
    config.rest.retry.initial_backoff = std::chrono::milliseconds(10);
    config.rest.retry.max_backoff = std::chrono::milliseconds(50);
    return config;
  }
  std::unique_ptr<GithubApi> app_client(std::chrono::seconds margin = std::chrono::seconds(300)) const {
    auto config = base_config();
    config.app = AppCredentials{kAppId, AppPrivateKey::from_pem(SecretString(test_key().private_pem)).value(), 77};
    config.token_refresh_margin = margin;
    return GithubApi::create(std::move(config)).value();
  }
  std::unique_ptr<GithubApi> token_client(std::string token = kPlainToken) const {
    auto config = base_config();
    config.token = SecretString(std::move(token));
    return GithubApi::create(std::move(config)).value();
  }
  void seed(const std::string& scope, const std::string& name, bool busy = false) {
    server_->control({{"runners", boost::json::array{{{"scope", scope}, {"name", name}, {"busy", busy}}}}});
  }

  TempDir dir_;
  std::unique_ptr<ContractServer> server_;
};

TEST_F(GithubApiTest, JitConfigRequestIsExactlyTheDocumentedBody) {
  auto api = app_client();
  JitConfigRequest request;
  request.scope = {"octo-org", "hello-world"};
  request.job_id = 4242;
  request.runner_group_id = 3;
  request.labels = {"self-hosted", "firerun/cpu=4"};
  auto config = api->generate_jitconfig(request);
  ASSERT_TRUE(config) << config.error().what();
  EXPECT_TRUE(std::regex_match(config->runner_name, std::regex("firerun-4242-[0-9a-f]{8}")));
  EXPECT_GT(config->runner_id, 0u);

  auto requests = server_->requests();
  ASSERT_EQ(requests.size(), 2u);  // installation token, then generate-jitconfig
  EXPECT_EQ(requests[0].at("path"), "/app/installations/77/access_tokens");
  EXPECT_EQ(requests[0].at("status"), 201);
  const auto& jit = requests[1].as_object();
  EXPECT_EQ(jit.at("method"), "POST");
  EXPECT_EQ(jit.at("path"), "/repos/octo-org/hello-world/actions/runners/generate-jitconfig");
  EXPECT_EQ(jit.at("status"), 201);
  auto body = boost::json::parse(jit.at("body").as_string()).as_object();
  boost::json::object expected{{"name", config->runner_name},
                               {"runner_group_id", 3},
                               {"labels", boost::json::array{"self-hosted", "firerun/cpu=4"}},
                               {"work_folder", "_work"}};
  EXPECT_EQ(body, expected);
  const auto& headers = jit.at("headers").as_object();
  EXPECT_EQ(headers.at("accept"), "application/vnd.github+json");
  EXPECT_EQ(headers.at("x-github-api-version"), "2022-11-28");
  EXPECT_EQ(headers.at("content-type"), "application/json");
  EXPECT_TRUE(headers.at("user-agent").as_string().starts_with("firerun/"));
  EXPECT_TRUE(headers.at("authorization").as_string().starts_with("Bearer ghs_"));

  // The JIT config is what the server encoded for this runner.
  auto decoded = boost::json::parse(std::string(base64url_decode([&] {
                                                  std::string s(config->encoded_jit_config.reveal());
                                                  for (auto& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
                                                  while (!s.empty() && s.back() == '=') s.pop_back();
                                                  return s;
                                                }())
                                                    .value()));
  EXPECT_EQ(std::string(decoded.at("runner").as_string()), config->runner_name);

  // Organisation scope uses the org path.
  request.scope = {"octo-org", ""};
  ASSERT_TRUE(api->generate_jitconfig(request));
  EXPECT_EQ(server_->requests().back().at("path"), "/orgs/octo-org/actions/runners/generate-jitconfig");
}

TEST_F(GithubApiTest, JitConfigValidatesLabelsBeforeCalling) {
  auto api = token_client();
  JitConfigRequest request;
  request.scope = {"o", "r"};
  EXPECT_EQ(api->generate_jitconfig(request).error().errc(), Errc::invalid_argument);  // no labels
  request.labels.assign(101, "x");
  EXPECT_EQ(api->generate_jitconfig(request).error().errc(), Errc::invalid_argument);
  EXPECT_TRUE(server_->requests().empty());
}

TEST_F(GithubApiTest, InstallationTokenIsCachedUntilNearExpiry) {
  auto api = app_client();
  RunnerScope scope{"o", "r"};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(api->list_runners(scope));
  EXPECT_EQ(server_->state().at("tokens_issued"), 1);

  // Tokens living 2 s with a 1 s refresh margin: after 1.2 s the client must mint a new one
  // (the server would reject the old one a moment later).
  server_->control({{"token_ttl", 2}});
  auto short_lived = app_client(std::chrono::seconds(1));
  ASSERT_TRUE(short_lived->list_runners(scope));
  ASSERT_TRUE(short_lived->list_runners(scope));
  EXPECT_EQ(server_->state().at("tokens_issued"), 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  ASSERT_TRUE(short_lived->list_runners(scope));
  EXPECT_EQ(server_->state().at("tokens_issued"), 3);
}

TEST_F(GithubApiTest, ListFollowsLinkPagesAndFallsBackToPageNumbers) {
  for (int i = 0; i < 230; ++i) seed("repos/o/r", "runner-" + std::to_string(i));
  auto api = token_client();
  auto runners = api->list_runners({"o", "r"});
  ASSERT_TRUE(runners) << runners.error().what();
  ASSERT_EQ(runners->size(), 230u);
  EXPECT_EQ(runners->front().name, "runner-0");
  EXPECT_EQ(runners->back().name, "runner-229");
  auto requests = server_->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].at("query"), "per_page=100");
  EXPECT_EQ(requests[1].at("query"), "per_page=100&page=2");

  server_->control({{"omit_link", true}});
  runners = api->list_runners({"o", "r"});
  ASSERT_TRUE(runners);
  EXPECT_EQ(runners->size(), 230u);
  EXPECT_EQ(server_->requests().size(), 6u);
}

TEST_F(GithubApiTest, DeleteRunnerAndHousekeepingOnlyTouchStaleFirerunRunners) {
  seed("orgs/acme", "firerun-1-aaaaaaaa");
  seed("orgs/acme", "firerun-2-bbbbbbbb", /*busy=*/true);
  seed("orgs/acme", "firerun-3-cccccccc");
  seed("orgs/acme", "build-box");
  auto api = token_client();
  RunnerScope org{"acme", ""};
  auto report = api->delete_stale_runners(org, {"firerun-3-cccccccc"});
  ASSERT_TRUE(report) << report.error().what();
  EXPECT_THAT(report->deleted, ::testing::ElementsAre("firerun-1-aaaaaaaa"));
  ASSERT_EQ(report->failed.size(), 1u);  // the server refuses to delete a busy runner (422)
  EXPECT_EQ(report->failed[0].first, "firerun-2-bbbbbbbb");
  EXPECT_THAT(report->failed[0].second, HasSubstr("HTTP 422"));
  EXPECT_EQ(report->kept, 1u);
  auto left = api->list_runners(org).value();
  std::vector<std::string> names;
  for (const auto& r : left) names.push_back(r.name);
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("firerun-2-bbbbbbbb", "firerun-3-cccccccc", "build-box"));

  const auto id = left[0].id;
  EXPECT_TRUE(api->delete_runner(org, left[2].id));  // build-box, by id
  EXPECT_TRUE(api->delete_runner(org, 999999));      // already gone counts as deleted
  EXPECT_EQ(api->delete_runner(org, id).error().errc(), Errc::invalid_argument);  // busy: 422
}

TEST_F(GithubApiTest, WrongTokenIsAnAuthErrorWithoutTheToken) {
  auto api = token_client("ghp_wrongtoken_SHOULD_NOT_LEAK");
  auto result = api->list_runners({"o", "r"});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().errc(), Errc::auth);
  EXPECT_FALSE(is_retryable(result.error()));
  EXPECT_THAT(result.error().what(), HasSubstr("HTTP 401"));
  EXPECT_THAT(result.error().what(), Not(HasSubstr("SHOULD_NOT_LEAK")));
  EXPECT_EQ(server_->requests().size(), 1u);  // not retried
}

// The server enforces every operation in the subset file; each one is exercised here.
TEST_F(GithubApiTest, ContractServerEnforcesEveryDocumentedOperation) {
  auto spec = boost::json::parse(read_file(firerun::testing::conformance_dir() / "github/rest-runners-subset.json"));
  auto api = app_client();
  const std::string installation_token(api->access_token().value().reveal());
  AppJwtClaims claims;
  claims.app_id = kAppId;
  const std::string jwt(
      make_app_jwt(AppPrivateKey::from_pem(SecretString(test_key().private_pem)).value(), claims).value().reveal());

  int operations = 0;
  for (const auto& [path_template, item] : spec.at("paths").as_object()) {
    for (const auto& [method, op_value] : item.as_object()) {
      if (method == "parameters") continue;
      const auto& op = op_value.as_object();
      ++operations;
      SCOPED_TRACE(std::string(op.at("operationId").as_string()));
      seed("repos/octo/hello", "contract-" + std::to_string(operations));
      seed("orgs/octo", "contract-" + std::to_string(operations));
      const auto state = server_->state();
      auto last_id = [&](const char* scope) {
        return std::to_string(state.at("runners").at(scope).as_array().back().at("id").to_number<std::uint64_t>());
      };
      std::string path(path_template);
      const bool org = path.starts_with("/orgs/");
      auto replace = [&](const std::string& from, const std::string& to) {
        if (auto at = path.find(from); at != std::string::npos) path.replace(at, from.size(), to);
      };
      replace("{owner}", "octo");
      replace("{repo}", "hello");
      replace("{org}", "octo");
      replace("{installation_id}", "77");
      replace("{runner_id}", last_id(org ? "orgs/octo" : "repos/octo/hello"));

      http::Request good;
      good.method = std::string(method);
      for (auto& c : good.method) c = static_cast<char>(std::toupper(c));
      good.path = path;
      const bool app = path.starts_with("/app/");
      good.headers = {{"Accept", "application/vnd.github+json"},
                      {"X-GitHub-Api-Version", "2022-11-28"},
                      {"User-Agent", "firerun-test"},
                      {"Authorization", "Bearer " + (app ? jwt : installation_token)}};
      std::optional<boost::json::object> example_body;
      if (op.contains("requestBody")) {
        const auto& content = op.at("requestBody").at("content").at("application/json");
        example_body = content.at("examples").as_object().begin()->value().at("value").as_object();
        if (example_body->contains("name"))
          (*example_body)["name"] = "contract-body-" + std::to_string(operations);
        good.headers.push_back({"Content-Type", "application/json"});
        good.body = boost::json::serialize(*example_body);
      }
      auto documented = [&](long status) { return op.at("responses").as_object().contains(std::to_string(status)); };

      // The documented request succeeds with a documented success status.
      auto ok = server_->raw(good);
      EXPECT_TRUE(ok.status >= 200 && ok.status < 300 && documented(ok.status)) << ok.status << " " << ok.body;

      // No / wrong credentials -> 401.
      auto unauthenticated = good;
      std::erase_if(unauthenticated.headers, [](const http::Header& h) { return h.name == "Authorization"; });
      EXPECT_EQ(server_->raw(unauthenticated).status, 401);
      auto wrong = good;
      for (auto& h : wrong.headers)
        if (h.name == "Authorization") h.value = app ? "Bearer " + installation_token : "Bearer " + jwt;
      EXPECT_EQ(server_->raw(wrong).status, 401);

      // A method the path does not document -> 405.
      auto bad_method = good;
      bad_method.method = "PATCH";
      EXPECT_EQ(server_->raw(bad_method).status, 405);

      // Missing required body fields and wrong types -> 422.
      if (example_body) {
        const auto& schema = op.at("requestBody").at("content").at("application/json").at("schema").as_object();
        if (schema.contains("required")) {
          for (const auto& field : schema.at("required").as_array()) {
            auto missing = good;
            auto body = *example_body;
            body.erase(field.as_string());
            missing.body = boost::json::serialize(body);
            EXPECT_EQ(server_->raw(missing).status, 422) << "without " << field;
            auto mistyped = good;
            body = *example_body;
            body[field.as_string()] = boost::json::object{{"unexpected", true}};
            mistyped.body = boost::json::serialize(body);
            EXPECT_EQ(server_->raw(mistyped).status, 422) << "mistyped " << field;
          }
        }
      }
    }
  }
  EXPECT_GE(operations, 15);  // the subset lists 17 operations today

  http::Request unknown;
  unknown.method = "GET";
  unknown.path = "/repos/octo/hello/actions/secrets";
  unknown.headers = {{"Authorization", "Bearer " + installation_token}};
  EXPECT_EQ(server_->raw(unknown).status, 404);
}

}  // namespace
}  // namespace firerun::ci::github
