#include "config.h"

#include "ci/runner_broker.h"
#include "core/secret.h"
#include "firerun/fleet.h"
#include "firerun/image.h"

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>

extern char** environ;

namespace firerun::daemon {
namespace {

Error key_error(std::string_view key, std::string_view what) {
  return Error(Errc::invalid_argument, std::string(key) + ": " + std::string(what));
}

Result<bool> parse_cidr(const std::string& text) {
  boost::system::error_code ec;
  if (text.find(':') != std::string::npos) (void)boost::asio::ip::make_network_v6(text, ec);
  else (void)boost::asio::ip::make_network_v4(text, ec);
  if (ec) return key_error("ci.allow_cidrs", "'" + text + "' is not a CIDR block (e.g. 192.30.252.0/22)");
  return true;
}

Result<std::uint64_t> positive_integer(std::string_view key, const std::string& text, bool allow_zero = false) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || (!allow_zero && v == 0))
    return key_error(key, allow_zero ? "must be a non-negative integer" : "must be a positive integer");
  return v;
}

Result<double> positive_number(std::string_view key, const std::string& text, bool allow_zero = false) {
  std::istringstream in(text);
  double v = 0;
  in >> v;
  if (text.empty() || !in.eof() || in.fail() || !std::isfinite(v) || v < 0 || (!allow_zero && v == 0))
    return key_error(key, allow_zero ? "must be a non-negative number" : "must be a positive number");
  return v;
}

/// "a, b,c" -> {"a", "b", "c"} (empty items dropped).
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

/// The CI provider names the registries know (webhook dialects that also have a runner broker).
std::vector<std::string> known_ci_providers() {
  ci::CiProviderRegistry providers;
  ci::RunnerBrokerRegistry brokers;
  (void)ci::register_builtin_ci_providers(providers);
  (void)ci::register_builtin_runner_brokers(brokers);
  std::vector<std::string> out;
  for (const auto& info : providers.list())
    if (brokers.find(info.name)) out.push_back(info.name);
  return out;
}

/// Moves `ci.<provider>.<key>` entries (file and environment) into config.ci.providers.
Status collect_ci_providers(std::map<std::string, std::string>& values, const std::map<std::string, std::string>& env,
                            Config& config) {
  const auto names = known_ci_providers();
  std::map<std::string, std::map<std::string, std::string>> raw;
  for (auto it = values.begin(); it != values.end();) {
    const std::string& key = it->first;
    bool taken = false;
    for (const auto& name : names) {
      const std::string prefix = "ci." + name + ".";
      if (key.rfind(prefix, 0) == 0 && key.size() > prefix.size()) {
        raw[name][key.substr(prefix.size())] = it->second;
        taken = true;
      }
    }
    it = taken ? values.erase(it) : std::next(it);
  }
  // FIRERUN_CI_GITHUB_TOKEN_FILE -> ci.github.token_file (provider names have no '_').
  for (const auto& [var, value] : env)
    for (const auto& name : names) {
      const std::string prefix = env_name_for("ci." + name) + "_";
      if (var.rfind(prefix, 0) != 0 || var.size() == prefix.size()) continue;
      std::string key = var.substr(prefix.size());
      for (auto& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      raw[name][key] = value;
    }
  ci::RunnerBrokerRegistry brokers;
  FIRERUN_CHECK(ci::register_builtin_runner_brokers(brokers));
  for (auto& [name, settings] : raw) {
    ci::SettingsReader read("ci." + name + ".", settings);
    CiProviderConfig provider;
    FIRERUN_TRY(auto secret, read.secret("webhook_secret"));
    if (!secret)
      return key_error("ci." + name + ".webhook_secret_file",
                       "required (or " + env_name_for("ci." + name + ".webhook_secret") + ")");
    provider.webhook_secret = std::string(secret->reveal());
    provider.image = read.text("image", name + "-runner");
    for (const auto& [key, value] : settings)
      if (key != "webhook_secret" && key != "webhook_secret_file" && key != "image") provider.broker[key] = value;
    // Validate the broker settings now (--check-config), not on the first job.
    ci::LabelPolicy policy = config.ci.labels;
    policy.defaults.image = provider.image;
    FIRERUN_TRY(auto factory, brokers.find(name));
    FIRERUN_CHECK(factory->create(provider.broker, policy));
    config.ci.providers[name] = std::move(provider);
  }
  return {};
}

/// A bearer token: `variable` from the environment, else `file` (a secret
/// file, at least 16 characters); empty when neither is set.
Result<std::string> read_token(const std::map<std::string, std::string>& env, const char* variable,
                               std::string_view file_key, const std::filesystem::path& file) {
  std::string token;
  if (auto it = env.find(variable); it != env.end()) {
    token = it->second;
  } else if (!file.empty()) {
    FIRERUN_TRY(auto secret, firerun::read_secret_file(file, file_key));
    token = std::string(secret.reveal());
  } else {
    return token;
  }
  if (token.size() < 16)
    return key_error(env.count(variable) ? std::string_view(variable) : file_key,
                     "token " + (env.count(variable) ? std::string() : "in " + file.string() + " ") +
                         "must be at least 16 characters");
  return token;
}

/// fleet.queue_password_file → the password part of fleet.queue.
Status merge_queue_password(FleetConfig& fleet) {
  constexpr std::string_view key = "fleet.queue_password_file";
  if (fleet.queue.empty()) return key_error(key, "needs fleet.queue");
  FIRERUN_TRY(auto password, firerun::read_secret_file(fleet.queue_password_file, key));
  auto parsed = boost::urls::parse_uri(fleet.queue);
  if (!parsed) return key_error("fleet.queue", "is not a URI");
  boost::urls::url uri(*parsed);
  if (uri.has_password()) return key_error(key, "fleet.queue already holds a password: give it in one place");
  uri.set_password(password.reveal());
  fleet.queue = std::string(uri.buffer());
  FIRERUN_CHECK(add_context(fleet::open_shared_queue(fleet.queue), "fleet.queue"));
  return {};
}

/// One documented key: how to apply its scalar text to a Config.
struct KeySpec {
  const char* key;
  std::function<Status(Config&, const std::string&)> apply;
};

std::vector<KeySpec> key_specs() {
  auto uint_key = [](const char* key, auto setter, bool allow_zero, std::uint64_t max) {
    return KeySpec{key, [key, setter, allow_zero, max](Config& c, const std::string& v) -> Status {
                     FIRERUN_TRY(auto n, positive_integer(key, v, allow_zero));
                     if (n > max) return key_error(key, "must be at most " + std::to_string(max));
                     setter(c, n);
                     return {};
                   }};
  };
  auto real_key = [](const char* key, auto setter, bool allow_zero) {
    return KeySpec{key, [key, setter, allow_zero](Config& c, const std::string& v) -> Status {
                     FIRERUN_TRY(auto n, positive_number(key, v, allow_zero));
                     setter(c, n);
                     return {};
                   }};
  };
  auto text_key = [](const char* key, auto setter) {
    return KeySpec{key, [key, setter](Config& c, const std::string& v) -> Status {
                     if (v.empty()) return key_error(key, "must not be empty");
                     return setter(c, v);
                   }};
  };
  constexpr std::uint64_t kBig = 1ull << 40;
  return {
      text_key("listen",
               [](Config& c, const std::string& v) -> Status {
                 auto colon = v.rfind(':');
                 if (colon == std::string::npos || colon == 0)
                   return key_error("listen", "must be host:port (e.g. 127.0.0.1:8080)");
                 FIRERUN_TRY(auto port, positive_integer("listen", v.substr(colon + 1), true));
                 if (port > 65535) return key_error("listen", "port must be at most 65535");
                 c.listen = v;
                 return {};
               }),
      text_key("state_dir", [](Config& c, const std::string& v) -> Status { c.state_dir = v; return {}; }),
      text_key("image_cache", [](Config& c, const std::string& v) -> Status { c.image_cache = v; return {}; }),
      text_key("backend", [](Config& c, const std::string& v) -> Status { c.backend = v; return {}; }),
      text_key("vm_start",
               [](Config& c, const std::string& v) -> Status {
                 if (v != "snapshot" && v != "cold") return key_error("vm_start", "must be snapshot or cold");
                 c.vm_start = v;
                 return {};
               }),
      text_key("log_level",
               [](Config& c, const std::string& v) -> Status {
                 for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"})
                   if (v == level) {
                     c.log_level = v;
                     return {};
                   }
                 return key_error("log_level", "must be one of trace, debug, info, warn, error, critical, off");
               }),
      text_key("auth",
               [](Config& c, const std::string& v) -> Status {
                 if (v != "none")
                   return key_error("auth", "must be a mapping (token_file, admin_token_file) or 'none'");
                 c.auth_none = true;
                 return {};
               }),
      text_key("auth.token_file", [](Config& c, const std::string& v) -> Status { c.auth_token_file = v; return {}; }),
      text_key("auth.admin_token_file",
               [](Config& c, const std::string& v) -> Status { c.admin_token_file = v; return {}; }),
      text_key("auth.allowed_hosts",
               [](Config& c, const std::string& v) -> Status { c.allowed_hosts = split_list(v); return {}; }),
      uint_key("limits.max_body_bytes", [](Config& c, std::uint64_t n) { c.limits.max_body_bytes = n; }, false, 1ull << 30),
      uint_key("limits.max_code_bytes", [](Config& c, std::uint64_t n) { c.limits.max_code_bytes = n; }, false, 1ull << 30),
      uint_key("limits.max_output_bytes", [](Config& c, std::uint64_t n) { c.limits.max_output_bytes = n; }, false, 1ull << 30),
      uint_key("limits.max_timeout_ms", [](Config& c, std::uint64_t n) { c.limits.max_timeout_ms = n; }, false, 24ull * 3600 * 1000),
      uint_key("limits.default_timeout_ms", [](Config& c, std::uint64_t n) { c.limits.default_timeout_ms = n; }, false, 24ull * 3600 * 1000),
      uint_key("limits.max_memory_mb", [](Config& c, std::uint64_t n) { c.limits.max_memory_mb = n; }, false, 65536),
      uint_key("limits.default_memory_mb", [](Config& c, std::uint64_t n) { c.limits.default_memory_mb = n; }, false, 65536),
      uint_key("limits.max_vcpus", [](Config& c, std::uint64_t n) { c.limits.max_vcpus = static_cast<unsigned>(n); }, false, 64),
      uint_key("limits.max_concurrent_jobs", [](Config& c, std::uint64_t n) { c.limits.max_concurrent_jobs = static_cast<unsigned>(n); }, false, 4096),
      uint_key("limits.max_queue", [](Config& c, std::uint64_t n) { c.limits.max_queue = n; }, false, 1000000),
      real_key("limits.rate_limit_per_second", [](Config& c, double n) { c.limits.rate_limit_per_second = n; }, true),
      uint_key("limits.rate_limit_burst", [](Config& c, std::uint64_t n) { c.limits.rate_limit_burst = n; }, false, 1000000),
      uint_key("limits.request_timeout_ms", [](Config& c, std::uint64_t n) { c.limits.request_timeout_ms = n; }, false, kBig),
      uint_key("limits.idle_timeout_ms", [](Config& c, std::uint64_t n) { c.limits.idle_timeout_ms = n; }, false, kBig),
      uint_key("limits.max_connections", [](Config& c, std::uint64_t n) { c.limits.max_connections = n; }, false, 1u << 20),
      uint_key("limits.max_connections_per_client", [](Config& c, std::uint64_t n) { c.limits.max_connections_per_client = n; }, false, 1u << 20),
      uint_key("limits.max_header_bytes", [](Config& c, std::uint64_t n) { c.limits.max_header_bytes = n; }, false, 1u << 20),
      text_key("limits.allow_root",
               [](Config& c, const std::string& v) -> Status {
                 if (v != "true" && v != "false") return key_error("limits.allow_root", "must be true or false");
                 c.limits.allow_root = v == "true";
                 return {};
               }),
      uint_key("limits.max_target_bytes", [](Config& c, std::uint64_t n) { c.limits.max_target_bytes = n; }, false, 1u << 20),
      real_key("scheduler.cpu_overcommit", [](Config& c, double n) { c.cpu_overcommit = n; }, false),
      real_key("scheduler.memory_overcommit", [](Config& c, double n) { c.memory_overcommit = n; }, false),
      uint_key("scheduler.host_vcpus", [](Config& c, std::uint64_t n) { c.host_vcpus = static_cast<unsigned>(n); }, true, 4096),
      uint_key("scheduler.host_memory_mb", [](Config& c, std::uint64_t n) { c.host_memory_mb = n; }, true, kBig),
      uint_key("scheduler.max_attempts", [](Config& c, std::uint64_t n) { c.max_attempts = static_cast<unsigned>(n); }, false, 10),
      text_key("scheduler.on_restart",
               [](Config& c, const std::string& v) -> Status {
                 if (v == "fail") c.on_restart = scheduler::InterruptedPolicy::fail;
                 else if (v == "retry") c.on_restart = scheduler::InterruptedPolicy::retry;
                 else return key_error("scheduler.on_restart", "must be 'fail' or 'retry'");
                 return {};
               }),
      uint_key("scheduler.shutdown_grace_ms", [](Config& c, std::uint64_t n) { c.shutdown_grace_ms = n; }, true, kBig),
      uint_key("scheduler.boot_allowance_ms", [](Config& c, std::uint64_t n) { c.boot_allowance_ms = n; }, false, kBig),
      KeySpec{"fleet.queue",
              [](Config& c, const std::string& v) -> Status {
                // Empty = standalone. Opening validates the URI without connecting.
                if (!v.empty()) FIRERUN_CHECK(add_context(fleet::open_shared_queue(v), "fleet.queue"));
                c.fleet.queue = v;
                return {};
              }},
      text_key("fleet.key_file", [](Config& c, const std::string& v) -> Status { c.fleet.key_file = v; return {}; }),
      text_key("fleet.kinds",
               [](Config& c, const std::string& v) -> Status {
                 c.fleet.kinds = split_list(v);
                 for (const auto& kind : c.fleet.kinds)
                   if (kind != "code")
                     return key_error("fleet.kinds", "'" + kind + "': this daemon takes only 'code' jobs from a queue");
                 return {};
               }),
      text_key("fleet.queue_password_file",
               [](Config& c, const std::string& v) -> Status { c.fleet.queue_password_file = v; return {}; }),
      KeySpec{"fleet.host_id",
              [](Config& c, const std::string& v) -> Status {
                if (!v.empty() && !fleet::valid_fleet_name(v))
                  return key_error("fleet.host_id", "must be 1-128 characters of [A-Za-z0-9._-]");
                c.fleet.host_id = v;
                return {};
              }},
      text_key("fleet.spot_watch.provider",
               [](Config& c, const std::string& v) -> Status { c.fleet.spot_watch.provider = v; return {}; }),
      text_key("fleet.spot_watch.imds_endpoint",
               [](Config& c, const std::string& v) -> Status { c.fleet.spot_watch.imds_endpoint = v; return {}; }),
      uint_key("fleet.spot_watch.interval_ms", [](Config& c, std::uint64_t n) { c.fleet.spot_watch.interval_ms = n; }, false, 3600000),
      text_key("fleet.spot_watch.enabled",
               [](Config& c, const std::string& v) -> Status {
                 if (v != "true" && v != "false") return key_error("fleet.spot_watch.enabled", "must be true or false");
                 c.fleet.spot_watch.enabled = v == "true";
                 return {};
               }),
      text_key("ci.allow_cidrs",
               [](Config& c, const std::string& v) -> Status {
                 c.ci.allow_cidrs.clear();
                 for (auto& cidr : split_list(v)) {
                   FIRERUN_CHECK(parse_cidr(cidr));
                   c.ci.allow_cidrs.push_back(cidr);
                 }
                 return {};
               }),
      real_key("ci.webhook_rate_limit_per_second", [](Config& c, double n) { c.ci.webhook_rate_per_second = n; }, true),
      uint_key("ci.webhook_rate_limit_burst", [](Config& c, std::uint64_t n) { c.ci.webhook_rate_burst = n; }, false, 1000000),
      uint_key("ci.max_body_bytes", [](Config& c, std::uint64_t n) { c.ci.max_body_bytes = n; }, false, 1ull << 30),
      uint_key("ci.job_timeout_ms", [](Config& c, std::uint64_t n) { c.ci.job_timeout_ms = n; }, false, 7ull * 24 * 3600 * 1000),
      uint_key("ci.api_retry_ms", [](Config& c, std::uint64_t n) { c.ci.api_retry_ms = n; }, true, kBig),
      uint_key("ci.housekeeping_interval_ms", [](Config& c, std::uint64_t n) { c.ci.housekeeping_interval_ms = n; }, false, kBig),
      uint_key("ci.max_resubmits", [](Config& c, std::uint64_t n) { c.ci.max_resubmits = n; }, true, 100),
      text_key("ci.network",
               [](Config& c, const std::string& v) -> Status {
                 if (v != "true" && v != "false") return key_error("ci.network", "must be true or false");
                 c.ci.network = v == "true";
                 return {};
               }),
      text_key("ci.network_allow",
               [](Config& c, const std::string& v) -> Status {
                 c.ci.network_allow = split_list(v);
                 return {};
               }),
      text_key("ci.network_dns",
               [](Config& c, const std::string& v) -> Status {
                 c.ci.network_dns = split_list(v);
                 return {};
               }),
      text_key("jail",
               [](Config& c, const std::string& v) -> Status {
                 if (v != "off" && v != "on" && v != "false" && v != "true")
                   return key_error("jail", "must be a mapping of jail settings, or 'off' (VMMs unconfined)");
                 c.jail.enabled = v == "on" || v == "true";
                 return {};
               }),
      text_key("jail.enabled",
               [](Config& c, const std::string& v) -> Status {
                 if (v != "true" && v != "false") return key_error("jail.enabled", "must be true or false");
                 c.jail.enabled = v == "true";
                 return {};
               }),
      text_key("jail.uid_range",
               [](Config& c, const std::string& v) -> Status {
                 // "FIRST-LAST", inclusive
                 auto dash = v.find('-');
                 char* end = nullptr;
                 unsigned long long first = std::strtoull(v.c_str(), &end, 10);
                 unsigned long long last = dash == std::string::npos ? 0 : std::strtoull(v.c_str() + dash + 1, nullptr, 10);
                 if (dash == std::string::npos || end != v.c_str() + dash || first == 0 || last < first || last > 0xfffffffeULL)
                   return key_error("jail.uid_range", "must be FIRST-LAST (e.g. 900000-904095), not containing 0");
                 c.jail.uid_first = static_cast<std::uint32_t>(first);
                 c.jail.uid_count = static_cast<std::uint32_t>(last - first + 1);
                 return {};
               }),
      text_key("jail.cgroup_parent", [](Config& c, const std::string& v) -> Status { c.jail.cgroup_parent = v; return {}; }),
      text_key("jail.chroot_base", [](Config& c, const std::string& v) -> Status { c.jail.chroot_base = v; return {}; }),
      text_key("jail.run_dir", [](Config& c, const std::string& v) -> Status { c.jail.run_dir = v; return {}; }),
      uint_key("jail.memory_overhead_mib", [](Config& c, std::uint64_t n) { c.jail.memory_overhead_mib = n; }, true, 1u << 20),
      uint_key("jail.pids_max", [](Config& c, std::uint64_t n) { c.jail.pids_max = static_cast<std::uint32_t>(n); }, false, 1u << 22),
      real_key("jail.cpu_overhead", [](Config& c, double n) { c.jail.cpu_overhead = n; }, true),
      uint_key("jail.max_open_files", [](Config& c, std::uint64_t n) { c.jail.max_open_files = n; }, false, 1u << 20),
      text_key("jail.link_cidr", [](Config& c, const std::string& v) -> Status { c.jail.link_cidr = v; return {}; }),
      text_key("jail.dns", [](Config& c, const std::string& v) -> Status { c.jail.dns = split_list(v); return {}; }),
      uint_key("ci.labels.default_cpu", [](Config& c, std::uint64_t n) { c.ci.labels.defaults.vcpus = static_cast<std::uint32_t>(n); }, false, 256),
      uint_key("ci.labels.default_ram_gb", [](Config& c, std::uint64_t n) { c.ci.labels.defaults.memory_gib = static_cast<std::uint32_t>(n); }, false, 4096),
      uint_key("ci.labels.default_disk_gb", [](Config& c, std::uint64_t n) { c.ci.labels.defaults.disk_gib = static_cast<std::uint32_t>(n); }, false, 65536),
      uint_key("ci.labels.max_cpu", [](Config& c, std::uint64_t n) { c.ci.labels.limits.max_vcpus = static_cast<std::uint32_t>(n); }, false, 256),
      uint_key("ci.labels.max_ram_gb", [](Config& c, std::uint64_t n) { c.ci.labels.limits.max_memory_gib = static_cast<std::uint32_t>(n); }, false, 4096),
      uint_key("ci.labels.max_disk_gb", [](Config& c, std::uint64_t n) { c.ci.labels.limits.max_disk_gib = static_cast<std::uint32_t>(n); }, false, 65536),
      text_key("ci.labels.images", [](Config& c, const std::string& v) -> Status { c.ci.labels.limits.images = split_list(v); return {}; }),
      text_key("ci.labels.pools", [](Config& c, const std::string& v) -> Status { c.ci.labels.limits.pools = split_list(v); return {}; }),
  };
}

/// Flattens a YAML mapping into "a.b" → scalar text; rejects non-scalars at leaves.
Status flatten(const YAML::Node& node, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (!node.IsMap()) return key_error(prefix.empty() ? "<top level>" : prefix, "must be a mapping");
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return key_error(prefix.empty() ? "<top level>" : prefix, "keys must be strings");
    std::string key = prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar();
    if (kv.second.IsMap()) {
      FIRERUN_CHECK(flatten(kv.second, key, out));
    } else if (kv.second.IsScalar()) {
      out[key] = kv.second.Scalar();
    } else if (kv.second.IsNull()) {
      out[key] = "";
    } else {
      return key_error(key, "must be a single value");
    }
  }
  return {};
}

}  // namespace

bool is_loopback_listen(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

std::string env_name_for(std::string_view key) {
  std::string out = "FIRERUN_";
  for (char c : key) out.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> out;
  for (const auto& spec : key_specs()) out.emplace_back(spec.key);
  return out;
}

Result<Config> parse_config(std::string_view yaml_text, const std::map<std::string, std::string>& env) {
  std::map<std::string, std::string> values;
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (root && !root.IsNull()) FIRERUN_CHECK(flatten(root, "", values));
  } catch (const YAML::Exception& e) {
    return Error(Errc::invalid_argument, std::string("malformed YAML: ") + e.what());
  }
  const auto specs = key_specs();
  Config config;
  FIRERUN_CHECK(collect_ci_providers(values, env, config));
  for (const auto& [key, value] : values) {
    bool known = false;
    for (const auto& spec : specs) known = known || key == spec.key;
    if (!known) return key_error(key, "unknown key");
  }
  // The environment wins over the file.
  for (const auto& spec : specs)
    if (auto it = env.find(env_name_for(spec.key)); it != env.end()) values[spec.key] = it->second;

  for (const auto& spec : specs)
    if (auto it = values.find(spec.key); it != values.end()) FIRERUN_CHECK(spec.apply(config, it->second));

  FIRERUN_TRY(config.auth_token, read_token(env, "FIRERUN_AUTH_TOKEN", "auth.token_file", config.auth_token_file));
  FIRERUN_TRY(config.admin_token,
              read_token(env, "FIRERUN_AUTH_ADMIN_TOKEN", "auth.admin_token_file", config.admin_token_file));
  if (!config.admin_token.empty() && config.admin_token == config.auth_token)
    return key_error("auth.admin_token_file", "the admin token must differ from the API token");
  if (config.auth_none && !config.auth_token.empty())
    return key_error("auth", "'none' contradicts auth.token_file / FIRERUN_AUTH_TOKEN");
  // Safe default: nobody reachable over the network gets in without a token.
  if (config.auth_token.empty() && !config.auth_none && !is_loopback_listen(config.listen))
    return key_error("listen", config.listen +
                                   " is not a loopback address and no auth token is set: set auth.token_file (or "
                                   "FIRERUN_AUTH_TOKEN), or 'auth: none' to serve it unauthenticated on purpose");
  if (!config.fleet.queue_password_file.empty()) FIRERUN_CHECK(merge_queue_password(config.fleet));
  if (auto it = env.find("FIRERUN_FLEET_KEY"); it != env.end()) config.fleet.key = it->second;
  else if (!config.fleet.key_file.empty()) {
    FIRERUN_TRY(auto key, firerun::read_secret_file(config.fleet.key_file, "fleet.key_file"));
    config.fleet.key = std::string(key.reveal());
  }
  if (!config.fleet.queue.empty() && config.fleet.key.size() < 32)
    return key_error("fleet.key_file", config.fleet.key.empty()
                                           ? "required with fleet.queue: every entry is signed with the fleet key "
                                             "(at least 32 bytes, shared by the fleet's hosts and producers)"
                                           : "the fleet key must be at least 32 bytes");
  FIRERUN_CHECK(validate(config.jail));
  if (config.ci.enabled()) FIRERUN_CHECK(add_context(ci::validate_label_policy(config.ci.labels), "ci.labels"));
  const Limits& l = config.limits;
  if (l.default_timeout_ms > l.max_timeout_ms)
    return key_error("limits.default_timeout_ms", "must not exceed limits.max_timeout_ms");
  if (l.default_memory_mb > l.max_memory_mb)
    return key_error("limits.default_memory_mb", "must not exceed limits.max_memory_mb");
  if (l.max_code_bytes > l.max_body_bytes)
    return key_error("limits.max_code_bytes", "must not exceed limits.max_body_bytes");
  if (config.image_cache.empty()) config.image_cache = image::default_cache_root();
  return config;
}

Result<Config> load_config(const std::filesystem::path& path) {
  std::string text;
  if (!path.empty()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error(Errc::not_found, "cannot read config file " + path.string());
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("FIRERUN_", 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  auto config = parse_config(text, env);
  if (!config && !path.empty()) return std::move(config).error().with_context(path.string());
  return config;
}

scheduler::Options scheduler_options(const Config& c) {
  scheduler::Options o;
  o.database = c.state_dir / "jobs.db";
  o.max_queue = c.limits.max_queue;
  o.workers = c.limits.max_concurrent_jobs;
  o.host_vcpus = c.host_vcpus;
  o.host_memory_mib = c.host_memory_mb;
  o.cpu_overcommit = c.cpu_overcommit;
  o.memory_overcommit = c.memory_overcommit;
  o.max_attempts = c.max_attempts;
  o.interrupted = c.on_restart;
  return o;
}

}  // namespace firerun::daemon
