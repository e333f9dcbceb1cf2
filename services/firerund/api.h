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
#include <memory>
#include <optional>
#include <vector>

namespace firerun::daemon {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

/// Fires once when the client of an in-flight request hangs up before its
/// answer (the server watches the socket while the handler runs). Used on the
/// executor's thread only.
class Hangup {
 public:
  /// Runs `fn` on hang-up (at once if it already happened).
  void on_hangup(std::function<void()> fn) {
    if (fired_) fn();
    else callbacks_.push_back(std::move(fn));
  }
  void fire() {
    if (fired_) return;
    fired_ = true;
    auto callbacks = std::move(callbacks_);
    for (auto& fn : callbacks) fn();
  }
  bool fired() const noexcept { return fired_; }

 private:
  bool fired_ = false;
  std::vector<std::function<void()>> callbacks_;
};

/// What a handler knows of its request besides the message.
struct Call {
  PathParams params;
  std::string client;                                   ///< the remote address
  std::shared_ptr<Hangup> hangup = std::make_shared<Hangup>();
};

using Handler = std::function<Task<HttpResponse>(const HttpRequest&, const Call&)>;

/// A JSON response (no keep-alive/version yet: Api::handle sets those).
HttpResponse json_reply(unsigned status, std::string body);
/// A JSON error response ({"error": {...}}).
HttpResponse error_reply(unsigned status, const Error& error);

class CiService;

/// A job claimed from the fleet queue, checked as POST /v1/jobs checks a
/// request (language, sandbox validation, limits) and rebuilt from its payload
/// (shape and deadline from this host's rules, not the entry's); keeps its id.
Result<scheduler::Job> admit_queued_job(const scheduler::Job& queued, const Config& config);

class Api {
 public:
  /// All references must outlive the Api. `ci` (optional) serves /webhooks/{provider}.
  Api(const Config& config, scheduler::Scheduler& scheduler, Metrics& metrics, CiService* ci = nullptr);

  /// Decides on the header alone, before any body is read: route, Host/Origin,
  /// authentication and rate limits. A response means refused (send it and
  /// close); nullopt means read the body and call handle(). `client` is the
  /// remote address.
  std::optional<HttpResponse> admit(const HttpRequest& header, const std::string& client);
  /// Runs the handler of a request admit() let through.
  Task<HttpResponse> handle(const HttpRequest& request, const Call& call);
  /// A JSON error answer produced by the HTTP layer itself (413 body too
  /// large, 431, 414, 400 malformed, 408 too slow, 503 too many connections);
  /// always closes the connection.
  HttpResponse transport_error(unsigned status, const std::string& message, unsigned version = 11);
  /// The port the server is bound to (Host header checks).
  void set_bound_port(unsigned short port) { bound_port_ = port; }
  /// The largest body accepted for `target` (webhooks have their own limit).
  std::uint64_t body_limit(std::string_view target) const;
  const Router<Handler>& router() const { return router_; }
  /// /readyz answers 503 from now on.
  void begin_shutdown() { shutting_down_ = true; }
  /// POST /v1/admin/drain calls `drain` and DELETE /v1/admin/drain `resume`
  /// (default: pause / resume the scheduler's intake); /metrics appends `extra_metrics()`.
  void set_fleet_hooks(std::function<void(std::string reason)> drain, std::function<void()> resume,
                       std::function<std::string()> extra_metrics) {
    drain_ = std::move(drain);
    resume_ = std::move(resume);
    extra_metrics_ = std::move(extra_metrics);
  }

 private:
  HttpResponse json_response(unsigned status, std::string body) const;
  HttpResponse error_response(const HttpRequest& req, unsigned status, const Error& error);
  HttpResponse piston_error(const HttpRequest& req, unsigned status, const std::string& message);
  /// Whether Host and Origin name this server (DNS rebinding, cross-site posts).
  std::optional<std::string> foreign_host_or_origin(const HttpRequest& req) const;
  /// A job submitted synchronously is cancelled if its client hangs up.
  void cancel_on_hangup(const Call& call, const std::string& id);
  Task<HttpResponse> execute(const HttpRequest& req, const Call&);
  Task<HttpResponse> create_job(const HttpRequest& req, const Call&);
  Task<HttpResponse> get_job(const HttpRequest& req, const Call&);
  Task<HttpResponse> cancel_job(const HttpRequest& req, const Call&);
  Task<HttpResponse> languages(const HttpRequest& req, const Call&);
  Task<HttpResponse> health(const HttpRequest& req, const Call&);
  Task<HttpResponse> ready(const HttpRequest& req, const Call&);
  Task<HttpResponse> metrics(const HttpRequest& req, const Call&);
  Task<HttpResponse> piston_runtimes(const HttpRequest& req, const Call&);
  Task<HttpResponse> piston_execute(const HttpRequest& req, const Call&);
  Task<HttpResponse> webhook(const HttpRequest& req, const Call&);
  bool image_available(const std::string& image) const;
  Task<HttpResponse> admin_drain(const HttpRequest& req, const Call&);
  Task<HttpResponse> admin_undrain(const HttpRequest& req, const Call&);

  const Config& config_;
  scheduler::Scheduler& scheduler_;
  Metrics& metrics_;
  CiService* ci_;
  RateLimiter limiter_;
  Router<Handler> router_;
  bool shutting_down_ = false;
  unsigned short bound_port_ = 0;
  /// Host/Origin are checked when nobody needs a token: no token on loopback (fixed at construction).
  const bool check_host_origin_;
  const std::string listen_host_;
  std::function<void(std::string)> drain_;
  std::function<void()> resume_;
  std::function<std::string()> extra_metrics_;
};

}  // namespace firerun::daemon
