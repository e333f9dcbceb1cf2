#include "cloud/fleet_config.h"

#include "cloud/user_data.h"
#include "cloud/yaml_fields.h"
#include "core/yaml_util.h"

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

// Fleet files are small; the cap bounds yaml-cpp's work (and its recursion on block nesting).
constexpr std::size_t kMaxFleetConfigBytes = 256 * 1024;
constexpr std::size_t kMaxFlowNesting = 32;

// Each section's key → handler; an unknown key is an error naming it.
using FieldHandler = std::function<Status(const YAML::Node& value, const std::string& path)>;

Status read_mapping(const YAML::Node& node, std::string_view source, const std::string& path,
                    const std::map<std::string, FieldHandler>& fields) {
  if (!node.IsMap()) return yaml_error(source, path, "expected a mapping", node);
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return yaml_error(source, path, "keys must be strings", kv.first);
    const std::string key = kv.first.Scalar();
    const std::string key_path = path.empty() ? key : path + "." + key;
    auto it = fields.find(key);
    if (it == fields.end()) {
      std::string known;
      for (const auto& [name, handler] : fields) known += (known.empty() ? "" : ", ") + name;
      return yaml_error(source, key_path, "unknown key (known: " + known + ")", kv.first);
    }
    FIRERUN_CHECK(it->second(kv.second, key_path));
  }
  return {};
}

Result<std::uint32_t> read_bounded(const YAML::Node& node, std::string_view source, const std::string& path,
                                   std::uint64_t min, std::uint64_t max) {
  FIRERUN_TRY(auto v, read_unsigned(node, source, path));
  if (v < min || v > max)
    return yaml_error(source, path, "must be between " + std::to_string(min) + " and " + std::to_string(max), node);
  return static_cast<std::uint32_t>(v);
}

// Keys left out keep the default's bound.
Result<Range> read_range(const YAML::Node& node, std::string_view source, const std::string& path,
                         std::uint64_t limit, Range r) {
  auto bound = [&](std::uint64_t& out) {
    return [&out, source, limit](const YAML::Node& v, const std::string& p) -> Status {
      FIRERUN_TRY(out, read_bounded(v, source, p, 0, limit));
      return {};
    };
  };
  FIRERUN_CHECK(read_mapping(node, source, path, {{"min", bound(r.min)}, {"max", bound(r.max)}}));
  return r;
}

// Aliases share nodes, so a small document can stand for an exponentially large one
// ("billion laughs"); count nodes against a budget before re-emitting any of them.
bool small_enough(const YAML::Node& node, std::size_t& budget, std::size_t depth = 0) {
  if (budget == 0 || depth > 64) return false;
  --budget;
  if (node.IsSequence()) {
    for (const auto& item : node)
      if (!small_enough(item, budget, depth + 1)) return false;
  } else if (node.IsMap()) {
    for (const auto& kv : node)
      if (!small_enough(kv.first, budget, depth + 1) || !small_enough(kv.second, budget, depth + 1)) return false;
  }
  return true;
}

// Provider options are strings; a nested mapping or list is handed over as its YAML text (e.g. the
// static provider's hosts_yaml), so the CLI needs no knowledge of any provider's options.
Result<std::string> option_value(const YAML::Node& node, std::string_view source, const std::string& path) {
  if (node.IsScalar()) return node.Scalar();
  if (node.IsMap() || node.IsSequence()) {
    std::size_t budget = 100000;
    if (!small_enough(node, budget)) return yaml_error(source, path, "too large (more than 100000 nodes)", node);
    YAML::Emitter out;
    out << node;
    if (!out.good()) return yaml_error(source, path, "cannot be re-emitted as YAML", node);
    return std::string(out.c_str());
  }
  return yaml_error(source, path, "expected a value", node);
}

bool valid_pool_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 &&
         name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == std::string::npos;
}

Result<std::string> read_file(const std::filesystem::path& file, std::string_view what) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(Errc::not_found, "cannot open " + std::string(what) + " '" + file.string() + "'");
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

}  // namespace

Result<FleetConfig> parse_fleet_config(std::string_view yaml, std::string_view source,
                                       const std::filesystem::path& base_dir) {
  if (yaml.size() > kMaxFleetConfigBytes)
    return make_error(Errc::invalid_argument, std::string(source) + ": larger than " +
                                                  std::to_string(kMaxFleetConfigBytes) + " bytes");
  if (firerun::yaml::nesting_too_deep(yaml, kMaxFlowNesting))
    return make_error(Errc::invalid_argument, std::string(source) + ": nested too deeply");
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return make_error(Errc::invalid_argument,
                      std::string(source) + ": invalid YAML at line " + std::to_string(e.mark.line + 1));
  }
  FleetConfig c;
  c.source = std::string(source);
  c.provider = std::string(kDefaultCloudProvider);
  bool have_pool = false;
  std::string template_file;

  auto provider = [&](const YAML::Node& v, const std::string& p) -> Status {
    FIRERUN_TRY(c.provider, read_string(v, source, p));
    if (c.provider.empty()) return yaml_error(source, p, "must name a provider", v);
    return {};
  };
  auto options = [&](const YAML::Node& v, const std::string& p) -> Status {
    if (!v.IsMap()) return yaml_error(source, p, "expected a mapping", v);
    for (const auto& kv : v) {
      if (!kv.first.IsScalar()) return yaml_error(source, p, "keys must be strings", kv.first);
      FIRERUN_TRY(c.provider_options.options[kv.first.Scalar()],
                  option_value(kv.second, source, p + "." + kv.first.Scalar()));
    }
    return {};
  };
  auto pool = [&](const YAML::Node& v, const std::string& p) -> Status {
    have_pool = true;
    auto count = [&](std::uint32_t& out, std::uint64_t min, std::uint64_t max) {
      return [&out, source, min, max](const YAML::Node& n, const std::string& np) -> Status {
        FIRERUN_TRY(out, read_bounded(n, source, np, min, max));
        return {};
      };
    };
    auto& pol = c.policy;
    FIRERUN_CHECK(read_mapping(
        v, source, p,
        {{"name", [&](const YAML::Node& n, const std::string& np) -> Status {
            FIRERUN_TRY(c.pool, read_string(n, source, np));
            if (!valid_pool_name(c.pool))
              return yaml_error(source, np, "must be 1..64 letters, digits, '.', '_' or '-'", n);
            return {};
          }},
         {"min_hosts", count(pol.min_hosts, 0, 10000)},
         {"max_hosts", count(pol.max_hosts, 0, 10000)},
         {"jobs_per_host", count(pol.jobs_per_host, 1, 100000)},
         {"max_launch_per_step", count(pol.max_launch_per_step, 1, 1000)},
         {"idle_grace_seconds", [&](const YAML::Node& n, const std::string& np) -> Status {
            FIRERUN_TRY(auto s, read_bounded(n, source, np, 0, 7 * 24 * 3600));
            pol.idle_grace = std::chrono::seconds(s);
            return {};
          }}}));
    if (c.pool.empty()) return yaml_error(source, p + ".name", "is required", v);
    if (pol.max_hosts < pol.min_hosts) return yaml_error(source, p + ".max_hosts", "is below min_hosts", v);
    return {};
  };
  auto request = [&](const YAML::Node& v, const std::string& p) -> Status {
    auto& r = c.request;
    FIRERUN_CHECK(read_mapping(
        v, source, p,
        {{"vcpus", [&](const YAML::Node& n, const std::string& np) -> Status {
            FIRERUN_TRY(r.vcpus, read_range(n, source, np, 4096, r.vcpus));
            return {};
          }},
         {"memory_mib", [&](const YAML::Node& n, const std::string& np) -> Status {
            FIRERUN_TRY(r.memory_mib, read_range(n, source, np, std::uint64_t{1} << 32, r.memory_mib));
            return {};
          }},
         {"families", [&](const YAML::Node& n, const std::string& np) -> Status {
            if (!n.IsSequence()) return yaml_error(source, np, "expected a list of strings", n);
            r.instance_families.clear();
            for (std::size_t i = 0; i < n.size(); ++i) {
              FIRERUN_TRY(auto f, read_string(n[i], source, np + "[" + std::to_string(i) + "]"));
              r.instance_families.push_back(std::move(f));
            }
            return {};
          }},
         {"architecture", [&](const YAML::Node& n, const std::string& np) -> Status {
            FIRERUN_TRY(auto a, read_string(n, source, np));
            if (a == to_string(Architecture::x86_64)) r.architecture = Architecture::x86_64;
            else if (a == to_string(Architecture::arm64)) r.architecture = Architecture::arm64;
            else return yaml_error(source, np, "must be x86_64 or arm64", n);
            return {};
          }},
         {"capacity", [&](const YAML::Node& n, const std::string& np) -> Status {
            FIRERUN_TRY(auto cap, read_string(n, source, np));
            if (cap == "spot_then_on_demand") r.capacity = CapacityPreference::spot_then_on_demand;
            else if (cap == "spot_only") r.capacity = CapacityPreference::spot_only;
            else if (cap == "on_demand_only") r.capacity = CapacityPreference::on_demand_only;
            else return yaml_error(source, np, "must be spot_then_on_demand, spot_only or on_demand_only", n);
            return {};
          }},
         {"disk_gib", [&](const YAML::Node& n, const std::string& np) -> Status {
            FIRERUN_TRY(r.disk_gib, read_bounded(n, source, np, 1, 16384));
            return {};
          }},
         {"tags", [&](const YAML::Node& n, const std::string& np) -> Status {
            FIRERUN_TRY(r.tags, read_string_map(n, source, np));
            if (r.tags.contains(std::string(kPoolTag)))
              return yaml_error(source, np + "." + std::string(kPoolTag), "is set from pool.name", n);
            return {};
          }}}));
    return {};
  };
  auto user_data = [&](const YAML::Node& v, const std::string& p) -> Status {
    FleetUserData ud;
    std::string inline_template;
    FIRERUN_CHECK(read_mapping(
        v, source, p,
        {{"template_file", [&](const YAML::Node& n, const std::string& np) -> Status {
            FIRERUN_TRY(template_file, read_string(n, source, np));
            return {};
          }},
         {"template", [&](const YAML::Node& n, const std::string& np) -> Status {
            FIRERUN_TRY(inline_template, read_string(n, source, np));
            return {};
          }},
         {"values", [&](const YAML::Node& n, const std::string& np) -> Status {
            FIRERUN_TRY(ud.values, read_string_map(n, source, np));
            // EC2 user-data is readable from the instance (IMDS) and by anyone with
            // ec2:DescribeInstanceAttribute: no secret goes in, from a file or the environment.
            for (const char* secret : {"join_token", "queue_password", "password", "token"})
              if (ud.values.contains(secret))
                return yaml_error(source, np + "." + secret,
                                  "secrets never go into user-data; store it in SSM Parameter Store and name the "
                                  "parameter in queue_password_parameter",
                                  n);
            return {};
          }},
         {"join_token_env", [&](const YAML::Node& n, const std::string& np) -> Status {
            return yaml_error(source, np,
                              "no longer supported: a token in user-data is readable by anything on the host; "
                              "store the queue password in SSM Parameter Store and set "
                              "values.queue_password_parameter",
                              n);
          }}}));
    if (!template_file.empty() && !inline_template.empty())
      return yaml_error(source, p, "set template_file or template, not both", v);
    if (!template_file.empty()) {
      auto path = std::filesystem::path(template_file);
      if (path.is_relative()) path = base_dir / path;
      FIRERUN_TRY(ud.template_text, add_context(read_file(path, "template"), c.source + ": " + p + ".template_file"));
    } else {
      ud.template_text = std::move(inline_template);
    }
    c.user_data = std::move(ud);
    return {};
  };

  if (!root.IsMap()) return yaml_error(source, "(document)", "expected a mapping", root);
  FIRERUN_CHECK(read_mapping(root, source, "",
                             {{"provider", provider},
                              {"options", options},
                              {"pool", pool},
                              {"request", request},
                              {"user_data", user_data}}));
  if (!have_pool) return yaml_error(source, "pool", "is required (at least pool.name)", root);
  c.request.tags[std::string(kPoolTag)] = c.pool;
  FIRERUN_CHECK(add_context(c.request.validate(), c.source + ": request"));
  return c;
}

Result<FleetConfig> load_fleet_config(const std::filesystem::path& file) {
  FIRERUN_TRY(auto text, read_file(file, "fleet config"));
  return parse_fleet_config(text, file.string(), file.parent_path());
}

Result<std::string> render_fleet_user_data(const FleetConfig& config) {
  if (!config.user_data)
    return make_error(Errc::invalid_argument, config.source + ": user_data: not configured (add a user_data section)");
  const auto& ud = *config.user_data;
  const std::string_view tmpl = ud.template_text.empty() ? default_user_data_template() : ud.template_text;
  return add_context(render_user_data(tmpl, ud.values), config.source + ": user_data");
}

}  // namespace firerun::cloud
