#include "ci_service.h"

#include "api_json.h"
#include "ci_store.h"
#include "rate_limiter.h"
#include "vm_runner.h"

#include "ci/runner_broker.h"
#include "core/offload.h"
#include "firerun/image.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <set>

namespace firerun::daemon {
namespace asio = boost::asio;
namespace json = boost::json;
namespace beast_http = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t kRunnerOutputTail = 4096;
constexpr auto kDeliveryRetention = std::chrono::hours(24 * 30);

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Fault injection for the crash tests: with FIRERUN_TEST_CRASH_AT=<name> the
/// daemon dies by SIGKILL at that point (no clean-up, as in a real crash).
void crash_point(const char* name) {
  static const char* at = std::getenv("FIRERUN_TEST_CRASH_AT");
  if (at && std::strcmp(at, name) == 0) ::kill(::getpid(), SIGKILL);
}

/// The scheduler job of a CI job: its key in jobs.db, so it is queued once.
std::string ci_scheduler_job_id(const ci::JobRequest& r) {
  return "ci-" + r.provider + "-" + std::to_string(r.job_id) + "-" + std::to_string(r.run_attempt);
}

struct Provider {
  std::unique_ptr<ci::CiProvider> webhooks;
  std::shared_ptr<ci::RunnerBroker> broker;
  CiProviderMetrics* metrics = nullptr;
};

/// A CI job as stored in its scheduler job.
struct CiPayload {
  ci::JobRequest request;
  std::int64_t received_ms = 0;
  std::string key;
};

json::object shape_json(const ci::VmShape& s) {
  return {{"vcpus", s.vcpus}, {"memory_gib", s.memory_gib}, {"disk_gib", s.disk_gib}, {"image", s.image},
          {"pool", s.pool}};
}

std::string payload_json(const CiPayload& p) {
  const ci::JobRequest& r = p.request;
  json::array labels;
  for (const auto& l : r.labels) labels.emplace_back(l);
  json::object o{{"key", p.key},
                 {"received_ms", p.received_ms},
                 {"provider", r.provider},
                 {"delivery_id", r.delivery_id},
                 {"instance", r.instance},
                 {"job_id", r.job_id},
                 {"run_id", r.run_id},
                 {"run_attempt", r.run_attempt},
                 {"job_name", r.job_name},
                 {"repository", r.repository},
                 {"repository_id", r.repository_id},
                 {"owner", r.owner},
                 {"labels", std::move(labels)},
                 {"labels_known", r.labels_known}};
  if (r.installation_id) o["installation_id"] = *r.installation_id;
  if (r.shape) o["shape"] = shape_json(*r.shape);
  return json::serialize(o);
}

Result<CiPayload> parse_payload(std::string_view text) {
  try {
    json::object o = json::parse(text).as_object();
    CiPayload p;
    p.key = json::value_to<std::string>(o.at("key"));
    p.received_ms = o.at("received_ms").to_number<std::int64_t>();
    ci::JobRequest& r = p.request;
    r.provider = json::value_to<std::string>(o.at("provider"));
    r.delivery_id = json::value_to<std::string>(o.at("delivery_id"));
    r.instance = json::value_to<std::string>(o.at("instance"));
    r.job_id = o.at("job_id").to_number<std::uint64_t>();
    r.run_id = o.at("run_id").to_number<std::uint64_t>();
    r.run_attempt = o.at("run_attempt").to_number<std::uint32_t>();
    r.job_name = json::value_to<std::string>(o.at("job_name"));
    r.repository = json::value_to<std::string>(o.at("repository"));
    r.repository_id = o.at("repository_id").to_number<std::uint64_t>();
    r.owner = json::value_to<std::string>(o.at("owner"));
    r.labels = json::value_to<std::vector<std::string>>(o.at("labels"));
    r.labels_known = o.at("labels_known").as_bool();
    if (auto* v = o.if_contains("installation_id")) r.installation_id = v->to_number<std::uint64_t>();
    if (auto* v = o.if_contains("shape")) {
      const auto& s = v->as_object();
      r.shape = ci::VmShape{s.at("vcpus").to_number<std::uint32_t>(), s.at("memory_gib").to_number<std::uint32_t>(),
                            s.at("disk_gib").to_number<std::uint32_t>(), json::value_to<std::string>(s.at("image")),
                            json::value_to<std::string>(s.at("pool"))};
    }
    return p;
  } catch (const std::exception& e) {
    return make_error(Errc::invalid_argument, std::string("CI job payload: ") + e.what());
  }
}

Task<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

std::string tail(const std::string& text, std::size_t n) { return text.size() <= n ? text : text.substr(text.size() - n); }

}  // namespace

struct CiService::State {
  State(const Config& c, scheduler::Scheduler& s, Metrics& m, asio::any_io_executor ex)
      : config(c), scheduler(s), metrics(m), executor(ex),
        limiter(c.ci.webhook_rate_per_second, static_cast<double>(c.ci.webhook_rate_burst)), timer(ex) {}

  const Config& config;
  scheduler::Scheduler& scheduler;
  Metrics& metrics;
  asio::any_io_executor executor;
  std::map<std::string, Provider> providers;
  std::unique_ptr<CiStore> store;
  RateLimiter limiter;
  std::vector<asio::ip::network_v4> allow_v4;
  std::vector<asio::ip::network_v6> allow_v6;
  asio::steady_timer timer;
  bool stopped = false;
  unsigned registrations_in_flight = 0;  // io thread only
  bool sweeping = false;                 // io thread only
  // Last: destroyed first, so calls still running on it finish while the rest is alive.
  asio::thread_pool pool{2};

  bool source_allowed(const std::string& client) const;
  Result<scheduler::Job> make_job(const CiPayload& payload, const std::string& id) const;
  Result<std::string> submit(const CiPayload& payload, std::uint64_t resubmit);
  Task<HttpResponse> on_job_event(Provider& provider, const ci::JobRequest& event);
  template <class F>
  Task<decltype(std::declval<const F&>()())> call_api(const std::string& what, const F& fn,
                                                      scheduler::JobContext* ctx, Clock::time_point give_up);
  Task<void> recover();
};

bool CiService::State::source_allowed(const std::string& client) const {
  if (allow_v4.empty() && allow_v6.empty()) return true;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(client, ec);
  if (ec) return false;
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  if (address.is_v4()) {
    for (const auto& net : allow_v4)
      if (asio::ip::make_network_v4(address.to_v4(), net.prefix_length()).canonical() == net.canonical()) return true;
  } else {
    for (const auto& net : allow_v6)
      if (asio::ip::make_network_v6(address.to_v6(), net.prefix_length()).canonical() == net.canonical()) return true;
  }
  return false;
}

Result<scheduler::Job> CiService::State::make_job(const CiPayload& payload, const std::string& id) const {
  const ci::VmShape shape = payload.request.shape.value_or(config.ci.labels.defaults);
  scheduler::Job job;
  job.id = id;
  job.kind = "ci";
  job.payload = payload_json(payload);
  job.resources.vcpus = shape.vcpus;
  job.resources.memory_mib = std::uint64_t{shape.memory_gib} * 1024;
  job.timeout = std::chrono::milliseconds(config.ci.job_timeout_ms + config.ci.api_retry_ms + config.boot_allowance_ms);
  return job;
}

Result<std::string> CiService::State::submit(const CiPayload& payload, std::uint64_t resubmit) {
  const ci::JobRequest& r = payload.request;
  std::string id = ci_scheduler_job_id(r);
  if (resubmit) id += "-r" + std::to_string(resubmit);
  FIRERUN_TRY(auto job, make_job(payload, id));
  return scheduler.submit(std::move(job));
}

template <class F>
Task<decltype(std::declval<const F&>()())> CiService::State::call_api(const std::string& what, const F& fn,
                                                                      scheduler::JobContext* ctx,
                                                                      Clock::time_point give_up) {
  // The REST client already retried a few times; this outer loop keeps a job
  // waiting through a longer outage (ci.api_retry_ms) instead of losing it.
  std::chrono::milliseconds delay(1000);
  for (;;) {
    auto result = co_await ::firerun::detail::offload(pool, fn);
    const bool stop = ctx && ctx->stop_requested();
    if (result || !ci::is_retryable(result.error()) || stop || Clock::now() + delay > give_up) co_return result;
    spdlog::warn("{}: {}; retrying in {} ms", what, result.error().what(), delay.count());
    co_await sleep_for(delay);
    delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(30));
  }
}

Task<HttpResponse> CiService::State::on_job_event(Provider& provider, const ci::JobRequest& event) {
  ci::JobRequest request = event;
  const std::string key = ci_job_key(request.provider, request.job_id, request.run_attempt);
  auto known = store->job(key);
  if (!known) co_return error_reply(503, known.error());

  if (request.phase == ci::JobPhase::completed) {
    // Ours runs until its runner exits; a job finished elsewhere (or cancelled)
    // leaves our runner idle, so its VM is stopped.
    if (*known && !(*known)->done) {
      const bool ran_here = request.runner && request.runner->name.rfind("firerun-", 0) == 0;
      if (!ran_here) {
        auto cancelled = scheduler.cancel((*known)->scheduler_job);
        spdlog::info("{} job {} {} ({}): stopping its runner VM{}", request.provider, request.job_id,
                     request.conclusion.value_or("completed"), request.repository,
                     cancelled ? "" : ": " + cancelled.error().message());
      }
    }
    co_return json_reply(202, json::serialize(json::object{{"status", "noted"}}));
  }
  if (request.phase != ci::JobPhase::queued) {
    spdlog::debug("{} job {} is {}: nothing to do", request.provider, request.job_id, ci::job_phase_name(request.phase));
    co_return json_reply(202, json::serialize(json::object{{"status", "ignored"}, {"reason", "job is " + request.status}}));
  }
  if (request.labels_known && !request.shape) {
    spdlog::info("{} job {} ({}): labels do not ask for firerun; ignored", request.provider, request.job_id,
                 request.repository);
    co_return json_reply(202, json::serialize(json::object{{"status", "ignored"}, {"reason", "labels do not ask for firerun"}}));
  }
  if (*known) {
    provider.metrics->webhooks_duplicate += 1;
    co_return json_reply(200, json::serialize(json::object{{"status", "duplicate"}, {"job", (*known)->scheduler_job}}));
  }
  CiPayload payload{std::move(request), now_ms(), key};
  auto id = submit(payload, 0);
  if (!id && id.error() == Errc::already_exists) {
    // Queued before a crash that lost its ci.db row: the same job, once.
    const std::string existing = ci_scheduler_job_id(payload.request);
    (void)store->add_job(CiJobRow{key, payload.request.provider, payload.request.job_id, existing,
                                  payload_json(payload), false, 0});
    provider.metrics->webhooks_duplicate += 1;
    co_return json_reply(200, json::serialize(json::object{{"status", "duplicate"}, {"job", existing}}));
  }
  crash_point("ci.after_enqueue");
  if (!id) {
    const unsigned status = id.error() == Errc::limit_exceeded ? 422 : http_status_for(id.error().errc());
    if (status == 422) provider.metrics->reject("unschedulable");
    spdlog::error("{} job {} ({}) not queued: {}", payload.request.provider, payload.request.job_id,
                  payload.request.repository, id.error().what());
    co_return error_reply(status, id.error());
  }
  auto added = store->add_job(CiJobRow{key, payload.request.provider, payload.request.job_id, *id,
                                       payload_json(payload), false, 0});
  if (!added) spdlog::error("CI job {}: {}", key, added.error().what());
  provider.metrics->jobs_queued += 1;
  spdlog::info("{} job {} ({}, {}) queued as {}", payload.request.provider, payload.request.job_id,
               payload.request.repository, payload.request.job_name, *id);
  auto res = json_reply(202, json::serialize(json::object{{"status", "queued"}, {"job", *id}}));
  res.set(beast_http::field::location, "/v1/jobs/" + *id);
  co_return res;
}

Task<void> CiService::State::recover() {
  auto open = store->open_jobs();
  if (!open) {
    spdlog::error("CI recovery: {}", open.error().what());
    co_return;
  }
  for (const auto& row : *open) {
    auto record = scheduler.get(row.scheduler_job);
    if (record && !scheduler::is_terminal(record->status)) continue;  // queued or requeued: it will run
    // Terminal but never finished by a runner: the daemon died under it.
    if (row.resubmits >= config.ci.max_resubmits) {
      spdlog::error("CI job {}: interrupted {} times; giving up", row.key, row.resubmits + 1);
      (void)store->mark_done(row.key);
      continue;
    }
    auto payload = parse_payload(row.payload);
    if (!payload) {
      spdlog::error("CI job {}: {}", row.key, payload.error().what());
      (void)store->mark_done(row.key);
      continue;
    }
    auto id = submit(*payload, row.resubmits + 1);
    if (!id) {
      spdlog::error("CI job {}: resubmitting failed: {}", row.key, id.error().what());
      continue;
    }
    (void)store->resubmitted(row.key, *id);
    spdlog::warn("CI job {}: interrupted by a restart; resubmitted as {}", row.key, *id);
  }
  co_return;
}

Task<void> run_housekeeping(const std::shared_ptr<CiService::State>& keep);

CiService::CiService(std::unique_ptr<State> state) : state_(std::move(state)) {}
CiService::~CiService() { stop(); }

Result<std::unique_ptr<CiService>> CiService::create(const Config& config, scheduler::Scheduler& scheduler,
                                                     Metrics& metrics, asio::any_io_executor executor) {
  auto state = std::make_unique<State>(config, scheduler, metrics, executor);
  FIRERUN_TRY(state->store, CiStore::open(config.state_dir / "ci.db"));
  for (const auto& cidr : config.ci.allow_cidrs) {
    boost::system::error_code ec;
    if (cidr.find(':') != std::string::npos) state->allow_v6.push_back(asio::ip::make_network_v6(cidr, ec));
    else state->allow_v4.push_back(asio::ip::make_network_v4(cidr, ec));
    if (ec) return make_error(Errc::invalid_argument, "ci.allow_cidrs: '" + cidr + "' is not a CIDR block");
  }
  ci::CiProviderRegistry webhook_registry;
  ci::RunnerBrokerRegistry broker_registry;
  FIRERUN_CHECK(ci::register_builtin_ci_providers(webhook_registry));
  FIRERUN_CHECK(ci::register_builtin_runner_brokers(broker_registry));
  for (const auto& [name, settings] : config.ci.providers) {
    ci::LabelPolicy policy = config.ci.labels;
    policy.defaults.image = settings.image;
    ci::CiProviderConfig provider_config;
    provider_config.secret = settings.webhook_secret;
    provider_config.labels = policy;
    provider_config.max_body_bytes = config.ci.max_body_bytes;
    FIRERUN_TRY(auto webhook_factory, webhook_registry.find(name));
    FIRERUN_TRY(auto broker_factory, broker_registry.find(name));
    Provider provider;
    FIRERUN_TRY(provider.webhooks, add_context(webhook_factory->create(provider_config), "ci." + name));
    FIRERUN_TRY(provider.broker, add_context(broker_factory->create(settings.broker, policy), "ci." + name));
    auto& slot = metrics.ci[name];
    if (!slot) slot = std::make_unique<CiProviderMetrics>();
    provider.metrics = slot.get();
    state->providers.emplace(name, std::move(provider));
    if (!config.ci.network)
      spdlog::warn("ci.{}: runner VMs have no network (ci.network: false); a real runner cannot reach its server",
                   name);
  }
  return std::unique_ptr<CiService>(new CiService(std::move(state)));
}

std::uint64_t CiService::body_limit() const { return state_->config.ci.max_body_bytes; }

std::optional<HttpResponse> CiService::admit(const std::string& name, const std::string& client) {
  State& s = *state_;
  auto it = s.providers.find(name);
  if (it == s.providers.end()) return error_reply(404, Error(Errc::not_found, "CI provider '" + name + "' is not configured"));
  Provider& provider = it->second;
  provider.metrics->webhooks_received += 1;
  auto reject = [&](const char* reason, unsigned status, const Error& error) {
    provider.metrics->reject(reason);
    spdlog::warn("{} webhook from {} refused ({}): {}", name, client, reason, error.what());
    return error_reply(status, error);
  };
  if (!s.source_allowed(client))
    return reject("source", 403, Error(Errc::auth, "source address " + client + " is not in ci.allow_cidrs"));
  if (!s.limiter.allow(client)) {
    auto res = reject("rate_limited", 429, Error(Errc::limit_exceeded, "webhook rate limit exceeded for " + client));
    res.set(beast_http::field::retry_after, std::to_string(s.limiter.retry_after_seconds(client)));
    return res;
  }
  return std::nullopt;
}

Task<HttpResponse> CiService::webhook(const HttpRequest& req, const std::string& name, const std::string& client) {
  State& s = *state_;
  auto it = s.providers.find(name);
  if (it == s.providers.end())
    co_return error_reply(404, Error(Errc::not_found, "CI provider '" + name + "' is not configured"));
  Provider& provider = it->second;
  auto reject = [&](const char* reason, unsigned status, const Error& error) {
    provider.metrics->reject(reason);
    spdlog::warn("{} webhook from {} refused ({}): {}", name, client, reason, error.what());
    return error_reply(status, error);
  };
  if (req.body().size() > s.config.ci.max_body_bytes)
    co_return reject("too_large", 413,
                     Error(Errc::limit_exceeded, "body exceeds " + std::to_string(s.config.ci.max_body_bytes) + " bytes"));
  ci::Headers headers;
  for (const auto& field : req) headers.emplace(std::string(field.name_string()), std::string(field.value()));
  auto event = provider.webhooks->receive(headers, req.body());
  if (!event) {
    if (event.error() == Errc::auth) co_return reject("auth", 401, event.error());
    if (event.error() == Errc::limit_exceeded) co_return reject("unschedulable", 422, event.error());
    co_return reject("malformed", 400, event.error());
  }
  if (auto* ping = std::get_if<ci::Ping>(&*event)) {
    spdlog::info("{} ping (hook {}): {}", name, ping->hook_id.value_or(0), ping->zen);
    co_return json_reply(200, json::serialize(json::object{{"status", "pong"}}));
  }
  if (auto* ignored = std::get_if<ci::Ignored>(&*event)) {
    spdlog::info("{} {} delivery {} ignored: {}", name, ignored->event, ignored->delivery_id, ignored->reason);
    co_return json_reply(202, json::serialize(json::object{{"status", "ignored"}, {"reason", ignored->reason}}));
  }
  auto& request = std::get<ci::JobRequest>(*event);
  const std::string delivery = request.delivery_id;
  if (!delivery.empty()) {
    auto first = s.store->first_delivery(name, delivery, now_ms());
    if (!first) co_return error_reply(503, first.error());
    // ci.db (deliveries) and jobs.db (jobs) commit separately: a crash between
    // the two would leave a delivery marked seen whose job was never queued.
    // So a delivery seen before is not answered "duplicate" on that record
    // alone: the job itself decides (its id is the job's key in jobs.db, so
    // it is queued at most once, and at least once).
    if (!*first) spdlog::info("{} delivery {} seen before: checking its job", name, delivery);
  }
  crash_point("ci.after_dedupe");
  auto res = co_await s.on_job_event(provider, request);
  // Not acted on: the provider's redelivery must be, so forget this one.
  if (res.result_int() >= 500 && !delivery.empty()) (void)s.store->forget_delivery(name, delivery);
  co_return res;
}

Task<Result<scheduler::JobOutcome>> CiService::run(const scheduler::Job& job, scheduler::JobContext& ctx) {
  std::shared_ptr<State> keep = state_;
  State& s = *keep;
  FIRERUN_CO_TRY(auto payload, parse_payload(job.payload));
  ci::JobRequest& request = payload.request;
  auto it = s.providers.find(request.provider);
  if (it == s.providers.end())
    co_return Error(Errc::unsupported, "CI provider '" + request.provider + "' is not configured any more");
  Provider& provider = it->second;
  std::shared_ptr<ci::RunnerBroker> broker = provider.broker;
  const std::string label = request.provider + " job " + std::to_string(request.job_id);
  const auto give_up = Clock::now() + std::chrono::milliseconds(s.config.ci.api_retry_ms);

  // 1. Is it still ours, and what does it need?
  using Prepared = Result<std::pair<ci::JobCheck, ci::JobRequest>>;
  const std::string lookup_what = label + ": looking the job up";
  const auto lookup = [broker, request]() -> Prepared {
    ci::JobRequest copy = request;
    FIRERUN_TRY(auto check, broker->prepare(copy));
    return std::make_pair(std::move(check), std::move(copy));
  };
  auto prepared = co_await s.call_api(lookup_what, lookup, &ctx, give_up);
  if (ctx.stop_requested()) co_return Error(ctx.stop_reason(), label + " stopped");
  if (!prepared) co_return std::move(prepared).error().with_context(label);
  if (!prepared->first.run) {
    spdlog::info("{}: no runner needed: {}", label, prepared->first.reason);
    (void)s.store->mark_done(payload.key);
    scheduler::JobOutcome skipped;
    skipped.result = json::serialize(json::object{{"status", "skipped"}, {"reason", prepared->first.reason}});
    co_return skipped;
  }
  request = std::move(prepared->second);
  const ci::VmShape shape = request.shape.value_or(s.config.ci.labels.defaults);
  auto img = image::find_image(shape.image, s.config.image_cache);
  if (!img) {
    (void)s.store->mark_done(payload.key);
    co_return Error(Errc::unsupported, "the '" + shape.image + "' runner image is not built in " +
                                           s.config.image_cache.string() + " (see docs/ci-runner-images.md)")
        .with_context(label);
  }

  // 2. A runner for exactly this job. Housekeeping must not sweep it away meanwhile.
  while (s.sweeping) co_await sleep_for(std::chrono::milliseconds(100));
  s.registrations_in_flight += 1;
  const std::string register_what = label + ": registering a runner";
  const auto register_runner = [broker, request] { return broker->register_runner(request); };
  auto lease = co_await s.call_api(register_what, register_runner, &ctx, give_up);
  s.registrations_in_flight -= 1;
  if (!lease) co_return std::move(lease).error().with_context(label);
  (void)s.store->add_runner(RunnerRow{lease->provider, lease->runner_id, lease->runner_name, lease->scope, payload.key,
                                      job.id, now_ms()});
  provider.metrics->runners_registered += 1;
  spdlog::info("{} ({}): runner {} (id {}) registered", label, request.repository, lease->runner_name,
               lease->runner_id);

  // 3. The VM: credentials through the agent, then the runner until it exits.
  VmSpec spec = image::vm_spec(*img);
  spec.name = "ci-" + std::to_string(request.job_id) + "-" + std::to_string(job.attempt);
  spec.vcpus = shape.vcpus;
  spec.memory_mib = std::uint64_t{shape.memory_gib} * 1024;
  spec.network = s.config.ci.network;
  if (spec.network) {
    spec.egress.allow = s.config.ci.network_allow;
    spec.egress.internet = s.config.ci.network_allow.empty();
    spec.egress.dns = s.config.ci.network_dns;
  }
  spec.boot_timeout = std::chrono::milliseconds(s.config.boot_allowance_ms);
  Result<ExecResult> ran = make_error(Errc::cancelled, "runner not started");
  const std::int64_t received_ms = payload.received_ms;
  const auto runner_deadline = Clock::now() + std::chrono::milliseconds(s.config.ci.job_timeout_ms);
  const std::function<Task<void>(Vm&)> run_runner = [&](Vm& vm) -> Task<void> {
    provider.metrics->queue_to_vm.observe(double(now_ms() - received_ms) / 1000.0);
    ExecRequest mkdir;
    mkdir.argv = {"mkdir", "-p", "-m", "0700", std::string(ci::kGuestCredentialsDir)};
    // Runners manage their own install directory and services: they run as root (docs/security.md).
    mkdir.uid = mkdir.gid = 0;
    auto made = co_await vm.exec(mkdir);
    if (!made || made->exit_code.value_or(1) != 0) {
      ran = made ? Error(Errc::guest_failed, "mkdir " + std::string(ci::kGuestCredentialsDir) + " failed: " + made->stderr_data)
                 : std::move(made).error();
      co_return;
    }
    for (const auto& file : lease->files) {
      const std::string content(file.content.reveal());
      auto written = co_await vm.write_file(file.path, content, file.mode);
      if (!written) {
        ran = std::move(written).error().with_context("writing " + file.path);
        co_return;
      }
    }
    ExecRequest runner;
    runner.argv = lease->argv;
    runner.env = lease->env;
    runner.uid = runner.gid = 0;
    runner.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(runner_deadline - Clock::now());
    runner.output_cap = 1u << 20;
    auto r = co_await vm.exec(runner);
    ran = std::move(r);
  };
  auto started = co_await run_in_job_vm(spec, img->hash, s.config, s.metrics, ctx, s.executor, run_runner);

  // 4. Always: the runner goes, whatever happened to the VM.
  const std::string remove_what = label + ": removing runner " + lease->runner_name;
  const auto remove_runner = [broker, scope = lease->scope, id = lease->runner_id] {
    return broker->remove_runner(scope, id);
  };
  auto removed = co_await s.call_api(remove_what, remove_runner, nullptr,
                                     Clock::now() + std::chrono::milliseconds(s.config.ci.api_retry_ms));
  if (removed) {
    (void)s.store->runner_removed(lease->provider, lease->runner_id, now_ms());
    provider.metrics->runners_removed += 1;
  } else {
    spdlog::warn("{}: runner {} not removed yet ({}); housekeeping retries", label, lease->runner_name,
                 removed.error().what());
  }
  (void)s.store->mark_done(payload.key);

  if (ctx.stop_requested()) co_return Error(ctx.stop_reason(), label + " stopped");
  if (!started) co_return std::move(started).error().with_context(label);
  if (!ran) co_return std::move(ran).error().with_context(label + ": runner");
  spdlog::info("{}: runner {} exited {}{}", label, lease->runner_name, ran->exit_code.value_or(-1),
               ran->timed_out ? " (timed out)" : "");
  json::object result{{"status", "ran"},
                      {"provider", request.provider},
                      {"ci_job_id", request.job_id},
                      {"repository", request.repository},
                      {"runner", json::object{{"id", lease->runner_id}, {"name", lease->runner_name}}},
                      {"timed_out", ran->timed_out},
                      {"stdout_tail", tail(ran->stdout_data, kRunnerOutputTail)},
                      {"stderr_tail", tail(ran->stderr_data, kRunnerOutputTail)}};
  if (ran->exit_code) result["exit_code"] = *ran->exit_code;
  if (ran->signal) result["signal"] = *ran->signal;
  scheduler::JobOutcome outcome;
  outcome.user_failed = ran->timed_out || ran->signal.has_value() || ran->exit_code.value_or(0) != 0;
  outcome.result = json::serialize(result);
  co_return outcome;
}

Task<void> CiService::housekeeping() { return run_housekeeping(state_); }

Task<void> run_housekeeping(const std::shared_ptr<CiService::State>& keep) {
  CiService::State& s = *keep;
  auto runners = s.store->live_runners();
  if (!runners) {
    spdlog::error("CI housekeeping: {}", runners.error().what());
    co_return;
  }
  std::map<std::pair<std::string, std::string>, std::set<std::string>> live_by_scope;
  for (const auto& r : *runners) {
    auto record = s.scheduler.get(r.scheduler_job);
    const bool running = record && !scheduler::is_terminal(record->status);
    live_by_scope[{r.provider, r.scope}];
    if (running) {
      live_by_scope[{r.provider, r.scope}].insert(r.name);
      continue;
    }
    auto it = s.providers.find(r.provider);
    if (it == s.providers.end()) continue;
    auto broker = it->second.broker;
    const auto remove_runner = [broker, r] { return broker->remove_runner(r.scope, r.runner_id); };
    auto removed = co_await ::firerun::detail::offload(s.pool, remove_runner);
    if (!removed) {
      spdlog::warn("CI housekeeping: runner {} of a finished job: {}", r.name, removed.error().what());
      continue;
    }
    (void)s.store->runner_removed(r.provider, r.runner_id, now_ms());
    it->second.metrics->runners_removed += 1;
    spdlog::info("CI housekeeping: removed runner {} (its job {} no longer runs)", r.name, r.scheduler_job);
  }
  // Runners registered just before a crash may never have been recorded: sweep
  // the scopes in use for firerun runners without a VM. Not while a
  // registration is in flight (its runner is not recorded yet).
  if (s.registrations_in_flight == 0) {
    s.sweeping = true;
    for (const auto& [key, live] : live_by_scope) {
      auto it = s.providers.find(key.first);
      if (it == s.providers.end()) continue;
      auto broker = it->second.broker;
      const auto sweep = [broker, scope = key.second, live = live] { return broker->remove_stale_runners(scope, live); };
      auto swept = co_await ::firerun::detail::offload(s.pool, sweep);
      if (!swept) {
        spdlog::warn("CI housekeeping: sweeping {}: {}", key.second, swept.error().what());
        continue;
      }
      for (const auto& name : *swept) spdlog::info("CI housekeeping: removed stale runner {} ({})", name, key.second);
      it->second.metrics->runners_removed += swept->size();
    }
    s.sweeping = false;
  }
  (void)s.store->prune_deliveries(now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(kDeliveryRetention).count());
}

void CiService::start() {
  std::shared_ptr<State> keep = state_;
  asio::co_spawn(
      keep->executor,
      [keep]() -> Task<void> {
        co_await keep->recover();
        while (!keep->stopped) {
          co_await run_housekeeping(keep);
          keep->timer.expires_after(std::chrono::milliseconds(keep->config.ci.housekeeping_interval_ms));
          boost::system::error_code ec;
          co_await keep->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
      },
      asio::detached);
}

void CiService::stop() {
  if (!state_ || state_->stopped) return;
  state_->stopped = true;
  state_->timer.cancel();
}

}  // namespace firerun::daemon
