// The spot watcher against the fake IMDSv2 (token flow enforced), serving the
// AWS documentation's instance-action examples from the conformance data.
#include "fleet/spot_watch.h"
#include "support/conformance.h"
#include "support/script_server.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace firerun::fleet {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void control(const std::string& endpoint, const boost::json::object& update) {
  http::Request req;
  req.method = "POST";
  req.path = "/_control";
  req.body = boost::json::serialize(update);
  auto r = http::send(endpoint, req);
  ASSERT_TRUE(r && r->status == 200);
}

TEST(FleetSpotWatch, NothingScheduledIsNulloptThenEveryDocumentedActionIsReported) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/events");
  firerun::testing::ScriptServer imds({"python3", FIRERUN_FAKE_IMDS_SCRIPT});
  ASSERT_FALSE(imds.endpoint().empty()) << "fake IMDS did not start";
  SpotWatcher watcher(imds.endpoint() + "/");
  auto none = watcher.poll();
  ASSERT_TRUE(none) << none.error().what();
  EXPECT_FALSE(*none);
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(firerun::testing::conformance_dir() / "aws/events")) {
    const std::string name = entry.path().filename();
    if (name.rfind("imds-spot-instance-action-", 0) != 0) continue;
    const std::string doc = read_file(entry.path());
    control(imds.endpoint(), {{"spot_action", doc}});
    auto notice = watcher.poll();
    ASSERT_TRUE(notice) << name << ": " << notice.error().what();
    ASSERT_TRUE(*notice) << name;
    const std::string expected_action = boost::json::parse(doc).as_object().at("action").as_string().c_str();
    EXPECT_EQ(cloud::aws::to_string((*notice)->action), expected_action) << name;
    EXPECT_EQ(describe(**notice), "spot interruption: " + expected_action + " at 2017-09-18T08:22:00Z") << name;
    ++seen;
  }
  EXPECT_GE(seen, 2) << "stop and terminate examples";
  control(imds.endpoint(), {{"spot_action", "{not json"}});
  auto garbage = watcher.poll();
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error(), Errc::protocol);
}

TEST(FleetSpotWatch, UnreachableImdsIsAnErrorNotANotice) {
  SpotWatcher watcher("http://127.0.0.1:1");
  auto r = watcher.poll();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::not_found) << r.error().what();
}

}  // namespace
}  // namespace firerun::fleet
