// A small SQLite toolkit shared by the stores that persist state (scheduler
// jobs, CI deliveries and runners): open in WAL mode, run SQL, and prepared
// statements with positional binding. Errors are Errc::io with the store's name
// as context.
#pragma once

#include "firerun/error.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace firerun::sqlite {

/// An open database; `context` ("job database") names it in errors.
class Database {
 public:
  /// Opens or creates `path` (mode 0600, WAL, FULL sync, 5 s busy timeout) and runs `schema`;
  /// an empty path means a private in-memory database.
  static Result<std::unique_ptr<Database>> open(const std::filesystem::path& path, std::string context,
                                                const char* schema) {
    sqlite3* db = nullptr;
    const std::string name = path.empty() ? std::string(":memory:") : path.string();
    // Created (or tightened to) 0600 before SQLite opens it; SQLite gives its
    // -wal and -shm files the database's own mode.
    if (!path.empty()) {
      const int fd = ::open(name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd < 0) return Error(Errc::io, "opening " + name + ": " + std::strerror(errno)).with_context(context);
      const bool private_mode = ::fchmod(fd, 0600) == 0;
      ::close(fd);
      if (!private_mode) return Error(Errc::io, "chmod 0600 " + name + ": " + std::strerror(errno)).with_context(context);
    }
    int rc = sqlite3_open_v2(name.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             nullptr);
    std::unique_ptr<Database> out(new Database(db, std::move(context)));
    if (rc != SQLITE_OK) return out->error("opening " + name);
    sqlite3_busy_timeout(db, 5000);
    // WAL keeps readers off the writer's back. FULL sync makes every commit
    // durable across an OS crash or power loss too (NORMAL could lose the last
    // commits: an accepted job or a delivery's dedupe record), for one more
    // fsync of the WAL per commit.
    if (!path.empty()) FIRERUN_CHECK(out->exec("PRAGMA journal_mode=WAL"));
    FIRERUN_CHECK(out->exec("PRAGMA synchronous=FULL"));
    FIRERUN_CHECK(out->exec(schema));
    return out;
  }
  ~Database() { sqlite3_close(db_); }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  sqlite3* handle() const noexcept { return db_; }
  /// Runs one or more statements without results.
  Status exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message ? message : "unknown error";
      sqlite3_free(message);
      return Error(Errc::io, text).with_context(context_);
    }
    return {};
  }
  /// The database's last error as an Error about `what`.
  Error error(const std::string& what) const {
    return Error(Errc::io, what + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory")).with_context(context_);
  }
  /// Rows changed by the last statement.
  int changes() const { return sqlite3_changes(db_); }

 private:
  Database(sqlite3* db, std::string context) : db_(db), context_(std::move(context)) {}
  sqlite3* db_;
  std::string context_;
};

/// RAII prepared statement with positional binding helpers.
class Statement {
 public:
  Statement(Database& db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db.handle(), sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind_null(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(stmt_); }
  /// Prepares-checks and steps once (statements without result rows).
  Status run(const char* what) {
    if (!ok()) return db_.error(std::string("preparing ") + what);
    int rc = step();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return db_.error(what);
    return {};
  }
  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace firerun::sqlite
