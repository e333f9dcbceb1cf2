#include "scenarios.h"

#include "host_facts.h"
#include "raw_qemu.h"

#include "firerun/pool.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <iostream>

namespace firerun::bench {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

void progress(const std::string& line) { std::cerr << "firerun-bench: " << line << std::endl; }

void note_accelerator(BenchContext& ctx, const Vm& vm) {
  if (!ctx.accelerator.empty()) return;
  ctx.accelerator = vm.info().accelerator;
  ctx.accel_reason = vm.info().accel_reason;
}

// create() + start(); the error says which step failed and keeps the VM's own detail.
Task<Result<std::unique_ptr<Vm>>> boot(BenchContext& ctx, const VmSpec& spec) {
  FIRERUN_CO_TRY(auto vm, ctx.backend->create(spec));
  auto started = co_await vm->start();
  if (!started) co_return std::move(started).error().with_context("booting a benchmark VM");
  note_accelerator(ctx, *vm);
  co_return std::move(vm);
}

Task<void> sleep_for(asio::any_io_executor ex, std::chrono::milliseconds d) {
  asio::steady_timer t(ex, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace

VmSpec spec_for(const BenchContext& ctx, const image::Image& image) {
  VmSpec spec = image::vm_spec(image);
  spec.vcpus = ctx.options.vcpus;
  spec.memory_mib = ctx.options.memory_mib;
  spec.boot_timeout = ctx.options.boot_timeout;
  return spec;
}

Task<ScenarioResult> measure_cold_boot(BenchContext& ctx) {
  const VmSpec spec = spec_for(ctx, ctx.boot_image);
  Measurement firerun_boot{"cold_boot_to_agent_ready", "cold boot to agent-ready (firerun)", "ms", {}};
  Measurement guest{"guest_kernel_to_agent_ready", "  guest: kernel start to agent hello", "ms", {}};
  Measurement raw{"raw_qemu_boot_to_agent_hello", "cold boot to agent hello (raw QEMU)", "ms", {}};
  Measurement raw_guest{"raw_guest_kernel_to_agent_hello", "  guest: kernel start to agent hello", "ms", {}};
  // Host side = total minus the guest's own uptime at hello: QEMU start-up,
  // kernel loading and (for firerun) its own work, separated from guest boot.
  Measurement host_side{"cold_boot_host_side", "  host side (total - guest)", "ms", {}};
  Measurement raw_host_side{"raw_qemu_host_side", "  host side (total - guest)", "ms", {}};
  Measurement paired{"cold_boot_over_raw_qemu_paired", "  firerun / raw QEMU, run by run", "x", {}};
  Measurement stop{"graceful_stop", "graceful stop (agent shutdown + exit)", "ms", {}};

  for (unsigned i = 0; i < ctx.options.runs; ++i) {
    // Alternate the order so a drift in host load hits both sides alike.
    const bool raw_first = i % 2 == 1;
    double raw_ms = 0;
    auto run_raw = [&]() -> Status {
      FIRERUN_TRY(auto b, raw_qemu_boot(ctx.qemu, spec));
      raw_ms = b.to_hello_ms;
      raw_guest.samples.push_back(b.guest_boot_ms);
      return {};
    };
    if (raw_first) FIRERUN_CO_CHECK(run_raw());

    const auto t0 = Clock::now();
    auto booted = co_await boot(ctx, spec);
    const auto t1 = Clock::now();
    if (!booted) co_return std::move(booted).error();
    std::unique_ptr<Vm> vm = std::move(*booted);
    firerun_boot.samples.push_back(ms_between(t0, t1));
    guest.samples.push_back(static_cast<double>(vm->info().guest_boot_time.count()));

    const auto s0 = Clock::now();
    auto stopped = co_await vm->stop();
    if (!stopped) co_return std::move(stopped).error().with_context("stopping a benchmark VM");
    stop.samples.push_back(ms_between(s0, Clock::now()));
    vm.reset();

    if (!raw_first) FIRERUN_CO_CHECK(run_raw());
    raw.samples.push_back(raw_ms);
    host_side.samples.push_back(firerun_boot.samples.back() - guest.samples.back());
    raw_host_side.samples.push_back(raw_ms - raw_guest.samples.back());
    paired.samples.push_back(firerun_boot.samples.back() / raw_ms);
    progress("cold boot " + std::to_string(i + 1) + "/" + std::to_string(ctx.options.runs) + ": firerun " +
             std::to_string(static_cast<int>(firerun_boot.samples.back())) + " ms, raw QEMU " +
             std::to_string(static_cast<int>(raw_ms)) + " ms");
  }
  co_return std::vector<Measurement>{firerun_boot, guest, host_side, raw, raw_guest, raw_host_side, paired, stop};
}

Task<ScenarioResult> measure_exec_true(BenchContext& ctx) {
  const VmSpec spec = spec_for(ctx, ctx.boot_image);
  auto booted = co_await boot(ctx, spec);
  if (!booted) co_return std::move(booted).error();
  std::unique_ptr<Vm> vm = std::move(*booted);

  ExecRequest request;
  request.argv = {"true"};
  Measurement exec{"exec_true_round_trip", "exec `true` round trip (running VM)", "ms", {}};
  // One unmeasured warm-up: the first exec pages the binary in.
  for (unsigned i = 0; i <= ctx.options.exec_runs; ++i) {
    const auto t0 = Clock::now();
    auto result = co_await vm->exec(request);
    const auto t1 = Clock::now();
    if (!result || result->exit_code != 0) {
      (void)co_await vm->kill();
      if (!result) co_return std::move(result).error().with_context("exec `true`");
      co_return Error(Errc::guest_failed, "exec `true` did not exit with 0");
    }
    if (i > 0) exec.samples.push_back(ms_between(t0, t1));
  }
  auto stopped = co_await vm->stop();
  if (!stopped) co_return std::move(stopped).error().with_context("stopping a benchmark VM");
  progress("exec round trips: " + std::to_string(exec.samples.size()));
  co_return std::vector<Measurement>{exec};
}

Task<ScenarioResult> measure_python_first_output(BenchContext& ctx) {
  if (!ctx.python_image) co_return Error(Errc::not_found, "no python image in the cache (firerun image build python)");
  const VmSpec spec = spec_for(ctx, *ctx.python_image);
  ExecRequest request;
  request.argv = {"python3", "-c", "print(\"hi\")"};
  Measurement first{"python_start_to_first_output", "python print(\"hi\"): start() to first stdout", "ms", {}};

  for (unsigned i = 0; i < ctx.options.runs; ++i) {
    FIRERUN_CO_TRY(auto vm, ctx.backend->create(spec));
    std::optional<Clock::time_point> first_chunk;
    OutputSink sink;
    sink.on_stdout = [&first_chunk](std::string_view) {
      if (!first_chunk) first_chunk = Clock::now();
    };

    const auto t0 = Clock::now();
    auto started = co_await vm->start();
    if (!started) co_return std::move(started).error().with_context("booting the python VM");
    note_accelerator(ctx, *vm);
    auto result = co_await vm->exec(request, &sink);
    if (!result) co_return std::move(result).error().with_context("running python3");
    if (result->exit_code != 0 || !first_chunk || result->stdout_data != "hi\n")
      co_return Error(Errc::guest_failed, "python3 -c 'print(\"hi\")' did not print hi and exit 0; stderr: " +
                                              result->stderr_data.substr(0, 500));
    first.samples.push_back(ms_between(t0, *first_chunk));
    auto stopped = co_await vm->stop();
    if (!stopped) co_return std::move(stopped).error().with_context("stopping the python VM");
    progress("python first output " + std::to_string(i + 1) + "/" + std::to_string(ctx.options.runs) + ": " +
             std::to_string(static_cast<int>(first.samples.back())) + " ms");
  }
  co_return std::vector<Measurement>{first};
}

// The snapshot every restore/pool row uses, created once per run in a
// private directory (so the benchmark never reuses a stale snapshot).
Task<Result<Snapshot>> bench_snapshot(BenchContext& ctx) {
  if (!ctx.snapshot) {
    SnapshotCache cache(ctx.scratch_dir / "snapshots");
    auto snap = co_await cache.get_or_create(*ctx.backend, spec_for(ctx, ctx.boot_image), ctx.boot_image.hash);
    if (!snap) co_return std::move(snap).error().with_context("creating the benchmark snapshot");
    ctx.snapshot = *snap;
  }
  co_return *ctx.snapshot;
}

Task<ScenarioResult> measure_restore(BenchContext& ctx) {
  auto snap_r = co_await bench_snapshot(ctx);
  if (!snap_r) co_return std::move(snap_r).error();
  const Snapshot snap = *snap_r;
  Measurement restore{"restore_to_agent_ready", "restore to agent-ready (snapshot)", "ms", {}};
  Measurement pss_restored{"idle_pss_restored", "host memory (PSS) of an idle restored VM", "MiB", {}};
  Measurement pss_cold{"idle_pss_cold_boot", "host memory (PSS) of an idle cold-booted VM", "MiB", {}};
  for (unsigned i = 0; i < ctx.options.runs; ++i) {
    FIRERUN_CO_TRY(auto vm, ctx.backend->restore(snap));
    const auto t0 = Clock::now();
    auto started = co_await vm->start();
    const auto t1 = Clock::now();
    if (!started) co_return std::move(started).error().with_context("restoring a benchmark VM");
    restore.samples.push_back(ms_between(t0, t1));
    if (i == 0) {
      // Memory per idle VM, restored vs cold-booted, measured the same way.
      co_await sleep_for(ctx.executor, ctx.options.idle_settle);
      auto restored_pss = pss_kib(vm->info().vmm_pid);
      auto cold = co_await boot(ctx, spec_for(ctx, ctx.boot_image));
      if (!cold) co_return std::move(cold).error();
      co_await sleep_for(ctx.executor, ctx.options.idle_settle);
      auto cold_pss = pss_kib((*cold)->info().vmm_pid);
      (void)co_await (*cold)->kill();
      if (restored_pss && cold_pss) {
        pss_restored.samples.push_back(*restored_pss / 1024.0);
        pss_cold.samples.push_back(*cold_pss / 1024.0);
      }
    }
    (void)co_await vm->kill();
    progress("restore " + std::to_string(i + 1) + "/" + std::to_string(ctx.options.runs) + ": " +
             std::to_string(static_cast<int>(restore.samples.back())) + " ms");
  }
  std::vector<Measurement> out{restore};
  if (!pss_restored.samples.empty()) {
    out.push_back(pss_restored);
    out.push_back(pss_cold);
  }
  co_return out;
}

Task<ScenarioResult> measure_pool_acquire(BenchContext& ctx) {
  auto snap_r = co_await bench_snapshot(ctx);
  if (!snap_r) co_return std::move(snap_r).error();
  PoolOptions options;
  options.min_ready = 1;
  options.max_ready = 1;
  WarmPool pool(ctx.executor, ctx.backend, spec_for(ctx, ctx.boot_image), options, *snap_r);
  pool.start();
  ExecRequest request;
  request.argv = {"true"};
  Measurement acquire{"pool_acquire_to_first_exec", "pool acquire to first exec of `true`", "ms", {}};
  for (unsigned i = 0; i < ctx.options.runs; ++i) {
    // Measure the pool's hit path: wait until the background refill is done.
    while (pool.ready() == 0) co_await sleep_for(ctx.executor, std::chrono::milliseconds(20));
    const auto t0 = Clock::now();
    auto got = co_await pool.acquire();
    if (!got) {
      co_await pool.shutdown();
      co_return std::move(got).error().with_context("acquiring from the pool");
    }
    auto result = co_await got->vm->exec(request);
    const auto t1 = Clock::now();
    (void)co_await got->vm->kill();
    if (!result || result->exit_code != 0) {
      co_await pool.shutdown();
      co_return Error(Errc::guest_failed, "exec `true` in a pooled VM failed");
    }
    acquire.samples.push_back(ms_between(t0, t1));
  }
  co_await pool.shutdown();
  progress("pool acquires: " + std::to_string(acquire.samples.size()));
  co_return std::vector<Measurement>{acquire};
}

std::vector<Scenario> builtin_scenarios() {
  return {
      {"cold_boot", &measure_cold_boot},
      {"exec_true", &measure_exec_true},
      {"python_first_output", &measure_python_first_output},
      {"restore_to_agent_ready", &measure_restore},
      {"pool_acquire_to_first_exec", &measure_pool_acquire},
  };
}

std::vector<RatioSpec> builtin_ratios() {
  return {
      {"cold_boot_vs_raw_qemu", "cold_boot_to_agent_ready", "raw_qemu_boot_to_agent_hello", "p50", 1.10},
      {"cold_boot_vs_raw_qemu_min", "cold_boot_to_agent_ready", "raw_qemu_boot_to_agent_hello", "min", std::nullopt},
      {"guest_boot_vs_raw_qemu", "guest_kernel_to_agent_ready", "raw_guest_kernel_to_agent_hello", "p50", std::nullopt},
      {"host_side_vs_raw_qemu", "cold_boot_host_side", "raw_qemu_host_side", "p50", std::nullopt},
      {"restore_vs_cold_boot", "restore_to_agent_ready", "cold_boot_to_agent_ready", "p50", 0.10},
      {"pool_acquire_vs_cold_boot", "pool_acquire_to_first_exec", "cold_boot_to_agent_ready", "p50", 0.02},
      {"idle_memory_restored_vs_cold", "idle_pss_restored", "idle_pss_cold_boot", "p50", 1.0},
  };
}

namespace {

struct Started {
  Status status;
  double boot_ms = 0;   // this VM's start() latency
  double done_ms = 0;   // since the sweep's t0
};

// Arguments are pointers into the caller's frame, which waits for every start to finish.
Task<void> start_one(Vm* vm, Started* out, Clock::time_point t0, std::size_t* remaining, asio::steady_timer* all_done) {
  const auto s0 = Clock::now();
  auto status = co_await vm->start();
  const auto s1 = Clock::now();
  out->status = std::move(status);
  out->boot_ms = ms_between(s0, s1);
  out->done_ms = ms_between(t0, s1);
  // Moving the expiry to "now" also wakes a waiter that has not started waiting yet.
  if (--*remaining == 0) all_done->expires_at(Clock::now());
}

}  // namespace

Task<Result<SweepPoint>> measure_concurrency(BenchContext& ctx, unsigned n) {
  const VmSpec spec = spec_for(ctx, ctx.boot_image);
  std::vector<std::unique_ptr<Vm>> vms;
  for (unsigned i = 0; i < n; ++i) {
    FIRERUN_CO_TRY(auto vm, ctx.backend->create(spec));
    vms.push_back(std::move(vm));
  }
  std::vector<Started> started(n);
  std::size_t remaining = n;
  asio::steady_timer all_done(ctx.executor, Clock::time_point::max());
  const auto t0 = Clock::now();
  for (unsigned i = 0; i < n; ++i)
    asio::co_spawn(ctx.executor, start_one(vms[i].get(), &started[i], t0, &remaining, &all_done), asio::detached);
  while (remaining > 0) co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));

  auto kill_all = [&]() -> Task<void> {
    for (auto& vm : vms) (void)co_await vm->kill();
  };
  SweepPoint point;
  point.concurrency = n;
  for (auto& s : started) {
    if (!s.status) {
      co_await kill_all();
      co_return std::move(s.status).error().with_context(std::to_string(n) + " concurrent boots");
    }
    point.boot_ms.push_back(s.boot_ms);
    point.wall_ms = std::max(point.wall_ms, s.done_ms);
  }
  note_accelerator(ctx, *vms.front());
  point.vms_per_second = point.wall_ms > 0 ? n / (point.wall_ms / 1000.0) : 0;

  // Idle: every guest agent is waiting for work; let page-ins from boot settle.
  co_await sleep_for(ctx.executor, ctx.options.idle_settle);
  for (auto& vm : vms) {
    auto pss = pss_kib(vm->info().vmm_pid);
    if (!pss) {
      co_await kill_all();
      co_return std::move(pss).error().with_context("reading QEMU's memory use");
    }
    point.pss_total_kib += *pss;
  }
  point.pss_per_vm_kib = static_cast<double>(point.pss_total_kib) / n;
  co_await kill_all();
  progress("sweep " + std::to_string(n) + " VMs: " + std::to_string(static_cast<int>(point.wall_ms)) + " ms, " +
           std::to_string(point.pss_total_kib / 1024 / n) + " MiB PSS per idle VM");
  co_return point;
}

}  // namespace firerun::bench
