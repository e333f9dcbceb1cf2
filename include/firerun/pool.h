// Fast start: snapshots cached per image and machine shape, and warm pools of
// ready VMs. Everything here runs on one executor (no internal locking).
#pragma once

#include "firerun/vm.h"

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace firerun {

/// Snapshots of freshly booted, agent-ready VMs, keyed by everything that
/// makes a snapshot unusable when it changes: the image hash, the backend's
/// snapshot compatibility key (backend, accelerator, machine, VMM binary) and
/// the machine shape (vCPUs, memory, kernel command line, boot files, network).
class SnapshotCache {
 public:
  /// `root` e.g. <cache>/snapshots; created on demand.
  explicit SnapshotCache(std::filesystem::path root);

  /// The cache key for booting `spec` from image `image_hash` on `backend`.
  static Result<std::string> key_for(const VmBackend& backend, const VmSpec& spec, std::string_view image_hash);

  /// Returns the cached snapshot, or boots a VM, snapshots it and caches it.
  /// Safe against concurrent callers in other processes (file lock).
  Task<Result<Snapshot>> get_or_create(VmBackend& backend, const VmSpec& spec, std::string_view image_hash);

  const std::filesystem::path& root() const noexcept { return root_; }

 private:
  std::filesystem::path root_;
};

struct PoolOptions {
  std::size_t min_ready = 1;                   ///< refill up to this many ready VMs
  std::size_t max_ready = 4;                   ///< never keep more than this many
  std::chrono::seconds idle_timeout{300};      ///< ready VMs above min_ready idle longer are destroyed
  /// Run once in each VM before it joins the pool (empty = none), so the
  /// first real exec finds the exec path warm (page cache, TCG translations).
  std::vector<std::string> warmup_argv{"true"};
};

/// How acquire() obtained a VM.
enum class AcquireSource { pool, restore, cold_boot };
const char* to_string(AcquireSource s) noexcept;

struct AcquiredVm {
  std::unique_ptr<Vm> vm;  ///< running, agent ready, used by nobody else
  AcquireSource source;
};

/// Keeps ready VMs of one shape. acquire() hands out a pooled VM when one is
/// ready, else restores one from the snapshot (if any), else boots one cold.
/// Each VM is handed out once; the caller owns and destroys it.
class WarmPool {
 public:
  WarmPool(boost::asio::any_io_executor executor, std::shared_ptr<VmBackend> backend, VmSpec spec,
           PoolOptions options, std::optional<Snapshot> snapshot = std::nullopt);
  ~WarmPool();  ///< kills any VM still pooled (call shutdown() first for a clean drain)

  /// Starts filling in the background.
  void start();
  Task<Result<AcquiredVm>> acquire();
  /// Stops refilling, waits for fills in flight, destroys every pooled VM.
  Task<void> shutdown();

  std::size_t ready() const noexcept;
  std::size_t filling() const noexcept;

  struct State;  // shared with the background refill coroutine

 private:
  std::shared_ptr<State> state_;
};

}  // namespace firerun
