#include "firerun/scheduler.h"
#include "scheduler/process_reaper.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace firerun::scheduler {
namespace {

TEST(StatStartTime, ParsesField22EvenWithAwkwardCommNames) {
  EXPECT_EQ(detail::parse_stat_start_time(
                "42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10"),
            987654u);
  EXPECT_EQ(detail::parse_stat_start_time("1 (init) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 7"), 7u);
  EXPECT_FALSE(detail::parse_stat_start_time("").has_value());
  EXPECT_FALSE(detail::parse_stat_start_time("12 (x) S 1 2").has_value());
  EXPECT_FALSE(detail::parse_stat_start_time("12 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 zz").has_value());
}

TEST(ProcessReaper, KillsOnlyTheProcessWithTheRecordedStartTime) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  auto start = process_start_time(child);
  ASSERT_TRUE(start.has_value());
  // A different start time means the pid was recycled: leave it alone.
  EXPECT_FALSE(detail::reap_orphan(child, *start + 1));
  EXPECT_EQ(::kill(child, 0), 0);
  EXPECT_TRUE(detail::reap_orphan(child, *start));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_FALSE(detail::reap_orphan(child, *start));
}

}  // namespace
}  // namespace firerun::scheduler
