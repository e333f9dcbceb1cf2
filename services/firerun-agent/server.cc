#include "server.h"

#include "firerun/agent_protocol.h"
#include "firerun/version.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/random.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace firerun::agent {
namespace {

using Clock = std::chrono::steady_clock;

/// After the program exits, how long to wait for its pipes to reach EOF
/// (background children may hold them open) before reporting the exit.
constexpr auto kPipeDrainGrace = std::chrono::milliseconds(1000);
/// Above this much undelivered stdin for one exec, stop reading the connection
/// so the host's writes block instead of the guest's memory filling up.
constexpr std::size_t kStdinHighWater = 4u << 20;

int g_sigchld_pipe[2] = {-1, -1};

void on_sigchld(int) {
  int saved = errno;
  char byte = 0;
  [[maybe_unused]] auto n = ::write(g_sigchld_pipe[1], &byte, 1);
  errno = saved;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

Errc errno_to_errc(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR: return Errc::not_found;
    case EISDIR:
    case EINVAL:
    case ENAMETOOLONG:
    case EACCES:
    case EPERM: return Errc::invalid_argument;
    default: return Errc::io;
  }
}

std::string errno_message(std::string_view what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

std::uint64_t uptime_ms() {
  std::ifstream in("/proc/uptime");
  double seconds = 0;
  if (!(in >> seconds) || seconds < 0) return 0;
  return static_cast<std::uint64_t>(seconds * 1000.0);
}

struct Exec {
  std::uint32_t id = 0;
  pid_t pid = -1;
  bool has_stdin = false;
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  std::string stdin_pending;
  bool stdin_eof = false;  // host sent EOF: close once pending is written
  std::uint64_t cap = 0;
  std::uint64_t stdout_sent = 0;
  std::uint64_t stderr_sent = 0;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  Clock::time_point started;
  std::optional<Clock::time_point> deadline;
  bool timed_out = false;
  std::optional<int> wait_status;
  Clock::time_point exited_at;

  void close_all() {
    close_fd(stdin_fd);
    close_fd(stdout_fd);
    close_fd(stderr_fd);
  }
};

class Server {
 public:
  Server(int in_fd, int out_fd, ServeOptions options) : in_fd_(in_fd), out_fd_(out_fd), options_(options) {}

  ServeEnd run();

 private:
  bool send(MessageType type, std::uint32_t id, std::string_view payload);
  void send_error(std::uint32_t id, Errc code, std::string_view message);
  void send_hello();

  void read_connection();
  void dispatch(Frame frame);
  void handle_exec(std::uint32_t id, std::string_view payload);
  void handle_stdin(std::uint32_t id, std::string payload);
  void handle_write_file(std::uint32_t id, std::string_view payload);
  void handle_read_file(std::uint32_t id, std::string_view payload);
  void handle_reseed(std::uint32_t id, std::string_view payload);

  Result<Exec> spawn(std::uint32_t id, const ExecStart& start);
  void pump_output(Exec& exec, bool is_stdout);
  void pump_stdin(Exec& exec);
  void reap_children();
  void enforce_deadlines(Clock::time_point now);
  void finish_execs(Clock::time_point now);
  int poll_timeout_ms(Clock::time_point now) const;
  bool stdin_backlogged() const;
  void kill_all_execs();

  int in_fd_;
  int out_fd_;
  ServeOptions options_;
  FrameDecoder decoder_;
  std::map<std::uint32_t, Exec> execs_;
  bool disconnected_ = false;
  bool shutdown_ = false;
};

bool Server::send(MessageType type, std::uint32_t id, std::string_view payload) {
  if (disconnected_) return false;
  auto frame = encode_frame(type, id, payload);
  if (!frame) {
    log_line("internal error: " + frame.error().what());
    return false;
  }
  std::string_view rest = *frame;
  while (!rest.empty()) {
    ssize_t n = ::write(out_fd_, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{out_fd_, POLLOUT, 0};
      ::poll(&p, 1, 100);
      continue;
    }
    if (n <= 0) {
      log_line(errno_message("writing to host", errno));
      disconnected_ = true;
      return false;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void Server::send_error(std::uint32_t id, Errc code, std::string_view message) {
  send(MessageType::error, id, encode_error(code, message));
}

void Server::send_hello() {
  Hello hello;
  hello.agent_version = FIRERUN_VERSION_STRING;
  hello.boot_time_ms = uptime_ms();
  utsname uts{};
  if (::uname(&uts) == 0) hello.kernel_release = uts.release;
  send(MessageType::hello, 0, encode_hello(hello));
}

ServeEnd Server::run() {
  send_hello();
  std::vector<pollfd> fds;
  // What each pollfd is: the connection, the SIGCHLD pipe, or an exec stream.
  enum class Role { connection, sigchld, exec_stdin, exec_stdout, exec_stderr };
  struct Slot {
    Role role;
    std::uint32_t id;
  };
  std::vector<Slot> slots;
  while (!disconnected_ && !shutdown_) {
    fds.clear();
    slots.clear();
    if (!stdin_backlogged()) {
      fds.push_back({in_fd_, POLLIN, 0});
      slots.push_back({Role::connection, 0});
    }
    fds.push_back({g_sigchld_pipe[0], POLLIN, 0});
    slots.push_back({Role::sigchld, 0});
    for (auto& [id, exec] : execs_) {
      if (exec.stdout_fd >= 0) {
        fds.push_back({exec.stdout_fd, POLLIN, 0});
        slots.push_back({Role::exec_stdout, id});
      }
      if (exec.stderr_fd >= 0) {
        fds.push_back({exec.stderr_fd, POLLIN, 0});
        slots.push_back({Role::exec_stderr, id});
      }
      if (exec.stdin_fd >= 0 && !exec.stdin_pending.empty()) {
        fds.push_back({exec.stdin_fd, POLLOUT, 0});
        slots.push_back({Role::exec_stdin, id});
      }
    }
    int ready = ::poll(fds.data(), fds.size(), poll_timeout_ms(Clock::now()));
    if (ready < 0 && errno != EINTR) {
      log_line(errno_message("poll", errno));
      break;
    }
    bool connection_ready = false;
    for (std::size_t i = 0; ready > 0 && i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      const Slot& slot = slots[i];
      if (slot.role == Role::connection) {
        connection_ready = true;
        continue;
      }
      if (slot.role == Role::sigchld) {
        char drain[64];
        while (::read(g_sigchld_pipe[0], drain, sizeof drain) > 0) {
        }
        continue;
      }
      auto it = execs_.find(slot.id);
      if (it == execs_.end()) continue;
      Exec& exec = it->second;
      if (slot.role == Role::exec_stdout && exec.stdout_fd == fds[i].fd) pump_output(exec, true);
      if (slot.role == Role::exec_stderr && exec.stderr_fd == fds[i].fd) pump_output(exec, false);
      if (slot.role == Role::exec_stdin && exec.stdin_fd == fds[i].fd) pump_stdin(exec);
    }
    // Reap on every pass: cheap, and robust against a lost SIGCHLD wake-up.
    reap_children();
    if (connection_ready) read_connection();
    auto now = Clock::now();
    enforce_deadlines(now);
    finish_execs(now);
  }
  kill_all_execs();
  return shutdown_ ? ServeEnd::shutdown : ServeEnd::disconnected;
}

bool Server::stdin_backlogged() const {
  return std::any_of(execs_.begin(), execs_.end(),
                     [](const auto& kv) { return kv.second.stdin_pending.size() > kStdinHighWater; });
}

int Server::poll_timeout_ms(Clock::time_point now) const {
  std::optional<Clock::time_point> wake;
  auto consider = [&](Clock::time_point t) {
    if (!wake || t < *wake) wake = t;
  };
  for (const auto& [id, exec] : execs_) {
    if (!exec.wait_status && exec.deadline && !exec.timed_out) consider(*exec.deadline);
    if (exec.wait_status) consider(exec.exited_at + kPipeDrainGrace);
  }
  if (!wake) return -1;
  if (*wake <= now) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(*wake - now).count();
  return static_cast<int>(std::min<std::int64_t>(ms, 60'000));
}

void Server::read_connection() {
  char buf[64 * 1024];
  ssize_t n = ::read(in_fd_, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    if (n < 0) log_line(errno_message("reading from host", errno));
    disconnected_ = true;
    return;
  }
  decoder_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
  while (!disconnected_ && !shutdown_) {
    auto next = decoder_.next();
    if (!next) {
      // Header-level garbage: the decoder dropped its buffer; report and resynchronise.
      send_error(0, Errc::protocol, next.error().message());
      continue;
    }
    if (!*next) break;
    dispatch(std::move(**next));
  }
}

void Server::dispatch(Frame frame) {
  switch (frame.type) {
    case MessageType::exec: return handle_exec(frame.request_id, frame.payload);
    case MessageType::stdin_chunk: return handle_stdin(frame.request_id, std::move(frame.payload));
    case MessageType::write_file: return handle_write_file(frame.request_id, frame.payload);
    case MessageType::read_file: return handle_read_file(frame.request_id, frame.payload);
    case MessageType::reseed: return handle_reseed(frame.request_id, frame.payload);
    case MessageType::shutdown:
      send(MessageType::ok, frame.request_id, {});
      shutdown_ = true;
      return;
    default:
      send_error(frame.request_id, Errc::protocol,
                 std::string("the host may not send ") + message_type_name(frame.type) + " frames");
  }
}

void Server::handle_exec(std::uint32_t id, std::string_view payload) {
  auto start = decode_exec(payload);
  if (!start) return send_error(id, Errc::protocol, start.error().message());
  if (execs_.count(id)) return send_error(id, Errc::already_exists, "an exec with this request id is running");
  auto exec = spawn(id, *start);
  if (!exec) return send_error(id, exec.error().errc(), exec.error().message());
  execs_.emplace(id, std::move(*exec));
}

void Server::handle_stdin(std::uint32_t id, std::string payload) {
  auto it = execs_.find(id);
  // The program may exit before the host finishes sending its stdin: drop quietly.
  if (it == execs_.end()) return;
  Exec& exec = it->second;
  if (exec.stdin_eof) return send_error(id, Errc::protocol, "stdin after stdin EOF");
  if (payload.empty()) {
    exec.stdin_eof = true;
    if (exec.stdin_pending.empty()) close_fd(exec.stdin_fd);
    return;
  }
  if (!exec.has_stdin) return send_error(id, Errc::protocol, "stdin for an exec started without has_stdin");
  if (exec.stdin_fd < 0) return;  // the program closed its stdin (EPIPE): nothing can be delivered
  exec.stdin_pending += payload;
  pump_stdin(exec);
}

void Server::pump_stdin(Exec& exec) {
  while (!exec.stdin_pending.empty() && exec.stdin_fd >= 0) {
    ssize_t n = ::write(exec.stdin_fd, exec.stdin_pending.data(), exec.stdin_pending.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {  // EPIPE: the program stopped reading; nothing more can be delivered
      exec.stdin_pending.clear();
      close_fd(exec.stdin_fd);
      return;
    }
    exec.stdin_pending.erase(0, static_cast<std::size_t>(n));
  }
  if (exec.stdin_pending.empty() && exec.stdin_eof) close_fd(exec.stdin_fd);
}

void Server::pump_output(Exec& exec, bool is_stdout) {
  int& fd = is_stdout ? exec.stdout_fd : exec.stderr_fd;
  std::uint64_t& sent = is_stdout ? exec.stdout_sent : exec.stderr_sent;
  bool& truncated = is_stdout ? exec.stdout_truncated : exec.stderr_truncated;
  char buf[kMaxChunk];
  // Bounded passes so one chatty program cannot starve the connection.
  for (int pass = 0; pass < 16 && fd >= 0; ++pass) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      close_fd(fd);
      return;
    }
    auto len = static_cast<std::uint64_t>(n);
    std::uint64_t keep = std::min(len, exec.cap - std::min(exec.cap, sent));
    if (keep < len) truncated = true;  // drop the excess but keep draining so the program never blocks
    if (keep > 0) {
      send(is_stdout ? MessageType::stdout_chunk : MessageType::stderr_chunk, exec.id,
           std::string_view(buf, static_cast<std::size_t>(keep)));
      sent += keep;
    }
  }
}

void Server::reap_children() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    // Unknown pids are orphans re-parented to us (PID 1): reaping them is all we owe.
    for (auto& [id, exec] : execs_) {
      if (exec.pid == pid && !exec.wait_status) {
        exec.wait_status = status;
        exec.exited_at = Clock::now();
      }
    }
  }
}

// Kills an exec's process group and the process itself. The guard keeps a
// bad pid from ever becoming kill(-1) or kill(0) (every process / our group).
void kill_exec(pid_t pid) {
  if (pid <= 1) return;
  ::kill(-pid, SIGKILL);  // the whole process group (setsid in the child)
  ::kill(pid, SIGKILL);
}

void Server::enforce_deadlines(Clock::time_point now) {
  for (auto& [id, exec] : execs_) {
    if (exec.wait_status || exec.timed_out || !exec.deadline || now < *exec.deadline) continue;
    exec.timed_out = true;
    kill_exec(exec.pid);
  }
}

void Server::finish_execs(Clock::time_point now) {
  for (auto it = execs_.begin(); it != execs_.end();) {
    Exec& exec = it->second;
    bool drained = exec.stdout_fd < 0 && exec.stderr_fd < 0;
    if (!exec.wait_status || (!drained && now < exec.exited_at + kPipeDrainGrace)) {
      ++it;
      continue;
    }
    if (!drained) {  // take what is readable right now, then give up on the pipes
      if (exec.stdout_fd >= 0) pump_output(exec, true);
      if (exec.stderr_fd >= 0) pump_output(exec, false);
    }
    exec.close_all();
    ExecResult result;
    int status = *exec.wait_status;
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
    result.timed_out = exec.timed_out;
    result.stdout_truncated = exec.stdout_truncated;
    result.stderr_truncated = exec.stderr_truncated;
    result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(exec.exited_at - exec.started);
    send(MessageType::exit, exec.id, encode_exit(result));
    it = execs_.erase(it);
  }
}

void Server::kill_all_execs() {
  for (auto& [id, exec] : execs_) {
    if (!exec.wait_status) {
      kill_exec(exec.pid);
      int status = 0;
      while (::waitpid(exec.pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    exec.close_all();
  }
  execs_.clear();
}

// Reported by the child through a CLOEXEC pipe when it fails before execve.
struct SpawnFailure {
  int stage;  // 0 = identity, 1 = chdir, 2 = execve, 3 = stdio
  int err;
};

Result<Exec> Server::spawn(std::uint32_t id, const ExecStart& start) {
  const ExecRequest& req = start.request;
  // Build everything before fork: the child only makes async-signal-safe calls.
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  // The unprivileged guest user cannot write root's home.
  if (req.uid != 0 && env["HOME"] == "/root") env["HOME"] = "/tmp";
  for (const auto& [k, v] : req.env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = req.argv;
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  bool as_root = ::geteuid() == 0;
  if (!as_root && (req.uid != ::getuid() || req.gid != ::getgid()))
    return Error(Errc::invalid_argument, "cannot run as uid " + std::to_string(req.uid) + " gid " +
                                             std::to_string(req.gid) + ": the agent is not root");

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, report[2] = {-1, -1};
  auto close_pipes = [&] {
    for (int* p : {in, out, err, report}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
  };
  if ((start.has_stdin && ::pipe2(in, O_CLOEXEC) != 0) || ::pipe2(out, O_CLOEXEC) != 0 ||
      ::pipe2(err, O_CLOEXEC) != 0 || ::pipe2(report, O_CLOEXEC) != 0) {
    int e = errno;
    close_pipes();
    return Error(Errc::io, errno_message("creating pipes", e));
  }
  auto started = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    close_pipes();
    return Error(Errc::io, errno_message("fork", e));
  }
  if (pid == 0) {
    auto fail = [&](int stage) {
      SpawnFailure f{stage, errno};
      [[maybe_unused]] auto n = ::write(report[1], &f, sizeof f);
      ::_exit(127);
    };
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGCHLD, SIG_DFL);
    ::setsid();
    int stdin_fd = start.has_stdin ? in[0] : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (stdin_fd < 0 || ::dup2(stdin_fd, 0) < 0 || ::dup2(out[1], 1) < 0 || ::dup2(err[1], 2) < 0) fail(3);
    if (as_root) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(req.gid) != 0 || ::setuid(req.uid) != 0) fail(0);
    }
    if (::chdir(req.cwd.c_str()) != 0) fail(1);
    environ = envp.data();  // so execvp searches the program's PATH, not the agent's
    ::execvp(argv[0], argv.data());
    fail(2);
  }
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  close_fd(report[1]);
  SpawnFailure failure{};
  ssize_t n;
  do {
    n = ::read(report[0], &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  close_fd(report[0]);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    close_pipes();
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    static const char* const stages[] = {"switching to uid/gid", "changing directory to", "executing", "setting up stdio"};
    std::string what = stages[std::clamp(failure.stage, 0, 3)];
    if (failure.stage == 0) what += " " + std::to_string(req.uid) + "/" + std::to_string(req.gid);
    if (failure.stage == 1) what += " " + req.cwd;
    if (failure.stage == 2) what += " " + req.argv[0];
    return Error(failure.stage == 2 ? errno_to_errc(failure.err) : Errc::invalid_argument,
                 errno_message(what, failure.err));
  }
  Exec exec;
  exec.id = id;
  exec.pid = pid;
  exec.has_stdin = start.has_stdin;
  exec.stdin_fd = in[1];
  exec.stdout_fd = out[0];
  exec.stderr_fd = err[0];
  for (int fd : {exec.stdin_fd, exec.stdout_fd, exec.stderr_fd})
    if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  exec.cap = req.output_cap;
  exec.started = started;
  if (req.timeout.count() > 0) exec.deadline = started + req.timeout;
  return exec;
}

void Server::handle_write_file(std::uint32_t id, std::string_view payload) {
  auto request = decode_write_file(payload);
  if (!request) return send_error(id, Errc::protocol, request.error().message());
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (request->append ? O_APPEND : O_TRUNC);
  int fd = ::open(request->path.c_str(), flags, request->mode);
  if (fd < 0) return send_error(id, errno_to_errc(errno), errno_message("opening " + request->path, errno));
  std::string_view rest = request->data;
  int failed = 0;
  if (::fchmod(fd, request->mode) != 0) failed = errno;  // open's mode is filtered by umask
  while (!failed && !rest.empty()) {
    ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failed = n < 0 ? errno : EIO;
      break;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::close(fd) != 0 && !failed) failed = errno;
  if (failed) return send_error(id, errno_to_errc(failed), errno_message("writing " + request->path, failed));
  send(MessageType::ok, id, {});
}

void Server::handle_read_file(std::uint32_t id, std::string_view payload) {
  auto request = decode_read_file(payload);
  if (!request) return send_error(id, Errc::protocol, request.error().message());
  int fd = ::open(request->path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return send_error(id, errno_to_errc(errno), errno_message("opening " + request->path, errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return send_error(id, Errc::invalid_argument, request->path + " is not a regular file");
  }
  FileData data;
  data.data.resize(request->max_bytes);
  std::size_t got = 0;
  while (got < data.data.size()) {
    ssize_t n = ::pread(fd, data.data.data() + got, data.data.size() - got,
                        static_cast<off_t>(request->offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return send_error(id, errno_to_errc(e), errno_message("reading " + request->path, e));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  data.data.resize(got);
  // Pseudo files (/proc) report size 0; then the slice read is the whole content.
  data.total_size = st.st_size > 0 ? static_cast<std::uint64_t>(st.st_size) : request->offset + got;
  auto encoded = encode_file_data(data);
  if (!encoded) return send_error(id, Errc::internal, encoded.error().message());
  send(MessageType::file_data, id, *encoded);
}

void Server::handle_reseed(std::uint32_t id, std::string_view payload) {
  auto request = decode_reseed(payload);
  if (!request) return send_error(id, Errc::protocol, request.error().message());
  int fd = ::open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return send_error(id, Errc::io, errno_message("opening /dev/urandom", errno));
  int failed = 0;
  if (!request->entropy.empty()) {
    if (options_.guest) {
      // Credit the entropy: a restored snapshot's pool is a copy of every other clone's.
      std::vector<char> storage(sizeof(rand_pool_info) + request->entropy.size());
      auto* info = reinterpret_cast<rand_pool_info*>(storage.data());
      info->entropy_count = static_cast<int>(std::min<std::size_t>(request->entropy.size() * 8, INT32_MAX));
      info->buf_size = static_cast<int>(request->entropy.size());
      std::memcpy(storage.data() + sizeof(rand_pool_info), request->entropy.data(), request->entropy.size());
      if (::ioctl(fd, RNDADDENTROPY, info) != 0) failed = errno;
      // Credited input alone is only picked up at the next periodic reseed;
      // force the CRNG (and with it every per-CPU batch) to reseed now.
      else if (::ioctl(fd, RNDRESEEDCRNG) != 0) failed = errno;
    } else if (::write(fd, request->entropy.data(), request->entropy.size()) < 0) {
      failed = errno;  // test mode: mix in without credit, which needs no privilege
    }
  }
  ::close(fd);
  if (failed) return send_error(id, Errc::io, errno_message("adding entropy", failed));
  if (request->unix_time_ns && options_.guest) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(*request->unix_time_ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(*request->unix_time_ns % 1'000'000'000);
    if (::clock_settime(CLOCK_REALTIME, &ts) != 0)
      return send_error(id, Errc::io, errno_message("setting the clock", errno));
  }
  send(MessageType::ok, id, {});
}

}  // namespace

void log_line(std::string_view line) {
  std::string text = "firerun-agent: ";
  text += line;
  text += '\n';
  [[maybe_unused]] auto n = ::write(2, text.data(), text.size());
}

ServeEnd serve(int in_fd, int out_fd, const ServeOptions& options) {
  if (g_sigchld_pipe[0] < 0) {
    if (::pipe2(g_sigchld_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      log_line(errno_message("creating the SIGCHLD pipe", errno));
      return ServeEnd::disconnected;
    }
    struct sigaction sa {};
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGCHLD, &sa, nullptr);
    ::signal(SIGPIPE, SIG_IGN);  // a closed pipe or connection is an error value, not a death
  }
  // Programs we start must not inherit the connection (stdio is replaced by dup2 anyway).
  for (int fd : {in_fd, out_fd})
    if (fd > 2) ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
  Server server(in_fd, out_fd, options);
  return server.run();
}

}  // namespace firerun::agent
