// The VM lifecycle interface: a validated VmSpec, a Vm with a legal-state
// machine enforced once here, and pluggable backends picked by name or URI.
#pragma once

#include "firerun/error.h"
#include "firerun/exec.h"
#include "firerun/jail.h"
#include "firerun/registry.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun {

namespace agent {
class AgentClient;
}
namespace detail {
class ChildProcess;
struct SpawnOptions;
}  // namespace detail
namespace jail {
class Jail;
}

template <class T>
using Task = boost::asio::awaitable<T>;

/// An extra block device for the guest.
struct DriveSpec {
  std::filesystem::path path;
  bool read_only = true;
};

/// Where a guest with a NIC may connect. The host itself (every address of it,
/// and what user-mode networking maps to its loopback) is never reachable;
/// link-local (the cloud metadata service), private (RFC 1918, CGNAT, ULA) and
/// other special ranges only when `allow` lists them.
struct EgressPolicy {
  bool internet = false;            ///< every public address
  std::vector<std::string> allow;   ///< CIDRs ("192.0.2.0/24", "10.1.2.3") or host names (resolved at start)
  std::vector<std::string> dns;     ///< resolvers the guest's DNS goes to; empty = the jail's defaults
};

/// What to boot. Validated by validate() before any backend sees it.
struct VmSpec {
  std::string name;                         ///< optional; a unique id is generated if empty
  unsigned vcpus = 1;                       ///< 1..64
  std::uint64_t memory_mib = 256;           ///< 64..65536
  std::filesystem::path kernel;             ///< uncompressed or bzImage kernel (required)
  std::filesystem::path initrd;             ///< initramfs; required unless root_drive is set
  std::optional<DriveSpec> root_drive;      ///< root filesystem image (raw)
  std::vector<DriveSpec> drives;            ///< extra drives, in order (/dev/vdb, ...)
  std::string kernel_cmdline;               ///< appended to the backend's base command line
  bool network = false;                     ///< guest network is off unless asked for
  EgressPolicy egress;                      ///< with network: `internet` or an allowlist is required
  std::uint64_t console_log_cap = 1u << 20; ///< bytes of console output kept (the tail)
  std::chrono::milliseconds boot_timeout{120000}; ///< start() fails if the agent is not ready by then
};

/// Checks a spec; the error names the offending field.
Status validate(const VmSpec& spec);

enum class VmState { created, starting, running, paused, stopping, stopped, failed };
const char* to_string(VmState s) noexcept;

/// Emitted on every state change (and when the guest agent becomes ready).
struct VmEvent {
  VmState state;
  std::string detail;  ///< human-readable reason ("agent ready in 3120 ms", "QEMU exited with signal 9")
};

/// How a VM ended.
struct VmExit {
  /// resource_limit: the VMM was killed for exceeding its jail's cgroup limits.
  enum class Reason { shutdown, stopped, killed, guest_panic, vmm_crashed, boot_failed, resource_limit };
  Reason reason;
  std::string detail;
};
const char* to_string(VmExit::Reason r) noexcept;

/// A saved, agent-ready VM from which fresh VMs are restored. The directory
/// holds the backend's state file and snapshot.json describing how to use it.
struct Snapshot {
  std::filesystem::path dir;
  std::string backend;      ///< backend that took it ("qemu")
  std::string accelerator;  ///< restores must use the same accelerator
  std::string machine;      ///< backend machine type ("microvm")
  VmSpec spec;              ///< shape and boot files of the saved VM
  std::uint64_t state_bytes = 0;
};

/// Reads and checks a snapshot directory (snapshot.json + state file).
Result<Snapshot> open_snapshot(const std::filesystem::path& dir);

/// Facts about a running VM.
struct VmInfo {
  std::string backend;       ///< "qemu"
  std::string accelerator;   ///< "kvm" or "tcg": what was actually used
  std::string accel_reason;  ///< why that accelerator was chosen
  int vmm_pid = -1;
  std::uint32_t vmm_uid = 0;                     ///< the uid the VMM runs as (its jail's)
  bool jailed = false;
  std::chrono::milliseconds boot_time{0};        ///< host: start() until agent ready
  std::chrono::milliseconds guest_boot_time{0};  ///< guest: kernel start until agent ready
  bool restored = false;                         ///< started from a Snapshot rather than booted
};

/// A microVM. Public methods are non-virtual: they enforce the lifecycle state
/// machine and error context for every backend, then call the do_* hooks.
/// All methods must be called from the Vm's executor, and a Vm must outlive
/// every operation started on it (kill() it and let them fail, then destroy it).
class Vm {
 public:
  virtual ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  const std::string& id() const noexcept { return id_; }
  const VmSpec& spec() const noexcept { return spec_; }
  VmState state() const noexcept { return state_; }
  const VmInfo& info() const noexcept { return info_; }

  /// created → running: boots and waits until the guest agent is ready.
  Task<Status> start();
  /// Graceful stop (agent shutdown / powerdown), then force after `grace`.
  Task<Status> stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  /// Immediate termination of the VMM; legal in any state.
  Task<Status> kill();
  /// Waits until the VM has ended; legal after start().
  Task<Result<VmExit>> wait();
  Task<Status> pause();
  Task<Status> resume();
  /// Saves this running, idle VM (no exec in flight) into `dir` (created; must
  /// not exist). The VM is left paused: resume() it, or kill() it.
  Task<Result<Snapshot>> snapshot(const std::filesystem::path& dir);

  /// Runs a program in the guest through the agent (state must be running).
  /// Like every Task here, reference arguments must outlive the co_await.
  Task<Result<ExecResult>> exec(const ExecRequest& request, const OutputSink* sink = nullptr);
  Task<Status> write_file(const std::string& guest_path, const std::string& data, unsigned mode = 0644);
  Task<Result<std::string>> read_file(const std::string& guest_path, std::uint64_t max_bytes = 16u << 20);

  /// The captured console output (the last console_log_cap bytes).
  std::string console_log() const;
  /// Registers a state-change listener (called on the Vm's executor).
  void on_event(std::function<void(const VmEvent&)> handler);

 protected:
  Vm(std::string backend, VmSpec spec, boost::asio::any_io_executor executor, JailOptions jail = {});

  /// Boot the VMM; on success the agent must be connected (adopt_booted_agent()
  /// or adopt_restored_agent()) and ready. Fill info_ (accelerator, pid); the
  /// core measures boot_time around this call.
  virtual Task<Status> do_start() = 0;
  /// Stop the VMM gracefully within grace, then force.
  virtual Task<Status> do_stop(std::chrono::milliseconds grace) = 0;
  virtual Task<Status> do_kill() = 0;
  /// Resolve when the VMM process has exited and everything is cleaned up.
  virtual Task<VmExit> do_wait() = 0;
  virtual Task<Status> do_pause();
  virtual Task<Status> do_resume();
  virtual Task<Result<Snapshot>> do_snapshot(const std::filesystem::path& dir);
  virtual std::string do_console_log() const = 0;

  /// For a freshly booted guest: waits (within spec().boot_timeout) for the
  /// agent's hello, records the guest's boot time, and hands the agent to the
  /// core, which owns exec/files from then on.
  Task<Status> adopt_booted_agent(std::unique_ptr<agent::AgentClient> agent);
  /// For a guest restored from a snapshot (every clone starts from the same
  /// memory): gives it fresh entropy and the host's time before anything runs
  /// in it, then hands the agent to the core.
  Task<Status> adopt_restored_agent(std::unique_ptr<agent::AgentClient> agent);
  /// The jail this VM's VMM is to be started in (made once, on first call,
  /// off the io thread): backends expose their files through it, then start
  /// the VMM with spawn_vmm().
  Task<Result<jail::Jail*>> prepare_vmm_jail();
  /// The jail prepare_vmm_jail() made (Errc::internal before that).
  Result<jail::Jail*> vmm_jail();
  /// Starts the VMM in its jail (cgroup, namespaces, network wiring) off the io thread.
  Task<Result<std::unique_ptr<detail::ChildProcess>>> spawn_vmm(detail::SpawnOptions opts);
  agent::AgentClient* agent() noexcept { return agent_.get(); }
  void set_state(VmState s, std::string detail = {});
  boost::asio::any_io_executor executor() const { return executor_; }
  VmInfo info_;

 private:
  Status require(std::initializer_list<VmState> allowed, std::string_view operation) const;
  Error in_context(Error e, std::string_view operation) const;

  std::string id_;
  VmSpec spec_;
  boost::asio::any_io_executor executor_;
  VmState state_ = VmState::created;
  std::unique_ptr<agent::AgentClient> agent_;
  JailOptions jail_options_;
  std::unique_ptr<jail::Jail> jail_;
  std::vector<std::function<void(const VmEvent&)>> handlers_;
  std::optional<VmExit> exit_;
};

/// A backend creates VMs; obtained from a VmBackendFactory. create() and
/// restore() validate the spec here, for every backend, before the do_* hooks.
class VmBackend {
 public:
  virtual ~VmBackend() = default;
  virtual BackendInfo info() const = 0;
  /// Validates the spec and prepares (does not boot) a VM.
  Result<std::unique_ptr<Vm>> create(VmSpec spec);
  /// Prepares a VM whose start() restores `snapshot` instead of booting; the
  /// guest's RNG is reseeded and its clock set from the host on restore.
  Result<std::unique_ptr<Vm>> restore(const Snapshot& snapshot);
  /// Identifies everything outside the VmSpec that a snapshot depends on
  /// (backend, accelerator, machine, VMM build); unsupported by default.
  virtual Result<std::string> snapshot_compat_key() const;

 protected:
  /// Prepares a VM for a spec that validate() accepted.
  virtual Result<std::unique_ptr<Vm>> do_create(VmSpec spec) = 0;
  /// Prepares a restore of a snapshot this backend took (snapshot.backend is
  /// this backend's name; its spec is valid); unsupported by default.
  virtual Result<std::unique_ptr<Vm>> do_restore(const Snapshot& snapshot);
};

/// Registered by name; `make` parses backend options from a URI such as
/// "qemu:///?accel=tcg&binary=/usr/bin/qemu-system-x86_64".
class VmBackendFactory {
 public:
  virtual ~VmBackendFactory() = default;
  virtual BackendInfo info() const = 0;
  /// Every VMM of the backend is started in a jail made from `jail`.
  virtual Result<std::shared_ptr<VmBackend>> make(std::string_view uri, boost::asio::any_io_executor executor,
                                                  const JailOptions& jail) const = 0;
};

/// The process-wide registry of VM backends, with the built-ins registered.
Registry<VmBackendFactory>& vm_backends();

/// Picks a backend by name or URI ("qemu", "qemu:///?accel=kvm") and makes it;
/// its VMMs are jailed with `jail` (the safe defaults unless told otherwise).
Result<std::shared_ptr<VmBackend>> open_vm_backend(std::string_view uri, boost::asio::any_io_executor executor,
                                                   const JailOptions& jail = {});

}  // namespace firerun
