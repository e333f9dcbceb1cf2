#include "firerun/image.h"
#include "image/store.h"

#include <gtest/gtest.h>

#include <fstream>

namespace firerun::image::detail {
namespace {
namespace fs = std::filesystem;

class Store : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = fs::temp_directory_path() / ("firerun-store-" + std::to_string(::getpid()));
    hash_ = std::string(64, 'a');
    entry_ = cache_ / "images" / "demo" / hash_;
    fs::create_directories(entry_);
    std::ofstream(entry_ / "vmlinuz") << std::string(4096, 'k');
    std::ofstream(entry_ / "initrd.cpio") << std::string(8192, 'i');
    std::ofstream(entry_ / "manifest.json") << "{}";
    Image img;
    img.name = "demo";
    img.hash = hash_;
    img.kernel_release = "6.1.0-test";
    img.cmdline = "rdinit=/init";
    ASSERT_TRUE(write_completion_record(entry_, img));
    fs::create_symlink(hash_, cache_ / "images" / "demo" / "current");
  }
  void TearDown() override { fs::remove_all(cache_); }
  fs::path cache_, entry_;
  std::string hash_;
};

TEST_F(Store, CompleteEntryOpens) {
  auto img = find_image("demo", cache_);
  ASSERT_TRUE(img) << img.error().what();
  EXPECT_EQ(img->hash, hash_);
  EXPECT_EQ(img->kernel_release, "6.1.0-test");
  EXPECT_EQ(img->initrd, entry_ / "initrd.cpio");
  EXPECT_EQ(find_image("nothing", cache_).error().errc(), Errc::not_found);
  EXPECT_EQ(find_image("../x", cache_).error().errc(), Errc::invalid_argument);
}

TEST_F(Store, TruncatedArtifactIsDetected) {
  fs::resize_file(entry_ / "initrd.cpio", 100);
  auto img = open_image(entry_);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().errc(), Errc::bad_state);
  EXPECT_NE(img.error().message().find("initrd.cpio has size 100"), std::string::npos);
}

TEST_F(Store, SameSizeCorruptionIsDetected) {
  std::fstream f(entry_ / "vmlinuz", std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(10);
  f.put('X');
  f.close();
  auto img = open_image(entry_);
  ASSERT_FALSE(img);
  EXPECT_NE(img.error().message().find("sha256"), std::string::npos);
}

TEST_F(Store, MissingOrForeignCompletionRecordMeansPartial) {
  fs::remove(entry_ / kCompletionFile);
  EXPECT_EQ(open_image(entry_).error().errc(), Errc::not_found);
  std::ofstream(entry_ / kCompletionFile) << "{\"format\": 1, \"name\": ";
  EXPECT_EQ(open_image(entry_).error().errc(), Errc::bad_state);
  std::ofstream(entry_ / kCompletionFile) << "{\"format\": 999}";
  EXPECT_EQ(open_image(entry_).error().errc(), Errc::bad_state);
}

TEST_F(Store, AtomicWriteReplaces) {
  ASSERT_TRUE(write_atomically(cache_ / "f", "one"));
  ASSERT_TRUE(write_atomically(cache_ / "f", "two"));
  std::ifstream in(cache_ / "f");
  std::string s;
  in >> s;
  EXPECT_EQ(s, "two");
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(cache_)) ++files;
  EXPECT_EQ(files, 2u);  // "images" and "f": no temp files left behind
}

}  // namespace
}  // namespace firerun::image::detail
