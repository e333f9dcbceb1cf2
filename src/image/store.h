// The on-disk image cache: entry verification, completion records, locking.
//
// <cache>/images/<name>/<hash>/{vmlinuz, initrd.cpio, manifest.json, complete.json}
// complete.json is written last (temp + rename) inside a build directory that
// is then renamed into place, so an entry without a valid record is partial.
#pragma once

#include "firerun/error.h"
#include "firerun/image.h"

#include <filesystem>
#include <string>
#include <string_view>

namespace firerun::image::detail {

inline constexpr int kBuilderFormatVersion = 1;
inline constexpr const char* kCompletionFile = "complete.json";

/// Writes `content` to a temp file beside `path`, fsyncs and renames it over `path`.
Status write_atomically(const std::filesystem::path& path, std::string_view content);

/// Writes complete.json for the artifacts in `dir` (hashing each of them).
Status write_completion_record(const std::filesystem::path& dir, const Image& image);

/// An exclusive flock held for the object's lifetime.
class FileLock {
 public:
  static Result<FileLock> acquire(const std::filesystem::path& path);
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace firerun::image::detail
