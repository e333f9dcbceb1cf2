// The retrying JSON REST transport under the GitHub and GitLab API clients.
//
// One call = up to RetryPolicy::max_attempts HTTP exchanges. Retried: 5xx,
// 429, GitHub's 403 rate limits (x-ratelimit-remaining: 0 or retry-after) and
// transport failures. Waits are exponential with full jitter, or the server's
// own wait (Retry-After / x-ratelimit-reset / RateLimit-Reset) plus a little
// jitter. A server wait beyond RetryPolicy::max_server_wait is not slept: the
// call ends at once with a retryable error so the caller can keep its job
// queued instead of blocking a thread for an hour.
//
// Retryable failures carry ApiErrc codes (is_retryable()); everything else is a
// plain Errc (auth, not_found, invalid_argument, already_exists, protocol).
// Requests are logged (method, path, status) without headers or bodies:
// tokens, JIT configs and runner tokens never reach a log line or an error.
#pragma once

#include "core/http_client.h"
#include "firerun/error.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::ci {

/// Retryable API failures (their own error category; Error::errc() reports them as Errc::io).
enum class ApiErrc {
  unreachable = 1,   ///< connection refused, DNS, TLS or timeout: the API could not be reached
  rate_limited = 2,  ///< 429 / rate-limit 403 that outlasted the retries or asks for a longer wait
  server_error = 3,  ///< 5xx on every attempt
};

/// The "firerun-ci-api" error category.
const boost::system::error_category& api_category() noexcept;
/// Makes ApiErrc usable as a boost::system::error_code.
boost::system::error_code make_error_code(ApiErrc e) noexcept;

/// True for errors worth retrying later (ApiErrc): keep the job queued.
bool is_retryable(const Error& error) noexcept;
/// The ApiErrc of an error, if it has one.
std::optional<ApiErrc> api_errc(const Error& error) noexcept;

/// Which rate-limit headers a server speaks.
enum class ApiDialect { github, gitlab };

struct RetryPolicy {
  unsigned max_attempts = 4;                          ///< HTTP exchanges per call, >= 1
  std::chrono::milliseconds initial_backoff{500};     ///< first backoff ceiling (doubles per attempt)
  std::chrono::milliseconds max_backoff{8000};        ///< backoff ceiling
  std::chrono::milliseconds max_server_wait{60000};   ///< longest server-requested wait we sleep
};

struct RestClientOptions {
  std::string base_url;  ///< "https://api.github.com" or "https://gitlab.example.com/api/v4" (no trailing '/')
  http::Options http;    ///< per-exchange timeouts and response cap
  RetryPolicy retry;
  std::string user_agent;  ///< empty: "firerun/<version>"
  /// How to wait between attempts; empty = std::this_thread::sleep_for (tests record waits).
  std::function<void(std::chrono::milliseconds)> sleep;
  /// Wall clock for epoch-based reset headers; empty = system_clock::now.
  std::function<std::chrono::system_clock::time_point()> clock;
};

/// One API call. Headers carry auth; the transport adds User-Agent and, for a body, Content-Type.
struct RestCall {
  std::string method;
  std::string path;   ///< below base_url, starting with '/'
  std::string query;  ///< without '?'
  std::optional<std::string> json_body;
  std::vector<http::Header> headers;
  std::string operation;  ///< for messages and logs: "generate-jitconfig"
};

/// What the server asked for, read from a response (pure; exposed for tests).
struct RetryAdvice {
  bool retry = false;
  std::optional<std::chrono::milliseconds> server_wait;  ///< from Retry-After / reset headers
  bool rate_limited = false;
};
/// Decides whether a response status is retryable and how long the server wants us to wait.
RetryAdvice retry_advice(ApiDialect dialect, const http::Response& response,
                         std::chrono::system_clock::time_point now);

/// The API's own error text ("message" / "error" field) for messages, truncated and
/// limited to printable ASCII; "" when the body has none.
std::string api_error_message(std::string_view body);

class RestClient {
 public:
  RestClient(std::string service, ApiDialect dialect, RestClientOptions options);

  /// Performs `call` with retries. A 2xx response is returned; other outcomes are errors:
  /// 400/422 invalid_argument, 401/403 auth, 404 not_found, 409 already_exists,
  /// 410 unsupported, other 4xx protocol, ApiErrc for retryable ones.
  Result<http::Response> call(const RestCall& call) const;

  const RestClientOptions& options() const noexcept { return options_; }
  const std::string& service() const noexcept { return service_; }

 private:
  std::chrono::milliseconds backoff(unsigned attempt) const;
  void sleep(std::chrono::milliseconds d) const;
  std::chrono::system_clock::time_point now() const;

  std::string service_;
  ApiDialect dialect_;
  RestClientOptions options_;
};

/// Percent-encodes one path segment or query value (RFC 3986 unreserved kept).
std::string url_encode_component(std::string_view s);

}  // namespace firerun::ci

namespace boost::system {
template <>
struct is_error_code_enum<firerun::ci::ApiErrc> : std::true_type {};
}  // namespace boost::system
