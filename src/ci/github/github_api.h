// GitHub REST client for just-in-time (JIT) self-hosted runners.
//
// For each queued workflow job the daemon asks for a JIT config
// (generate_jitconfig), boots a VM that runs `run.sh --jitconfig <config>`,
// and the runner takes exactly one job and unregisters itself. Housekeeping
// removes firerun-* runners whose VM is gone.
//
// Every request sends Accept: application/vnd.github+json,
// X-GitHub-Api-Version, User-Agent and Authorization: Bearer <token>, where the
// token is either a configured token or a GitHub App installation token
// obtained with an RS256 App JWT and cached until shortly before it expires.
// Tokens and JIT configs are SecretString: they never reach logs or errors.
#pragma once

#include "ci/github/app_jwt.h"
#include "ci/rest_client.h"
#include "core/secret.h"
#include "firerun/error.h"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::ci::github {

inline constexpr std::string_view kApiVersion = "2022-11-28";
inline constexpr std::string_view kRunnerNamePrefix = "firerun-";

/// GitHub App credentials (preferred: one installation covers many repositories).
struct AppCredentials {
  std::string app_id;                 ///< numeric App id (or client id)
  AppPrivateKey private_key;          ///< from AppPrivateKey::from_file / from_env / from_pem
  std::uint64_t installation_id = 0;  ///< from the webhook (JobRequest::installation_id) or configuration
};

struct GithubApiConfig {
  RestClientOptions rest;  ///< base_url defaults to https://api.github.com (GHES: https://HOST/api/v3)
  std::string api_version = std::string(kApiVersion);
  std::optional<SecretString> token;  ///< a plain token (PAT / fine-grained); used when app is unset
  std::optional<AppCredentials> app;
  /// An installation token is replaced this long before its expires_at.
  std::chrono::seconds token_refresh_margin{300};
};

/// Where runners register: an organisation (repo empty) or one repository.
struct RunnerScope {
  std::string owner;  ///< organisation or repository owner login
  std::string repo;   ///< empty: organisation-level runners
  bool is_org() const noexcept { return repo.empty(); }
  /// "/orgs/{org}/actions/runners" or "/repos/{owner}/{repo}/actions/runners".
  std::string runners_path() const;
};

struct JitConfigRequest {
  RunnerScope scope;
  std::uint64_t job_id = 0;              ///< goes into the runner name firerun-<job id>-<random>
  std::uint64_t runner_group_id = 1;     ///< 1 = the "Default" group
  std::vector<std::string> labels;       ///< the job's labels (1..100), so the job matches this runner
  std::string work_folder = "_work";     ///< relative to the runner's install directory
};

struct JitConfig {
  std::uint64_t runner_id = 0;
  std::string runner_name;
  SecretString encoded_jit_config;  ///< base64 blob for `run.sh --jitconfig`; a credential
};

struct Runner {
  std::uint64_t id = 0;
  std::string name;
  std::string os;
  std::string status;  ///< "online" / "offline"
  bool busy = false;
  std::vector<std::string> labels;
};

struct HousekeepingReport {
  std::vector<std::string> deleted;                               ///< runner names removed
  std::vector<std::pair<std::string, std::string>> failed;        ///< name, error
  std::size_t kept = 0;                                           ///< firerun runners with a live VM
};

/// Response parsers (exposed for tests and fuzzing); failures are Errc::protocol naming the field.
struct InstallationToken {
  SecretString token;
  std::chrono::system_clock::time_point expires_at;
};
Result<InstallationToken> parse_installation_token(std::string_view body);
Result<JitConfig> parse_jitconfig_response(std::string_view body);
/// The "runners" array of a list response plus its total_count.
Result<std::pair<std::vector<Runner>, std::uint64_t>> parse_runner_list(std::string_view body);
/// The rel="next" URL of a Link header, if any.
std::optional<std::string> link_next(std::string_view link_header);
/// ISO 8601 UTC timestamp "2016-07-11T22:14:10Z" (fractional seconds allowed).
Result<std::chrono::system_clock::time_point> parse_utc_timestamp(std::string_view text);

/// "firerun-<job id>-<8 random hex>".
std::string make_runner_name(std::uint64_t job_id);

class GithubApi {
 public:
  /// Validates the configuration (a token or App credentials, base URL).
  static Result<std::unique_ptr<GithubApi>> create(GithubApiConfig config);

  /// POST {scope}/generate-jitconfig with name firerun-<job>-<random>, runner group, labels, work folder.
  Result<JitConfig> generate_jitconfig(const JitConfigRequest& request);
  /// All self-hosted runners of the scope (follows Link rel="next", 100 per page).
  Result<std::vector<Runner>> list_runners(const RunnerScope& scope);
  /// DELETE {scope}/{id}. A runner that is already gone (404) counts as deleted.
  Status delete_runner(const RunnerScope& scope, std::uint64_t runner_id);
  /// Deletes every firerun-* runner whose name is not in `live_runner_names` (runners of VMs
  /// that exist or are being started). Other runners are never touched.
  Result<HousekeepingReport> delete_stale_runners(const RunnerScope& scope,
                                                  const std::set<std::string>& live_runner_names);

  /// The bearer token requests use (installation token, refreshed when near expiry).
  Result<SecretString> access_token();

 private:
  explicit GithubApi(GithubApiConfig config);
  std::vector<http::Header> headers(const SecretString& bearer) const;
  Result<http::Response> authorized_call(RestCall call);

  GithubApiConfig config_;
  RestClient rest_;
  std::mutex token_mutex_;
  std::optional<InstallationToken> cached_token_;
};

}  // namespace firerun::ci::github
