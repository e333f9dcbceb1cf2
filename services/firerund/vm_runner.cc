#include "vm_runner.h"

#include "api_json.h"

#include "core/process.h"

#include "firerun/image.h"
#include "firerun/pool.h"
#include "firerun/sandbox.h"
#include "firerun/vm.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>


namespace firerun::daemon {
namespace {
namespace asio = boost::asio;

/// Keeps firerun_vms_active honest on every exit path.
struct ActiveVm {
  explicit ActiveVm(Metrics& m) : metrics(m) { metrics.vms_active += 1; }
  ~ActiveVm() { metrics.vms_active -= 1; }
  Metrics& metrics;
};

/// Whose failure an error while the job's own code ran is. The host's (the
/// VMM crashed or was killed from outside): backend_failed, retried. The
/// job's (its guest panicked, rebooted, hit its memory limit, or the agent
/// stalled, died or sent garbage while the VMM lived on): guest_failed, never
/// retried, whatever the user's code did to get there.
Task<Error> blame(Vm& vm, Error error, asio::any_io_executor executor) {
  const int pid = vm.info().vmm_pid;
  // A guest that panics or reboots closes the agent channel a moment before QEMU exits.
  asio::steady_timer timer(executor);
  for (int i = 0; i < 40 && pid > 0 && !detail::process_exited(pid); ++i) {
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(asio::use_awaitable);
  }
  if (pid > 0 && detail::process_exited(pid)) {
    auto exit = co_await vm.wait();
    if (exit && exit->reason == VmExit::Reason::vmm_crashed)
      co_return Error(Errc::backend_failed, "the VMM died under the job: " + exit->detail + " (" + error.what() + ")");
    if (exit) error.with_context(std::string("guest ") + to_string(exit->reason) + ": " + exit->detail);
  }
  co_return Error(Errc::guest_failed, error.what() + " — while the job's code ran (not retried)");
}

Task<Result<scheduler::JobOutcome>> run_job(const scheduler::Job& job, scheduler::JobContext& ctx, const Config& config,
                                            Metrics& metrics, asio::any_io_executor executor) {
  auto input = parse_execute(job.payload, nullptr);
  if (!input) co_return std::move(input).error().with_context("job payload");
  const sandbox::CodeRequest& request = input->request;
  FIRERUN_CO_TRY(const sandbox::Language* language, sandbox::find_language(request.language));
  // Images are prebuilt by the operator (`firerun image build <name>`): never
  // build on the request path.
  auto img = image::find_image(language->image, config.image_cache);
  if (!img)
    co_return Error(Errc::unsupported, "the '" + language->image + "' image is not built in " +
                                           config.image_cache.string() + " (run: firerun image build " +
                                           language->image + ")");
  VmSpec spec = image::vm_spec(*img);
  spec.name = "job-" + job.id.substr(0, 12) + "-" + std::to_string(job.attempt);
  spec.vcpus = job.resources.vcpus;
  spec.memory_mib = job.resources.memory_mib;
  spec.boot_timeout = std::chrono::milliseconds(config.boot_allowance_ms);
  Result<sandbox::CodeResult> ran = make_error(Errc::cancelled, "not run");
  const std::function<Task<void>(Vm&)> run = [&](Vm& vm) -> Task<void> {
    ctx.mark_user_code_started();
    auto r = co_await sandbox::run_code(vm, *language, request);
    if (!r && !ctx.stop_requested()) r = co_await blame(vm, std::move(r).error(), executor);
    ran = std::move(r);
  };
  auto started = co_await run_in_job_vm(spec, img->hash, config, metrics, ctx, executor, run);
  if (ctx.stop_requested()) co_return Error(ctx.stop_reason(), "job stopped");
  if (!started) co_return std::move(started).error();
  if (!ran) co_return std::move(ran).error();
  const ExecResult& e = ran->exec;
  scheduler::JobOutcome outcome;
  outcome.user_failed = e.timed_out || e.signal.has_value() || e.exit_code.value_or(0) != 0;
  outcome.result = execute_result_json(job.id, *ran, input->output_base64);
  co_return outcome;
}

}  // namespace

Task<Result<std::unique_ptr<Vm>>> fresh_vm(VmBackend& backend, const VmSpec& spec, const std::string& image_hash,
                                           const Config& config) {
  if (config.vm_start == "snapshot") {
    SnapshotCache cache(config.state_dir / "snapshots");
    VmSpec shape = spec;
    shape.name.clear();
    auto snapshot = co_await cache.get_or_create(backend, shape, image_hash);
    if (snapshot) {
      auto restored = backend.restore(*snapshot);
      if (restored) co_return restored;
      spdlog::warn("restoring snapshot {} failed, booting cold: {}", snapshot->dir.string(), restored.error().what());
    } else {
      spdlog::warn("no snapshot for image {}, booting cold: {}", image_hash.substr(0, 12), snapshot.error().what());
    }
  }
  co_return backend.create(spec);
}

Task<Status> run_in_job_vm(const VmSpec& spec, const std::string& image_hash, const Config& config, Metrics& metrics,
                           scheduler::JobContext& ctx, asio::any_io_executor executor,
                           const std::function<Task<void>(Vm&)>& work) {
  FIRERUN_CO_TRY(auto backend, open_vm_backend(config.backend, executor, config.jail));
  auto created = co_await fresh_vm(*backend, spec, image_hash, config);
  if (!created) co_return std::move(created).error();
  std::shared_ptr<Vm> vm = std::move(*created);
  ActiveVm active(metrics);

  // A stop request (cancel, deadline, shutdown) kills the VMM; the pending
  // start/exec then fails and the normal path below cleans up.
  ctx.on_stop([vm, executor] {
    asio::co_spawn(
        executor, [vm]() -> Task<void> { (void)co_await vm->kill(); }, asio::detached);
  });
  auto started = co_await vm->start();
  if (vm->info().vmm_pid > 0) ctx.record_vm_process(vm->info().vmm_pid);
  if (started) {
    metrics.vm_boot.observe(std::chrono::duration<double>(vm->info().boot_time).count());
    if (!ctx.stop_requested()) co_await work(*vm);
    auto stopped = co_await vm->stop(std::chrono::seconds(2));
    if (!stopped) (void)co_await vm->kill();
  } else {
    (void)co_await vm->kill();
  }
  (void)co_await vm->wait();
  ctx.clear_vm_process();
  co_return started;
}

std::uint64_t vm_memory_mb(std::uint64_t asked_mb, const Config& config, std::uint64_t language_min_mib) {
  return std::max(asked_mb ? asked_mb : config.limits.default_memory_mb, language_min_mib);
}

scheduler::Runner make_vm_runner(const Config& config, Metrics& metrics, asio::any_io_executor executor) {
  return [&config, &metrics, executor](const scheduler::Job& job,
                                       scheduler::JobContext& ctx) -> Task<Result<scheduler::JobOutcome>> {
    return run_job(job, ctx, config, metrics, executor);
  };
}

}  // namespace firerun::daemon
