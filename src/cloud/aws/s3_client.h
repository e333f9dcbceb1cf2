// A blocking S3 REST client with path-style URLs (<endpoint>/<bucket>/<key>),
// so S3-compatible servers on 127.0.0.1 work as well as AWS: PUT, GET streamed
// to a sink, HEAD, ListObjectsV2 and multipart upload. Requests are signed
// with SigV4 (sign()) and sent with http_send(); SlowDown, 5xx and transport
// failures are retried with the EC2 client's capped, jittered back-off.
// Errors name s3://bucket/key and never contain credentials.
#pragma once

#include "cloud/aws/credential_providers.h"
#include "cloud/aws/ec2_client.h"  // RetryPolicy, backoff_delay
#include "cloud/aws/http_client.h"
#include "cloud/aws/s3_xml.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace firerun::cloud::aws {

inline constexpr std::uint64_t kS3MinPartSize = 5ull << 20;  ///< S3's minimum for all but the last part
inline constexpr std::uint64_t kS3MaxParts = 10000;

struct S3ClientOptions {
  std::string endpoint;  ///< "http://127.0.0.1:4568"; default "https://s3.<region>.amazonaws.com"
  std::string region = "us-east-1";
  std::string bucket;
  std::shared_ptr<CredentialsProvider> credentials;
  /// Files larger than this are uploaded in parts of part_size bytes (both >= 5 MiB).
  std::uint64_t multipart_threshold = 16ull << 20;
  std::uint64_t part_size = 16ull << 20;
  /// true: x-amz-content-sha256 is the body's hash (S3 verifies it); false: UNSIGNED-PAYLOAD.
  bool sign_payload = true;
  HttpOptions small_request{std::chrono::milliseconds(5000), std::chrono::milliseconds(60000), 16u << 20};
  /// Object bodies (parts, downloads): generous, a part of 16 MiB over a slow link takes a while.
  HttpOptions transfer{std::chrono::milliseconds(5000), std::chrono::milliseconds(30 * 60 * 1000), 16u << 20};
  RetryPolicy retry;
  /// Injectable for tests: sleeping, the signing clock and the jitter source.
  std::function<void(std::chrono::milliseconds)> sleep;
  std::function<std::chrono::system_clock::time_point()> clock;
  std::function<double()> random_unit;
};

struct S3ObjectInfo {
  std::uint64_t size = 0;
  std::string etag;
};

/// Where GET streams an object. restart() runs before a retried attempt resends from byte 0.
struct S3ObjectSink {
  std::function<Status(std::string_view chunk)> write;
  std::function<Status()> restart;
};

class S3Client {
 public:
  /// Validates the options (bucket name, part sizes, credentials provider present).
  static Result<S3Client> create(S3ClientOptions options);

  /// "s3://<bucket>/<key>", what errors and logs call an object.
  std::string location(std::string_view key) const;

  /// PUT of a body held in memory.
  Status put_object(std::string_view key, std::string body);
  /// PUT of a file: one request up to multipart_threshold, else a multipart upload
  /// (aborted when any step fails, so no orphaned parts are left to pay for).
  Status upload_file(std::string_view key, const std::filesystem::path& file);
  /// GET streamed into `sink`; a missing object is Errc::not_found naming bucket and key.
  Status get_object(std::string_view key, const S3ObjectSink& sink);
  /// GET into memory; objects larger than max_bytes are Errc::limit_exceeded.
  Result<std::string> get_object_bytes(std::string_view key, std::size_t max_bytes);
  /// HEAD: nullopt when the object does not exist.
  Result<std::optional<S3ObjectInfo>> head_object(std::string_view key);
  /// Every object whose key starts with `prefix` (all ListObjectsV2 pages).
  Result<std::vector<S3ListedObject>> list_objects(std::string_view prefix);

  // Multipart building blocks (upload_file uses them; public for tests).
  Result<std::string> create_multipart_upload(std::string_view key);
  /// Returns the part's ETag.
  Result<std::string> upload_part(std::string_view key, std::string_view upload_id, int part_number, std::string body);
  Status complete_multipart_upload(std::string_view key, std::string_view upload_id,
                                   const std::vector<std::string>& etags);
  Status abort_multipart_upload(std::string_view key, std::string_view upload_id);

  /// Attempts made by the last request (for tests and metrics).
  int last_attempts() const noexcept { return last_attempts_; }
  const S3ClientOptions& options() const noexcept { return options_; }

 private:
  explicit S3Client(S3ClientOptions options) : options_(std::move(options)) {}

  struct Call {
    std::string_view operation;  ///< "PutObject", ... (for messages)
    std::string method;
    std::string_view key;        ///< "" for bucket-level requests
    std::string query;           ///< already encoded
    std::string body;
    const HttpOptions* http = nullptr;
    const S3ObjectSink* sink = nullptr;  ///< 2xx bodies stream here
  };
  /// Signs and sends with retries; returns the 2xx response, else a typed error.
  Result<HttpResponse> send(Call call);
  Status upload_parts(std::string_view key, std::string_view upload_id, const std::filesystem::path& file,
                                   std::uint64_t size, std::vector<std::string>& etags);

  S3ClientOptions options_;
  std::string host_;
  int last_attempts_ = 0;
};

}  // namespace firerun::cloud::aws
