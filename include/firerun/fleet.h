// A job queue shared by several hosts (a "fleet"). Each host claims jobs into
// its own in-flight list, acknowledges them when they are done and hands back
// what it cannot run (a spot-warned host). Nothing is lost when a host dies:
// recover() at its next start, or another operator tool, moves its in-flight
// jobs back. Backends are chosen by URI scheme from a registry:
//   auto q = firerun::fleet::open_shared_queue("redis://10.0.0.5:6379/0?prefix=firerun").value();
//   q->push(job).value();
//   if (auto claimed = q->claim("host-a", 1s).value()) { ...run...; q->ack("host-a", claimed->id).value(); }
#pragma once

#include "firerun/error.h"
#include "firerun/registry.h"
#include "firerun/scheduler.h"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::fleet {

/// What a host needs to trust, and take, entries of a shared queue.
struct QueueOptions {
  /// The fleet key, shared by every host and producer (at least 32 bytes):
  /// each entry carries an HMAC-SHA256 over it under this key, and an entry
  /// without a valid one is dead-lettered, never run. Empty = unsigned entries
  /// (a single trusted writer; firerund always sets one). Never logged.
  std::string key;
  /// Job kinds this host takes ("code"); an entry of another kind is
  /// dead-lettered with the reason. Empty = every kind. Hosts sharing one
  /// queue (prefix) should take the same kinds: use a prefix per kind otherwise.
  std::vector<std::string> kinds;
};

/// Sizes of the shared lists (for metrics and tests).
struct QueueStats {
  std::size_t queued = 0;       ///< jobs waiting in the shared list
  std::size_t dead_letter = 0;  ///< malformed entries set aside
};

/// A reliable queue shared by hosts. Jobs travel as encode_job() JSON. The
/// queue is FIFO (job priorities order work only inside one host). Calls block
/// on the network: never call them on an io thread. Thread-safe. Host ids are
/// 1-128 characters of [A-Za-z0-9._-].
class SharedQueue {
 public:
  virtual ~SharedQueue() = default;
  /// Appends a job at the tail.
  virtual Status push(const scheduler::Job& job) = 0;
  /// Atomically moves the head job into `host_id`'s in-flight list, waiting up
  /// to `wait` for one (zero = do not wait); nullopt when none came. Malformed
  /// entries go to the dead-letter list (with a log line) and are skipped.
  virtual Result<std::optional<scheduler::Job>> claim(const std::string& host_id, std::chrono::milliseconds wait) = 0;
  /// Forgets a finished job from `host_id`'s in-flight list; not_found if it is not there.
  virtual Status ack(const std::string& host_id, const std::string& job_id) = 0;
  /// Puts `job` back at the head (it is claimed next) and removes it from
  /// `host_id`'s in-flight list if it was there, atomically.
  virtual Status release(const std::string& host_id, const scheduler::Job& job) = 0;
  /// Moves a claimed job that this host refuses to run (its payload failed
  /// validation) from `host_id`'s in-flight list to the dead-letter list, logging `reason`.
  virtual Status reject(const std::string& host_id, const scheduler::Job& job, const std::string& reason) = 0;
  /// The jobs `host_id` has claimed and not acknowledged (malformed ones go to the dead-letter list).
  virtual Result<std::vector<scheduler::Job>> in_flight(const std::string& host_id) = 0;
  /// Moves every in-flight job of `host_id` back to the head (use at startup
  /// for jobs this host no longer knows); returns how many moved.
  virtual Result<std::size_t> recover(const std::string& host_id) = 0;
  /// Current list sizes.
  virtual Result<QueueStats> stats() = 0;
  /// Where the queue lives, without credentials (for logs).
  virtual std::string describe() const = 0;
};

/// Registry entry opening a queue from a URI of its scheme.
class SharedQueueFactory {
 public:
  virtual ~SharedQueueFactory() = default;
  /// Name (the URI scheme), description and status.
  virtual BackendInfo info() const = 0;
  /// Validates the URI and creates the queue (connecting lazily); errors never quote passwords.
  virtual Result<std::unique_ptr<SharedQueue>> open(std::string_view uri, const QueueOptions& options) const = 0;
};

/// Registry of shared-queue backends, keyed by URI scheme.
using SharedQueueRegistry = Registry<SharedQueueFactory>;

/// Adds the built-in "redis" backend.
Status register_builtin_shared_queues(SharedQueueRegistry& registry);
/// The process-wide registry, with the built-ins registered.
SharedQueueRegistry& shared_queues();
/// Opens a queue through shared_queues().
Result<std::unique_ptr<SharedQueue>> open_shared_queue(std::string_view uri, const QueueOptions& options = {});

/// A job as it travels between hosts: {"v":1,"id","kind","payload","priority","vcpus","memory_mib","timeout_ms"};
/// with a fleet key, sealed as {"v":2,"job":"<that JSON>","mac":"<hex HMAC-SHA256 of it under the key>"}.
std::string encode_job(const scheduler::Job& job, std::string_view key = {});
/// Parses and validates encode_job() output made with the same key (an
/// unsigned entry when `key` is set, a bad MAC or a signed entry without a key
/// are refused); anything else is Errc::protocol (the input is never quoted).
Result<scheduler::Job> decode_job(std::string_view wire, std::string_view key = {});
/// True for 1-128 characters of [A-Za-z0-9._-] (host ids and job ids on the wire).
bool valid_fleet_name(std::string_view name) noexcept;

}  // namespace firerun::fleet
