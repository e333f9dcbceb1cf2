// S3 REST XML: error bodies mapped to typed firerun errors, and the few
// response/request documents the S3 client needs (multipart upload, object
// listing). Parsing goes through parse_xml() (size/depth caps, no DTDs);
// hostile or malformed documents are Errc::protocol values.
#pragma once

#include "firerun/error.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::cloud::aws {

/// One S3 error as returned on the wire (XML body, or only a status for HEAD).
struct S3Error {
  std::string code;        ///< "NoSuchKey", "SlowDown", ... ("" when the body had none)
  std::string message;     ///< S3's message (never holds secrets)
  std::string request_id;  ///< for support cases
  long http_status = 0;
  Errc errc = Errc::protocol;  ///< not_found, auth, limit_exceeded (throttling), backend_failed (5xx), ...
  bool retryable = false;      ///< SlowDown, 503, InternalError, RequestTimeout: try again after a back-off

  /// "S3 <operation> <location>: <code>: <message> (HTTP <status>, request <id>)" with `errc`.
  Error to_error(std::string_view operation, std::string_view location) const;
};

/// Classifies a code (falls back on the status when the code is empty or unknown).
S3Error classify_s3_error(std::string code, long http_status);
/// Parses an error response body (empty or non-XML bodies are classified by status alone).
S3Error parse_s3_error(std::string_view body, long http_status);

/// InitiateMultipartUploadResult -> UploadId.
Result<std::string> parse_initiate_multipart_upload(std::string_view body);

/// The CompleteMultipartUpload request body for parts 1..n with these ETags.
std::string complete_multipart_upload_xml(const std::vector<std::string>& etags);

/// A 200 answer to CompleteMultipartUpload may still carry an <Error> (S3 reports late
/// failures that way): returns that error, or success for a CompleteMultipartUploadResult.
Status check_complete_multipart_upload(std::string_view body, std::string_view location);

struct S3ListedObject {
  std::string key;
  std::uint64_t size = 0;
};

struct S3ListPage {
  std::vector<S3ListedObject> objects;
  std::string next_continuation_token;  ///< empty on the last page
};

/// ListBucketResult of ListObjectsV2.
Result<S3ListPage> parse_list_objects_v2(std::string_view body);

}  // namespace firerun::cloud::aws
