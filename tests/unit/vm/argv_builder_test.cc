// Golden tests for the pure VmSpec → QEMU argv translation.
// Regenerate with FIRERUN_REGENERATE_GOLDEN=1 after an intended change.
#include "vm/qemu/argv_builder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace firerun::qemu {
namespace {

std::string join_lines(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += a + "\n";
  return out;
}

void expect_golden(const std::string& name, const std::vector<std::string>& argv) {
  const std::string path = std::string(FIRERUN_GOLDEN_DIR) + "/" + name + ".argv";
  const std::string actual = join_lines(argv);
  if (std::getenv("FIRERUN_REGENERATE_GOLDEN")) {
    std::ofstream(path) << actual;
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing golden file " << path << " (run with FIRERUN_REGENERATE_GOLDEN=1)";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(actual, expected.str()) << "argv differs from " << path;
}

VmSpec sample_spec() {
  VmSpec spec;
  spec.name = "vm-golden";
  spec.vcpus = 2;
  spec.memory_mib = 512;
  spec.kernel = "/images/vmlinuz";
  spec.initrd = "/images/initrd.cpio";
  spec.kernel_cmdline = "rdinit=/init";
  return spec;
}

constexpr ChannelFds kFds{10, 11, 12};

TEST(QemuArgv, MicrovmUnderTcg) {
  expect_golden("microvm-tcg", build_qemu_argv(QemuOptions{}, sample_spec(), {"tcg", "test"}, kFds));
}

TEST(QemuArgv, PcUnderKvmWithDrivesAndNetwork) {
  QemuOptions options;
  options.machine = "pc";
  auto spec = sample_spec();
  spec.root_drive = DriveSpec{"/images/root.img", true};
  spec.drives.push_back(DriveSpec{"/data/with,comma.img", false});
  spec.network = true;
  expect_golden("pc-kvm-drives-net", build_qemu_argv(options, spec, {"kvm", "test"}, kFds));
}

TEST(QemuArgv, NoNetworkDeviceUnlessAsked) {
  auto argv = build_qemu_argv(QemuOptions{}, sample_spec(), {"tcg", "test"}, kFds);
  EXPECT_NE(std::find(argv.begin(), argv.end(), "-nodefaults"), argv.end());
  for (const auto& a : argv) {
    EXPECT_EQ(a.find("netdev"), std::string::npos) << a;
    EXPECT_EQ(a.find("virtio-net"), std::string::npos) << a;
  }
}

TEST(QemuArgv, TscPresetOnlyUnderTcg) {
  EXPECT_NE(base_kernel_cmdline(QemuOptions{}, {"tcg", ""}).find("tsc_early_khz="), std::string::npos);
  EXPECT_EQ(base_kernel_cmdline(QemuOptions{}, {"kvm", ""}).find("tsc_early_khz="), std::string::npos);
}

TEST(QemuArgv, SandboxCanBeDisabled) {
  QemuOptions options;
  options.sandbox = false;
  auto argv = build_qemu_argv(options, sample_spec(), {"tcg", "test"}, kFds);
  EXPECT_EQ(std::find(argv.begin(), argv.end(), "-sandbox"), argv.end());
}

}  // namespace
}  // namespace firerun::qemu
