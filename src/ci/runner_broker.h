// One-job runners: for a CI job, register a runner that takes exactly that
// job, tell the VM how to start it, and remove it afterwards.
//
// Brokers are picked by provider name from a registry ("github", "gitlab"),
// configured from the `ci.<provider>.*` settings the daemon passes through, so
// the daemon never names a provider. Every call is blocking HTTP with retries
// (RestClient): run them off the io thread.
//
// Credentials (JIT configs, runner tokens) reach the VM only as GuestFiles
// written through the guest agent; argv and env never carry them, and they are
// SecretString so they cannot reach a log line.
#pragma once

#include "ci/rest_client.h"
#include "core/secret.h"
#include "firerun/ci.h"
#include "firerun/registry.h"

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::ci {

/// `ci.<provider>.*` configuration keys (without the prefix) and their values as text.
/// A secret `x` may be given as `x` (from the environment) or `x_file` (read at create()).
using BrokerSettings = std::map<std::string, std::string>;

/// A file written into the guest before the runner starts.
struct GuestFile {
  std::string path;     ///< absolute guest path
  SecretString content;
  unsigned mode = 0600;
};

/// A runner registered for one job, and how the VM starts it.
struct RunnerLease {
  std::string provider;
  std::uint64_t runner_id = 0;
  std::string runner_name;
  std::string scope;                        ///< where it is registered ("repos/o/r", "orgs/o", "gitlab")
  std::vector<GuestFile> files;             ///< credentials and config, written first
  std::vector<std::string> argv;            ///< the runner command; never contains a credential
  std::map<std::string, std::string> env;   ///< never contains a credential
};

/// Whether a job still wants a runner, after the broker looked at it.
struct JobCheck {
  bool run = true;
  std::string reason;  ///< why not, when !run
};

class RunnerBroker {
 public:
  virtual ~RunnerBroker() = default;
  virtual std::string_view name() const noexcept = 0;
  /// Completes a request before a runner is made (GitLab looks the job's tags up
  /// and resolves its shape). run=false when the job is not (or no longer) ours.
  virtual Result<JobCheck> prepare(JobRequest& request) = 0;
  /// Registers a runner that takes exactly this job.
  virtual Result<RunnerLease> register_runner(const JobRequest& request) = 0;
  /// Removes a runner; one that is already gone counts as removed.
  virtual Status remove_runner(const std::string& scope, std::uint64_t runner_id) = 0;
  /// Removes firerun runners in `scope` whose names are not in `live`; returns the names
  /// removed. Providers that cannot list runners return an empty list.
  virtual Result<std::vector<std::string>> remove_stale_runners(const std::string& scope,
                                                                const std::set<std::string>& live) = 0;
};

class RunnerBrokerFactory {
 public:
  virtual ~RunnerBrokerFactory() = default;
  /// Name (the provider's registry name), description, status.
  virtual BackendInfo info() const = 0;
  /// Validates `settings` (an unknown or missing key is invalid_argument naming it) and
  /// reads secret files. `policy` resolves labels looked up later.
  virtual Result<std::unique_ptr<RunnerBroker>> create(const BrokerSettings& settings,
                                                       const LabelPolicy& policy) const = 0;
};

using RunnerBrokerRegistry = Registry<RunnerBrokerFactory>;

/// Adds the built-in "github" and "gitlab" brokers.
Status register_builtin_runner_brokers(RunnerBrokerRegistry& registry);

/// Reads settings for a broker: remembers which keys were used so leftovers are reported.
class SettingsReader {
 public:
  SettingsReader(std::string prefix, const BrokerSettings& settings) : prefix_(std::move(prefix)), settings_(settings) {}
  /// The value of `key`, or `fallback` when absent.
  std::string text(const std::string& key, const std::string& fallback = {});
  /// A positive integer; invalid_argument naming the key otherwise.
  Result<std::uint64_t> number(const std::string& key, std::uint64_t fallback);
  /// A secret given as `key` or read from the file named by `key_file` (trailing newline
  /// dropped). nullopt when neither is set; not_found/invalid_argument naming the key.
  Result<std::optional<SecretString>> secret(const std::string& key);
  /// invalid_argument naming the first key nobody asked for.
  Status reject_unknown() const;

 private:
  std::string prefix_;
  const BrokerSettings& settings_;
  std::set<std::string> used_;
};

/// Fills retry settings (retry_attempts, retry_initial_backoff_ms, retry_max_backoff_ms) of `options`.
Status read_retry_settings(SettingsReader& settings, RestClientOptions& options);

/// Quotes `word` for a POSIX shell ('...' with embedded quotes escaped).
std::string shell_quote(std::string_view word);

/// Where credentials go in the guest (a tmpfs in the initramfs; mode 0600).
inline constexpr std::string_view kGuestCredentialsDir = "/run/firerun/runner";

}  // namespace firerun::ci
