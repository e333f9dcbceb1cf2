#include "cloud/aws/ec2_client.h"
#include "core/secret.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <random>
#include <thread>

namespace firerun::cloud::aws {
namespace {

std::string host_of(std::string_view url) {
  auto scheme = url.find("://");
  auto rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  return std::string(rest.substr(0, rest.find('/')));
}

void set_tag_specifications(QueryParams& p, const std::map<std::string, std::string>& tags,
                            std::initializer_list<const char*> resource_types) {
  if (tags.empty()) return;
  std::size_t i = 0;
  for (const char* type : resource_types) {
    ++i;
    p.set(query_key("TagSpecification", i, "ResourceType"), type);
    p.set_tags(query_key("TagSpecification", i, "Tag"), tags);
  }
}

}  // namespace

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double unit) {
  const auto base = std::max<std::int64_t>(policy.base_delay.count(), 1);
  std::int64_t ceiling = base;
  for (int i = 0; i < retry && ceiling < policy.max_delay.count(); ++i) ceiling *= 2;
  ceiling = std::min<std::int64_t>(ceiling, policy.max_delay.count());
  unit = std::clamp(unit, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(ceiling) * unit));
}

Ec2Client::Ec2Client(Ec2ClientOptions options) : options_(std::move(options)) {
  if (options_.endpoint.empty()) options_.endpoint = "https://ec2." + options_.region + ".amazonaws.com";
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/') options_.endpoint.pop_back();
  if (!options_.sleep) options_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  if (!options_.clock) options_.clock = [] { return std::chrono::system_clock::now(); };
  if (!options_.random_unit) {
    options_.random_unit = [gen = std::make_shared<std::mt19937_64>(std::random_device{}())] {
      return std::uniform_real_distribution<double>(0.0, 1.0)(*gen);
    };
  }
}

Result<std::string> Ec2Client::call(const QueryParams& params, Ec2Error* failure) {
  const std::string& action = params.action();
  if (!options_.credentials) return make_error(Errc::invalid_argument, "EC2 " + action + ": no credentials provider");
  HttpRequest req;
  req.method = "POST";
  req.path = "/";
  req.headers = {{"Host", host_of(options_.endpoint)},
                 {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  req.body = params.encode();
  SigningConfig signing{options_.region, "ec2", ServiceRules::standard, {}};

  last_attempts_ = 0;
  const int attempts = std::max(options_.retry.max_attempts, 1);
  for (int attempt = 0;; ++attempt) {
    ++last_attempts_;
    FIRERUN_TRY(auto creds, add_context(options_.credentials->credentials(), "EC2 " + action + ": credentials"));
    // Re-signed on every attempt: X-Amz-Date must stay within AWS's 5-minute window.
    FIRERUN_TRY(auto signed_req, sign(req, creds, signing, options_.clock()));
    auto response = http_send(options_.endpoint, signed_req.request, options_.http);
    Ec2Error err;
    bool retryable = false;
    if (!response) {
      // Transport failures (refused, reset, timeout) are worth another try, like 5xx.
      retryable = response.error().errc() != Errc::limit_exceeded;
      if (!retryable || attempt + 1 >= attempts)
        return std::move(response).error().with_context("EC2 " + action + " to " + options_.endpoint);
      err.code = "Transport";
      err.kind = Ec2ErrorKind::server;
    } else if (response->status == 200) {
      return std::move(response->body);
    } else {
      auto parsed = parse_ec2_error_response(response->body, response->status);
      if (parsed) {
        err = std::move(*parsed);
      } else {
        err.http_status = response->status;
        err.kind = response->status >= 500 ? Ec2ErrorKind::server
                   : response->status == 429 ? Ec2ErrorKind::throttling
                   : response->status == 401 || response->status == 403 ? Ec2ErrorKind::auth
                                                                         : Ec2ErrorKind::invalid_request;
      }
      retryable = is_retryable(err.kind);
      if (!retryable || attempt + 1 >= attempts) {
        if (failure) *failure = err;
        auto e = err.to_error(action);
        if (retryable) e.with_context("gave up after " + std::to_string(attempt + 1) + " attempts");
        return e;
      }
    }
    auto delay = backoff_delay(options_.retry, attempt, options_.random_unit());
    spdlog::warn("EC2 {}: {} ({}), retry {}/{} in {} ms", action, err.code.empty() ? "HTTP error" : err.code,
                 to_string(err.kind), attempt + 1, attempts - 1, delay.count());
    options_.sleep(delay);
  }
}

QueryParams Ec2Client::run_instances_request(const LaunchSpec& spec, const std::string& instance_type, bool spot,
                                             std::uint32_t count) {
  QueryParams p("RunInstances");
  p.set("MinCount", count).set("MaxCount", count).set("InstanceType", instance_type);
  if (!spec.launch_template_id.empty() || !spec.launch_template_name.empty()) {
    if (!spec.launch_template_id.empty()) p.set("LaunchTemplate.LaunchTemplateId", spec.launch_template_id);
    else p.set("LaunchTemplate.LaunchTemplateName", spec.launch_template_name);
    p.set("LaunchTemplate.Version", spec.launch_template_version);
  }
  if (!spec.image_id.empty()) p.set("ImageId", spec.image_id);
  if (!spec.subnet_id.empty()) p.set("SubnetId", spec.subnet_id);
  p.set_list("SecurityGroupId", spec.security_group_ids);
  if (!spec.user_data_base64.empty()) p.set("UserData", spec.user_data_base64);
  // Encrypted root volume of the requested size, deleted with the instance.
  p.set("BlockDeviceMapping.1.DeviceName", spec.root_device_name)
      .set("BlockDeviceMapping.1.Ebs.VolumeSize", spec.disk_gib)
      .set("BlockDeviceMapping.1.Ebs.VolumeType", "gp3")
      .set_bool("BlockDeviceMapping.1.Ebs.Encrypted", true)
      .set_bool("BlockDeviceMapping.1.Ebs.DeleteOnTermination", true);
  // IMDSv2 only: a guest-reachable SSRF cannot read the instance role without a PUT.
  p.set("MetadataOptions.HttpTokens", "required").set("MetadataOptions.HttpEndpoint", "enabled");
  p.set("MetadataOptions.HttpPutResponseHopLimit", 1);
  if (spot) {
    p.set("InstanceMarketOptions.MarketType", "spot")
        .set("InstanceMarketOptions.SpotOptions.SpotInstanceType", "one-time")
        .set("InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior", "terminate");
  }
  set_tag_specifications(p, spec.tags, {"instance", "volume"});
  if (!spec.client_token.empty()) p.set("ClientToken", spec.client_token);
  return p;
}

QueryParams Ec2Client::create_fleet_request(const LaunchSpec& spec, const std::vector<FleetPool>& pools, bool spot,
                                            std::uint32_t count) {
  QueryParams p("CreateFleet");
  p.set("Type", "instant");
  const std::string config = "LaunchTemplateConfigs.1";
  if (!spec.launch_template_id.empty())
    p.set(config + ".LaunchTemplateSpecification.LaunchTemplateId", spec.launch_template_id);
  else
    p.set(config + ".LaunchTemplateSpecification.LaunchTemplateName", spec.launch_template_name);
  p.set(config + ".LaunchTemplateSpecification.Version", spec.launch_template_version);
  for (std::size_t i = 0; i < pools.size(); ++i) {
    const auto prefix = query_key(config + ".Overrides", i + 1);
    p.set(prefix + ".InstanceType", pools[i].instance_type);
    if (!pools[i].availability_zone.empty()) p.set(prefix + ".AvailabilityZone", pools[i].availability_zone);
    if (!pools[i].subnet_id.empty()) p.set(prefix + ".SubnetId", pools[i].subnet_id);
  }
  p.set("TargetCapacitySpecification.TotalTargetCapacity", count);
  if (spot) {
    p.set("TargetCapacitySpecification.SpotTargetCapacity", count)
        .set("TargetCapacitySpecification.DefaultTargetCapacityType", "spot")
        .set("SpotOptions.AllocationStrategy", "capacity-optimized")
        .set("SpotOptions.InstanceInterruptionBehavior", "terminate")
        .set("SpotOptions.MinTargetCapacity", count);
  } else {
    p.set("TargetCapacitySpecification.OnDemandTargetCapacity", count)
        .set("TargetCapacitySpecification.DefaultTargetCapacityType", "on-demand")
        .set("OnDemandOptions.AllocationStrategy", "lowest-price")
        .set("OnDemandOptions.MinTargetCapacity", count);
  }
  // MinTargetCapacity needs SingleInstanceType for instant fleets: all-or-nothing per type.
  p.set_bool(spot ? "SpotOptions.SingleInstanceType" : "OnDemandOptions.SingleInstanceType", true);
  set_tag_specifications(p, spec.tags, {"instance", "volume"});
  if (!spec.client_token.empty()) p.set("ClientToken", spec.client_token);
  return p;
}

namespace {

/// The spec with a ClientToken (a fresh random one unless the caller set its
/// own): call() retries timeouts and 5xx answers, and EC2 launches nothing
/// twice for one token (the retry gets the first call's reservation).
LaunchSpec with_client_token(const LaunchSpec& spec) {
  LaunchSpec out = spec;
  if (out.client_token.empty()) out.client_token = "firerun-" + random_hex(16);
  return out;
}

}  // namespace

Result<Ec2Reservation> Ec2Client::run_instances(const LaunchSpec& spec, const std::string& instance_type, bool spot,
                                                std::uint32_t count, Ec2Error* failure) {
  FIRERUN_TRY(auto body, call(run_instances_request(with_client_token(spec), instance_type, spot, count), failure));
  return parse_run_instances(body);
}

Result<CreateFleetResult> Ec2Client::create_fleet(const LaunchSpec& spec, const std::vector<FleetPool>& pools,
                                                  bool spot, std::uint32_t count, Ec2Error* failure) {
  if (spec.launch_template_id.empty() && spec.launch_template_name.empty())
    return make_error(Errc::invalid_argument, "EC2 CreateFleet needs a launch template");
  FIRERUN_TRY(auto body, call(create_fleet_request(with_client_token(spec), pools, spot, count), failure));
  return parse_create_fleet(body);
}

Result<std::vector<InstanceStateChange>> Ec2Client::terminate_instances(const std::vector<std::string>& ids) {
  QueryParams p("TerminateInstances");
  p.set_list("InstanceId", ids);
  FIRERUN_TRY(auto body, call(p));
  return parse_terminate_instances(body);
}

Result<std::vector<Ec2Instance>> Ec2Client::describe_instances(const std::vector<std::string>& ids,
                                                               const std::vector<Ec2Filter>& filters, int page_size) {
  std::vector<Ec2Instance> out;
  std::string token;
  for (int page = 0; page < 10000; ++page) {
    QueryParams p("DescribeInstances");
    p.set_list("InstanceId", ids);
    p.set_filters(filters);
    // MaxResults cannot be combined with instance ids.
    if (page_size > 0 && ids.empty()) p.set("MaxResults", page_size);
    if (!token.empty()) p.set("NextToken", token);
    FIRERUN_TRY(auto body, call(p));
    FIRERUN_TRY(auto parsed, parse_describe_instances(body));
    for (auto& r : parsed.reservations)
      for (auto& i : r.instances) out.push_back(std::move(i));
    if (parsed.next_token.empty()) return out;
    if (parsed.next_token == token)
      return make_error(Errc::protocol, "EC2 DescribeInstances: NextToken did not advance");
    token = std::move(parsed.next_token);
  }
  return make_error(Errc::limit_exceeded, "EC2 DescribeInstances: more than 10000 pages");
}

Status Ec2Client::create_tags(const std::vector<std::string>& resource_ids,
                              const std::map<std::string, std::string>& tags) {
  QueryParams p("CreateTags");
  p.set_list("ResourceId", resource_ids);
  p.set_tags("Tag", tags);
  FIRERUN_TRY(auto body, call(p));
  return parse_create_tags(body);
}

Result<std::vector<InstanceTypeInfo>> Ec2Client::describe_instance_types(const std::vector<Ec2Filter>& filters) {
  std::vector<InstanceTypeInfo> out;
  std::string token;
  for (int page = 0; page < 1000; ++page) {
    QueryParams p("DescribeInstanceTypes");
    p.set_filters(filters);
    p.set("MaxResults", 100);
    if (!token.empty()) p.set("NextToken", token);
    FIRERUN_TRY(auto body, call(p));
    FIRERUN_TRY(auto parsed, parse_describe_instance_types(body));
    for (auto& t : parsed.instance_types) out.push_back(std::move(t));
    if (parsed.next_token.empty()) return out;
    if (parsed.next_token == token)
      return make_error(Errc::protocol, "EC2 DescribeInstanceTypes: NextToken did not advance");
    token = std::move(parsed.next_token);
  }
  return make_error(Errc::limit_exceeded, "EC2 DescribeInstanceTypes: more than 1000 pages");
}

}  // namespace firerun::cloud::aws
