// The static-hosts YAML of the `static` cloud provider: any input parses into
// hosts or fails with invalid_argument, never crashes.
#include "cloud/static_provider.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto hosts = firerun::cloud::parse_static_hosts(input, "fuzz");
  if (!hosts && hosts.error().errc() != firerun::Errc::invalid_argument) std::abort();
  return 0;
}
