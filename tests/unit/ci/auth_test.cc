#include "ci/webhook_auth.h"
#include "ci_test_util.h"
#include "support/conformance.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace firerun::ci {
namespace {

using testing::read_file;

TEST(GitHubSignature, UpstreamVectorPasses) {
  FIRERUN_REQUIRE_CONFORMANCE("github/signature-vectors.json");
  auto doc = boost::json::parse(read_file(::firerun::testing::conformance_dir() / "github/signature-vectors.json"));
  std::string secret(doc.at("secret").as_string());
  std::string payload(doc.at("payload").as_string());
  std::string header(doc.at("expected_header").as_string());
  EXPECT_TRUE(verify_hub_signature_256(header, secret, payload));
  EXPECT_EQ(testing::github_signature(secret, payload), header);
  // One flipped payload byte or a different secret must fail.
  EXPECT_EQ(verify_hub_signature_256(header, secret, payload + " ").error(), Errc::auth);
  EXPECT_EQ(verify_hub_signature_256(header, secret + "x", payload).error(), Errc::auth);
}

TEST(GitHubSignature, UppercaseHexIsTheSameDigest) {
  std::string sig = testing::github_signature("k", "body");
  std::string upper = "sha256=";
  for (char c : sig.substr(7)) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(verify_hub_signature_256(upper, "k", "body"));
}

TEST(GitHubSignature, MalformedHeadersAreAuthErrorsWithoutSecrets) {
  const std::string secret = "super-secret-value";
  const std::string body = "{}";
  const std::string good = testing::github_signature(secret, body);
  const std::string hex = good.substr(7);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "start with"},
      {hex, "start with"},
      {"sha1=" + hex, "start with"},
      {"SHA256=" + hex, "start with"},
      {"sha256=", "64 hex digits"},
      {"sha256=" + hex.substr(1), "64 hex digits"},
      {"sha256=" + hex + "0", "64 hex digits"},
      {"sha256=" + hex + " ", "64 hex digits"},
      {" sha256=" + hex, "start with"},
      {"sha256=" + hex.substr(0, 63) + "g", "non-hex"},
      {"sha256=" + std::string(64, 'z'), "non-hex"},
      {"sha256=" + std::string(64, '0'), "does not match"},
      {"sha256=" + std::string(1 << 16, 'a'), "64 hex digits"},
  };
  for (const auto& [header, expect] : cases) {
    auto r = verify_hub_signature_256(header, secret, body);
    ASSERT_FALSE(r) << header.substr(0, 80);
    EXPECT_EQ(r.error(), Errc::auth);
    EXPECT_NE(r.error().what().find(expect), std::string::npos) << r.error().what();
    EXPECT_EQ(r.error().what().find(secret), std::string::npos);
  }
  EXPECT_TRUE(verify_hub_signature_256(good, secret, body));
}

TEST(GitLabToken, ConstantTimeDigestComparison) {
  TokenDigest token("s3cret");
  EXPECT_TRUE(token.matches("s3cret"));
  EXPECT_FALSE(token.matches("s3cre"));
  EXPECT_FALSE(token.matches("s3cret "));
  EXPECT_FALSE(token.matches(""));
  EXPECT_FALSE(token.matches(std::string("s3cret\0", 7)));
  EXPECT_FALSE(token.matches(std::string(100000, 'a')));
}

TEST(Hmac, KnownAnswer) {
  // RFC 4231 test case 2.
  auto mac = firerun::detail::hmac_sha256("Jefe", "what do ya want for nothing?");
  static const unsigned char expected[] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
                                           0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
                                           0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
  EXPECT_TRUE(std::equal(mac.begin(), mac.end(), std::begin(expected)));
}

}  // namespace
}  // namespace firerun::ci
