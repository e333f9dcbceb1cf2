// What firerun-bench measures. Each latency scenario is a free coroutine that
// returns whole Measurements (or an error saying why it cannot run here); the
// list in builtin_scenarios() and the ratios in builtin_ratios() are the
// extension points.
//
// Adding a row: write one `Task<ScenarioResult> measure_<row>(BenchContext&)`,
// append {id, fn} to builtin_scenarios(), and optionally a RatioSpec to
// builtin_ratios(). A scenario that cannot run on this host returns an error
// and is listed under "skipped" instead of reporting a number.
#pragma once

#include "report.h"

#include "firerun/error.h"
#include "firerun/image.h"
#include "firerun/vm.h"
#include "firerun/vm/qemu.h"

#include <filesystem>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace firerun::bench {

/// Options shared by every scenario.
struct BenchOptions {
  unsigned runs = 10;             ///< boots per boot-latency row
  unsigned exec_runs = 50;        ///< round trips for the exec row
  std::vector<unsigned> sweep = {1, 2, 4, 8};
  unsigned vcpus = 1;
  std::uint64_t memory_mib = 256;
  std::chrono::milliseconds idle_settle{2000};  ///< wait before reading PSS of idle VMs
  std::chrono::milliseconds boot_timeout{120000};
};

/// Everything a scenario needs; owned by main().
struct BenchContext {
  boost::asio::any_io_executor executor;
  std::shared_ptr<VmBackend> backend;
  QemuOptions qemu;                      ///< the same options the backend was opened with
  BenchOptions options;
  image::Image boot_image;               ///< cold boot, exec and sweep
  std::optional<image::Image> python_image;
  std::filesystem::path scratch_dir;      ///< private per-run directory (snapshots)
  std::optional<Snapshot> snapshot;      ///< created by the first restore/pool scenario
  std::string accelerator;               ///< filled by the first VM that boots (VmInfo)
  std::string accel_reason;
};

/// A VmSpec for an image with the benchmark's size and timeout.
VmSpec spec_for(const BenchContext& ctx, const image::Image& image);

using ScenarioResult = Result<std::vector<Measurement>>;
using ScenarioFn = Task<ScenarioResult> (*)(BenchContext&);

/// A named latency scenario.
struct Scenario {
  std::string id;  ///< names the scenario in "skipped" when it cannot run
  ScenarioFn run;
};

/// Cold boot to agent-ready, interleaved with the raw-QEMU baseline; also
/// records the guest's own boot time and graceful stop.
Task<ScenarioResult> measure_cold_boot(BenchContext& ctx);
/// Round trip of exec `true` in one running VM.
Task<ScenarioResult> measure_exec_true(BenchContext& ctx);
/// start() of a python VM until the first stdout chunk of print("hi").
Task<ScenarioResult> measure_python_first_output(BenchContext& ctx);

/// Restore from a snapshot to agent-ready; also idle memory restored vs cold-booted.
Task<ScenarioResult> measure_restore(BenchContext& ctx);
/// Warm-pool acquire (hit) to the first exec of `true`.
Task<ScenarioResult> measure_pool_acquire(BenchContext& ctx);

/// The scenarios run by default, in order.
std::vector<Scenario> builtin_scenarios();
/// The ratios reported when both sides were measured.
std::vector<RatioSpec> builtin_ratios();

/// Boots `n` VMs at once, reads their PSS while idle, kills them.
Task<Result<SweepPoint>> measure_concurrency(BenchContext& ctx, unsigned n);

}  // namespace firerun::bench
