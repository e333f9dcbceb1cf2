// Draining a host: pause_intake() refuses new work, release_queued() hands the
// queued jobs back (memory and database), running jobs finish normally.
#include "firerun/scheduler.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <tuple>

namespace firerun::scheduler {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

/// Payload "sleep:<ms>" sleeps (stoppable); anything else completes at once.
Runner sleeping_runner(std::shared_ptr<std::vector<std::string>> started) {
  return [started](const Job& job, JobContext& ctx) -> Task<Result<JobOutcome>> {
    started->push_back(job.id);
    if (job.payload.rfind("sleep:", 0) == 0) {
      asio::steady_timer timer(co_await asio::this_coro::executor,
                               std::chrono::milliseconds(std::stoi(job.payload.substr(6))));
      ctx.on_stop([&timer] { timer.cancel(); });
      std::ignore = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ctx.stop_requested()) co_return make_error(Errc::cancelled, "stopped");
    }
    co_return JobOutcome{"ran:" + job.payload, false};
  };
}

Job job_with(std::string payload, int priority = 0) {
  Job j;
  j.payload = std::move(payload);
  j.priority = priority;
  j.timeout = 10s;
  return j;
}

Options one_worker(std::filesystem::path database = {}) {
  Options o;
  o.workers = 1;
  o.host_vcpus = 4;
  o.host_memory_mib = 4096;
  o.database = std::move(database);
  return o;
}

struct TempDir {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("drain-test-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
  TempDir() { std::filesystem::create_directories(dir); }
  ~TempDir() { std::filesystem::remove_all(dir); }
};

/// Runs `body` and then a clean shutdown on `ctx`; fails the test if it does not finish.
template <class Body>
void run_on(asio::io_context& ctx, Scheduler& scheduler, Body body) {
  bool done = false;
  std::exception_ptr error;
  asio::co_spawn(
      ctx,
      [&]() -> Task<void> {
        co_await body();
        co_await scheduler.shutdown(5s);
      },
      [&](std::exception_ptr e) {
        error = e;
        done = true;
      });
  ctx.run_for(30s);
  ASSERT_TRUE(done) << "test body did not finish";
  if (error) std::rethrow_exception(error);
}

Task<void> until(std::function<bool()> cond) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (int i = 0; i < 500 && !cond(); ++i) {
    t.expires_after(10ms);
    std::ignore = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

TEST(SchedulerDrain, PausedIntakeRefusesWithTheReasonAndKeepsQueuedJobsRunning) {
  asio::io_context ctx;
  auto started = std::make_shared<std::vector<std::string>>();
  auto made = make_scheduler(one_worker(), sleeping_runner(started), ctx.get_executor());
  ASSERT_TRUE(made) << made.error().what();
  auto& s = **made;
  EXPECT_FALSE(s.intake_paused());
  auto queued = s.submit(job_with("ok"));
  ASSERT_TRUE(queued);
  s.pause_intake("spot interruption: terminate at 2017-09-18T08:22:00Z");
  s.pause_intake("a later reason is ignored");
  ASSERT_TRUE(s.intake_paused());
  EXPECT_EQ(*s.intake_paused(), "spot interruption: terminate at 2017-09-18T08:22:00Z");
  auto refused = s.submit(job_with("ok"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), Errc::bad_state);
  EXPECT_EQ(refused.error().message(), "host draining: spot interruption: terminate at 2017-09-18T08:22:00Z");
  EXPECT_EQ(s.stats().queued, 1u) << "a refused job queues nothing";
  run_on(ctx, s, [&]() -> Task<void> {
    auto r = co_await s.wait(*queued);
    EXPECT_TRUE(r && r->status == JobStatus::completed) << "already-queued work still runs when not released";
  });
}

TEST(SchedulerDrain, ReleaseQueuedReturnsQueuedJobsInOrderAndRunningOnesFinish) {
  TempDir tmp;
  const auto db = tmp.dir / "jobs.db";
  std::vector<std::string> queued_ids;
  std::string running_id;
  std::vector<Job> released;
  {
    asio::io_context ctx;
    auto started = std::make_shared<std::vector<std::string>>();
    auto made = make_scheduler(one_worker(db), sleeping_runner(started), ctx.get_executor());
    ASSERT_TRUE(made) << made.error().what();
    auto& s = **made;
    running_id = *s.submit(job_with("sleep:300", 10));  // dispatch runs later: make it go first
    queued_ids.push_back(*s.submit(job_with("low-1", 0)));
    queued_ids.push_back(*s.submit(job_with("low-2", 0)));
    auto high = job_with("high", 5);
    high.id = "caller-chosen-id";
    high.kind = "custom";
    high.resources = Resources{2, 512};
    high.timeout = 1234ms;
    queued_ids.insert(queued_ids.begin(), *s.submit(high));
    run_on(ctx, s, [&]() -> Task<void> {
      co_await until([&] { return s.stats().running == 1; });
      s.pause_intake("operator drain");
      // Someone waits on a queued job: it must wake up when the job leaves.
      auto waited = s.wait(queued_ids[1]);
      auto r = s.release_queued();
      EXPECT_TRUE(r) << (r ? "" : r.error().what());
      if (r) released = std::move(*r);
      EXPECT_EQ(s.stats().queued, 0u);
      auto woke = co_await std::move(waited);
      EXPECT_FALSE(woke);
      EXPECT_EQ((woke ? Errc::ok : woke.error().errc()), Errc::not_found);
      EXPECT_NE((woke ? std::string() : woke.error().message()).find("handed back"), std::string::npos);
      auto again = s.release_queued();
      EXPECT_TRUE(again && again->empty()) << "nothing left to release";
      auto finished = co_await s.wait(running_id);
      EXPECT_TRUE(finished && finished->status == JobStatus::completed) << "running jobs finish";
    });
    EXPECT_EQ(*started, std::vector<std::string>{running_id}) << "released jobs never started here";
  }
  ASSERT_EQ(released.size(), 3u);
  for (std::size_t i = 0; i < released.size(); ++i) EXPECT_EQ(released[i].id, queued_ids[i]) << i;
  EXPECT_EQ(released[0].payload, "high");
  EXPECT_EQ(released[0].kind, "custom");
  EXPECT_EQ(released[0].priority, 5);
  EXPECT_EQ(released[0].resources.vcpus, 2u);
  EXPECT_EQ(released[0].resources.memory_mib, 512u);
  EXPECT_EQ(released[0].timeout, 1234ms);
  EXPECT_EQ(released[0].attempt, 0u);
  {
    // The database forgot them too: a restarted process neither resumes nor knows them.
    asio::io_context ctx;
    auto started = std::make_shared<std::vector<std::string>>();
    auto made = make_scheduler(one_worker(db), sleeping_runner(started), ctx.get_executor());
    ASSERT_TRUE(made) << made.error().what();
    auto& s = **made;
    EXPECT_EQ(s.stats().queued, 0u);
    for (const auto& id : queued_ids) {
      auto r = s.get(id);
      EXPECT_FALSE(r);
      EXPECT_EQ((r ? Errc::ok : r.error().errc()), Errc::not_found);
    }
    auto kept = s.get(running_id);
    EXPECT_TRUE(kept && kept->status == JobStatus::completed);
    EXPECT_FALSE(s.intake_paused()) << "pausing is per process, not persisted";
    run_on(ctx, s, []() -> Task<void> { co_return; });
    EXPECT_TRUE(started->empty());
  }
}

TEST(SchedulerDrain, ReleasedJobsCanBeResubmittedElsewhereWithTheirIds) {
  asio::io_context ctx;
  auto started_a = std::make_shared<std::vector<std::string>>();
  auto started_b = std::make_shared<std::vector<std::string>>();
  auto a = make_scheduler(one_worker(), sleeping_runner(started_a), ctx.get_executor());
  auto b = make_scheduler(one_worker(), sleeping_runner(started_b), ctx.get_executor());
  ASSERT_TRUE(a && b);
  std::vector<std::string> ids;
  ids.push_back(*(*a)->submit(job_with("sleep:200")));
  for (int i = 0; i < 4; ++i) ids.push_back(*(*a)->submit(job_with("job" + std::to_string(i))));
  run_on(ctx, **a, [&]() -> Task<void> {
    co_await until([&] { return (*a)->stats().running == 1; });
    (*a)->pause_intake("spot");
    auto released = (*a)->release_queued();
    EXPECT_TRUE(released && released->size() == 4u);
    if (released) {
      for (auto& job : *released) EXPECT_TRUE((*b)->submit(job));
    }
    for (std::size_t i = 1; i < ids.size(); ++i) {
      auto r = co_await (*b)->wait(ids[i]);
      EXPECT_TRUE(r && r->status == JobStatus::completed) << ids[i];
    }
    auto first = co_await (*a)->wait(ids[0]);
    EXPECT_TRUE(first && first->status == JobStatus::completed);
    co_await (*b)->shutdown(1s);
  });
  EXPECT_EQ(*started_a, std::vector<std::string>{ids[0]});
  EXPECT_EQ(*started_b, std::vector<std::string>(ids.begin() + 1, ids.end())) << "each job ran exactly once, in order";
}

}  // namespace
}  // namespace firerun::scheduler
