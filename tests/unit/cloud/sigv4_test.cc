// SigV4 behaviour beyond the published suite: S3 path rules, presigning with a
// session token, hostile input, and that secrets never show up in output.
#include "cloud/aws/sigv4.h"

#include <gtest/gtest.h>

#include <sstream>

using namespace firerun::cloud::aws;
using firerun::Errc;

namespace {

const auto kTime = std::chrono::sys_days{std::chrono::year{2015} / 8 / 30} + std::chrono::hours{12} +
                   std::chrono::minutes{36};
constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr const char* kToken = "AQoDYXdzEPT//////////wEXAMPLEtoken+with/slashes==";

Credentials temp_creds() {
  return {"AKIDEXAMPLE", SecretString(kSecret), SecretString(kToken), std::nullopt, "test"};
}

HttpRequest get(std::string path, std::string host = "examplebucket.s3.amazonaws.com") {
  HttpRequest r;
  r.method = "GET";
  r.path = std::move(path);
  r.headers.push_back({"Host", std::move(host)});
  return r;
}

}  // namespace

TEST(SigV4, StandardServicesNormaliseAndDoubleEncodePaths) {
  EXPECT_EQ(canonical_uri("/a/./b/../c//d/", ServiceRules::standard), "/a/c/d/");
  EXPECT_EQ(canonical_uri("/%41 b", ServiceRules::standard), "/%2541%20b");
  EXPECT_EQ(canonical_uri("", ServiceRules::standard), "/");
  EXPECT_EQ(normalize_path("/../.."), "/");
}

TEST(SigV4, S3KeepsPathSegmentsAndEncodesOnce) {
  EXPECT_EQ(canonical_uri("/my-object//example//photo.user", ServiceRules::s3), "/my-object//example//photo.user");
  EXPECT_EQ(canonical_uri("/a/../b", ServiceRules::s3), "/a/../b");
  // Whether the key arrives raw or already escaped, it is escaped exactly once.
  EXPECT_EQ(canonical_uri("/test$file.text", ServiceRules::s3), "/test%24file.text");
  EXPECT_EQ(canonical_uri("/test%24file.text", ServiceRules::s3), "/test%24file.text");
}

TEST(SigV4, QueryIsDecodedReencodedAndSortedByKeyThenValue) {
  EXPECT_EQ(canonical_query("b=2&a=z&a=y&c"), "a=y&a=z&b=2&c=");
  EXPECT_EQ(canonical_query("k=a b&x=%2f&plus=+"), "k=a%20b&plus=%2B&x=%2F");
  EXPECT_EQ(canonical_query("&&"), "");
  EXPECT_EQ(canonical_query("bad=%zz%"), "bad=%25zz%25");
}

TEST(SigV4, SessionTokenIsSignedByDefault) {
  auto signed_req = sign(get("/"), temp_creds(), {"us-east-1", "ec2"}, kTime);
  ASSERT_TRUE(signed_req) << signed_req.error().what();
  EXPECT_NE(signed_req->canonical_request.find("x-amz-security-token:" + std::string(kToken)), std::string::npos);
  EXPECT_NE(signed_req->authorization.find("SignedHeaders=host;x-amz-date;x-amz-security-token"), std::string::npos);
  ASSERT_NE(signed_req->request.find_header("X-Amz-Security-Token"), nullptr);
}

TEST(SigV4, S3SignsContentSha256AndUnsignedPayload) {
  auto req = get("/key");
  req.method = "PUT";
  req.body = "hello";
  auto hashed = sign(req, temp_creds(), SigningConfig::for_s3("eu-west-1"), kTime);
  ASSERT_TRUE(hashed) << hashed.error().what();
  ASSERT_NE(hashed->request.find_header("x-amz-content-sha256"), nullptr);
  EXPECT_EQ(hashed->request.find_header("x-amz-content-sha256")->value, sha256_hex("hello"));

  req.payload_hash = std::string(kUnsignedPayload);
  auto streamed = sign(req, temp_creds(), SigningConfig::for_s3("eu-west-1"), kTime);
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->request.find_header("x-amz-content-sha256")->value, "UNSIGNED-PAYLOAD");
  EXPECT_TRUE(streamed->canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
}

TEST(SigV4, PresignCarriesTokenAndExpiry) {
  auto url = presign(get("/dir/a b.txt"), temp_creds(), SigningConfig::for_s3("us-east-1"), kTime,
                     std::chrono::seconds(900));
  ASSERT_TRUE(url) << url.error().what();
  EXPECT_TRUE(url->url.starts_with("https://examplebucket.s3.amazonaws.com/dir/a%20b.txt?X-Amz-Algorithm="));
  EXPECT_NE(url->url.find("X-Amz-Expires=900"), std::string::npos);
  EXPECT_NE(url->url.find("X-Amz-Security-Token=" + uri_encode(kToken)), std::string::npos);
  EXPECT_TRUE(url->url.ends_with("&X-Amz-Signature=" + url->signature));

  EXPECT_EQ(presign(get("/"), temp_creds(), SigningConfig::for_s3("us-east-1"), kTime, std::chrono::hours(24 * 8))
                .error(),
            Errc::invalid_argument);
}

TEST(SigV4, RejectsHostileOrIncompleteInput) {
  auto no_host = get("/");
  no_host.headers.clear();
  EXPECT_EQ(sign(no_host, temp_creds(), {"us-east-1", "ec2"}, kTime).error(), Errc::invalid_argument);

  auto bad_name = get("/");
  bad_name.headers.push_back({"X-Evil\r\nInjected", "v"});
  EXPECT_EQ(sign(bad_name, temp_creds(), {"us-east-1", "ec2"}, kTime).error(), Errc::invalid_argument);

  auto stale_date = get("/");
  stale_date.headers.push_back({"X-Amz-Date", "20000101T000000Z"});
  EXPECT_EQ(sign(stale_date, temp_creds(), {"us-east-1", "ec2"}, kTime).error(), Errc::invalid_argument);

  EXPECT_EQ(sign(get("/"), Credentials{}, {"us-east-1", "ec2"}, kTime).error(), Errc::invalid_argument);
  EXPECT_EQ(sign(get("/"), temp_creds(), {"us/east", "ec2"}, kTime).error(), Errc::invalid_argument);
}

TEST(SigV4, ResigningReplacesTheOldAuthorization) {
  auto first = sign(get("/"), temp_creds(), {"us-east-1", "ec2"}, kTime);
  ASSERT_TRUE(first);
  auto second = sign(first->request, temp_creds(), {"us-east-1", "ec2"}, kTime);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->authorization, first->authorization);
  int count = 0;
  for (const auto& h : second->request.headers) count += h.name == "Authorization";
  EXPECT_EQ(count, 1);
}

TEST(SecretsNeverPrinted, SecretStringAndCredentialsRedact) {
  std::ostringstream os;
  os << SecretString(kSecret) << ' ' << temp_creds();
  EXPECT_EQ(os.str().find(kSecret), std::string::npos);
  EXPECT_EQ(os.str().find(kToken), std::string::npos);
  EXPECT_NE(os.str().find("AKIDEXAMPLE"), std::string::npos);
  EXPECT_EQ(fmt::format("{}", SecretString(kSecret)), "<redacted>");
  EXPECT_EQ(fmt::format("{}", SecretString()), "<empty>");
}

TEST(SecretsNeverPrinted, SignedRequestPrintsRedacted) {
  auto signed_req = sign(get("/"), temp_creds(), {"us-east-1", "ec2"}, kTime);
  ASSERT_TRUE(signed_req);
  std::ostringstream os;
  os << signed_req->request;
  EXPECT_EQ(os.str().find(kToken), std::string::npos);
  EXPECT_EQ(os.str().find(signed_req->signature), std::string::npos);
  EXPECT_NE(os.str().find("Host: examplebucket.s3.amazonaws.com"), std::string::npos);
}

TEST(SecretsNeverPrinted, SigningErrorsDoNotEchoSecrets) {
  auto bad = get("/");
  bad.headers.push_back({"Bad Name", kSecret});
  auto r = sign(bad, temp_creds(), {"us-east-1", "ec2"}, kTime);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what().find(kSecret), std::string::npos);
  EXPECT_EQ(r.error().what().find(kToken), std::string::npos);
}

TEST(SecretString, ComparesByValueAndWipesOnMove) {
  SecretString a(kSecret), b(kSecret), c("other");
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == c);
  SecretString moved(std::move(a));
  EXPECT_TRUE(moved == b);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): documented state
}
