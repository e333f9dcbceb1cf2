#include "api.h"

#include "api_json.h"
#include "core/crypto.h"
#include "ci_service.h"
#include "vm_runner.h"

#include "firerun/image.h"
#include "firerun/sandbox.h"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace firerun::daemon {
namespace http = boost::beast::http;
namespace json = boost::json;

HttpResponse json_reply(unsigned status, std::string body) {
  HttpResponse res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::server, "firerund");
  res.body() = std::move(body);
  return res;
}

HttpResponse error_reply(unsigned status, const Error& error) { return json_reply(status, error_json(error)); }

namespace {

/// Webhook deliveries authenticate with their signature, not the bearer token,
/// and have their own per-source rate limit.
constexpr std::string_view kWebhookPrefix = "/webhooks/";
/// Operator routes: their own token, never the API token.
constexpr std::string_view kAdminPrefix = "/v1/admin/";

/// An ExecuteInput turned into a scheduler job (language + sandbox validation included).
Result<scheduler::Job> make_job(const ExecuteInput& input, const Config& config) {
  auto language = sandbox::find_language(input.request.language);
  if (!language) return Error(Errc::invalid_argument, "lang: " + language.error().message());
  FIRERUN_CHECK(sandbox::validate(input.request));
  scheduler::Job job;
  job.kind = "code";
  job.payload = payload_json(input);
  job.resources.vcpus = input.vcpus;
  job.resources.memory_mib = vm_memory_mb(input.memory_mb, config, (*language)->min_memory_mib);
  if (job.resources.memory_mib > config.limits.max_memory_mb)
    return Error(Errc::invalid_argument, "memory_mb: " + (*language)->name + " needs at least " +
                                             std::to_string(job.resources.memory_mib) + " MiB, over the limit of " +
                                             std::to_string(config.limits.max_memory_mb));
  auto deadline = input.request.timeout + std::chrono::milliseconds(config.boot_allowance_ms);
  if (!(*language)->compile_argv.empty()) deadline += input.request.compile_timeout;
  job.timeout = deadline;
  return job;
}

/// make_job + submit: the accepted job's id, or why it was refused (nothing queued).
Result<std::string> submit_job(scheduler::Scheduler& scheduler, const ExecuteInput& input, const Config& config) {
  FIRERUN_TRY(auto job, make_job(input, config));
  return scheduler.submit(std::move(job));
}

/// A refused submission: 503 while the host drains (try another host), else by error code.
unsigned refusal_status(const scheduler::Scheduler& scheduler, const Error& error) {
  return error == Errc::bad_state && scheduler.intake_paused() ? 503 : http_status_for(error.errc());
}

bool compiled(const std::string& language_name) {
  auto language = sandbox::find_language(language_name);
  return language && !(*language)->compile_argv.empty();
}

}  // namespace

Result<scheduler::Job> admit_queued_job(const scheduler::Job& queued, const Config& config) {
  if (queued.kind != "code") return Error(Errc::unsupported, "job kind '" + queued.kind + "' is not taken from the queue");
  FIRERUN_TRY(auto input, add_context(parse_execute(queued.payload, &config.limits), "queued job payload"));
  FIRERUN_TRY(auto job, make_job(input, config));
  job.id = queued.id;
  job.priority = queued.priority;
  return job;
}

Api::Api(const Config& config, scheduler::Scheduler& scheduler, Metrics& metrics, CiService* ci)
    : config_(config), scheduler_(scheduler), metrics_(metrics), ci_(ci),
      limiter_(config.limits.rate_limit_per_second, static_cast<double>(config.limits.rate_limit_burst)),
      check_host_origin_(config.auth_token.empty() && is_loopback_listen(config.listen)),
      listen_host_(config.listen.substr(0, config.listen.rfind(':'))) {
  auto bind = [this](auto method) -> Handler {
    return [this, method](const HttpRequest& req, const Call& call) { return (this->*method)(req, call); };
  };
  router_.add(http::verb::post, "/v1/execute", bind(&Api::execute));
  router_.add(http::verb::post, "/v1/jobs", bind(&Api::create_job));
  router_.add(http::verb::post, "/v1/admin/drain", bind(&Api::admin_drain));
  router_.add(http::verb::delete_, "/v1/admin/drain", bind(&Api::admin_undrain));
  router_.add(http::verb::get, "/v1/jobs/{id}", bind(&Api::get_job));
  router_.add(http::verb::delete_, "/v1/jobs/{id}", bind(&Api::cancel_job));
  router_.add(http::verb::get, "/v1/languages", bind(&Api::languages));
  router_.add(http::verb::get, "/healthz", bind(&Api::health));
  router_.add(http::verb::get, "/readyz", bind(&Api::ready));
  router_.add(http::verb::get, "/metrics", bind(&Api::metrics));
  router_.add(http::verb::get, "/api/v2/runtimes", bind(&Api::piston_runtimes));
  router_.add(http::verb::post, "/api/v2/execute", bind(&Api::piston_execute));
  if (ci_) router_.add(http::verb::post, "/webhooks/{provider}", bind(&Api::webhook));
}

HttpResponse Api::json_response(unsigned status, std::string body) const { return json_reply(status, std::move(body)); }

HttpResponse Api::error_response(const HttpRequest& req, unsigned status, const Error& error) {
  if (status >= 400 && status < 500 && req.method() == http::verb::post) metrics_.http_rejected += 1;
  return json_response(status, error_json(error));
}

HttpResponse Api::piston_error(const HttpRequest& req, unsigned status, const std::string& message) {
  if (status >= 400 && status < 500) metrics_.http_rejected += 1;
  (void)req;
  return json_response(status, json::serialize(json::object{{"message", message}}));
}

std::uint64_t Api::body_limit(std::string_view target) const {
  return ci_ && target.starts_with(kWebhookPrefix) ? ci_->body_limit() : config_.limits.max_body_bytes;
}

HttpResponse Api::transport_error(unsigned status, const std::string& message, unsigned version) {
  metrics_.http_rejected += 1;
  const Errc code = status == 413 || status == 431 || status == 414 || status == 503 ? Errc::limit_exceeded
                    : status == 408                                                 ? Errc::timeout
                                                                                    : Errc::invalid_argument;
  auto res = json_response(status, error_json(Error(code, message)));
  res.version(version == 10 ? 10 : 11);
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

std::optional<std::string> Api::foreign_host_or_origin(const HttpRequest& req) const {
  // Only a server without a token relies on being reachable from this host
  // alone; a browser on this host must not be a way in (DNS rebinding sends
  // Host: attacker.example, a cross-site form post sends Origin).
  if (!check_host_origin_) return std::nullopt;
  auto allowed = [&](std::string_view authority) {
    std::string_view host = authority;
    std::string_view port;
    if (!host.empty() && host.front() == '[') {
      auto close = host.find(']');
      if (close == std::string_view::npos) return false;
      port = host.substr(close + 1);
      host = host.substr(0, close + 1);
    } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
      port = host.substr(colon);
      host = host.substr(0, colon);
    }
    if (!port.empty() && port != ":" + std::to_string(bound_port_)) return false;
    std::string lower(host);
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == "localhost" || lower == "127.0.0.1" || lower == "[::1]" || lower == listen_host_) return true;
    return std::find(config_.allowed_hosts.begin(), config_.allowed_hosts.end(), lower) != config_.allowed_hosts.end();
  };
  if (auto host = req.find(http::field::host); host != req.end() && !allowed(host->value()))
    return "Host '" + std::string(host->value()) + "' is not this server (auth.allowed_hosts lists other names)";
  if (auto origin = req.find(http::field::origin); origin != req.end()) {
    std::string_view o = origin->value();
    constexpr std::string_view kHttp = "http://";
    if (!o.starts_with(kHttp) || !allowed(o.substr(kHttp.size())))
      return "cross-origin request from '" + std::string(o) + "' refused";
  }
  return std::nullopt;
}

std::optional<HttpResponse> Api::admit(const HttpRequest& req, const std::string& client) {
  metrics_.http_requests += 1;
  auto match = router_.match(req.method(), req.target());
  std::optional<HttpResponse> res;
  const std::string_view target = req.target();
  const bool webhook = ci_ && target.starts_with(kWebhookPrefix);
  const bool admin = target.starts_with(kAdminPrefix);
  const bool open_endpoint = webhook || target.rfind("/healthz", 0) == 0 || target.rfind("/readyz", 0) == 0;
  if (!match.handler) {
    if (!match.allowed.empty()) {
      res = error_response(req, 405, Error(Errc::unsupported, "method not allowed on " + std::string(target)));
      std::string allow;
      for (auto v : match.allowed) allow += (allow.empty() ? "" : ", ") + std::string(http::to_string(v));
      res->set(http::field::allow, allow);
    } else {
      res = error_response(req, 404, Error(Errc::not_found, "no such endpoint: " + std::string(target)));
    }
  } else if (auto foreign = webhook ? std::nullopt : foreign_host_or_origin(req)) {
    res = error_response(req, 403, Error(Errc::auth, *foreign));
  } else if (admin && config_.admin_token.empty()) {
    res = error_response(req, 403, Error(Errc::auth, "admin routes are disabled: set auth.admin_token_file "
                                                     "(or FIRERUN_AUTH_ADMIN_TOKEN)"));
  } else if (admin && !::firerun::detail::constant_time_equal(req[http::field::authorization], "Bearer " + config_.admin_token)) {
    res = error_response(req, 401, Error(Errc::auth, "admin routes need the admin bearer token"));
    res->set(http::field::www_authenticate, "Bearer");
  } else if (!admin && !config_.auth_token.empty() && !open_endpoint &&
             !::firerun::detail::constant_time_equal(req[http::field::authorization], "Bearer " + config_.auth_token)) {
    res = error_response(req, 401, Error(Errc::auth, "missing or wrong bearer token"));
    res->set(http::field::www_authenticate, "Bearer");
  } else if (!open_endpoint && target.rfind("/metrics", 0) != 0 && !limiter_.allow(client)) {
    res = error_response(req, 429, Error(Errc::limit_exceeded, "rate limit exceeded for " + client));
    res->set(http::field::retry_after, std::to_string(limiter_.retry_after_seconds(client)));
  } else if (webhook) {
    // The webhook's source address and rate limit, before its body is read.
    res = ci_->admit(match.params.at("provider"), client);
  }
  if (res) {
    res->version(req.version());
    res->keep_alive(false);  // its body (if any) is not read
    res->prepare_payload();
  }
  return res;
}

Task<HttpResponse> Api::handle(const HttpRequest& req, const Call& call) {
  auto match = router_.match(req.method(), req.target());
  HttpResponse res;
  if (!match.handler) {
    res = error_response(req, 404, Error(Errc::not_found, "no such endpoint: " + std::string(req.target())));
  } else {
    Call routed = call;
    routed.params = std::move(match.params);
    auto handled = co_await (*match.handler)(req, routed);
    res = std::move(handled);
  }
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  co_return res;
}

void Api::cancel_on_hangup(const Call& call, const std::string& id) {
  call.hangup->on_hangup([this, id] {
    if (auto st = scheduler_.cancel(id); st) spdlog::info("job {}: its client hung up; cancelled", id);
  });
}

Task<HttpResponse> Api::execute(const HttpRequest& req, const Call& call) {
  auto input = parse_execute(req.body(), &config_.limits);
  if (!input) co_return error_response(req, input.error() == Errc::limit_exceeded ? 413 : 400, input.error());
  auto id = submit_job(scheduler_, *input, config_);
  if (!id) co_return error_response(req, refusal_status(scheduler_, id.error()), id.error());
  cancel_on_hangup(call, *id);
  auto record = co_await scheduler_.wait(*id);
  if (!record) co_return error_response(req, 500, record.error());
  if (record->status == scheduler::JobStatus::completed) co_return json_response(200, record->result);
  Error error = record->error.value_or(Error(Errc::internal, "job ended without a result"));
  error.with_context("job " + *id);
  co_return error_response(req, http_status_for(error.errc()), error);
}

Task<HttpResponse> Api::create_job(const HttpRequest& req, const Call&) {
  auto input = parse_execute(req.body(), &config_.limits);
  if (!input) co_return error_response(req, input.error() == Errc::limit_exceeded ? 413 : 400, input.error());
  auto id = submit_job(scheduler_, *input, config_);
  if (!id) co_return error_response(req, refusal_status(scheduler_, id.error()), id.error());
  auto res = json_response(202, json::serialize(json::object{{"id", *id}, {"status", "queued"}}));
  res.set(http::field::location, "/v1/jobs/" + *id);
  co_return res;
}

Task<HttpResponse> Api::get_job(const HttpRequest& req, const Call& call) {
  auto record = scheduler_.get(call.params.at("id"));
  if (!record) co_return error_response(req, http_status_for(record.error().errc()), record.error());
  co_return json_response(200, json::serialize(job_json(*record)));
}

Task<HttpResponse> Api::cancel_job(const HttpRequest& req, const Call& call) {
  const std::string& id = call.params.at("id");
  if (auto st = scheduler_.cancel(id); !st)
    co_return error_response(req, http_status_for(st.error().errc()), st.error());
  auto record = scheduler_.get(id);
  if (!record) co_return error_response(req, 500, record.error());
  // A running job is stopped asynchronously: 202 until it is actually cancelled.
  co_return json_response(scheduler::is_terminal(record->status) ? 200 : 202, json::serialize(job_json(*record)));
}

Task<HttpResponse> Api::webhook(const HttpRequest& req, const Call& call) {
  auto res = co_await ci_->webhook(req, call.params.at("provider"), call.client);
  co_return res;
}

bool Api::image_available(const std::string& name) const {
  return static_cast<bool>(image::find_image(name, config_.image_cache));
}

Task<HttpResponse> Api::languages(const HttpRequest&, const Call&) {
  json::array out;
  for (const auto& l : sandbox::languages()) {
    json::array aliases;
    for (const auto& a : l.aliases) aliases.push_back(json::value(a));
    out.push_back(json::object{{"name", l.name},
                               {"aliases", std::move(aliases)},
                               {"version", l.version},
                               {"image", l.image},
                               {"compiled", !l.compile_argv.empty()},
                               {"min_memory_mb", l.min_memory_mib},
                               {"available", image_available(l.image)}});
  }
  co_return json_response(200, json::serialize(out));
}

Task<HttpResponse> Api::health(const HttpRequest&, const Call&) {
  co_return json_response(200, R"({"status":"ok"})");
}

Task<HttpResponse> Api::admin_drain(const HttpRequest& req, const Call&) {
  std::string reason = "operator drain";
  if (!req.body().empty()) {
    boost::system::error_code ec;
    json::value body = json::parse(req.body(), ec);
    const json::value* given = !ec && body.is_object() ? body.as_object().if_contains("reason") : nullptr;
    if (ec || !body.is_object() || (given && (!given->is_string() || given->as_string().size() > 200)))
      co_return error_response(req, 400, Error(Errc::invalid_argument, "body must be {\"reason\": \"<at most 200 characters>\"}"));
    if (given && !given->as_string().empty()) reason = std::string(given->as_string());
  }
  if (drain_) drain_(reason);
  else scheduler_.pause_intake(reason);
  co_return json_response(202, json::serialize(json::object{
                                   {"status", "draining"}, {"reason", scheduler_.intake_paused().value_or(reason)}}));
}

Task<HttpResponse> Api::admin_undrain(const HttpRequest&, const Call&) {
  if (resume_) resume_();
  else scheduler_.resume_intake();
  co_return json_response(200, json::serialize(json::object{{"status", "accepting"}}));
}

Task<HttpResponse> Api::ready(const HttpRequest& req, const Call&) {
  if (shutting_down_)
    co_return error_response(req, 503, Error(Errc::bad_state, "shutting down"));
  if (auto reason = scheduler_.intake_paused())
    co_return error_response(req, 503, Error(Errc::bad_state, "host draining: " + *reason));
  for (const auto& l : sandbox::languages())
    if (image_available(l.image)) co_return json_response(200, R"({"status":"ready"})");
  co_return error_response(req, 503,
                           Error(Errc::not_found, "no language image is built in " + config_.image_cache.string()));
}

Task<HttpResponse> Api::metrics(const HttpRequest&, const Call&) {
  HttpResponse res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; version=0.0.4");
  res.body() = metrics_.render(scheduler_.stats());
  if (extra_metrics_) res.body() += extra_metrics_();
  co_return res;
}

Task<HttpResponse> Api::piston_runtimes(const HttpRequest&, const Call&) {
  json::array out;
  for (const auto& l : sandbox::languages()) {
    if (!image_available(l.image)) continue;
    json::array aliases;
    for (const auto& a : l.aliases) aliases.push_back(json::value(a));
    out.push_back(json::object{{"language", l.name}, {"version", l.version}, {"aliases", std::move(aliases)}});
  }
  co_return json_response(200, json::serialize(out));
}

Task<HttpResponse> Api::piston_execute(const HttpRequest& req, const Call& call) {
  auto input = parse_piston_execute(req.body(), config_.limits);
  if (!input) co_return piston_error(req, input.error() == Errc::limit_exceeded ? 413 : 400, input.error().message());
  // Piston requires a version: "*" (or a prefix of ours, e.g. "3" or "3.11.x") selects ours.
  std::string version;
  {
    boost::system::error_code ec;
    json::value body = json::parse(req.body(), ec);
    if (auto* v = body.is_object() ? body.as_object().if_contains("version") : nullptr; v && v->is_string())
      version = std::string(v->as_string());
  }
  auto language = sandbox::find_language(input->request.language);
  auto version_ok = [&](const std::string& ours) {
    if (version.empty() || version == "*" || version == "latest") return true;
    std::string wanted = version;
    while (!wanted.empty() && (wanted.back() == 'x' || wanted.back() == '*' || wanted.back() == '.')) wanted.pop_back();
    return ours.rfind(wanted, 0) == 0 || wanted.rfind(ours, 0) == 0;
  };
  if (!language || !version_ok((*language)->version) || !image_available((*language)->image))
    co_return piston_error(req, 400, input->request.language + "-" + version + " runtime is unknown");
  auto id = submit_job(scheduler_, *input, config_);
  if (!id) co_return piston_error(req, refusal_status(scheduler_, id.error()), id.error().message());
  cancel_on_hangup(call, *id);
  auto record = co_await scheduler_.wait(*id);
  if (!record) co_return piston_error(req, 500, record.error().message());
  if (record->status != scheduler::JobStatus::completed) {
    Error error = record->error.value_or(Error(Errc::internal, "job ended without a result"));
    co_return piston_error(req, http_status_for(error.errc()), error.what());
  }
  auto out = piston_result(record->result, compiled(input->request.language));
  if (!out) co_return piston_error(req, 500, out.error().what());
  co_return json_response(200, json::serialize(*out));
}

}  // namespace firerun::daemon
