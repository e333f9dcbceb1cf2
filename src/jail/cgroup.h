// Per-VMM cgroups on either layout: cgroup v2 (one unified hierarchy) or the
// v1/hybrid layout (memory, pids and cpu mounted separately).
#pragma once

#include "core/process.h"
#include "firerun/error.h"
#include "firerun/jail.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace firerun::jail {

struct CgroupLimits {
  std::uint64_t memory_bytes = 0;
  std::uint32_t pids_max = 0;
  std::uint64_t cpu_quota_us = 0;  ///< per cpu_period_us
  std::uint64_t cpu_period_us = 100000;
};

/// Where the controllers firerun needs are mounted.
struct CgroupLayout {
  bool v2 = false;
  /// v2: one entry (the unified root); v1: memory, pids, cpu roots.
  std::vector<std::pair<std::string, std::filesystem::path>> roots;
  /// Finds the layout; the error names the missing controller.
  static Result<CgroupLayout> detect(const std::filesystem::path& mount = "/sys/fs/cgroup");
};

class Cgroup {
 public:
  /// Makes <parent>/<name> in every hierarchy with `limits` applied.
  static Result<std::unique_ptr<Cgroup>> create(const CgroupLayout& layout, const std::string& parent,
                                                const std::string& name, const CgroupLimits& limits);
  ~Cgroup();
  /// Open cgroup.procs files: a child writing "0" to each joins the cgroup.
  const std::vector<int>& procs_fds() const noexcept { return procs_raw_; }
  /// "memory limit of N MiB" when the kernel OOM-killed something in it.
  std::string limit_hit() const;
  const std::vector<std::filesystem::path>& dirs() const noexcept { return dirs_; }

 private:
  Cgroup() = default;
  bool v2_ = false;
  std::uint64_t memory_bytes_ = 0;
  std::vector<std::filesystem::path> dirs_;
  std::filesystem::path memory_dir_;
  std::vector<::firerun::detail::UniqueFd> procs_;
  std::vector<int> procs_raw_;
};

/// Kills what is left in, and removes, cgroups under `parent` whose owning
/// process (the number before the first '.') is gone.
void sweep_cgroups(const CgroupLayout& layout, const std::string& parent);

}  // namespace firerun::jail
