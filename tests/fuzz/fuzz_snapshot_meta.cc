// snapshot.json as the restore path reads it: any content opens or fails with
// a documented error; whatever opens is written back and opens again.
#include "firerun/vm.h"
#include "vm/snapshot_meta.h"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("firerun-fuzz-snapshot-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / firerun::detail::kSnapshotMetaFile, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  std::ofstream(dir / firerun::detail::kSnapshotStateFile, std::ios::binary | std::ios::trunc) << "state";
  auto snapshot = firerun::open_snapshot(dir);
  if (!snapshot) {
    const auto e = snapshot.error().errc();
    if (e != firerun::Errc::invalid_argument && e != firerun::Errc::unsupported && e != firerun::Errc::not_found)
      std::abort();
    return 0;
  }
  if (!firerun::detail::write_snapshot_meta(*snapshot) || !firerun::open_snapshot(dir)) std::abort();
  return 0;
}
