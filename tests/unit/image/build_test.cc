// End-to-end: builds the real "bash" image from Debian packages via apt.
// Uses busybox (a static binary) as a stand-in agent. The .deb cache is kept
// between runs in $FIRERUN_IMAGE_TEST_CACHE (default /tmp/firerun-image-test).
#include "firerun/image.h"
#include "image/cpio.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

namespace firerun::image {
namespace {
namespace fs = std::filesystem;

fs::path test_cache() {
  const char* env = std::getenv("FIRERUN_IMAGE_TEST_CACHE");
  return env ? fs::path(env) : fs::temp_directory_path() / "firerun-image-test";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path stand_in_agent(const fs::path& dir, const std::string& tag) {
  fs::create_directories(dir);
  fs::path agent = dir / ("agent-" + tag);
  std::string bytes = slurp("/bin/busybox");
  std::ofstream(agent, std::ios::binary) << bytes << tag;  // trailing bytes make a distinct binary
  fs::permissions(agent, fs::perms(0755));
  return agent;
}

class ImageBuild : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "busybox-static is needed as a stand-in agent";
    if (!fs::exists("/usr/bin/apt-get")) GTEST_SKIP() << "apt-get not available";
    cache_ = test_cache();
    fs::remove_all(cache_ / "images");  // images built fresh; downloaded debs reused
  }
  BuildOptions options(const fs::path& agent) {
    BuildOptions o;
    o.recipe = "bash";
    o.cache_root = cache_;
    o.agent_path = agent;
    o.progress = [this](std::string_view stage, double) { stages_.insert(std::string(stage)); };
    return o;
  }
  fs::path cache_;
  std::set<std::string> stages_;
};

TEST_F(ImageBuild, BashImageBuildsCachesAndRebuildsBrokenEntries) {
  auto agent = stand_in_agent(cache_ / "agents", "v1");
  auto img = build_image(options(agent));
  ASSERT_TRUE(img) << img.error().what();
  EXPECT_FALSE(img->from_cache);
  EXPECT_TRUE(stages_.count("resolving") && stages_.count("downloading") && stages_.count("unpacking") &&
              stages_.count("modules") && stages_.count("packing") && stages_.count("hashing"));
  EXPECT_EQ(img->dir, cache_ / "images" / "bash" / img->hash);
  EXPECT_GT(fs::file_size(img->kernel), 1u << 20);
  EXPECT_NE(img->kernel_release.find("cloud-amd64"), std::string::npos);

  // The initramfs holds the agent as /init, a working userland and the module list.
  auto entries = detail::parse_cpio(slurp(img->initrd));
  ASSERT_TRUE(entries) << entries.error().what();
  std::map<std::string, detail::CpioEntry> by_name;
  for (auto& e : *entries) by_name[e.name] = e;
  ASSERT_TRUE(by_name.count("init"));
  EXPECT_EQ(by_name["init"].data, slurp(agent));
  EXPECT_EQ(by_name["init"].mode & 0777, 0755u);
  EXPECT_EQ(by_name["bin"].data, "usr/bin");
  EXPECT_EQ(by_name["lib64"].data, "usr/lib64");
  EXPECT_TRUE(by_name.count("usr/bin/bash"));
  EXPECT_EQ(by_name["usr/bin/sh"].data, "bash");
  EXPECT_TRUE(by_name.count("usr/bin/ls"));
  EXPECT_TRUE(by_name.count("usr/lib64/ld-linux-x86-64.so.2"));
  EXPECT_TRUE(by_name.count("usr/lib/x86_64-linux-gnu/libc.so.6"));
  EXPECT_TRUE(S_ISCHR(by_name["dev/console"].mode));
  EXPECT_FALSE(by_name.count("usr/share/doc"));
  EXPECT_FALSE(by_name.count("usr/share/man"));
  const std::string& load = by_name["etc/firerun/modules.load"].data;
  EXPECT_NE(load.find("/virtio_console.ko\n"), std::string::npos);
  EXPECT_NE(load.find("/virtio_mmio.ko\n"), std::string::npos);
  EXPECT_LT(load.find("/virtio_ring.ko"), load.find("/virtio_pci.ko"));  // dependencies first
  std::istringstream lines(load);
  for (std::string line; std::getline(lines, line);) {
    ASSERT_EQ(line.rfind("/lib/modules/" + img->kernel_release + "/", 0), 0u) << line;
    EXPECT_TRUE(by_name.count("usr" + line)) << line;  // shipped, via /lib -> usr/lib
  }
  EXPECT_NE(by_name["etc/firerun/env"].data.find("PATH=/usr/local/sbin"), std::string::npos);

  auto manifest = slurp(img->manifest);
  EXPECT_NE(manifest.find("\"name\":\"bash\""), std::string::npos);
  EXPECT_NE(manifest.find("\"coreutils\""), std::string::npos);
  EXPECT_NE(manifest.find(img->kernel_release), std::string::npos);

  // Warm: same inputs -> same entry, served from the cache.
  auto again = build_image(options(agent));
  ASSERT_TRUE(again) << again.error().what();
  EXPECT_TRUE(again->from_cache);
  EXPECT_EQ(again->hash, img->hash);
  auto found = find_image("bash", cache_);
  ASSERT_TRUE(found) << found.error().what();
  EXPECT_EQ(found->hash, img->hash);

  // A truncated artifact is detected and the entry rebuilt.
  fs::resize_file(img->initrd, fs::file_size(img->initrd) / 2);
  EXPECT_EQ(find_image("bash", cache_).error().errc(), Errc::bad_state);
  stages_.clear();
  auto rebuilt = build_image(options(agent));
  ASSERT_TRUE(rebuilt) << rebuilt.error().what();
  EXPECT_FALSE(rebuilt->from_cache);
  EXPECT_TRUE(stages_.count("rebuilding"));
  EXPECT_EQ(rebuilt->hash, img->hash);
  ASSERT_TRUE(find_image("bash", cache_));

  // A missing completion record (crash before publishing finished) likewise.
  fs::remove(rebuilt->dir / "complete.json");
  EXPECT_EQ(find_image("bash", cache_).error().errc(), Errc::not_found);
  auto rebuilt2 = build_image(options(agent));
  ASSERT_TRUE(rebuilt2) << rebuilt2.error().what();
  EXPECT_FALSE(rebuilt2->from_cache);
  ASSERT_TRUE(find_image("bash", cache_));

  // A different agent binary is a different image.
  auto other = build_image(options(stand_in_agent(cache_ / "agents", "v2")));
  ASSERT_TRUE(other) << other.error().what();
  EXPECT_NE(other->hash, img->hash);
  EXPECT_EQ(find_image("bash", cache_)->hash, other->hash);  // "current" follows the latest build
}

TEST_F(ImageBuild, ClearErrorsForBadInputs) {
  auto no_agent = options(cache_ / "no-such-agent");
  EXPECT_EQ(build_image(no_agent).error().errc(), Errc::not_found);
  auto agent = stand_in_agent(cache_ / "agents", "v1");
  auto unknown = options(agent);
  unknown.recipe = "no-such-recipe";
  EXPECT_EQ(build_image(unknown).error().errc(), Errc::not_found);
  auto dir = cache_ / "recipes";
  fs::create_directories(dir);
  std::ofstream(dir / "ghost.yaml") << "name: ghost\npackages: [firerun-no-such-package]\n";
  auto ghost = options(agent);
  ghost.recipe = "ghost";
  ghost.recipe_dirs = {dir};
  auto r = build_image(ghost);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errc(), Errc::not_found);
  EXPECT_NE(r.error().what().find("firerun-no-such-package"), std::string::npos);
}

}  // namespace
}  // namespace firerun::image
