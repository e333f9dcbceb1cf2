// The HTTP API: route table, admission (auth, rate limit) and handlers.
#pragma once

#include "config.h"
#include "metrics.h"
#include "rate_limiter.h"
#include "router.h"

#include "firerun/scheduler.h"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <functional>
#include <optional>

namespace firerun::daemon {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
using Handler = std::function<Task<HttpResponse>(const HttpRequest&, const PathParams&)>;

/// A JSON response (no keep-alive/version yet: Api::handle sets those).
HttpResponse json_reply(unsigned status, std::string body);
/// A JSON error response ({"error": {...}}).
HttpResponse error_reply(unsigned status, const Error& error);

class CiService;

/// Compares secrets in time independent of where they differ.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

class Api {
 public:
  /// All references must outlive the Api. `ci` (optional) serves /webhooks/{provider}.
  Api(const Config& config, scheduler::Scheduler& scheduler, Metrics& metrics, CiService* ci = nullptr);

  /// Routes, authenticates and rate-limits one request. `client` is the remote address.
  Task<HttpResponse> handle(const HttpRequest& request, const std::string& client);
  /// The answer for a body over body_limit() (the session stops reading it).
  HttpResponse body_too_large(unsigned version, std::uint64_t limit);
  /// The largest body accepted for `target` (webhooks have their own limit).
  std::uint64_t body_limit(std::string_view target) const;
  const Router<Handler>& router() const { return router_; }
  /// /readyz answers 503 from now on.
  void begin_shutdown() { shutting_down_ = true; }
  /// POST /v1/admin/drain calls `drain` (default: only pause the scheduler's intake);
  /// /metrics appends `extra_metrics()`.
  void set_fleet_hooks(std::function<void(std::string reason)> drain, std::function<std::string()> extra_metrics) {
    drain_ = std::move(drain);
    extra_metrics_ = std::move(extra_metrics);
  }

 private:
  HttpResponse json_response(unsigned status, std::string body) const;
  HttpResponse error_response(const HttpRequest& req, unsigned status, const Error& error);
  HttpResponse piston_error(const HttpRequest& req, unsigned status, const std::string& message);
  Task<HttpResponse> execute(const HttpRequest& req, const PathParams&);
  Task<HttpResponse> create_job(const HttpRequest& req, const PathParams&);
  Task<HttpResponse> get_job(const HttpRequest& req, const PathParams&);
  Task<HttpResponse> cancel_job(const HttpRequest& req, const PathParams&);
  Task<HttpResponse> languages(const HttpRequest& req, const PathParams&);
  Task<HttpResponse> health(const HttpRequest& req, const PathParams&);
  Task<HttpResponse> ready(const HttpRequest& req, const PathParams&);
  Task<HttpResponse> metrics(const HttpRequest& req, const PathParams&);
  Task<HttpResponse> piston_runtimes(const HttpRequest& req, const PathParams&);
  Task<HttpResponse> piston_execute(const HttpRequest& req, const PathParams&);
  Task<HttpResponse> webhook(const HttpRequest& req, const PathParams&);
  bool image_available(const std::string& image) const;
  Task<HttpResponse> admin_drain(const HttpRequest& req, const PathParams&);

  const Config& config_;
  scheduler::Scheduler& scheduler_;
  Metrics& metrics_;
  CiService* ci_;
  RateLimiter limiter_;
  Router<Handler> router_;
  bool shutting_down_ = false;
  std::function<void(std::string)> drain_;
  std::function<std::string()> extra_metrics_;
};

}  // namespace firerun::daemon
