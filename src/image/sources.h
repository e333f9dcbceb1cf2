// User-provided files in an image (recipe `archives` and `binaries`, e.g. a CI
// runner release that cannot be downloaded at build time): locating them on
// the host, hashing their content, and unpacking archives into a guest root.
#pragma once

#include "firerun/error.h"
#include "firerun/image.h"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::image::detail {

/// One recipe source found on the host.
struct ResolvedSource {
  std::string key;             ///< "archives[0]", "binaries[1]": how messages name it
  std::filesystem::path path;  ///< host path after ${NAME} expansion and base-dir resolution
  std::string sha256;          ///< lowercase hex digest of the content
};

/// Replaces every ${NAME} with the environment variable's value; an unset or
/// empty variable is an invalid_argument error naming `key`.
Result<std::string> expand_env_refs(std::string_view text, std::string_view key);

/// Every archive, then every binary, in recipe order: expanded, made absolute
/// against recipe.base_dir, checked (not_found names the key and the path;
/// unsupported archive suffix and sha256 mismatch are invalid_argument) and hashed.
Result<std::vector<ResolvedSource>> resolve_sources(const Recipe& recipe);

/// Lists `archive` with tar, refusing absolute or ".." member names and any
/// member that is not a file, directory or link; extracts it into `staging`
/// (must not exist; same filesystem as `root`) and moves that into guest
/// directory `dest`, following guest symlinks only inside `root`. Archive
/// files replace clashing files (recorded in `conflicts`); a directory vs
/// non-directory clash is an error.
Status unpack_archive(const std::filesystem::path& root, std::string_view dest, const std::filesystem::path& archive,
                      const std::filesystem::path& staging, std::vector<std::string>& conflicts);

}  // namespace firerun::image::detail
