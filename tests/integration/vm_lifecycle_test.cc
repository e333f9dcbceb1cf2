// Boots real microVMs with QEMU (TCG on hosts without usable KVM) and checks
// what users rely on: exit codes, separate streams, output caps, stdin,
// timeouts, crash reporting, and that nothing is left behind.
#include "support/leak_check.h"
#include "vm_harness.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <signal.h>

namespace firerun {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::must;
using testing::run_async;
using testing::cmd;
using testing::sh;
using testing::spec_for;

class VmLifecycle : public testing::LeakCheckedTest {};


TEST_F(VmLifecycle, ExitCodesAndSeparateStreams) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto vm = must(testing::qemu_backend(ex)->create(spec_for("bash")), "create");
    std::vector<VmState> states;
    vm->on_event([&](const VmEvent& e) { states.push_back(e.state); });
    must(co_await vm->start(), "start");
    EXPECT_EQ(vm->state(), VmState::running);
    EXPECT_TRUE(vm->info().accelerator == "kvm" || vm->info().accelerator == "tcg");
    EXPECT_FALSE(vm->info().accel_reason.empty());
    EXPECT_GT(vm->info().vmm_pid, 0);

    for (int code : {0, 1, 7}) {
      auto r = must(co_await vm->exec(sh("exit " + std::to_string(code))), "exec");
      FIRERUN_CO_ASSERT(r.exit_code.has_value());
      EXPECT_EQ(*r.exit_code, code);
    }
    auto r = must(co_await vm->exec(sh("echo to-out; echo to-err >&2; echo more-out")), "exec");
    EXPECT_EQ(r.stdout_data, "to-out\nmore-out\n");
    EXPECT_EQ(r.stderr_data, "to-err\n");

    must(co_await vm->stop(10s), "stop");
    auto exit = must(co_await vm->wait(), "wait");
    EXPECT_EQ(exit.reason, VmExit::Reason::stopped);
    EXPECT_EQ(vm->state(), VmState::stopped);
    EXPECT_EQ(states.front(), VmState::starting);
    EXPECT_EQ(states.back(), VmState::stopped);
  });
}

TEST_F(VmLifecycle, LargeOutputArrivesIntactOrIsCutExactlyAtTheCap) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto vm = must(testing::qemu_backend(ex)->create(spec_for("bash")), "create");
    must(co_await vm->start(), "start");
    constexpr std::uint64_t kTenMiB = 10u << 20;
    // 10 MiB of a known pattern: every byte is checkable.
    auto request = sh("head -c 10485760 /dev/zero | tr '\\0' 'x'");
    request.output_cap = 16u << 20;
    auto whole = must(co_await vm->exec(request), "exec 10 MiB");
    EXPECT_EQ(whole.exit_code, 0);
    EXPECT_EQ(whole.stdout_data.size(), kTenMiB);
    EXPECT_EQ(whole.stdout_data.find_first_not_of('x'), std::string::npos);
    EXPECT_FALSE(whole.stdout_truncated);

    request.output_cap = 1u << 20;
    auto cut = must(co_await vm->exec(request), "exec over cap");
    EXPECT_EQ(cut.stdout_data.size(), 1u << 20);
    EXPECT_TRUE(cut.stdout_truncated);
    EXPECT_EQ(cut.exit_code, 0) << "the program must finish normally: excess output is drained, not blocked";
    must(co_await vm->stop(), "stop");
  });
}

TEST_F(VmLifecycle, StdinReachesTheProgramAndFilesRoundTrip) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto vm = must(testing::qemu_backend(ex)->create(spec_for("bash")), "create");
    must(co_await vm->start(), "start");
    auto req = sh("tr a-z A-Z");
    req.stdin_data = "hello from the host\n";
    auto r = must(co_await vm->exec(req), "exec");
    EXPECT_EQ(r.stdout_data, "HELLO FROM THE HOST\n");

    must(co_await vm->write_file("/tmp/in.txt", "line1\nline2\n", 0600), "write_file");
    // The agent writes files as root; a 0600 one is root's to read.
    auto wc_req = sh("wc -l < /tmp/in.txt; stat -c %a /tmp/in.txt");
    wc_req.uid = wc_req.gid = 0;
    auto wc = must(co_await vm->exec(wc_req), "exec");
    EXPECT_EQ(wc.stdout_data, "2\n600\n");
    auto back = must(co_await vm->read_file("/tmp/in.txt"), "read_file");
    EXPECT_EQ(back, "line1\nline2\n");
    must(co_await vm->stop(), "stop");
  });
}

TEST_F(VmLifecycle, CommandIsKilledAtItsTimeout) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto vm = must(testing::qemu_backend(ex)->create(spec_for("bash")), "create");
    must(co_await vm->start(), "start");
    auto req = cmd({"sleep", "1000"});
    req.timeout = 1500ms;
    auto r = must(co_await vm->exec(req), "exec");
    EXPECT_TRUE(r.timed_out);
    EXPECT_FALSE(r.exit_code.has_value());
    EXPECT_EQ(r.signal, SIGKILL);
    // The VM stays usable after a timed-out command.
    auto after = must(co_await vm->exec(sh("echo still-alive")), "exec after timeout");
    EXPECT_EQ(after.stdout_data, "still-alive\n");
    must(co_await vm->stop(), "stop");
  });
}

TEST_F(VmLifecycle, GuestKernelPanicIsReportedClearly) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto vm = must(testing::qemu_backend(ex)->create(spec_for("bash")), "create");
    must(co_await vm->start(), "start");
    // Crash the guest kernel on purpose; the exec cannot complete.
    auto crash = sh("echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger");
    crash.uid = crash.gid = 0;  // only root can; the default guest user cannot
    auto r = co_await vm->exec(crash);
    EXPECT_FALSE(r.has_value()) << "exec on a crashed guest must fail";
    auto exit = must(co_await vm->wait(), "wait");
    EXPECT_EQ(exit.reason, VmExit::Reason::guest_panic) << exit.detail;
    EXPECT_NE(exit.detail.find("Kernel panic"), std::string::npos) << exit.detail;
    EXPECT_EQ(vm->state(), VmState::failed);
    EXPECT_NE(vm->console_log().find("sysrq"), std::string::npos);
  });
}

TEST_F(VmLifecycle, PanicDuringBootFailsStartWithTheReason) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto spec = spec_for("bash");
    spec.kernel_cmdline += " rdinit=/does-not-exist init=/does-not-exist";
    auto vm = must(testing::qemu_backend(ex)->create(spec), "create");
    auto started = co_await vm->start();
    FIRERUN_CO_ASSERT(!started.has_value());
    EXPECT_EQ(started.error().errc(), Errc::guest_failed) << started.error().what();
    EXPECT_NE(started.error().what().find("Kernel panic"), std::string::npos) << started.error().what();
    EXPECT_EQ(vm->state(), VmState::failed);
  });
}

TEST_F(VmLifecycle, QemuKilledFromOutsideSurfacesAsVmmCrash) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto vm = must(testing::qemu_backend(ex)->create(spec_for("bash")), "create");
    must(co_await vm->start(), "start");
    const int pid = vm->info().vmm_pid;
    // Kill QEMU while a command is running.
    asio::steady_timer t(ex, 500ms);
    FIRERUN_CO_ASSERT(pid > 1);
    t.async_wait([pid](boost::system::error_code) { ::kill(pid, SIGKILL); });
    const auto sleeper = cmd({"sleep", "100"});
    auto r = co_await vm->exec(sleeper);
    FIRERUN_CO_ASSERT(!r.has_value());
    auto exit = must(co_await vm->wait(), "wait");
    EXPECT_EQ(exit.reason, VmExit::Reason::vmm_crashed);
    EXPECT_NE(exit.detail.find("signal 9"), std::string::npos) << exit.detail;
    EXPECT_EQ(vm->state(), VmState::failed);
    auto again = co_await vm->exec(sh("true"));
    FIRERUN_CO_ASSERT(!again.has_value());
    EXPECT_EQ(again.error().errc(), Errc::bad_state);
  });
}

TEST_F(VmLifecycle, PauseResumeAndIllegalTransitions) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto vm = must(testing::qemu_backend(ex)->create(spec_for("bash")), "create");
    auto early = co_await vm->pause();
    FIRERUN_CO_ASSERT(!early.has_value());
    EXPECT_EQ(early.error().errc(), Errc::bad_state);
    must(co_await vm->start(), "start");
    must(co_await vm->pause(), "pause");
    EXPECT_EQ(vm->state(), VmState::paused);
    must(co_await vm->resume(), "resume");
    auto r = must(co_await vm->exec(sh("echo resumed")), "exec");
    EXPECT_EQ(r.stdout_data, "resumed\n");
    must(co_await vm->kill(), "kill");
    auto exit = must(co_await vm->wait(), "wait");
    EXPECT_EQ(exit.reason, VmExit::Reason::killed);
  });
}

TEST_F(VmLifecycle, DroppingARunningVmLeavesNothingBehind) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    int pid = -1;
    {
      auto vm = must(testing::qemu_backend(ex)->create(spec_for("bash")), "create");
      must(co_await vm->start(), "start");
      pid = vm->info().vmm_pid;
    }  // destroyed without stop(): QEMU must be killed and reaped
    EXPECT_NE(::kill(pid, 0), 0) << "QEMU pid " << pid << " still exists";
  });
}

TEST_F(VmLifecycle, PythonImageRunsPython) {
  run_async([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto vm = must(testing::qemu_backend(ex)->create(spec_for("python", 512)), "create");
    must(co_await vm->start(), "start");
    const auto py = cmd({"python3", "-c", "import sys; print(6*7); sys.exit(5)"});
    auto r = must(co_await vm->exec(py), "exec");
    EXPECT_EQ(r.stdout_data, "42\n");
    EXPECT_EQ(r.exit_code, 5);
    must(co_await vm->stop(), "stop");
  });
}

}  // namespace
}  // namespace firerun
