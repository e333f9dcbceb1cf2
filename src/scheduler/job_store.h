// SQLite persistence of scheduler jobs (WAL mode). Not thread-safe on its own:
// the scheduler serialises access with its mutex.
#pragma once

#include "firerun/scheduler.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace firerun::sqlite {
class Database;
}

namespace firerun::scheduler::detail {

/// A stored job plus the bookkeeping only recovery needs.
struct StoredJob {
  JobRecord record;
  std::int64_t seq = 0;                 ///< insertion order (FIFO within a priority)
  int vm_pid = 0;                       ///< 0 = no VMM recorded
  std::uint64_t vm_start_time = 0;      ///< /proc/<pid>/stat start time when recorded
};

class JobStore {
 public:
  /// Opens or creates the database; an empty path means a private in-memory DB.
  static Result<std::unique_ptr<JobStore>> open(const std::filesystem::path& path);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  /// Inserts a queued job; returns its sequence number.
  Result<std::int64_t> insert(const JobRecord& record);
  Status mark_running(const std::string& id, unsigned attempts, std::int64_t started_ms);
  /// Back to queued (retry / interrupted with the retry policy); forgets the VMM.
  Status requeue(const std::string& id);
  /// The one terminal transition: only from queued/running. Returns false when
  /// the job was already terminal (which would be a bug in the caller).
  Result<bool> finish(const JobRecord& record);
  Status set_vm(const std::string& id, int pid, std::uint64_t start_time);
  Status clear_vm(const std::string& id);
  Result<std::optional<JobRecord>> load(const std::string& id);
  Result<std::vector<StoredJob>> load_with_status(JobStatus status);
  /// Deletes these jobs if still queued, all or none (one transaction).
  Status delete_queued(const std::vector<std::string>& ids);
  /// Deletes the oldest finished jobs beyond `keep`.
  Status prune_finished(std::size_t keep);

 private:
  explicit JobStore(std::unique_ptr<sqlite::Database> db);
  Status exec(const char* sql);
  std::unique_ptr<sqlite::Database> db_;
};

}  // namespace firerun::scheduler::detail
