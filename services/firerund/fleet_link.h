// Connects one firerund to a fleet: pulls work from the shared queue while the
// local scheduler has room, acknowledges it when it ends, and drains the host
// on a spot interruption notice or POST /v1/admin/drain (pause intake, hand the
// queued jobs back, let running ones finish). Without a queue it still drains
// (intake paused; queued jobs then run here).
#pragma once

#include "fleet_config.h"

#include "firerun/cloud.h"
#include "firerun/fleet.h"
#include "firerun/scheduler.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>

namespace firerun::daemon {

class FleetLink {
 public:
  /// Checks a claimed job as an API request would be checked (payload
  /// validation and limits) and returns the job to run; an error sends the
  /// entry to the dead-letter list with that reason.
  using Admission = std::function<Result<scheduler::Job>(const scheduler::Job&)>;

  /// Opens the queue (connecting lazily) and resolves the host id. `workers`
  /// is the scheduler's concurrency: the link claims only while fewer jobs run.
  static Result<std::unique_ptr<FleetLink>> create(const FleetConfig& config, scheduler::Scheduler& scheduler,
                                                   unsigned workers, boost::asio::any_io_executor executor,
                                                   Admission admit);
  ~FleetLink();
  FleetLink(const FleetLink&) = delete;
  FleetLink& operator=(const FleetLink&) = delete;

  /// Starts the pull and spot-watch loops. Call on the executor.
  void start();
  /// Drains this host (idempotent; the first reason stays). Call on the executor.
  void drain(std::string reason);
  /// Undoes drain(): intake resumes and the host claims from the queue again. Call on the executor.
  void resume();
  /// Stops the loops (jobs not yet handed back are retried until then). Call on the executor.
  Task<void> stop();
  /// Prometheus lines: firerun_fleet_draining, firerun_fleet_handed_back_total, firerun_fleet_claimed_total.
  std::string render_metrics() const;
  const std::string& host_id() const noexcept { return host_id_; }

 private:
  FleetLink(const FleetConfig& config, scheduler::Scheduler& scheduler, unsigned workers,
            boost::asio::any_io_executor executor, std::string host_id);
  Task<void> pull_loop();
  Task<void> spot_loop();
  Task<void> hand_back();
  Task<void> reconcile_in_flight();
  Task<void> ack(std::string job_id);
  Task<void> pause(std::chrono::milliseconds d);

  const FleetConfig config_;
  Admission admit_;
  scheduler::Scheduler& scheduler_;
  const unsigned workers_;
  boost::asio::any_io_executor executor_;
  const std::string host_id_;
  boost::asio::thread_pool pool_{3};  // hiredis and IMDS calls block: never on the io thread
  std::shared_ptr<fleet::SharedQueue> claimer_;  // its own connection: a claim blocks up to a second
  std::shared_ptr<fleet::SharedQueue> queue_;    // push/ack/release
  std::shared_ptr<cloud::InterruptionWatcher> interruptions_;  // with fleet.spot_watch.enabled
  std::set<std::string> claimed_;                // jobs from the queue that run (or wait) here
  std::set<std::string> unacked_;                // finished, ack failed: retried by the pull loop
  bool draining_ = false;
  bool stopping_ = false;
  int loops_ = 0;
  std::atomic<std::uint64_t> handed_back_{0};
  std::atomic<std::uint64_t> claimed_total_{0};
  std::atomic<bool> draining_gauge_{false};
};

}  // namespace firerun::daemon
