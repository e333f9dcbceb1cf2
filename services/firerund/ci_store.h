// What the CI side of firerund must remember across restarts (SQLite, WAL):
// webhook deliveries already handled (redeliveries are ignored), the CI jobs
// it took on, and the runners it registered (so a crash never leaves one behind).
#pragma once

#include "firerun/error.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace firerun::sqlite {
class Database;
}

namespace firerun::daemon {

/// A CI job firerund took on. `key` is "<provider>/<job id>/<attempt>".
struct CiJobRow {
  std::string key;
  std::string provider;
  std::uint64_t ci_job_id = 0;
  std::string scheduler_job;   ///< the scheduler job currently serving it
  std::string payload;         ///< the job request as stored in the scheduler job
  bool done = false;           ///< a runner VM ran it to the end, or it needed none
  std::uint64_t resubmits = 0; ///< scheduler jobs started again after a daemon crash
};

/// A runner registered with a CI provider.
struct RunnerRow {
  std::string provider;
  std::uint64_t runner_id = 0;
  std::string name;
  std::string scope;          ///< broker-defined, needed to remove it
  std::string job_key;        ///< CiJobRow::key
  std::string scheduler_job;  ///< the attempt that registered it
  std::int64_t created_ms = 0;
};

class CiStore {
 public:
  /// Opens or creates the database (empty path: in memory).
  static Result<std::unique_ptr<CiStore>> open(const std::filesystem::path& path);
  ~CiStore();

  /// Records a delivery; false when it was seen before. Thread-safe (as is everything here).
  Result<bool> first_delivery(const std::string& provider, const std::string& delivery_id, std::int64_t now_ms);
  /// Forgets a delivery that could not be handled, so the provider's redelivery is acted on.
  Status forget_delivery(const std::string& provider, const std::string& delivery_id);
  /// Deletes deliveries older than `before_ms`.
  Status prune_deliveries(std::int64_t before_ms);

  /// Inserts a job; already_exists when its key is known.
  Status add_job(const CiJobRow& row);
  Result<std::optional<CiJobRow>> job(const std::string& key);
  /// Points a job at a new scheduler job (after a resubmit).
  Status resubmitted(const std::string& key, const std::string& scheduler_job);
  Status mark_done(const std::string& key);
  /// Jobs not done yet.
  Result<std::vector<CiJobRow>> open_jobs();

  Status add_runner(const RunnerRow& row);
  Status runner_removed(const std::string& provider, std::uint64_t runner_id, std::int64_t now_ms);
  /// Runners registered and not removed yet.
  Result<std::vector<RunnerRow>> live_runners();

 private:
  explicit CiStore(std::unique_ptr<sqlite::Database> db);
  std::mutex mutex_;
  std::unique_ptr<sqlite::Database> db_;
};

/// "<provider>/<job id>/<attempt>".
std::string ci_job_key(const std::string& provider, std::uint64_t job_id, std::uint32_t attempt);

}  // namespace firerun::daemon
