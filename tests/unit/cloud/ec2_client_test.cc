// The EC2 client and the aws provider against fake_ec2.py: every request is
// validated against ec2-subset.json and its SigV4 signature recomputed; the
// fake answers with the documented XML and injects capacity errors,
// throttling and HTTP 500 on request.
#include "cloud/aws/ec2_client.h"
#include "cloud/aws/ec2_provider.h"
#include "ec2_test_support.h"

#include <gtest/gtest.h>

using namespace firerun::cloud;
using namespace firerun::cloud::aws;
using firerun::Errc;
using firerun::testing::FakeEc2;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

class Ec2Fixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(firerun::testing::aws_conformance() / "ec2-subset.json"))
      GTEST_SKIP() << "conformance data not found under " << firerun::testing::aws_conformance();
    fake_ = std::make_unique<FakeEc2>();
    ASSERT_FALSE(fake_->endpoint().empty());
    fake_->control({{"secret", firerun::testing::kTestSecret}});
  }

  Ec2ClientOptions client_options() {
    Ec2ClientOptions o;
    o.region = "us-east-1";
    o.endpoint = fake_->endpoint();
    o.credentials = firerun::testing::test_credentials();
    o.retry = {4, 100ms, 1000ms};
    o.sleep = [this](std::chrono::milliseconds d) { sleeps_.push_back(d); };
    o.random_unit = [] { return 0.5; };
    return o;
  }

  AwsProviderOptions provider_options() {
    AwsProviderOptions o;
    o.client = client_options();
    o.launch.launch_template_id = "lt-0123456789abcdef0";
    o.launch.user_data_base64 = "I2Nsb3VkLWNvbmZpZw==";
    o.breaker.cool_down = 300s;
    o.steady_clock = [this] { return now_; };
    return o;
  }

  std::vector<std::string> actions() {
    std::vector<std::string> out;
    for (const auto& r : fake_->requests()) out.emplace_back(r.at("action").as_string());
    return out;
  }
  json::object last(const std::string& action) {
    json::object found;
    for (const auto& r : fake_->requests())
      if (r.at("action").as_string() == action) found = r.at("params").as_object();
    return found;
  }

  std::unique_ptr<FakeEc2> fake_;
  std::vector<std::chrono::milliseconds> sleeps_;
  CapacityBreaker::Clock::time_point now_ = CapacityBreaker::Clock::time_point{} + 10000s;
};

}  // namespace

TEST(Ec2Backoff, FullJitterBounds) {
  RetryPolicy p{5, 200ms, 1000ms};
  EXPECT_EQ(backoff_delay(p, 0, 0.999).count(), 199);
  EXPECT_EQ(backoff_delay(p, 1, 0.5).count(), 200);
  EXPECT_EQ(backoff_delay(p, 2, 1.0).count(), 800);
  EXPECT_EQ(backoff_delay(p, 10, 1.0).count(), 1000);  // capped
  EXPECT_EQ(backoff_delay(p, 3, 0.0).count(), 0);
}

TEST_F(Ec2Fixture, OperationsRoundTrip) {
  Ec2Client client(client_options());
  LaunchSpec spec;
  spec.launch_template_id = "lt-1";
  spec.tags = {{"firerun:pool", "ci"}};
  auto run = client.run_instances(spec, "m5.large", false, 2);
  ASSERT_TRUE(run) << run.error().what();
  ASSERT_EQ(run->instances.size(), 2u);
  EXPECT_EQ(run->instances[0].instance_type, "m5.large");
  EXPECT_EQ(run->instances[0].tags.at("firerun:pool"), "ci");
  auto p = last("RunInstances");
  EXPECT_EQ(p.at("MetadataOptions.HttpTokens"), "required");
  EXPECT_EQ(p.at("BlockDeviceMapping.1.Ebs.Encrypted"), "true");
  EXPECT_EQ(p.at("TagSpecification.2.ResourceType"), "volume");

  const std::string id = run->instances[0].instance_id;
  ASSERT_TRUE(client.create_tags({id}, {{"stage", "ready"}}));
  auto described = client.describe_instances({id}, {});
  ASSERT_TRUE(described) << described.error().what();
  ASSERT_EQ(described->size(), 1u);
  EXPECT_EQ((*described)[0].tags.at("stage"), "ready");

  auto terminated = client.terminate_instances({id});
  ASSERT_TRUE(terminated) << terminated.error().what();
  ASSERT_EQ(terminated->size(), 1u);
  EXPECT_EQ((*terminated)[0].current_state, "shutting-down");

  auto missing = client.terminate_instances({"i-00000000000000bad"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
  EXPECT_NE(missing.error().message().find("InvalidInstanceID.NotFound"), std::string::npos);

  auto types = client.describe_instance_types({{"processor-info.supported-architecture", {"arm64"}}});
  ASSERT_TRUE(types) << types.error().what();
  ASSERT_EQ(types->size(), 2u);
  EXPECT_EQ((*types)[0].instance_type, "m6g.large");
  EXPECT_EQ((*types)[0].vcpus, 2u);
  EXPECT_EQ((*types)[0].memory_mib, 8192u);
  EXPECT_EQ(fake_->get("/_stats").at("rejected").as_int64(), 1);  // only the unknown id
  EXPECT_EQ(fake_->get("/_stats").at("signature_checked").as_int64(), 6);  // every request
}

TEST_F(Ec2Fixture, DescribeInstancesFollowsNextToken) {
  Ec2Client client(client_options());
  LaunchSpec spec;
  spec.image_id = "ami-1";
  spec.tags = {{"pool", "p"}};
  ASSERT_TRUE(client.run_instances(spec, "c5.large", false, 12));
  auto all = client.describe_instances({}, {{"tag:pool", {"p"}}}, 5);
  ASSERT_TRUE(all) << all.error().what();
  EXPECT_EQ(all->size(), 12u);
  int pages = 0;
  for (const auto& a : actions()) pages += a == "DescribeInstances";
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(last("DescribeInstances").at("NextToken"), "10");
  auto none = client.describe_instances({}, {{"tag:pool", {"other"}}}, 5);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(Ec2Fixture, ThrottlingBacksOffThenSucceeds) {
  Ec2Client client(client_options());
  fake_->control({{"fail", json::array{json::object{{"action", "CreateTags"}, {"error", "RequestLimitExceeded"}, {"times", 2}}}}});
  LaunchSpec spec;
  spec.image_id = "ami-1";
  auto run = client.run_instances(spec, "c5.large", false, 1);
  ASSERT_TRUE(run);
  ASSERT_TRUE(client.create_tags({run->instances[0].instance_id}, {{"a", "b"}}));
  EXPECT_EQ(client.last_attempts(), 3);
  ASSERT_EQ(sleeps_.size(), 2u);
  EXPECT_EQ(sleeps_[0], 50ms);   // 0.5 * 100 ms
  EXPECT_EQ(sleeps_[1], 100ms);  // 0.5 * 200 ms
}

TEST_F(Ec2Fixture, ThrottlingGivesUpAfterMaxAttempts) {
  Ec2Client client(client_options());
  fake_->control({{"fail", json::array{json::object{{"action", "*"}, {"error", "RequestLimitExceeded"}, {"times", 100}}}}});
  Ec2Error failure;
  auto r = client.call(QueryParams("DescribeInstanceTypes"), &failure);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::limit_exceeded);
  EXPECT_EQ(failure.kind, Ec2ErrorKind::throttling);
  EXPECT_EQ(failure.http_status, 503);
  EXPECT_EQ(client.last_attempts(), 4);
  EXPECT_EQ(sleeps_.size(), 3u);
  EXPECT_NE(r.error().what().find("gave up after 4 attempts"), std::string::npos);
}

TEST_F(Ec2Fixture, Http500IsRetried) {
  Ec2Client client(client_options());
  fake_->control({{"fail", json::array{json::object{{"action", "DescribeInstanceTypes"}, {"error", "http500"}, {"times", 1}}}}});
  auto r = client.describe_instance_types({});
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(client.last_attempts(), 2);
}

TEST_F(Ec2Fixture, ARetriedLaunchWhoseAnswerWasLostLaunchesNothingTwice) {
  // The first RunInstances launches but its answer is lost (5xx); the retry
  // carries the same ClientToken, so EC2 returns the first reservation.
  Ec2Client client(client_options());
  fake_->control({{"fail", json::array{json::object{{"action", "RunInstances"}, {"error", "http500_after_launch"}, {"times", 1}}}}});
  LaunchSpec spec;
  spec.image_id = "ami-1";
  auto r = client.run_instances(spec, "c5.large", false, 2, nullptr);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(client.last_attempts(), 2);
  std::vector<std::string> tokens;
  for (const auto& req : fake_->requests())
    if (req.at("action") == "RunInstances") tokens.emplace_back(req.at("params").at("ClientToken").as_string());
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[0], tokens[1]);
  EXPECT_FALSE(tokens[0].empty());
  auto all = client.describe_instances({}, {});
  ASSERT_TRUE(all) << all.error().what();
  EXPECT_EQ(all->size(), 2u) << "two instances asked for, two launched";
  // A new call is a new launch, with a new token.
  auto again = client.run_instances(spec, "c5.large", false, 1, nullptr);
  ASSERT_TRUE(again);
  EXPECT_NE(std::string(fake_->requests().back().at("params").at("ClientToken").as_string()), tokens[0]);
}

TEST_F(Ec2Fixture, CapacityErrorsAreNotRetried) {
  Ec2Client client(client_options());
  fake_->control({{"fail", json::array{json::object{{"action", "RunInstances"}, {"error", "InsufficientInstanceCapacity"}}}}});
  LaunchSpec spec;
  spec.image_id = "ami-1";
  Ec2Error failure;
  auto r = client.run_instances(spec, "c5.large", true, 1, &failure);
  ASSERT_FALSE(r);
  EXPECT_EQ(failure.kind, Ec2ErrorKind::capacity);
  EXPECT_EQ(client.last_attempts(), 1);
  EXPECT_TRUE(sleeps_.empty());
  EXPECT_EQ(r.error().message().rfind("insufficient capacity", 0), 0u);
}

TEST_F(Ec2Fixture, AuthErrors) {
  auto o = client_options();
  o.credentials = std::make_shared<EnvironmentCredentialsProvider>([](const std::string& n) -> std::optional<std::string> {
    if (n == "AWS_ACCESS_KEY_ID") return "AKIDWRONG";
    if (n == "AWS_SECRET_ACCESS_KEY") return "not-the-secret";
    return std::nullopt;
  });
  Ec2Client client(o);
  auto r = client.describe_instance_types({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::auth);
  EXPECT_NE(r.error().message().find("SignatureDoesNotMatch"), std::string::npos);
  EXPECT_EQ(r.error().message().find("not-the-secret"), std::string::npos);
  fake_->control({{"fail", json::array{json::object{{"error", "UnauthorizedOperation"}}}}});
  Ec2Client good(client_options());
  EXPECT_EQ(good.describe_instance_types({}).error(), Errc::auth);
}

// "documented" mode: the fake answers with the documentation's sample for each action; every
// operation firerun uses that has a documented sample must parse it.
TEST_F(Ec2Fixture, DocumentedResponsesThroughTheWire) {
  fake_->control({{"mode", "documented"}});
  Ec2Client client(client_options());
  LaunchSpec spec;
  spec.image_id = "ami-1";
  auto run = client.run_instances(spec, "m1.small", false, 1);
  ASSERT_TRUE(run) << run.error().what();  // botocore's sample (the docs' one is not well-formed)
  auto described = client.describe_instances({}, {});
  ASSERT_TRUE(described) << described.error().what();
  EXPECT_FALSE(described->empty());
  auto terminated = client.terminate_instances({"i-1234567890abcdef0"});
  ASSERT_TRUE(terminated) << terminated.error().what();
  EXPECT_TRUE(client.create_tags({"i-1"}, {{"a", "b"}}));
}

TEST_F(Ec2Fixture, ProviderSpotFleetFirst) {
  AwsProvider provider(provider_options());
  HostRequest req;
  req.vcpus = {2, 4};
  req.memory_mib = {8192, 16384};
  req.count = 2;
  req.tags = {{"firerun:pool", "ci"}};
  auto hosts = provider.provision(req);
  ASSERT_TRUE(hosts) << hosts.error().what();
  ASSERT_EQ(hosts->size(), 2u);
  EXPECT_EQ((*hosts)[0].lifecycle, Lifecycle::spot);
  EXPECT_EQ((*hosts)[0].instance_type, "m5.large");  // smallest fitting type first
  auto fleet = last("CreateFleet");
  // Types that fit 2..4 vCPUs and 8..16 GiB, x86_64, current generation, smallest first.
  EXPECT_EQ(fleet.at("LaunchTemplateConfigs.1.Overrides.1.InstanceType"), "m5.large");
  EXPECT_EQ(fleet.at("LaunchTemplateConfigs.1.Overrides.2.InstanceType"), "r5.large");
  EXPECT_EQ(fleet.at("LaunchTemplateConfigs.1.Overrides.3.InstanceType"), "c5.xlarge");
  EXPECT_EQ(fleet.at("LaunchTemplateConfigs.1.Overrides.4.InstanceType"), "m5.xlarge");
  EXPECT_FALSE(fleet.contains("LaunchTemplateConfigs.1.Overrides.5.InstanceType"));
  EXPECT_EQ(fleet.at("SpotOptions.AllocationStrategy"), "capacity-optimized");
  EXPECT_EQ(fleet.at("TagSpecification.1.Tag.1.Value"), "ci");

  HostFilter f;
  f.tags = {{"firerun:pool", "ci"}};
  auto listed = provider.describe(f);
  ASSERT_TRUE(listed) << listed.error().what();
  EXPECT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].state, HostState::pending);
  ASSERT_TRUE(provider.tag({(*hosts)[0].id}, {{"x", "y"}}));
  ASSERT_TRUE(provider.terminate({(*hosts)[0].id, (*hosts)[1].id}));
  f.states = {HostState::pending, HostState::running};
  EXPECT_TRUE(provider.describe(f)->empty());
}

TEST_F(Ec2Fixture, ProviderBreakerSkipsExhaustedSpotPools) {
  AwsProvider provider(provider_options());
  fake_->control({{"fleet_no_capacity", json::array{"m5.large", "r5.large"}}});
  HostRequest req;
  req.vcpus = {2, 4};
  req.memory_mib = {8192, 16384};
  auto hosts = provider.provision(req);
  ASSERT_TRUE(hosts) << hosts.error().what();
  EXPECT_EQ((*hosts)[0].instance_type, "c5.xlarge");
  EXPECT_EQ(provider.breaker().state({"m5.large", "", Lifecycle::spot}, now_), BreakerState::open);
  EXPECT_EQ(provider.breaker().snapshot(now_).size(), 2u);

  // The next request leaves the open pools out of the fleet.
  ASSERT_TRUE(provider.provision(req));
  auto fleet = last("CreateFleet");
  EXPECT_EQ(fleet.at("LaunchTemplateConfigs.1.Overrides.1.InstanceType"), "c5.xlarge");

  // After the cool-down the pools are probed again (half-open) and close on success.
  fake_->control({{"fleet_no_capacity", json::array{}}});
  now_ += 301s;
  ASSERT_TRUE(provider.provision(req));
  EXPECT_EQ(last("CreateFleet").at("LaunchTemplateConfigs.1.Overrides.1.InstanceType"), "m5.large");
  EXPECT_EQ(provider.breaker().state({"m5.large", "", Lifecycle::spot}, now_), BreakerState::closed);
}

TEST_F(Ec2Fixture, ProviderFallsBackToOnDemandThenNextType) {
  AwsProvider provider(provider_options());
  fake_->control({{"fleet_no_capacity", json::array{"m5.large", "r5.large", "c5.xlarge", "m5.xlarge"}},
                  {"fail", json::array{json::object{{"action", "RunInstances"}, {"error", "InsufficientInstanceCapacity"},
                                                    {"instance_type", "m5.large"}}}}});
  HostRequest req;
  req.vcpus = {2, 4};
  req.memory_mib = {8192, 16384};
  auto hosts = provider.provision(req);
  ASSERT_TRUE(hosts) << hosts.error().what();
  ASSERT_EQ(hosts->size(), 1u);
  EXPECT_EQ((*hosts)[0].lifecycle, Lifecycle::on_demand);
  EXPECT_EQ((*hosts)[0].instance_type, "r5.large");
  EXPECT_EQ(provider.breaker().state({"m5.large", "", Lifecycle::on_demand}, now_), BreakerState::open);
  EXPECT_EQ(actions(), (std::vector<std::string>{"DescribeInstanceTypes", "CreateFleet", "RunInstances", "RunInstances"}));

  // spot_only never pays on-demand.
  req.capacity = CapacityPreference::spot_only;
  auto spot_only = provider.provision(req);
  ASSERT_FALSE(spot_only);
  EXPECT_EQ(spot_only.error(), Errc::limit_exceeded);
  EXPECT_NE(spot_only.error().message().find("insufficient capacity"), std::string::npos);
  EXPECT_NE(spot_only.error().message().find("breaker open"), std::string::npos);
}

TEST_F(Ec2Fixture, ProviderWithoutLaunchTemplateUsesRunInstancesForSpot) {
  auto o = provider_options();
  o.launch.launch_template_id.clear();
  o.launch.image_id = "ami-1";
  AwsProvider provider(o);
  fake_->control({{"fail", json::array{json::object{{"action", "RunInstances"}, {"error", "InsufficientInstanceCapacity"},
                                                    {"instance_type", "m6g.large"}, {"market", "spot"}}}}});
  HostRequest req;
  req.architecture = Architecture::arm64;
  req.vcpus = {2, 0};
  req.memory_mib = {0, 0};
  auto hosts = provider.provision(req);
  ASSERT_TRUE(hosts) << hosts.error().what();
  EXPECT_EQ((*hosts)[0].instance_type, "m6g.xlarge");
  EXPECT_EQ((*hosts)[0].lifecycle, Lifecycle::spot);
}

TEST_F(Ec2Fixture, ProviderRejectsRequestsNoTypeFits) {
  AwsProvider provider(provider_options());
  HostRequest req;
  req.vcpus = {64, 0};
  auto r = provider.provision(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("no current-generation x86_64 instance type"), std::string::npos);
  req = {};
  req.instance_families = {"m6g"};  // arm64 family with an x86_64 request
  EXPECT_FALSE(provider.provision(req));
}
