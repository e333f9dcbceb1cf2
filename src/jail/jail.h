// One VMM's jail: what every backend needs to contain its VMM process, done
// once here (Firecracker's jailer is the model). A backend exposes the files
// its VMM must open, builds its command line with the paths the jail returns,
// and spawns the VMM through spawn().
#pragma once

#include "core/process.h"
#include "firerun/jail.h"
#include "firerun/vm.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace firerun::jail {

class Cgroup;
class UidLease;
class NetworkLink;

/// Checks an egress policy (CIDRs, host names, resolvers); the error names the entry.
Status validate_egress(const EgressPolicy& policy);

/// One step of building a jail's root, prepared in the parent and replayed in
/// the child (where only system calls are allowed).
struct FsStep {
  enum class Kind { mkdir, symlink, bind, device, file } kind;
  std::string path;    ///< absolute, below the jail root as the VMM sees it
  std::string source;  ///< bind: host path; symlink: target; file: content
  bool writable = false;
  bool directory = false;  ///< bind: the source is a directory
  unsigned mode = 0;   ///< device: S_IFCHR | permissions
  unsigned long dev = 0;
};

class Jail {
 public:
  /// Leases a uid, makes the cgroup with the spec's limits and sweeps what dead
  /// firerun processes left behind. With options.enabled false, a pass-through.
  static Result<std::unique_ptr<Jail>> create(const JailOptions& options, const std::string& vm_id, const VmSpec& spec);
  ~Jail();
  Jail(const Jail&) = delete;
  Jail& operator=(const Jail&) = delete;

  bool enabled() const noexcept { return options_.enabled; }
  std::uint32_t uid() const noexcept;

  /// Makes a host file visible to the VMM and returns the path it has there.
  std::string expose_file(const std::filesystem::path& host, bool writable = false);
  /// An executable with its shared libraries (as the dynamic loader resolves
  /// them) and the data directories it reads; returns its path in the jail.
  Result<std::string> expose_executable(const std::filesystem::path& host,
                                        const std::vector<std::filesystem::path>& data_dirs);
  /// A character device node owned by the VMM's uid (e.g. /dev/kvm).
  Status expose_device(const std::filesystem::path& host);

  /// Spawns the VMM: new mount, pid, ipc, uts and network namespaces, the
  /// prepared root, the cgroup, rlimits, the VM's uid, an empty environment and
  /// only opts.inherit_fds open. With a network, the namespace is wired and
  /// policed before the VMM runs.
  Result<std::unique_ptr<::firerun::detail::ChildProcess>> spawn(boost::asio::any_io_executor ex,
                                                                 ::firerun::detail::SpawnOptions opts);

  /// Non-empty when the VMM was killed for exceeding its limits: what it hit.
  std::string limit_hit() const;

  /// The plan of the jail root (for tests and `firerun doctor`).
  const std::vector<FsStep>& fs_plan() const noexcept { return steps_; }

 private:
  Jail(JailOptions options, std::string vm_id, VmSpec spec);
  void add_parents(const std::filesystem::path& jail_path);
  void add_path(const std::filesystem::path& host, bool writable, int depth = 0);

  JailOptions options_;
  std::string vm_id_;
  VmSpec spec_;
  std::unique_ptr<UidLease> uid_;
  std::unique_ptr<Cgroup> cgroup_;
  std::unique_ptr<NetworkLink> network_;
  std::vector<FsStep> steps_;
  std::vector<std::string> made_;  ///< jail paths already planned
  unsigned exposed_ = 0;
  struct Chowned {
    std::filesystem::path path;
    unsigned uid, gid;
  };
  std::vector<Chowned> chowned_;  ///< writable files lent to the VMM's uid, given back on release
};

/// Removes what firerun processes that died left behind: cgroups of dead
/// owners (killing what is still in them) and stale uid leases.
void sweep_orphans(const JailOptions& options);

}  // namespace firerun::jail
