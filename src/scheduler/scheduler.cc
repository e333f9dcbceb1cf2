// The embedded scheduler. All dispatching, runner coroutines, stop requests
// and waiter wake-ups happen on one (single-threaded) executor; the mutex lets
// submit/cancel/get/stats be called from other threads too.
#include "firerun/scheduler.h"

#include "scheduler/job_store.h"
#include "scheduler/process_reaper.h"
#include "core/secret.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

namespace firerun::scheduler {

const char* to_string(JobStatus s) noexcept {
  switch (s) {
    case JobStatus::queued: return "queued";
    case JobStatus::running: return "running";
    case JobStatus::completed: return "completed";
    case JobStatus::failed: return "failed";
    case JobStatus::cancelled: return "cancelled";
    case JobStatus::timed_out: return "timed_out";
  }
  return "unknown";
}

std::optional<JobStatus> job_status_from_string(std::string_view name) noexcept {
  for (auto s : {JobStatus::queued, JobStatus::running, JobStatus::completed, JobStatus::failed,
                 JobStatus::cancelled, JobStatus::timed_out})
    if (name == to_string(s)) return s;
  return std::nullopt;
}

bool is_terminal(JobStatus s) noexcept { return s != JobStatus::queued && s != JobStatus::running; }

bool retryable(Errc e) noexcept {
  switch (e) {
    case Errc::backend_failed:
    case Errc::guest_failed:
    case Errc::io:
    case Errc::protocol:
    case Errc::internal:
    case Errc::timeout:
      return true;
    default:
      return false;
  }
}

namespace {

namespace asio = boost::asio;
using detail::JobStore;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string new_job_id() {
  // 128 bits from the kernel's CSPRNG: unguessable, so job ids double as
  // capabilities for GET/DELETE (a seeded PRNG's output can be predicted).
  return random_hex(16);
}

class SchedulerImpl;

/// Stop state and VM bookkeeping of one running attempt.
class AttemptContext final : public JobContext {
 public:
  AttemptContext(JobStore& store, std::mutex& mutex, std::string id)
      : store_(store), mutex_(mutex), id_(std::move(id)) {}

  bool stop_requested() const noexcept override { return reason_ != Errc::ok; }
  Errc stop_reason() const noexcept override { return reason_; }
  bool stopped_by_shutdown() const noexcept { return by_shutdown_; }
  void on_stop(std::function<void()> fn) override {
    if (stop_requested()) {
      fn();
      return;
    }
    handlers_.push_back(std::move(fn));
  }
  void record_vm_process(int pid) override {
    auto start = process_start_time(pid);
    std::lock_guard lock(mutex_);
    if (auto st = store_.set_vm(id_, pid, start.value_or(0)); !st)
      spdlog::warn("job {}: {}", id_, st.error().what());
  }
  void clear_vm_process() override {
    std::lock_guard lock(mutex_);
    (void)store_.clear_vm(id_);
  }
  void mark_user_code_started() override { user_code_started_ = true; }
  bool user_code_started() const noexcept { return user_code_started_; }
  /// First request wins; later ones (e.g. timeout after cancel) are ignored.
  void request_stop(Errc reason, bool by_shutdown) {
    if (stop_requested()) return;
    reason_ = reason;
    by_shutdown_ = by_shutdown;
    auto handlers = std::move(handlers_);
    for (auto& h : handlers) h();
  }

 private:
  JobStore& store_;
  std::mutex& mutex_;
  std::string id_;
  Errc reason_ = Errc::ok;
  bool by_shutdown_ = false;
  bool user_code_started_ = false;
  std::vector<std::function<void()>> handlers_;
};

struct Active {
  JobRecord record;
  std::int64_t seq = 0;
  std::shared_ptr<AttemptContext> context;  // set while running
};

/// Queue order: higher priority first, then submission order.
struct QueueKey {
  int priority;
  std::int64_t seq;
  std::string id;
  bool operator<(const QueueKey& o) const {
    if (priority != o.priority) return priority > o.priority;
    return seq < o.seq;
  }
};

class SchedulerImpl final : public Scheduler {
 public:
  SchedulerImpl(Options options, Runner runner, asio::any_io_executor executor, std::unique_ptr<JobStore> store)
      : options_(std::move(options)), runner_(std::move(runner)), executor_(std::move(executor)),
        store_(std::move(store)) {
    unsigned host_vcpus = options_.host_vcpus ? options_.host_vcpus : std::max(1u, std::thread::hardware_concurrency());
    std::uint64_t host_mem = options_.host_memory_mib;
    if (!host_mem)
      host_mem = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
                 static_cast<std::uint64_t>(::sysconf(_SC_PAGE_SIZE)) / (1024 * 1024);
    vcpu_capacity_ = std::max(1u, static_cast<unsigned>(host_vcpus * options_.cpu_overcommit));
    memory_capacity_ = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(host_mem * options_.memory_overcommit));
    if (options_.workers == 0) options_.workers = 1;
    if (options_.max_attempts == 0) options_.max_attempts = 1;
  }

  ~SchedulerImpl() override {
    *alive_ = false;
    // Runner coroutines reference *this: owners must co_await shutdown() first.
    if (running_ != 0) spdlog::error("scheduler destroyed with {} running jobs (shutdown() not awaited)", running_);
  }

  /// Crash recovery: resolve jobs a dead process left running, reap their VMs,
  /// and load the queue.
  Status recover() {
    std::lock_guard lock(mutex_);
    FIRERUN_TRY(auto interrupted, store_->load_with_status(JobStatus::running));
    for (auto& stored : interrupted) {
      if (stored.vm_pid > 0 && detail::reap_orphan(stored.vm_pid, stored.vm_start_time))
        spdlog::warn("job {}: killed orphaned VMM process {}", stored.record.job.id, stored.vm_pid);
      FIRERUN_CHECK(resolve_interrupted_locked(stored.record, "the daemon stopped while the job was running"));
    }
    FIRERUN_TRY(auto queued, store_->load_with_status(JobStatus::queued));
    for (auto& stored : queued) {
      std::string id = stored.record.job.id;
      queue_.insert(QueueKey{stored.record.job.priority, stored.seq, id});
      active_.emplace(std::move(id), Active{std::move(stored.record), stored.seq, nullptr});
    }
    FIRERUN_CHECK(store_->prune_finished(options_.keep_finished));
    if (!queue_.empty()) spdlog::info("scheduler: resuming {} queued jobs", queue_.size());
    post_dispatch();
    return {};
  }

  Result<std::string> submit(Job job) override {
    if (job.resources.vcpus == 0) return make_error(Errc::invalid_argument, "job needs at least 1 vCPU");
    if (job.resources.memory_mib == 0) return make_error(Errc::invalid_argument, "job needs memory");
    if (job.timeout <= std::chrono::milliseconds::zero())
      return make_error(Errc::invalid_argument, "job timeout must be positive");
    std::lock_guard lock(mutex_);
    if (shutting_down_) return make_error(Errc::bad_state, "the scheduler is shutting down");
    if (intake_paused_) return make_error(Errc::bad_state, "host draining: " + *intake_paused_);
    if (job.resources.vcpus > vcpu_capacity_ || job.resources.memory_mib > memory_capacity_)
      return make_error(Errc::limit_exceeded, "job needs " + std::to_string(job.resources.vcpus) + " vCPUs and " +
                                                  std::to_string(job.resources.memory_mib) +
                                                  " MiB but this host offers at most " +
                                                  std::to_string(vcpu_capacity_) + " vCPUs and " +
                                                  std::to_string(memory_capacity_) + " MiB");
    if (queue_.size() >= options_.max_queue)
      return make_error(Errc::limit_exceeded,
                        "the job queue is full (" + std::to_string(options_.max_queue) + " jobs waiting)");
    if (job.id.empty()) job.id = new_job_id();
    if (active_.count(job.id)) return make_error(Errc::already_exists, "job " + job.id + " already exists");
    job.attempt = 0;
    JobRecord record;
    record.job = std::move(job);
    record.created_ms = now_ms();
    auto seq = store_->insert(record);
    if (!seq) {
      if (seq.error() == Errc::io) {
        // A UNIQUE violation on a caller-chosen id is the common cause.
        auto existing = store_->load(record.job.id);
        if (existing && *existing) return make_error(Errc::already_exists, "job " + record.job.id + " already exists");
      }
      return std::move(seq).error();
    }
    std::string id = record.job.id;
    queue_.insert(QueueKey{record.job.priority, *seq, id});
    active_.emplace(id, Active{std::move(record), *seq, nullptr});
    post_dispatch();
    return id;
  }

  Status cancel(const std::string& id) override {
    std::lock_guard lock(mutex_);
    auto it = active_.find(id);
    if (it == active_.end()) {
      FIRERUN_TRY(auto stored, store_->load(id));
      if (!stored) return make_error(Errc::not_found, "no job " + id);
      return make_error(Errc::bad_state, "job " + id + " already " + to_string(stored->status));
    }
    Active& a = it->second;
    if (a.record.status == JobStatus::queued) {
      queue_.erase(QueueKey{a.record.job.priority, a.seq, id});
      a.record.error = Error(Errc::cancelled, "cancelled while queued");
      finalize_locked(it, JobStatus::cancelled);
      return {};
    }
    auto context = a.context;
    asio::post(executor_, [context] { context->request_stop(Errc::cancelled, false); });
    return {};
  }

  Result<JobRecord> get(const std::string& id) const override {
    std::lock_guard lock(mutex_);
    if (auto it = active_.find(id); it != active_.end()) return it->second.record;
    if (auto it = unpersisted_.find(id); it != unpersisted_.end()) return it->second;
    FIRERUN_TRY(auto stored, store_->load(id));
    if (!stored && released_.count(id))
      return make_error(Errc::not_found, "job " + id + " was handed back for another host to run (host draining: " +
                                             intake_paused_.value_or("") + ")");
    if (!stored) return make_error(Errc::not_found, "no job " + id);
    return std::move(*stored);
  }

  Task<Result<JobRecord>> wait(std::string id) override {
    std::shared_ptr<asio::steady_timer> timer;
    {
      std::lock_guard lock(mutex_);
      if (active_.count(id)) {
        timer = std::make_shared<asio::steady_timer>(executor_, asio::steady_timer::time_point::max());
        waiters_[id].push_back(timer);
      }
    }
    // The wake-up is posted to this executor, so it cannot run before this wait starts.
    if (timer) std::ignore = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    co_return get(id);
  }

  Stats stats() const override {
    std::lock_guard lock(mutex_);
    Stats s;
    s.queued = queue_.size();
    s.running = running_;
    s.vcpus_in_use = vcpus_in_use_;
    s.memory_in_use_mib = memory_in_use_;
    s.vcpu_capacity = vcpu_capacity_;
    s.memory_capacity_mib = memory_capacity_;
    s.finished = finished_counts_;
    return s;
  }

  void on_finished(std::function<void(const JobRecord&)> fn) override {
    std::lock_guard lock(mutex_);
    finished_listeners_.push_back(std::move(fn));
  }

  void pause_intake(std::string reason) override {
    std::lock_guard lock(mutex_);
    if (!intake_paused_) intake_paused_ = std::move(reason);
  }

  void resume_intake() override {
    std::lock_guard lock(mutex_);
    intake_paused_.reset();
  }

  std::optional<std::string> intake_paused() const override {
    std::lock_guard lock(mutex_);
    return intake_paused_;
  }

  Result<std::vector<Job>> release_queued() override {
    std::lock_guard lock(mutex_);
    std::vector<std::string> ids;
    for (const auto& key : queue_) ids.push_back(key.id);
    // Database first: if it fails nothing changed and the jobs still run here.
    FIRERUN_CHECK(add_context(store_->delete_queued(ids), "releasing queued jobs"));
    std::vector<Job> out;
    for (const auto& id : ids) {
      auto it = active_.find(id);
      Job job = std::move(it->second.record.job);
      job.attempt = 0;
      out.push_back(std::move(job));
      active_.erase(it);
      released_.insert(id);
      wake_waiters_locked(id);
    }
    queue_.clear();
    return out;
  }

  Task<void> shutdown(std::chrono::milliseconds grace) override {
    {
      std::lock_guard lock(mutex_);
      shutting_down_ = true;
    }
    const auto deadline = std::chrono::steady_clock::now() + grace;
    asio::steady_timer poll(executor_);
    bool stopped = false;
    for (;;) {
      std::vector<std::shared_ptr<AttemptContext>> to_stop;
      {
        std::lock_guard lock(mutex_);
        if (running_ == 0) break;
        if (!stopped && std::chrono::steady_clock::now() >= deadline) {
          stopped = true;
          for (auto& [id, a] : active_)
            if (a.context) to_stop.push_back(a.context);
        }
      }
      for (auto& c : to_stop) c->request_stop(Errc::cancelled, true);
      poll.expires_after(std::chrono::milliseconds(20));
      std::ignore = co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    // Let posted wake-ups and listeners run before the owner destroys us.
    poll.expires_after(std::chrono::milliseconds(0));
    std::ignore = co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
  }

 private:
  using ActiveMap = std::map<std::string, Active>;

  void post_dispatch() {
    asio::post(executor_, [this] { dispatch(); });
  }

  bool fits_locked(const Resources& r) const {
    return running_ < options_.workers && vcpus_in_use_ + r.vcpus <= vcpu_capacity_ &&
           memory_in_use_ + r.memory_mib <= memory_capacity_;
  }

  /// Starts queued jobs in priority order while the head fits. A head that
  /// does not fit yet blocks the ones behind it so big jobs are not starved.
  void dispatch() {
    // co_spawn may start the runner inline, and the runner may call back into
    // us: spawn only after the lock is released.
    std::vector<std::pair<Job, std::shared_ptr<AttemptContext>>> to_start;
    {
      std::lock_guard lock(mutex_);
      pick_startable_locked(to_start);
    }
    for (auto& [job, context] : to_start)
      asio::co_spawn(executor_, run_attempt(std::move(job), std::move(context)), asio::detached);
  }

  void pick_startable_locked(std::vector<std::pair<Job, std::shared_ptr<AttemptContext>>>& to_start) {
    while (!shutting_down_ && !queue_.empty()) {
      const QueueKey head = *queue_.begin();
      auto it = active_.find(head.id);
      Active& a = it->second;
      if (!fits_locked(a.record.job.resources)) break;
      queue_.erase(queue_.begin());
      a.record.status = JobStatus::running;
      a.record.attempts += 1;
      a.record.job.attempt = a.record.attempts;
      if (!a.record.started_ms) a.record.started_ms = now_ms();
      if (auto st = store_->mark_running(head.id, a.record.attempts, *a.record.started_ms); !st)
        spdlog::error("job {}: {}", head.id, st.error().what());
      a.context = std::make_shared<AttemptContext>(*store_, mutex_, head.id);
      running_ += 1;
      vcpus_in_use_ += a.record.job.resources.vcpus;
      memory_in_use_ += a.record.job.resources.memory_mib;
      to_start.emplace_back(a.record.job, a.context);
    }
  }

  Task<void> run_attempt(Job job, std::shared_ptr<AttemptContext> context) {
    asio::steady_timer deadline(executor_, job.timeout);
    deadline.async_wait([context](boost::system::error_code ec) {
      if (!ec) context->request_stop(Errc::timeout, false);
    });
    Result<JobOutcome> outcome = make_error(Errc::internal, "runner did not run");
    try {
      auto r = co_await runner_(job, *context);
      outcome = std::move(r);
    } catch (const std::exception& e) {
      outcome = make_error(Errc::internal, std::string("runner threw: ") + e.what());
    }
    deadline.cancel();
    finish_attempt(job, *context, std::move(outcome));
  }

  void finish_attempt(const Job& job, const AttemptContext& context, Result<JobOutcome> outcome) {
    std::lock_guard lock(mutex_);
    running_ -= 1;
    vcpus_in_use_ -= job.resources.vcpus;
    memory_in_use_ -= job.resources.memory_mib;
    auto it = active_.find(job.id);
    Active& a = it->second;
    a.context.reset();
    const Errc stop = context.stop_reason();
    if (stop == Errc::cancelled && !context.stopped_by_shutdown()) {
      a.record.error = Error(Errc::cancelled, "cancelled while running");
      finalize_locked(it, JobStatus::cancelled);
    } else if (stop == Errc::timeout) {
      a.record.error = Error(Errc::timeout, "job exceeded its " + std::to_string(job.timeout.count()) + " ms deadline");
      finalize_locked(it, JobStatus::timed_out);
    } else if (outcome) {
      a.record.result = std::move(outcome->result);
      a.record.user_failed = outcome->user_failed;
      a.record.error.reset();
      finalize_locked(it, JobStatus::completed);
    } else if (context.stopped_by_shutdown()) {
      if (options_.interrupted == InterruptedPolicy::retry && a.record.attempts < options_.max_attempts) {
        // Stays queued in the DB for the next process; waiters see "queued".
        if (auto st = store_->requeue(job.id); !st) spdlog::error("job {}: {}", job.id, st.error().what());
        active_.erase(it);
        wake_waiters_locked(job.id);
      } else {
        a.record.error = Error(Errc::backend_failed, "the daemon shut down while the job was running");
        finalize_locked(it, JobStatus::failed);
      }
    } else if (retryable(outcome.error().errc()) &&
               (!context.user_code_started() || outcome.error() == Errc::backend_failed) &&
               a.record.attempts < options_.max_attempts && !shutting_down_) {
      spdlog::warn("job {}: attempt {} failed, retrying: {}", job.id, a.record.attempts, outcome.error().what());
      a.record.status = JobStatus::queued;
      if (auto st = store_->requeue(job.id); !st) spdlog::error("job {}: {}", job.id, st.error().what());
      queue_.insert(QueueKey{a.record.job.priority, a.seq, job.id});
    } else {
      a.record.error = std::move(outcome).error();
      finalize_locked(it, JobStatus::failed);
    }
    post_dispatch();
  }

  /// A job whose runner was interrupted (crash, shutdown): back to queued or failed per policy.
  Status resolve_interrupted_locked(JobRecord& record, const std::string& why) {
    if (options_.interrupted == InterruptedPolicy::retry && record.attempts < options_.max_attempts)
      return store_->requeue(record.job.id);
    record.status = JobStatus::failed;
    record.error = Error(Errc::backend_failed, why);
    record.finished_ms = now_ms();
    FIRERUN_TRY(bool changed, store_->finish(record));
    if (changed) finished_counts_[JobStatus::failed] += 1;
    return {};
  }

  /// The single place where a job becomes terminal.
  void finalize_locked(ActiveMap::iterator it, JobStatus status) {
    JobRecord record = std::move(it->second.record);
    active_.erase(it);
    record.status = status;
    record.finished_ms = now_ms();
    auto changed = store_->finish(record);
    if (!changed) {
      // Disk full, I/O error: the outcome is kept here (get() answers it) and
      // written again until it sticks. Until then no new job is accepted, so
      // the failure is visible (503, /readyz) instead of a job that seems to
      // run forever, or runs again after a restart.
      spdlog::error("job {}: recording its end failed, retrying and refusing new jobs meanwhile: {}", record.job.id,
                    changed.error().what());
      unpersisted_[record.job.id] = record;
      if (!intake_paused_) {
        intake_paused_ = "the job database cannot be written (" + changed.error().message() + ")";
        paused_for_storage_ = true;
      }
      schedule_persist_retry_locked();
    } else if (!*changed) {
      spdlog::error("job {}: was already terminal (bug)", record.job.id);
    }
    finished_counts_[status] += 1;
    if (++finished_since_prune_ >= 1000) {
      finished_since_prune_ = 0;
      (void)store_->prune_finished(options_.keep_finished);
    }
    wake_waiters_locked(record.job.id);
    auto listeners = finished_listeners_;
    asio::post(executor_, [listeners = std::move(listeners), record = std::move(record)] {
      for (auto& l : listeners) l(record);
    });
  }

  /// Retries the terminal writes that failed, every 500 ms, until all stick.
  void schedule_persist_retry_locked() {
    if (persist_retry_armed_) return;
    persist_retry_armed_ = true;
    auto timer = std::make_shared<asio::steady_timer>(executor_, std::chrono::milliseconds(500));
    timer->async_wait([this, timer, alive = alive_](boost::system::error_code ec) {
      if (!*alive) return;
      std::lock_guard lock(mutex_);
      persist_retry_armed_ = false;
      if (ec) return;
      for (auto it = unpersisted_.begin(); it != unpersisted_.end();) {
        auto changed = store_->finish(it->second);
        if (!changed) break;
        spdlog::info("job {}: its end is recorded now", it->first);
        it = unpersisted_.erase(it);
      }
      if (!unpersisted_.empty()) {
        schedule_persist_retry_locked();
        return;
      }
      if (paused_for_storage_) {
        paused_for_storage_ = false;
        intake_paused_.reset();
        spdlog::info("the job database is writable again: accepting jobs");
      }
    });
  }

  void wake_waiters_locked(const std::string& id) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return;
    asio::post(executor_, [waiters = std::move(it->second)] {
      for (auto& w : waiters) w->cancel();
    });
    waiters_.erase(it);
  }

  Options options_;
  Runner runner_;
  asio::any_io_executor executor_;
  mutable std::mutex mutex_;
  std::unique_ptr<JobStore> store_;
  ActiveMap active_;
  std::set<QueueKey> queue_;
  std::map<std::string, std::vector<std::shared_ptr<asio::steady_timer>>> waiters_;
  std::vector<std::function<void(const JobRecord&)>> finished_listeners_;
  std::map<JobStatus, std::uint64_t> finished_counts_;
  std::map<std::string, JobRecord> unpersisted_;  ///< terminal, but the write failed: retried
  bool persist_retry_armed_ = false;
  bool paused_for_storage_ = false;  ///< intake paused by a failed write (not by an operator's drain)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  ///< false once destroyed (pending retry timers)
  std::size_t finished_since_prune_ = 0;
  unsigned running_ = 0;
  unsigned vcpus_in_use_ = 0;
  std::uint64_t memory_in_use_ = 0;
  unsigned vcpu_capacity_ = 1;
  std::uint64_t memory_capacity_ = 1;
  bool shutting_down_ = false;
  std::optional<std::string> intake_paused_;
  std::set<std::string> released_;  // ids handed back by release_queued(), for a clear get() answer
};

}  // namespace

Result<std::unique_ptr<Scheduler>> make_scheduler(Options options, Runner runner,
                                                  boost::asio::any_io_executor executor) {
  if (!runner) return make_error(Errc::invalid_argument, "scheduler needs a runner");
  if (options.cpu_overcommit <= 0 || options.memory_overcommit <= 0)
    return make_error(Errc::invalid_argument, "overcommit ratios must be positive");
  auto store = JobStore::open(options.database);
  if (!store) return std::move(store).error();
  auto impl = std::make_unique<SchedulerImpl>(std::move(options), std::move(runner), std::move(executor),
                                              std::move(*store));
  FIRERUN_CHECK(add_context(impl->recover(), "recovering the job database"));
  return std::unique_ptr<Scheduler>(std::move(impl));
}

}  // namespace firerun::scheduler
