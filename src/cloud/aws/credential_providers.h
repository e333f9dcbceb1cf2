// Where AWS credentials come from, tried in order by CredentialsChain:
// environment variables, the shared credentials/config files, then the EC2
// instance profile via IMDSv2. Errc::not_found means "not configured here, try
// the next provider"; any other error (half-set variables, malformed file,
// unknown explicit profile, expired IMDS credentials) stops the chain.
#pragma once

#include "cloud/aws/credentials.h"
#include "cloud/aws/http_client.h"
#include "cloud/aws/ini.h"
#include "firerun/error.h"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::cloud::aws {

/// Reads an environment variable; injectable so tests need not touch the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
/// getenv-backed lookup (empty values count as unset).
EnvLookup process_environment();

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  /// Current credentials; providers for temporary credentials refresh as needed.
  virtual Result<Credentials> credentials() = 0;
  /// Short name for diagnostics ("environment", "shared-files", "imds").
  virtual std::string_view name() const = 0;
};

/// AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN).
class EnvironmentCredentialsProvider final : public CredentialsProvider {
 public:
  explicit EnvironmentCredentialsProvider(EnvLookup env = process_environment()) : env_(std::move(env)) {}
  Result<Credentials> credentials() override;
  std::string_view name() const override { return "environment"; }

 private:
  EnvLookup env_;
};

/// Paths and profile as the AWS CLI resolves them.
struct SharedFilesLocation {
  std::string credentials_file;  ///< AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials
  std::string config_file;       ///< AWS_CONFIG_FILE or ~/.aws/config
  std::string profile;           ///< AWS_PROFILE or "default"
  bool profile_explicit = false;  ///< AWS_PROFILE was set: a missing profile is an error, not "try next"
};
SharedFilesLocation resolve_shared_files(const EnvLookup& env);

/// Static keys from the profile's section in the credentials file, else the config file
/// ("[profile name]", or "[default]").
class SharedFilesCredentialsProvider final : public CredentialsProvider {
 public:
  explicit SharedFilesCredentialsProvider(EnvLookup env = process_environment()) : env_(std::move(env)) {}
  Result<Credentials> credentials() override;
  std::string_view name() const override { return "shared-files"; }

 private:
  EnvLookup env_;
};

/// Region from AWS_REGION, AWS_DEFAULT_REGION, or the profile's "region" in the config file.
Result<std::string> resolve_region(const EnvLookup& env = process_environment());

struct ImdsOptions {
  std::string endpoint = "http://169.254.169.254";  ///< no trailing slash
  std::chrono::seconds token_ttl{21600};            ///< X-aws-ec2-metadata-token-ttl-seconds
  std::chrono::seconds refresh_margin{300};         ///< refresh this long before Expiration
  HttpOptions http{std::chrono::milliseconds(1000), std::chrono::milliseconds(3000), 64u << 10};
  std::function<std::chrono::system_clock::time_point()> clock = [] { return std::chrono::system_clock::now(); };

  /// Defaults, with AWS_EC2_METADATA_SERVICE_ENDPOINT applied.
  static ImdsOptions from_environment(const EnvLookup& env = process_environment());
};

/// Parses the JSON document IMDS serves for a role. Errors never quote the document.
Result<Credentials> parse_imds_credentials(std::string_view json);
/// "2015-08-30T12:36:00Z" (fractional seconds and "+00:00" accepted).
Result<std::chrono::system_clock::time_point> parse_iso8601_utc(std::string_view text);

/// An IMDSv2 session: takes a session token (PUT /latest/api/token), renews it
/// before it expires and once more when IMDS answers 401. Not thread-safe.
class ImdsSession {
 public:
  explicit ImdsSession(ImdsOptions options) : options_(std::move(options)) {}
  /// GET `path` with the session token. Transport failures are Errc::not_found ("IMDS unreachable").
  Result<HttpResponse> get(const std::string& path);
  const ImdsOptions& options() const noexcept { return options_; }

 private:
  Status refresh_token();

  ImdsOptions options_;
  SecretString token_;
  std::chrono::system_clock::time_point token_expiry_{};
};

/// Instance-profile credentials over IMDSv2 (session token first, then the role's document).
/// Thread-safe; caches credentials and refreshes `refresh_margin` before they expire. While a
/// refresh fails the cached credentials are served until they actually expire.
class ImdsCredentialsProvider final : public CredentialsProvider {
 public:
  explicit ImdsCredentialsProvider(ImdsOptions options = ImdsOptions::from_environment());
  Result<Credentials> credentials() override;
  std::string_view name() const override { return "imds"; }

 private:
  Result<Credentials> fetch();

  std::mutex mutex_;
  ImdsSession session_;
  std::optional<Credentials> cached_;
};

/// Tries providers in order; remembers the first that answers.
class CredentialsChain final : public CredentialsProvider {
 public:
  explicit CredentialsChain(std::vector<std::unique_ptr<CredentialsProvider>> providers);
  /// environment -> shared files -> IMDS (skipped when AWS_EC2_METADATA_DISABLED=true).
  static std::unique_ptr<CredentialsChain> make_default(EnvLookup env = process_environment());
  Result<Credentials> credentials() override;
  std::string_view name() const override { return "chain"; }

 private:
  std::vector<std::unique_ptr<CredentialsProvider>> providers_;
  std::mutex mutex_;
  CredentialsProvider* chosen_ = nullptr;
};

}  // namespace firerun::cloud::aws
