#include "firerun/vm.h"
#include "firerun/vm/qemu.h"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

namespace firerun {
namespace {

TEST(VmRegistry, QemuIsBuiltIn) {
  auto names = vm_backends().list();
  auto it = std::find_if(names.begin(), names.end(), [](const BackendInfo& b) { return b.name == "qemu"; });
  ASSERT_NE(it, names.end());
  EXPECT_FALSE(it->description.empty());
}

TEST(VmRegistry, UnknownBackendListsTheKnownOnes) {
  boost::asio::io_context ctx;
  auto r = open_vm_backend("bhyve:///", ctx.get_executor());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errc(), Errc::not_found);
  EXPECT_NE(r.error().message().find("qemu"), std::string::npos) << r.error().what();
}

TEST(VmRegistry, DuplicateRegistrationIsAnError) {
  auto factory = vm_backends().find("qemu");
  ASSERT_TRUE(factory);
  auto again = vm_backends().add(*factory);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().errc(), Errc::already_exists);
}

TEST(QemuOptionsUri, ParsesKnownKeysAndRejectsOthers) {
  auto o = QemuOptions::from_uri("qemu:///?accel=tcg&machine=pc&sandbox=off&binary=/opt/q");
  ASSERT_TRUE(o) << o.error().what();
  EXPECT_EQ(o->accel, "tcg");
  EXPECT_EQ(o->machine, "pc");
  EXPECT_FALSE(o->sandbox);
  EXPECT_EQ(o->binary, "/opt/q");
  EXPECT_TRUE(QemuOptions::from_uri("qemu"));
  EXPECT_FALSE(QemuOptions::from_uri("qemu:///?accel=hvf"));
  EXPECT_FALSE(QemuOptions::from_uri("qemu:///?colour=blue"));
  EXPECT_FALSE(QemuOptions::from_uri("qemu:///?machine=q35%00"));
}

TEST(QemuBackend, MissingBinaryIsAClearError) {
  boost::asio::io_context ctx;
  auto r = open_vm_backend("qemu:///?binary=/nonexistent/qemu", ctx.get_executor());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errc(), Errc::not_found);
  EXPECT_NE(r.error().what().find("/nonexistent/qemu"), std::string::npos) << r.error().what();
}

TEST(QemuBackend, CreateValidatesTheSpec) {
  boost::asio::io_context ctx;
  auto backend = open_vm_backend("qemu", ctx.get_executor());
  ASSERT_TRUE(backend) << backend.error().what();
  VmSpec bad;
  bad.vcpus = 0;
  auto vm = (*backend)->create(bad);
  ASSERT_FALSE(vm);
  EXPECT_EQ(vm.error().errc(), Errc::invalid_argument);
  EXPECT_NE(vm.error().what().find("vcpus"), std::string::npos);
}

}  // namespace
}  // namespace firerun
