// Image-store parsers on arbitrary bytes; first byte picks: the S3 error body,
// the multipart/list documents, the per-image index, or an s3:// store URI.
// Any error but the documented condition is a bug (abort).
#include "cloud/aws/s3_xml.h"
#include "store/index.h"
#include "store/s3_store.h"

#include <cstdlib>

using namespace firerun;

namespace {
template <class R>
void expect_ok_or(const R& r, Errc allowed) {
  if (!r && r.error() != allowed) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto e = cloud::aws::parse_s3_error(input, 400 + (size % 200));
      (void)e.to_error("Op", "s3://b/k");
      break;
    }
    case 1:
      expect_ok_or(cloud::aws::parse_initiate_multipart_upload(input), Errc::protocol);
      expect_ok_or(cloud::aws::parse_list_objects_v2(input), Errc::protocol);
      // An <Error> body maps to that error's condition; anything else malformed is protocol.
      (void)cloud::aws::check_complete_multipart_upload(input, "s3://b/k");
      break;
    case 2: {
      const std::string hash(64, 'a');
      auto index = store::parse_image_index(input, "demo", hash, "fuzz");
      expect_ok_or(index, Errc::bad_state);
      if (index)
        for (const auto& a : *index)
          if (a.file.find('/') != std::string::npos || a.file.starts_with(".") || a.sha256.size() != 64) std::abort();
      break;
    }
    default: {
      auto loc = store::parse_s3_store_uri(input);
      expect_ok_or(loc, Errc::invalid_argument);
      if (loc && (loc->bucket.empty() || (!loc->prefix.empty() && loc->prefix.back() != '/')))
        std::abort();
      // No "." or ".." segment ("..x" is an ordinary key name).
      if (loc)
        for (std::string_view rest = loc->prefix; !rest.empty();) {
          const auto slash = rest.find('/');
          const auto segment = rest.substr(0, slash);
          if (segment == "." || segment == ".." || segment.empty()) std::abort();
          rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash + 1);
        }
      break;
    }
  }
  return 0;
}
