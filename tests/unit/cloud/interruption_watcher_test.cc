// The "aws" provider's interruption watcher, made through the provider
// registry as firerund makes it, against the fake IMDSv2 (token flow
// enforced) serving the AWS documentation's instance-action examples from
// the conformance data; providers without notices say so.
#include "firerun/cloud.h"
#include "core/http_client.h"
#include "support/conformance.h"
#include "support/script_server.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace firerun::cloud {
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

std::unique_ptr<InterruptionWatcher> watcher_for(const std::string& provider, const std::string& endpoint) {
  CloudProviderRegistry providers;
  EXPECT_TRUE(register_builtin_cloud_providers(providers));
  auto factory = providers.find(provider);
  EXPECT_TRUE(factory);
  CloudProviderConfig config;
  config.options["imds_endpoint"] = endpoint;
  auto watcher = (*factory)->make_interruption_watcher(config);
  EXPECT_TRUE(watcher) << watcher.error().what();
  return watcher ? std::move(*watcher) : nullptr;
}

TEST(InterruptionWatcher, AwsNothingScheduledIsNulloptThenEveryDocumentedActionIsReported) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/events");
  firerun::testing::ScriptServer imds({"python3", FIRERUN_FAKE_IMDS_SCRIPT});
  ASSERT_FALSE(imds.endpoint().empty()) << "fake IMDS did not start";
  auto watcher_ptr = watcher_for("aws", imds.endpoint() + "/");
  ASSERT_TRUE(watcher_ptr);
  auto& watcher = *watcher_ptr;
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
    EXPECT_EQ((*notice)->action, expected_action) << name;
    EXPECT_EQ((*notice)->describe(), "spot interruption: " + expected_action + " at 2017-09-18T08:22:00Z") << name;
    ++seen;
  }
  EXPECT_GE(seen, 2) << "stop and terminate examples";
  control(imds.endpoint(), {{"spot_action", "{not json"}});
  auto garbage = watcher.poll();
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error(), Errc::protocol);
}

TEST(InterruptionWatcher, AwsUnreachableImdsIsAnErrorNotANotice) {
  auto watcher = watcher_for("aws", "http://127.0.0.1:1");
  ASSERT_TRUE(watcher);
  auto r = watcher->poll();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::not_found) << r.error().what();
}

TEST(InterruptionWatcher, ProvidersWithoutNoticesAndUnknownOptionsAreClearErrors) {
  CloudProviderRegistry providers;
  ASSERT_TRUE(register_builtin_cloud_providers(providers));
  auto static_hosts = (*providers.find("static"))->make_interruption_watcher({});
  ASSERT_FALSE(static_hosts);
  EXPECT_EQ(static_hosts.error(), Errc::unsupported);
  EXPECT_NE(static_hosts.error().message().find("'static'"), std::string::npos) << static_hosts.error().message();
  CloudProviderConfig typo;
  typo.options["imds_endpiont"] = "http://x";
  auto bad = (*providers.find("aws"))->make_interruption_watcher(typo);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), Errc::invalid_argument);
  EXPECT_NE(bad.error().message().find("imds_endpiont"), std::string::npos);
}

}  // namespace
}  // namespace firerun::cloud
