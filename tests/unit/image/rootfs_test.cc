#include "image/rootfs.h"

#include <gtest/gtest.h>

#include <fstream>

namespace firerun::image::detail {
namespace {
namespace fs = std::filesystem;

class Rootfs : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("firerun-rootfs-" + std::to_string(::getpid()));
    root_ = base_ / "root";
    outside_ = base_ / "outside";
    fs::create_directories(root_);
    fs::create_directories(outside_);
  }
  void TearDown() override { fs::remove_all(base_); }
  fs::path base_, root_, outside_;
};

TEST_F(Rootfs, AbsoluteSymlinksStayInsideTheRoot) {
  fs::create_directories(root_ / "usr" / "lib");
  fs::create_directory_symlink(outside_, root_ / "escape");         // absolute: host path
  fs::create_directory_symlink("../../../../..", root_ / "up");     // climbs above root
  fs::create_directory_symlink("/usr/lib", root_ / "lib");
  auto p = path_in_root(root_, "/escape/file");
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, root_ / outside_.relative_path() / "file");
  ASSERT_TRUE(write_in_root(root_, "/escape/file", "x", 0644));
  ASSERT_TRUE(write_in_root(root_, "/up/etc/evil", "x", 0644));
  EXPECT_TRUE(fs::is_empty(outside_));
  EXPECT_TRUE(fs::exists(root_ / "etc" / "evil"));
  EXPECT_EQ(*path_in_root(root_, "/lib/x.so"), root_ / "usr" / "lib" / "x.so");
  EXPECT_EQ(*resolve_in_root(root_, "/lib"), root_ / "usr" / "lib");
  ASSERT_TRUE(remove_in_root(root_, "/escape/file"));
  EXPECT_FALSE(remove_in_root(root_, "/up/.."));  // resolves to the root itself
  ASSERT_TRUE(remove_in_root(root_, "/up"));        // removes the link, not its target
  EXPECT_TRUE(fs::exists(root_ / "etc" / "evil"));
  fs::create_symlink("loop", root_ / "loop");
  EXPECT_FALSE(resolve_in_root(root_, "/loop/x"));
}

TEST_F(Rootfs, MergeUsrMovesTopLevelDirectories) {
  fs::create_directories(root_ / "bin");
  fs::create_directories(root_ / "lib" / "x86_64-linux-gnu");
  fs::create_directories(root_ / "lib64");
  fs::create_directories(root_ / "usr" / "bin");
  std::ofstream(root_ / "bin" / "bash") << "bash";
  std::ofstream(root_ / "bin" / "clash") << "top";
  std::ofstream(root_ / "usr" / "bin" / "clash") << "usr";
  std::ofstream(root_ / "lib" / "x86_64-linux-gnu" / "ld-linux-x86-64.so.2") << "ld";
  fs::create_symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", root_ / "lib64" / "ld-linux-x86-64.so.2");
  std::vector<std::string> conflicts;
  ASSERT_TRUE(merge_usr(root_, conflicts));
  EXPECT_EQ(fs::read_symlink(root_ / "bin"), fs::path("usr/bin"));
  EXPECT_EQ(fs::read_symlink(root_ / "sbin"), fs::path("usr/sbin"));
  EXPECT_TRUE(fs::is_regular_file(root_ / "usr" / "bin" / "bash"));
  std::ifstream clash(root_ / "usr" / "bin" / "clash");
  std::string content;
  clash >> content;
  EXPECT_EQ(content, "usr");
  EXPECT_EQ(conflicts, std::vector<std::string>{"/bin/clash"});
  auto ld = resolve_in_root(root_, "/lib64/ld-linux-x86-64.so.2");
  ASSERT_TRUE(ld);
  EXPECT_EQ(*ld, root_ / "usr" / "lib" / "x86_64-linux-gnu" / "ld-linux-x86-64.so.2");
}

TEST_F(Rootfs, MergeTreeLaterPackageWinsFilesButNeverReplacesDirectories) {
  fs::create_directories(base_ / "pkg" / "etc" / "dir");
  std::ofstream(base_ / "pkg" / "etc" / "conf") << "new";
  std::ofstream(base_ / "pkg" / "etc" / "dir" / "f") << "f";
  fs::create_directories(root_ / "etc");
  std::ofstream(root_ / "etc" / "conf") << "old";
  std::ofstream(root_ / "etc" / "dir") << "a file where pkg has a directory";
  std::vector<std::string> conflicts;
  ASSERT_TRUE(merge_tree(base_ / "pkg", root_, true, conflicts));
  std::ifstream conf(root_ / "etc" / "conf");
  std::string c;
  conf >> c;
  EXPECT_EQ(c, "new");
  EXPECT_TRUE(fs::is_regular_file(root_ / "etc" / "dir"));
  EXPECT_EQ(conflicts.size(), 2u);
  EXPECT_FALSE(fs::exists(base_ / "pkg"));
}

}  // namespace
}  // namespace firerun::image::detail
