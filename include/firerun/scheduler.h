// A persistent job scheduler: bounded priority queue, worker pool, host
// capacity accounting, per-job timeouts, cancellation and retries of
// infrastructure failures. Job state lives in SQLite (WAL) so a restarted
// process resumes queued jobs, resolves interrupted ones and reaps orphaned VMs.
//
// What a job does is not the scheduler's business: a Runner is injected
// (firerund passes one that boots a VM; tests pass plain coroutines).
#pragma once

#include "firerun/error.h"
#include "firerun/vm.h"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace firerun::scheduler {

/// Lifecycle of a job. Every accepted job ends in exactly one terminal state.
enum class JobStatus {
  queued,     ///< waiting for a worker and capacity
  running,    ///< the runner is executing it
  completed,  ///< the runner produced an outcome (the user's program may still have failed)
  failed,     ///< infrastructure failure after all attempts (or an unretryable runner error)
  cancelled,  ///< cancelled by a client or by shutdown policy
  timed_out,  ///< the per-job deadline passed
};
const char* to_string(JobStatus s) noexcept;
/// Parses a to_string() name; nullopt for anything else.
std::optional<JobStatus> job_status_from_string(std::string_view name) noexcept;
/// True for completed, failed, cancelled and timed_out.
bool is_terminal(JobStatus s) noexcept;

/// What a job needs from the host while it runs.
struct Resources {
  unsigned vcpus = 1;
  std::uint64_t memory_mib = 256;
};

/// A unit of work. `payload` is opaque to the scheduler (firerund stores the request JSON).
struct Job {
  std::string id;                              ///< assigned by submit() when empty
  std::string kind = "code";                   ///< free-form tag for runners and clients
  std::string payload;
  int priority = 0;                            ///< higher runs first; FIFO within a priority
  Resources resources;
  std::chrono::milliseconds timeout{60000};    ///< wall clock per attempt, from start to runner return
  unsigned attempt = 0;                        ///< 1-based number of the current attempt (set by the scheduler)
};

/// A runner's successful result.
struct JobOutcome {
  std::string result;      ///< opaque (firerund: the response JSON)
  bool user_failed = false;///< the user's program failed (non-zero exit, signal, its own timeout): never retried
};

/// Handed to the runner: cancellation and VM bookkeeping for one attempt.
/// All methods must be called on the scheduler's executor.
class JobContext {
 public:
  virtual ~JobContext() = default;
  /// True once the job was cancelled or its deadline passed.
  virtual bool stop_requested() const noexcept = 0;
  /// Why: Errc::cancelled or Errc::timeout (Errc::ok while not requested).
  virtual Errc stop_reason() const noexcept = 0;
  /// Calls `fn` when a stop is requested (at once if it already was). The
  /// runner should then tear down its VM promptly and return.
  virtual void on_stop(std::function<void()> fn) = 0;
  /// Records the VMM process of this attempt so a restarted scheduler can reap it.
  virtual void record_vm_process(int pid) = 0;
  /// Forgets the VMM process once it is gone.
  virtual void clear_vm_process() = 0;
  /// From now on the job's own code runs: a failure is the job's (its guest
  /// panicked, rebooted, stalled or attacked the agent) and is not retried,
  /// unless the runner reports Errc::backend_failed (the host's: e.g. the VMM
  /// was killed or crashed under it).
  virtual void mark_user_code_started() = 0;
};

/// Runs one attempt of a job. An error means the attempt failed; it is
/// retried when retryable(errc) and attempts remain, and, once the runner
/// called mark_user_code_started(), only for Errc::backend_failed. Arguments outlive the co_await.
using Runner = std::function<Task<Result<JobOutcome>>(const Job&, JobContext&)>;

/// True for errors worth another attempt (backend/guest/io/protocol/internal/timeout).
bool retryable(Errc e) noexcept;

/// What happens to jobs that were running when the process died or shut down.
enum class InterruptedPolicy { fail, retry };

struct Options {
  std::filesystem::path database;           ///< SQLite file (created; WAL mode); empty = in-memory, no persistence
  std::size_t max_queue = 1000;             ///< queued jobs beyond this are refused with limit_exceeded
  unsigned workers = 2;                     ///< concurrently running jobs
  unsigned host_vcpus = 0;                  ///< 0 = detected
  std::uint64_t host_memory_mib = 0;        ///< 0 = detected
  double cpu_overcommit = 1.0;              ///< usable vCPUs = host_vcpus * ratio
  double memory_overcommit = 1.0;           ///< usable memory = host_memory_mib * ratio
  unsigned max_attempts = 2;                ///< attempts for retryable failures (1 = no retry)
  std::chrono::milliseconds retry_delay{200};
  InterruptedPolicy interrupted = InterruptedPolicy::fail;
  std::size_t keep_finished = 10000;        ///< finished jobs kept in the DB (oldest pruned)
};

/// Everything known about a job.
struct JobRecord {
  Job job;
  JobStatus status = JobStatus::queued;
  unsigned attempts = 0;                    ///< attempts started
  std::string result;                       ///< JobOutcome::result when completed
  bool user_failed = false;
  std::optional<Error> error;               ///< why it failed / was cancelled / timed out
  std::int64_t created_ms = 0;              ///< unix epoch milliseconds
  std::optional<std::int64_t> started_ms;   ///< first attempt start
  std::optional<std::int64_t> finished_ms;
};

/// Gauges and counters for metrics.
struct Stats {
  std::size_t queued = 0;
  std::size_t running = 0;
  unsigned vcpus_in_use = 0;
  std::uint64_t memory_in_use_mib = 0;
  unsigned vcpu_capacity = 0;
  std::uint64_t memory_capacity_mib = 0;
  std::map<JobStatus, std::uint64_t> finished;  ///< terminal transitions since this process started
};

/// The scheduler interface (firerund depends on this, not on the implementation).
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  /// Validates, persists and queues a job; returns its id. Refuses with
  /// limit_exceeded when the queue is full or the job can never fit the host,
  /// bad_state after shutdown began. Thread-safe.
  virtual Result<std::string> submit(Job job) = 0;
  /// Queued → cancelled at once; running → stop requested (the VM is torn down)
  /// and the job ends cancelled. not_found for unknown ids, bad_state when already finished.
  virtual Status cancel(const std::string& id) = 0;
  /// The current record (from memory or the DB). Thread-safe.
  virtual Result<JobRecord> get(const std::string& id) const = 0;
  /// Resolves when the job is terminal (not_found for unknown ids). Call on the executor.
  virtual Task<Result<JobRecord>> wait(std::string id) = 0;
  virtual Stats stats() const = 0;
  /// Called on the executor for every terminal transition (metrics, logs).
  virtual void on_finished(std::function<void(const JobRecord&)> fn) = 0;
  /// Stops accepting, lets running jobs finish until `grace` passes, then stops
  /// them (they are resolved per Options::interrupted); queued jobs stay queued
  /// in the DB. Resolves when no runner is left. Call on the executor.
  virtual Task<void> shutdown(std::chrono::milliseconds grace) = 0;
  /// From now on submit() refuses with bad_state "host draining: <reason>";
  /// queued and running jobs are unaffected. Idempotent (the first reason stays). Thread-safe.
  virtual void pause_intake(std::string reason) = 0;
  /// Undoes pause_intake(): submissions are accepted again. Thread-safe.
  virtual void resume_intake() = 0;
  /// The reason given to pause_intake(); nullopt while submissions are accepted. Thread-safe.
  virtual std::optional<std::string> intake_paused() const = 0;
  /// Atomically removes every queued (not running) job from memory and the
  /// database and returns them in queue order, attempt counters reset, so
  /// another host can run them. Waiters wake up; get() on a released id is
  /// not_found saying where it went. Running jobs continue. Thread-safe.
  virtual Result<std::vector<Job>> release_queued() = 0;
};

/// Opens (or creates) the job database, recovers after a crash (resolves
/// interrupted jobs, kills their still-alive VMM processes) and starts
/// dispatching on `executor`.
Result<std::unique_ptr<Scheduler>> make_scheduler(Options options, Runner runner,
                                                  boost::asio::any_io_executor executor);

/// Start time of a process (clock ticks since boot, /proc/<pid>/stat field 22); nullopt if gone.
std::optional<std::uint64_t> process_start_time(int pid);

}  // namespace firerun::scheduler
