#include "ci/rest_client.h"

#include "firerun/version.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <random>
#include <thread>

namespace firerun::ci {
namespace {

class ApiCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "firerun-ci-api"; }
  std::string message(int ev) const override {
    switch (static_cast<ApiErrc>(ev)) {
      case ApiErrc::unreachable: return "api_unreachable";
      case ApiErrc::rate_limited: return "api_rate_limited";
      case ApiErrc::server_error: return "api_server_error";
    }
    return "api_error";
  }
};

constexpr std::chrono::seconds kLongestHeaderWait{24 * 3600};  // clamp absurd header values

std::optional<std::chrono::seconds> parse_seconds(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty() || s.size() > 12) return std::nullopt;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value < 0) return std::nullopt;
  return std::chrono::seconds(value);
}

std::optional<std::chrono::milliseconds> header_seconds(const http::Response& r, std::string_view name) {
  const http::Header* h = r.find_header(name);
  if (!h) return std::nullopt;
  auto s = parse_seconds(h->value);
  if (!s) return std::nullopt;
  return std::chrono::milliseconds(std::min(*s, kLongestHeaderWait));
}

// Epoch-seconds reset headers become "how long from now" (never negative).
std::optional<std::chrono::milliseconds> header_reset(const http::Response& r, std::string_view name,
                                                      std::chrono::system_clock::time_point now) {
  const http::Header* h = r.find_header(name);
  if (!h) return std::nullopt;
  auto epoch = parse_seconds(h->value);
  if (!epoch) return std::nullopt;
  auto reset = std::chrono::system_clock::time_point(*epoch);
  if (reset <= now) return std::chrono::milliseconds(0);
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(reset - now);
  return std::min<std::chrono::milliseconds>(wait, kLongestHeaderWait);
}

std::mt19937_64& rng() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

Error status_error(long status, const std::string& what, std::string_view body) {
  std::string message = "HTTP " + std::to_string(status) + " from " + what;
  if (auto api = api_error_message(body); !api.empty()) message += ": " + api;
  Errc code = Errc::protocol;
  if (status == 400 || status == 422) code = Errc::invalid_argument;
  else if (status == 401 || status == 403) code = Errc::auth;
  else if (status == 404) code = Errc::not_found;
  else if (status == 409) code = Errc::already_exists;
  else if (status == 410) code = Errc::unsupported;
  return Error(code, std::move(message));
}

}  // namespace

const boost::system::error_category& api_category() noexcept {
  static const ApiCategory category;
  return category;
}

boost::system::error_code make_error_code(ApiErrc e) noexcept { return {static_cast<int>(e), api_category()}; }

bool is_retryable(const Error& error) noexcept { return error.code().category() == api_category(); }

std::optional<ApiErrc> api_errc(const Error& error) noexcept {
  if (!is_retryable(error)) return std::nullopt;
  return static_cast<ApiErrc>(error.code().value());
}

RetryAdvice retry_advice(ApiDialect dialect, const http::Response& response,
                         std::chrono::system_clock::time_point now) {
  RetryAdvice advice;
  const long status = response.status;
  const auto retry_after = header_seconds(response, "retry-after");
  const char* reset_header = dialect == ApiDialect::github ? "x-ratelimit-reset" : "ratelimit-reset";
  const char* remaining_header = dialect == ApiDialect::github ? "x-ratelimit-remaining" : "ratelimit-remaining";
  const http::Header* remaining = response.find_header(remaining_header);
  const bool exhausted = remaining && parse_seconds(remaining->value) == std::chrono::seconds(0);

  if (status >= 500 && status <= 599) {
    advice.retry = true;
    advice.server_wait = retry_after;
  } else if (status == 429 || (dialect == ApiDialect::github && status == 403 && (retry_after || exhausted))) {
    // GitHub answers primary and secondary rate limits with 403 or 429; a 403
    // without these headers is a permission problem and is not retried.
    advice.retry = true;
    advice.rate_limited = true;
    advice.server_wait = retry_after;
    if (!advice.server_wait && (exhausted || dialect == ApiDialect::gitlab))
      advice.server_wait = header_reset(response, reset_header, now);
  }
  return advice;
}

std::string api_error_message(std::string_view body) {
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 16;
  auto value = boost::json::parse(body, ec, {}, options);
  if (ec || !value.is_object()) return "";
  std::string text;
  for (const char* key : {"message", "error", "error_description"}) {
    const auto* field = value.get_object().if_contains(key);
    if (!field) continue;
    if (field->is_string()) text = std::string(field->get_string());
    else text = boost::json::serialize(*field);  // GitLab: {"message": {"field": ["is invalid"]}}
    break;
  }
  constexpr std::size_t kMax = 300;
  std::string clean;
  for (char c : text) {
    if (clean.size() >= kMax) {
      clean += "...";
      break;
    }
    clean += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return clean;
}

std::string url_encode_component(std::string_view s) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 15]);
    }
  }
  return out;
}

RestClient::RestClient(std::string service, ApiDialect dialect, RestClientOptions options)
    : service_(std::move(service)), dialect_(dialect), options_(std::move(options)) {
  if (options_.user_agent.empty()) options_.user_agent = "firerun/" FIRERUN_VERSION_STRING;
  if (options_.retry.max_attempts == 0) options_.retry.max_attempts = 1;
  while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
}

std::chrono::milliseconds RestClient::backoff(unsigned attempt) const {
  // Full jitter: uniform in [0, min(max, initial * 2^(attempt-1))].
  auto ceiling = options_.retry.initial_backoff;
  for (unsigned i = 1; i < attempt && ceiling < options_.retry.max_backoff; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, options_.retry.max_backoff);
  if (ceiling.count() <= 0) return std::chrono::milliseconds(0);
  std::uniform_int_distribution<std::int64_t> pick(0, ceiling.count());
  return std::chrono::milliseconds(pick(rng()));
}

void RestClient::sleep(std::chrono::milliseconds d) const {
  if (options_.sleep) options_.sleep(d);
  else std::this_thread::sleep_for(d);
}

std::chrono::system_clock::time_point RestClient::now() const {
  return options_.clock ? options_.clock() : std::chrono::system_clock::now();
}

Result<http::Response> RestClient::call(const RestCall& call) const {
  const std::string what = call.method + " " + call.path;  // never the query or a header
  const std::string context = service_ + " " + call.operation;

  http::Request request;
  request.method = call.method;
  request.path = call.path;
  request.query = call.query;
  request.headers = call.headers;
  request.headers.push_back({"User-Agent", options_.user_agent});
  if (call.json_body) {
    request.headers.push_back({"Content-Type", "application/json"});
    request.body = *call.json_body;
  }

  const unsigned attempts = options_.retry.max_attempts;
  for (unsigned attempt = 1;; ++attempt) {
    auto response = http::send(options_.base_url, request, options_.http);
    Error failure;
    std::chrono::milliseconds wait{0};
    if (!response) {
      const Errc transport = response.error().errc();
      if (transport != Errc::io && transport != Errc::timeout) return std::move(response).error().with_context(context);
      failure = Error(make_error_code(ApiErrc::unreachable),
                      service_ + " API unreachable at " + options_.base_url + ": " + response.error().message() +
                          " (" + what + ")");
      wait = backoff(attempt);
    } else if (response->status >= 200 && response->status < 300) {
      return std::move(*response);
    } else {
      const RetryAdvice advice = retry_advice(dialect_, *response, now());
      if (!advice.retry) return status_error(response->status, what, response->body).with_context(context);
      failure = status_error(response->status, what, response->body);
      failure = Error(make_error_code(advice.rate_limited ? ApiErrc::rate_limited : ApiErrc::server_error),
                      failure.message());
      if (advice.server_wait) {
        if (*advice.server_wait > options_.retry.max_server_wait) {
          return Error(failure.code(), failure.message() + "; server asks to wait " +
                                           std::to_string(advice.server_wait->count() / 1000) +
                                           " s, retry later")
              .with_context(context);
        }
        // A little jitter on top so that many clients do not return at once.
        std::uniform_int_distribution<std::int64_t> extra(0, std::min<std::int64_t>(250, advice.server_wait->count() / 4 + 1));
        wait = *advice.server_wait + std::chrono::milliseconds(extra(rng()));
      } else {
        wait = backoff(attempt);
      }
    }
    if (attempt >= attempts)
      return std::move(failure).with_context(context + " (gave up after " + std::to_string(attempts) + " attempts)");
    spdlog::warn("{}: {} failed ({}), attempt {}/{}, retrying in {} ms", context, what, failure.message(), attempt,
                 attempts, wait.count());
    sleep(wait);
  }
}

}  // namespace firerun::ci
