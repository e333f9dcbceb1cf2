// A blocking EC2 Query API client: builds the form, signs it with SigV4, sends
// it with http_send(), retries throttling and server errors with capped
// exponential back-off and full jitter, and parses the XML answer.
#pragma once

#include "cloud/aws/credential_providers.h"
#include "cloud/aws/ec2_errors.h"
#include "cloud/aws/ec2_query.h"
#include "cloud/aws/ec2_xml.h"
#include "cloud/aws/http_client.h"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace firerun::cloud::aws {

struct RetryPolicy {
  int max_attempts = 5;                       ///< including the first
  std::chrono::milliseconds base_delay{200};  ///< first back-off ceiling
  std::chrono::milliseconds max_delay{10000};  ///< back-off ceiling cap
};

/// Full jitter: a uniform delay in [0, min(max_delay, base * 2^retry)]; `unit` is in [0, 1).
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double unit);

struct Ec2ClientOptions {
  std::string region;    ///< "us-east-1"
  std::string endpoint;  ///< default "https://ec2.<region>.amazonaws.com"
  std::shared_ptr<CredentialsProvider> credentials;
  HttpOptions http;
  RetryPolicy retry;
  /// Injectable for tests: sleeping, the signing clock and the jitter source.
  std::function<void(std::chrono::milliseconds)> sleep;
  std::function<std::chrono::system_clock::time_point()> clock;
  std::function<double()> random_unit;
};

/// What RunInstances needs beyond the instance type and market.
struct LaunchSpec {
  std::string launch_template_id;    ///< preferred: AMI, subnet, SGs, profile live in the template
  std::string launch_template_name;  ///< alternative to the id
  std::string launch_template_version = "$Default";
  std::string image_id;              ///< used when there is no template
  std::string subnet_id;
  std::vector<std::string> security_group_ids;
  std::string user_data_base64;
  std::uint32_t disk_gib = 30;
  std::string root_device_name = "/dev/xvda";
  std::map<std::string, std::string> tags;  ///< on instances and volumes
  std::string client_token;                 ///< idempotency
};

class Ec2Client {
 public:
  explicit Ec2Client(Ec2ClientOptions options);

  /// Sends one request; returns the 200 body. EC2 error responses become errors (kind in
  /// `*failure` when given); throttling/server errors and HTTP 5xx are retried first.
  Result<std::string> call(const QueryParams& params, Ec2Error* failure = nullptr);

  /// Request builders (pure; exposed for tests).
  static QueryParams run_instances_request(const LaunchSpec& spec, const std::string& instance_type, bool spot,
                                           std::uint32_t count);
  struct FleetPool {
    std::string instance_type;
    std::string availability_zone;  ///< empty = any
    std::string subnet_id;          ///< empty = the template's
  };
  static QueryParams create_fleet_request(const LaunchSpec& spec, const std::vector<FleetPool>& pools, bool spot,
                                          std::uint32_t count);

  Result<Ec2Reservation> run_instances(const LaunchSpec& spec, const std::string& instance_type, bool spot,
                                       std::uint32_t count, Ec2Error* failure = nullptr);
  /// CreateFleet type=instant; per-pool failures come back in CreateFleetResult::errors.
  Result<CreateFleetResult> create_fleet(const LaunchSpec& spec, const std::vector<FleetPool>& pools, bool spot,
                                         std::uint32_t count, Ec2Error* failure = nullptr);
  Result<std::vector<InstanceStateChange>> terminate_instances(const std::vector<std::string>& ids);
  /// Follows NextToken until the last page (page_size 5..1000 when filtering by tags/state).
  Result<std::vector<Ec2Instance>> describe_instances(const std::vector<std::string>& ids,
                                                      const std::vector<Ec2Filter>& filters, int page_size = 0);
  Status create_tags(const std::vector<std::string>& resource_ids, const std::map<std::string, std::string>& tags);
  /// All pages of DescribeInstanceTypes with these filters.
  Result<std::vector<InstanceTypeInfo>> describe_instance_types(const std::vector<Ec2Filter>& filters);

  /// Attempts made by the last call() (for tests and metrics).
  int last_attempts() const noexcept { return last_attempts_; }

 private:
  Ec2ClientOptions options_;
  int last_attempts_ = 0;
};

}  // namespace firerun::cloud::aws
