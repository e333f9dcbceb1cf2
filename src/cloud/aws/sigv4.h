// AWS Signature Version 4 (header auth and S3 presigned URLs).
//
// Pure functions over a small HttpRequest value: no clock reads, no I/O. The
// caller passes the signing time, so results are reproducible (the official
// test suite and the S3 worked examples are replayed byte for byte).
#pragma once

#include "cloud/aws/credentials.h"
#include "core/crypto.h"
#include "core/http_client.h"
#include "firerun/error.h"

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::cloud::aws {

using ::firerun::detail::Digest;
using ::firerun::detail::hex;
using ::firerun::detail::hmac_sha256;
using ::firerun::detail::sha256_hex;

using Header = http::Header;

/// An HTTP request as it will go on the wire (must include Host to be signed),
/// plus what SigV4 needs to know about its payload.
struct HttpRequest : http::Request {
  /// Hex SHA-256 of the payload or "UNSIGNED-PAYLOAD"; computed from body when absent.
  std::optional<std::string> payload_hash;
};

/// Prints the request with Authorization and X-Amz-Security-Token values redacted.
std::ostream& operator<<(std::ostream& os, const HttpRequest& r);

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

enum class ServiceRules {
  standard,  ///< normalise the path (RFC 3986 dot segments, repeated '/') and encode it twice
  s3,        ///< keep the path as is, encode it once, send x-amz-content-sha256
};

enum class SessionTokenPlacement {
  signed_header,  ///< add X-Amz-Security-Token before signing (what most services, incl. EC2/S3, want)
  after_signing,  ///< add it after signing (the older STS style, see post-sts-header-after)
};

struct SigningConfig {
  std::string region;   ///< "us-east-1"
  std::string service;  ///< "ec2", "s3", ...
  ServiceRules rules = ServiceRules::standard;
  SessionTokenPlacement token_placement = SessionTokenPlacement::signed_header;

  static SigningConfig for_s3(std::string region) { return {std::move(region), "s3", ServiceRules::s3, {}}; }
};

/// Every intermediate value, so callers and tests can inspect each step.
struct SignedRequest {
  HttpRequest request;  ///< input plus X-Amz-Date / x-amz-content-sha256 / X-Amz-Security-Token / Authorization
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      ///< hex
  std::string authorization;  ///< the Authorization header value
};

struct PresignedUrl {
  std::string url;  ///< "https://<host><path>?<query>&X-Amz-Signature=..."
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
};

// ---- building blocks (exposed for tests and for other signers) ----

/// "20150830T123600Z" (UTC).
std::string format_amz_date(std::chrono::system_clock::time_point t);
/// RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - _ . ~ (and '/' when keep_slash).
std::string uri_encode(std::string_view s, bool keep_slash = false);
/// Decodes %XX; malformed escapes are kept literally (AWS does the same for lenient paths).
std::string percent_decode(std::string_view s);
/// Removes "." / ".." segments and collapses repeated '/' (keeps a trailing '/').
std::string normalize_path(std::string_view path);
/// Canonical URI per the service rules.
std::string canonical_uri(std::string_view path, ServiceRules rules);
/// Decodes, re-encodes and sorts the parameters by key, then value; "k" becomes "k=".
std::string canonical_query(std::string_view query);
/// Hex HMAC chain: kDate -> kRegion -> kService -> kSigning.
Digest derive_signing_key(const SecretString& secret, std::string_view date, std::string_view region,
                          std::string_view service);
/// "<date>/<region>/<service>/aws4_request".
std::string credential_scope(std::string_view date, std::string_view region, std::string_view service);

struct CanonicalRequest {
  std::string text;
  std::string signed_headers;  ///< "host;x-amz-date"
};
/// The canonical request for a request that already carries every header to sign.
Result<CanonicalRequest> make_canonical_request(const HttpRequest& req, ServiceRules rules);
std::string make_string_to_sign(std::string_view amz_date, std::string_view scope,
                                std::string_view canonical_request);

// ---- signing ----

/// Signs with header auth. Adds X-Amz-Date when absent (an existing one must match `now`).
Result<SignedRequest> sign(HttpRequest req, const Credentials& creds, const SigningConfig& config,
                           std::chrono::system_clock::time_point now);

/// Query-string auth (presigned URL) valid for `expires` (1 s .. 7 days). Only Host is signed
/// besides headers already in `req`; the payload is UNSIGNED-PAYLOAD unless req.payload_hash is set.
Result<PresignedUrl> presign(const HttpRequest& req, const Credentials& creds, const SigningConfig& config,
                             std::chrono::system_clock::time_point now, std::chrono::seconds expires);

}  // namespace firerun::cloud::aws
