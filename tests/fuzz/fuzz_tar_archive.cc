// Archive vetting of the image builder (`sources:` archives): any bytes as a
// tarball either unpack inside the guest root or are refused; nothing is ever
// written outside the root (no "..", absolute names, devices or escaping links).
#include "image/sources.h"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fs::path base = fs::temp_directory_path() / ("firerun-fuzz-tar-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(base, ec);
  fs::create_directories(base / "root");
  fs::create_directories(base / "outside");
  const fs::path archive = base / "input.tar";
  std::ofstream(archive, std::ios::binary).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  std::vector<std::string> conflicts;
  (void)firerun::image::detail::unpack_archive(base / "root", "/opt/app", archive, base / "root" / ".staging", conflicts);
  // Whatever happened, the rest of the host is untouched.
  for (const auto& entry : fs::directory_iterator(base)) {
    const auto name = entry.path().filename();
    if (name != "root" && name != "outside" && name != "input.tar") std::abort();
  }
  if (!fs::is_empty(base / "outside")) std::abort();
  return 0;
}
