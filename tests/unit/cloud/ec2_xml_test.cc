// XML response parsing: every documented response in the conformance folders,
// the EC2-Query protocol output tests, EC2 error envelopes, and hostile input.
#include "cloud/aws/ec2_xml.h"
#include "ec2_test_support.h"

#include <gtest/gtest.h>

using namespace firerun::cloud::aws;
using firerun::Errc;
using firerun::testing::aws_conformance;
using firerun::testing::read_text;
namespace fs = std::filesystem;

namespace {

// Parses a response with the typed parser its root element calls for; returns what was checked.
std::string parse_typed(const std::string& body, const std::string& root) {
  if (root == "RunInstancesResponse") {
    auto r = parse_run_instances(body);
    EXPECT_TRUE(r) << r.error().what();
    return r ? "RunInstances(" + std::to_string(r->instances.size()) + ")" : "";
  }
  if (root == "DescribeInstancesResponse") {
    auto r = parse_describe_instances(body);
    EXPECT_TRUE(r) << r.error().what();
    EXPECT_FALSE(r->reservations.empty());
    return "DescribeInstances";
  }
  if (root == "TerminateInstancesResponse") {
    auto r = parse_terminate_instances(body);
    EXPECT_TRUE(r) << r.error().what();
    EXPECT_FALSE(r->empty());
    return "TerminateInstances";
  }
  if (root == "CreateTagsResponse") {
    auto r = parse_create_tags(body);
    EXPECT_TRUE(r) << r.error().what();
    return "CreateTags";
  }
  if (root == "Response") {
    auto e = parse_ec2_error_response(body, 400);
    EXPECT_TRUE(e.has_value());
    if (e) EXPECT_FALSE(e->code.empty());
    return "Error";
  }
  // Operations firerun does not call (DescribeSpotPriceHistory, CreateLaunchTemplate): well-formed is enough.
  return "generic";
}

}  // namespace

TEST(Ec2XmlConformance, EveryDocumentedResponseParses) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/ec2-responses");
  int parsed = 0, rejected = 0;
  for (const auto& entry : fs::recursive_directory_iterator(aws_conformance() / "ec2-responses")) {
    const auto path = entry.path();
    const auto name = path.filename().string();
    if (!entry.is_regular_file() || (path.extension() != ".xml" && !name.ends_with(".xml.txt"))) continue;
    SCOPED_TRACE(path.string());
    const auto body = read_text(path);
    if (name.find("not-well-formed") != std::string::npos) {
      // The docs' RunInstances Example 15 has an unclosed placeholder element.
      auto r = parse_run_instances(body);
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error(), Errc::protocol);
      EXPECT_NE(r.error().message().find("malformed EC2 RunInstances response"), std::string::npos);
      ++rejected;
      continue;
    }
    auto root = xml_root_name(body);
    ASSERT_TRUE(root) << root.error().what();
    EXPECT_FALSE(parse_typed(body, *root).empty());
    ++parsed;
  }
  EXPECT_GE(parsed, 9);
  EXPECT_GE(rejected, 1);
  std::printf("ec2-responses: %d parsed, %d rejected as documented-malformed\n", parsed, rejected);
}

// botocore's fixtures pair the raw XML with what a parser must extract.
TEST(Ec2XmlConformance, BotocoreExpectationsMatch) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/ec2-responses/botocore");
  const auto dir = aws_conformance() / "ec2-responses/botocore";
  int compared = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".xml") continue;
    auto json_path = fs::path(entry.path()).replace_extension(".json");
    if (!fs::exists(json_path)) continue;
    SCOPED_TRACE(entry.path().string());
    const auto body = read_text(entry.path());
    const auto expected = boost::json::parse(read_text(json_path)).as_object();
    auto check_instance = [&](const Ec2Instance& got, const boost::json::object& want) {
      EXPECT_EQ(got.instance_id, want.at("InstanceId").as_string());
      EXPECT_EQ(got.instance_type, want.at("InstanceType").as_string());
      EXPECT_EQ(got.state, want.at("State").at("Name").as_string());
      if (auto* p = want.if_contains("PrivateIpAddress")) EXPECT_EQ(got.private_ip, p->as_string());
      if (auto* p = want.if_contains("Placement")) EXPECT_EQ(got.availability_zone, p->at("AvailabilityZone").as_string());
      if (auto* tags = want.if_contains("Tags"))
        for (const auto& t : tags->as_array())
          EXPECT_EQ(got.tags.at(std::string(t.at("Key").as_string())), t.at("Value").as_string());
      ++compared;
    };
    if (auto* err = expected.if_contains("Error")) {
      auto e = parse_ec2_error_response(body, 400);
      ASSERT_TRUE(e);
      EXPECT_EQ(e->code, err->at("Code").as_string());
      EXPECT_EQ(e->message, err->at("Message").as_string());
      EXPECT_EQ(e->request_id, expected.at("ResponseMetadata").at("RequestId").as_string());
      ++compared;
    } else if (expected.contains("Reservations")) {
      auto page = parse_describe_instances(body);
      ASSERT_TRUE(page) << page.error().what();
      const auto& want = expected.at("Reservations").as_array();
      ASSERT_EQ(page->reservations.size(), want.size());
      for (std::size_t i = 0; i < want.size(); ++i) {
        const auto& wi = want[i].at("Instances").as_array();
        ASSERT_EQ(page->reservations[i].instances.size(), wi.size());
        EXPECT_EQ(page->reservations[i].reservation_id, want[i].at("ReservationId").as_string());
        for (std::size_t j = 0; j < wi.size(); ++j) check_instance(page->reservations[i].instances[j], wi[j].as_object());
      }
    } else if (expected.contains("Instances") && expected.contains("ReservationId")) {
      auto r = parse_run_instances(body);
      ASSERT_TRUE(r) << r.error().what();
      EXPECT_EQ(r->reservation_id, expected.at("ReservationId").as_string());
      const auto& wi = expected.at("Instances").as_array();
      ASSERT_EQ(r->instances.size(), wi.size());
      for (std::size_t j = 0; j < wi.size(); ++j) check_instance(r->instances[j], wi[j].as_object());
    } else {
      ASSERT_TRUE(parse_xml(body, "test")) << "well-formed";
    }
  }
  EXPECT_GE(compared, 3);
}

TEST(Ec2XmlConformance, ProtocolOutputTests) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/protocol-tests/ec2-query-output.json");
  auto suites = boost::json::parse(read_text(aws_conformance() / "protocol-tests/ec2-query-output.json")).as_array();
  int cases = 0;
  for (const auto& suite : suites) {
    for (const auto& c : suite.at("cases").as_array()) {
      SCOPED_TRACE(std::string(c.at("id").as_string()));
      const std::string body(c.at("response").at("body").as_string());
      const auto status = c.at("response").at("status_code").as_int64();
      if (auto* code = c.as_object().if_contains("errorCode")) {
        auto e = parse_ec2_error_response(body, status);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->code, code->as_string());
        EXPECT_EQ(e->message, c.at("error").as_object().contains("Message") ? c.at("error").at("Message").as_string() : "Hi");
        EXPECT_EQ(e->http_status, status);
      } else {
        auto root = xml_root_name(body);
        ASSERT_TRUE(root) << root.error().what();
        EXPECT_EQ(*root, std::string(c.at("given").at("name").as_string()) + "Response");
      }
      ++cases;
    }
  }
  EXPECT_GT(cases, 20);
}

TEST(Ec2Xml, TruncatedDocumentsAreProtocolErrors) {
  const std::string doc =
      "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><reservationSet><item>"
      "<reservationId>r-1</reservationId><instancesSet><item><instanceId>i-1</instanceId><instanceType>m5.large"
      "</instanceType><instanceState><code>16</code><name>running</name></instanceState></item></instancesSet>"
      "</item></reservationSet></DescribeInstancesResponse>";
  ASSERT_TRUE(parse_describe_instances(doc));
  for (std::size_t n = 0; n < doc.size(); ++n) {
    auto r = parse_describe_instances(doc.substr(0, n));
    ASSERT_FALSE(r) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(r.error(), Errc::protocol);
  }
}

TEST(Ec2Xml, HostileDocuments) {
  // Billion laughs: rejected before the reader sees it, and nothing expands.
  std::string laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">";
  for (int i = 1; i < 10; ++i) {
    laughs += "<!ENTITY lol" + std::to_string(i) + " \"";
    for (int j = 0; j < 10; ++j) laughs += "&lol" + std::string(i == 1 ? "" : std::to_string(i - 1)) + ";";
    laughs += "\">";
  }
  laughs += "]><CreateTagsResponse><return>&lol9;</return></CreateTagsResponse>";
  auto r = parse_create_tags(laughs);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::protocol);
  EXPECT_NE(r.error().message().find("DTD"), std::string::npos);

  // Entity references without a DTD are not expanded either (only the five predefined ones exist).
  auto undefined = parse_create_tags("<CreateTagsResponse><return>&lol9;</return></CreateTagsResponse>");
  EXPECT_FALSE(undefined);

  auto xxe = parse_xml("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>", "t");
  EXPECT_FALSE(xxe);

  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "<a>";
  auto d = parse_xml(deep, "t");
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("nested deeper"), std::string::npos);

  EXPECT_FALSE(parse_xml("", "t"));
  EXPECT_FALSE(parse_xml("not xml at all", "t"));
  EXPECT_FALSE(parse_xml(std::string("<a>\0</a>", 8), "t"));
  EXPECT_FALSE(parse_xml("<a></a><b></b>", "t"));
  EXPECT_FALSE(parse_xml("<a></b>", "t"));
  XmlLimits tiny;
  tiny.max_bytes = 10;
  EXPECT_FALSE(parse_xml("<aaaaaaaaaaaaaaaaa/>", "t", tiny));

  auto wrong_root = parse_run_instances("<TerminateInstancesResponse/>");
  ASSERT_FALSE(wrong_root);
  EXPECT_NE(wrong_root.error().message().find("expected <RunInstancesResponse>"), std::string::npos);

  auto bad_time = parse_run_instances(
      "<RunInstancesResponse><instancesSet><item><instanceId>i-1</instanceId><launchTime>yesterday</launchTime>"
      "</item></instancesSet></RunInstancesResponse>");
  ASSERT_FALSE(bad_time);
  EXPECT_EQ(bad_time.error(), Errc::protocol);

  auto bad_types = parse_describe_instance_types(
      "<DescribeInstanceTypesResponse><instanceTypeSet><item><instanceType>x</instanceType><vCpuInfo><defaultVCpus>"
      "-1</defaultVCpus></vCpuInfo></item></instanceTypeSet></DescribeInstanceTypesResponse>");
  EXPECT_FALSE(bad_types);
}

TEST(Ec2Xml, PredefinedEntitiesAndTags) {
  auto r = parse_run_instances(
      "<RunInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><reservationId>r-1</reservationId>"
      "<instancesSet><item><instanceId>i-1</instanceId><instanceLifecycle>spot</instanceLifecycle>"
      "<tagSet><item><key>a&amp;b</key><value>&lt;c&gt;</value></item></tagSet>"
      "<launchTime>2026-01-07T12:19:54.000Z</launchTime></item></instancesSet></RunInstancesResponse>");
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->instances[0].tags.at("a&b"), "<c>");
  EXPECT_EQ(r->instances[0].lifecycle, "spot");
  EXPECT_TRUE(r->instances[0].launch_time.has_value());
}
