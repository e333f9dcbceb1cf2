// A small blocking HTTP client over libcurl for AWS endpoints and IMDS.
// Deliberately minimal: one request per call, explicit timeouts, a response
// size cap, no redirects, http/https only. Error messages include the method
// and URL without its query (presigned queries are bearer credentials).
#pragma once

#include "cloud/aws/sigv4.h"
#include "firerun/error.h"

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::cloud::aws {

struct HttpOptions {
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds total_timeout{15000};
  std::size_t max_response_bytes = 16u << 20;
};

struct HttpResponse {
  long status = 0;
  std::vector<Header> headers;
  std::string body;

  /// First header with this name (case-insensitive), or nullptr.
  const Header* find_header(std::string_view name) const;
};

/// Initialises libcurl once per process (thread-safe, idempotent).
Status ensure_curl_initialized();

/// Sends `req` to `base_url` ("https://ec2.us-east-1.amazonaws.com", no trailing path) +
/// req.path + "?" + req.query. Any HTTP status is a value; only transport failures are errors
/// (Errc::timeout for deadlines, Errc::limit_exceeded for oversized bodies, Errc::io otherwise).
Result<HttpResponse> http_send(std::string_view base_url, const HttpRequest& req, const HttpOptions& options = {});

/// Receives a response body chunk by chunk; an error aborts the transfer.
using BodySink = std::function<Status(std::string_view chunk)>;
/// Like http_send, but the body of a 2xx response streams into `sink` instead of
/// HttpResponse::body (other statuses keep theirs, capped, for error parsing). An error
/// returned by the sink aborts the transfer and is what this returns.
Result<HttpResponse> http_send_streaming(std::string_view base_url, const HttpRequest& req, const HttpOptions& options,
                                         const BodySink& sink);

}  // namespace firerun::cloud::aws
