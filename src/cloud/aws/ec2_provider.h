// The "aws" cloud provider: EC2 hosts via CreateFleet (instant, spot first,
// capacity-optimized across the instance types that fit) with on-demand
// RunInstances as the fallback, guarded by a capacity breaker per pool.
#pragma once

#include "cloud/aws/ec2_client.h"
#include "cloud/capacity_breaker.h"
#include "firerun/cloud.h"

#include <functional>
#include <memory>

namespace firerun::cloud::aws {

struct AwsProviderOptions {
  Ec2ClientOptions client;
  LaunchSpec launch;  ///< template/AMI/subnet/user data; tags and disk come from each HostRequest
  CapacityBreaker::Options breaker;
  std::size_t max_instance_types = 20;  ///< candidate types per request (CreateFleet takes up to 300 overrides)
  std::function<CapacityBreaker::Clock::time_point()> steady_clock = [] { return CapacityBreaker::Clock::now(); };
};

class AwsProvider final : public CloudProvider {
 public:
  explicit AwsProvider(AwsProviderOptions options);
  std::string_view name() const noexcept override { return "aws"; }
  Result<std::vector<Host>> provision(const HostRequest& request) override;
  Result<std::vector<Host>> describe(const HostFilter& filter) override;
  Status terminate(const std::vector<std::string>& ids) override;
  Status tag(const std::vector<std::string>& ids, const std::map<std::string, std::string>& tags) override;

  /// Instance types fitting the request, smallest first (DescribeInstanceTypes + local range checks).
  Result<std::vector<InstanceTypeInfo>> resolve_instance_types(const HostRequest& request);
  /// Per-pool breaker state (for metrics).
  const CapacityBreaker& breaker() const noexcept { return breaker_; }
  Ec2Client& client() noexcept { return client_; }

 private:
  Result<std::vector<Host>> provision_spot(const HostRequest& req, const std::vector<InstanceTypeInfo>& types,
                                           const LaunchSpec& spec, std::uint32_t count, std::string& tried);
  Result<std::vector<Host>> provision_on_demand(const HostRequest& req, const std::vector<InstanceTypeInfo>& types,
                                                const LaunchSpec& spec, std::uint32_t count, std::string& tried);
  /// RunInstances in one capacity pool, feeding the breaker. A capacity error
  /// is noted in `tried` and gives an empty vector (try the next pool); any
  /// other error is returned.
  Result<std::vector<Host>> run_in_pool(const CapacityPool& pool, const LaunchSpec& spec, std::uint32_t count,
                                        std::string& tried);

  AwsProviderOptions options_;
  Ec2Client client_;
  CapacityBreaker breaker_;
};

/// Converts an EC2 instance to a Host.
Host to_host(const Ec2Instance& instance);

/// Factory for the registry. Options: region, endpoint, launch_template_id, launch_template_name,
/// launch_template_version, image_id, subnet_id, security_group_ids (comma-separated),
/// user_data_file, user_data (rendered text), profile (instead of AWS_PROFILE). Credentials come
/// from the default chain.
std::shared_ptr<CloudProviderFactory> make_aws_provider_factory();

}  // namespace firerun::cloud::aws
