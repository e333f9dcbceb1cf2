#include "ci_store.h"

#include "scheduler/sqlite_db.h"

namespace firerun::daemon {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS deliveries (
  provider TEXT NOT NULL,
  delivery_id TEXT NOT NULL,
  received_ms INTEGER NOT NULL,
  PRIMARY KEY (provider, delivery_id)
);
CREATE TABLE IF NOT EXISTS ci_jobs (
  key TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  ci_job_id INTEGER NOT NULL,
  scheduler_job TEXT NOT NULL,
  payload TEXT NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  resubmits INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS runners (
  provider TEXT NOT NULL,
  runner_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  scope TEXT NOT NULL,
  job_key TEXT NOT NULL,
  scheduler_job TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  removed_ms INTEGER,
  PRIMARY KEY (provider, runner_id)
);
)sql";

CiJobRow job_from(const sqlite::Statement& s) {
  return CiJobRow{s.text(0), s.text(1), static_cast<std::uint64_t>(s.integer(2)), s.text(3), s.text(4),
                  s.integer(5) != 0, static_cast<std::uint64_t>(s.integer(6))};
}

}  // namespace

std::string ci_job_key(const std::string& provider, std::uint64_t job_id, std::uint32_t attempt) {
  return provider + "/" + std::to_string(job_id) + "/" + std::to_string(attempt);
}

Result<std::unique_ptr<CiStore>> CiStore::open(const std::filesystem::path& path) {
  FIRERUN_TRY(auto db, sqlite::Database::open(path, "CI database", kSchema));
  return std::unique_ptr<CiStore>(new CiStore(std::move(db)));
}

CiStore::CiStore(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}
CiStore::~CiStore() = default;

Result<bool> CiStore::first_delivery(const std::string& provider, const std::string& delivery_id, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_, "INSERT OR IGNORE INTO deliveries (provider, delivery_id, received_ms) VALUES (?, ?, ?)");
  FIRERUN_CHECK(s.bind(1, provider).bind(2, delivery_id).bind(3, now_ms).run("recording a delivery"));
  return db_->changes() == 1;
}

Status CiStore::forget_delivery(const std::string& provider, const std::string& delivery_id) {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_, "DELETE FROM deliveries WHERE provider = ? AND delivery_id = ?");
  return s.bind(1, provider).bind(2, delivery_id).run("forgetting a delivery");
}

Status CiStore::prune_deliveries(std::int64_t before_ms) {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_, "DELETE FROM deliveries WHERE received_ms < ?");
  return s.bind(1, before_ms).run("pruning deliveries");
}

Status CiStore::add_job(const CiJobRow& row) {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_,
                      "INSERT OR IGNORE INTO ci_jobs (key, provider, ci_job_id, scheduler_job, payload, done, resubmits) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  FIRERUN_CHECK(s.bind(1, row.key)
                    .bind(2, row.provider)
                    .bind(3, static_cast<std::int64_t>(row.ci_job_id))
                    .bind(4, row.scheduler_job)
                    .bind(5, row.payload)
                    .bind(6, std::int64_t{row.done})
                    .bind(7, static_cast<std::int64_t>(row.resubmits))
                    .run("adding a CI job"));
  if (db_->changes() != 1) return make_error(Errc::already_exists, "CI job " + row.key + " is already known");
  return {};
}

Result<std::optional<CiJobRow>> CiStore::job(const std::string& key) {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_, "SELECT key, provider, ci_job_id, scheduler_job, payload, done, resubmits FROM ci_jobs WHERE key = ?");
  if (!s.ok()) return db_->error("preparing a CI job lookup");
  s.bind(1, key);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<CiJobRow>();
  if (rc != SQLITE_ROW) return db_->error("looking up CI job " + key);
  return std::optional<CiJobRow>(job_from(s));
}

Status CiStore::resubmitted(const std::string& key, const std::string& scheduler_job) {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_, "UPDATE ci_jobs SET scheduler_job = ?, resubmits = resubmits + 1 WHERE key = ?");
  return s.bind(1, scheduler_job).bind(2, key).run("resubmitting a CI job");
}

Status CiStore::mark_done(const std::string& key) {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_, "UPDATE ci_jobs SET done = 1 WHERE key = ?");
  return s.bind(1, key).run("finishing a CI job");
}

Result<std::vector<CiJobRow>> CiStore::open_jobs() {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_, "SELECT key, provider, ci_job_id, scheduler_job, payload, done, resubmits FROM ci_jobs WHERE done = 0");
  if (!s.ok()) return db_->error("preparing the open CI jobs query");
  std::vector<CiJobRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(job_from(s));
  if (rc != SQLITE_DONE) return db_->error("listing open CI jobs");
  return out;
}

Status CiStore::add_runner(const RunnerRow& row) {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_,
                      "INSERT OR REPLACE INTO runners (provider, runner_id, name, scope, job_key, scheduler_job, created_ms) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  return s.bind(1, row.provider)
      .bind(2, static_cast<std::int64_t>(row.runner_id))
      .bind(3, row.name)
      .bind(4, row.scope)
      .bind(5, row.job_key)
      .bind(6, row.scheduler_job)
      .bind(7, row.created_ms)
      .run("recording a runner");
}

Status CiStore::runner_removed(const std::string& provider, std::uint64_t runner_id, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_, "UPDATE runners SET removed_ms = ? WHERE provider = ? AND runner_id = ?");
  return s.bind(1, now_ms).bind(2, provider).bind(3, static_cast<std::int64_t>(runner_id)).run("removing a runner");
}

Result<std::vector<RunnerRow>> CiStore::live_runners() {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_,
                      "SELECT provider, runner_id, name, scope, job_key, scheduler_job, created_ms FROM runners "
                      "WHERE removed_ms IS NULL ORDER BY created_ms");
  if (!s.ok()) return db_->error("preparing the live runners query");
  std::vector<RunnerRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(RunnerRow{s.text(0), static_cast<std::uint64_t>(s.integer(1)), s.text(2), s.text(3), s.text(4),
                            s.text(5), s.integer(6)});
  if (rc != SQLITE_DONE) return db_->error("listing live runners");
  return out;
}

}  // namespace firerun::daemon
