#include "core/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>

namespace firerun::http {
namespace {

struct Transfer {
  Response response;
  std::size_t limit = 0;
  bool too_large = false;
  long status = 0;  // from the latest status line, so the body sink sees only 2xx bodies
  const BodySink* sink = nullptr;
  std::optional<Error> sink_error;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  if (t->sink && t->status >= 200 && t->status < 300) {
    auto written = (*t->sink)(std::string_view(data, n));
    if (!written) {
      t->sink_error = std::move(written).error();
      return 0;
    }
    return n;
  }
  if (t->response.body.size() + n > t->limit) {
    t->too_large = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR
  }
  t->response.body.append(data, n);
  return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    t->response.headers.clear();  // a new response (e.g. after 100-continue) starts over
    auto space = line.find(' ');
    t->status = space == std::string_view::npos ? 0 : std::atol(std::string(line.substr(space + 1, 3)).c_str());
    return line.size();
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return line.size();
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ' || s.back() == '\t'))
      s.remove_suffix(1);
    return s;
  };
  t->response.headers.push_back({std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1)))});
  return line.size();
}

bool has_line_break(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

const Header* Request::find_header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h;
  return nullptr;
}

const Header* Response::find_header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h;
  return nullptr;
}

Status ensure_curl_initialized() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK)
    return make_error(Errc::internal, std::string("curl_global_init failed: ") + curl_easy_strerror(result));
  return {};
}

namespace {

Result<Response> send_impl(std::string_view base_url, const Request& req, const Options& options,
                           const BodySink* sink) {
  FIRERUN_CHECK(ensure_curl_initialized());
  const std::string label = req.method + " " + std::string(base_url) + req.path;  // no query: may be a credential
  if (req.method.empty() || has_line_break(req.method) || req.method.find(' ') != std::string::npos)
    return make_error(Errc::invalid_argument, "invalid HTTP method").with_context(label);
  if (has_line_break(req.path) || has_line_break(req.query))
    return make_error(Errc::invalid_argument, "line break in request target").with_context(label);

  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return make_error(Errc::internal, "curl_easy_init failed").with_context(label);

  std::string url(base_url);
  url += req.path.empty() ? "/" : req.path;
  if (!req.query.empty()) url += "?" + req.query;

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&](const std::string& line) -> Status {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (!next) return make_error(Errc::internal, "out of memory building headers");
    headers.release();
    headers.reset(next);
    return {};
  };
  bool has_content_type = false;
  for (const auto& h : req.headers) {
    if (h.name.empty() || has_line_break(h.name) || has_line_break(h.value) || h.name.find(':') != std::string::npos)
      return make_error(Errc::invalid_argument, "header '" + (has_line_break(h.name) ? std::string("?") : h.name) +
                                                    "' has a line break or bad name").with_context(label);
    if (h.name.size() == 12 && curl_strnequal(h.name.c_str(), "content-type", 12)) has_content_type = true;
    // "Name;" is curl's spelling of a header with an empty value.
    FIRERUN_CHECK(add_header(h.value.empty() ? h.name + ";" : h.name + ": " + h.value));
  }
  FIRERUN_CHECK(add_header("Expect:"));  // no 100-continue round trip
  if (!has_content_type) FIRERUN_CHECK(add_header("Content-Type:"));  // curl would add a form type

  Transfer transfer;
  transfer.limit = options.max_response_bytes;
  transfer.sink = sink;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req.method == "GET" && req.body.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }

  CURLcode rc = curl_easy_perform(c);
  if (transfer.sink_error) return std::move(*transfer.sink_error).with_context(label);
  if (transfer.too_large)
    return make_error(Errc::limit_exceeded,
                      "response body exceeds " + std::to_string(options.max_response_bytes) + " bytes")
        .with_context(label);
  if (rc == CURLE_OPERATION_TIMEDOUT)
    return make_error(Errc::timeout, curl_easy_strerror(rc)).with_context(label);
  if (rc != CURLE_OK) return make_error(Errc::io, curl_easy_strerror(rc)).with_context(label);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &transfer.response.status);
  return std::move(transfer.response);
}

}  // namespace

Result<Response> send(std::string_view base_url, const Request& req, const Options& options) {
  return send_impl(base_url, req, options, nullptr);
}

Result<Response> send_streaming(std::string_view base_url, const Request& req, const Options& options,
                                const BodySink& sink) {
  return send_impl(base_url, req, options, &sink);
}

}  // namespace firerun::http
