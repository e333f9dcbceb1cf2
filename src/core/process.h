// Child-process supervision for VMM processes. Hand-rolled on fork/exec rather
// than Boost.Process because we need PR_SET_PDEATHSIG (the VMM must die with
// us, even on SIGKILL), exact fd numbers inherited by the child, and a pidfd
// for race-free asynchronous waiting.
#pragma once

#include "firerun/error.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <sys/types.h>

#include <functional>
#include <memory>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace firerun::detail {

/// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  ~UniqueFd();
  int get() const noexcept { return fd_; }
  int release() noexcept;
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

/// A connected AF_UNIX stream socketpair, both ends close-on-exec.
Result<std::pair<UniqueFd, UniqueFd>> make_socketpair();

/// Work done in the child between fork and exec (mounts, cgroup, dropping
/// privileges). Runs after fork in a possibly multithreaded parent: run() must
/// be async-signal-safe (system calls only; no allocation, no locks).
class ChildSetup {
 public:
  virtual ~ChildSetup() = default;
  /// 0 on success, else an errno value with `stage` naming the failed step.
  virtual int run(const char** stage) const noexcept = 0;
};

struct SpawnOptions {
  std::vector<std::string> argv;  ///< argv[0] must be a path or be found in PATH
  /// Descriptors the child inherits at the same numbers; every other one is closed.
  std::vector<int> inherit_fds;
  bool capture_stderr = true;     ///< keep the last stderr_cap bytes for error messages
  std::size_t stderr_cap = 64 * 1024;
  /// The child's whole environment ("K=V"); the parent's is never passed on.
  std::vector<std::string> env;
  /// CLONE_NEW* flags: the child starts in these new namespaces.
  int namespaces = 0;
  /// Enter this network namespace (an open /proc/<pid>/ns/net) before exec.
  int enter_netns_fd = -1;
  /// Runs in the parent once the child exists (in its namespaces) and before it
  /// continues: e.g. wiring its network namespace. An error kills the child.
  std::function<Status(pid_t)> before_exec;
  const ChildSetup* setup = nullptr;  ///< runs in the child last before exec
  int stdout_fd = -1;                 ///< the child's stdout (default /dev/null)
};

/// How a child ended.
struct ExitStatus {
  std::optional<int> code;
  std::optional<int> signal;
  std::string describe() const;  ///< "exited with code 1" / "killed by signal 9 (Killed)"
};

/// A running child. Destroying it SIGKILLs and reaps the child if still alive,
/// so no process outlives its owner.
class ChildProcess {
 public:
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const noexcept { return pid_; }
  bool exited() const noexcept { return status_.has_value(); }
  /// Sends a signal; a no-op once the child has been reaped.
  Status signal(int sig) noexcept;
  /// Completes when the child has exited (and been reaped). Safe to call repeatedly.
  boost::asio::awaitable<ExitStatus> wait();
  /// Like wait(), but gives up after `timeout` and returns nullopt if still running.
  boost::asio::awaitable<std::optional<ExitStatus>> wait_for(std::chrono::milliseconds timeout);
  /// Tail of what the child wrote to stderr so far.
  std::string stderr_tail() const;

  static Result<std::unique_ptr<ChildProcess>> spawn(boost::asio::any_io_executor ex, const SpawnOptions& opts);

 private:
  ChildProcess(boost::asio::any_io_executor ex, pid_t pid, UniqueFd pidfd, UniqueFd stderr_fd, std::size_t cap);
  struct StderrPump;  // shared with its reader coroutine, which may outlive us
  void reap_now() noexcept;
  boost::asio::awaitable<void> wait_until_exited(const bool* give_up);

  pid_t pid_;
  boost::asio::posix::stream_descriptor pidfd_;
  std::shared_ptr<StderrPump> stderr_;
  std::optional<ExitStatus> status_;
};

/// True when `pid` has exited: gone from /proc, or a zombie waiting for its
/// parent to reap it. For processes this one did not spawn (or whose
/// ChildProcess it cannot reach).
bool process_exited(pid_t pid);

/// Runs a short helper command to completion (blocking) and returns its stdout;
/// a non-zero exit is an error carrying its stderr.
Result<std::string> run_to_completion(const SpawnOptions& opts, std::chrono::milliseconds timeout);

/// Finds an executable in PATH (or checks an explicit path).
Result<std::string> find_executable(const std::string& name);

}  // namespace firerun::detail
