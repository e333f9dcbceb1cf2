#include "vm/qemu/accel.h"

#include <gtest/gtest.h>

namespace firerun::qemu {
namespace {

class AccelChoiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("accel-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(root_ / "sys/module/kvm");
    probe_.sys_module = root_ / "sys/module";
    probe_.kvm_device = root_ / "dev-kvm-missing";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::filesystem::path root_;
  AccelProbe probe_;
};

TEST_F(AccelChoiceTest, ForcedTcgIsAlwaysHonoured) {
  auto c = choose_accelerator("tcg", probe_);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "tcg");
  EXPECT_NE(c->reason.find("forced"), std::string::npos);
}

TEST_F(AccelChoiceTest, AutoFallsBackToTcgWithoutKvmAndSaysWhy) {
  auto c = choose_accelerator("auto", probe_);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "tcg");
  EXPECT_NE(c->reason.find("dev-kvm-missing"), std::string::npos) << c->reason;
}

TEST_F(AccelChoiceTest, PvmHostIsNeverPickedAutomatically) {
  std::filesystem::create_directories(root_ / "sys/module/kvm_pvm");
  probe_.kvm_device = "/dev/null";  // exists and opens, but the host is PVM
  auto c = choose_accelerator("auto", probe_);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "tcg");
  EXPECT_NE(c->reason.find("PVM"), std::string::npos) << c->reason;
  auto forced = choose_accelerator("kvm", probe_);
  ASSERT_FALSE(forced);
  EXPECT_EQ(forced.error().errc(), Errc::unsupported);
  EXPECT_NE(forced.error().message().find("PVM"), std::string::npos);
}

TEST_F(AccelChoiceTest, NotAKvmDeviceIsRejected) {
  probe_.kvm_device = "/dev/null";  // opens, but KVM_GET_API_VERSION fails
  auto c = choose_accelerator("auto", probe_);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "tcg");
}

TEST_F(AccelChoiceTest, UnknownAcceleratorIsAnError) {
  auto c = choose_accelerator("hvf", probe_);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().errc(), Errc::invalid_argument);
}

}  // namespace
}  // namespace firerun::qemu
