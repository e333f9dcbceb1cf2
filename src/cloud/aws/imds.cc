// IMDSv2 instance-profile credentials.
#include "cloud/aws/credential_providers.h"

#include <boost/json.hpp>

#include <charconv>

namespace firerun::cloud::aws {
namespace {

constexpr std::string_view kRolesPath = "/latest/meta-data/iam/security-credentials/";

// Transport failures mean "not on EC2 (or IMDS off)", which lets the chain move on.
Error unreachable(Error e) {
  if (e == Errc::io || e == Errc::timeout) return Error(Errc::not_found, "IMDS unreachable: " + e.what());
  return e;
}

Result<std::string> json_string(const boost::json::object& doc, std::string_view key) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->value().is_string() || it->value().as_string().empty())
    return make_error(Errc::protocol, "IMDS credentials document lacks a non-empty string \"" + std::string(key) + "\"");
  return std::string(it->value().as_string());
}

}  // namespace

Result<std::chrono::system_clock::time_point> parse_iso8601_utc(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fff][Z|+00:00]
  auto bad = [] { return make_error(Errc::protocol, "timestamp is not ISO 8601 UTC (YYYY-MM-DDTHH:MM:SSZ)"); };
  if (text.size() < 19) return bad();
  int parts[6];
  const std::size_t offsets[6] = {0, 5, 8, 11, 14, 17}, widths[6] = {4, 2, 2, 2, 2, 2};
  const char seps[5] = {'-', '-', 'T', ':', ':'};
  for (int i = 0; i < 6; ++i) {
    if (i < 5 && text[offsets[i] + widths[i]] != seps[i] && !(i == 2 && text[10] == 't')) return bad();
    auto sub = text.substr(offsets[i], widths[i]);
    for (char c : sub)
      if (c < '0' || c > '9') return bad();
    std::from_chars(sub.data(), sub.data() + sub.size(), parts[i]);
  }
  std::string_view rest = text.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    std::size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    if (digits == 0) return bad();
    rest.remove_prefix(digits);
  }
  if (rest != "Z" && rest != "z" && rest != "+00:00") return bad();
  using namespace std::chrono;
  year_month_day ymd{year{parts[0]}, month{static_cast<unsigned>(parts[1])}, day{static_cast<unsigned>(parts[2])}};
  if (!ymd.ok() || parts[3] > 23 || parts[4] > 59 || parts[5] > 60) return bad();
  return sys_days{ymd} + hours{parts[3]} + minutes{parts[4]} + seconds{parts[5]};
}

Result<Credentials> parse_imds_credentials(std::string_view json) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(json, ec);
  if (ec) return make_error(Errc::protocol, "IMDS credentials document is not valid JSON");  // never quote it
  if (!doc.is_object()) return make_error(Errc::protocol, "IMDS credentials document is not a JSON object");
  const auto& obj = doc.as_object();
  if (auto it = obj.find("Code"); it != obj.end()) {
    if (!it->value().is_string() || it->value().as_string() != "Success")
      return make_error(Errc::auth, "IMDS reports the instance profile credentials are unavailable (Code is not Success)");
  }
  Credentials c;
  FIRERUN_TRY(c.access_key_id, json_string(obj, "AccessKeyId"));
  FIRERUN_TRY(auto secret, json_string(obj, "SecretAccessKey"));
  c.secret_access_key = SecretString(std::move(secret));
  FIRERUN_TRY(auto token, json_string(obj, "Token"));
  c.session_token = SecretString(std::move(token));
  FIRERUN_TRY(auto expiration_text, json_string(obj, "Expiration"));
  FIRERUN_TRY(c.expiration, add_context(parse_iso8601_utc(expiration_text), "IMDS credentials Expiration"));
  c.source = "imds";
  return c;
}

ImdsOptions ImdsOptions::from_environment(const EnvLookup& env) {
  ImdsOptions o;
  if (auto endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT")) {
    o.endpoint = *endpoint;
    while (o.endpoint.ends_with('/')) o.endpoint.pop_back();
  }
  return o;
}

ImdsCredentialsProvider::ImdsCredentialsProvider(ImdsOptions options) : session_(std::move(options)) {}

Status ImdsSession::refresh_token() {
  HttpRequest put;
  put.method = "PUT";
  put.path = "/latest/api/token";
  put.headers.push_back({"X-aws-ec2-metadata-token-ttl-seconds", std::to_string(options_.token_ttl.count())});
  auto now = options_.clock();
  auto resp = http_send(options_.endpoint, put, options_.http);
  if (!resp) return unreachable(std::move(resp).error());
  if (resp->status != 200 || resp->body.empty())
    return make_error(Errc::protocol, "IMDS token request returned HTTP " + std::to_string(resp->status));
  token_ = SecretString(std::move(resp->body));
  // Renew the session token a little early so a request never carries a just-expired one.
  token_expiry_ = now + options_.token_ttl - std::min(options_.token_ttl / 10, std::chrono::seconds(60));
  return {};
}

Result<HttpResponse> ImdsSession::get(const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (token_.empty() || options_.clock() >= token_expiry_) FIRERUN_CHECK(refresh_token());
    HttpRequest get;
    get.method = "GET";
    get.path = path;
    get.headers.push_back({"X-aws-ec2-metadata-token", std::string(token_.reveal())});
    auto resp = http_send(options_.endpoint, get, options_.http);
    if (!resp) return unreachable(std::move(resp).error());
    if (resp->status == 401) {  // token revoked or expired server-side: get a new one once
      token_ = SecretString();
      continue;
    }
    return resp;
  }
  return make_error(Errc::auth, "IMDS rejected a fresh session token (HTTP 401)");
}

Result<Credentials> ImdsCredentialsProvider::fetch() {
  FIRERUN_TRY(auto roles, session_.get(std::string(kRolesPath)));
  if (roles.status == 404) return make_error(Errc::not_found, "no IAM instance profile is attached to this instance");
  if (roles.status != 200)
    return make_error(Errc::protocol, "IMDS role listing returned HTTP " + std::to_string(roles.status));
  std::string_view listing = roles.body;
  auto eol = listing.find_first_of("\r\n");
  std::string role(listing.substr(0, eol));
  if (role.empty()) return make_error(Errc::not_found, "no IAM instance profile is attached to this instance");
  if (role.find_first_of("/?#% ") != std::string::npos || role.size() > 128)
    return make_error(Errc::protocol, "IMDS returned an invalid role name");

  FIRERUN_TRY(auto doc, session_.get(std::string(kRolesPath) + role));
  if (doc.status != 200)
    return make_error(Errc::protocol, "IMDS credentials for role '" + role + "' returned HTTP " +
                                          std::to_string(doc.status));
  return add_context(parse_imds_credentials(doc.body), "instance profile role '" + role + "'");
}

Result<Credentials> ImdsCredentialsProvider::credentials() {
  std::lock_guard lock(mutex_);
  const auto& options = session_.options();
  const auto now = options.clock();
  if (cached_ && now + options.refresh_margin < *cached_->expiration) return *cached_;

  auto fresh = add_context(fetch(), "IMDSv2 at " + options.endpoint);
  if (fresh) {
    if (*fresh->expiration <= now)
      return make_error(Errc::auth, "IMDS returned instance-profile credentials that expired at " +
                                        format_amz_date(*fresh->expiration) + " (now " + format_amz_date(now) + ")");
    cached_ = *fresh;
    return fresh;
  }
  // Still-valid cached credentials beat an outage of the metadata service.
  if (cached_ && now < *cached_->expiration) return *cached_;
  if (cached_)
    return std::move(fresh).error().with_context("cached instance-profile credentials expired at " +
                                                 format_amz_date(*cached_->expiration) + " and refresh failed");
  return fresh;
}

}  // namespace firerun::cloud::aws
