#include "cloud/aws/credential_providers.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto creds = firerun::cloud::aws::parse_imds_credentials(text);
  if (!creds) (void)creds.error().what();
  (void)firerun::cloud::aws::parse_iso8601_utc(text);
  return 0;
}
