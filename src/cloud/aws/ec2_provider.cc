#include "cloud/aws/ec2_provider.h"
#include "cloud/aws/spot_watcher.h"

#include "cloud/user_data.h"
#include "firerun/text.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace firerun::cloud::aws {
namespace {

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

bool supports(const InstanceTypeInfo& t, std::string_view usage) {
  // An empty list means the response did not say; let EC2 decide.
  return t.usage_classes.empty() ||
         std::find(t.usage_classes.begin(), t.usage_classes.end(), usage) != t.usage_classes.end();
}

LaunchSpec spec_for(const LaunchSpec& base, const HostRequest& req) {
  LaunchSpec spec = base;
  spec.disk_gib = req.disk_gib;
  for (const auto& [k, v] : req.tags) spec.tags[k] = v;
  return spec;
}

Host fleet_host(const std::string& id, const FleetInstances& f) {
  Host h;
  h.id = id;
  h.instance_type = f.instance_type;
  h.availability_zone = f.availability_zone;
  h.lifecycle = f.lifecycle == "spot" ? Lifecycle::spot : Lifecycle::on_demand;
  h.state = HostState::pending;
  return h;
}

}  // namespace

Host to_host(const Ec2Instance& i) {
  Host h;
  h.id = i.instance_id;
  h.instance_type = i.instance_type;
  h.availability_zone = i.availability_zone;
  h.lifecycle = i.lifecycle == "spot" ? Lifecycle::spot : Lifecycle::on_demand;
  h.state = parse_host_state(i.state);
  h.private_address = i.private_ip;
  h.public_address = !i.public_ip.empty() ? i.public_ip : i.public_dns;
  h.tags = i.tags;
  h.launch_time = i.launch_time;
  return h;
}

AwsProvider::AwsProvider(AwsProviderOptions options)
    : options_(std::move(options)), client_(options_.client), breaker_(options_.breaker) {}

Result<std::vector<InstanceTypeInfo>> AwsProvider::resolve_instance_types(const HostRequest& req) {
  std::vector<Ec2Filter> filters;
  filters.push_back({"processor-info.supported-architecture", {std::string(to_string(req.architecture))}});
  filters.push_back({"current-generation", {"true"}});
  if (!req.instance_families.empty()) {
    std::vector<std::string> patterns;
    for (const auto& f : req.instance_families) patterns.push_back(f + ".*");
    filters.push_back({"instance-type", patterns});
  }
  FIRERUN_TRY(auto all, add_context(client_.describe_instance_types(filters), "resolving instance types"));
  std::vector<InstanceTypeInfo> fit;
  for (auto& t : all)
    if (req.vcpus.contains(t.vcpus) && req.memory_mib.contains(t.memory_mib)) fit.push_back(std::move(t));
  std::sort(fit.begin(), fit.end(), [](const auto& a, const auto& b) {
    return std::tie(a.vcpus, a.memory_mib, a.instance_type) < std::tie(b.vcpus, b.memory_mib, b.instance_type);
  });
  if (fit.size() > options_.max_instance_types) fit.resize(options_.max_instance_types);
  return fit;
}

Result<std::vector<Host>> AwsProvider::provision_spot(const HostRequest& req, const std::vector<InstanceTypeInfo>& types,
                                                      const LaunchSpec& spec, std::uint32_t count, std::string& tried) {
  const auto now = options_.steady_clock();
  std::vector<Ec2Client::FleetPool> pools;
  for (const auto& t : types) {
    CapacityPool pool{t.instance_type, "", Lifecycle::spot};
    if (!supports(t, "spot")) continue;
    if (!breaker_.allows(pool, now)) {
      tried += " " + to_string(pool) + "(breaker open)";
      continue;
    }
    pools.push_back({t.instance_type, "", ""});
  }
  if (pools.empty()) return std::vector<Host>{};
  const bool have_template = !spec.launch_template_id.empty() || !spec.launch_template_name.empty();
  std::vector<Host> hosts;
  if (have_template) {
    // One CreateFleet call lets EC2 pick the deepest spot pools across all candidate types.
    Ec2Error failure;
    auto fleet = client_.create_fleet(spec, pools, true, count, &failure);
    if (!fleet) {
      if (failure.kind != Ec2ErrorKind::capacity) return std::move(fleet).error();
      for (const auto& p : pools) breaker_.record_failure({p.instance_type, "", Lifecycle::spot}, now);
      tried += " spot fleet(" + failure.code + ")";
      return hosts;
    }
    for (const auto& e : fleet->errors) {
      tried += " " + e.instance_type + "/spot(" + e.code + ")";
      if (classify_ec2_error(e.code) == Ec2ErrorKind::capacity && !e.instance_type.empty())
        breaker_.record_failure({e.instance_type, e.availability_zone, Lifecycle::spot}, now);
    }
    for (const auto& f : fleet->instances) {
      if (!f.instance_ids.empty()) {
        // Capacity in a zone proves the type's regional pool is usable again too.
        breaker_.record_success({f.instance_type, f.availability_zone, Lifecycle::spot});
        breaker_.record_success({f.instance_type, "", Lifecycle::spot});
      }
      for (const auto& id : f.instance_ids) hosts.push_back(fleet_host(id, f));
    }
    return hosts;
  }
  // No launch template: RunInstances per type, in order.
  for (const auto& p : pools) {
    FIRERUN_TRY(hosts, run_in_pool(CapacityPool{p.instance_type, "", Lifecycle::spot}, spec, count, tried));
    if (!hosts.empty()) return hosts;
  }
  (void)req;
  return hosts;
}

Result<std::vector<Host>> AwsProvider::provision_on_demand(const HostRequest& req,
                                                           const std::vector<InstanceTypeInfo>& types,
                                                           const LaunchSpec& spec, std::uint32_t count,
                                                           std::string& tried) {
  const auto now = options_.steady_clock();
  for (const auto& t : types) {
    CapacityPool pool{t.instance_type, "", Lifecycle::on_demand};
    if (!supports(t, "on-demand")) continue;
    if (!breaker_.allows(pool, now)) {
      tried += " " + to_string(pool) + "(breaker open)";
      continue;
    }
    FIRERUN_TRY(auto hosts, run_in_pool(pool, spec, count, tried));
    if (!hosts.empty()) return hosts;
  }
  (void)req;
  return std::vector<Host>{};
}

Result<std::vector<Host>> AwsProvider::run_in_pool(const CapacityPool& pool, const LaunchSpec& spec,
                                                   std::uint32_t count, std::string& tried) {
  Ec2Error failure;
  auto r = client_.run_instances(spec, pool.instance_type, pool.lifecycle == Lifecycle::spot, count, &failure);
  if (!r) {
    if (failure.kind != Ec2ErrorKind::capacity) return std::move(r).error();
    breaker_.record_failure(pool, options_.steady_clock());
    tried += " " + to_string(pool) + "(" + failure.code + ")";
    return std::vector<Host>{};
  }
  breaker_.record_success(pool);
  std::vector<Host> hosts;
  for (const auto& i : r->instances) hosts.push_back(to_host(i));
  return hosts;
}

Result<std::vector<Host>> AwsProvider::provision(const HostRequest& request) {
  FIRERUN_CHECK(request.validate());
  FIRERUN_TRY(auto types, resolve_instance_types(request));
  if (types.empty())
    return make_error(Errc::invalid_argument,
                      "aws: no current-generation " + std::string(to_string(request.architecture)) +
                          " instance type has " + std::to_string(request.vcpus.min) + ".." +
                          (request.vcpus.max ? std::to_string(request.vcpus.max) : "any") + " vCPUs and " +
                          std::to_string(request.memory_mib.min) + ".." +
                          (request.memory_mib.max ? std::to_string(request.memory_mib.max) : "any") + " MiB" +
                          (request.instance_families.empty() ? "" : " in families " + join(request.instance_families, ",")));
  const LaunchSpec spec = spec_for(options_.launch, request);
  std::vector<Host> hosts;
  std::string tried;
  if (request.capacity != CapacityPreference::on_demand_only) {
    FIRERUN_TRY(auto spot, provision_spot(request, types, spec, request.count, tried));
    hosts = std::move(spot);
  }
  if (hosts.size() < request.count && request.capacity != CapacityPreference::spot_only) {
    if (!hosts.empty()) spdlog::info("aws: spot gave {} of {} hosts, filling with on-demand", hosts.size(), request.count);
    FIRERUN_TRY(auto more, provision_on_demand(request, types, spec,
                                               request.count - static_cast<std::uint32_t>(hosts.size()), tried));
    for (auto& h : more) hosts.push_back(std::move(h));
  }
  if (hosts.size() < request.count) {
    if (!hosts.empty()) {
      std::vector<std::string> ids;
      for (const auto& h : hosts) ids.push_back(h.id);
      // All-or-nothing: do not leave a partial set billing.
      auto released = client_.terminate_instances(ids);
      if (!released) spdlog::error("aws: could not release partial capacity {}: {}", join(ids, ","), released.error().what());
    }
    return make_error(Errc::limit_exceeded, "insufficient capacity: aws could not launch " +
                                                std::to_string(request.count) + " host(s); tried:" +
                                                (tried.empty() ? std::string(" nothing") : tried));
  }
  return hosts;
}

Result<std::vector<Host>> AwsProvider::describe(const HostFilter& filter) {
  std::vector<Ec2Filter> filters;
  for (const auto& [k, v] : filter.tags) filters.push_back({"tag:" + k, {v}});
  if (!filter.states.empty()) {
    std::vector<std::string> names;
    for (auto s : filter.states) names.emplace_back(to_string(s));
    filters.push_back({"instance-state-name", names});
  }
  FIRERUN_TRY(auto instances, client_.describe_instances(filter.ids, filters, filter.ids.empty() ? 100 : 0));
  std::vector<Host> out;
  for (const auto& i : instances) out.push_back(to_host(i));
  return out;
}

Status AwsProvider::terminate(const std::vector<std::string>& ids) {
  if (ids.empty()) return {};
  FIRERUN_TRY(auto changes, client_.terminate_instances(ids));
  (void)changes;
  return {};
}

Status AwsProvider::tag(const std::vector<std::string>& ids, const std::map<std::string, std::string>& tags) {
  if (ids.empty() || tags.empty()) return {};
  return client_.create_tags(ids, tags);
}

namespace {

class AwsProviderFactory final : public CloudProviderFactory {
 public:
  BackendInfo info() const override {
    return {"aws", "EC2 hosts: spot CreateFleet with on-demand fallback", "experimental", {"AWS credentials"}};
  }
  Result<std::unique_ptr<InterruptionWatcher>> make_interruption_watcher(
      const CloudProviderConfig& config) const override {
    return make_spot_watcher(config);
  }
  Result<std::unique_ptr<CloudProvider>> create(const CloudProviderConfig& config) const override {
    AwsProviderOptions o;
    std::string profile;
    for (const auto& [key, value] : config.options) {
      if (key == "region") o.client.region = value;
      else if (key == "profile") profile = value;
      else if (key == "endpoint") o.client.endpoint = value;
      else if (key == "launch_template_id") o.launch.launch_template_id = value;
      else if (key == "launch_template_name") o.launch.launch_template_name = value;
      else if (key == "launch_template_version") o.launch.launch_template_version = value;
      else if (key == "image_id") o.launch.image_id = value;
      else if (key == "subnet_id") o.launch.subnet_id = value;
      else if (key == "security_group_ids") {
        std::stringstream ss(value);
        for (std::string id; std::getline(ss, id, ',');)
          if (!id.empty()) o.launch.security_group_ids.push_back(id);
      } else if (key == "user_data_file") {
        std::ifstream in(value, std::ios::binary);
        if (!in) return make_error(Errc::not_found, "aws provider: cannot open user_data_file '" + value + "'");
        std::ostringstream buf;
        buf << in.rdbuf();
        if (buf.str().size() > kMaxUserDataBytes)
          return make_error(Errc::limit_exceeded, "aws provider: user_data_file exceeds 16 KiB");
        o.launch.user_data_base64 = base64_encode(buf.str());
      } else if (key == "user_data") {
        // Already rendered by the caller (render_user_data checks it); only the size is EC2's rule.
        if (value.size() > kMaxUserDataBytes)
          return make_error(Errc::limit_exceeded, "aws provider: user_data exceeds 16 KiB");
        o.launch.user_data_base64 = base64_encode(value);
      } else {
        return make_error(Errc::invalid_argument, "aws provider: unknown option '" + key + "'");
      }
    }
    // A configured profile stands in for AWS_PROFILE in the credentials chain and region lookup.
    EnvLookup env = process_environment();
    if (!profile.empty())
      env = [profile, base = env](const std::string& name) -> std::optional<std::string> {
        return name == "AWS_PROFILE" ? std::optional<std::string>(profile) : base(name);
      };
    if (o.client.region.empty()) {
      FIRERUN_TRY(o.client.region, add_context(resolve_region(env), "aws provider: region"));
    }
    if (o.launch.launch_template_id.empty() && o.launch.launch_template_name.empty() && o.launch.image_id.empty())
      return make_error(Errc::invalid_argument, "aws provider: set launch_template_id, launch_template_name or image_id");
    o.client.credentials = std::shared_ptr<CredentialsProvider>(CredentialsChain::make_default(env));
    return std::unique_ptr<CloudProvider>(std::make_unique<AwsProvider>(std::move(o)));
  }
};

}  // namespace

std::shared_ptr<CloudProviderFactory> make_aws_provider_factory() { return std::make_shared<AwsProviderFactory>(); }

}  // namespace firerun::cloud::aws
