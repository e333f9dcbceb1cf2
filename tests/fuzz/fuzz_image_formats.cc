// Fuzzes the image builder's parsers of tool output and binary formats:
// apt --print-uris, apt-cache depends, module .modinfo (ELF), modules.order, newc cpio.
#include "image/apt.h"
#include "image/cpio.h"
#include "image/kmod.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  using namespace firerun::image::detail;
  switch (data[0] % 5) {
    case 0: (void)parse_print_uris(input); break;
    case 1: (void)parse_depends_target(input, "linux-image-"); break;
    case 2: (void)parse_modinfo(input); break;
    case 3: (void)parse_modules_order(input); break;
    case 4: (void)parse_cpio(input); break;
  }
  return 0;
}
