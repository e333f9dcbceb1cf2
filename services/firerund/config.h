// firerund configuration: one YAML file plus FIRERUN_* environment overrides,
// validated up front; errors name the offending key.
#pragma once

#include "firerun/ci.h"
#include "firerun/error.h"
#include "firerun/jail.h"
#include "firerun/scheduler.h"
#include "fleet_config.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace firerun::daemon {

struct Limits {
  std::uint64_t max_body_bytes = 1u << 20;     ///< HTTP request body
  std::uint64_t max_code_bytes = 256u << 10;   ///< code + files
  std::uint64_t max_output_bytes = 1u << 20;   ///< per stream
  std::uint64_t max_timeout_ms = 60000;        ///< user run timeout ceiling
  std::uint64_t default_timeout_ms = 10000;
  std::uint64_t max_memory_mb = 2048;
  std::uint64_t default_memory_mb = 256;       ///< raised to the language's minimum
  unsigned max_vcpus = 2;
  unsigned max_concurrent_jobs = 2;
  std::uint64_t max_queue = 1000;
  double rate_limit_per_second = 20;           ///< per client address; 0 disables
  std::uint64_t rate_limit_burst = 40;
  std::uint64_t request_timeout_ms = 30000;    ///< reading one request (headers + body)
  std::uint64_t idle_timeout_ms = 60000;       ///< keep-alive idle connection
  /// Open connections in all and per client address. Past either, the oldest
  /// connection that is not running a request is closed to make room; when
  /// every one is busy the new one gets 503 and is closed.
  std::uint64_t max_connections = 1024;
  std::uint64_t max_connections_per_client = 256;
  std::uint64_t max_header_bytes = 16 * 1024;  ///< request line + headers (431 past it)
  std::uint64_t max_target_bytes = 8 * 1024;   ///< request target (414 past it)
  /// Requests may ask for `"root": true` (their code runs as the guest's root,
  /// which can crash its own VM; it never reaches the host). Off by default.
  bool allow_root = false;
};

/// One CI provider's webhook endpoint and runner settings (`ci.<provider>.*`).
struct CiProviderConfig {
  std::string webhook_secret;                 ///< HMAC key / token; never logged
  std::string image;                          ///< default image for its runner VMs
  std::map<std::string, std::string> broker;  ///< the remaining keys, for the provider's runner broker
};

/// CI runners (`ci.*`): webhooks in, one VM per job.
struct CiConfig {
  std::map<std::string, CiProviderConfig> providers;  ///< enabled providers by registry name
  ci::LabelPolicy labels;
  std::vector<std::string> allow_cidrs;       ///< webhook sources; empty = any
  double webhook_rate_per_second = 10;        ///< per source address; 0 disables
  std::uint64_t webhook_rate_burst = 100;
  std::uint64_t max_body_bytes = 25u << 20;   ///< GitHub's own cap on payloads
  std::uint64_t job_timeout_ms = 6ull * 3600 * 1000;
  std::uint64_t api_retry_ms = 10ull * 60 * 1000;  ///< how long a job keeps retrying an unreachable API
  std::uint64_t housekeeping_interval_ms = 5ull * 60 * 1000;
  std::uint64_t max_resubmits = 2;            ///< new VMs for a job whose daemon died under it
  bool network = false;                       ///< runner VMs get a NIC (real runners need it)
  /// Where runner VMs may connect: CIDRs / host names (your GitHub Enterprise
  /// or GitLab host, a proxy); empty = the public internet. Never the host,
  /// link-local (metadata) or private ranges unless listed.
  std::vector<std::string> network_allow;
  std::vector<std::string> network_dns;       ///< resolvers for runner VMs; empty = jail.dns / the host's
  bool enabled() const { return !providers.empty(); }
};

struct Config {
  std::string listen = "127.0.0.1:8080";       ///< host:port (port 0 = any free port)
  std::filesystem::path state_dir = "/var/lib/firerun";
  std::filesystem::path image_cache;           ///< empty = image::default_cache_root()
  std::string backend = "qemu:///?accel=auto";
  /// "snapshot": restore each job's fresh VM from a cached snapshot of its
  /// image and shape (made on first use; ~10x faster); "cold": boot every VM.
  std::string vm_start = "snapshot";
  std::string log_level = "info";
  std::filesystem::path auth_token_file;       ///< where the token came from (for messages)
  std::string auth_token;                      ///< empty = no auth. Never logged.
  /// `auth: none`: serve a non-loopback listen address without a token (refused otherwise).
  bool auth_none = false;
  std::filesystem::path admin_token_file;
  std::string admin_token;                     ///< /v1/admin/*; empty = admin routes disabled. Never logged.
  /// Host names (besides localhost, 127.0.0.1, ::1 and the listen address)
  /// accepted in Host/Origin when there is no auth token.
  std::vector<std::string> allowed_hosts;
  Limits limits;
  double cpu_overcommit = 1.0;
  double memory_overcommit = 1.0;
  unsigned host_vcpus = 0;                     ///< 0 = detected
  std::uint64_t host_memory_mb = 0;            ///< 0 = detected
  unsigned max_attempts = 2;
  scheduler::InterruptedPolicy on_restart = scheduler::InterruptedPolicy::fail;
  std::uint64_t shutdown_grace_ms = 30000;
  std::uint64_t boot_allowance_ms = 120000;    ///< added to the user timeouts for the job deadline
  FleetConfig fleet;                           ///< shared queue and spot watch (docs/fleet.md)
  JailOptions jail;                            ///< containment of every VMM (docs/security.md)
  CiConfig ci;
};

/// Parses YAML text and applies `env` overrides (FIRERUN_LISTEN,
/// FIRERUN_LIMITS_MAX_BODY_BYTES, ...: the key path upper-cased, dots as '_').
/// FIRERUN_AUTH_TOKEN sets the token directly; auth.token_file is read here.
Result<Config> parse_config(std::string_view yaml_text, const std::map<std::string, std::string>& env);
/// Whether `listen` ("host:port") is a loopback address.
bool is_loopback_listen(const std::string& listen);
/// Reads `path` (empty = defaults only) and the process environment.
Result<Config> load_config(const std::filesystem::path& path);
/// The documented keys (for --help and docs), e.g. "limits.max_body_bytes".
std::vector<std::string> config_keys();
/// The environment variable that overrides a key ("limits.max_body_bytes" → FIRERUN_LIMITS_MAX_BODY_BYTES).
std::string env_name_for(std::string_view key);
/// Scheduler options derived from the config.
scheduler::Options scheduler_options(const Config& config);

}  // namespace firerun::daemon
