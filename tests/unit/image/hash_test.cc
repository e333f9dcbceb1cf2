#include "firerun/image.h"
#include "image/builder.h"
#include "image/digest.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace firerun::image::detail {
namespace {

ImageInputs sample() {
  ImageInputs in;
  in.canonical_recipe = canonical_recipe(*find_recipe("bash"));
  in.packages = {{"bash", "5.2.15-2+b2", "amd64", "bash_5.2.15-2+b2_amd64.deb", "u1", 10, "SHA256", "aa"},
                 {"libc6", "2.36-9+deb12u14", "amd64", "libc6_2.36-9+deb12u14_amd64.deb", "u2", 20, "MD5", "bb"}};
  in.kernel = {"linux-image-6.1.0-56-cloud-amd64", "6.1.192-2", "amd64", "k.deb", "u3", 30, "SHA256", "cc"};
  in.agent_sha256 = sha256_hex("agent v1");
  return in;
}

TEST(ImageHash, SameInputsSameHash) {
  auto a = compute_image_hash(sample());
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a, compute_image_hash(sample()));
  auto reordered = sample();
  std::swap(reordered.packages[0], reordered.packages[1]);
  EXPECT_EQ(a, compute_image_hash(reordered));
  auto other_mirror = sample();
  other_mirror.packages[0].uri = "http://mirror.example/bash.deb";
  EXPECT_EQ(a, compute_image_hash(other_mirror));
}

TEST(ImageHash, EveryInputChangesTheHash) {
  const auto base = compute_image_hash(sample());
  auto agent = sample();
  agent.agent_sha256 = sha256_hex("agent v2");
  EXPECT_NE(base, compute_image_hash(agent));
  auto version = sample();
  version.packages[1].version = "2.36-9+deb12u15";
  EXPECT_NE(base, compute_image_hash(version));
  auto extra = sample();
  extra.packages.push_back({"dash", "0.5.12-2", "amd64", "", "", 1, "", ""});
  EXPECT_NE(base, compute_image_hash(extra));
  auto kernel = sample();
  kernel.kernel.version = "6.1.193-1";
  EXPECT_NE(base, compute_image_hash(kernel));
  auto recipe = sample();
  auto r = *find_recipe("bash");
  r.modules.push_back("virtio_net");
  recipe.canonical_recipe = canonical_recipe(r);
  EXPECT_NE(base, compute_image_hash(recipe));
}

TEST(Digest, KnownSha256) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Digest, CachedDigestReadsAFileOncePerVersion) {
  const auto dir = std::filesystem::temp_directory_path() / ("firerun-digest-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "artifact";
  auto write = [&](const std::string& text) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
  };
  write("version one");
  const auto reads = cached_digest_reads();
  EXPECT_EQ(cached_file_digest_hex(file).value(), sha256_hex("version one"));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(cached_file_digest_hex(file).value(), sha256_hex("version one"));
  EXPECT_EQ(cached_digest_reads(), reads + 1) << "an unchanged file is hashed once";
  // Same size, mtime forced back to the old value: the ctime still changes.
  struct ::stat before {};
  ASSERT_EQ(::stat(file.c_str(), &before), 0);
  write("version two");
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0);
  EXPECT_EQ(cached_file_digest_hex(file).value(), sha256_hex("version two"));
  EXPECT_EQ(cached_digest_reads(), reads + 2);
  std::filesystem::remove(file);
  EXPECT_FALSE(cached_file_digest_hex(file));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace firerun::image::detail
