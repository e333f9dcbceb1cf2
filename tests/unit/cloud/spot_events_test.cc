// Spot interruption notices from every file in the conformance events/ folder,
// plus hostile input.
#include "cloud/aws/spot_events.h"
#include "ec2_test_support.h"

#include <gtest/gtest.h>

using namespace firerun::cloud::aws;
using firerun::Errc;
namespace fs = std::filesystem;

TEST(SpotEventsConformance, EveryEventFile) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/events");
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(firerun::testing::aws_conformance() / "events")) {
    const auto name = entry.path().filename().string();
    if (name == "README.md") continue;
    SCOPED_TRACE(name);
    const auto body = firerun::testing::read_text(entry.path());
    if (name.starts_with("imds-spot-instance-action-")) {
      auto r = parse_imds_spot_instance_action(body);
      ASSERT_TRUE(r) << r.error().what();
      auto action = name.substr(26, name.size() - 26 - 5);  // between the prefix and ".json"
      EXPECT_EQ(to_string(r->action), action);
      ASSERT_TRUE(r->time.has_value());
      // Every documented time is 2017-09-18T08:22:00Z.
      EXPECT_EQ(r->time->time_since_epoch(), std::chrono::seconds(1505722920));
    } else if (name == "imds-spot-termination-time.txt") {
      auto r = parse_imds_termination_time(body);
      ASSERT_TRUE(r) << r.error().what();
      EXPECT_EQ(r->action, SpotAction::terminate);
      EXPECT_EQ(r->time->time_since_epoch(), std::chrono::seconds(1420480920));
    } else if (name.starts_with("imds-")) {
      // Not a spot action document (e.g. the rebalance recommendation): rejected, not misread.
      auto r = parse_imds_spot_instance_action(body);
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error(), Errc::protocol);
    } else {
      auto json = boost::json::parse(body).as_object();
      auto r = parse_spot_interruption_event(body);
      if (json.at("detail-type").as_string() == "EC2 Spot Instance Interruption Warning") {
        ASSERT_TRUE(r) << r.error().what();
        EXPECT_EQ(r->instance_id, json.at("detail").at("instance-id").as_string());
        EXPECT_EQ(r->region, json.at("region").as_string());
        // The docs' example keeps the placeholders "action" and "yyyy-mm-ddThh:mm:ssZ".
        EXPECT_EQ(r->action, SpotAction::unknown);
        EXPECT_FALSE(r->time.has_value());
        EXPECT_EQ(r->availability_zone, "us-east-2a");
      } else {
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error(), Errc::invalid_argument);
        EXPECT_NE(r.error().message().find("not a spot interruption"), std::string::npos);
      }
    }
    ++checked;
  }
  EXPECT_GE(checked, 7);
}

TEST(SpotEvents, RealisticEvent) {
  auto r = parse_spot_interruption_event(R"({"version":"0","detail-type":"EC2 Spot Instance Interruption Warning",
    "source":"aws.ec2","time":"2026-03-01T10:00:00Z","region":"eu-west-1",
    "resources":["arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc"],
    "detail":{"instance-id":"i-0abc","instance-action":"hibernate"}})");
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->action, SpotAction::hibernate);
  EXPECT_TRUE(r->time.has_value());
  EXPECT_EQ(r->availability_zone, "");  // a regional ARN names no zone
}

TEST(SpotEvents, HostileInput) {
  for (const char* bad : {"", "{", "[]", "null", "{\"detail-type\": 5}",
                          "{\"detail-type\":\"EC2 Spot Instance Interruption Warning\",\"source\":\"aws.ec2\"}",
                          "{\"detail-type\":\"EC2 Spot Instance Interruption Warning\",\"source\":\"aws.ec2\",\"detail\":[]}",
                          "{\"detail-type\":\"EC2 Spot Instance Interruption Warning\",\"source\":\"evil\",\"detail\":{}}"}) {
    auto r = parse_spot_interruption_event(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error(), Errc::protocol) << bad;
  }
  EXPECT_FALSE(parse_imds_spot_instance_action(R"({"action":"explode","time":"2017-09-18T08:22:00Z"})"));
  EXPECT_FALSE(parse_imds_spot_instance_action(R"({"action":"stop","time":"soon"})"));
  EXPECT_FALSE(parse_imds_termination_time("tomorrow"));
  std::string deep(10000, '[');
  EXPECT_FALSE(parse_imds_spot_instance_action(deep));
}
