// Writes uncompressed "newc" cpio archives, the format the kernel unpacks as
// initramfs. Written here rather than by cpio(1) so device nodes need no
// privileges and output is reproducible (uid/gid 0, mtime 0, sorted walk).
#pragma once

#include "firerun/error.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace firerun::image::detail {

class CpioWriter {
 public:
  /// Opens `path` for writing (truncates).
  static Result<CpioWriter> create(const std::filesystem::path& path);

  /// Entry names are relative ("usr/bin/bash"); parents must be added first.
  Status add_directory(std::string_view name, std::uint32_t perms);
  Status add_file(std::string_view name, std::uint32_t perms, std::string_view content);
  Status add_file_from(std::string_view name, std::uint32_t perms, const std::filesystem::path& source);
  Status add_symlink(std::string_view name, std::string_view target);
  Status add_char_device(std::string_view name, std::uint32_t perms, std::uint32_t major, std::uint32_t minor);
  /// Adds everything below `root` (not root itself), directories before their contents, names sorted.
  Status add_tree(const std::filesystem::path& root);
  /// Writes the trailer and flushes; the archive is valid only after this.
  Status finish();

  std::uint64_t entries() const noexcept { return entries_; }

 private:
  explicit CpioWriter(std::ofstream out, std::filesystem::path path) : out_(std::move(out)), path_(std::move(path)) {}
  Status header(std::string_view name, std::uint32_t mode, std::uint64_t size, std::uint32_t rmajor = 0,
                std::uint32_t rminor = 0);
  Status pad();
  Status check();

  std::ofstream out_;
  std::filesystem::path path_;
  std::uint64_t offset_ = 0;
  std::uint32_t next_ino_ = 1;
  std::uint64_t entries_ = 0;
};

/// One entry read back from a newc archive (used by tests and verification).
struct CpioEntry {
  std::string name;
  std::uint32_t mode = 0;
  std::string data;  ///< file content or symlink target
  std::uint32_t rdev_major = 0, rdev_minor = 0;
};

/// Parses a complete newc archive (up to the TRAILER!!! entry).
Result<std::vector<CpioEntry>> parse_cpio(std::string_view archive);

}  // namespace firerun::image::detail
