#include "ci/github/github_api.h"

#include "ci/json_fields.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <charconv>
#include <ctime>

namespace firerun::ci::github {
namespace {

constexpr std::size_t kPerPage = 100;
constexpr std::size_t kMaxPages = 200;  // 20,000 runners; a loop guard against a misbehaving Link header

// Response bodies come from the API: a malformed one is the server's protocol error.
template <class T>
Result<T> as_protocol(Result<T>&& r, std::string_view what) {
  if (r) return std::move(r);
  return Error(Errc::protocol, std::string(what) + ": " + r.error().message());
}

}  // namespace

std::string RunnerScope::runners_path() const {
  if (is_org()) return "/orgs/" + url_encode_component(owner) + "/actions/runners";
  return "/repos/" + url_encode_component(owner) + "/" + url_encode_component(repo) + "/actions/runners";
}

Result<std::chrono::system_clock::time_point> parse_utc_timestamp(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)
  auto bad = [&] { return make_error(Errc::invalid_argument, "not an ISO 8601 UTC timestamp"); };
  if (text.size() < 20) return bad();
  auto number = [&](std::size_t at, std::size_t len, int& out) {
    auto [end, ec] = std::from_chars(text.data() + at, text.data() + at + len, out);
    return ec == std::errc() && end == text.data() + at + len && std::isdigit(static_cast<unsigned char>(text[at]));
  };
  std::tm tm{};
  if (!number(0, 4, tm.tm_year) || text[4] != '-' || !number(5, 2, tm.tm_mon) || text[7] != '-' ||
      !number(8, 2, tm.tm_mday) || (text[10] != 'T' && text[10] != 't') || !number(11, 2, tm.tm_hour) ||
      text[13] != ':' || !number(14, 2, tm.tm_min) || text[16] != ':' || !number(17, 2, tm.tm_sec))
    return bad();
  std::string_view rest = text.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    std::size_t digits = 0;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) ++digits;
    if (digits == 0) return bad();
    rest.remove_prefix(digits);
  }
  if (rest != "Z" && rest != "z" && rest != "+00:00") return bad();
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60 || tm.tm_year < 1970)
    return bad();
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return bad();
  return std::chrono::system_clock::from_time_t(t);
}

Result<InstallationToken> parse_installation_token(std::string_view body) {
  auto parse = [&]() -> Result<InstallationToken> {
    FIRERUN_TRY(auto doc, parse_json_body(body));
    FIRERUN_TRY(auto root, JsonObject::root(doc));
    FIRERUN_TRY(auto token, root.string("token"));
    FIRERUN_TRY(auto expires, root.string("expires_at"));
    if (token.empty()) return make_error(Errc::invalid_argument, "field 'token' is empty");
    auto when = parse_utc_timestamp(expires);
    if (!when) return make_error(Errc::invalid_argument, "field 'expires_at' is not an ISO 8601 UTC timestamp");
    return InstallationToken{SecretString(std::move(token)), *when};
  };
  return as_protocol(parse(), "installation token response");
}

namespace {

Result<Runner> parse_runner(const JsonObject& o) {
  Runner r;
  FIRERUN_TRY(r.id, o.uint("id"));
  FIRERUN_TRY(r.name, o.string("name"));
  FIRERUN_TRY(r.os, o.string("os"));
  FIRERUN_TRY(r.status, o.string("status"));
  FIRERUN_TRY(r.busy, o.boolean("busy"));
  FIRERUN_TRY(auto labels, o.object_array("labels"));
  for (const auto& label : labels) {
    FIRERUN_TRY(auto name, label.string("name"));
    r.labels.push_back(std::move(name));
  }
  return r;
}

}  // namespace

Result<JitConfig> parse_jitconfig_response(std::string_view body) {
  auto parse = [&]() -> Result<JitConfig> {
    FIRERUN_TRY(auto doc, parse_json_body(body));
    FIRERUN_TRY(auto root, JsonObject::root(doc));
    FIRERUN_TRY(auto runner_object, root.object("runner"));
    FIRERUN_TRY(auto runner, parse_runner(runner_object));
    FIRERUN_TRY(auto config, root.string("encoded_jit_config"));
    if (config.empty()) return make_error(Errc::invalid_argument, "field 'encoded_jit_config' is empty");
    return JitConfig{runner.id, std::move(runner.name), SecretString(std::move(config))};
  };
  return as_protocol(parse(), "generate-jitconfig response");
}

Result<std::pair<std::vector<Runner>, std::uint64_t>> parse_runner_list(std::string_view body) {
  auto parse = [&]() -> Result<std::pair<std::vector<Runner>, std::uint64_t>> {
    FIRERUN_TRY(auto doc, parse_json_body(body));
    FIRERUN_TRY(auto root, JsonObject::root(doc));
    FIRERUN_TRY(auto total, root.uint("total_count"));
    FIRERUN_TRY(auto items, root.object_array("runners"));
    std::vector<Runner> runners;
    runners.reserve(items.size());
    for (const auto& item : items) {
      FIRERUN_TRY(auto runner, parse_runner(item));
      runners.push_back(std::move(runner));
    }
    return std::pair{std::move(runners), total};
  };
  return as_protocol(parse(), "list runners response");
}

std::optional<std::string> link_next(std::string_view header) {
  // <url>; rel="next", <url>; rel="last"  (RFC 8288; URLs do not contain '>')
  while (true) {
    auto open = header.find('<');
    if (open == std::string_view::npos) return std::nullopt;
    auto close = header.find('>', open);
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view url = header.substr(open + 1, close - open - 1);
    header.remove_prefix(close + 1);
    auto next_entry = header.find('<');
    std::string_view params = header.substr(0, next_entry);
    for (std::string_view rel : {"rel=\"next\"", "rel=next"}) {
      auto at = params.find(rel);
      // rel="next" exactly, not rel="nextish"
      if (at != std::string_view::npos) {
        auto after = at + rel.size();
        if (after == params.size() || params[after] == ';' || params[after] == ',' || params[after] == ' ')
          return std::string(url);
      }
    }
    if (next_entry == std::string_view::npos) return std::nullopt;
  }
}

std::string make_runner_name(std::uint64_t job_id) {
  unsigned char random[4];
  if (RAND_bytes(random, sizeof random) != 1) {
    // Uniqueness, not secrecy, is what the suffix is for.
    std::uint64_t fallback = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (auto& b : random) b = static_cast<unsigned char>(fallback >>= 8);
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string suffix;
  for (unsigned char b : random) {
    suffix += hex[b >> 4];
    suffix += hex[b & 15];
  }
  return std::string(kRunnerNamePrefix) + std::to_string(job_id) + "-" + suffix;
}

Result<std::unique_ptr<GithubApi>> GithubApi::create(GithubApiConfig config) {
  if (config.rest.base_url.empty()) config.rest.base_url = "https://api.github.com";
  if (!config.rest.base_url.starts_with("https://") && !config.rest.base_url.starts_with("http://"))
    return make_error(Errc::invalid_argument, "GitHub API base URL must be http(s)://...");
  if (config.app) {
    if (config.app->app_id.empty()) return make_error(Errc::invalid_argument, "GitHub App id is empty");
    if (config.app->installation_id == 0)
      return make_error(Errc::invalid_argument, "GitHub App installation id is missing");
  } else if (!config.token || config.token->empty()) {
    return make_error(Errc::invalid_argument, "GitHub API needs a token or GitHub App credentials");
  }
  if (config.api_version.empty()) config.api_version = std::string(kApiVersion);
  return std::unique_ptr<GithubApi>(new GithubApi(std::move(config)));
}

GithubApi::GithubApi(GithubApiConfig config)
    : config_(std::move(config)), rest_("github", ApiDialect::github, config_.rest) {}

std::vector<http::Header> GithubApi::headers(const SecretString& bearer) const {
  return {{"Accept", "application/vnd.github+json"},
          {"X-GitHub-Api-Version", config_.api_version},
          {"Authorization", "Bearer " + std::string(bearer.reveal())}};
}

Result<SecretString> GithubApi::access_token() {
  if (!config_.app) return *config_.token;
  std::lock_guard lock(token_mutex_);
  const auto now = config_.rest.clock ? config_.rest.clock() : std::chrono::system_clock::now();
  if (cached_token_ && now + config_.token_refresh_margin < cached_token_->expires_at) return cached_token_->token;

  AppJwtClaims claims;
  claims.app_id = config_.app->app_id;
  claims.now = now;
  FIRERUN_TRY(auto jwt, make_app_jwt(config_.app->private_key, claims));
  RestCall call;
  call.method = "POST";
  call.path = "/app/installations/" + std::to_string(config_.app->installation_id) + "/access_tokens";
  call.operation = "create-installation-access-token";
  call.headers = headers(jwt);
  FIRERUN_TRY(auto response, rest_.call(call));
  FIRERUN_TRY(auto token, add_context(parse_installation_token(response.body), "github " + call.operation));
  spdlog::debug("github: installation {} token refreshed, valid for {} s", config_.app->installation_id,
                std::chrono::duration_cast<std::chrono::seconds>(token.expires_at - now).count());
  cached_token_ = std::move(token);
  return cached_token_->token;
}

Result<http::Response> GithubApi::authorized_call(RestCall call) {
  FIRERUN_TRY(auto token, access_token());
  auto extra = std::move(call.headers);
  call.headers = headers(token);
  call.headers.insert(call.headers.end(), extra.begin(), extra.end());
  auto response = rest_.call(call);
  if (!response && response.error().errc() == Errc::auth && config_.app) {
    // The cached installation token may have been revoked: drop it so the next call re-mints.
    std::lock_guard lock(token_mutex_);
    cached_token_.reset();
  }
  return response;
}

Result<JitConfig> GithubApi::generate_jitconfig(const JitConfigRequest& request) {
  if (request.scope.owner.empty()) return make_error(Errc::invalid_argument, "runner scope has no owner");
  if (request.labels.empty() || request.labels.size() > 100)
    return make_error(Errc::invalid_argument, "a JIT runner needs 1 to 100 labels, got " +
                                                  std::to_string(request.labels.size()));
  boost::json::object body;
  const std::string name = make_runner_name(request.job_id);
  body["name"] = name;
  body["runner_group_id"] = request.runner_group_id;
  boost::json::array labels;
  for (const auto& label : request.labels) labels.emplace_back(label);
  body["labels"] = std::move(labels);
  body["work_folder"] = request.work_folder;

  RestCall call;
  call.method = "POST";
  call.path = request.scope.runners_path() + "/generate-jitconfig";
  call.json_body = boost::json::serialize(body);
  call.operation = "generate-jitconfig";
  FIRERUN_TRY(auto response, authorized_call(std::move(call)));
  FIRERUN_TRY(auto config, add_context(parse_jitconfig_response(response.body), "github generate-jitconfig"));
  if (config.runner_name != name)
    return make_error(Errc::protocol, "generate-jitconfig returned runner '" + config.runner_name +
                                          "', asked for '" + name + "'");
  spdlog::info("github: JIT runner {} (id {}) for job {}", config.runner_name, config.runner_id, request.job_id);
  return config;
}

Result<std::vector<Runner>> GithubApi::list_runners(const RunnerScope& scope) {
  if (scope.owner.empty()) return make_error(Errc::invalid_argument, "runner scope has no owner");
  std::vector<Runner> all;
  std::string path = scope.runners_path();
  std::string query = "per_page=" + std::to_string(kPerPage);
  for (std::size_t page = 1; page <= kMaxPages; ++page) {
    RestCall call;
    call.method = "GET";
    call.path = path;
    call.query = query;
    call.operation = "list-runners";
    FIRERUN_TRY(auto response, authorized_call(std::move(call)));
    FIRERUN_TRY(auto parsed, add_context(parse_runner_list(response.body), "github list-runners"));
    const std::size_t got = parsed.first.size();
    for (auto& r : parsed.first) all.push_back(std::move(r));

    std::optional<std::string> next;
    if (const auto* link = response.find_header("link")) next = link_next(link->value);
    if (next) {
      // Only follow links on the API we were configured for: never send the token elsewhere.
      const std::string& base = rest_.options().base_url;
      if (!next->starts_with(base + "/"))
        return make_error(Errc::protocol, "Link rel=\"next\" leaves the configured API base URL")
            .with_context("github list-runners");
      std::string rest = next->substr(base.size());
      auto q = rest.find('?');
      path = rest.substr(0, q);
      query = q == std::string::npos ? "" : rest.substr(q + 1);
      continue;
    }
    // No Link header (some proxies strip it): fall back to page numbers and total_count.
    if (got == 0 || all.size() >= parsed.second || got < kPerPage) return all;
    query = "per_page=" + std::to_string(kPerPage) + "&page=" + std::to_string(page + 1);
  }
  return make_error(Errc::protocol, "runner list has more than " + std::to_string(kMaxPages) + " pages")
      .with_context("github list-runners");
}

Status GithubApi::delete_runner(const RunnerScope& scope, std::uint64_t runner_id) {
  if (scope.owner.empty()) return make_error(Errc::invalid_argument, "runner scope has no owner");
  RestCall call;
  call.method = "DELETE";
  call.path = scope.runners_path() + "/" + std::to_string(runner_id);
  call.operation = "delete-runner";
  auto response = authorized_call(std::move(call));
  if (!response && response.error().errc() == Errc::not_found) return {};  // already gone: the goal is reached
  if (!response) return std::move(response).error();
  return {};
}

Result<HousekeepingReport> GithubApi::delete_stale_runners(const RunnerScope& scope,
                                                           const std::set<std::string>& live_runner_names) {
  FIRERUN_TRY(auto runners, list_runners(scope));
  HousekeepingReport report;
  for (const auto& runner : runners) {
    if (!runner.name.starts_with(kRunnerNamePrefix)) continue;
    if (live_runner_names.contains(runner.name)) {
      ++report.kept;
      continue;
    }
    auto deleted = delete_runner(scope, runner.id);
    if (deleted) {
      report.deleted.push_back(runner.name);
    } else {
      spdlog::warn("github: could not delete stale runner {} (id {}): {}", runner.name, runner.id,
                   deleted.error().what());
      report.failed.emplace_back(runner.name, deleted.error().what());
    }
  }
  if (!report.deleted.empty())
    spdlog::info("github: housekeeping deleted {} stale firerun runner(s)", report.deleted.size());
  return report;
}

}  // namespace firerun::ci::github
