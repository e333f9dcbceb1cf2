// A small blocking HTTP client over libcurl (AWS, IMDS, GitHub and GitLab
// APIs). Deliberately minimal: one request per call, explicit timeouts, a
// response size cap, no redirects, http/https only. Error messages include the
// method and URL without its query (presigned queries are bearer credentials)
// and never a header value or body.
#pragma once

#include "firerun/error.h"

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::http {

struct Header {
  std::string name;
  std::string value;
};

/// An HTTP request as it will go on the wire.
struct Request {
  std::string method;           ///< "GET", "POST", ...
  std::string path = "/";       ///< request-target path as sent (may hold %XX escapes or raw UTF-8)
  std::string query;            ///< raw query string without '?', "" when none
  std::vector<Header> headers;  ///< wire order; repeated names allowed
  std::string body;

  /// First header with this name (case-insensitive), or nullptr.
  const Header* find_header(std::string_view name) const;
};

struct Options {
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds total_timeout{15000};
  std::size_t max_response_bytes = 16u << 20;
};

struct Response {
  long status = 0;
  std::vector<Header> headers;
  std::string body;

  /// First header with this name (case-insensitive), or nullptr.
  const Header* find_header(std::string_view name) const;
};

/// ASCII case-insensitive equality (HTTP header names).
bool iequals(std::string_view a, std::string_view b) noexcept;

/// Initialises libcurl once per process (thread-safe, idempotent).
Status ensure_curl_initialized();

/// Sends `req` to `base_url` ("https://ec2.us-east-1.amazonaws.com", no trailing path) +
/// req.path + "?" + req.query. Any HTTP status is a value; only transport failures are errors
/// (Errc::timeout for deadlines, Errc::limit_exceeded for oversized bodies, Errc::io otherwise).
Result<Response> send(std::string_view base_url, const Request& req, const Options& options = {});

/// Receives a response body chunk by chunk; an error aborts the transfer.
using BodySink = std::function<Status(std::string_view chunk)>;
/// Like send, but the body of a 2xx response streams into `sink` instead of
/// Response::body (other statuses keep theirs, capped, for error parsing). An error
/// returned by the sink aborts the transfer and is what this returns.
Result<Response> send_streaming(std::string_view base_url, const Request& req, const Options& options,
                                const BodySink& sink);

}  // namespace firerun::http
