// firerun-bench: how fast firerun boots microVMs, measured against raw QEMU
// booting the same kernel and initramfs in the same run. See docs/performance.md.
#include "host_facts.h"
#include "report.h"
#include "scenarios.h"

#include "firerun/jail.h"
#include "firerun/version.h"

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>

#include <ctime>
#include <fstream>
#include <cstdlib>
#include <filesystem>
#include <iostream>

using namespace firerun;
using namespace firerun::bench;

namespace {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

boost::json::object image_json(const image::Image& img) {
  return {{"hash", img.hash}, {"kernel_release", img.kernel_release}, {"dir", img.dir.string()}};
}

bool is_unavailable(const Error& e) { return e == Errc::not_found || e == Errc::unsupported; }

// Runs every scenario and the sweep; false when something that should work failed.
Task<bool> run_all(BenchContext& ctx, Report& report) {
  bool ok = true;
  for (const auto& scenario : builtin_scenarios()) {
    auto result = co_await scenario.run(ctx);
    if (!result) {
      std::cerr << "firerun-bench: " << scenario.id << ": " << result.error().what() << "\n";
      ok = ok && is_unavailable(result.error());
      report.skipped.push_back({scenario.id, result.error().what()});
      continue;
    }
    for (auto& m : *result) report.measurements.push_back(std::move(m));
  }
  for (unsigned n : ctx.options.sweep) {
    auto point = co_await measure_concurrency(ctx, n);
    if (!point) {
      std::cerr << "firerun-bench: sweep " << n << ": " << point.error().what() << "\n";
      ok = false;
      report.skipped.push_back({"sweep_" + std::to_string(n), point.error().what()});
      continue;
    }
    report.sweep.push_back(std::move(*point));
  }
  co_return ok;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"firerun-bench: microVM boot latency, exec latency and density, with a raw-QEMU baseline"};
  BenchOptions options;
  std::string image_name = "bash", python_name = "python", accel = "auto", machine = "microvm", cache, json_path;
  bool quick = false;
  unsigned timeout_s = 120;
  app.add_option("-n,--runs", options.runs, "Boots per boot-latency row")->check(CLI::Range(1u, 10000u));
  app.add_option("--exec-runs", options.exec_runs, "exec round trips")->check(CLI::Range(1u, 100000u));
  app.add_option("--image", image_name, "Image for cold boot, exec and the sweep")->capture_default_str();
  app.add_option("--python-image", python_name, "Image with python3 for the first-output row")->capture_default_str();
  app.add_option("--accel", accel, "auto | kvm | tcg")->check(CLI::IsMember({"auto", "kvm", "tcg"}))->capture_default_str();
  app.add_option("--machine", machine, "microvm | pc")->check(CLI::IsMember({"microvm", "pc"}))->capture_default_str();
  app.add_option("--cache", cache, "Image cache directory (default: $XDG_CACHE_HOME/firerun)");
  app.add_option("--sweep", options.sweep, "Concurrency levels, e.g. 1,2,4,8")->delimiter(',')->check(CLI::Range(1u, 64u));
  app.add_option("--memory", options.memory_mib, "Guest memory in MiB")->capture_default_str();
  app.add_option("--vcpus", options.vcpus, "Guest vCPUs")->capture_default_str();
  app.add_option("--boot-timeout", timeout_s, "Seconds before a boot counts as failed")->capture_default_str();
  app.add_option("--json", json_path, "Also write the results as JSON to this file");
  app.add_flag("--quick", quick, "Smoke-test size: 2 boots, 10 execs, sweep 1 and 2");
  bool no_jail = false;
  app.add_flag("--no-jail", no_jail, "Run firerun's VMMs unjailed (to measure what the jail costs)");
  CLI11_PARSE(app, argc, argv);

  if (quick) {
    if (app.count("--runs") == 0) options.runs = 2;
    if (app.count("--exec-runs") == 0) options.exec_runs = 10;
    if (app.count("--sweep") == 0) options.sweep = {1, 2};
  }
  options.boot_timeout = std::chrono::seconds(timeout_s);
  const std::filesystem::path cache_root = cache.empty() ? image::default_cache_root() : std::filesystem::path(cache);

  auto boot_image = image::find_image(image_name, cache_root);
  if (!boot_image) {
    std::cerr << "firerun-bench: " << boot_image.error().what() << "\n  build it with: firerun image build "
              << image_name << " --cache " << cache_root.string() << "\n";
    return 2;
  }
  const std::string uri = "qemu:///?accel=" + accel + "&machine=" + machine;
  auto qemu_options = QemuOptions::from_uri(uri);
  if (!qemu_options) {
    std::cerr << "firerun-bench: " << qemu_options.error().what() << "\n";
    return 2;
  }

  boost::asio::io_context io;
  JailOptions jail;
  jail.enabled = !no_jail;
  auto backend = open_vm_backend(uri, io.get_executor(), jail);
  if (!backend) {
    std::cerr << "firerun-bench: " << backend.error().what() << "\n";
    return 2;
  }

  // Snapshots made for the restore/pool rows live only as long as this run.
  std::string scratch_tmpl = (std::filesystem::temp_directory_path() / "firerun-bench-XXXXXX").string();
  if (!::mkdtemp(scratch_tmpl.data())) {
    std::cerr << "firerun-bench: cannot create a scratch directory\n";
    return 2;
  }
  struct ScratchGuard {
    std::filesystem::path dir;
    ~ScratchGuard() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } scratch{scratch_tmpl};

  BenchContext ctx{io.get_executor(), *backend, *qemu_options, options, *boot_image, std::nullopt, scratch.dir,
                   std::nullopt, {}, {}};
  Report report;
  report.images[image_name] = image_json(*boot_image);
  if (auto py = image::find_image(python_name, cache_root)) {
    ctx.python_image = *py;
    report.images[python_name] = image_json(*py);
  }
  boost::json::array sweep;
  for (unsigned n : options.sweep) sweep.push_back(n);
  report.config = {{"firerun_version", FIRERUN_VERSION_STRING},
                   {"started_at", utc_now()},
                   {"quick", quick},
                   {"runs", options.runs},
                   {"exec_runs", options.exec_runs},
                   {"sweep", std::move(sweep)},
                   {"image", image_name},
                   {"python_image", python_name},
                   {"accel_requested", accel},
                   {"machine", machine},
                   {"vcpus", options.vcpus},
                   {"memory_mib", options.memory_mib},
                   {"cache", cache_root.string()}};
  report.host = host_facts();
  report.ratio_specs = builtin_ratios();

  bool ok = false;
  bool finished = false;
  boost::asio::co_spawn(io, run_all(ctx, report), [&](std::exception_ptr e, bool result) {
    finished = true;
    ok = result && !e;
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::cerr << "firerun-bench: " << ex.what() << "\n";
      }
    }
  });
  io.run();
  if (!finished) ok = false;

  report.host["loadavg_end"] = load_average();
  report.vmm = {{"backend", "qemu"},
                {"binary", qemu_options->binary},
                {"qemu_version", qemu_version(qemu_options->binary)},
                {"machine", machine},
                {"accelerator", ctx.accelerator},
                {"accel_reason", ctx.accel_reason}};

  std::cout << "\n";
  print_report(std::cout, report);
  if (!json_path.empty()) {
    std::ofstream out(json_path, std::ios::trunc);
    out << boost::json::serialize(to_json(report)) << "\n";
    if (!out) {
      std::cerr << "firerun-bench: cannot write " << json_path << "\n";
      return 1;
    }
  }
  return ok ? 0 : 1;
}
