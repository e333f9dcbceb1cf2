// The s3:// store and S3 client against a real S3-compatible server (s3rver
// from npm, installed into the build tree on first use and run on 127.0.0.1
// with a random port). Skipped only when node or npm is missing.
#include "cloud/aws/s3_client.h"
#include "firerun/image_store.h"
#include "image/digest.h"
#include "store_test_support.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

namespace firerun::store {
namespace {
using namespace firerun::store::testing;
namespace aws = firerun::cloud::aws;

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = S3rver::missing_tools()) GTEST_SKIP() << "s3rver tests need node and npm: " << *missing;
    server_ = std::make_unique<S3rver>(FIRERUN_S3RVER_INSTALL_DIR, FIRERUN_S3RVER_RUNNER);
    // Credentials come from the standard chain; pin it to the environment.
    env_.emplace_back(std::make_unique<ScopedEnv>("AWS_ACCESS_KEY_ID", S3rver::kKey));
    env_.emplace_back(std::make_unique<ScopedEnv>("AWS_SECRET_ACCESS_KEY", S3rver::kKey));
    env_.emplace_back(std::make_unique<ScopedEnv>("AWS_SESSION_TOKEN", nullptr));
    env_.emplace_back(std::make_unique<ScopedEnv>("AWS_PROFILE", nullptr));
    env_.emplace_back(std::make_unique<ScopedEnv>("AWS_EC2_METADATA_DISABLED", "true"));
  }
  void TearDown() override {
    env_.clear();
    server_.reset();
  }

  std::string uri(const std::string& extra = "") const {
    return std::string("s3://") + S3rver::kBucket + "/fleet?region=us-east-1&endpoint=" + server_->endpoint() + extra;
  }
  std::unique_ptr<ImageStore> open_store(const std::string& u) {
    ImageStoreRegistry registry;
    EXPECT_TRUE(register_builtin_image_stores(registry));
    auto store = open_image_store(registry, u);
    if (!store) ADD_FAILURE() << store.error().what();
    return std::move(*store);
  }
  aws::S3Client client() {
    aws::S3ClientOptions o;
    o.endpoint = server_->endpoint();
    o.bucket = S3rver::kBucket;
    o.credentials = std::shared_ptr<aws::CredentialsProvider>(aws::CredentialsChain::make_default());
    return aws::S3Client::create(std::move(o)).value();
  }

  std::unique_ptr<S3rver> server_;
  std::vector<std::unique_ptr<ScopedEnv>> env_;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

TEST_F(S3StoreTest, RoundTripOf200MiBImageUsesMultipart) {
  TempDir src, dst;
  auto t0 = std::chrono::steady_clock::now();
  auto img = make_synthetic_image(src.path(), "big", 200ull << 20);
  const double generate_s = seconds_since(t0);
  auto store = open_store(uri("&part_size=8MiB&multipart_threshold=8MiB"));

  t0 = std::chrono::steady_clock::now();
  auto pushed = store->push(img);
  ASSERT_TRUE(pushed) << pushed.error().what();
  const double push_s = seconds_since(t0);

  // The 200 MiB artifact went up in 25 parts of 8 MiB (as the server saw it), the small ones whole.
  const std::string initrd_path = "/firerun-test/fleet/big/" + img.hash + "/initrd.cpio";
  int parts = 0, creates = 0, completes = 0, whole_puts = 0;
  for (const auto& r : server_->requests()) {
    if (r.starts_with("PUT " + initrd_path + "?") && r.find("partNumber=") != std::string::npos) ++parts;
    if (r == "POST " + initrd_path + "?uploads=") ++creates;
    if (r.starts_with("POST " + initrd_path + "?uploadId=")) ++completes;
    if (r.starts_with("PUT /firerun-test/fleet/big/") && r.find('?') == std::string::npos) ++whole_puts;
  }
  EXPECT_EQ(parts, 25);
  EXPECT_EQ(creates, 1);
  EXPECT_EQ(completes, 1);
  EXPECT_EQ(whole_puts, 4);  // vmlinuz, manifest.json, complete.json, latest
  auto head = client().head_object("fleet/big/" + img.hash + "/initrd.cpio");
  ASSERT_TRUE(head) << head.error().what();
  ASSERT_TRUE(head->has_value());
  EXPECT_EQ((*head)->size, 200ull << 20);

  auto listed = store->list("big");
  ASSERT_TRUE(listed) << listed.error().what();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].hash, img.hash);
  EXPECT_TRUE((*listed)[0].latest);
  EXPECT_TRUE(store->exists("big", img.hash).value());
  EXPECT_FALSE(store->exists("big", std::string(64, 'f')).value());

  t0 = std::chrono::steady_clock::now();
  auto pulled = store->pull("big", "latest", dst.path());
  ASSERT_TRUE(pulled) << pulled.error().what();
  const double pull_s = seconds_since(t0);
  EXPECT_EQ(pulled->hash, img.hash);
  auto verified = image::open_image(dst.path() / "images" / "big" / img.hash);
  ASSERT_TRUE(verified) << verified.error().what();
  EXPECT_EQ(image::detail::file_digest_hex(verified->initrd).value(), image::detail::file_digest_hex(img.initrd).value());
  std::printf("200 MiB image: generate %.2f s, push %.2f s, pull+verify %.2f s\n", generate_s, push_s, pull_s);
  RecordProperty("push_seconds", std::to_string(push_s));
  RecordProperty("pull_seconds", std::to_string(pull_s));
}

TEST_F(S3StoreTest, CorruptedObjectOnTheServerIsDetected) {
  TempDir src, dst;
  auto img = make_synthetic_image(src.path(), "demo", 3u << 20);
  auto store = open_store(uri());
  ASSERT_TRUE(store->push(img)) << store->push(img).error().what();

  // Flip one byte of the stored object behind the server's back (same size, same ETag).
  const auto object = server_->object_file("fleet/demo/" + img.hash + "/initrd.cpio");
  ASSERT_TRUE(fs::exists(object)) << object;
  {
    std::fstream f(object, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(1000);
    char c = 0;
    f.get(c);
    f.seekp(1000);
    f.put(static_cast<char>(c ^ 0x01));
  }
  auto pulled = store->pull("demo", img.hash, dst.path());
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error(), Errc::bad_state);
  const std::string what = pulled.error().what();
  EXPECT_NE(what.find("integrity check failed"), std::string::npos) << what;
  EXPECT_NE(what.find("s3://firerun-test/fleet/demo/" + img.hash + "/initrd.cpio"), std::string::npos) << what;
  EXPECT_NE(what.find("nothing was installed"), std::string::npos) << what;
  // Nothing half-installed: no entry, no temp dir, no `current`.
  EXPECT_EQ(tree(dst.path() / "images" / "demo"), std::vector<std::string>{".lock"});
  EXPECT_FALSE(image::find_image("demo", dst.path()));
}

TEST_F(S3StoreTest, MissingObjectsNameBucketAndKey) {
  TempDir src, dst;
  auto store = open_store(uri());
  const std::string absent(64, 'd');
  auto no_image = store->pull("demo", absent, dst.path());
  ASSERT_FALSE(no_image);
  EXPECT_EQ(no_image.error(), Errc::not_found);
  EXPECT_NE(no_image.error().what().find("s3://firerun-test/fleet/demo/" + absent + "/complete.json"), std::string::npos)
      << no_image.error().what();
  EXPECT_NE(no_image.error().what().find("NoSuchKey"), std::string::npos) << no_image.error().what();
  auto no_latest = store->pull("demo", "latest", dst.path());
  ASSERT_FALSE(no_latest);
  EXPECT_EQ(no_latest.error(), Errc::not_found);
  EXPECT_NE(no_latest.error().what().find("s3://firerun-test/fleet/demo/latest"), std::string::npos);

  // An artifact deleted on the server after the push.
  auto img = make_synthetic_image(src.path(), "demo", 1u << 20);
  ASSERT_TRUE(store->push(img));
  fs::remove(server_->object_file("fleet/demo/" + img.hash + "/vmlinuz"));
  auto pulled = store->pull("demo", img.hash, dst.path());
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error(), Errc::not_found);
  EXPECT_NE(pulled.error().what().find("s3://firerun-test/fleet/demo/" + img.hash + "/vmlinuz"), std::string::npos)
      << pulled.error().what();
  EXPECT_EQ(tree(dst.path() / "images" / "demo"), std::vector<std::string>{".lock"});

  // A bucket that does not exist.
  ImageStoreRegistry registry;
  ASSERT_TRUE(register_builtin_image_stores(registry));
  auto other = open_image_store(registry, "s3://no-such-bucket/x?endpoint=" + server_->endpoint()).value();
  auto listed = other->list("demo");
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error(), Errc::not_found);
  EXPECT_NE(listed.error().what().find("NoSuchBucket"), std::string::npos) << listed.error().what();
}

TEST_F(S3StoreTest, WrongCredentialsAreAnAuthErrorWithoutTheSecret) {
  TempDir src;
  auto img = make_synthetic_image(src.path(), "demo", 1u << 20);
  {
    ScopedEnv wrong_secret("AWS_SECRET_ACCESS_KEY", "not-the-secret-0123456789");
    auto store = open_store(uri());
    auto pushed = store->push(img);  // starts with a HEAD: a bare 403, no XML body
    ASSERT_FALSE(pushed);
    EXPECT_EQ(pushed.error(), Errc::auth);
    EXPECT_NE(pushed.error().what().find("HTTP 403"), std::string::npos) << pushed.error().what();
    EXPECT_EQ(pushed.error().what().find("not-the-secret"), std::string::npos) << pushed.error().what();
    auto listed = store->list("demo");
    ASSERT_FALSE(listed);
    EXPECT_EQ(listed.error(), Errc::auth);
    EXPECT_NE(listed.error().what().find("SignatureDoesNotMatch"), std::string::npos) << listed.error().what();
    EXPECT_EQ(listed.error().what().find("not-the-secret"), std::string::npos) << listed.error().what();
  }
  {
    ScopedEnv wrong_key("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN");
    auto store = open_store(uri());
    auto listed = store->list("demo");
    ASSERT_FALSE(listed);
    EXPECT_EQ(listed.error(), Errc::auth);
    EXPECT_NE(listed.error().what().find("InvalidAccessKeyId"), std::string::npos) << listed.error().what();
  }
}

TEST_F(S3StoreTest, ClientStreamsGetsIntoSinks) {
  auto s3 = client();
  ASSERT_TRUE(s3.put_object("raw/hello.txt", "hello, s3"));
  std::string got;
  int restarts = 0;
  aws::S3ObjectSink sink{[&](std::string_view c) -> Status {
                           got.append(c);
                           return {};
                         },
                         [&]() -> Status {
                           ++restarts;
                           got.clear();
                           return {};
                         }};
  ASSERT_TRUE(s3.get_object("raw/hello.txt", sink));
  EXPECT_EQ(got, "hello, s3");
  EXPECT_EQ(restarts, 0);
  EXPECT_EQ(s3.get_object_bytes("raw/hello.txt", 4).error(), Errc::limit_exceeded);

  // A sink failure stops the download with the sink's error, without retries.
  aws::S3ObjectSink failing{[](std::string_view) -> Status { return make_error(Errc::io, "disk full"); },
                            []() -> Status { return {}; }};
  auto failed = s3.get_object("raw/hello.txt", failing);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), Errc::io);
  EXPECT_EQ(s3.last_attempts(), 1);

  // An upload that was never completed leaves no object.
  auto upload = s3.create_multipart_upload("raw/parts.bin");
  ASSERT_TRUE(upload) << upload.error().what();
  auto etag = s3.upload_part("raw/parts.bin", *upload, 1, std::string(1000, 'x'));
  ASSERT_TRUE(etag) << etag.error().what();
  EXPECT_FALSE(etag->empty());
  EXPECT_FALSE(s3.head_object("raw/parts.bin").value().has_value());
}

}  // namespace
}  // namespace firerun::store
