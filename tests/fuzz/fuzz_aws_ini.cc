#include "cloud/aws/ini.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ini = firerun::cloud::aws::parse_ini(text, "fuzz");
  if (!ini) (void)ini.error().what();
  return 0;
}
