// Fuzzes image recipe parsing/validation (YAML via yaml-cpp).
#include "firerun/image.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = firerun::image::parse_recipe(text, "fuzz");
  if (r) (void)firerun::image::canonical_recipe(*r);
  return 0;
}
