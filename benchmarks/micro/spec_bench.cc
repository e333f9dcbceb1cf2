// VmSpec validation against the two stat() calls it cannot avoid.
#include "firerun/vm.h"

#include <benchmark/benchmark.h>

#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace {
using namespace firerun;

// Two small files standing in for a kernel and an initrd (removed at exit).
struct BootFiles {
  std::filesystem::path dir;
  BootFiles() {
    char tmpl[] = "/tmp/firerun-bench-spec-XXXXXX";
    dir = ::mkdtemp(tmpl);
    std::ofstream(dir / "vmlinuz") << "kernel";
    std::ofstream(dir / "initrd.cpio") << "initrd";
  }
  ~BootFiles() { std::filesystem::remove_all(dir); }
};

const BootFiles& boot_files() {
  static BootFiles files;
  return files;
}

VmSpec sample_spec() {
  VmSpec spec;
  spec.name = "bench-vm-1";
  spec.kernel = boot_files().dir / "vmlinuz";
  spec.initrd = boot_files().dir / "initrd.cpio";
  spec.kernel_cmdline = "rdinit=/init firerun.env=1";
  return spec;
}

void validate_firerun(benchmark::State& state) {
  const VmSpec spec = sample_spec();
  for (auto _ : state) {
    auto status = validate(spec);
    if (!status) state.SkipWithError("validate failed");
    benchmark::DoNotOptimize(status);
  }
}

// Baseline: just the two stat() calls on kernel and initrd.
void validate_baseline(benchmark::State& state) {
  const VmSpec spec = sample_spec();
  const std::string kernel = spec.kernel.string(), initrd = spec.initrd.string();
  for (auto _ : state) {
    struct stat a {}, b {};
    int r = ::stat(kernel.c_str(), &a) | ::stat(initrd.c_str(), &b);
    benchmark::DoNotOptimize(r);
  }
}

BENCHMARK(validate_firerun)->Name("vm/validate_spec/firerun");
BENCHMARK(validate_baseline)->Name("vm/validate_spec/baseline");

}  // namespace
