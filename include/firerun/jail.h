// Containment of VMM processes: every VMM firerun starts runs in a jail modelled
// on Firecracker's jailer (own uid, namespaces, minimal root, cgroup limits,
// clean environment and descriptors). The VM backends ask the core for a jail;
// these are the operator-facing settings and the host check behind
// `firerun doctor`.
#pragma once

#include "firerun/error.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace firerun {

struct JailOptions {
  /// false = `jail: off`: VMMs run as the caller, unconfined (logged as a warning).
  bool enabled = true;
  /// VMMs get one uid (and gid of the same number) each from [uid_first, uid_first + uid_count);
  /// these ids must belong to nobody else on the host.
  std::uint32_t uid_first = 900000;
  std::uint32_t uid_count = 4096;
  /// Per-VM cgroups are made under this path of every hierarchy (v2 or v1 memory/pids/cpu).
  std::string cgroup_parent = "firerun";
  /// An empty directory each VMM's private root is mounted over, in its own mount namespace.
  std::filesystem::path chroot_base = "/run/firerun/jail";
  /// uid leases (one lock file per uid in use; shared by every firerun process on the host).
  std::filesystem::path run_dir = "/run/firerun";
  /// Memory limit = guest RAM + this (QEMU itself, TCG's code cache, device buffers).
  std::uint64_t memory_overhead_mib = 384;
  /// Tasks (threads count) a VMM may have.
  std::uint32_t pids_max = 256;
  /// CPU limit = vCPUs + this many CPUs (main loop and I/O threads).
  double cpu_overhead = 1.0;
  /// RLIMIT_NOFILE of a VMM.
  std::uint64_t max_open_files = 4096;
  /// Point-to-point links of VMs with a network are carved from this IPv4 range (/30 each).
  std::string link_cidr = "10.254.0.0/16";
  /// Resolvers a guest's DNS goes to; empty = the host's /etc/resolv.conf (loopback ones excluded).
  std::vector<std::string> dns;
};

/// Checks the values (ranges, CIDR, resolver addresses); the error names the field.
Status validate(const JailOptions& options);

/// Checks that this host can jail VMMs with `options` (root, cgroup controllers,
/// namespaces); the error names what is missing. A no-op when jailing is off.
Status check_jail_support(const JailOptions& options);

/// One line of `firerun doctor`.
struct HostCheck {
  std::string what;    ///< "cgroup memory controller"
  bool ok = false;
  std::string detail;  ///< "v1 at /sys/fs/cgroup/memory" / why not
};

/// What this host supports and what firerun will use (accelerator, namespaces,
/// cgroups, nftables, uid range).
std::vector<HostCheck> check_host(const JailOptions& options);

}  // namespace firerun
