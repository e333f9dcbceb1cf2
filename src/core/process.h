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

struct SpawnOptions {
  std::vector<std::string> argv;  ///< argv[0] must be a path or be found in PATH
  /// Descriptors the child inherits at the same numbers (others are closed on exec).
  std::vector<int> inherit_fds;
  bool capture_stderr = true;     ///< keep the last stderr_cap bytes for error messages
  std::size_t stderr_cap = 64 * 1024;
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

/// Finds an executable in PATH (or checks an explicit path).
Result<std::string> find_executable(const std::string& name);

}  // namespace firerun::detail
