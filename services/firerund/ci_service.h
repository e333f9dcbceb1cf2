// CI runners in firerund: `POST /webhooks/{provider}` turns a verified job
// event into a scheduler job of kind "ci"; running it registers a one-job
// runner with the provider (through its RunnerBroker), boots a fresh VM, hands
// the runner its credentials through the guest agent, lets it take the job,
// and always removes the runner and the VM afterwards.
//
// Persistence (ci.db): deliveries already handled, CI jobs taken on, runners
// registered. After a crash, start() resubmits interrupted jobs and removes
// runners whose VM is gone; housekeeping repeats that periodically.
#pragma once

#include "api.h"
#include "config.h"
#include "metrics.h"

#include "firerun/scheduler.h"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <optional>
#include <string>

namespace firerun::daemon {

class CiService {
 public:
  /// Builds the providers and brokers of every enabled `ci.<provider>` and opens
  /// <state_dir>/ci.db. References must outlive the service.
  static Result<std::unique_ptr<CiService>> create(const Config& config, scheduler::Scheduler& scheduler,
                                                   Metrics& metrics, boost::asio::any_io_executor executor);
  ~CiService();

  /// Decides on a delivery before its body is read: the provider exists, the
  /// source is in ci.allow_cidrs and within its rate limit. A response means refused.
  std::optional<HttpResponse> admit(const std::string& provider, const std::string& client);
  /// Handles one delivery to /webhooks/{provider} from `client` (remote address), admitted before.
  Task<HttpResponse> webhook(const HttpRequest& request, const std::string& provider, const std::string& client);
  /// The scheduler runner for jobs of kind "ci".
  Task<Result<scheduler::JobOutcome>> run(const scheduler::Job& job, scheduler::JobContext& ctx);
  /// Resubmits jobs a crash interrupted, then runs housekeeping now and every
  /// ci.housekeeping_interval_ms until stop(). Call on the executor.
  void start();
  /// Ends housekeeping; in-flight API calls finish on their threads.
  void stop();
  /// One housekeeping pass: removes runners whose job no longer runs, and stale
  /// firerun runners in the scopes in use.
  Task<void> housekeeping();

  /// The body limit for a request target (webhooks allow ci.max_body_bytes).
  std::uint64_t body_limit() const;

  struct State;

 private:
  explicit CiService(std::unique_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace firerun::daemon
