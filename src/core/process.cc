#include "core/process.h"

#include <fstream>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace firerun::detail {
namespace asio = boost::asio;

namespace {

Error errno_error(const std::string& what) {
  return Error(boost::system::error_code(errno, boost::system::system_category()), what + ": " + std::strerror(errno));
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

int UniqueFd::release() noexcept {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

Result<std::pair<UniqueFd, UniqueFd>> make_socketpair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return errno_error("socketpair");
  return std::pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::string ExitStatus::describe() const {
  if (code) return "exited with code " + std::to_string(*code);
  if (signal) return "killed by signal " + std::to_string(*signal) + " (" + ::strsignal(*signal) + ")";
  return "still running";
}

Result<std::string> find_executable(const std::string& name) {
  namespace fs = std::filesystem;
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return name;
    return make_error(Errc::not_found, "'" + name + "' is not an executable file");
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    fs::path candidate = fs::path(std::string(dirs.substr(0, colon))) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
  }
  return make_error(Errc::not_found, "'" + name + "' not found in PATH");
}

struct ChildProcess::StderrPump {
  StderrPump(asio::any_io_executor ex, int fd, std::size_t cap) : pipe(ex, fd), cap(cap) {}
  asio::posix::stream_descriptor pipe;
  std::size_t cap;
  std::string tail;
  bool done = false;

  static asio::awaitable<void> run(std::shared_ptr<StderrPump> self) {
    char buf[4096];
    for (;;) {
      auto [ec, n] = co_await self->pipe.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
      if (ec) break;
      self->tail.append(buf, n);
      if (self->tail.size() > self->cap) self->tail.erase(0, self->tail.size() - self->cap);
    }
    self->done = true;
  }
};

ChildProcess::ChildProcess(asio::any_io_executor ex, pid_t pid, UniqueFd pidfd, UniqueFd stderr_fd, std::size_t cap)
    : pid_(pid), pidfd_(ex, pidfd.release()) {
  if (stderr_fd) {
    stderr_ = std::make_shared<StderrPump>(ex, stderr_fd.release(), cap);
    asio::co_spawn(ex, StderrPump::run(stderr_), asio::detached);
  }
}

ChildProcess::~ChildProcess() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    reap_now();
  }
  if (stderr_) stderr_->pipe.close();
}

Status ChildProcess::signal(int sig) noexcept {
  if (status_) return {};
  // pidfd_send_signal avoids hitting a recycled pid; the pid is still ours
  // until reaped, so kill() is equally safe here and simpler.
  if (::kill(pid_, sig) != 0 && errno != ESRCH) return errno_error("kill(" + std::to_string(pid_) + ")");
  return {};
}

void ChildProcess::reap_now() noexcept {
  int wstatus = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &wstatus, 0);
  } while (r < 0 && errno == EINTR);
  ExitStatus st;
  if (r == pid_) {
    if (WIFEXITED(wstatus)) st.code = WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) st.signal = WTERMSIG(wstatus);
  }
  status_ = st;
}

asio::awaitable<void> ChildProcess::wait_until_exited(const bool* give_up) {
  while (!status_ && !(give_up && *give_up)) {
    // A pidfd becomes readable when the process exits. A cancelled wait may
    // come from another waiter's timeout, so only our own flag stops the loop.
    auto [ec] = co_await pidfd_.async_wait(asio::posix::descriptor_base::wait_read, asio::as_tuple(asio::use_awaitable));
    if (status_) break;
    if (ec && ec != asio::error::operation_aborted) {
      reap_now();  // cannot wait asynchronously: fall back to a blocking reap
      break;
    }
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_) reap_now();
  }
  if (!status_) co_return;
  // Let the stderr pump drain what the child wrote before dying.
  for (int i = 0; i < 50 && stderr_ && !stderr_->done; ++i) {
    asio::steady_timer t(pidfd_.get_executor(), std::chrono::milliseconds(2));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<ExitStatus> ChildProcess::wait() {
  co_await wait_until_exited(nullptr);
  co_return *status_;
}

asio::awaitable<std::optional<ExitStatus>> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  auto give_up = std::make_shared<bool>(false);
  asio::steady_timer timer(pidfd_.get_executor(), timeout);
  timer.async_wait([this, give_up](boost::system::error_code ec) {
    if (ec) return;
    *give_up = true;
    pidfd_.cancel();
  });
  co_await wait_until_exited(give_up.get());
  timer.cancel();
  co_return status_;
}

std::string ChildProcess::stderr_tail() const { return stderr_ ? stderr_->tail : std::string(); }

namespace {

/// What a child that failed before exec reports back through its exec pipe.
struct ChildFailure {
  int err = 0;
  char stage[64] = {};
};

[[noreturn]] void child_fail(int fd, int err, const char* stage) noexcept {
  ChildFailure f;
  f.err = err;
  for (std::size_t i = 0; stage && stage[i] && i + 1 < sizeof f.stage; ++i) f.stage[i] = stage[i];
  (void)!::write(fd, &f, sizeof f);
  ::_exit(127);
}

/// Closes every descriptor from 3 up except those in `keep` (sorted).
void close_all_except(const std::vector<int>& keep) noexcept {
  unsigned from = 3;
  for (int k : keep) {
    if (k < 0 || static_cast<unsigned>(k) < from) continue;
    if (static_cast<unsigned>(k) > from) ::syscall(SYS_close_range, from, static_cast<unsigned>(k) - 1, 0);
    from = static_cast<unsigned>(k) + 1;
  }
  ::syscall(SYS_close_range, from, ~0u, 0);
}

/// A fork(), or a clone() into new namespaces: the child continues on a copy of
/// this stack, as with fork.
pid_t fork_into(int namespaces) {
  if (namespaces == 0) return ::fork();
  return static_cast<pid_t>(::syscall(SYS_clone, static_cast<unsigned long>(namespaces) | SIGCHLD, nullptr, nullptr,
                                      nullptr, nullptr));
}

}  // namespace

Result<std::unique_ptr<ChildProcess>> ChildProcess::spawn(asio::any_io_executor ex, const SpawnOptions& opts) {
  if (opts.argv.empty()) return make_error(Errc::invalid_argument, "spawn: empty argv");
  FIRERUN_TRY(std::string exe, find_executable(opts.argv[0]));

  // Everything the child needs is prepared before fork: after fork only
  // async-signal-safe calls are allowed (the parent may be multithreaded).
  std::vector<char*> argv;
  for (const auto& a : opts.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : opts.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int err_pipe[2] = {-1, -1};
  if (opts.capture_stderr && ::pipe2(err_pipe, O_CLOEXEC) != 0) return errno_error("pipe2");
  int exec_pipe[2];  // reports a failure before exec (stage + errno) back to the parent
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) return errno_error("pipe2");
  int sync_pipe[2];  // the parent's go-ahead; its EOF means the parent is gone
  if (::pipe2(sync_pipe, O_CLOEXEC) != 0) return errno_error("pipe2");
  UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]), exec_read(exec_pipe[0]), exec_write(exec_pipe[1]);
  UniqueFd sync_read(sync_pipe[0]), sync_write(sync_pipe[1]);
  std::vector<int> keep = opts.inherit_fds;
  keep.push_back(exec_write.get());
  keep.push_back(sync_read.get());
  std::sort(keep.begin(), keep.end());
  const pid_t parent = ::getpid();
  const bool new_pid_ns = (opts.namespaces & CLONE_NEWPID) != 0;

  pid_t pid = fork_into(opts.namespaces);
  if (pid < 0) return errno_error(opts.namespaces ? "clone (new namespaces)" : "fork");
  if (pid == 0) {
    // Child. Die with the parent, even if it is SIGKILLed.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // In a new pid namespace the parent is outside it and getppid() is 0.
    if (!new_pid_ns && ::getppid() != parent) ::_exit(127);
    ::setsid();
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(opts.stdout_fd >= 0 ? opts.stdout_fd : devnull, 1);
    ::dup2(err_write ? err_write.get() : devnull, 2);
    if (devnull > 2) ::close(devnull);
    char go = 0;
    ssize_t got;
    do {
      got = ::read(sync_read.get(), &go, 1);
    } while (got < 0 && errno == EINTR);
    if (got != 1) ::_exit(127);  // the parent gave up on us
    if (opts.enter_netns_fd >= 0 && ::setns(opts.enter_netns_fd, CLONE_NEWNET) != 0)
      child_fail(exec_write.get(), errno, "entering the network namespace");
    if (opts.setup) {
      const char* stage = "setup";
      if (int err = opts.setup->run(&stage); err != 0) child_fail(exec_write.get(), err, stage);
      // Changing credentials clears the parent-death signal: set it again, then
      // make sure the parent did not die in between (its end of the pipe).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      pollfd lifeline{sync_read.get(), POLLIN, 0};
      if (::poll(&lifeline, 1, 0) > 0 && (lifeline.revents & (POLLHUP | POLLERR))) ::_exit(127);
    }
    close_all_except(keep);
    for (int fd : opts.inherit_fds) {
      int flags = ::fcntl(fd, F_GETFD);
      ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(exe.c_str(), argv.data(), envp.data());
    child_fail(exec_write.get(), errno, "exec");
  }

  exec_write = UniqueFd();
  err_write = UniqueFd();
  sync_read = UniqueFd();
  auto abandon = [&](Error e) -> Error {
    ::kill(pid, SIGKILL);
    int st;
    ::waitpid(pid, &st, 0);
    return e;
  };
  if (opts.before_exec)
    if (auto prepared = opts.before_exec(pid); !prepared) return abandon(std::move(prepared).error());
  const char go = 1;
  if (::write(sync_write.get(), &go, 1) != 1) return abandon(errno_error("releasing the child"));

  ChildFailure failure;
  ssize_t n;
  do {
    n = ::read(exec_read.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  sync_write = UniqueFd();
  if (n == sizeof failure) {
    int st;
    ::waitpid(pid, &st, 0);
    errno = failure.err;
    std::string stage(failure.stage);
    return errno_error(stage == "exec" ? "exec " + exe : "starting " + exe + ": " + stage);
  }
  UniqueFd pidfd(pidfd_open(pid));
  if (!pidfd) return abandon(errno_error("pidfd_open"));
  return std::unique_ptr<ChildProcess>(
      new ChildProcess(ex, pid, std::move(pidfd), std::move(err_read), opts.stderr_cap));
}

Result<std::string> run_to_completion(const SpawnOptions& opts, std::chrono::milliseconds timeout) {
  if (opts.argv.empty()) return make_error(Errc::invalid_argument, "run: empty argv");
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return errno_error("pipe2");
  UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  SpawnOptions o = opts;
  o.stdout_fd = out_write.get();
  asio::io_context io;
  FIRERUN_TRY(auto child, ChildProcess::spawn(io.get_executor(), o));
  out_write = UniqueFd();
  std::string out;
  asio::posix::stream_descriptor reader(io, out_read.release());
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    char buf[4096];
    for (;;) {
      auto [ec, n] = co_await reader.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
      out.append(buf, n);
      if (ec || out.size() > (16u << 20)) break;
    }
  }, asio::detached);
  std::optional<ExitStatus> status;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    status = co_await child->wait_for(timeout);
    if (!status) reader.close();
  }, asio::detached);
  io.run();
  const std::string what = "'" + opts.argv[0] + (opts.argv.size() > 1 ? " " + opts.argv[1] : std::string()) + "'";
  if (!status) return make_error(Errc::timeout, what + " did not finish within " + std::to_string(timeout.count()) + " ms");
  if (status->code == 0) return out;
  std::string err = child->stderr_tail();
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  return make_error(Errc::io, what + " " + status->describe() + (err.empty() ? "" : ": " + err));
}

bool process_exited(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const auto close = line.rfind(')');  // the command name may hold spaces and ')'
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

}  // namespace firerun::detail
