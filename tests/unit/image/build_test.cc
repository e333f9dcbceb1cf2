// End-to-end: builds the real "bash" image from Debian packages via apt.
// Uses busybox (a static binary) as a stand-in agent. The .deb cache is kept
// between runs in $FIRERUN_IMAGE_TEST_CACHE (default /tmp/firerun-image-test).
#include "firerun/image.h"
#include "image/cpio.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <map>
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

// A user-provided runner archive and binary (recipe `archives`/`binaries`),
// with exactly the recipe shape firerund's CI integration test uses.
TEST_F(ImageBuild, UserArchivesAndBinariesLandInTheInitramfs) {
  auto agent = stand_in_agent(cache_ / "agents", "v1");
  const fs::path dir = cache_ / "runner-recipes" / "a";
  fs::remove_all(dir.parent_path());
  fs::create_directories(dir / "payload" / "bin");
  std::ofstream(dir / "payload" / "run.sh") << "#!/bin/sh\necho standin runner\n";
  fs::permissions(dir / "payload" / "run.sh", fs::perms(0755));
  std::ofstream(dir / "payload" / "bin" / "config.json") << "{}\n";
  std::ofstream(dir / "tool") << "#!/bin/sh\necho tool\n";
  auto tar = std::system(("tar -C '" + (dir / "payload").string() + "' -czf '" + (dir / "standin-runner.tar.gz").string() +
                          "' run.sh bin").c_str());
  ASSERT_EQ(tar, 0);
  std::ofstream(dir / "ci-standin.yaml") << "name: ci-standin\n"
                                            "packages: [bash, coreutils]\n"
                                            "symlinks: [{path: /usr/bin/sh, target: bash}]\n"
                                            "archives: [{source: standin-runner.tar.gz, dest: /opt/runner}]\n"
                                            "binaries: [{source: tool, path: /usr/local/bin/tool, mode: '0750'}]\n";
  auto opts = options(agent);
  opts.recipe = "ci-standin";
  opts.recipe_dirs = {dir};
  auto img = build_image(opts);
  ASSERT_TRUE(img) << img.error().what();
  EXPECT_FALSE(img->from_cache);

  auto entries = detail::parse_cpio(slurp(img->initrd));
  ASSERT_TRUE(entries) << entries.error().what();
  std::map<std::string, detail::CpioEntry> by_name;
  for (auto& e : *entries) by_name[e.name] = e;
  ASSERT_TRUE(by_name.count("opt/runner/run.sh"));
  EXPECT_EQ(by_name["opt/runner/run.sh"].data, "#!/bin/sh\necho standin runner\n");
  EXPECT_EQ(by_name["opt/runner/run.sh"].mode, 0100755u);
  EXPECT_TRUE(S_ISDIR(by_name["opt/runner"].mode));
  EXPECT_TRUE(S_ISDIR(by_name["opt/runner/bin"].mode));
  EXPECT_EQ(by_name["opt/runner/bin/config.json"].mode, 0100644u);
  EXPECT_EQ(by_name["usr/local/bin/tool"].data, "#!/bin/sh\necho tool\n");
  EXPECT_EQ(by_name["usr/local/bin/tool"].mode, 0100750u);
  EXPECT_EQ(by_name["usr/bin/sh"].data, "bash");
  EXPECT_TRUE(by_name.count("usr/bin/bash"));
  auto manifest = slurp(img->manifest);
  EXPECT_NE(manifest.find("\"file\":\"standin-runner.tar.gz\""), std::string::npos) << manifest;

  // The same files in another directory are the same image; new content is a new one.
  const fs::path other = cache_ / "runner-recipes" / "b";
  fs::create_directories(other);
  for (const char* f : {"ci-standin.yaml", "standin-runner.tar.gz", "tool"}) fs::copy_file(dir / f, other / f);
  opts.recipe_dirs = {other};
  auto moved = build_image(opts);
  ASSERT_TRUE(moved) << moved.error().what();
  EXPECT_TRUE(moved->from_cache);
  EXPECT_EQ(moved->hash, img->hash);
  std::ofstream(other / "tool", std::ios::app) << "# v2\n";
  opts.recipe_dirs = {other};
  auto changed = build_image(opts);
  ASSERT_TRUE(changed) << changed.error().what();
  EXPECT_NE(changed->hash, img->hash);

  // A missing archive fails before any apt work, naming the key and the path.
  fs::remove(other / "standin-runner.tar.gz");
  auto missing = build_image(opts);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errc(), Errc::not_found);
  EXPECT_NE(missing.error().what().find("archives[0].source: " + (other / "standin-runner.tar.gz").string()),
            std::string::npos)
      << missing.error().what();
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
