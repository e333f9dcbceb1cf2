// Kernel-module dependency resolution without depmod: read each module's
// .modinfo ELF section ("depends=a,b") and order the closure deps-first.
#pragma once

#include "firerun/error.h"

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::image::detail {

/// Key/value pairs of a module's .modinfo section (repeated keys keep the first).
Result<std::map<std::string, std::string>> parse_modinfo(std::string_view elf_bytes);

/// Module name as the kernel spells it ("virtio-rng" -> "virtio_rng").
std::string normalize_module_name(std::string_view name);

/// A module found in the kernel tree.
struct ModuleFile {
  std::string name;                 ///< normalized
  std::string relative_path;        ///< "kernel/drivers/virtio/virtio.ko", relative to lib/modules/<release>
  std::vector<std::string> depends; ///< normalized names
};

/// Parses modules.order lines ("kernel/....ko") into name -> relative path.
Result<std::map<std::string, std::string>> parse_modules_order(std::string_view text);

/// Resolves `wanted` (and their dependencies) in `module_dir` (= lib/modules/<release>).
/// Result is ordered dependencies first, each module once. Names listed in
/// modules.builtin are skipped (already in the kernel).
Result<std::vector<ModuleFile>> resolve_modules(const std::filesystem::path& module_dir,
                                                const std::vector<std::string>& wanted);

}  // namespace firerun::image::detail
