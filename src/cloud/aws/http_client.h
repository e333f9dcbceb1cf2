// The AWS code's names for the generic libcurl client in core/http_client.h
// (AWS endpoints, IMDS, S3 streaming). HttpRequest (in sigv4.h) is an
// http::Request plus the SigV4 payload hash.
#pragma once

#include "cloud/aws/sigv4.h"
#include "core/http_client.h"

#include <string_view>

namespace firerun::cloud::aws {

using HttpOptions = http::Options;
using HttpResponse = http::Response;
using BodySink = http::BodySink;
using http::ensure_curl_initialized;

/// See http::send.
inline Result<HttpResponse> http_send(std::string_view base_url, const HttpRequest& req,
                                      const HttpOptions& options = {}) {
  return http::send(base_url, req, options);
}

/// See http::send_streaming.
inline Result<HttpResponse> http_send_streaming(std::string_view base_url, const HttpRequest& req,
                                                const HttpOptions& options, const BodySink& sink) {
  return http::send_streaming(base_url, req, options, sink);
}

}  // namespace firerun::cloud::aws
