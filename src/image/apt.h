// Package resolution and download through the host's apt, with a private,
// empty dpkg status so nothing on the host is consulted or changed.
#pragma once

#include "firerun/error.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::image::detail {

/// One exact .deb as apt would fetch it.
struct PackageRef {
  std::string name;
  std::string version;       ///< with epoch ("1:2.5.1-4")
  std::string architecture;  ///< "amd64" or "all"
  std::string filename;      ///< apt's file name, e.g. "libattr1_1%3a2.5.1-4_amd64.deb"
  std::string uri;
  std::uint64_t size = 0;
  std::string hash_algorithm;  ///< OpenSSL name ("SHA256", "MD5"), empty when apt gave none
  std::string hash;            ///< lowercase hex
};

/// Parses `apt-get --print-uris` output ("'URI' file size [ALGO:hex]" lines);
/// other lines are ignored. Malformed URI lines are an error.
Result<std::vector<PackageRef>> parse_print_uris(std::string_view output);

/// Parses `apt-cache depends` output and returns the first Depends target that
/// starts with `prefix` ("linux-image-"), or not_found.
Result<std::string> parse_depends_target(std::string_view output, std::string_view prefix);

/// Where apt's private state lives (an empty dpkg status, an empty archives dir).
struct AptContext {
  std::filesystem::path state_dir;  ///< <cache>/apt
};

/// The dependency closure of `packages` (no recommends/suggests), excluding `exclude`.
Result<std::vector<PackageRef>> resolve_closure(const AptContext& ctx, const std::vector<std::string>& packages,
                                                const std::vector<std::string>& exclude);

/// The versioned kernel image behind a meta package (or the package itself when it has no linux-image- dependency).
Result<PackageRef> resolve_kernel(const AptContext& ctx, const std::string& kernel_package);

/// Ensures every package is in `deb_dir` (verified by size and apt's hash),
/// downloading missing ones in batches; calls progress(done, total).
Status fetch_debs(const AptContext& ctx, const std::vector<PackageRef>& packages, const std::filesystem::path& deb_dir,
                  const std::function<void(std::size_t, std::size_t)>& progress);

}  // namespace firerun::image::detail
