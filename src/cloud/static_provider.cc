#include "cloud/static_provider.h"

#include "cloud/yaml_fields.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

namespace firerun::cloud {
namespace {

using detail::read_string;
using detail::read_string_map;
using detail::read_unsigned;
using detail::yaml_error;

Result<Host> parse_host(const YAML::Node& node, std::string_view source, const std::string& path) {
  if (!node.IsMap()) return yaml_error(source, path, "expected a mapping", node);
  static const std::set<std::string> known = {"id", "address", "public_address", "instance_type", "availability_zone",
                                              "vcpus", "memory_mib", "architecture", "tags"};
  Host host;
  host.state = HostState::running;
  host.instance_type = "static";
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return yaml_error(source, path, "keys must be strings", kv.first);
    const std::string key = kv.first.Scalar();
    const std::string key_path = path + "." + key;
    const YAML::Node& value = kv.second;
    if (!known.contains(key)) return yaml_error(source, key_path, "unknown key", kv.first);
    if (key == "id") {
      FIRERUN_TRY(host.id, read_string(value, source, key_path));
    } else if (key == "address") {
      FIRERUN_TRY(host.private_address, read_string(value, source, key_path));
    } else if (key == "public_address") {
      FIRERUN_TRY(host.public_address, read_string(value, source, key_path));
    } else if (key == "instance_type") {
      FIRERUN_TRY(host.instance_type, read_string(value, source, key_path));
    } else if (key == "availability_zone") {
      FIRERUN_TRY(host.availability_zone, read_string(value, source, key_path));
    } else if (key == "vcpus") {
      FIRERUN_TRY(auto v, read_unsigned(value, source, key_path));
      if (v == 0 || v > 4096) return yaml_error(source, key_path, "must be between 1 and 4096", value);
      host.vcpus = static_cast<std::uint32_t>(v);
    } else if (key == "memory_mib") {
      FIRERUN_TRY(host.memory_mib, read_unsigned(value, source, key_path));
      if (host.memory_mib == 0) return yaml_error(source, key_path, "must be positive", value);
    } else if (key == "architecture") {
      FIRERUN_TRY(auto arch, read_string(value, source, key_path));
      if (arch != "x86_64" && arch != "arm64")
        return yaml_error(source, key_path, "must be x86_64 or arm64", value);
      host.tags["firerun:architecture"] = arch;
    } else if (key == "tags") {
      FIRERUN_TRY(auto tags, read_string_map(value, source, key_path));
      for (auto& [k, v] : tags) host.tags[k] = std::move(v);
    }
  }
  if (host.id.empty()) return yaml_error(source, path + ".id", "is required", node);
  if (host.private_address.empty()) return yaml_error(source, path + ".address", "is required", node);
  if (host.vcpus == 0) return yaml_error(source, path + ".vcpus", "is required", node);
  if (host.memory_mib == 0) return yaml_error(source, path + ".memory_mib", "is required", node);
  host.tags.try_emplace("firerun:architecture", "x86_64");
  return host;
}

std::string family_of(std::string_view instance_type) {
  return std::string(instance_type.substr(0, instance_type.find('.')));
}

bool fits(const Host& host, const HostRequest& req) {
  if (!req.vcpus.contains(host.vcpus) || !req.memory_mib.contains(host.memory_mib)) return false;
  auto arch = host.tags.find("firerun:architecture");
  if (arch == host.tags.end() || arch->second != to_string(req.architecture)) return false;
  if (!req.instance_families.empty()) {
    auto family = family_of(host.instance_type);
    bool any = false;
    for (const auto& f : req.instance_families) any = any || f == family;
    if (!any) return false;
  }
  return true;
}

bool matches(const Host& host, const HostFilter& filter) {
  if (!filter.ids.empty() && std::find(filter.ids.begin(), filter.ids.end(), host.id) == filter.ids.end()) return false;
  for (const auto& [k, v] : filter.tags) {
    auto it = host.tags.find(k);
    if (it == host.tags.end() || it->second != v) return false;
  }
  if (!filter.states.empty() && std::find(filter.states.begin(), filter.states.end(), host.state) == filter.states.end())
    return false;
  return true;
}

class StaticProvider final : public CloudProvider {
 public:
  explicit StaticProvider(std::vector<Host> hosts) {
    for (auto& h : hosts) entries_.push_back({std::move(h), false});
  }
  std::string_view name() const noexcept override { return "static"; }

  Result<std::vector<Host>> provision(const HostRequest& request) override {
    FIRERUN_CHECK(request.validate());
    if (request.capacity == CapacityPreference::spot_only)
      return make_error(Errc::unsupported, "static provider: hosts are not spot capacity (capacity=spot_only)");
    std::vector<Entry*> chosen;
    std::size_t fitting_total = 0;
    for (auto& e : entries_) {
      if (!fits(e.host, request)) continue;
      ++fitting_total;
      if (!e.claimed && chosen.size() < request.count) chosen.push_back(&e);
    }
    if (chosen.size() < request.count) {
      return make_error(Errc::limit_exceeded,
                        "insufficient capacity: static provider has " + std::to_string(chosen.size()) +
                            " free host(s) of " + std::to_string(fitting_total) + " fitting (" +
                            std::to_string(entries_.size()) + " configured) for " + std::to_string(request.count) +
                            " requested with " + std::to_string(request.vcpus.min) + "+ vCPUs, " +
                            std::to_string(request.memory_mib.min) + "+ MiB, " +
                            std::string(to_string(request.architecture)));
    }
    std::vector<Host> out;
    for (auto* e : chosen) {
      e->claimed = true;
      for (const auto& [k, v] : request.tags) e->host.tags[k] = v;
      out.push_back(e->host);
    }
    return out;
  }

  Result<std::vector<Host>> describe(const HostFilter& filter) override {
    std::vector<Host> out;
    for (const auto& e : entries_)
      if (matches(e.host, filter)) out.push_back(e.host);
    return out;
  }

  Status terminate(const std::vector<std::string>& ids) override {
    FIRERUN_TRY(auto found, find_all(ids));
    for (auto* e : found) e->claimed = false;
    return {};
  }

  Status tag(const std::vector<std::string>& ids, const std::map<std::string, std::string>& tags) override {
    FIRERUN_TRY(auto found, find_all(ids));
    for (auto* e : found)
      for (const auto& [k, v] : tags) e->host.tags[k] = v;
    return {};
  }

 private:
  struct Entry {
    Host host;
    bool claimed = false;
  };

  // All-or-nothing: an unknown id changes nothing.
  Result<std::vector<Entry*>> find_all(const std::vector<std::string>& ids) {
    std::vector<Entry*> found;
    for (const auto& id : ids) {
      auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.host.id == id; });
      if (it == entries_.end()) return make_error(Errc::not_found, "static provider: no host '" + id + "'");
      found.push_back(&*it);
    }
    return found;
  }

  std::vector<Entry> entries_;
};

class StaticProviderFactory final : public CloudProviderFactory {
 public:
  BackendInfo info() const override {
    return {"static", "a fixed list of existing hosts from a YAML file", "stable", {}};
  }
  Result<std::unique_ptr<CloudProvider>> create(const CloudProviderConfig& config) const override {
    std::string text, source;
    for (const auto& [key, value] : config.options) {
      if (key == "hosts_file") {
        std::ifstream in(value, std::ios::binary);
        if (!in) return make_error(Errc::not_found, "static provider: cannot open hosts_file '" + value + "'");
        std::ostringstream buf;
        buf << in.rdbuf();
        text = buf.str();
        source = value;
      } else if (key == "hosts_yaml") {
        text = value;
        source = "hosts_yaml";
      } else {
        return make_error(Errc::invalid_argument,
                          "static provider: unknown option '" + key + "' (known: hosts_file, hosts_yaml)");
      }
    }
    if (source.empty()) return make_error(Errc::invalid_argument, "static provider: set hosts_file or hosts_yaml");
    FIRERUN_TRY(auto hosts, parse_static_hosts(text, source));
    return make_static_provider(std::move(hosts));
  }
};

}  // namespace

Result<std::vector<Host>> parse_static_hosts(std::string_view yaml, std::string_view source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return make_error(Errc::invalid_argument, std::string(source) + ": invalid YAML at line " +
                                                  std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) return yaml_error(source, "(document)", "expected a mapping with a 'hosts' list", root);
  std::vector<Host> hosts;
  std::set<std::string> ids;
  for (const auto& kv : root) {
    if (!kv.first.IsScalar() || kv.first.Scalar() != "hosts")
      return yaml_error(source, kv.first.IsScalar() ? kv.first.Scalar() : "(key)", "unknown key", kv.first);
  }
  const YAML::Node list = root["hosts"];
  if (!list.IsSequence()) return yaml_error(source, "hosts", "expected a list", list);
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = "hosts[" + std::to_string(i) + "]";
    FIRERUN_TRY(auto host, parse_host(list[i], source, path));
    if (!ids.insert(host.id).second) return yaml_error(source, path + ".id", "duplicate id '" + host.id + "'", list[i]);
    hosts.push_back(std::move(host));
  }
  return hosts;
}

std::unique_ptr<CloudProvider> make_static_provider(std::vector<Host> hosts) {
  return std::make_unique<StaticProvider>(std::move(hosts));
}

std::shared_ptr<CloudProviderFactory> make_static_provider_factory() {
  return std::make_shared<StaticProviderFactory>();
}

}  // namespace firerun::cloud
