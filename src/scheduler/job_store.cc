#include "scheduler/job_store.h"

#include "scheduler/sqlite_db.h"

#include <utility>

namespace firerun::scheduler::detail {
namespace {

using sqlite::Statement;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  priority INTEGER NOT NULL,
  vcpus INTEGER NOT NULL,
  memory_mib INTEGER NOT NULL,
  timeout_ms INTEGER NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  user_failed INTEGER NOT NULL DEFAULT 0,
  error_code TEXT,
  error_message TEXT,
  created_ms INTEGER NOT NULL,
  started_ms INTEGER,
  finished_ms INTEGER,
  vm_pid INTEGER NOT NULL DEFAULT 0,
  vm_start_time INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
)sql";

constexpr const char* kColumns =
    "seq, id, kind, payload, priority, vcpus, memory_mib, timeout_ms, status, attempts, result, user_failed, "
    "error_code, error_message, created_ms, started_ms, finished_ms, vm_pid, vm_start_time";

Errc errc_from_name(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(Errc::internal); ++i)
    if (name == errc_name(static_cast<Errc>(i))) return static_cast<Errc>(i);
  return Errc::internal;
}

StoredJob read_row(const Statement& s) {
  StoredJob out;
  out.seq = s.integer(0);
  JobRecord& r = out.record;
  r.job.id = s.text(1);
  r.job.kind = s.text(2);
  r.job.payload = s.text(3);
  r.job.priority = static_cast<int>(s.integer(4));
  r.job.resources.vcpus = static_cast<unsigned>(s.integer(5));
  r.job.resources.memory_mib = static_cast<std::uint64_t>(s.integer(6));
  r.job.timeout = std::chrono::milliseconds(s.integer(7));
  r.status = job_status_from_string(s.text(8)).value_or(JobStatus::failed);
  r.attempts = static_cast<unsigned>(s.integer(9));
  r.job.attempt = r.attempts;
  r.result = s.text(10);
  r.user_failed = s.integer(11) != 0;
  if (!s.is_null(12)) r.error = Error(errc_from_name(s.text(12)), s.text(13));
  r.created_ms = s.integer(14);
  if (!s.is_null(15)) r.started_ms = s.integer(15);
  if (!s.is_null(16)) r.finished_ms = s.integer(16);
  out.vm_pid = static_cast<int>(s.integer(17));
  out.vm_start_time = static_cast<std::uint64_t>(s.integer(18));
  return out;
}

}  // namespace

Result<std::unique_ptr<JobStore>> JobStore::open(const std::filesystem::path& path) {
  FIRERUN_TRY(auto db, sqlite::Database::open(path, "job database", kSchema));
  return std::unique_ptr<JobStore>(new JobStore(std::move(db)));
}

JobStore::JobStore(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}
JobStore::~JobStore() = default;

Status JobStore::exec(const char* sql) { return db_->exec(sql); }

Result<std::int64_t> JobStore::insert(const JobRecord& r) {
  Statement s(*db_,
              "INSERT INTO jobs (id, kind, payload, priority, vcpus, memory_mib, timeout_ms, status, created_ms) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?)");
  s.bind(1, r.job.id).bind(2, r.job.kind).bind(3, r.job.payload).bind(4, std::int64_t{r.job.priority});
  s.bind(5, std::int64_t{r.job.resources.vcpus}).bind(6, static_cast<std::int64_t>(r.job.resources.memory_mib));
  s.bind(7, static_cast<std::int64_t>(r.job.timeout.count())).bind(8, r.created_ms);
  FIRERUN_CHECK(s.run("inserting a job"));
  return sqlite3_last_insert_rowid(db_->handle());
}

Status JobStore::mark_running(const std::string& id, unsigned attempts, std::int64_t started_ms) {
  Statement s(*db_,
              "UPDATE jobs SET status='running', attempts=?, started_ms=COALESCE(started_ms, ?) WHERE id=? AND "
              "status='queued'");
  s.bind(1, std::int64_t{attempts}).bind(2, started_ms).bind(3, id);
  return s.run("marking a job running");
}

Status JobStore::requeue(const std::string& id) {
  Statement s(*db_, "UPDATE jobs SET status='queued', vm_pid=0, vm_start_time=0 WHERE id=? AND status='running'");
  s.bind(1, id);
  return s.run("requeueing a job");
}

Result<bool> JobStore::finish(const JobRecord& r) {
  Statement s(*db_,
              "UPDATE jobs SET status=?, attempts=?, result=?, user_failed=?, error_code=?, error_message=?, "
              "finished_ms=?, vm_pid=0, vm_start_time=0 WHERE id=? AND status IN ('queued','running')");
  s.bind(1, std::string(to_string(r.status))).bind(2, std::int64_t{r.attempts}).bind(3, r.result);
  s.bind(4, std::int64_t{r.user_failed ? 1 : 0});
  if (r.error) {
    s.bind(5, std::string(errc_name(r.error->errc()))).bind(6, r.error->what());
  } else {
    s.bind_null(5).bind_null(6);
  }
  s.bind(7, r.finished_ms.value_or(0)).bind(8, r.job.id);
  FIRERUN_CHECK(s.run("finishing a job"));
  return db_->changes() == 1;
}

Status JobStore::set_vm(const std::string& id, int pid, std::uint64_t start_time) {
  Statement s(*db_, "UPDATE jobs SET vm_pid=?, vm_start_time=? WHERE id=?");
  s.bind(1, std::int64_t{pid}).bind(2, static_cast<std::int64_t>(start_time)).bind(3, id);
  return s.run("recording a VM process");
}

Status JobStore::clear_vm(const std::string& id) { return set_vm(id, 0, 0); }

Result<std::optional<JobRecord>> JobStore::load(const std::string& id) {
  Statement s(*db_, (std::string("SELECT ") + kColumns + " FROM jobs WHERE id=?").c_str());
  if (!s.ok()) return db_->error("preparing a job lookup");
  s.bind(1, id);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<JobRecord>();
  if (rc != SQLITE_ROW) return db_->error("looking up a job");
  return std::optional<JobRecord>(read_row(s).record);
}

Result<std::vector<StoredJob>> JobStore::load_with_status(JobStatus status) {
  Statement s(*db_, (std::string("SELECT ") + kColumns + " FROM jobs WHERE status=? ORDER BY seq").c_str());
  if (!s.ok()) return db_->error("preparing a job scan");
  s.bind(1, std::string(to_string(status)));
  std::vector<StoredJob> out;
  for (int rc = s.step();; rc = s.step()) {
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return db_->error("scanning jobs");
    out.push_back(read_row(s));
  }
  return out;
}

Status JobStore::delete_queued(const std::vector<std::string>& ids) {
  FIRERUN_CHECK(exec("BEGIN IMMEDIATE"));
  for (const auto& id : ids) {
    Statement s(*db_, "DELETE FROM jobs WHERE id=? AND status='queued'");
    s.bind(1, id);
    if (auto st = s.run("deleting a queued job"); !st) {
      (void)exec("ROLLBACK");
      return st;
    }
  }
  return exec("COMMIT");
}

Status JobStore::prune_finished(std::size_t keep) {
  Statement s(*db_,
              "DELETE FROM jobs WHERE status NOT IN ('queued','running') AND seq NOT IN (SELECT seq FROM jobs "
              "WHERE status NOT IN ('queued','running') ORDER BY seq DESC LIMIT ?)");
  s.bind(1, static_cast<std::int64_t>(keep));
  return s.run("pruning finished jobs");
}

}  // namespace firerun::scheduler::detail
