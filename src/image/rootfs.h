// Assembling a guest root tree on the host without ever following a symlink
// out of it (packages may ship absolute symlinks that point at host paths).
#pragma once

#include "firerun/error.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::image::detail {

/// Maps a guest path to a host path below `root`, resolving symlinks in every
/// component but the last as the guest would (absolute targets restart at
/// `root`, ".." stops at `root`). Missing components are appended unchanged.
Result<std::filesystem::path> path_in_root(const std::filesystem::path& root, std::string_view guest_path);

/// Same, but the last component is resolved too (where a guest open() would land).
Result<std::filesystem::path> resolve_in_root(const std::filesystem::path& root, std::string_view guest_path);

/// Moves the tree `src` into `dst` without following symlinks. Where both have
/// a non-directory at the same place, `src` wins if `src_wins`; a directory vs
/// non-directory clash keeps `dst`. Clashing guest paths are appended to `conflicts`.
Status merge_tree(const std::filesystem::path& src, const std::filesystem::path& dst, bool src_wins,
                  std::vector<std::string>& conflicts, const std::string& guest_prefix = "");

/// Makes /bin, /sbin, /lib, /lib64 symlinks into /usr (merged-/usr layout),
/// moving whatever packages put there. Files already in /usr win clashes.
Status merge_usr(const std::filesystem::path& root, std::vector<std::string>& conflicts);

/// Removes a guest path (file or tree) if present.
Status remove_in_root(const std::filesystem::path& root, std::string_view guest_path);

/// Writes a file (creating parents), replacing what was there.
Status write_in_root(const std::filesystem::path& root, std::string_view guest_path, std::string_view content,
                     std::uint32_t mode);

/// Creates a symlink (creating parents), replacing what was there.
Status symlink_in_root(const std::filesystem::path& root, std::string_view guest_path, std::string_view target);

/// Copies a host file into the guest tree (creating parents).
Status copy_into_root(const std::filesystem::path& root, std::string_view guest_path,
                      const std::filesystem::path& source, std::uint32_t mode);

}  // namespace firerun::image::detail
