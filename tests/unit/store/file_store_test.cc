// The file:// store end to end (synthetic images, and the real bash image when
// a built cache is available), plus URI handling and the index parser.
#include "firerun/image_store.h"
#include "store/index.h"
#include "store/s3_store.h"
#include "store_test_support.h"

#include <gtest/gtest.h>

#include <fstream>

namespace firerun::store {
namespace {
using namespace firerun::store::testing;

std::unique_ptr<ImageStore> open_store(const std::string& uri) {
  ImageStoreRegistry registry;
  EXPECT_TRUE(register_builtin_image_stores(registry));
  auto store = open_image_store(registry, uri);
  if (!store) ADD_FAILURE() << store.error().what();
  return std::move(*store);
}

TEST(FileStore, RoundTripIntoAnEmptyCache) {
  TempDir src, dst, remote;
  auto img = make_synthetic_image(src.path(), "demo", 3u << 20);
  auto store = open_store("file://" + remote.path().string());
  ASSERT_TRUE(store->push(img)) << store->push(img).error().what();

  auto listed = store->list("demo");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].hash, img.hash);
  EXPECT_TRUE((*listed)[0].latest);
  EXPECT_TRUE(store->exists("demo", img.hash).value());

  auto pulled = store->pull("demo", "latest", dst.path());
  ASSERT_TRUE(pulled) << pulled.error().what();
  EXPECT_EQ(pulled->hash, img.hash);
  EXPECT_FALSE(pulled->from_cache);
  EXPECT_EQ(pulled->dir, dst.path() / "images" / "demo" / img.hash);
  EXPECT_TRUE(image::open_image(pulled->dir));
  // The cache's `current` points at it, so find_image() (and `firerun run`) use it.
  auto found = image::find_image("demo", dst.path());
  ASSERT_TRUE(found) << found.error().what();
  EXPECT_EQ(found->hash, img.hash);
  // Nothing but the entry, the lock and `current` is left in the image dir.
  EXPECT_EQ(tree(dst.path() / "images" / "demo"),
            (std::vector<std::string>{".lock", img.hash, img.hash + "/complete.json", img.hash + "/initrd.cpio",
                                      img.hash + "/manifest.json", img.hash + "/vmlinuz", "current"}));

  // A second pull reuses the verified entry.
  auto again = store->pull("demo", img.hash, dst.path());
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->from_cache);
}

TEST(FileStore, LatestFollowsTheLastPushAndListShowsEveryVersion) {
  TempDir src, dst, remote;
  auto first = make_synthetic_image(src.path(), "demo", 1u << 20, 1);
  auto second = make_synthetic_image(src.path(), "demo", 1u << 20, 2);
  auto store = open_store(remote.path().string());  // a bare path means file://
  ASSERT_TRUE(store->push(first));
  ASSERT_TRUE(store->push(second));
  auto listed = store->list("demo").value();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].hash, second.hash);
  EXPECT_TRUE(listed[0].latest);
  EXPECT_FALSE(listed[1].latest);
  EXPECT_EQ(store->pull("demo", "latest", dst.path()).value().hash, second.hash);
  EXPECT_EQ(store->pull("demo", first.hash, dst.path()).value().hash, first.hash);
  EXPECT_EQ(image::find_image("demo", dst.path()).value().hash, first.hash);
  // Re-pushing a complete image only moves `latest`.
  ASSERT_TRUE(store->push(first));
  EXPECT_EQ(store->list("demo").value()[0].hash, first.hash);
  EXPECT_TRUE(store->list("nothing-here").value().empty());
}

TEST(FileStore, CorruptedObjectIsDetectedAndNothingIsInstalled) {
  TempDir src, dst, remote;
  auto img = make_synthetic_image(src.path(), "demo", 2u << 20);
  auto store = open_store("file://" + remote.path().string());
  ASSERT_TRUE(store->push(img));
  {
    std::fstream f(remote.path() / "demo" / img.hash / "initrd.cpio", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12345);
    f.put('\x5a');
  }
  auto pulled = store->pull("demo", img.hash, dst.path());
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error(), Errc::bad_state);
  EXPECT_NE(pulled.error().what().find("integrity check failed"), std::string::npos) << pulled.error().what();
  EXPECT_NE(pulled.error().what().find("initrd.cpio"), std::string::npos);
  EXPECT_EQ(tree(dst.path() / "images" / "demo"), std::vector<std::string>{".lock"});
  EXPECT_FALSE(image::find_image("demo", dst.path()));
}

TEST(FileStore, TruncatedAndMissingObjectsAreReported) {
  TempDir src, dst, remote;
  auto img = make_synthetic_image(src.path(), "demo", 1u << 20);
  auto store = open_store("file://" + remote.path().string());
  ASSERT_TRUE(store->push(img));
  fs::resize_file(remote.path() / "demo" / img.hash / "vmlinuz", 1000);
  auto truncated = store->pull("demo", img.hash, dst.path());
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error(), Errc::bad_state);
  EXPECT_NE(truncated.error().what().find("has 1000 bytes"), std::string::npos) << truncated.error().what();

  fs::remove(remote.path() / "demo" / img.hash / "vmlinuz");
  auto missing = store->pull("demo", img.hash, dst.path());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
  EXPECT_NE(missing.error().what().find((remote.path() / "demo" / img.hash / "vmlinuz").string()), std::string::npos)
      << missing.error().what();
  EXPECT_EQ(tree(dst.path() / "images" / "demo"), std::vector<std::string>{".lock"});

  auto unknown = store->pull("demo", std::string(64, 'e'), dst.path());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error(), Errc::not_found);
  auto no_latest = store->pull("other", "latest", dst.path());
  ASSERT_FALSE(no_latest);
  EXPECT_EQ(no_latest.error(), Errc::not_found);
}

TEST(FileStore, RejectsHostileNamesAndHashes) {
  TempDir dst, remote;
  auto store = open_store("file://" + remote.path().string());
  EXPECT_EQ(store->pull("../etc", "latest", dst.path()).error(), Errc::invalid_argument);
  EXPECT_EQ(store->pull("demo", "../../x", dst.path()).error(), Errc::invalid_argument);
  EXPECT_EQ(store->exists("demo", "ABC").error(), Errc::invalid_argument);
  // A `latest` that is not a hash is refused before it is used as a path.
  fs::create_directories(remote.path() / "demo");
  std::ofstream(remote.path() / "demo" / "latest") << "../../../etc\n";
  auto pulled = store->pull("demo", "latest", dst.path());
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error(), Errc::bad_state);
}

TEST(FileStore, PushRefusesACorruptLocalImage) {
  TempDir src, remote;
  auto img = make_synthetic_image(src.path(), "demo", 1u << 20);
  std::ofstream(img.dir / "manifest.json", std::ios::app) << "tampered";
  auto store = open_store("file://" + remote.path().string());
  auto pushed = store->push(img);
  ASSERT_FALSE(pushed);
  EXPECT_EQ(pushed.error(), Errc::bad_state);
  EXPECT_TRUE(tree(remote.path()).empty());
}

// The real bash image: from $FIRERUN_TEST_CACHE (the integration tests' cache) when built.
TEST(FileStore, BashImageRoundTrip) {
  const char* cache = std::getenv("FIRERUN_TEST_CACHE");
  fs::path root = cache ? fs::path(cache) : fs::path(FIRERUN_BUILD_TEST_CACHE);
  auto bash = image::find_image("bash", root);
  if (!bash) GTEST_SKIP() << "no built bash image in " << root << " (set FIRERUN_TEST_CACHE or run the images_build test)";
  TempDir dst, remote;
  auto store = open_store("file://" + remote.path().string());
  ASSERT_TRUE(store->push(*bash));
  auto pulled = store->pull("bash", "latest", dst.path());
  ASSERT_TRUE(pulled) << pulled.error().what();
  EXPECT_EQ(pulled->hash, bash->hash);
  auto verified = image::open_image(dst.path() / "images" / "bash" / bash->hash);
  ASSERT_TRUE(verified) << verified.error().what();
  EXPECT_EQ(verified->kernel_release, bash->kernel_release);
  EXPECT_EQ(verified->cmdline, bash->cmdline);
}

TEST(StoreUri, OpensKnownSchemesAndRejectsTheRest) {
  ImageStoreRegistry registry;
  ASSERT_TRUE(register_builtin_image_stores(registry));
  EXPECT_EQ(open_image_store(registry, "file:///srv/images/").value()->uri(), "file:///srv/images/");
  EXPECT_EQ(open_image_store(registry, "/srv/x/../images").value()->uri(), "file:///srv/images");
  EXPECT_EQ(open_image_store(registry, "file://relative/x").error(), Errc::invalid_argument);
  EXPECT_EQ(open_image_store(registry, "file:///x?y=1").error(), Errc::invalid_argument);
  EXPECT_EQ(open_image_store(registry, "relative/path").error(), Errc::invalid_argument);
  EXPECT_EQ(open_image_store(registry, "gs://bucket").error(), Errc::not_found);
  auto s3 = open_image_store(registry, "s3://my-bucket/fleet/images?region=eu-west-1");
  ASSERT_TRUE(s3) << s3.error().what();
  EXPECT_EQ((*s3)->uri(), "s3://my-bucket/fleet/images/");
}

TEST(StoreUri, ParsesS3Parameters) {
  auto loc = parse_s3_store_uri("s3://bkt/a/b/?region=us-west-2&endpoint=http://127.0.0.1:9000&part_size=8MiB&multipart_threshold=6291456");
  ASSERT_TRUE(loc) << loc.error().what();
  EXPECT_EQ(loc->bucket, "bkt");
  EXPECT_EQ(loc->prefix, "a/b/");
  EXPECT_EQ(loc->region, "us-west-2");
  EXPECT_EQ(loc->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(loc->part_size, 8u << 20);
  EXPECT_EQ(loc->multipart_threshold, 6291456u);
  EXPECT_EQ(parse_s3_store_uri("s3://bkt").value().prefix, "");
  for (const char* bad : {"s3://", "s3://bkt/a//b", "s3://bkt/../x", "s3://bkt?part_size=1MiB", "s3://bkt?part_size=x",
                          "s3://bkt?colour=red", "s3://key:secret@bkt/x", "s3://bkt:99/x", "s3://bkt?endpoint=ftp://x",
                          "s3://bkt?region=US%20EAST", "http://bkt/x"}) {
    auto r = parse_s3_store_uri(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error(), Errc::invalid_argument) << bad;
    }
  }
  // Credentials in a URI are refused, and the error does not repeat them.
  auto with_secret = parse_s3_store_uri("s3://AKID:hunter2@bkt/x");
  ASSERT_FALSE(with_secret);
  EXPECT_EQ(with_secret.error().what().find("hunter2"), std::string::npos) << with_secret.error().what();
  ImageStoreRegistry registry;
  ASSERT_TRUE(register_builtin_image_stores(registry));
  auto file_secret = open_image_store(registry, "file://u:hunter2@localhost/x?q");
  ASSERT_FALSE(file_secret);
  EXPECT_EQ(file_secret.error().what().find("hunter2"), std::string::npos) << file_secret.error().what();
}

TEST(ImageIndex, AcceptsTheCompletionRecordAndRejectsLies) {
  const std::string hash(64, 'a');
  const std::string sha(64, 'b');
  const std::string good = R"({"format":1,"name":"demo","hash":")" + hash +
                           R"(","kernel_release":"k","cmdline":"c","artifacts":{"vmlinuz":{"size":5,"sha256":")" + sha +
                           R"("},"initrd.cpio":{"size":0,"sha256":")" + sha + R"("}}})";
  auto parsed = parse_image_index(good, "demo", hash, "here");
  ASSERT_TRUE(parsed) << parsed.error().what();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].file, "vmlinuz");
  EXPECT_EQ((*parsed)[0].size, 5u);
  EXPECT_EQ(parse_image_index(good, "other", hash, "here").error(), Errc::bad_state);
  EXPECT_EQ(parse_image_index(good, "demo", std::string(64, 'c'), "here").error(), Errc::bad_state);
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  for (const auto& bad : {replace("vmlinuz", "../vmlinuz"), replace("vmlinuz", "complete.json"),
                          replace("\"size\":5", "\"size\":-5"), replace("\"size\":5", "\"size\":\"5\""),
                          replace("\"format\":1", "\"format\":2"), std::string("[]"), std::string("{"),
                          replace(sha, std::string(64, 'B'))}) {
    auto r = parse_image_index(bad, "demo", hash, "here");
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error(), Errc::bad_state) << bad;
    }
  }
}

}  // namespace
}  // namespace firerun::store
