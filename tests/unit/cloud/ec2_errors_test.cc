// Every documented EC2 error code maps to a typed error; the codes that drive
// behaviour (capacity, throttling, auth) map to what the provider relies on.
#include "cloud/aws/ec2_errors.h"
#include "cloud/aws/ec2_xml.h"
#include "ec2_test_support.h"

#include <gtest/gtest.h>

using namespace firerun::cloud::aws;
using firerun::Errc;

TEST(Ec2Errors, KeyCodes) {
  EXPECT_EQ(classify_ec2_error("InsufficientInstanceCapacity"), Ec2ErrorKind::capacity);
  EXPECT_EQ(classify_ec2_error("InsufficientHostCapacity"), Ec2ErrorKind::capacity);
  EXPECT_EQ(classify_ec2_error("SpotMaxPriceTooLow"), Ec2ErrorKind::capacity);
  EXPECT_EQ(classify_ec2_error("RequestLimitExceeded"), Ec2ErrorKind::throttling);
  EXPECT_EQ(classify_ec2_error("UnauthorizedOperation"), Ec2ErrorKind::auth);
  EXPECT_EQ(classify_ec2_error("AuthFailure"), Ec2ErrorKind::auth);
  EXPECT_EQ(classify_ec2_error("SignatureDoesNotMatch"), Ec2ErrorKind::auth);
  EXPECT_EQ(classify_ec2_error("VcpuLimitExceeded"), Ec2ErrorKind::quota);
  EXPECT_EQ(classify_ec2_error("MaxSpotInstanceCountExceeded"), Ec2ErrorKind::quota);
  EXPECT_EQ(classify_ec2_error("InvalidInstanceID.NotFound"), Ec2ErrorKind::not_found);
  EXPECT_EQ(classify_ec2_error("InvalidInstanceID.Malformed"), Ec2ErrorKind::invalid_request);
  EXPECT_EQ(classify_ec2_error("InternalError"), Ec2ErrorKind::server);
  EXPECT_EQ(classify_ec2_error("Unavailable"), Ec2ErrorKind::server);
  EXPECT_EQ(classify_ec2_error("DryRunOperation"), Ec2ErrorKind::dry_run);
  EXPECT_EQ(classify_ec2_error("SomethingNew"), Ec2ErrorKind::invalid_request);
  EXPECT_EQ(errc_for(Ec2ErrorKind::auth), Errc::auth);
  EXPECT_EQ(errc_for(Ec2ErrorKind::capacity), Errc::limit_exceeded);
  EXPECT_EQ(errc_for(Ec2ErrorKind::throttling), Errc::limit_exceeded);
  EXPECT_TRUE(is_retryable(Ec2ErrorKind::throttling));
  EXPECT_FALSE(is_retryable(Ec2ErrorKind::capacity));
}

TEST(Ec2Errors, CapacityMessageIsRecognisable) {
  Ec2Error e{"InsufficientInstanceCapacity", "no m5.large", "req-1", 500, Ec2ErrorKind::capacity};
  auto err = e.to_error("RunInstances");
  EXPECT_EQ(err, Errc::limit_exceeded);
  EXPECT_EQ(err.message().rfind("insufficient capacity: EC2 RunInstances: InsufficientInstanceCapacity", 0), 0u);
  EXPECT_NE(err.message().find("request req-1"), std::string::npos);
}

TEST(Ec2ErrorsConformance, EveryDocumentedCodeIsMapped) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/ec2-responses/aws-docs/ec2-error-codes.json");
  auto codes = boost::json::parse(firerun::testing::read_text(firerun::testing::aws_conformance() /
                                                              "ec2-responses/aws-docs/ec2-error-codes.json"))
                   .as_array();
  std::map<std::string, int> per_kind;
  for (const auto& entry : codes) {
    const std::string code(entry.at("code").as_string());
    const std::string category(entry.at("category").as_string());
    SCOPED_TRACE(code);
    auto kind = classify_ec2_error(code);
    ++per_kind[std::string(to_string(kind))];
    // Round trip through the wire envelope: the parser recovers the code and the kind.
    const std::string xml = "<Response><Errors><Error><Code>" + code +
                            "</Code><Message>m</Message></Error></Errors><RequestID>r</RequestID></Response>";
    auto parsed = parse_ec2_error_response(xml, category == "server" ? 500 : 400);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->code, code);
    EXPECT_EQ(parsed->kind, kind);
    auto err = parsed->to_error("Test");
    if (kind == Ec2ErrorKind::dry_run) continue;
    EXPECT_NE(err.errc(), Errc::internal);
    EXPECT_NE(err.errc(), Errc::ok);
    // Server-side codes either warrant a retry or another capacity pool, never a hard client error.
    if (category == "server") {
      EXPECT_TRUE(is_retryable(kind) || kind == Ec2ErrorKind::capacity) << to_string(kind);
    }
    if (code.find("NotFound") != std::string::npos) {
      EXPECT_EQ(kind, Ec2ErrorKind::not_found);
    }
    if (code.starts_with("Insufficient")) {
      EXPECT_EQ(kind, Ec2ErrorKind::capacity);
    }
  }
  std::printf("ec2-error-codes: %zu codes;", codes.size());
  for (const auto& [k, n] : per_kind) std::printf(" %s=%d", k.c_str(), n);
  std::printf("\n");
  EXPECT_GE(codes.size(), 400u);
}
