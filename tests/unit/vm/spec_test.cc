#include "firerun/vm.h"

#include <gtest/gtest.h>

#include <fstream>

namespace firerun {
namespace {

class SpecValidation : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("spec-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "vmlinuz") << "k";
    std::ofstream(dir_ / "initrd") << "i";
    spec_.kernel = dir_ / "vmlinuz";
    spec_.initrd = dir_ / "initrd";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void expect_rejected(const std::string& field) {
    auto r = validate(spec_);
    ASSERT_FALSE(r) << "spec with bad " << field << " accepted";
    EXPECT_EQ(r.error().errc(), Errc::invalid_argument);
    EXPECT_EQ(r.error().message().rfind(field + ":", 0), 0u) << "error must name the field: " << r.error().what();
  }

  std::filesystem::path dir_;
  VmSpec spec_;
};

TEST_F(SpecValidation, AcceptsAMinimalSpec) { EXPECT_TRUE(validate(spec_)); }

TEST_F(SpecValidation, RejectsOutOfRangeResources) {
  spec_.vcpus = 0;
  expect_rejected("vcpus");
  spec_.vcpus = 65;
  expect_rejected("vcpus");
  spec_.vcpus = 1;
  spec_.memory_mib = 16;
  expect_rejected("memory_mib");
  spec_.memory_mib = 1u << 20;
  expect_rejected("memory_mib");
}

TEST_F(SpecValidation, RequiresBootableFiles) {
  auto good = spec_;
  spec_.kernel.clear();
  expect_rejected("kernel");
  spec_.kernel = dir_ / "missing";
  expect_rejected("kernel");
  spec_ = good;
  spec_.initrd.clear();
  expect_rejected("initrd");
  spec_.root_drive = DriveSpec{dir_ / "missing.img"};
  expect_rejected("root_drive");
  spec_ = good;
  spec_.drives.push_back(DriveSpec{dir_});  // a directory is not a drive image
  expect_rejected("drives[0]");
}

TEST_F(SpecValidation, RejectsHostileStrings) {
  spec_.kernel_cmdline = "console=ttyS0\ninit=/bin/sh";
  expect_rejected("kernel_cmdline");
  spec_.kernel_cmdline = std::string(4096, 'a');
  expect_rejected("kernel_cmdline");
  spec_.kernel_cmdline.clear();
  spec_.name = "vm,file=/etc/passwd";  // would inject QEMU options
  expect_rejected("name");
  spec_.name = "ok-name_1.2";
  EXPECT_TRUE(validate(spec_));
}

TEST_F(SpecValidation, NetworkIsOffByDefault) { EXPECT_FALSE(VmSpec{}.network); }

}  // namespace
}  // namespace firerun
