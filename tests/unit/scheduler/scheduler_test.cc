// The scheduler with real runner coroutines: the payload tells the runner what
// to do ("ok", "sleep:<ms>", "userfail", "infra", "infra-once", "bad").
#include "firerun/scheduler.h"
#include "scheduler/job_store.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <tuple>

namespace firerun::scheduler {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

/// Observations shared by the test runner's invocations.
struct RunLog {
  std::mutex mutex;
  std::vector<std::string> started;  // job ids in start order
  int concurrent = 0;
  int peak = 0;
};

Runner test_runner(std::shared_ptr<RunLog> log) {
  return [log](const Job& job, JobContext& ctx) -> Task<Result<JobOutcome>> {
    {
      std::lock_guard lock(log->mutex);
      log->started.push_back(job.id);
      log->peak = std::max(log->peak, ++log->concurrent);
    }
    struct Leave {
      RunLog& log;
      ~Leave() {
        std::lock_guard lock(log.mutex);
        --log.concurrent;
      }
    } leave{*log};
    const std::string& p = job.payload;
    if (p.rfind("sleep:", 0) == 0) {
      asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(std::stoi(p.substr(6))));
      ctx.on_stop([&timer] { timer.cancel(); });
      std::ignore = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ctx.stop_requested()) co_return make_error(Errc::cancelled, "stopped");
      co_return JobOutcome{"slept", false};
    }
    if (p == "userfail") co_return JobOutcome{"exit 1", true};
    if (p == "infra") co_return make_error(Errc::backend_failed, "QEMU died");
    if (p == "infra-once") {
      if (job.attempt == 1) co_return make_error(Errc::guest_failed, "agent vanished");
      co_return JobOutcome{"second try", false};
    }
    if (p == "bad") co_return make_error(Errc::invalid_argument, "unrunnable");
    // Failures once the job's own code runs: only the host's are retried.
    if (p == "guest-after-user-code") {
      ctx.mark_user_code_started();
      co_return make_error(Errc::guest_failed, "the guest panicked");
    }
    if (p == "host-after-user-code") {
      ctx.mark_user_code_started();
      if (job.attempt == 1) co_return make_error(Errc::backend_failed, "QEMU was killed by signal 9");
      co_return JobOutcome{"second try", false};
    }
    co_return JobOutcome{"done:" + p, false};
  };
}

Job job_with(std::string payload, int priority = 0, Resources resources = {}) {
  Job j;
  j.payload = std::move(payload);
  j.priority = priority;
  j.resources = resources;
  j.timeout = 10s;
  return j;
}

Options small_host(unsigned workers) {
  Options o;
  o.workers = workers;
  o.host_vcpus = 8;
  o.host_memory_mib = 8192;
  return o;
}

/// One scheduler on a private io_context, driven by coroutine test bodies.
class SchedulerTest : public ::testing::Test {
 protected:
  void open(Options options) {
    auto s = make_scheduler(std::move(options), test_runner(log_), ctx_.get_executor());
    ASSERT_TRUE(s) << s.error().what();
    scheduler_ = std::move(*s);
  }
  /// Runs body, then a clean shutdown, on the io_context.
  template <class Body>
  void run(Body body, std::chrono::milliseconds grace = 5s) {
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(
        ctx_,
        [&]() -> Task<void> {
          co_await body();
          co_await scheduler_->shutdown(grace);
        },
        [&](std::exception_ptr e) {
          error = e;
          done = true;
        });
    ctx_.restart();
    ctx_.run_for(60s);
    ASSERT_TRUE(done) << "test body did not finish";
    if (error) std::rethrow_exception(error);
  }
  Task<JobRecord> finished(const std::string& id) {
    auto r = co_await scheduler_->wait(id);
    if (!r) throw std::runtime_error(r.error().what());
    co_return std::move(*r);
  }
  Task<void> until(std::function<bool()> cond) {
    asio::steady_timer t(ctx_);
    for (int i = 0; i < 500 && !cond(); ++i) {
      t.expires_after(10ms);
      std::ignore = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
  std::string submit(Job job) {
    auto id = scheduler_->submit(std::move(job));
    if (!id) throw std::runtime_error(id.error().what());
    return *id;
  }

  asio::io_context ctx_;
  std::shared_ptr<RunLog> log_ = std::make_shared<RunLog>();
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, FullQueueRefusesWithLimitExceededAndQueuesNothing) {
  auto options = small_host(1);
  options.max_queue = 2;
  open(options);
  auto a = submit(job_with("ok"));
  auto b = submit(job_with("ok"));
  auto refused = scheduler_->submit(job_with("third"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), Errc::limit_exceeded);
  EXPECT_NE(refused.error().what().find("queue is full"), std::string::npos);
  EXPECT_EQ(scheduler_->stats().queued, 2u);
  run([&]() -> Task<void> {
    EXPECT_EQ((co_await finished(a)).status, JobStatus::completed);
    EXPECT_EQ((co_await finished(b)).status, JobStatus::completed);
  });
  EXPECT_EQ(log_->started.size(), 2u);
  EXPECT_EQ(scheduler_->stats().queued, 0u);
}

TEST_F(SchedulerTest, JobsWaitForCapacityAndNeverExceedIt) {
  auto options = small_host(8);
  options.host_vcpus = 2;
  open(options);
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(submit(job_with("sleep:50")));
  run([&]() -> Task<void> {
    for (auto& id : ids) EXPECT_EQ((co_await finished(id)).status, JobStatus::completed);
  });
  EXPECT_EQ(log_->peak, 2) << "2 vCPUs of capacity allow exactly 2 one-vCPU jobs at once";
}

TEST_F(SchedulerTest, MemoryCapacityWithOvercommit) {
  auto options = small_host(8);
  options.host_memory_mib = 1000;
  options.memory_overcommit = 1.5;  // 1500 MiB usable: one 800 MiB job at a time
  open(options);
  Resources big{1, 800};
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(submit(job_with("sleep:30", 0, big)));
  auto never = scheduler_->submit(job_with("ok", 0, Resources{1, 1600}));
  ASSERT_FALSE(never);
  EXPECT_EQ(never.error(), Errc::limit_exceeded);
  EXPECT_NE(never.error().what().find("at most"), std::string::npos);
  run([&]() -> Task<void> {
    for (auto& id : ids) EXPECT_EQ((co_await finished(id)).status, JobStatus::completed);
  });
  EXPECT_EQ(log_->peak, 1);
}

TEST_F(SchedulerTest, JobThatCanNeverFitIsRejectedUpFront) {
  auto options = small_host(4);
  options.host_vcpus = 2;
  open(options);
  auto r = scheduler_->submit(job_with("ok", 0, Resources{3, 128}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::limit_exceeded);
  EXPECT_EQ(scheduler_->stats().queued, 0u);
  auto zero = scheduler_->submit(job_with("ok", 0, Resources{0, 128}));
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error(), Errc::invalid_argument);
  run([]() -> Task<void> { co_return; });
}

TEST_F(SchedulerTest, HigherPriorityRunsFirstThenFifo) {
  open(small_host(1));
  auto low1 = submit(job_with("a", 0));
  auto low2 = submit(job_with("b", 0));
  auto high = submit(job_with("c", 10));
  auto mid = submit(job_with("d", 5));
  run([&]() -> Task<void> { co_await finished(low2); });
  EXPECT_EQ(log_->started, (std::vector<std::string>{high, mid, low1, low2}));
}

TEST_F(SchedulerTest, CancellingAQueuedJobIsImmediate) {
  open(small_host(1));
  auto running = submit(job_with("sleep:200"));
  auto queued = submit(job_with("ok"));
  ASSERT_TRUE(scheduler_->cancel(queued));
  auto rec = scheduler_->get(queued);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, JobStatus::cancelled);
  EXPECT_EQ(rec->attempts, 0u);
  auto again = scheduler_->cancel(queued);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), Errc::bad_state);
  EXPECT_EQ(scheduler_->cancel("nope").error(), Errc::not_found);
  run([&]() -> Task<void> {
    EXPECT_EQ((co_await finished(queued)).status, JobStatus::cancelled);
    EXPECT_EQ((co_await finished(running)).status, JobStatus::completed);
  });
  EXPECT_EQ(log_->started, std::vector<std::string>{running});
}

TEST_F(SchedulerTest, CancellingARunningJobStopsItsRunner) {
  open(small_host(1));
  auto id = submit(job_with("sleep:30000"));
  run([&]() -> Task<void> {
    co_await until([&] { return scheduler_->stats().running == 1; });
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(scheduler_->cancel(id));
    auto rec = co_await finished(id);
    EXPECT_EQ(rec.status, JobStatus::cancelled);
    EXPECT_TRUE(rec.error.has_value());
    EXPECT_EQ((rec.error ? rec.error->errc() : Errc::ok), Errc::cancelled);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  });
  EXPECT_EQ(scheduler_->stats().running, 0u);
}

TEST_F(SchedulerTest, InfrastructureFailuresAreRetriedUserFailuresNever) {
  auto options = small_host(2);
  options.max_attempts = 3;
  open(options);
  auto once = submit(job_with("infra-once"));
  auto always = submit(job_with("infra"));
  auto user = submit(job_with("userfail"));
  auto bad = submit(job_with("bad"));
  run([&]() -> Task<void> {
    auto r1 = co_await finished(once);
    EXPECT_EQ(r1.status, JobStatus::completed);
    EXPECT_EQ(r1.attempts, 2u);
    EXPECT_EQ(r1.result, "second try");
    auto r2 = co_await finished(always);
    EXPECT_EQ(r2.status, JobStatus::failed);
    EXPECT_EQ(r2.attempts, 3u);
    EXPECT_TRUE(r2.error.has_value());
    EXPECT_EQ((r2.error ? r2.error->errc() : Errc::ok), Errc::backend_failed);
    auto r3 = co_await finished(user);
    EXPECT_EQ(r3.status, JobStatus::completed);
    EXPECT_TRUE(r3.user_failed);
    EXPECT_EQ(r3.attempts, 1u);
    auto r4 = co_await finished(bad);
    EXPECT_EQ(r4.status, JobStatus::failed);
    EXPECT_EQ(r4.attempts, 1u) << "invalid_argument is not an infrastructure failure";
  });
}

TEST_F(SchedulerTest, OnceTheJobsCodeRunsOnlyTheHostsFailuresAreRetried) {
  auto options = small_host(2);
  options.max_attempts = 3;
  open(options);
  auto guest = submit(job_with("guest-after-user-code"));
  auto host = submit(job_with("host-after-user-code"));
  run([&]() -> Task<void> {
    auto g = co_await finished(guest);
    EXPECT_EQ(g.status, JobStatus::failed);
    EXPECT_EQ(g.attempts, 1u) << "a guest the job's code brought down is the job's failure";
    EXPECT_EQ((g.error ? g.error->errc() : Errc::ok), Errc::guest_failed);
    auto h = co_await finished(host);
    EXPECT_EQ(h.status, JobStatus::completed);
    EXPECT_EQ(h.attempts, 2u) << "a VMM the host lost is retried";
  });
}

TEST_F(SchedulerTest, AFullDiskNeverLeavesAJobRunningForeverAndRefusesNewOnesVisibly) {
  // A real full disk: the job database on a 4 MiB tmpfs that the test fills
  // while a job runs, so the write of its end fails with SQLITE_FULL.
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  char pattern[] = "/tmp/firerun-full-disk-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::filesystem::path dir = pattern;
  ASSERT_EQ(::mount("tmpfs", pattern, "tmpfs", 0, "size=4m"), 0) << std::strerror(errno);
  struct Unmount {
    std::filesystem::path dir;
    ~Unmount() {
      ::umount2(dir.c_str(), MNT_DETACH);
      std::filesystem::remove(dir);
    }
  } unmount{dir};
  auto options = small_host(1);
  options.database = dir / "jobs.db";
  open(options);
  // A payload big enough that its end does not fit in pages SQLite already has.
  auto id = submit(job_with("sleep:400" + std::string(8000, ' ')));
  run([&]() -> Task<void> {
    co_await until([&] { return scheduler_->stats().running == 1; });
    {  // fill the disk
      const int fd = ::open((dir / "filler").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      const std::string block(4096, 'x');
      while (::write(fd, block.data(), block.size()) > 0) {
      }
      ::close(fd);
    }
    co_await until([&] { return scheduler_->stats().running == 0; });
    // Finished, but not recorded yet: answered from memory, and new jobs are refused.
    auto record = scheduler_->get(id);
    EXPECT_TRUE(record && is_terminal(record->status)) << "never reported as running forever";
    auto refused = scheduler_->submit(job_with("x"));
    EXPECT_FALSE(refused) << "new jobs are refused while ends cannot be recorded";
    if (!refused) {
      EXPECT_EQ(refused.error(), Errc::bad_state);
      EXPECT_NE(refused.error().message().find("cannot be written"), std::string::npos) << refused.error().message();
    }
    EXPECT_TRUE(scheduler_->intake_paused().has_value());
    // Space again: the end is written, intake resumes by itself.
    std::filesystem::remove(dir / "filler");
    co_await until([&] { return !scheduler_->intake_paused().has_value(); });
    EXPECT_FALSE(scheduler_->intake_paused().has_value());
    auto accepted = scheduler_->submit(job_with("after"));
    EXPECT_TRUE(accepted) << (accepted ? "" : accepted.error().what());
    if (accepted) (void)co_await finished(*accepted);
  });
  // The end is durable: a new scheduler on the same database sees it, so the
  // job is not resolved as interrupted (and never runs again).
  scheduler_.reset();
  open(options);
  auto reloaded = scheduler_->get(id);
  ASSERT_TRUE(reloaded) << reloaded.error().what();
  EXPECT_EQ(reloaded->status, JobStatus::completed);
  EXPECT_EQ(reloaded->attempts, 1u);
  run([&]() -> Task<void> { co_return; });
}

TEST_F(SchedulerTest, PerJobTimeoutStopsTheRunner) {
  open(small_host(1));
  auto job = job_with("sleep:30000");
  job.timeout = 100ms;
  auto id = submit(job);
  run([&]() -> Task<void> {
    auto rec = co_await finished(id);
    EXPECT_EQ(rec.status, JobStatus::timed_out);
    EXPECT_TRUE(rec.error.has_value());
    EXPECT_EQ((rec.error ? rec.error->errc() : Errc::ok), Errc::timeout);
  });
}

TEST_F(SchedulerTest, ShutdownRefusesNewJobs) {
  open(small_host(1));
  run([]() -> Task<void> { co_return; });
  auto r = scheduler_->submit(job_with("ok"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::bad_state);
}

TEST_F(SchedulerTest, EveryJobReachesExactlyOneTerminalStateUnderConcurrentCancels) {
  auto options = small_host(4);
  options.max_queue = 1000;
  options.max_attempts = 2;
  open(options);
  std::mutex seen_mutex;
  std::map<std::string, int> finished_count;
  scheduler_->on_finished([&](const JobRecord& r) {
    std::lock_guard lock(seen_mutex);
    finished_count[r.job.id] += 1;
  });
  const char* kinds[] = {"ok", "sleep:5", "sleep:20", "userfail", "infra", "infra-once", "bad"};
  std::vector<std::string> ids;
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) ids.push_back(submit(job_with(kinds[rng() % 7], static_cast<int>(rng() % 3))));
  // Another thread cancels a third of them while the executor runs them.
  std::thread canceller([&] {
    std::mt19937 r(11);
    for (int i = 0; i < 100; ++i) {
      (void)scheduler_->cancel(ids[r() % ids.size()]);
      std::this_thread::sleep_for(1ms);
    }
  });
  run([&]() -> Task<void> {
    for (auto& id : ids) {
      auto rec = co_await finished(id);
      EXPECT_TRUE(is_terminal(rec.status)) << id;
    }
  });
  canceller.join();
  std::uint64_t total = 0;
  for (auto& [status, n] : scheduler_->stats().finished) total += n;
  EXPECT_EQ(total, ids.size());
  EXPECT_EQ(finished_count.size(), ids.size());
  for (auto& [id, n] : finished_count) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(scheduler_->stats().queued, 0u);
  EXPECT_EQ(scheduler_->stats().running, 0u);
  EXPECT_EQ(scheduler_->stats().vcpus_in_use, 0u);
}

/// A temp DB path removed afterwards.
struct TempDb {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("sched-test-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
  TempDb() { std::filesystem::create_directories(dir); }
  ~TempDb() { std::filesystem::remove_all(dir); }
  std::filesystem::path db() const { return dir / "jobs.db"; }
};

TEST(SchedulerPersistence, QueuedJobsSurviveARestartAndInterruptedOnesAreResolved) {
  TempDb tmp;
  auto log = std::make_shared<RunLog>();
  std::vector<std::string> queued_ids;
  std::string interrupted_id;
  {
    // First process: one job running, three queued, then a shutdown with no grace.
    asio::io_context ctx;
    auto options = small_host(1);
    options.database = tmp.db();
    options.interrupted = InterruptedPolicy::fail;
    auto s = make_scheduler(options, test_runner(log), ctx.get_executor());
    ASSERT_TRUE(s) << s.error().what();
    auto& sched = **s;
    interrupted_id = *sched.submit(job_with("sleep:30000"));
    for (int i = 0; i < 3; ++i) queued_ids.push_back(*sched.submit(job_with("ok")));
    bool done = false;
    asio::co_spawn(
        ctx,
        [&]() -> Task<void> {
          asio::steady_timer t(ctx, 100ms);
          co_await t.async_wait(asio::use_awaitable);
          co_await sched.shutdown(0ms);
        },
        [&](std::exception_ptr) { done = true; });
    ctx.run_for(10s);
    ASSERT_TRUE(done);
    EXPECT_EQ(sched.get(interrupted_id)->status, JobStatus::failed);
    EXPECT_EQ(sched.get(queued_ids[0])->status, JobStatus::queued);
  }
  {
    asio::io_context ctx;
    auto options = small_host(2);
    options.database = tmp.db();
    auto s = make_scheduler(options, test_runner(log), ctx.get_executor());
    ASSERT_TRUE(s) << s.error().what();
    auto& sched = **s;
    bool done = false;
    asio::co_spawn(
        ctx,
        [&]() -> Task<void> {
          for (auto& id : queued_ids) {
            auto r = co_await sched.wait(id);
            EXPECT_TRUE(r && r->status == JobStatus::completed);
          }
          co_await sched.shutdown(1s);
        },
        [&](std::exception_ptr) { done = true; });
    ctx.run_for(10s);
    ASSERT_TRUE(done);
    auto interrupted = sched.get(interrupted_id);
    ASSERT_TRUE(interrupted);
    EXPECT_EQ(interrupted->status, JobStatus::failed);
    ASSERT_TRUE(interrupted->error.has_value());
    EXPECT_EQ(interrupted->error->errc(), Errc::backend_failed);
  }
}

TEST(SchedulerPersistence, AfterACrashOrphanedVmsAreKilledAndRunningJobsRetried) {
  TempDb tmp;
  // Simulate the state a killed process leaves: a job marked running whose
  // "VMM" (a real child process here) is still alive, plus a queued job.
  pid_t orphan = ::fork();
  ASSERT_GE(orphan, 0);
  if (orphan == 0) {
    ::pause();
    ::_exit(0);
  }
  std::string running_id = "crashed-running", queued_id = "crashed-queued";
  {
    auto store = detail::JobStore::open(tmp.db());
    ASSERT_TRUE(store) << store.error().what();
    JobRecord a;
    a.job = job_with("ok");
    a.job.id = running_id;
    ASSERT_TRUE((*store)->insert(a));
    ASSERT_TRUE((*store)->mark_running(running_id, 1, 1));
    ASSERT_TRUE((*store)->set_vm(running_id, orphan, *process_start_time(orphan)));
    JobRecord b;
    b.job = job_with("ok");
    b.job.id = queued_id;
    ASSERT_TRUE((*store)->insert(b));
  }
  auto log = std::make_shared<RunLog>();
  asio::io_context ctx;
  auto options = small_host(2);
  options.database = tmp.db();
  options.interrupted = InterruptedPolicy::retry;
  options.max_attempts = 2;
  auto s = make_scheduler(options, test_runner(log), ctx.get_executor());
  ASSERT_TRUE(s) << s.error().what();
  int status = 0;
  ASSERT_EQ(::waitpid(orphan, &status, 0), orphan) << "the orphaned VMM must have been killed";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  auto& sched = **s;
  bool done = false;
  asio::co_spawn(
      ctx,
      [&]() -> Task<void> {
        auto r1 = co_await sched.wait(running_id);
        auto r2 = co_await sched.wait(queued_id);
        EXPECT_TRUE(r1 && r1->status == JobStatus::completed && r1->attempts == 2);
        EXPECT_TRUE(r2 && r2->status == JobStatus::completed && r2->attempts == 1);
        co_await sched.shutdown(1s);
      },
      [&](std::exception_ptr) { done = true; });
  ctx.run_for(10s);
  EXPECT_TRUE(done);
}

}  // namespace
}  // namespace firerun::scheduler
