// EC2 Query flattening and the request builders, checked locally and against
// the operation shapes in ec2-subset.json (through fake_ec2.py's validator).
#include "cloud/aws/ec2_client.h"
#include "cloud/aws/ec2_query.h"
#include "ec2_test_support.h"

#include <gtest/gtest.h>

using namespace firerun::cloud::aws;
using firerun::testing::FakeEc2;

TEST(Ec2Query, FlattensListsTagsAndFilters) {
  QueryParams p("DescribeInstances");
  p.set_list("InstanceId", {"i-1", "i-2"});
  p.set_filters({{"tag:pool", {"a b", "c"}}, {"instance-state-name", {"running"}}});
  EXPECT_EQ(*p.find("InstanceId.1"), "i-1");
  EXPECT_EQ(*p.find("InstanceId.2"), "i-2");
  EXPECT_EQ(*p.find("Filter.1.Name"), "tag:pool");
  EXPECT_EQ(*p.find("Filter.1.Value.2"), "c");
  EXPECT_EQ(*p.find("Filter.2.Value.1"), "running");
  EXPECT_EQ(p.encode(),
            "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1&InstanceId.2=i-2&Filter.1.Name=tag%3Apool"
            "&Filter.1.Value.1=a%20b&Filter.1.Value.2=c&Filter.2.Name=instance-state-name&Filter.2.Value.1=running");
}

TEST(Ec2Query, TagsAndKeysAndEncoding) {
  QueryParams p("CreateTags");
  p.set_tags(query_key("TagSpecification", 1, "Tag"), {{"Name", "x&y=z"}, {"firerun:pool", "ci+1"}});
  EXPECT_EQ(query_key("LaunchTemplateConfigs.1.Overrides", 3, "InstanceType"),
            "LaunchTemplateConfigs.1.Overrides.3.InstanceType");
  EXPECT_EQ(*p.find("TagSpecification.1.Tag.1.Key"), "Name");
  EXPECT_EQ(*p.find("TagSpecification.1.Tag.2.Value"), "ci+1");
  auto body = p.encode();
  EXPECT_NE(body.find("TagSpecification.1.Tag.1.Value=x%26y%3Dz"), std::string::npos);
  EXPECT_NE(body.find("TagSpecification.1.Tag.2.Key=firerun%3Apool"), std::string::npos);
  EXPECT_NE(body.find("Value=ci%2B1"), std::string::npos);
  p.set("Tag.1.Key", "a").set("Tag.1.Key", "b");  // set replaces
  EXPECT_EQ(*p.find("Tag.1.Key"), "b");
}

LaunchSpec sample_spec() {
  LaunchSpec s;
  s.launch_template_id = "lt-0123456789abcdef0";
  s.user_data_base64 = "I2Nsb3VkLWNvbmZpZw==";
  s.disk_gib = 40;
  s.tags = {{"firerun:pool", "ci"}};
  s.security_group_ids = {"sg-1"};
  return s;
}

TEST(Ec2Query, RunInstancesDefaults) {
  auto p = Ec2Client::run_instances_request(sample_spec(), "m5.large", true, 2);
  EXPECT_EQ(*p.find("MetadataOptions.HttpTokens"), "required");
  EXPECT_EQ(*p.find("BlockDeviceMapping.1.Ebs.Encrypted"), "true");
  EXPECT_EQ(*p.find("BlockDeviceMapping.1.Ebs.VolumeSize"), "40");
  EXPECT_EQ(*p.find("LaunchTemplate.LaunchTemplateId"), "lt-0123456789abcdef0");
  EXPECT_EQ(*p.find("TagSpecification.1.ResourceType"), "instance");
  EXPECT_EQ(*p.find("TagSpecification.2.ResourceType"), "volume");
  EXPECT_EQ(*p.find("TagSpecification.2.Tag.1.Key"), "firerun:pool");
  EXPECT_EQ(*p.find("InstanceMarketOptions.MarketType"), "spot");
  EXPECT_EQ(*p.find("MinCount"), "2");
  EXPECT_EQ(*p.find("SecurityGroupId.1"), "sg-1");
  auto od = Ec2Client::run_instances_request(sample_spec(), "m5.large", false, 1);
  EXPECT_EQ(od.find("InstanceMarketOptions.MarketType"), nullptr);
}

TEST(Ec2Query, CreateFleetOverrides) {
  auto p = Ec2Client::create_fleet_request(sample_spec(), {{"m5.large", "", ""}, {"c5.xlarge", "us-east-1b", "subnet-1"}},
                                           true, 3);
  EXPECT_EQ(*p.find("Type"), "instant");
  EXPECT_EQ(*p.find("LaunchTemplateConfigs.1.Overrides.1.InstanceType"), "m5.large");
  EXPECT_EQ(*p.find("LaunchTemplateConfigs.1.Overrides.2.AvailabilityZone"), "us-east-1b");
  EXPECT_EQ(*p.find("LaunchTemplateConfigs.1.Overrides.2.SubnetId"), "subnet-1");
  EXPECT_EQ(*p.find("SpotOptions.AllocationStrategy"), "capacity-optimized");
  EXPECT_EQ(*p.find("TargetCapacitySpecification.DefaultTargetCapacityType"), "spot");
  EXPECT_EQ(*p.find("TargetCapacitySpecification.TotalTargetCapacity"), "3");
}

// Every request firerun builds must pass the model check (names, types, enums, required members).
TEST(Ec2QueryConformance, BuiltRequestsMatchTheModel) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/ec2-subset.json");
  FakeEc2 fake;
  ASSERT_FALSE(fake.endpoint().empty());
  auto spec = sample_spec();
  std::vector<QueryParams> built = {
      Ec2Client::run_instances_request(spec, "m5.large", true, 2),
      Ec2Client::run_instances_request(spec, "m5.large", false, 1),
      Ec2Client::create_fleet_request(spec, {{"m5.large", "", ""}, {"c5.large", "us-east-1a", "subnet-1"}}, true, 2),
      Ec2Client::create_fleet_request(spec, {{"m5.large", "", ""}}, false, 1),
  };
  LaunchSpec by_name;
  by_name.launch_template_name = "firerun";
  by_name.image_id = "ami-1";
  by_name.subnet_id = "subnet-1";
  built.push_back(Ec2Client::run_instances_request(by_name, "c5.large", false, 1));
  built.push_back(Ec2Client::create_fleet_request(by_name, {{"c5.large", "", ""}}, true, 1));
  QueryParams describe("DescribeInstances");
  describe.set_list("InstanceId", {"i-1"}).set_filters({{"tag:a", {"b"}}}).set("NextToken", "x");
  built.push_back(describe);
  QueryParams types("DescribeInstanceTypes");
  types.set_filters({{"processor-info.supported-architecture", {"x86_64"}}}).set("MaxResults", 100);
  built.push_back(types);
  QueryParams terminate("TerminateInstances");
  terminate.set_list("InstanceId", {"i-1", "i-2"});
  built.push_back(terminate);
  QueryParams tags("CreateTags");
  tags.set_list("ResourceId", {"i-1"}).set_tags("Tag", {{"k", "v"}});
  built.push_back(tags);
  for (const auto& p : built) EXPECT_EQ(fake.validate(p.encode()), "") << p.action() << ": " << p.encode();
}

// The validator is strict: it must reject what EC2 would reject, or the test above proves nothing.
TEST(Ec2QueryConformance, ValidatorRejectsBadRequests) {
  FIRERUN_REQUIRE_CONFORMANCE("aws/ec2-subset.json");
  FakeEc2 fake;
  ASSERT_FALSE(fake.endpoint().empty());
  EXPECT_NE(fake.validate("Action=TerminateInstances&Version=2016-11-15").find("MissingParameter"), std::string::npos);
  EXPECT_NE(fake.validate("Action=TerminateInstances&Version=2016-11-15&InstanceIds.1=i-1").find("UnknownParameter"),
            std::string::npos);
  EXPECT_NE(fake.validate("Action=TerminateInstances&Version=2010-01-01&InstanceId.1=i-1").find("NoSuchVersion"),
            std::string::npos);
  EXPECT_NE(fake.validate("Action=RunInstances&Version=2016-11-15&MinCount=one&MaxCount=1").find("InvalidParameterValue"),
            std::string::npos);
  EXPECT_NE(fake.validate("Action=RunInstances&Version=2016-11-15&MinCount=1&MaxCount=1&MetadataOptions.HttpTokens=maybe")
                .find("InvalidParameterValue"),
            std::string::npos);
  EXPECT_NE(fake.validate("Action=DescribeInstances&Version=2016-11-15&InstanceId.0=i-1").find("InvalidParameterValue"),
            std::string::npos);
  EXPECT_NE(fake.validate("Action=Nope&Version=2016-11-15").find("InvalidAction"), std::string::npos);
}
