// s3://bucket[/prefix][?region=R&endpoint=URL&part_size=N&multipart_threshold=N]
// parsed into what the S3 client needs. Sizes are bytes or with KiB/MiB/GiB.
#pragma once

#include "firerun/error.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace firerun::store {

struct S3StoreLocation {
  std::string bucket;
  std::string prefix;    ///< "" or "a/b/" (always ends in '/')
  std::string region;    ///< "" = from the environment / AWS config, else us-east-1
  std::string endpoint;  ///< "" = AWS; e.g. "http://127.0.0.1:4568" (path-style)
  std::uint64_t part_size = 0;            ///< 0 = client default (16 MiB)
  std::uint64_t multipart_threshold = 0;  ///< 0 = client default (16 MiB)
};

/// Parses an s3:// store URI; anything malformed or unknown is Errc::invalid_argument.
Result<S3StoreLocation> parse_s3_store_uri(std::string_view uri);

}  // namespace firerun::store
