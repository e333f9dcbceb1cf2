#include "fleet_link.h"

#include "core/offload.h"
#include "firerun/cloud.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <tuple>

namespace firerun::daemon {
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto kClaimWait = 1000ms;  // how long one claim blocks in redis: bounds how fast stop() returns
constexpr auto kBusyPoll = 200ms;    // re-check for free capacity
constexpr auto kMaxBackoff = 5000ms;

Result<std::string> resolve_host_id(const std::string& configured) {
  std::string id = configured;
  if (id.empty()) {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0) return make_error(Errc::io, "fleet.host_id: cannot read the hostname");
    id = name;
  }
  if (!fleet::valid_fleet_name(id))
    return make_error(Errc::invalid_argument, "fleet.host_id: must be 1-128 characters of [A-Za-z0-9._-]");
  return id;
}

std::chrono::milliseconds next_backoff(std::chrono::milliseconds current) {
  return std::min(kMaxBackoff, current * 2);
}

}  // namespace

Result<std::unique_ptr<FleetLink>> FleetLink::create(const FleetConfig& config, scheduler::Scheduler& scheduler,
                                                     unsigned workers, asio::any_io_executor executor,
                                                     Admission admit) {
  FIRERUN_TRY(auto host_id, resolve_host_id(config.host_id));
  std::unique_ptr<FleetLink> link(new FleetLink(config, scheduler, workers, std::move(executor), std::move(host_id)));
  link->admit_ = std::move(admit);
  if (!config.queue.empty()) {
    const fleet::QueueOptions options{config.key, config.kinds};
    FIRERUN_TRY(auto claimer, fleet::open_shared_queue(config.queue, options));
    FIRERUN_TRY(auto queue, fleet::open_shared_queue(config.queue, options));
    link->claimer_ = std::move(claimer);
    link->queue_ = std::move(queue);
  }
  if (config.spot_watch.enabled) {
    // Which provider reclaims this host is configuration; how it says so is the provider's.
    cloud::CloudProviderRegistry providers;
    FIRERUN_CHECK(cloud::register_builtin_cloud_providers(providers));
    FIRERUN_TRY(auto factory, add_context(providers.find(config.spot_watch.provider), "fleet.spot_watch.provider"));
    cloud::CloudProviderConfig options;
    options.options["imds_endpoint"] = config.spot_watch.imds_endpoint;
    FIRERUN_TRY(auto watcher, add_context(factory->make_interruption_watcher(options), "fleet.spot_watch"));
    link->interruptions_ = std::move(watcher);
  }
  return link;
}

FleetLink::FleetLink(const FleetConfig& config, scheduler::Scheduler& scheduler, unsigned workers,
                     asio::any_io_executor executor, std::string host_id)
    : config_(config), scheduler_(scheduler), workers_(std::max(1u, workers)), executor_(std::move(executor)),
      host_id_(std::move(host_id)) {}

FleetLink::~FleetLink() {
  pool_.stop();
  pool_.join();
}


Task<void> FleetLink::pause(std::chrono::milliseconds d) {
  asio::steady_timer timer(executor_, d);
  std::ignore = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

void FleetLink::start() {
  scheduler_.on_finished([this](const scheduler::JobRecord& record) {
    if (claimed_.erase(record.job.id) == 0 || stopping_) return;
    asio::co_spawn(executor_, ack(record.job.id), asio::detached);
  });
  if (queue_) {
    spdlog::info("fleet: host {} shares the queue at {}", host_id_, queue_->describe());
    ++loops_;
    asio::co_spawn(executor_, pull_loop(), [this](std::exception_ptr) { --loops_; });
  }
  if (config_.spot_watch.enabled) {
    spdlog::info("fleet: watching for {} interruption notices ({}) every {} ms", config_.spot_watch.provider,
                 config_.spot_watch.imds_endpoint, config_.spot_watch.interval_ms);
    ++loops_;
    asio::co_spawn(executor_, spot_loop(), [this](std::exception_ptr) { --loops_; });
  }
}

Task<void> FleetLink::ack(std::string job_id) {
  auto queue = queue_;
  const std::string host = host_id_;
  const auto done_call = [queue, host, job_id] { return queue->ack(host, job_id); };
  auto done = co_await ::firerun::detail::offload(pool_, done_call);
  if (!done && done.error() != Errc::not_found) {
    spdlog::warn("fleet: acknowledging job {} failed, will retry: {}", job_id, done.error().what());
    unacked_.insert(job_id);
  }
}

Task<void> FleetLink::reconcile_in_flight() {
  // After a restart: what this host had claimed either still lives in the
  // local database (ack it once it ends) or was lost here (give it back).
  auto queue = queue_;
  const std::string host = host_id_;
  auto backoff = 200ms;
  for (;;) {
    if (stopping_) co_return;
    const auto jobs_call = [queue, host] { return queue->in_flight(host); };
    auto jobs = co_await ::firerun::detail::offload(pool_, jobs_call);
    if (!jobs) {
      spdlog::warn("fleet: reading this host's in-flight jobs failed, retrying: {}", jobs.error().what());
      co_await pause(backoff);
      backoff = next_backoff(backoff);
      continue;
    }
    for (auto& job : *jobs) {
      auto local = scheduler_.get(job.id);
      if (local && scheduler::is_terminal(local->status)) {
        co_await ack(job.id);
      } else if (local) {
        claimed_.insert(job.id);
      } else {
        spdlog::warn("fleet: job {} was claimed by this host but is unknown here: handing it back", job.id);
        const auto released_call = [queue, host, job] { return queue->release(host, job); };
        auto released = co_await ::firerun::detail::offload(pool_, released_call);
        if (!released) spdlog::error("fleet: handing back job {}: {}", job.id, released.error().what());
      }
    }
    co_return;
  }
}

Task<void> FleetLink::pull_loop() {
  co_await reconcile_in_flight();
  auto claimer = claimer_, queue = queue_;
  const std::string host = host_id_;
  auto backoff = 200ms;
  while (!stopping_) {
    if (draining_) {  // idle until resume() or stop()
      co_await pause(kBusyPoll);
      continue;
    }
    for (auto pending = std::move(unacked_); const auto& id : pending) co_await ack(id);
    const auto stats = scheduler_.stats();
    if (stats.queued > 0 || stats.running >= workers_) {
      co_await pause(kBusyPoll);
      continue;
    }
    const auto claimed_call = [claimer, host] { return claimer->claim(host, kClaimWait); };
    auto claimed = co_await ::firerun::detail::offload(pool_, claimed_call);
    if (!claimed) {
      spdlog::warn("fleet: claiming from the shared queue failed (retrying in {} ms): {}", backoff.count(),
                   claimed.error().what());
      co_await pause(backoff);
      backoff = next_backoff(backoff);
      continue;
    }
    backoff = 200ms;
    if (!*claimed) continue;
    scheduler::Job job = std::move(**claimed);
    // Authentic is not the same as acceptable: the payload passes the checks
    // and limits an API request would.
    if (admit_) {
      auto admitted = admit_(job);
      if (!admitted) {
        spdlog::warn("fleet: job {} from the queue refused, dead-lettered: {}", job.id, admitted.error().what());
        const std::string reason = admitted.error().what();
        const auto reject_call = [queue, host, job, reason] { return queue->reject(host, job, reason); };
        auto rejected = co_await ::firerun::detail::offload(pool_, reject_call);
        if (!rejected) spdlog::error("fleet: dead-lettering job {}: {}", job.id, rejected.error().what());
        continue;
      }
      job = std::move(*admitted);
    }
    if (stopping_ || draining_) {
      const auto back_call = [queue, host, job] { return queue->release(host, job); };
      auto back = co_await ::firerun::detail::offload(pool_, back_call);
      if (!back) spdlog::error("fleet: handing back job {}: {}", job.id, back.error().what());
      continue;
    }
    auto id = scheduler_.submit(job);
    if (id) {
      claimed_.insert(*id);
      claimed_total_ += 1;
      spdlog::info("fleet: claimed job {} from the shared queue", *id);
      continue;
    }
    if (id.error() == Errc::already_exists) {
      // Ran (or runs) here already, e.g. claimed again after a hand-back race: never twice.
      auto local = scheduler_.get(job.id);
      if (local && scheduler::is_terminal(local->status)) co_await ack(job.id);
      else claimed_.insert(job.id);
      continue;
    }
    // This host cannot take it (too big, queue full, paused): let another host have it.
    spdlog::warn("fleet: job {} refused here, handing it back: {}", job.id, id.error().what());
    const auto back_call = [queue, host, job] { return queue->release(host, job); };
    auto back = co_await ::firerun::detail::offload(pool_, back_call);
    if (!back) spdlog::error("fleet: handing back job {}: {}", job.id, back.error().what());
    co_await pause(kMaxBackoff);
  }
}

Task<void> FleetLink::spot_loop() {
  std::shared_ptr<cloud::InterruptionWatcher> watcher = interruptions_;
  bool reported_error = false;
  while (!stopping_ && !draining_) {
    const auto notice_call = [watcher] { return watcher->poll(); };
    auto notice = co_await ::firerun::detail::offload(pool_, notice_call);
    if (notice && *notice) {
      const std::string reason = (*notice)->describe();
      spdlog::warn("fleet: {} says this host is reclaimed: action {} — {}", config_.spot_watch.provider,
                   (*notice)->action, reason);
      drain(reason);
      co_return;
    }
    if (!notice && !reported_error) {
      // Logged once: off EC2 (or with IMDS blocked) this would repeat every interval.
      spdlog::warn("fleet: spot watch: {}", notice.error().what());
      reported_error = true;
    }
    co_await pause(std::chrono::milliseconds(config_.spot_watch.interval_ms));
  }
}

void FleetLink::drain(std::string reason) {
  if (draining_) return;
  draining_ = true;
  draining_gauge_ = true;
  scheduler_.pause_intake(reason);
  spdlog::warn("fleet: host {} draining ({}): intake paused{}", host_id_, reason,
               queue_ ? ", handing queued jobs back to the shared queue" : "; queued jobs still run here");
  if (!queue_) return;
  ++loops_;
  asio::co_spawn(executor_, hand_back(), [this](std::exception_ptr) { --loops_; });
}

void FleetLink::resume() {
  if (!draining_) return;
  draining_ = false;
  draining_gauge_ = false;
  scheduler_.resume_intake();
  spdlog::warn("fleet: host {} no longer draining: intake resumed", host_id_);
}

Task<void> FleetLink::hand_back() {
  auto released = scheduler_.release_queued();
  if (!released) {
    spdlog::error("fleet: releasing queued jobs failed, they will run here: {}", released.error().what());
    co_return;
  }
  auto queue = queue_;
  const std::string host = host_id_;
  std::size_t returned = 0;
  // Last first: each release goes to the head, so the local order is kept.
  for (auto it = released->rbegin(); it != released->rend(); ++it) {
    scheduler::Job job = *it;
    auto backoff = 200ms;
    for (;;) {
      const auto back_call = [queue, host, job] { return queue->release(host, job); };
      auto back = co_await ::firerun::detail::offload(pool_, back_call);
      if (back) break;
      if (stopping_) {
        spdlog::error("fleet: job {} could not be handed back before shutdown (it is lost to this host): {}", job.id,
                      back.error().what());
        break;
      }
      spdlog::warn("fleet: handing back job {} failed, retrying in {} ms: {}", job.id, backoff.count(),
                   back.error().what());
      co_await pause(backoff);
      backoff = next_backoff(backoff);
    }
    claimed_.erase(job.id);
    handed_back_ += 1;
    ++returned;
  }
  spdlog::info("fleet: handed {} queued jobs back to {}", returned, queue_->describe());
}

Task<void> FleetLink::stop() {
  stopping_ = true;
  while (loops_ > 0) co_await pause(50ms);
}

std::string FleetLink::render_metrics() const {
  return fmt::format(
      "# HELP firerun_fleet_draining 1 while this host drains (spot notice or POST /v1/admin/drain).\n"
      "# TYPE firerun_fleet_draining gauge\nfirerun_fleet_draining {}\n"
      "# HELP firerun_fleet_handed_back_total Queued jobs handed back to the shared queue.\n"
      "# TYPE firerun_fleet_handed_back_total counter\nfirerun_fleet_handed_back_total {}\n"
      "# HELP firerun_fleet_claimed_total Jobs claimed from the shared queue.\n"
      "# TYPE firerun_fleet_claimed_total counter\nfirerun_fleet_claimed_total {}\n",
      draining_gauge_.load() ? 1 : 0, handed_back_.load(), claimed_total_.load());
}

}  // namespace firerun::daemon
