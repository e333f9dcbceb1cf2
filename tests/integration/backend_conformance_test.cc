// The VM backend contract, one suite for every backend: the same lifecycle,
// exec, file, event, pause and error cases run against the "process" backend
// (the real agent as a host process: the core without a hypervisor, in the
// unit run) and against "qemu" (real VMs, in the integration run). Built
// once per backend; FIRERUN_CONFORMANCE_BACKEND says which.
#include "vm_harness.h"

#include "support/process_backend.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace firerun::testing {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr std::string_view kBackend = FIRERUN_CONFORMANCE_BACKEND;

std::shared_ptr<VmBackend> backend_under_test(asio::any_io_executor ex) {
  if (kBackend == "process") {
    // Registered like any backend and opened by name through the registry.
    static const bool registered =
        vm_backends().add(std::make_shared<ProcessBackendFactory>(FIRERUN_AGENT_BINARY)).has_value();
    (void)registered;
    return must(open_vm_backend("process", std::move(ex)), "open process backend");
  }
  return qemu_backend(std::move(ex));
}

VmSpec spec_under_test() {
  if (kBackend == "process") {
    // The process backend boots nothing, but the spec is validated all the same.
    VmSpec spec;
    spec.kernel = FIRERUN_AGENT_BINARY;
    spec.initrd = FIRERUN_AGENT_BINARY;
    spec.boot_timeout = 30s;
    return spec;
  }
  return spec_for("bash", 256);
}

std::string states(const std::vector<VmEvent>& events) {
  std::string out;
  for (const auto& e : events) out += std::string(out.empty() ? "" : ",") + to_string(e.state);
  return out;
}

TEST(BackendConformance, LifecycleExecFilesAndEvents) {
  run_async([](asio::any_io_executor ex) -> Task<void> {
    auto backend = backend_under_test(ex);
    EXPECT_EQ(backend->info().name, kBackend);
    auto vm = must(backend->create(spec_under_test()), "create");
    std::vector<VmEvent> events;
    vm->on_event([&](const VmEvent& e) { events.push_back(e); });
    EXPECT_EQ(vm->state(), VmState::created);

    // The state machine is the core's: the same refusal on every backend.
    auto early = co_await vm->exec(sh("true"));
    FIRERUN_CO_ASSERT(!early);
    EXPECT_EQ(early.error().errc(), Errc::bad_state);
    EXPECT_NE(early.error().message().find("exec is not allowed while the VM is created"), std::string::npos)
        << early.error().message();

    must(co_await vm->start(), "start");
    EXPECT_EQ(vm->state(), VmState::running);
    EXPECT_GT(vm->info().boot_time.count(), 0) << "the core times start()";
    EXPECT_GT(vm->info().vmm_pid, 0);
    EXPECT_FALSE(vm->info().restored);
    auto again = co_await vm->start();
    FIRERUN_CO_ASSERT(!again);
    EXPECT_EQ(again.error().errc(), Errc::bad_state);

    auto req = sh("read line; echo \"got $line\"; echo err >&2; exit 3");
    req.stdin_data = "hello\n";
    auto r = must(co_await vm->exec(req), "exec");
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(r.stdout_data, "got hello\n");
    EXPECT_EQ(r.stderr_data, "err\n");
    auto empty = cmd({});
    auto bad = co_await vm->exec(empty);
    FIRERUN_CO_ASSERT(!bad);
    EXPECT_EQ(bad.error().errc(), Errc::invalid_argument);

    const std::string dir = kBackend == "process" ? "/tmp/firerun-conformance-" + vm->id() : "/tmp";
    must(co_await vm->exec(sh("mkdir -p " + dir + " && chmod 1777 " + dir)), "mkdir");
    std::string payload(100000, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);
    must(co_await vm->write_file(dir + "/blob", payload, 0600), "write_file");
    EXPECT_EQ(must(co_await vm->read_file(dir + "/blob"), "read_file"), payload);
    auto capped = co_await vm->read_file(dir + "/blob", 1000);
    EXPECT_FALSE(capped) << "a file over max_bytes is an error, not a silent truncation";
    auto missing = co_await vm->read_file(dir + "/no-such-file");
    EXPECT_FALSE(missing);
    if (kBackend == "process") std::filesystem::remove_all(dir);

    must(co_await vm->stop(5s), "stop");
    EXPECT_EQ(vm->state(), VmState::stopped);
    auto exit = must(co_await vm->wait(), "wait");
    EXPECT_EQ(exit.reason, VmExit::Reason::stopped) << exit.detail;
    auto late = co_await vm->exec(sh("true"));
    EXPECT_FALSE(late);
    EXPECT_EQ(states(events), "starting,running,stopping,stopped");
  });
}

TEST(BackendConformance, InvalidSpecsNeverReachTheBackend) {
  run_async([](asio::any_io_executor ex) -> Task<void> {
    auto backend = backend_under_test(ex);
    auto spec = spec_under_test();
    spec.vcpus = 0;
    auto r = backend->create(spec);
    FIRERUN_CO_ASSERT(!r);
    EXPECT_EQ(r.error().errc(), Errc::invalid_argument);
    EXPECT_NE(r.error().message().find("vcpus"), std::string::npos) << r.error().message();
    spec = spec_under_test();
    spec.egress.internet = true;  // egress without a network
    EXPECT_FALSE(backend->create(spec));
    co_return;
  });
}

TEST(BackendConformance, KillIsLegalInEveryStateAndReported) {
  run_async([](asio::any_io_executor ex) -> Task<void> {
    auto backend = backend_under_test(ex);
    auto unstarted = must(backend->create(spec_under_test()), "create");
    must(co_await unstarted->kill(), "kill before start");
    EXPECT_EQ(unstarted->state(), VmState::stopped);

    auto vm = must(backend->create(spec_under_test()), "create");
    must(co_await vm->start(), "start");
    must(co_await vm->kill(), "kill");
    auto exit = must(co_await vm->wait(), "wait");
    EXPECT_EQ(exit.reason, VmExit::Reason::killed) << exit.detail;
    must(co_await vm->kill(), "second kill");
    EXPECT_FALSE(co_await vm->exec(sh("true")));
  });
}

TEST(BackendConformance, PausedVmsRunNothingUntilResumed) {
  run_async([](asio::any_io_executor ex) -> Task<void> {
    auto backend = backend_under_test(ex);
    auto vm = must(backend->create(spec_under_test()), "create");
    must(co_await vm->start(), "start");
    must(co_await vm->pause(), "pause");
    EXPECT_EQ(vm->state(), VmState::paused);
    auto refused = co_await vm->exec(sh("true"));
    FIRERUN_CO_ASSERT(!refused);
    EXPECT_EQ(refused.error().errc(), Errc::bad_state);
    must(co_await vm->resume(), "resume");
    auto r = must(co_await vm->exec(sh("echo back")), "exec after resume");
    EXPECT_EQ(r.stdout_data, "back\n");
    must(co_await vm->stop(5s), "stop");
  });
}

TEST(BackendConformance, SnapshotsOfAnotherBackendAreRefused) {
  run_async([](asio::any_io_executor ex) -> Task<void> {
    auto backend = backend_under_test(ex);
    Snapshot foreign;
    foreign.dir = "/nonexistent";
    foreign.backend = kBackend == "qemu" ? "firecracker" : "qemu";
    foreign.spec = spec_under_test();
    auto r = backend->restore(foreign);
    FIRERUN_CO_ASSERT(!r);
    EXPECT_EQ(r.error().errc(), Errc::invalid_argument);
    EXPECT_NE(r.error().message().find("was taken by the '" + foreign.backend + "' backend"), std::string::npos)
        << r.error().message();
    co_return;
  });
}

}  // namespace
}  // namespace firerun::testing
