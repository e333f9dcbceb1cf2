#include "cloud/aws/sigv4.h"

#include "core/crypto.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <ctime>
#include <utility>

namespace firerun::cloud::aws {
namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~';
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// RFC 7230 token characters: what a header name may contain.
bool is_token_char(unsigned char c) {
  if (is_unreserved(c)) return true;
  return std::string_view("!#$%&'*+^`|").find(static_cast<char>(c)) != std::string_view::npos;
}

// Headers that proxies or the transport may rewrite, so signing them would break requests.
bool is_unsigned_header(std::string_view lower_name) {
  return lower_name == "authorization" || lower_name == "user-agent" || lower_name == "expect" ||
         lower_name == "transfer-encoding" || lower_name == "x-amzn-trace-id";
}

// Trim, collapse runs of blanks to one space; obs-folded lines (embedded '\n') become ','-joined values.
std::string canonical_header_value(std::string_view raw) {
  std::string out;
  std::size_t start = 0;
  bool first_piece = true;
  while (start <= raw.size()) {
    auto end = raw.find('\n', start);
    if (end == std::string_view::npos) end = raw.size();
    std::string piece;
    bool pending_space = false;
    for (char c : raw.substr(start, end - start)) {
      if (is_blank(c)) {
        pending_space = !piece.empty();
        continue;
      }
      if (pending_space) piece.push_back(' ');
      pending_space = false;
      piece.push_back(c);
    }
    if (!piece.empty() || first_piece) {
      if (!first_piece) out.push_back(',');
      out += piece;
      first_piece = false;
    }
    start = end + 1;
  }
  return out;
}

Status check_header_name(std::string_view name) {
  if (name.empty()) return make_error(Errc::invalid_argument, "empty HTTP header name");
  for (unsigned char c : name)
    if (!is_token_char(c))
      return make_error(Errc::invalid_argument, "HTTP header name contains a character not allowed in a token");
  return {};
}

Status check_config(const Credentials& creds, const SigningConfig& config) {
  if (creds.access_key_id.empty() || creds.secret_access_key.empty())
    return make_error(Errc::invalid_argument, "credentials lack an access key id or secret access key");
  auto bad_scope_part = [](std::string_view s) { return s.empty() || s.find('/') != std::string_view::npos; };
  if (bad_scope_part(config.region)) return make_error(Errc::invalid_argument, "signing region is empty or contains '/'");
  if (bad_scope_part(config.service))
    return make_error(Errc::invalid_argument, "signing service is empty or contains '/'");
  return {};
}

void remove_headers(HttpRequest& req, std::string_view name) {
  std::erase_if(req.headers, [&](const Header& h) { return iequals(h.name, name); });
}

std::string payload_hash_of(const HttpRequest& req) {
  return req.payload_hash ? *req.payload_hash : sha256_hex(req.body);
}

std::string signature_hex(const Credentials& creds, const SigningConfig& config, std::string_view date,
                          std::string_view string_to_sign) {
  auto key = derive_signing_key(creds.secret_access_key, date, config.region, config.service);
  return hex(hmac_sha256(key, string_to_sign));
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const HttpRequest& r) {
  os << r.method << ' ' << r.path;
  if (!r.query.empty()) os << "?<query>";  // presigned queries carry bearer signatures
  for (const auto& h : r.headers) {
    auto lower = lowercase(h.name);
    bool sensitive = lower == "authorization" || lower == "x-amz-security-token" ||
                     lower == "x-aws-ec2-metadata-token";
    os << "\n" << h.name << ": " << (sensitive ? "<redacted>" : h.value);
  }
  if (!r.body.empty()) os << "\n<" << r.body.size() << " byte body>";
  return os;
}

std::ostream& operator<<(std::ostream& os, const Credentials& c) {
  os << "Credentials{access_key_id=" << c.access_key_id << ", secret_access_key=" << c.secret_access_key
     << ", session_token=" << c.session_token;
  if (c.expiration) os << ", expiration=" << format_amz_date(*c.expiration);
  return os << ", source=" << c.source << "}";
}

std::string format_amz_date(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 0xf]);
    }
  }
  return out;
}

std::string percent_decode(std::string_view s) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = nibble(s[i + 1]), lo = nibble(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string normalize_path(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t start = 0;
  bool ends_in_directory = false;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    auto seg = path.substr(start, end - start);
    ends_in_directory = seg.empty() || seg == "." || seg == "..";
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    start = end + 1;
  }
  std::string out = "/";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i) out.push_back('/');
    out += segments[i];
  }
  if (ends_in_directory && !segments.empty()) out.push_back('/');
  return out;
}

std::string canonical_uri(std::string_view path, ServiceRules rules) {
  if (path.empty()) return "/";
  if (rules == ServiceRules::s3) return uri_encode(percent_decode(path), /*keep_slash=*/true);
  // Standard services sign the normalised path encoded once more ("double encoding"): a '%'
  // already on the wire becomes %25.
  return uri_encode(normalize_path(path), /*keep_slash=*/true);
}

std::string canonical_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t start = 0;
  while (start < query.size()) {
    auto end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    auto pair = query.substr(start, end - start);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      auto key = pair.substr(0, eq);
      auto value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      params.emplace_back(uri_encode(percent_decode(key)), uri_encode(percent_decode(value)));
    }
    start = end + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

Digest derive_signing_key(const SecretString& secret, std::string_view date, std::string_view region,
                          std::string_view service) {
  std::string seed = "AWS4";
  seed += secret.reveal();
  auto k_date = hmac_sha256({reinterpret_cast<const std::uint8_t*>(seed.data()), seed.size()}, date);
  OPENSSL_cleanse(seed.data(), seed.size());
  auto k_region = hmac_sha256(k_date, region);
  auto k_service = hmac_sha256(k_region, service);
  return hmac_sha256(k_service, "aws4_request");
}

std::string credential_scope(std::string_view date, std::string_view region, std::string_view service) {
  std::string out(date);
  out += '/';
  out += region;
  out += '/';
  out += service;
  out += "/aws4_request";
  return out;
}

Result<CanonicalRequest> make_canonical_request(const HttpRequest& req, ServiceRules rules) {
  if (req.method.empty()) return make_error(Errc::invalid_argument, "HTTP method is empty");
  if (!req.find_header("host")) return make_error(Errc::invalid_argument, "request has no Host header to sign");

  // Group by lowercase name; stable sort keeps wire order among repeated headers.
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& h : req.headers) {
    FIRERUN_CHECK(check_header_name(h.name));
    auto name = lowercase(h.name);
    if (is_unsigned_header(name)) continue;
    headers.emplace_back(std::move(name), canonical_header_value(h.value));
  }
  std::stable_sort(headers.begin(), headers.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  CanonicalRequest out;
  std::string header_block;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      header_block.back() = ',';  // replace the '\n' and append the next value
      header_block += headers[i].second;
      header_block.push_back('\n');
      continue;
    }
    header_block += headers[i].first;
    header_block.push_back(':');
    header_block += headers[i].second;
    header_block.push_back('\n');
    if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
    out.signed_headers += headers[i].first;
  }

  out.text = req.method;
  out.text += '\n';
  out.text += canonical_uri(req.path, rules);
  out.text += '\n';
  out.text += canonical_query(req.query);
  out.text += '\n';
  out.text += header_block;
  out.text += '\n';
  out.text += out.signed_headers;
  out.text += '\n';
  out.text += payload_hash_of(req);
  return out;
}

std::string make_string_to_sign(std::string_view amz_date, std::string_view scope,
                                std::string_view canonical_request) {
  std::string out(kAlgorithm);
  out += '\n';
  out += amz_date;
  out += '\n';
  out += scope;
  out += '\n';
  out += sha256_hex(canonical_request);
  return out;
}

Result<SignedRequest> sign(HttpRequest req, const Credentials& creds, const SigningConfig& config,
                           std::chrono::system_clock::time_point now) {
  FIRERUN_CHECK(check_config(creds, config));
  const std::string amz_date = format_amz_date(now);
  const std::string date = amz_date.substr(0, 8);

  remove_headers(req, "authorization");
  if (const Header* existing = req.find_header("x-amz-date")) {
    if (canonical_header_value(existing->value) != amz_date)
      return make_error(Errc::invalid_argument, "X-Amz-Date header disagrees with the signing time " + amz_date);
  } else {
    req.headers.push_back({"X-Amz-Date", amz_date});
  }

  if (config.rules == ServiceRules::s3) {
    if (const Header* sha = req.find_header("x-amz-content-sha256")) {
      auto declared = canonical_header_value(sha->value);
      if (req.payload_hash && *req.payload_hash != declared)
        return make_error(Errc::invalid_argument, "x-amz-content-sha256 header disagrees with the payload hash");
      req.payload_hash = std::move(declared);
    } else {
      req.headers.push_back({"x-amz-content-sha256", payload_hash_of(req)});
    }
  }

  const bool has_token = !creds.session_token.empty();
  const bool token_present = req.find_header("x-amz-security-token") != nullptr;
  if (has_token && !token_present && config.token_placement == SessionTokenPlacement::signed_header)
    req.headers.push_back({"X-Amz-Security-Token", std::string(creds.session_token.reveal())});

  FIRERUN_TRY(auto canonical, make_canonical_request(req, config.rules));
  const std::string scope = credential_scope(date, config.region, config.service);

  SignedRequest out;
  out.string_to_sign = make_string_to_sign(amz_date, scope, canonical.text);
  out.signature = signature_hex(creds, config, date, out.string_to_sign);
  const char* sep = config.rules == ServiceRules::s3 ? "," : ", ";  // each service's documented spelling
  out.authorization = std::string(kAlgorithm) + " Credential=" + creds.access_key_id + "/" + scope + sep +
                      "SignedHeaders=" + canonical.signed_headers + sep + "Signature=" + out.signature;
  out.canonical_request = std::move(canonical.text);

  if (has_token && !token_present && config.token_placement == SessionTokenPlacement::after_signing)
    req.headers.push_back({"X-Amz-Security-Token", std::string(creds.session_token.reveal())});
  req.headers.push_back({"Authorization", out.authorization});
  out.request = std::move(req);
  return out;
}

Result<PresignedUrl> presign(const HttpRequest& input, const Credentials& creds, const SigningConfig& config,
                             std::chrono::system_clock::time_point now, std::chrono::seconds expires) {
  FIRERUN_CHECK(check_config(creds, config));
  if (expires < std::chrono::seconds(1) || expires > std::chrono::hours(24 * 7))
    return make_error(Errc::invalid_argument, "presigned URL expiry must be between 1 second and 7 days");
  const Header* host = input.find_header("host");
  if (!host) return make_error(Errc::invalid_argument, "request has no Host header to sign");

  HttpRequest req = input;
  remove_headers(req, "authorization");
  if (!req.payload_hash)
    req.payload_hash = config.rules == ServiceRules::s3 ? std::string(kUnsignedPayload) : sha256_hex(req.body);

  const std::string amz_date = format_amz_date(now);
  const std::string date = amz_date.substr(0, 8);
  const std::string scope = credential_scope(date, config.region, config.service);

  // The signed-header list must be known before the canonical request is built.
  FIRERUN_TRY(auto probe, make_canonical_request(req, config.rules));
  auto add_param = [&req](std::string_view key, std::string_view value) {
    if (!req.query.empty()) req.query.push_back('&');
    req.query += uri_encode(key);
    req.query.push_back('=');
    req.query += uri_encode(value);
  };
  add_param("X-Amz-Algorithm", kAlgorithm);
  add_param("X-Amz-Credential", creds.access_key_id + "/" + scope);
  add_param("X-Amz-Date", amz_date);
  add_param("X-Amz-Expires", std::to_string(expires.count()));
  add_param("X-Amz-SignedHeaders", probe.signed_headers);
  if (!creds.session_token.empty()) add_param("X-Amz-Security-Token", creds.session_token.reveal());

  FIRERUN_TRY(auto canonical, make_canonical_request(req, config.rules));
  PresignedUrl out;
  out.string_to_sign = make_string_to_sign(amz_date, scope, canonical.text);
  out.signature = signature_hex(creds, config, date, out.string_to_sign);
  std::string path = config.rules == ServiceRules::s3 ? canonical_uri(req.path, config.rules) : req.path;
  if (path.empty()) path = "/";
  out.url = "https://" + canonical_header_value(host->value) + path + "?" + canonical_query(req.query) +
            "&X-Amz-Signature=" + out.signature;
  out.canonical_request = std::move(canonical.text);
  return out;
}

}  // namespace firerun::cloud::aws
